"""Report plots as PNG bytes (matplotlib, Agg; no display, no pyplot state).

Only measured runs are drawn: published figures are in other units.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, NullFormatter  # noqa: E402  (after the backend is chosen)

from harness.kinds import IMPORTED_BACKEND  # noqa: E402
from harness.report.compare import Comparison, Group, pareto_front  # noqa: E402
from harness.store.store import RunSummary  # noqa: E402


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _label(s: RunSummary) -> str:
    return f"{s.engine}/{s.dtype}"


def pareto_png(g: Group) -> bytes | None:
    """Accuracy vs count per inference (log x), points labelled engine/dtype,
    the Pareto front (fewer instructions, higher accuracy) drawn as steps.
    One series per board/backend/count kind: counts of different kinds or
    boards are never on one front."""
    runs = [r.s for r in g.rows if r.s.accuracy is not None and r.s.count_per_inference]
    if not runs:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    series: dict[tuple[str, str, str], list] = {}
    for s in runs:
        series.setdefault((s.board, s.backend, s.count_kind or "count"), []).append(s)
    for (board, backend, kind), members in series.items():
        pts = [(float(s.count_per_inference), 100 * s.accuracy) for s in members]
        sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], zorder=3,
                        label=f"{board}/{backend} ({kind})")
        # Alternate above/below along x, so neighbours' labels do not collide.
        by_x = sorted(zip(members, pts, strict=True), key=lambda sp: sp[1][0])
        for k, (s, (x, y)) in enumerate(by_x):
            ax.annotate(_label(s), (x, y), textcoords="offset points",
                        xytext=(4, 5 if k % 2 == 0 else -11), fontsize=8)
        front = [pts[i] for i in pareto_front(pts)]
        # steps through the front, held out to the largest count
        xs = [p[0] for p in front] + [max(p[0] for p in pts)]
        ys = [p[1] for p in front] + [front[-1][1]]
        ax.step(xs, ys, where="post", color=sc.get_facecolor()[0], alpha=0.6,
                label=f"Pareto front, {board}/{backend}")
        ax.scatter(xs[:-1], ys[:-1], s=120, facecolors="none",
                   edgecolors=sc.get_facecolor()[0], zorder=4)
    ax.set_xscale("log")
    # 500k, 1M, 5M: readable where log-scale minor labels pile up.
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_minor_formatter(NullFormatter())
    kinds = sorted({k for _, _, k in series})
    ax.set_xlabel(f"{' or '.join(kinds)} per inference (log; emulator counts, not latency)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(g.title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def memory_png(g: Group) -> bytes | None:
    """ROM, static RAM and measured stack per run, in KB. Imported rows are left
    out: a vendor report's ROM is its network and library, not a firmware."""
    runs = [r.s for r in g.rows if r.s.backend != IMPORTED_BACKEND
            and (r.s.rom_bytes is not None or r.s.ram_bytes is not None)]
    if not runs:
        return None
    fig = Figure(figsize=(max(4.0, 0.9 * len(runs) + 2), 4.2))
    ax = fig.add_subplot()
    xs = range(len(runs))
    w = 0.4
    rom = [(s.rom_bytes or 0) / 1024 for s in runs]
    ram = [(s.ram_bytes or 0) / 1024 for s in runs]
    stack = [(s.stack_bytes or 0) / 1024 for s in runs]
    ax.bar([x - w / 2 for x in xs], rom, w, label="ROM")
    ax.bar([x + w / 2 for x in xs], ram, w, label="RAM (static)")
    ax.bar([x + w / 2 for x in xs], stack, w, bottom=ram, label="stack (measured)", hatch="//",
           alpha=0.7)
    ax.set_xticks(list(xs), [f"#{s.run_id}\n{_label(s)}" for s in runs], fontsize=7)
    ax.set_ylabel("KB")
    ax.set_title(g.title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _snn_label(s: RunSummary) -> str:
    return f"#{s.run_id} {s.engine}/{s.dtype} T={s.timesteps}"


def spikes_png(g: Group) -> bytes | None:
    """Accuracy vs spikes per inference (counted on the device) of the
    spiking runs: the activity/accuracy trade-off, fewer spikes to the left."""
    runs = [r.s for r in g.rows if r.s.spikes_per_inference is not None
            and r.s.accuracy is not None]
    if not runs:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    series: dict[tuple[str, str], list[RunSummary]] = {}
    for s in runs:
        series.setdefault((s.board, s.backend), []).append(s)
    for (board, backend), members in series.items():
        xs = [float(s.spikes_per_inference or 0) for s in members]
        ys = [100 * (s.accuracy or 0) for s in members]
        ax.scatter(xs, ys, zorder=3, label=f"{board}/{backend}")
        for k, (s, x, y) in enumerate(sorted(zip(members, xs, ys, strict=True),
                                             key=lambda m: m[1])):
            ax.annotate(_snn_label(s), (x, y), textcoords="offset points",
                        xytext=(4, 5 if k % 2 == 0 else -11), fontsize=8)
    ax.set_xlabel("spikes per inference (all spiking layers, counted on the device)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(g.title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def spike_rates_png(g: Group) -> bytes | None:
    """Spike rate (spikes / (neurons x T)) per spiking layer, one bar per run."""
    runs = [r.s for r in g.rows if r.s.spike_rates]
    if not runs:
        return None
    layers = list(dict.fromkeys(name for s in runs for name in (s.spike_rates or {})))
    fig = Figure(figsize=(max(4.0, 0.5 * len(layers) * len(runs) + 2), 4.2))
    ax = fig.add_subplot()
    w = 0.8 / len(runs)
    for k, s in enumerate(runs):
        rates = s.spike_rates or {}
        ax.bar([i - 0.4 + w * (k + 0.5) for i in range(len(layers))],
               [100 * rates.get(name, 0.0) for name in layers], w, label=_snn_label(s))
    ax.set_xticks(range(len(layers)), layers, fontsize=8)
    ax.set_xlabel("spiking layer")
    ax.set_ylabel("spike rate (% of neurons x timesteps)")
    ax.set_title(g.title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


@dataclass(frozen=True)
class Plot:
    name: str  # file-name part: "g1-pareto"
    title: str
    png: bytes


def group_plots(c: Comparison) -> dict[int, list[Plot]]:
    out: dict[int, list[Plot]] = {}
    for i, g in enumerate(c.groups, 1):
        out[i] = []
        png = pareto_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-pareto", f"{g.title}: accuracy vs count per inference",
                               png))
        png = memory_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-memory", f"{g.title}: ROM, RAM and stack per run", png))
        png = spikes_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-spikes", f"{g.title}: accuracy vs spikes per inference",
                               png))
        png = spike_rates_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-spike-rates", f"{g.title}: spike rate per layer", png))
    return out

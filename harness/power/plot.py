"""A trace as a PNG: current vs time, inference windows shaded, each
window's energy written above it (matplotlib Agg, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from harness.power.energy import EnergyReport  # noqa: E402
from harness.power.meter import Trace  # noqa: E402

MAX_POINTS = 200_000  # beyond this, plot each bucket's min and max
MAX_LABELS = 40  # windows annotated; more would overlap


def _envelope(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= MAX_POINTS:
        return t, y
    k = int(np.ceil(len(y) / (MAX_POINTS // 2)))
    n = len(y) // k * k
    yy = y[:n].reshape(-1, k)
    tt = t[:n:k]
    return np.repeat(tt, 2), np.column_stack([yy.min(axis=1), yy.max(axis=1)]).ravel()


def trace_png(trace: Trace, report: EnergyReport | None, path: Path,
              title: str | None = None) -> Path:
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    cur = np.where(np.isfinite(trace.current_a), trace.current_a, np.nan)
    t, y = _envelope(trace.time_s, cur)
    ax.plot(t, y, lw=0.6, color="tab:blue")
    ax.set_xlabel("time")
    ax.set_ylabel("current")
    ax.xaxis.set_major_formatter(EngFormatter(unit="s"))
    ax.yaxis.set_major_formatter(EngFormatter(unit="A"))
    if report is not None:
        top = float(np.nanmax(cur)) if np.isfinite(cur).any() else 1.0
        for w in report.windows:
            ax.axvspan(w.t_start_s, w.t_stop_s, color="tab:orange", alpha=0.25, lw=0)
            if len(report.windows) <= MAX_LABELS:
                ax.annotate(f"{w.energy_uj:.3g} uJ", ((w.t_start_s + w.t_stop_s) / 2, top),
                            ha="center", va="bottom", fontsize=7, rotation=90 if
                            len(report.windows) > 10 else 0)
        ax.set_ylim(top=top * 1.25 if top > 0 else None)
        subtitle = (f"{len(report.windows)} windows, median {report.median_uj:.4g} uJ "
                    f"(min {report.min_uj:.4g}, max {report.max_uj:.4g})")
    else:
        subtitle = "no inference windows"
    ax.set_title((title or trace.meter) + f"\n{trace.sample_rate:,.0f} Hz, {subtitle}",
                 fontsize=9)
    ax.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path

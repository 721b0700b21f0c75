"""Comparison reports of stored runs: md, html, csv, latex, with plots.

Measured numbers only in the measured columns; a latency derived from
instructions is an estimate and its header names the CPI. Ratios compare a
run with the baseline engine's run on the same board, backend, model (graph
hash), dataset (hash) and dtype. Published figures (harness/published.py)
are shown in their own rows with their source and unit, never in a ratio
and never on a plot.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.report.published import Published
from harness.store.store import RunSummary

FORMATS = ("md", "html", "csv", "latex")
DEFAULT_BASELINE = "native"
DEFAULT_CPI = 1.0
DTYPE_ORDER = {"float32": 0, "int16": 1, "int8": 2}

COLUMNS = ("run", "status", "board", "backend", "engine", "dtype", "quant_scheme", "model",
           "dataset",
           "samples", "accuracy_pct", "count_per_inference", "count_kind",
           "latency_estimate_us", "rom_bytes", "ram_bytes", "arena_bytes", "stack_bytes",
           # added with the comparison report; the columns above keep their meaning
           "kind", "latency_cpi", "clock_hz", "baseline_engine", "baseline_run", "count_ratio",
           "rom_ratio", "ram_ratio", "stack_ratio", "accuracy_delta_pp", "source",
           "published_metric", "published_value", "published_unit",
           # added with power meters: median energy per inference and how it was obtained
           "energy_uj", "energy_kind")


def latency_estimate_us(s: RunSummary, cpi: float = DEFAULT_CPI) -> float | None:
    """Instructions x CPI / f_clk. An estimate: QEMU has no cycle model."""
    if s.count_per_inference is None or not s.clock_hz:
        return None
    if s.count_kind == "cycles":
        return s.count_per_inference / s.clock_hz * 1e6
    return s.count_per_inference * cpi / s.clock_hz * 1e6


def reference_name(s: RunSummary) -> str:
    """What a run's outputs were checked against (harness/runner.host_reference)."""
    if s.engine in ("native", "tflm") and s.dtype != "float32":
        return "integer reference (bit-exact)"
    return "float reference"


# -- the comparison ---------------------------------------------------------------


@dataclass(frozen=True)
class Ratios:
    """A run against its baseline run: x = run / baseline; accuracy in points."""

    baseline_run: int
    count: float | None
    rom: float | None
    ram: float | None
    stack: float | None
    accuracy_pp: float | None  # only when both ran the same number of samples


@dataclass(frozen=True)
class Row:
    s: RunSummary
    ratios: Ratios | None


@dataclass(frozen=True)
class Group:
    """Runs of one model on one dataset, sorted by board, dtype, engine (baseline first)."""

    model: str
    dataset: str
    rows: tuple[Row, ...]
    published: tuple[Published, ...]  # same part or same network; shown beside, never mixed

    @property
    def title(self) -> str:
        return f"{self.model} on {self.dataset}"


@dataclass(frozen=True)
class Comparison:
    groups: tuple[Group, ...]
    baseline: str | None  # None: no run of the default baseline engine, so no ratios
    cpi: float
    other_published: tuple[Published, ...]  # shown, but no measured group matches them
    with_published: bool


def _ratio(a: int | None, b: int | None) -> float | None:
    return None if a is None or not b else a / b


# Rows measured off the board (a host interpreter, an imported vendor report)
# compare with the baseline's run on the same board whatever its backend.
OFF_BOARD = ("host", "imported")


def _baseline_key(s: RunSummary) -> tuple[str, ...]:
    return (s.board, s.backend, s.model_hash, s.dataset_hash, s.dtype)


def _any_backend_key(s: RunSummary) -> tuple[str, ...]:
    return (s.board, s.model_hash, s.dataset_hash, s.dtype)


def _ratios(s: RunSummary, base: RunSummary) -> Ratios:
    same_kind = s.count_kind == base.count_kind
    acc = None
    if s.accuracy is not None and base.accuracy is not None and s.samples == base.samples:
        acc = round(100 * (s.accuracy - base.accuracy), 2)
    if s.backend == "imported":
        # A vendor's ROM/RAM counts its network and runtime library, ours the
        # whole firmware: not the same quantity, so no ratio.
        return Ratios(base.run_id, None, None, None, None, acc)
    return Ratios(baseline_run=base.run_id,
                  count=_ratio(s.count_per_inference, base.count_per_inference) if same_kind
                  else None,
                  rom=_ratio(s.rom_bytes, base.rom_bytes), ram=_ratio(s.ram_bytes, base.ram_bytes),
                  stack=_ratio(s.stack_bytes, base.stack_bytes), accuracy_pp=acc)


def compare(summaries: Iterable[RunSummary], baseline: str | None = None,
            published: Iterable[Published] | None = None, cpi: float = DEFAULT_CPI) -> Comparison:
    """Group runs per model/dataset and rate each against the baseline engine.

    ``baseline`` None means bench's own engine when it has runs (else no
    ratios); a named engine without runs is an error. ``published`` None
    means no published figures are shown.
    """
    runs = list(summaries)
    engines = sorted({s.engine for s in runs})
    if baseline is not None and baseline not in engines:
        have = ", ".join(engines) or "none"
        raise ConfigError(f"no stored run has engine {baseline!r} to be the baseline "
                          f"(engines stored: {have})")
    chosen = baseline or (DEFAULT_BASELINE if DEFAULT_BASELINE in engines else None)

    # the baseline run for each key: the newest complete one, else the newest
    bases: dict[tuple[str, ...], RunSummary] = {}
    for s in sorted(runs, key=lambda r: (r.status == "complete", r.run_id)):
        if s.engine == chosen and s.count_per_inference is not None:
            bases[_baseline_key(s)] = s
            bases[_any_backend_key(s)] = s

    def base_of(s: RunSummary) -> RunSummary | None:
        key = _any_backend_key(s) if s.backend in OFF_BOARD else _baseline_key(s)
        return bases.get(key)

    pubs = list(published or [])
    used: set[int] = set()
    groups: dict[tuple[str, str], list[RunSummary]] = {}
    for s in runs:
        groups.setdefault((s.model, s.dataset), []).append(s)
    out: list[Group] = []
    for (model, dataset), members in sorted(groups.items()):
        # per board and dtype: device runs (baseline first), then off-board rows
        members.sort(key=lambda r: (r.board, DTYPE_ORDER.get(r.dtype, 9), r.dtype,
                                    r.backend in OFF_BOARD, r.backend, r.engine != chosen,
                                    r.engine, r.run_id))
        rows = tuple(Row(s, _ratios(s, base) if (base := base_of(s)) is not None else None)
                     for s in members)
        boards = {s.board for s in members}
        near = tuple(p for p in pubs if any(p.matches(b, model) for b in boards))
        used |= {id(p) for p in near}
        out.append(Group(model, dataset, rows, near))
    return Comparison(tuple(out), chosen, cpi,
                      tuple(p for p in pubs if id(p) not in used), published is not None)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer or equal count and
    higher or equal accuracy, better in one. Sorted by count."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# -- cells shared by md, html and latex --------------------------------------------


def _int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _x(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,}"


def _accuracy(s: RunSummary) -> float | None:
    return None if s.accuracy is None else round(100 * s.accuracy, 2)


def _latency(s: RunSummary, cpi: float) -> float | None:
    lat = latency_estimate_us(s, cpi)
    return None if lat is None else round(lat, 1)


def _latency_cell(s: RunSummary, cpi: float) -> str:
    lat = _latency(s, cpi)
    if lat is None:
        return "-"
    return f"{lat:,.1f}" + (" (measured cycles)" if s.count_kind == "cycles" else "")


def _cpi_text(cpi: float) -> str:
    return f"CPI {cpi:g}"


MEASURED_HEAD = ("run", "status", "board / backend", "engine / dtype", "samples", "accuracy %",
                 "per inference", "latency est. (us, {cpi})", "energy / inference (uJ)", "ROM",
                 "RAM", "arena", "stack",
                 "count vs base", "ROM vs base", "RAM vs base", "stack vs base",
                 "accuracy vs base (pp)")
PUBLISHED_HEAD = ("published", "source", "board", "engine / dtype", "model", "figures (unit)",
                  "file")


def _energy_cell(s: RunSummary) -> str:
    """Median energy per inference, labelled measured (a meter's trigger
    windows) or estimated (datasheet current x time)."""
    if s.energy_uj is None:
        return "-"
    return f"{s.energy_uj:,.3f} ({s.energy_kind or 'estimated'})"


def _engine_dtype(s: RunSummary) -> str:
    return f"{s.engine} / {s.dtype}" + (f" ({s.quant_scheme})" if s.quant_scheme else "")


def _measured_cells(row: Row, cpi: float) -> list[str]:
    s, r = row.s, row.ratios
    per = "-" if s.count_per_inference is None else f"{s.count_per_inference:,} {s.count_kind}"
    acc = _accuracy(s)
    return [str(s.run_id), s.status, f"{s.board} / {s.backend}", _engine_dtype(s),
            _int(s.samples), "-" if acc is None else f"{acc:.2f}", per, _latency_cell(s, cpi),
            _energy_cell(s),
            _int(s.rom_bytes), _int(s.ram_bytes), _int(s.arena_bytes), _int(s.stack_bytes),
            _x(r and r.count), _x(r and r.rom), _x(r and r.ram), _x(r and r.stack),
            "-" if r is None or r.accuracy_pp is None else f"{r.accuracy_pp:+.2f}"]


def _figures_text(p: Published) -> str:
    return "; ".join(f"{f.metric} {_num(f.value)} {f.unit}" for f in p.figures)


def _published_cells(p: Published) -> list[str]:
    return ["published: " + p.kind, p.source, p.target,
            f"{p.engine} / {p.dtype or '-'}", p.model, _figures_text(p), p.file]


def _measured_head(cpi: float) -> list[str]:
    return [h.format(cpi=_cpi_text(cpi)) for h in MEASURED_HEAD]


def _notes(c: Comparison) -> list[str]:
    base = (f"Ratios (x) are run / baseline, the baseline being the newest complete "
            f"`{c.baseline}` run on the same board, backend, model (graph hash), dataset and "
            f"dtype; accuracy vs base is the difference in percentage points (only between "
            f"runs of the same number of samples); '-' where there is no such run."
            if c.baseline else
            f"No `{DEFAULT_BASELINE}` runs stored, so no ratios: pick a baseline with "
            f"--baseline ENGINE.")
    notes = [
        "Counts on QEMU are executed instructions, exact and repeatable; QEMU has no cycle "
        f"model, so the latency column is an estimate at {_cpi_text(c.cpi)} and the board's "
        "clock (instructions x CPI / f_clk), not a measurement. ROM/RAM come from the ELF "
        "sections, the same way for every engine; stack is the measured high-water mark.",
        "Energy per inference is the median over samples, labelled: measured = the integral "
        "of V*I between the board's trigger-pin edges in a power meter's trace; estimated = "
        "count x CPI / f_clk x the datasheet run current at that clock x supply voltage (the "
        "board file names the datasheet), not a measurement.",
        base]
    backends = {r.s.backend for g in c.groups for r in g.rows}
    if "host" in backends:
        notes.append("Backend `host`: the engine ran in its own interpreter on this computer "
                     "(TFLite Micro's, from the tflite-micro package): accuracy, arena bytes "
                     "and the distance to bench's integer reference only; no count, ROM, RAM "
                     "or stack, since nothing was built for the board.")
    if "imported" in backends:
        notes.append("Backend `imported`: figures read from a vendor tool's own report "
                     "(STM32Cube.AI / ST Edge AI c_info.json and validate report, via "
                     "'bench import-cubeai'); its cycles were measured by that tool on a real "
                     "board, its ROM is weights plus the runtime library's kernels as the tool "
                     "states them. Not measured by bench; ratios against it compare different "
                     "methods.")
    if c.with_published:
        notes.append("Published figures are other people's numbers in their own units (ms on "
                     "silicon, pass/fail ceilings), listed with their source beside the runs of "
                     "the same part or network; they are not measured here, not in any ratio "
                     "and not on the plots. Sources: references/README.md.")
    return notes


# -- plots (PNG bytes; harness/plots.py draws them) ------------------------------


@dataclass(frozen=True)
class Plot:
    name: str  # file-name part: "g1-pareto"
    title: str
    png: bytes


def _plots(c: Comparison) -> dict[int, list[Plot]]:
    from harness.report import plots

    out: dict[int, list[Plot]] = {}
    for i, g in enumerate(c.groups, 1):
        out[i] = []
        png = plots.pareto_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-pareto", f"{g.title}: accuracy vs count per inference",
                               png))
        png = plots.memory_png(g)
        if png is not None:
            out[i].append(Plot(f"g{i}-memory", f"{g.title}: ROM, RAM and stack per run", png))
    return out


# -- markdown ------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows])


def render_md(c: Comparison, images: Path | None = None) -> str:
    """Markdown; with ``images`` (the output file) the plots are written as
    PNGs beside it and linked."""
    lines = ["# bench results", ""]
    plots = _plots(c) if images is not None else {}
    for i, g in enumerate(c.groups, 1):
        lines += [f"## `{g.model}` on `{g.dataset}`", ""]
        lines += _md_table(_measured_head(c.cpi), [_measured_cells(r, c.cpi) for r in g.rows])
        if g.published:
            lines += ["", "Published figures for the same part or network (not measured here, "
                      "not in the ratios):", ""]
            lines += _md_table(list(PUBLISHED_HEAD), [_published_cells(p) for p in g.published])
        for p in plots.get(i, []):
            assert images is not None
            path = images.with_name(f"{images.stem}-{p.name}.png")
            path.write_bytes(p.png)
            lines += ["", f"![{p.title}]({path.name})"]
        lines.append("")
    if c.other_published:
        lines += ["## Published figures (no measured run on the same part or network)", ""]
        lines += _md_table(list(PUBLISHED_HEAD), [_published_cells(p) for p in c.other_published])
        lines.append("")
    lines += [n + "\n" for n in _notes(c)]
    return "\n".join(lines)


# -- html ----------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.published td { background: #fff8e0; font-style: italic; }
img { max-width: 48%; margin-right: 1%; vertical-align: top; }
p.note { color: #555; max-width: 60em; }
"""


def _html_table(head: list[str], rows: list[list[str]], cls: str = "") -> list[str]:
    tr = f'<tr class="{cls}">' if cls else "<tr>"
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = []
        for c in r:
            num = c[:1].isdigit() or (c[:1] in "+-" and c[1:2].isdigit())
            cells.append(('<td class="n">' if num else "<td>") + html.escape(c) + "</td>")
        out.append(tr + "".join(cells) + "</tr>")
    return out + ["</table>"]


def render_html(c: Comparison) -> str:
    """One self-contained file: tables, plots as base64 PNG, inline CSS."""
    plots = _plots(c)
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>bench results</title>",
           f"<style>{_CSS}</style></head><body>", "<h1>bench results</h1>"]
    for i, g in enumerate(c.groups, 1):
        out.append(f"<h2><code>{html.escape(g.model)}</code> on "
                   f"<code>{html.escape(g.dataset)}</code></h2>")
        out += _html_table(_measured_head(c.cpi), [_measured_cells(r, c.cpi) for r in g.rows])
        if g.published:
            out.append("<p>Published figures for the same part or network (not measured here, "
                       "not in the ratios):</p>")
            out += _html_table(list(PUBLISHED_HEAD), [_published_cells(p) for p in g.published],
                               "published")
        for p in plots.get(i, []):
            data = base64.b64encode(p.png).decode()
            out.append(f"<img alt=\"{html.escape(p.title)}\" title=\"{html.escape(p.title)}\" "
                       f"src=\"data:image/png;base64,{data}\">")
    if c.other_published:
        out.append("<h2>Published figures (no measured run on the same part or network)</h2>")
        out += _html_table(list(PUBLISHED_HEAD),
                           [_published_cells(p) for p in c.other_published], "published")
    out += [f"<p class=\"note\">{html.escape(n)}</p>" for n in _notes(c)]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# -- latex ---------------------------------------------------------------------

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_tabular(head: list[str], rows: list[list[str]], align: str) -> list[str]:
    return ([f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(tex(h) for h in head) + r" \\", "\\midrule"]
            + [" & ".join(tex(c) for c in r) + r" \\" for r in rows]
            + ["\\bottomrule", "\\end{tabular}"])


def render_latex(c: Comparison) -> str:
    """A booktabs tabular per group (needs \\usepackage{booktabs})."""
    out = ["% bench results: one booktabs table per model/dataset (\\usepackage{booktabs})",
           *("% " + n for n in _notes(c))]
    head = _measured_head(c.cpi)
    for g in c.groups:
        out += ["", "\\begin{table}[ht]", "\\centering", "\\small",
                f"\\caption{{{tex(g.title)}}}"]
        out += _tex_tabular(head, [_measured_cells(r, c.cpi) for r in g.rows],
                            "llll" + "r" * (len(head) - 4))
        if g.published:
            out += ["", "\\medskip", "Published figures for the same part or network (not "
                    "measured here, not in the ratios):", "", "\\medskip"]
            out += _tex_tabular(list(PUBLISHED_HEAD), [_published_cells(p) for p in g.published],
                                "l" * len(PUBLISHED_HEAD))
        out.append("\\end{table}")
    if c.other_published:
        out += ["", "\\begin{table}[ht]", "\\centering", "\\small",
                "\\caption{Published figures (no measured run on the same part or network)}"]
        out += _tex_tabular(list(PUBLISHED_HEAD),
                            [_published_cells(p) for p in c.other_published],
                            "l" * len(PUBLISHED_HEAD))
        out.append("\\end{table}")
    return "\n".join(out) + "\n"


# -- csv -----------------------------------------------------------------------


def _r4(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _csv_measured(row: Row, c: Comparison) -> dict[str, object]:
    s, r = row.s, row.ratios
    return {
        "run": s.run_id, "status": s.status, "board": s.board, "backend": s.backend,
        "engine": s.engine, "dtype": s.dtype, "quant_scheme": s.quant_scheme, "model": s.model,
        "dataset": s.dataset, "samples": s.samples, "accuracy_pct": _accuracy(s),
        "count_per_inference": s.count_per_inference, "count_kind": s.count_kind,
        "latency_estimate_us": _latency(s, c.cpi) if s.count_kind == "instructions" else None,
        "rom_bytes": s.rom_bytes, "ram_bytes": s.ram_bytes, "arena_bytes": s.arena_bytes,
        "stack_bytes": s.stack_bytes, "kind": _kind(s),
        "latency_cpi": c.cpi if s.count_kind == "instructions" else None,
        "clock_hz": s.clock_hz, "baseline_engine": c.baseline if r else None,
        "baseline_run": r and r.baseline_run, "count_ratio": _r4(r and r.count),
        "rom_ratio": _r4(r and r.rom), "ram_ratio": _r4(r and r.ram),
        "stack_ratio": _r4(r and r.stack), "accuracy_delta_pp": r and r.accuracy_pp,
        "source": s.imported_from or f"{s.backend} run",
        "energy_uj": None if s.energy_uj is None else round(s.energy_uj, 6),
        "energy_kind": s.energy_kind if s.energy_uj is not None else None}


def _kind(s: RunSummary) -> str:
    """measured (on a board or emulator), host (an engine's host interpreter:
    accuracy and arena only) or imported (a vendor tool's report)."""
    return {"host": "host interpreter", "imported": "imported"}.get(s.backend, "measured")


def _csv_published(p: Published) -> list[dict[str, object]]:
    return [{"kind": "published", "status": p.kind, "board": p.target, "engine": p.engine,
             "dtype": p.dtype, "model": p.model, "source": f"{p.source}; {p.file}",
             "published_metric": f.metric, "published_value": f.value,
             "published_unit": f.unit} for f in p.figures]


def render_csv(c: Comparison) -> str:
    """Measured rows first (one per run), then one row per published figure."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for g in c.groups:
        for r in g.rows:
            w.writerow({k: "" if v is None else v for k, v in _csv_measured(r, c).items()})
    seen: set[int] = set()
    for p in [*(p for g in c.groups for p in g.published), *c.other_published]:
        if id(p) not in seen:
            seen.add(id(p))
            for d in _csv_published(p):
                w.writerow({k: "" if v is None else v for k, v in d.items()})
    return buf.getvalue()


def render(c: Comparison, fmt: str, output: Path | None = None) -> str:
    """The report as text; for md with an output file, its PNGs are written beside it."""
    if fmt == "md":
        return render_md(c, output)
    if fmt == "html":
        return render_html(c)
    if fmt == "csv":
        return render_csv(c)
    if fmt == "latex":
        return render_latex(c)
    raise ConfigError(f"unknown report format {fmt!r}: one of {', '.join(FORMATS)}")

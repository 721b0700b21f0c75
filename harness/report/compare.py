"""The comparison of stored runs that every report format renders.

Runs are grouped per model and dataset; each is rated against the baseline
engine's run on the same board, backend, model (graph hash), dataset (hash)
and dtype. A latency derived from instructions is an estimate and says its
CPI. Published figures (published.py) are kept beside the groups they
concern, never in a ratio. The renderers (markdown.py, html_page.py,
latex.py, csv_table.py, chosen in render.py) only format this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.engines import ENGINES, get_engine
from harness.errors import ConfigError
from harness.kinds import HOST_BACKEND, IMPORTED_BACKEND, CountKind, DType, Reference, RunStatus
from harness.report.published import Published
from harness.store.store import RunSummary

DEFAULT_BASELINE = "native"
DEFAULT_CPI = 1.0
DTYPE_ORDER = {d: i for i, d in enumerate(DType)}  # float32, int16, int8



def latency_estimate_us(s: RunSummary, cpi: float = DEFAULT_CPI) -> float | None:
    """Instructions x CPI / f_clk. An estimate: QEMU has no cycle model."""
    if s.count_per_inference is None or not s.clock_hz:
        return None
    if s.count_kind == CountKind.CYCLES:
        return s.count_per_inference / s.clock_hz * 1e6
    return s.count_per_inference * cpi / s.clock_hz * 1e6


def timing_label(s: RunSummary) -> str:
    """How an emulator's cycle estimate is labelled wherever it is shown."""
    return f"estimated (timing model {s.timing_model})"


def estimated_latency_us(s: RunSummary) -> float | None:
    """The emulator's estimated cycles / f_clk: an estimate from a stated
    timing model (runs.timing_model), never a measurement."""
    if s.estimated_cycles_per_inference is None or not s.clock_hz:
        return None
    return s.estimated_cycles_per_inference / s.clock_hz * 1e6


def reference_name(s: RunSummary) -> str:
    """What a run's outputs were checked against, as the run recorded it
    (harness/run/execute.py); runs stored before it was recorded ask the
    engine what it declares."""
    reference = s.reference
    if reference is None and s.engine in ENGINES:
        reference = get_engine(s.engine).reference(s.dtype)
    if reference == Reference.INTEGER:
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
    # the task's metric, run - baseline (top-1 in points, AUC, PSNR dB); same condition
    metric_delta: float | None = None


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
OFF_BOARD = (HOST_BACKEND, IMPORTED_BACKEND)


def _baseline_key(s: RunSummary) -> tuple[str, ...]:
    return (s.board, s.backend, s.model_hash, s.dataset_hash, s.dtype)


def _any_backend_key(s: RunSummary) -> tuple[str, ...]:
    return (s.board, s.model_hash, s.dataset_hash, s.dtype)


def _ratios(s: RunSummary, base: RunSummary) -> Ratios:
    same_kind = s.count_kind == base.count_kind
    acc = None
    if s.accuracy is not None and base.accuracy is not None and s.samples == base.samples:
        acc = round(100 * (s.accuracy - base.accuracy), 2)
    delta = None
    if acc is not None:
        delta = acc
    elif (s.metric_value is not None and base.metric_value is not None
          and s.metric == base.metric and s.samples == base.samples):
        delta = s.metric_value - base.metric_value
    if s.backend == IMPORTED_BACKEND:
        # A vendor's ROM/RAM counts its network and runtime library, ours the
        # whole firmware: not the same quantity, so no ratio.
        return Ratios(base.run_id, None, None, None, None, acc, delta)
    return Ratios(baseline_run=base.run_id,
                  count=_ratio(s.count_per_inference, base.count_per_inference) if same_kind
                  else None,
                  rom=_ratio(s.rom_bytes, base.rom_bytes), ram=_ratio(s.ram_bytes, base.ram_bytes),
                  stack=_ratio(s.stack_bytes, base.stack_bytes), accuracy_pp=acc,
                  metric_delta=delta)


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
    for s in sorted(runs, key=lambda r: (r.status == RunStatus.COMPLETE, r.run_id)):
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

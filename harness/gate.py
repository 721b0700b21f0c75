"""A regression gate: ``bench baseline export`` writes what runs measured to a
JSON file kept in the user's repository, ``bench check`` compares new runs
with it metric by metric, per layer for runs with per-layer counts
(``--per-layer``), against a budget.

Runs are matched on board, backend, model, dataset, engine and dtype; a
model or dataset is named by its file's name (``har_cnn.py:har_cnn``), so a
baseline made in one checkout matches runs of another. Counts on an
emulator are exact (instructions, identical run to run): their default
budget is 0. Cycles on a real board move a little from run to run: their
default budget is +2 %.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.kinds import CountKind, RunStatus
from harness.store.store import RunSummary, Store

FORMAT = 1  # the baseline file's version
CYCLES_TOLERANCE_PCT = 2.0
MEASURED_ENERGY_TOLERANCE_PCT = 5.0

# metric -> (what it compares, units it takes, which way is worse)
METRICS = {
    "count": ("count per inference (median)", ("%", ""), +1),
    "rom": ("ROM bytes", ("%", "", "B", "KB", "MB"), +1),
    "ram": ("RAM bytes (static)", ("%", "", "B", "KB", "MB"), +1),
    "stack": ("stack bytes (measured)", ("%", "", "B", "KB", "MB"), +1),
    "accuracy": ("the task's metric (top-1, AUC: points; PSNR: dB)", ("pt", ""), -1),
    "energy": ("energy per inference (median)", ("%", "", "uJ"), +1),
}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024 * 1024}
_ITEM = re.compile(r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)(?P<unit>%|pt|B|KB|MB|uJ)?$")


@dataclass(frozen=True)
class Allowance:
    """How far a metric may move the wrong way: ``value`` percent of the
    baseline (``relative``) or in the metric's own unit."""

    value: float
    relative: bool
    given: str = ""  # as the user wrote it

    def limit(self, base: float) -> float:
        return abs(base) * self.value / 100 if self.relative else self.value

    def text(self, metric: str) -> str:
        if self.given:
            return self.given
        sign = "-" if METRICS[metric][2] < 0 else "+"
        unit = "%" if self.relative else {"accuracy": "pt", "energy": " uJ"}.get(metric, "")
        return f"{sign}{self.value:g}{unit}"


@dataclass(frozen=True)
class Budget:
    given: dict[str, Allowance] = field(default_factory=dict)

    def allowance(self, metric: str, kind: str | None = None) -> Allowance:
        if metric in self.given:
            return self.given[metric]
        if metric == "count" and kind == CountKind.CYCLES:
            return Allowance(CYCLES_TOLERANCE_PCT, True)
        if metric == "energy" and kind == "measured":
            return Allowance(MEASURED_ENERGY_TOLERANCE_PCT, True)
        return Allowance(0.0, False)


def parse_budget(text: str | None) -> Budget:
    """``count=+2%,rom=+1KB,ram=+0,accuracy=-0.5pt,energy=+3%``."""
    if not text:
        return Budget()
    out: dict[str, Allowance] = {}
    for item in text.split(","):
        name, eq, value = item.strip().partition("=")
        name, value = name.strip(), value.strip().replace(" ", "")
        if not eq or name not in METRICS:
            raise ConfigError(f"--budget {text!r}: {item.strip()!r} is not METRIC=CHANGE; "
                              f"metrics: {', '.join(METRICS)} (e.g. count=+2%,rom=+1KB,"
                              f"accuracy=-0.5pt)")
        m = _ITEM.match(value)
        _, units, worse = METRICS[name]
        if m is None or (m["unit"] or "") not in units:
            shown = ", ".join(f"'{u}'" if u else "none" for u in units)
            raise ConfigError(f"--budget {text!r}: {name}={value} is not a number with one of "
                              f"the units {shown}")
        if m["sign"] and (m["sign"] == "-") != (worse < 0):
            way = "a drop (-)" if worse < 0 else "a rise (+)"
            raise ConfigError(f"--budget {text!r}: {name}'s budget is {way}: "
                              f"{name}={'-' if worse < 0 else '+'}{m['num']}{m['unit'] or ''}")
        number, unit = float(m["num"]), m["unit"] or ""
        out[name] = Allowance(number * _BYTES.get(unit, 1), unit == "%", value)
    return Budget(out)


# -- what a baseline holds ------------------------------------------------------


def _name(spec: str) -> str:
    """A model or dataset as the user named it, without its folder."""
    head, sep, tail = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
    return Path(head).name + sep + tail if head.endswith((".py", ".pt2", ".npz", ".nir")) \
        else spec


@dataclass(frozen=True)
class Measured:
    """One run as a baseline keeps it."""

    board: str
    backend: str
    model: str
    dataset: str
    engine: str
    dtype: str
    run_id: int
    model_hash: str
    samples: int
    count_kind: str | None = None
    count: int | None = None
    rom: int | None = None
    ram: int | None = None
    stack: int | None = None
    metric: str | None = None
    accuracy: float | None = None  # the metric in points (top-1, AUC) or dB (PSNR)
    energy_kind: str | None = None
    energy: float | None = None  # uJ per inference
    layers: dict[str, int] | None = None  # per-layer count (median), manifest order

    @property
    def key(self) -> tuple[str, ...]:
        return (self.board, self.backend, self.model, self.dataset, self.engine, self.dtype)

    @property
    def label(self) -> str:
        return f"{self.board}/{self.backend} {self.model} {self.dataset} {self.engine} " \
               f"{self.dtype}"


def _points(s: RunSummary) -> float | None:
    if s.metric_value is None:
        return None
    return s.metric_value if s.metric == "PSNR" else 100 * s.metric_value


def _layers(store: Store, s: RunSummary) -> dict[str, int] | None:
    from harness.build.firmware import Firmware
    from harness.profile import summarize

    stored = store.layer_counts(s.run_id)
    if not stored:
        return None
    totals = {x.idx: x.count for x in store.samples(s.run_id)}
    idx = sorted(stored)
    folder = Path(s.firmware_dir or "")
    if not (folder / "manifest.json").is_file():
        width = len(stored[idx[0]])
        return {f"layer {i}": sorted(c[i] for c in stored.values())[len(stored) // 2]
                for i in range(width)}
    p = summarize(s.run_id, "stored", Firmware.load(folder), [totals[i] for i in idx],
                  [stored[i] for i in idx])
    out: dict[str, int] = {}
    for layer in p.layers:
        name = f"{layer.name} ({layer.op})"
        out[name if name not in out else f"{name} #{layer.index}"] = layer.instructions
    return out


def measured(store: Store, run_id: int) -> Measured:
    s = store.summary(run_id)
    if s.status != RunStatus.COMPLETE:
        raise ConfigError(f"run {run_id} is {s.status}: finish it (--resume {run_id}) before "
                          f"it is a baseline or checked")
    return Measured(board=s.board, backend=s.backend, model=_name(s.model),
                    dataset=_name(s.dataset), engine=s.engine, dtype=s.dtype, run_id=run_id,
                    model_hash=s.model_hash, samples=s.samples, count_kind=s.count_kind,
                    count=s.count_per_inference, rom=s.rom_bytes, ram=s.ram_bytes,
                    stack=s.stack_bytes, metric=s.metric, accuracy=_points(s),
                    energy_kind=s.energy_kind, energy=s.energy_uj, layers=_layers(store, s))


def run_ids(store: Store, what: str) -> tuple[str, list[int]]:
    """``RUN_ID``, ``sweep:ID`` or ``sweep:last``: the runs, and how to name them."""
    text = str(what).strip()
    if text.startswith("sweep:"):
        ref = text.removeprefix("sweep:")
        if ref == "last":
            newest = store.newest_sweep()
            if newest is None:
                raise ConfigError(f"no sweep in {store.path}")
            sweep = newest
        elif ref.isdigit():
            sweep = int(ref)
        else:
            raise ConfigError(f"{text!r}: a sweep is sweep:ID or sweep:last")
        runs = store.sweep_runs(sweep)
        if not runs:
            raise ConfigError(f"no runs of sweep {sweep} in {store.path}")
        return f"sweep {sweep}", sorted(run_id for run_id, _ in runs.values())
    if not text.isdigit():
        raise ConfigError(f"{text!r} is neither a run id nor sweep:ID (or sweep:last)")
    store.run_row(int(text))  # no such run: one line
    return f"run {text}", [int(text)]


def export(db: Path, what: str) -> dict:
    with Store(db, readonly=True) as store:
        name, ids = run_ids(store, what)
        runs = [measured(store, i) for i in ids]
        commits = {store.run_row(i)["git_commit"] for i in ids} - {None}
    return {"bench_baseline": FORMAT, "from": name,
            "git_commit": ", ".join(sorted(commits)) or None,
            "runs": [asdict(m) for m in runs]}


def load_baseline(source: str, db: Path) -> tuple[str, list[Measured]]:
    """A baseline file, or runs of the store named as ``run_ids`` takes them."""
    path = Path(source)
    if path.suffix == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise ConfigError(f"cannot read baseline {path}: {e.strerror or e}") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"baseline {path} is not JSON ({e}): write one with 'bench "
                              f"baseline export RUN_ID -o {path.name}'") from e
        if not isinstance(data, dict) or data.get("bench_baseline") != FORMAT:
            raise ConfigError(f"{path} is not a bench baseline (version {FORMAT}): write one "
                              f"with 'bench baseline export RUN_ID -o {path.name}'")
        try:
            return str(path), [Measured(**r) for r in data["runs"]]
        except (KeyError, TypeError) as e:
            raise ConfigError(f"baseline {path} is damaged ({e})") from e
    with Store(db, readonly=True) as store:
        name, ids = run_ids(store, source)
        return name, [measured(store, i) for i in ids]


# -- the comparison ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    label: str  # the run
    metric: str
    layer: str | None
    base: float | None
    now: float | None
    allowed: str  # the budget, as text
    over: bool
    note: str = ""

    @property
    def moved(self) -> bool:
        return self.base != self.now

    def what(self) -> str:
        where = f" of layer {self.layer!r}" if self.layer else ""
        return f"{self.metric}{where} in {self.label}"


def _compare(metric: str, label: str, base: float | None, now: float | None,
             allowance: Allowance, layer: str | None = None) -> Change | None:
    if base is None and now is None:
        return None
    worse = METRICS[metric][2]
    if base is None:  # a new layer: all of it is a rise
        assert now is not None
        return Change(label, metric, layer, None, now, allowance.text(metric),
                      now * worse > allowance.limit(0), "new")
    if now is None:
        return Change(label, metric, layer, base, None, allowance.text(metric), False, "gone")
    delta = (now - base) * worse
    return Change(label, metric, layer, base, now, allowance.text(metric),
                  delta > allowance.limit(base) + 1e-9)


def compare(base: Measured, run: Measured, budget: Budget) -> list[Change]:
    label = f"{run.label} (run {run.run_id})"
    out: list[Change | None] = []
    if base.count_kind and run.count_kind and base.count_kind != run.count_kind:
        raise ConfigError(f"{label} counts {run.count_kind}, its baseline (run {base.run_id}) "
                          f"{base.count_kind}: compare like with like")
    count = budget.allowance("count", run.count_kind)
    out.append(_compare("count", label, base.count, run.count, count))
    if base.layers is not None and run.layers is not None:
        for layer in [*base.layers, *(n for n in run.layers if n not in base.layers)]:
            out.append(_compare("count", label, base.layers.get(layer), run.layers.get(layer),
                                count, layer))
    for metric in ("rom", "ram", "stack"):
        out.append(_compare(metric, label, getattr(base, metric), getattr(run, metric),
                            budget.allowance(metric)))
    out.append(_compare("accuracy", label, base.accuracy, run.accuracy,
                        budget.allowance("accuracy")))
    out.append(_compare("energy", label, base.energy, run.energy,
                        budget.allowance("energy", run.energy_kind)))
    return [c for c in out if c is not None]


@dataclass(frozen=True)
class Verdict:
    changes: list[Change]
    unmatched: list[str]  # runs with no baseline entry (not a failure)
    missing: list[str]  # baseline entries the checked runs lack (a sweep lost a run)
    notes: list[str]

    @property
    def over(self) -> list[Change]:
        return [c for c in self.changes if c.over]

    @property
    def failed(self) -> bool:
        return bool(self.over or self.missing)


def check(baseline: list[Measured], runs: list[Measured], budget: Budget,
          whole: bool) -> Verdict:
    """``whole``: the runs are a sweep, so a baseline entry without a run
    is missing; a single run is compared with its own entry only."""
    by_key = {m.key: m for m in baseline}
    changes: list[Change] = []
    unmatched, notes = [], []
    for run in runs:
        base = by_key.get(run.key)
        if base is None:
            unmatched.append(run.label)
            continue
        if base.model_hash != run.model_hash:
            notes.append(f"{run.label}: the model changed since the baseline (run "
                         f"{base.run_id})")
        changes += compare(base, run, budget)
    have = {r.key for r in runs}
    missing = [m.label for m in baseline if m.key not in have] if whole else []
    return Verdict(changes, unmatched, missing, notes)

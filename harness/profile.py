"""Per-layer instruction profiles (``bench profile RUN_ID``).

A run made with ``--per-layer`` has per-layer counts for every sample in the
store. For any other run the profile is measured now: the run's model is
rebuilt with -DBENCH_PER_LAYER (same board, engine, dtype, link and, for
integer builds, the calibration ranges saved beside its firmware) and a few
samples of its dataset go through QEMU with bench's TCG plugin. The stored
run is never changed.

Layer names, ops and MACs come from the firmware manifest ("layers"), in the
order the generated code marks them (BENCH_LAYER_MARK).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.backends import get_backend, get_board
from harness.build.build import build_for
from harness.build.firmware import Firmware
from harness.datasets import load_dataset
from harness.errors import BenchError, ConfigError, ProtocolError, ToolMissingError
from harness.kinds import DType, WeightLayout
from harness.model.ir import graph_hash
from harness.model.snn_options import SnnOptions
from harness.store.store import Store

DEFAULT_SAMPLES = 3


@dataclass(frozen=True)
class LayerProfile:
    index: int
    name: str
    op: str
    macs: int
    instructions: int  # median over the samples
    percent: float  # of the inference's total
    macs_per_instruction: float | None  # None for layers without MACs
    # The emulator's cycle estimate (Profile.timing_model), median; None without one.
    estimated_cycles: int | None = None


@dataclass(frozen=True)
class Profile:
    run_id: int
    source: str  # "stored" (a --per-layer run) | "measured" (rebuilt and run now)
    samples: int
    total: int  # median instructions between the start and stop marks
    outside_layers: int  # total minus the layers: call overhead around bench_model_run
    firmware_dir: str
    layers: list[LayerProfile]  # empty when the engine marks no layers (tflm)
    macs: int = 0  # the model's, whether or not its layers were counted
    timing_model: str | None = None  # what estimated the layers' cycles, e.g. "cortex-m4 v1"
    estimated_cycles: int | None = None  # median per inference

    def as_dict(self) -> dict:
        return asdict(self)


def _median(values: list[int]) -> int:
    return int(round(statistics.median(values)))


@dataclass(frozen=True)
class Estimate:
    """An emulator's cycle estimates beside the counts: per sample, and per layer."""

    timing_model: str
    totals: list[int]
    per_sample: list[list[int]]


def summarize(run_id: int, source: str, fw: Firmware, totals: list[int],
              per_sample: list[list[int]], estimate: Estimate | None = None,
              model_macs: int | None = None) -> Profile:
    """``model_macs``: the model's total, when known beyond the marked layers'."""
    if not per_sample:
        raise ConfigError(f"run {run_id}: no per-layer counts to profile")
    n_layers = len(fw.layers)
    for counts in per_sample:
        if len(counts) != n_layers:
            raise ProtocolError(f"run {run_id}: {len(counts)} layer counts for the "
                                f"{n_layers} layers in {fw.dir}/manifest.json")
    total = _median(totals)
    layers = []
    for i, info in enumerate(fw.layers):
        insns = _median([c[i] for c in per_sample])
        macs = int(info.get("macs", 0))
        layers.append(LayerProfile(
            index=i, name=str(info.get("name", i)) + _step_label(info),
            op=str(info.get("op", "?")), macs=macs,
            instructions=insns, percent=100.0 * insns / total if total else 0.0,
            macs_per_instruction=macs / insns if macs and insns else None,
            estimated_cycles=_median([c[i] for c in estimate.per_sample]) if estimate
            else None))
    return Profile(run_id=run_id, source=source, samples=len(per_sample), total=total,
                   # Per sample, so medians of different samples do not mix.
                   outside_layers=_median([t - sum(c) for t, c in zip(totals, per_sample,
                                                                     strict=True)]),
                   firmware_dir=str(fw.dir), layers=layers,
                   macs=sum(la.macs for la in layers) if model_macs is None else model_macs,
                   timing_model=estimate.timing_model if estimate else None,
                   estimated_cycles=_median(estimate.totals) if estimate else None)


def _firmware_of(run_id: int, row: dict) -> Firmware:
    folder = row.get("firmware_dir")
    if not folder or not Path(folder).is_dir():
        raise ConfigError(f"run {run_id}'s firmware directory {folder} is gone; rebuild it by "
                          f"running the model again")
    return Firmware.load(Path(folder))


def profile_run(run_id: int, db: Path, samples: int = DEFAULT_SAMPLES) -> Profile:
    """The run's stored per-layer counts, or a fresh measurement of its model."""
    if samples <= 0:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    with Store(db, readonly=True) as store:
        row = store.run_row(run_id)
        stored = store.layer_counts(run_id)
        cycles = store.layer_cycles(run_id)
        samples_ = store.samples(run_id)
    totals = {s.idx: s.count for s in samples_}
    est = {s.idx: s.estimated_cycles for s in samples_}
    if stored:
        fw = _firmware_of(run_id, row)
        idx = sorted(stored)
        timed = bool(row.get("timing_model")) and all(
            i in cycles and est[i] is not None for i in idx)
        return summarize(run_id, "stored", fw, [totals[i] for i in idx],
                         [stored[i] for i in idx],
                         Estimate(row["timing_model"], [est[i] for i in idx],  # type: ignore[misc]
                                  [cycles[i] for i in idx]) if timed else None)
    return _measure(run_id, row, samples)


def _snn_options(row: dict) -> SnnOptions:
    """A spiking run's T, readout, encoding (and a NIR graph's dt) as stored:
    the command line may have overridden the model's own."""
    if row.get("timesteps") is None:
        return SnnOptions()
    return SnnOptions(timesteps=row["timesteps"], readout=row.get("readout"),
                      encoding=row.get("encoding"), dt=row.get("dt"))


def _measure(run_id: int, row: dict, samples: int) -> Profile:
    from harness.engines import get_engine
    from harness.model import snn_kernels
    from harness.model.load import load_graph  # torch: only when a profile is measured
    from harness.quant import QuantConfig
    from harness.quant.calibrate import Calibration
    from harness.run.target import DeviceTarget

    board = get_board(row["board"])
    backend = get_backend(row["backend"])
    ok, why = backend.exact_counter()
    if not ok:
        raise ToolMissingError(f"per-layer profiles need exact instruction counts: {why}")
    old = _firmware_of(run_id, row)
    try:
        graph = load_graph(row["model"], _snn_options(row))
    except BenchError as e:
        raise ConfigError(f"run {run_id}'s model {row['model']} cannot be loaded again: "
                          f"{e}") from e
    if graph.spiking and row.get("spike_kernels"):
        graph = snn_kernels.apply(graph, json.loads(row["spike_kernels"]))
    if graph_hash(graph).hex() != row["model_hash"]:
        raise ConfigError(f"run {run_id}'s model {row['model']} has changed since the run "
                          f"(different graph hash): profile a --per-layer run instead")
    quant = None
    if row["dtype"] != DType.FLOAT32:
        calibration = Calibration.load(old.dir / "calibration.json")
        record = json.loads(row["calibration"]) if row.get("calibration") else {}
        quant = QuantConfig(scheme=row["quant_scheme"] or old.quant_scheme or "",
                            calibration=calibration,
                            weights=record.get("weights", WeightLayout.PACKED))
    data = load_dataset(row["dataset"])
    if data.hash != row["dataset_hash"]:
        raise ConfigError(f"run {run_id}'s dataset {row['dataset']} has changed since the run")
    engine = get_engine(row["engine"])
    if engine.variant() != row["engine"]:
        raise ConfigError(f"run {run_id} was built as {row['engine']}, this environment builds "
                          f"{engine.variant()}: set the variables the run had (e.g. "
                          f"TFLM_CMSIS_NN)")
    fw = build_for(board, graph, engine, row["dtype"], old.link, quant=quant, per_layer=True)
    totals: list[int] = []
    per_sample: list[list[int]] = []
    results = []
    with DeviceTarget(backend, board, fw) as target:
        target.start()
        for i in range(min(samples, len(data))):
            # A per-layer build's counts are the emulator's exact ones, or an error.
            res = target.infer(data.x[i], i)
            assert res.count is not None
            totals.append(res.count.value)
            per_sample.append(list(res.layers))
            results.append(res)
    timed = results and all(r.estimated_cycles is not None and r.layer_cycles for r in results)
    # Without marked layers the model's MACs still say what the total did.
    return summarize(run_id, "measured", fw, totals, per_sample,
                     Estimate(results[0].timing_model or "",
                              [r.estimated_cycles for r in results],  # type: ignore[misc]
                              [list(r.layer_cycles) for r in results]) if timed else None,
                     model_macs=None if fw.layers else graph.macs)


def _step_label(info: dict) -> str:
    """Which timestep a spiking layer's mark is, or that it runs once per sample."""
    if "t" in info:
        return f" t={info['t']}"
    return " (once)" if info.get("once") else ""

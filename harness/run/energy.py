"""Energy of a run measured by a power meter: the meter opened before the
run, started before the first sample, its trace kept beside the database,
and each streamed sample's energy taken from the trace's windows."""

from __future__ import annotations

from pathlib import Path

from harness.boards import Board
from harness.errors import MeterError
from harness.kinds import EnergyKind
from harness.power import estimate
from harness.power.meter import Meter, open_meter
from harness.run.request import RunRequest
from harness.store.store import RunSummary, Store


class MeterFailed(MeterError):
    """The run is stored (with estimated energy) but the meter gave no
    per-sample energy; ``summary`` is the stored run."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


def trace_path(db: Path, run_id: int) -> Path:
    return db.parent / "traces" / f"run-{run_id}.parquet"


def open_for_run(req: RunRequest, board: Board) -> Meter | None:
    """The run's meter, opened and configured, or None without --meter.
    "Meter not found" fails here, before the run exists."""
    if req.meter is None:
        return None
    meter = open_meter(req.meter)
    facts = estimate.power_facts(board)
    meter.board_supply_v = facts.supply_v if facts is not None else None
    meter.open()
    try:
        meter.configure(req.meter_rate, req.meter_duration)
    except BaseException:
        meter.close()
        raise
    return meter


def start(meter: Meter) -> None:
    try:
        meter.start()
    except MeterError as e:
        raise MeterError(f"{e}; no sample was run") from e


def measure(store: Store, run_id: int, meter: Meter, streamed: list[int], db: Path) -> None:
    """Stop the meter, keep its trace beside the database, and store each
    streamed sample's energy from the trace's windows, in order. A meter
    that fails here leaves the run stored (MeterFailed)."""
    try:
        _measure(store, run_id, meter, streamed, db)
    except MeterError as e:
        store.update_run(run_id, note=f"energy not measured: {e}")
        raise MeterFailed(f"{e}; run {run_id} is stored with its other results (energy "
                          f"estimated, not measured)", store.summary(run_id)) from e


def _measure(store: Store, run_id: int, meter: Meter, streamed: list[int], db: Path) -> None:
    # Late: the trace's plot needs matplotlib, which runs without a meter never load.
    from harness.power.capture import save
    from harness.power.energy import match_samples

    meter.stop()
    trace = meter.read()
    path = trace_path(db, run_id)
    cap = save(trace, path, title=f"run {run_id}: {meter.uri}")
    store.update_run(run_id, trace_file=str(path))
    if cap.error is not None:
        raise cap.error
    assert cap.report is not None
    energy = match_samples(cap.report, streamed)
    store.set_energy(run_id, energy, energy_kind=EnergyKind.MEASURED,
                     energy_basis=f"measured: {meter.uri} at {trace.sample_rate:,.0f} Hz, "
                     f"{len(energy)} windows from {trace.windows_from}"
                     + ("" if trace.voltage_from == EnergyKind.MEASURED else
                        f", voltage {trace.voltage_from}"))

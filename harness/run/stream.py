"""The one streaming loop every run uses: each sample inferred by the
target, checked against the reference, and committed before the next; a
target that stops answering is restarted and the same sample retried."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.boards import Board
from harness.datasets import Dataset
from harness.errors import BackendError
from harness.kinds import CountKind, Task
from harness.metrics import NO_CLASS, sample_score
from harness.power import estimate
from harness.run.target import Target, TargetLost
from harness.store.schema import Sample
from harness.store.store import Store

Progress = Callable[[int, int], None]  # (done, total)


def stream(store: Store, run_id: int, target: Target, board: Board, data: Dataset,
           reference: np.ndarray, todo: list[int], n: int, progress: Progress | None,
           max_restarts: int, streamed: list[int]) -> None:
    """Infer ``todo`` (dataset indices) on ``target`` and store each sample;
    ``streamed`` gets each index as it is stored (a meter's windows follow
    that order). The target is started only if there is something to do."""
    done = n - len(todo)
    if progress:
        progress(done, n)
    if not todo:
        return
    facts = estimate.power_facts(board)
    restarts = 0
    target.start()
    stored_kind = store.run_row(run_id)["timer_kind"]
    if done and stored_kind not in (None, target.timer_kind):
        raise BackendError(f"run {run_id} was counted by {stored_kind}, this target counts "
                           f"{target.timer_kind}: a run never mixes count sources (start a new "
                           f"run, or resume where {stored_kind} is available)")
    store.update_run(run_id, timer_kind=target.timer_kind)
    pos = 0
    while pos < len(todo):
        i = todo[pos]
        try:
            res = target.infer(data.x[i], i)
        except TargetLost as e:
            if restarts >= max_restarts:
                raise BackendError(f"target stopped answering at sample {i} ({e.why})") from e
            restarts += 1
            target.start()  # reset and retry the same sample
            continue
        count = res.count
        can_estimate = (facts is not None and count is not None
                        and count.kind in (CountKind.CYCLES, CountKind.INSTRUCTIONS))
        # Where the emulator estimated cycles, the energy estimate takes them
        # (as the latency shown does), not instructions at the board's CPI.
        timed = res.estimated_cycles is not None and res.timing_model is not None
        if pos == 0 and count is not None:
            store.update_run(run_id, count_kind=count.kind)
            if res.timing_model is not None:
                store.update_run(run_id, timing_model=res.timing_model)
            if can_estimate:
                assert facts is not None
                store.update_run(run_id, energy_kind=estimate.LABEL, energy_basis=estimate.basis(
                    board, facts, count.kind, res.timing_model if timed else None))
        classes = data.task == Task.CLASSIFICATION
        # NaN/inf outputs are what the device gave: stored and flagged, never
        # an argmax (NaN's would be 0) nor an error figure (SQLite drops NaN).
        nonfinite = int(np.count_nonzero(~np.isfinite(res.output)))
        store.add_sample(run_id, Sample(
            idx=i, label=data.label(i),
            predicted=int(np.argmax(res.output)) if classes and not nonfinite else NO_CLASS,
            count=count.value if count is not None else 0,
            raw_count=count.raw if count is not None else 0,
            stack_bytes=res.stack_bytes or 0,
            max_abs_error=None if nonfinite else float(np.max(np.abs(res.output - reference[i]))),
            output=res.output, layers=res.layers, spikes=res.spikes, nonfinite_outputs=nonfinite,
            estimated_cycles=res.estimated_cycles, layer_cycles=res.layer_cycles,
            score=None if nonfinite else sample_score(
                data.task, res.output, data.x[i],
                data.y[i] if data.task == Task.REGRESSION else None),
            energy_uj=None if not can_estimate else (
                estimate.estimate_uj(res.estimated_cycles, CountKind.CYCLES, facts)  # type: ignore[arg-type]
                if timed else estimate.estimate_uj(count.value, count.kind, facts))))  # type: ignore[union-attr,arg-type]
        streamed.append(i)
        pos += 1
        done += 1
        if progress:
            progress(done, n)

"""One measured run, end to end: prepared (prepare.py), then streamed into
the store through its target. Each finished sample is committed before the
next is sent; a target that goes silent is restarted (MAX_RESTARTS) and the
run continues; if it fails again the run is marked incomplete and can be
resumed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.kinds import RunStatus
from harness.model.reference import run_graph
from harness.quant.reference import run_qgraph
from harness.quant.schemes import quantize_graph
from harness.run import energy
from harness.run.prepare import Prepared, prepare
from harness.run.record import incomplete_on_failure, open_run
from harness.run.request import RunRequest
from harness.run.stream import Progress, stream
from harness.store.store import RunSummary, Store


def reference_outputs(p: Prepared) -> np.ndarray:
    """What each output must equal: the bit-exact integer reference
    (dequantized) for engines that declare it, else the float model (for
    other engines' integer builds that difference is the quantization error)."""
    x = p.data.x[:p.n]
    if p.quant is not None and p.engine.capabilities.integer_reference:
        qgraph = quantize_graph(p.graph, p.quant, p.dtype)
        return qgraph.output_q.dequantize(run_qgraph(qgraph, qgraph.input_q.quantize(x)))
    return run_graph(p.graph, x).astype(np.float32)


def run(req: RunRequest, db: Path, progress: Progress | None = None) -> RunSummary:
    return execute(prepare(req), db, progress)


def execute(p: Prepared, db: Path, progress: Progress | None = None) -> RunSummary:
    reference = reference_outputs(p)
    meter = energy.open_for_run(p.req, p.board)
    try:
        with Store(db) as store, p.target() as target:
            run_id, n = open_run(store, p, target.backend)
            todo = [i for i in range(n) if i not in store.done_indices(run_id)]
            streamed: list[int] = []
            with incomplete_on_failure(store, run_id):
                if meter is not None:
                    energy.start(meter)
                stream(store, run_id, target, p.board, p.data, reference, todo, n, progress,
                       p.req.max_restarts, streamed)
                arena = target.arena_bytes()
                if arena is not None:
                    store.update_run(run_id, arena_bytes=arena)
            target.close()  # the emulator is not needed while the meter's trace is read
            store.finish_run(run_id, RunStatus.COMPLETE)
            if meter is not None:
                energy.measure(store, run_id, meter, streamed, db)
            return store.summary(run_id)
    finally:
        if meter is not None:
            meter.close()

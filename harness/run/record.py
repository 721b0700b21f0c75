"""A run's row in the store: created once from what was prepared, or found
again for --resume and checked against it; and what a failure leaves there."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

from harness.errors import BenchError, ConfigError, StoreError
from harness.fpga.resources import core_run_fields
from harness.kinds import RunStatus, Task
from harness.model import fanout
from harness.model.ir import Graph, graph_hash, numel
from harness.paths import ROOT
from harness.processes import Interrupted
from harness.run.prepare import Prepared
from harness.store.schema import RunRecord
from harness.store.store import Store, input_shape_text

# Fields a resumed run must share with the request that continues it.
SAME_ON_RESUME = ("board", "backend", "engine", "dtype", "model_hash", "dataset_hash",
                  "quant_scheme")


def git_commit() -> str | None:
    """The checkout's commit, "-dirty" when tracked files differ from it."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, check=False, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               check=False, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() + ("-dirty" if dirty else "")


def spiking_fields(graph: Graph, counted: bool = True) -> dict:
    """A spiking run's T, readout, encoding and counted layers (the order of
    the device's spike counters) with their fan-outs, and its weighted
    layers' geometry: what activity and cost are recomputed from; no
    counted layers when the engine has no counters."""
    if not graph.spiking:
        return {}
    layers = fanout.spike_layers(graph) if counted else []
    return {"timesteps": graph.timesteps, "readout": graph.readout, "encoding": graph.encoding,
            "spike_layers": json.dumps(fanout.to_json(layers)),
            "synaptic_layers": json.dumps(fanout.to_json(fanout.synaptic_layers(graph))),
            "spike_kernels": json.dumps({layer.name: layer.params["spikes_in"]
                                         for layer in graph.layers
                                         if "spikes_in" in layer.params})}


def new_record(p: Prepared, backend: str) -> RunRecord:
    """The row a new run starts with; ``backend`` is where it runs (the
    target's: a backend's name, or "host")."""
    req, fw = p.req, p.fw
    common = dict(
        # A build names its engine's variant (tflm+cmsis-nn).
        board=p.board.name, backend=backend, engine=fw.engine if fw else p.engine.name,
        dtype=p.dtype,
        model=req.model, dataset=req.dataset, dataset_hash=p.data.hash,
        samples_planned=p.n, git_commit=git_commit(),
        input_shape=input_shape_text(p.graph.input_shape),
        quant_scheme=p.quant.scheme if p.quant is not None else None,
        calibration=json.dumps(p.calibration) if p.calibration else None,
        per_layer=int(req.per_layer), sweep_key=req.sweep_key,
        reference=p.engine.reference(p.dtype), task=p.data.task, top_k=req.top_k,
        psnr_peak=p.data.peak if p.data.task == Task.REGRESSION else None,
        dt=req.snn.dt,
        **spiking_fields(p.graph, p.engine.capabilities.spike_counters))
    if fw is None:  # a host interpreter: nothing was built for the board
        assert p.host is not None
        return RunRecord(**common, model_hash=graph_hash(p.graph).hex(),
                         compiler=p.host.version, timer_kind="none", clock_hz=None,
                         n_outputs=numel(p.graph.output_shape),
                         firmware_dir=str(p.host.file.parent), note=p.note)
    return RunRecord(
        **common, model_hash=fw.model_hash, compiler=fw.compiler, cflags=" ".join(fw.cflags),
        build_id=fw.build_id, clock_hz=p.board.clock_hz, rom_bytes=fw.memory.rom_bytes,
        ram_bytes=fw.memory.ram_bytes, arena_bytes=fw.arena_bytes,
        stack_reserved_bytes=fw.memory.stack_reserved_bytes, n_outputs=fw.n_outputs,
        firmware_dir=str(fw.dir), meter=req.meter, note=p.note, link=fw.link,
        **core_run_fields(p.board.name))  # an FPGA board's synthesised resources


def open_run(store: Store, p: Prepared, backend: str) -> tuple[int, int]:
    """The run's id and its planned sample count: a new row, or for
    --resume the stored one, refused when it was made differently."""
    record = new_record(p, backend)
    if p.req.resume is None:
        run_id = store.create_run(record)
        store.hold_run(run_id)
        return run_id, p.n
    run_id = p.req.resume
    row = store.run_row(run_id)
    store.hold_run(run_id)  # before anything is changed: a second --resume stops here
    for key in SAME_ON_RESUME:
        want = getattr(record, key)
        if row[key] != want:
            shown = None if want is None else str(want)
            raise ConfigError(f"run {run_id} was made with {key} {row[key]!r}, not "
                              f"{shown!r}: resume it with the same arguments")
    if row["link"] is not None and row["link"] != record.link:
        raise ConfigError(f"run {run_id} was made with --link {row['link']}: resume it with "
                          f"the same arguments")
    if bool(row["per_layer"]) != p.req.per_layer:
        made = "with" if row["per_layer"] else "without"
        raise ConfigError(f"run {run_id} was made {made} --per-layer: resume it with the same "
                          f"arguments")
    store.update_run(run_id, status=RunStatus.RUNNING)
    return run_id, row["samples_planned"]


@contextlib.contextmanager
def incomplete_on_failure(store: Store, run_id: int) -> Iterator[None]:
    """Whatever stops a run keeps what it stored and marks it incomplete; a
    BenchError's or an interrupt's one line then says how to continue it."""
    try:
        yield
    except BaseException as e:
        if isinstance(e, BenchError):
            note = str(e)
        elif isinstance(e, KeyboardInterrupt):
            signum = e.signum if isinstance(e, Interrupted) else 2
            note = f"interrupted ({Interrupted('', signum).signal_name})"
        else:
            note = f"interrupted ({type(e).__name__})"
        try:
            store.finish_run(run_id, RunStatus.INCOMPLETE, note=note)
            hint = f"run {run_id} is stored as incomplete: continue it with --resume {run_id}"
        except StoreError:
            # Still no room (the store has checkpointed its WAL to make
            # some): the run stays 'running', and resumes all the same.
            hint = (f"run {run_id} could not be marked incomplete: continue it with --resume "
                    f"{run_id} once {store.path} can be written")
        if isinstance(e, BenchError):
            raise type(e)(f"{e}; {hint}") from e
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(hint, signum) from e
        raise

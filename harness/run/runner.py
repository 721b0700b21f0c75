"""One measured run: model -> firmware -> target -> dataset streamed -> store.

Each finished sample is committed before the next is sent. If the target
goes silent or dies, it is restarted once and the run continues; if it fails
again the run is marked incomplete and can be resumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.backends import Backend, Session, get_backend
from harness.backends.base import Count
from harness.boards import Board, get_board
from harness.build.build import Firmware, build
from harness.datasets import Dataset, load_dataset
from harness.engines import get_engine, host_reason
from harness.errors import (
    BackendError,
    BenchError,
    ConfigError,
    MeterError,
    ProtocolError,
    ToolMissingError,
)
from harness.link import DeviceInfo, DeviceSilent, Link
from harness.model.ir import Graph
from harness.model.lower import import_graph, load_model
from harness.model.reference import run_graph
from harness.paths import BUILD, ROOT
from harness.power import estimate
from harness.power.meter import Meter, open_meter
from harness.quant import QuantConfig
from harness.quant.calibrate import DEFAULT_SAMPLES
from harness.store.store import RunSummary, Sample, Store, input_shape_text

if TYPE_CHECKING:
    from harness.engines.tflm.engine import HostModel

MAX_RESTARTS = 1
PER_LAYER_CFLAGS = ("-DBENCH_PER_LAYER",)  # BENCH_LAYER_MARK() becomes a marker call
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True)
class QuantRequest:
    """How an int8/int16 build gets its ranges and scheme (CLI --quant ...)."""

    scheme: str | None = None  # "pot" | "affine"; None: the more accurate on calibration
    samples: int = DEFAULT_SAMPLES
    method: str = "minmax"
    data: str | None = None  # dataset; default: the run dataset's -train split, else itself
    ranges: Path | None = None  # a saved calibration.json to reuse instead
    weights: str = "packed"  # int8 conv weight layout: "packed" | "wide"


@dataclass(frozen=True)
class RunRequest:
    board: str
    backend: str
    model: str
    dataset: str
    engine: str = "native"
    dtype: str = "float32"
    limit: int | None = None
    db: Path | None = None
    resume: int | None = None
    max_restarts: int = MAX_RESTARTS
    quant: QuantRequest = QuantRequest()
    per_layer: bool = False  # -DBENCH_PER_LAYER build, per-layer instructions stored
    sweep_key: str | None = None  # set by bench sweep: which entry of which sweep
    meter: str | None = None  # power meter URI: measure energy per inference
    meter_rate: float | None = None  # Hz; None: the meter's default
    meter_duration: float | None = None  # s; None: until the run ends (or the meter's longest)


class MeterFailed(MeterError):
    """The run is stored (with estimated energy) but the meter gave no
    per-sample energy; ``summary`` is the stored run."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, check=False, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True, check=False,
                           timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def resolve_board_backend(board_name: str, backend_name: str) -> tuple[Board, Backend]:
    board = get_board(board_name)
    backend = get_backend(backend_name)
    if backend_name not in board.backends or not backend.supports(board):
        raise ConfigError(f"board {board.name} cannot run on backend {backend_name}; "
                          f"its backends: {', '.join(board.backends)}")
    return board, backend


def load_graph(model_spec: str) -> Graph:
    module, input_shape = load_model(model_spec)
    return import_graph(module, input_shape)


def build_for(board: Board, graph: Graph, engine: str, dtype: str, link: str,
              out_dir: Path | None = None, quant: QuantConfig | None = None,
              per_layer: bool = False) -> Firmware:
    from harness.build.build import graph_hash

    scheme = ""
    if quant is not None and dtype != "float32":
        # Other ranges make other firmware: keep each in its own directory so
        # a stored run's firmware_dir stays the firmware it measured.
        ranges = json.dumps(quant.calibration.ranges, sort_keys=True).encode()
        scheme = (f"-{quant.scheme}" + ("-wide" if quant.weights == "wide" else "")
                  + f"-r{hashlib.sha256(ranges).hexdigest()[:6]}")
    layers = "-per-layer" if per_layer else ""
    name = f"{board.name}-{link}-{engine}-{dtype}{scheme}{layers}-{graph_hash(graph).hex()[:12]}"
    return build(board, graph, engine, dtype, out_dir or BUILD / name, link=link, quant=quant,
                 extra_cflags=PER_LAYER_CFLAGS if per_layer else ())


def quant_for(graph: Graph, engine: str, dtype: str, dataset: str | None,
              q: QuantRequest) -> tuple[QuantConfig | None, dict | None]:
    """Calibrate (or load ranges) and pick the scheme for an integer build.

    Returns the config and what to record with the run (method, samples,
    source dataset, each candidate scheme's calibration accuracy).
    """
    if dtype == "float32":
        if q.scheme is not None:
            raise ConfigError("--quant applies to int8/int16 builds, not float32")
        return None, None
    from harness.engines import get_engine
    from harness.quant.calibrate import Calibration, calibrate
    from harness.quant.select import choose_scheme

    schemes = get_engine(engine).schemes.get(dtype, ())
    if q.scheme is not None and q.scheme not in schemes:
        raise ConfigError(f"engine {engine} has no {q.scheme!r} scheme for {dtype}; it has: "
                          f"{', '.join(schemes) or 'none'}")
    if q.samples <= 0:
        raise ConfigError(f"--calibrate needs at least one sample, got {q.samples}")
    source = q.data or (calibration_dataset_for(dataset) if dataset else None)
    if source is None and q.ranges is None:
        raise ConfigError(f"a {dtype} build needs calibration data: give --dataset, "
                          f"--calibration-data or --ranges")
    data = None
    if source is not None:
        data = load_dataset(source)
        try:
            data.check_fits(graph.input_shape)
        except ConfigError as e:
            raise ConfigError(f"calibration set {source}: {e}") from e
    if q.ranges is not None:
        cal = Calibration.load(q.ranges)
        missing = [t for t in (graph.input_name, *(layer.output for layer in graph.layers))
                   if t not in cal.ranges]
        if missing:
            raise ConfigError(f"{q.ranges} has no range for tensor {missing[0]!r}: it was "
                              f"made for another model")
    else:
        assert data is not None
        cal = calibrate(graph, data.x[:q.samples], q.method)
        cal.dataset = source
    candidates = (q.scheme,) if q.scheme is not None else schemes
    if data is None:  # saved ranges and no data to compare schemes on
        chosen, scores = candidates[0], {}
    else:
        chosen, scores = choose_scheme(graph, cal, dtype, candidates, data.x[:q.samples],
                                       data.y[:q.samples])
    record = {"method": cal.method, "samples": cal.samples, "dataset": cal.dataset,
              "accuracy": scores, "ranges_file": str(q.ranges) if q.ranges else None}
    if q.weights not in ("packed", "wide"):
        raise ConfigError(f"unknown weight layout {q.weights!r}; known: packed, wide")
    record["weights"] = q.weights
    return QuantConfig(chosen, cal, weights=q.weights), record


def calibration_dataset_for(dataset: str) -> str:
    """The training split of a registry dataset when there is one: calibrating
    on the test set would tune the ranges to the data being scored."""
    from harness.datasets import DATASETS

    train = f"{dataset}-train"
    return train if train in DATASETS else dataset


def check_device(info: DeviceInfo, fw: Firmware) -> None:
    """Refuse a device that runs other firmware than the one built."""
    if info.build_id != fw.build_id:
        raise ProtocolError(f"device runs firmware build {info.build_id}, expected {fw.build_id} "
                            f"(board {info.board}, engine {info.engine}): flash the right "
                            f"firmware")
    if info.model_hash != fw.model_hash[:16]:
        raise ProtocolError(f"device model hash {info.model_hash} differs from the model's "
                            f"{fw.model_hash[:16]}")
    if info.input_bytes != fw.input_bytes or info.output_bytes != fw.output_bytes:
        raise ProtocolError("device tensor sizes differ from the build's manifest")


class Target:
    """A backend session plus its open link, restartable."""

    def __init__(self, backend: Backend, board: Board, fw: Firmware) -> None:
        self.backend, self.board, self.fw = backend, board, fw
        self.session: Session | None = None
        self.link: Link | None = None
        self.info: DeviceInfo | None = None

    def start(self) -> DeviceInfo:
        self.close()
        self.session = self.backend.start(self.board, self.fw.elf, self.fw.link)
        try:
            self.link = Link(self.session.url, baudrate=self.session.baudrate)
            self.info = self.link.hello()
        except DeviceSilent as e:
            why = self.session.why_dead()
            self.close()
            raise BackendError(f"no handshake from {self.board.name} on {self.backend.name} "
                               f"({why}): {e}") from e
        except BenchError:
            self.close()
            raise
        check_device(self.info, self.fw)
        return self.info

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.session is not None:
            self.session.close()
            self.session = None

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Prepared:
    """Everything checked and built; only the measurement is left."""

    req: RunRequest
    board: Board
    backend: Backend
    graph: Graph
    data: Dataset
    n: int
    fw: Firmware | None  # None: the engine runs on the host (see host)
    calibration: dict | None = None  # recorded with the run
    quant: QuantConfig | None = None
    host: HostModel | None = None  # an engine's host interpreter, e.g. tflm without TFLM_ROOT
    note: str | None = None  # why the run is a host run, for the user


def prepare(req: RunRequest) -> Prepared:
    """Check every input and build the firmware: all the ways a run can fail
    before it touches the store."""
    board, backend = resolve_board_backend(req.board, req.backend)
    on_host = host_reason(get_engine(req.engine))
    if on_host is not None:
        return _prepare_host(req, board, backend, on_host)
    ok, why = backend.available()
    if not ok:
        raise ToolMissingError(why)
    if req.per_layer:
        ok, why = backend.exact_counter()
        if not ok:
            raise ToolMissingError(f"--per-layer needs exact instruction counts: {why}")
    graph = load_graph(req.model)
    data: Dataset = load_dataset(req.dataset)
    data.check_fits(graph.input_shape)
    if req.meter is not None and req.resume is not None:
        raise ConfigError("--meter cannot be combined with --resume: a run's energy comes from "
                          "one trace; start a new run")
    n = len(data) if req.limit is None else min(req.limit, len(data))
    if n <= 0:
        raise ConfigError(f"dataset {data.name} has no samples to run (limit {req.limit})")
    quant, record = quant_for(graph, req.engine, req.dtype, req.dataset, req.quant)
    fw = build_for(board, graph, req.engine, req.dtype, backend.link, quant=quant,
                   per_layer=req.per_layer)
    return Prepared(req, board, backend, graph, data, n, fw, record, quant)


def _prepare_host(req: RunRequest, board: Board, backend: Backend, why: str) -> Prepared:
    """An engine that measures on the host: no firmware, no backend session."""
    from harness.build.build import graph_hash

    if req.per_layer or req.meter is not None:
        flag = "--per-layer" if req.per_layer else "--meter"
        raise ConfigError(f"{flag} needs firmware on a target; {why}")
    graph = load_graph(req.model)
    data: Dataset = load_dataset(req.dataset)
    data.check_fits(graph.input_shape)
    n = len(data) if req.limit is None else min(req.limit, len(data))
    if n <= 0:
        raise ConfigError(f"dataset {data.name} has no samples to run (limit {req.limit})")
    engine = get_engine(req.engine)
    if req.dtype not in engine.dtypes:
        raise ConfigError(f"engine {req.engine} does not support dtype {req.dtype}; "
                          f"it supports: {', '.join(engine.dtypes)}")
    quant, record = quant_for(graph, req.engine, req.dtype, req.dataset, req.quant)
    out = BUILD / f"host-{req.engine}-{req.dtype}-{graph_hash(graph).hex()[:12]}"
    host = engine.host_model(graph, out, req.dtype, quant)  # type: ignore[attr-defined]
    return Prepared(req, board, backend, graph, data, n, None, record, quant, host, why)


def host_reference(p: Prepared) -> np.ndarray:
    """What each device output must equal: the bit-exact integer reference
    (dequantized) for the native engine's int8/int16 builds, else the float
    model (for other engines' integer builds that is the quantization error)."""
    x = p.data.x[:p.n]
    if p.quant is not None and p.req.engine in ("native", "tflm"):
        from harness.quant.reference import run_qgraph
        from harness.quant.schemes import quantize_graph

        qgraph = quantize_graph(p.graph, p.quant, p.req.dtype)
        return qgraph.output_q.dequantize(run_qgraph(qgraph, qgraph.input_q.quantize(x)))
    return run_graph(p.graph, x).astype(np.float32)


def run(req: RunRequest, db: Path, progress: Progress | None = None) -> RunSummary:
    return execute(prepare(req), db, progress)


def trace_path(db: Path, run_id: int) -> Path:
    return db.parent / "traces" / f"run-{run_id}.parquet"


def _measure(store: Store, run_id: int, meter: Meter, streamed: list[int], db: Path) -> None:
    """Stop the meter, keep its trace beside the database, and store each
    streamed sample's energy from the trace's windows, in order."""
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
    store.set_energy(run_id, energy, energy_kind="measured",
                     energy_basis=f"measured: {meter.uri} at {trace.sample_rate:,.0f} Hz, "
                     f"{len(energy)} windows from {trace.windows_from}"
                     + ("" if trace.voltage_from == "measured" else
                        f", voltage {trace.voltage_from}"))


def execute(p: Prepared, db: Path, progress: Progress | None = None) -> RunSummary:
    if p.host is not None:
        return _execute_host(p, db, progress)
    meter = None
    if p.req.meter is not None:
        meter = open_meter(p.req.meter)
        facts = estimate.power_facts(p.board)
        meter.board_supply_v = facts.supply_v if facts is not None else None
        meter.open()  # "meter not found" fails here, before the run exists
    try:
        if meter is not None:
            meter.configure(p.req.meter_rate, p.req.meter_duration)
        return _execute(p, db, progress, meter)
    finally:
        if meter is not None:
            meter.close()


def _execute(p: Prepared, db: Path, progress: Progress | None, meter: Meter | None) -> RunSummary:
    assert p.fw is not None
    req, board, backend, graph, data, n, fw = p.req, p.board, p.backend, p.graph, p.data, p.n, p.fw
    reference = host_reference(p)
    facts = estimate.power_facts(board)

    with Store(db) as store:
        if req.resume is not None:
            run_id = req.resume
            row = store.run_row(run_id)
            for key, want in (("board", board.name), ("backend", req.backend),
                              ("engine", req.engine), ("dtype", req.dtype),
                              ("model_hash", fw.model_hash), ("dataset_hash", data.hash),
                              ("quant_scheme", fw.quant_scheme)):
                if row[key] != want:
                    raise ConfigError(f"run {run_id} was made with {key} {row[key]!r}, not "
                                      f"{want!r}: resume it with the same arguments")
            if bool(row["per_layer"]) != req.per_layer:
                made = "with" if row["per_layer"] else "without"
                raise ConfigError(f"run {run_id} was made {made} --per-layer: resume it with "
                                  f"the same arguments")
            n = row["samples_planned"]
            store.update_run(run_id, status="running")
        else:
            run_id = store.create_run(
                board=board.name, backend=req.backend, engine=req.engine, dtype=req.dtype,
                model=req.model, model_hash=fw.model_hash, dataset=req.dataset,
                dataset_hash=data.hash, samples_planned=n, git_commit=git_commit(),
                compiler=fw.compiler, cflags=" ".join(fw.cflags), build_id=fw.build_id,
                clock_hz=board.clock_hz, rom_bytes=fw.memory.rom_bytes,
                ram_bytes=fw.memory.ram_bytes, arena_bytes=fw.arena_bytes,
                stack_reserved_bytes=fw.memory.stack_reserved_bytes,
                input_shape=input_shape_text(graph.input_shape), n_outputs=fw.n_outputs,
                firmware_dir=str(fw.dir), quant_scheme=fw.quant_scheme,
                calibration=json.dumps(p.calibration) if p.calibration else None,
                per_layer=int(req.per_layer), sweep_key=req.sweep_key, meter=req.meter)
        todo = [i for i in range(n) if i not in store.done_indices(run_id)]
        streamed: list[int] = []
        with _incomplete_on_failure(store, run_id):
            if meter is not None:
                try:
                    meter.start()
                except MeterError as e:
                    raise MeterError(f"{e}; no sample was run") from e
            _stream(store, run_id, board, backend, fw, data, reference, todo, n, progress,
                    req.max_restarts, facts, streamed)
        store.finish_run(run_id, "complete")
        if meter is not None:
            try:
                _measure(store, run_id, meter, streamed, db)
            except MeterError as e:
                store.update_run(run_id, note=f"energy not measured: {e}")
                raise MeterFailed(f"{e}; run {run_id} is stored with its other results (energy "
                                  f"estimated, not measured)", store.summary(run_id)) from e
        return store.summary(run_id)


HOST_BACKEND = "host"  # stored as a host run's backend: nothing ran on a board


@contextlib.contextmanager
def _incomplete_on_failure(store: Store, run_id: int) -> Iterator[None]:
    """Whatever stops a run keeps what it stored and marks it incomplete; a
    BenchError's one line then says how to continue it."""
    try:
        yield
    except BaseException as e:
        note = str(e) if isinstance(e, BenchError) else f"interrupted ({type(e).__name__})"
        store.finish_run(run_id, "incomplete", note=note)
        if isinstance(e, BenchError):
            raise type(e)(f"{e}; run {run_id} is stored as incomplete: continue it with "
                          f"--resume {run_id}") from e
        raise


def _execute_host(p: Prepared, db: Path, progress: Progress | None) -> RunSummary:
    """Every sample through the engine's host interpreter, stored as it
    finishes. Host runs have accuracy, arena bytes and the distance to our
    integer reference; no count, no ROM/RAM, no stack."""
    req, host = p.req, p.host
    assert host is not None
    reference = host_reference(p)
    with Store(db) as store:
        if req.resume is not None:
            run_id = req.resume
            row = store.run_row(run_id)
            if (row["backend"], row["engine"], row["dataset_hash"]) != (
                    HOST_BACKEND, req.engine, p.data.hash):
                raise ConfigError(f"run {run_id} is not a {req.engine} host run of this "
                                  f"dataset: resume it with the same arguments")
            n = row["samples_planned"]
            store.update_run(run_id, status="running")
        else:
            from harness.build.build import graph_hash

            n = p.n
            run_id = store.create_run(
                board=p.board.name, backend=HOST_BACKEND, engine=req.engine, dtype=req.dtype,
                model=req.model, model_hash=graph_hash(p.graph).hex(), dataset=req.dataset,
                dataset_hash=p.data.hash, samples_planned=n, git_commit=git_commit(),
                compiler=host.version, timer_kind="none", clock_hz=None,
                input_shape=input_shape_text(p.graph.input_shape),
                n_outputs=int(reference.shape[1]), firmware_dir=str(host.file.parent),
                quant_scheme=p.quant.scheme if p.quant else None,
                calibration=json.dumps(p.calibration) if p.calibration else None,
                per_layer=0, sweep_key=req.sweep_key, note=p.note)
        todo = [i for i in range(n) if i not in store.done_indices(run_id)]
        done = n - len(todo)
        if progress:
            progress(done, n)
        with _incomplete_on_failure(store, run_id):
            interp = host.interpreter()
            for i in todo:
                out = host.dequantize(interp.invoke(host.quantize(p.data.x[i:i + 1])[0]))
                out = np.asarray(out, dtype=np.float32).reshape(-1)
                store.add_sample(run_id, Sample(
                    idx=i, label=int(p.data.y[i]), predicted=int(np.argmax(out)), count=0,
                    raw_count=0, stack_bytes=0,
                    max_abs_error=float(np.max(np.abs(out - reference[i]))), output=out))
                done += 1
                if progress:
                    progress(done, n)
            store.update_run(run_id, arena_bytes=interp.arena_bytes())
        store.finish_run(run_id, "complete")
        return store.summary(run_id)


def _stream(store: Store, run_id: int, board: Board, backend: Backend, fw: Firmware,
            data: Dataset, reference: np.ndarray, todo: list[int], n: int,
            progress: Progress | None, max_restarts: int,
            facts: estimate.PowerFacts | None = None, streamed: list[int] | None = None) -> None:
    done = n - len(todo)
    if progress:
        progress(done, n)
    if not todo:
        return
    restarts = 0
    with Target(backend, board, fw) as target:
        info = target.start()
        assert target.session is not None
        store.update_run(run_id, timer_kind=target.session.count_source or info.timer_kind)
        pos = 0
        while pos < len(todo):
            i = todo[pos]
            assert target.link is not None and target.session is not None
            try:
                res = target.link.infer(fw.encode_input(data.x[i]))
            except (DeviceSilent, OSError) as e:
                why = target.session.why_dead()
                if restarts >= max_restarts:
                    raise BackendError(f"target stopped answering at sample {i} ({why})") from e
                restarts += 1
                target.start()  # reset and retry the same sample
                continue
            count, layers = _count(backend, board, target.session, res.count, res.timer_kind,
                                   fw, i)
            out = fw.decode_output(res.output)
            if out.size != fw.n_outputs:
                raise ProtocolError(f"device returned {out.size} outputs, expected "
                                    f"{fw.n_outputs}", frame=i)
            can_estimate = facts is not None and count.kind in ("cycles", "instructions")
            if pos == 0:
                store.update_run(run_id, count_kind=count.kind)
                if can_estimate:
                    assert facts is not None
                    store.update_run(run_id, energy_kind=estimate.LABEL,
                                     energy_basis=estimate.basis(board, facts, count.kind))
            err = float(np.max(np.abs(out - reference[i]))) if reference is not None else None
            store.add_sample(run_id, Sample(
                idx=i, label=int(data.y[i]), predicted=int(np.argmax(out)), count=count.value,
                raw_count=count.raw, stack_bytes=res.stack_bytes, max_abs_error=err,
                output=out, layers=layers,
                energy_uj=estimate.estimate_uj(count.value, count.kind, facts)  # type: ignore[arg-type]
                if can_estimate else None))
            if streamed is not None:
                streamed.append(i)
            pos += 1
            done += 1
            if progress:
                progress(done, n)


def _count(backend: Backend, board: Board, session: Session, raw: int, timer_kind: str,
           fw: Firmware, sample: int) -> tuple[Count, tuple[int, ...]]:
    """The emulator's exact count when the session has one (raw stays the
    device's timer reading), else the device timer's; and per-layer counts."""
    exact = session.last_count()
    per_layer = PER_LAYER_CFLAGS[0] in fw.cflags
    if exact is None and per_layer:
        raise BackendError(f"{backend.name} gave no per-layer counts (the instruction counter "
                           f"did not load; see the warning above)")
    if exact is None:
        return backend.count(board, raw, timer_kind), ()
    if per_layer and len(exact.layers) != len(fw.layers):
        raise ProtocolError(f"firmware marked {len(exact.layers)} layers, its manifest lists "
                            f"{len(fw.layers)}: the engine must call BENCH_LAYER_MARK() once "
                            f"after each listed layer", frame=sample)
    return Count(value=exact.total, kind="instructions", raw=raw), exact.layers

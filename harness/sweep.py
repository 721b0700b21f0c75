"""bench sweep: measure a matrix of targets x models x engines x dtypes.

A sweep file (TOML) names what to measure; see examples/sweep.toml:

    name = "example"        # shown in progress and stored with the sweep
    limit = 40              # samples per run (default: the whole dataset)
    engines = ["native", "qualia"]
    dtypes = ["float32", "int8"]

    [[target]]              # one or more
    board = "stm32l452"
    backend = "qemu"
    # resource = "board:stm32l452:qemu"  # optional, --cluster only: the Dask
    #                       # worker resource its runs hold (default: harness/cluster.py)

    [[model]]               # one or more, each with its dataset
    model = "examples/har_cnn.py:har_cnn"
    dataset = "uci-har"

    data_dir = "~/datasets"  # optional: the archive loaders' --data-dir (else BENCH_DATA)

    [quant]                 # optional: as the run command's options
    scheme = "pot"          # default: the more accurate on calibration
    calibrate = 300
    method = "minmax"

    snn_kernels = ["dense", "event"]  # optional, spiking models: one more axis
                            # (--snn-kernels; default: auto, one entry)
    per_layer = true        # optional: --per-layer runs (instructions per layer,
                            # what bench check compares layer by layer)

Every entry of the product is one ordinary run, stored as it finishes and
tagged with the sweep (``runs.sweep_key``). Entries run in worker processes,
each with its own emulator. ``--resume`` finds the newest sweep of the same
plan and redoes nothing that finished: complete runs are skipped, runs left
incomplete continue where they stopped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
import signal
import time
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing.managers import SyncManager
from multiprocessing.process import BaseProcess
from pathlib import Path
from queue import Empty
from types import FrameType

from harness import kinds
from harness.backends import get_backend, resolve_board_backend
from harness.datasets import has_dataset
from harness.engines import ENGINES, get_engine
from harness.errors import BenchError, ConfigError
from harness.kinds import DType, RunStatus, Scheme, WeightLayout
from harness.model.snn_kernels import EVENT_DTYPES
from harness.model.snn_options import KERNELS, SnnOptions
from harness.processes import STOP_SIGNALS, Interrupted, die_with_parent, stop_signals_interrupt
from harness.quant.calibrate import DEFAULT_SAMPLES, METHODS
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import Store

_TOP_KEYS = {"name", "limit", "engines", "dtypes", "target", "model", "quant", "data_dir",
             "snn_kernels", "per_layer"}
_QUANT_KEYS = {"scheme", "calibrate", "method", "weights"}


@dataclass(frozen=True)
class Entry:
    """One run of the sweep."""

    board: str
    backend: str
    model: str
    dataset: str
    engine: str
    dtype: str
    limit: int | None
    quant: dict = field(default_factory=dict)
    snn_kernels: str | None = None  # spiking models: --snn-kernels (None: auto)
    # bench sweep --cluster: the Dask worker resource a run holds (None: the
    # backend's, see harness/cluster.py); a local sweep does not use it
    resource: str | None = None
    per_layer: bool = False  # --per-layer: instructions per layer stored (bench check)

    def _identity(self) -> dict:
        d = asdict(self)
        for optional in ("snn_kernels", "resource", "per_layer"):
            if d[optional] in (None, False):  # entries of sweeps written before it keep their keys
                del d[optional]
        return d

    @property
    def key(self) -> str:
        text = json.dumps(self._identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        model = Path(self.model.split(":")[0]).stem
        kernels = f" {self.snn_kernels} kernels" if self.snn_kernels else ""
        held = f" on {self.resource}" if self.resource else ""
        return f"{self.board}/{self.backend} {model} {self.engine} {self.dtype}{kernels}{held}"


@dataclass(frozen=True)
class Plan:
    name: str
    entries: list[Entry]
    # what the plan does differently from the file's product, for the user:
    # combinations left out (tflm float32), [quant] schemes an engine lacks
    notes: tuple[str, ...] = ()
    # where the archive loaders read (the file's data_dir); not part of the
    # plan's identity: the data's hash is stored with each run
    data_dir: Path | None = None

    @property
    def spec(self) -> str:
        return json.dumps([e._identity() for e in self.entries], sort_keys=True)

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.spec.encode()).hexdigest()


@dataclass
class Outcome:
    entry: Entry
    run_id: int | None = None
    status: str = "pending"  # pending | skipped (already complete) | complete | failed
    error: str | None = None
    summary: dict | None = None
    # bench sweep --cluster: the Dask worker that measured it, and when (its clock)
    worker: str | None = None
    started: float | None = None
    ended: float | None = None


def _list(raw: dict, key: str, path: Path) -> list:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: '{key}' must be a non-empty list")
    return value


def load_plan(path: Path) -> Plan:
    """Parse and check a sweep file; raise ConfigError naming what is wrong."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read sweep file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"sweep file {path} is not text ({e.reason} at byte {e.start}): a "
                          f"sweep is a TOML file, see examples/sweep.toml") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from e
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a sweep has "
                          f"{', '.join(sorted(_TOP_KEYS))}")
    limit = raw.get("limit")
    if limit is not None and not _positive_int(limit):
        raise ConfigError(f"{path}: 'limit' must be a positive integer, not {limit!r}")
    quant = raw.get("quant", {})
    if not isinstance(quant, dict) or set(quant) - _QUANT_KEYS:
        raise ConfigError(f"{path}: [quant] takes {', '.join(sorted(_QUANT_KEYS))}")
    if quant.get("method", "minmax") not in METHODS:
        raise ConfigError(f"{path}: [quant] method must be one of {', '.join(METHODS)}")
    # Each value checked here: an unknown one used to be replaced silently
    # (scheme) or to run nothing with exit 0 (dtype).
    if "scheme" in quant and quant["scheme"] not in tuple(Scheme):
        raise ConfigError(f"{path}: [quant] scheme {quant['scheme']!r} is unknown; known: "
                          f"{', '.join(Scheme)}")
    if "weights" in quant and quant["weights"] not in tuple(WeightLayout):
        raise ConfigError(f"{path}: [quant] weights {quant['weights']!r} is unknown; known: "
                          f"{', '.join(WeightLayout)}")
    if "calibrate" in quant and not _positive_int(quant["calibrate"]):
        raise ConfigError(f"{path}: [quant] calibrate must be a positive integer (samples), "
                          f"not {quant['calibrate']!r}")
    targets = _list(raw, "target", path)
    models = _list(raw, "model", path)
    for t in targets:
        if not isinstance(t, dict) or set(t) - {"resource"} != {"board", "backend"}:
            raise ConfigError(f"{path}: each [[target]] has exactly 'board' and 'backend' "
                              f"(and optionally 'resource')")
        if "resource" in t and (not isinstance(t["resource"], str) or not t["resource"]):
            raise ConfigError(f"{path}: a [[target]]'s 'resource' is a Dask worker resource "
                              f"name (a string), e.g. \"board:stm32l452:probe\"")
    for m in models:
        if not isinstance(m, dict) or set(m) != {"model", "dataset"}:
            raise ConfigError(f"{path}: each [[model]] has exactly 'model' and 'dataset'")
    engines = [str(e) for e in _list(raw, "engines", path)]
    dtypes = [str(d) for d in _list(raw, "dtypes", path)]
    per_layer = raw.get("per_layer", False)
    if not isinstance(per_layer, bool):
        raise ConfigError(f"{path}: 'per_layer' is true or false")
    kernels: list[str | None] = [None]
    if "snn_kernels" in raw:
        kernels = list(_list(raw, "snn_kernels", path))
        if any(k not in KERNELS for k in kernels):
            raise ConfigError(f"{path}: 'snn_kernels' takes {', '.join(KERNELS)}")
    for d in dtypes:
        try:
            kinds.dtype(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    base = Path(path).resolve().parent
    entries = [
        Entry(board=t["board"], backend=t["backend"], model=_resolve(m["model"], base),
              dataset=_resolve(m["dataset"], base), engine=e, dtype=d, limit=limit,
              quant=dict(quant), snn_kernels=k, resource=t.get("resource"),
              per_layer=per_layer)
        for t, m, e, d, k in itertools.product(targets, models, engines, dtypes, kernels)
    ]
    kept, notes = _applicable(entries)
    data_dir = raw.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise ConfigError(f"{path}: 'data_dir' must be a folder name (a string)")
    return Plan(name=str(raw.get("name", Path(path).stem)), entries=kept, notes=notes,
                data_dir=base / Path(data_dir).expanduser() if data_dir else None)


def _positive_int(value: object) -> bool:
    """TOML ``true`` is a bool, and bool an int in Python: not a count."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _applicable(entries: list[Entry]) -> tuple[list[Entry], tuple[str, ...]]:
    """Drop engine x dtype pairs an engine does not have; a matrix of engines
    is rarely square (tflm is int8 only)."""
    kept = [e for e in entries if e.engine not in ENGINES
            or e.dtype in get_engine(e.engine).capabilities.dtypes]
    dropped = sorted({(e.engine, e.dtype) for e in entries} -
                     {(e.engine, e.dtype) for e in kept})
    notes = [f"left out: {eng} has no {dt} build" for eng, dt in dropped]
    no_events = [e for e in kept if e.snn_kernels == "event" and e.dtype not in EVENT_DTYPES]
    if no_events:
        kept = [e for e in kept if e not in no_events]
        notes.append(f"left out: event-driven kernels for "
                     f"{', '.join(sorted({e.dtype for e in no_events}))} (they are "
                     f"{', '.join(EVENT_DTYPES)} only; those builds run dense)")
    for eng, dt, want in sorted({(e.engine, e.dtype, e.quant.get("scheme")) for e in kept
                                 if e.dtype != DType.FLOAT32 and e.quant.get("scheme")}):
        have = get_engine(eng).schemes(dt)
        if want not in have and have:
            notes.append(f"{eng} {dt} has no {want!r} scheme: it uses "
                         f"{' or '.join(have)}")
    return kept, tuple(notes)


def _resolve(spec: str, base: Path) -> str:
    """Files named relative to the sweep file or the working directory;
    registry names (digits, ...) stay as they are."""
    head, sep, tail = spec.partition(":") if spec.count(":") == 1 else (spec, "", "")
    if head.endswith((".py", ".pt2", ".npz")):
        candidate = Path(head) if Path(head).exists() else base / head
        return str(candidate.resolve()) + sep + tail
    return spec


def check_plan(plan: Plan) -> None:
    """Everything that can be checked before any build: names that exist."""
    if plan.data_dir is not None and not plan.data_dir.is_dir():
        raise ConfigError(f"data directory {plan.data_dir} does not exist (the sweep file's "
                          f"data_dir)")
    for e in plan.entries:
        resolve_board_backend(e.board, e.backend)
        get_engine(e.engine)  # unknown: one line naming the known ones
        kinds.dtype(e.dtype)
        if not has_dataset(e.dataset) and not Path(e.dataset).exists():
            raise ConfigError(f"dataset {e.dataset!r} is neither a registry name (NAME or "
                              f"NAME:SPLIT, see 'bench datasets') nor a file")
        file = e.model.split(":")[0]
        if file.endswith((".py", ".pt2")) and not Path(file).exists():
            raise ConfigError(f"model file {file} does not exist")


def _request(entry: Entry, sweep_id: int, resume: int | None,
             data_dir: Path | None = None) -> RunRequest:
    q = entry.quant
    # [quant] scheme where the engine has it; else the engine's own choice
    # (tflm has only affine), recorded with the run as always.
    schemes = get_engine(entry.engine).schemes(entry.dtype)
    scheme = q.get("scheme") if q.get("scheme") in schemes else None
    return RunRequest(board=entry.board, backend=entry.backend, model=entry.model,
                      dataset=entry.dataset, engine=entry.engine, dtype=entry.dtype,
                      limit=entry.limit, resume=resume, sweep_key=f"{sweep_id}:{entry.key}",
                      per_layer=entry.per_layer,
                      data_dir=data_dir, snn=SnnOptions(kernels=entry.snn_kernels),
                      # [quant] is for the integer entries of the matrix.
                      quant=QuantRequest(scheme=scheme,
                                         samples=int(q.get("calibrate", DEFAULT_SAMPLES)),
                                         method=q.get("method", "minmax"),
                                         weights=q.get("weights", WeightLayout.PACKED)))


# How long stopped workers get to mark their runs incomplete and end their
# emulators (QEMU ends in under a second) before they are killed.
STOP_GRACE_S = 5.0


def _exit_quietly(signum: int, _frame: FrameType | None) -> None:
    os._exit(128 + signum)


def _worker_start(parent_pid: int) -> None:
    """In each worker as it starts: die with the sweep's main process, and
    leave quietly (no traceback) when stopped between runs."""
    die_with_parent(parent_pid)
    for s in STOP_SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, _exit_quietly)


def _work(entry: Entry, sweep_id: int, resume: int | None, db: str,
          queue: multiprocessing.Queue, data_dir: Path | None = None) -> Outcome:
    """In a worker process: one run, progress sent to the parent."""
    from harness.run.execute import run  # torch: in the workers only

    def progress(done: int, total: int) -> None:
        queue.put((entry.key, done, total))

    try:
        # Stopped during the run: the run is marked incomplete first.
        with stop_signals_interrupt():
            summary = run(_request(entry, sweep_id, resume, data_dir), Path(db), progress)
    except Interrupted as e:
        # A stopped worker starts no other run (the pool may have queued one
        # for it already): it ends here, its run stored and its emulator gone.
        os._exit(128 + e.signum)
    except BenchError as e:
        with Store(Path(db)) as store:
            run_id = store.sweep_runs(sweep_id).get(entry.key, (None, ""))[0]
        return Outcome(entry, run_id, "failed", str(e))
    return Outcome(entry, summary.run_id, RunStatus.COMPLETE, summary=summary.as_dict())


Progress = Callable[[str, str, int, int], None]  # (event, entry key, done, total)


def run_sweep(plan: Plan, db: Path, workers: int, resume: bool,
              progress: Progress | None = None) -> tuple[int, list[Outcome]]:
    """Run (or resume) the plan; returns the sweep id and one outcome per entry."""
    check_plan(plan)
    if workers <= 0:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    with Store(db) as store:
        sweep_id = store.latest_sweep(plan.spec_hash) if resume else None
        if resume and sweep_id is None:
            raise ConfigError(f"no earlier sweep with this plan in {db}: run it without "
                              f"--resume first")
        if sweep_id is None:
            sweep_id = store.create_sweep(plan.name, plan.spec_hash, plan.spec)
        done = store.sweep_runs(sweep_id)
    _prepare_shared_tools(plan)

    outcomes = {e.key: Outcome(e) for e in plan.entries}
    todo: list[tuple[Entry, int | None]] = []
    for e in plan.entries:
        run_id, status = done.get(e.key, (None, ""))
        if status == RunStatus.COMPLETE:
            outcomes[e.key] = Outcome(e, run_id, "skipped")
        else:
            todo.append((e, run_id))  # None: a new run; else continue the stored one

    ctx = multiprocessing.get_context("spawn")  # no torch/thread state forked into workers
    # The manager (progress queue) and the workers die with this process, so
    # a sweep killed outright (SIGKILL) leaves none of them running queued runs.
    manager = SyncManager(ctx=ctx)
    manager.start(die_with_parent, (os.getpid(),))
    ours = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_start,
                               initargs=(os.getpid(),))
    try:
        queue = manager.Queue()
        futures: dict[Future, Entry] = {
            pool.submit(_work, e, sweep_id, run_id, str(db), queue, plan.data_dir): e
            for e, run_id in todo}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(queue, progress)
            for f in finished:
                entry = futures[f]
                try:
                    outcomes[entry.key] = f.result()
                except Exception as e:  # a worker that died: keep the sweep going
                    outcomes[entry.key] = Outcome(entry, None, "failed",
                                                  f"worker failed: {type(e).__name__}: {e}")
                if progress:
                    progress("finished", entry.key, 0, 0)
        _drain(queue, progress)
        pool.shutdown()
    except BaseException as e:
        # Ctrl-C, SIGTERM or an error of our own: no queued run starts, the
        # running ones are stopped (each marks its run incomplete), and the
        # sweep says how to go on.
        _stop_workers(pool, set(multiprocessing.active_children()) - ours)
        _mark_unfinished(db, sweep_id)
        if isinstance(e, KeyboardInterrupt):
            signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
            raise Interrupted(f"sweep {sweep_id} stopped; finished runs are stored, the others "
                              f"are incomplete: continue it with --resume", signum) from e
        raise
    finally:
        manager.shutdown()
    results = [outcomes[e.key] for e in plan.entries]
    with Store(db) as store:
        ok = all(o.status in (RunStatus.COMPLETE, "skipped") for o in results)
        store.finish_sweep(sweep_id, RunStatus.COMPLETE if ok else RunStatus.INCOMPLETE)
    return sweep_id, results


def _stop_workers(pool: ProcessPoolExecutor, workers: Iterable[BaseProcess]) -> None:
    """Cancel what is queued, ask the running workers to stop (SIGTERM: each
    marks its run incomplete and ends its emulator), kill any still there
    after STOP_GRACE_S."""
    pool.shutdown(wait=False, cancel_futures=True)
    workers = list(workers)
    for w in workers:
        if w.is_alive():
            w.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
        if w.is_alive():
            w.kill()  # its emulator dies with it (PR_SET_PDEATHSIG)
            w.join()


def _mark_unfinished(db: Path, sweep_id: int) -> None:
    """The sweep and any run of it a killed worker left 'running' are
    incomplete; a run another bench process holds is left to it."""
    with Store(db) as store:
        store.finish_sweep(sweep_id, RunStatus.INCOMPLETE)
        for run_id, status in store.sweep_runs(sweep_id).values():
            if status != RunStatus.RUNNING:
                continue
            try:
                store.hold_run(run_id)
            except ConfigError:
                continue
            store.finish_run(run_id, RunStatus.INCOMPLETE, note="interrupted (sweep stopped)")


def _drain(queue: multiprocessing.Queue, progress: Progress | None) -> None:
    while True:
        try:
            key, done, total = queue.get_nowait()
        except (Empty, OSError, EOFError):
            return
        if progress:
            progress("samples", key, done, total)


def _prepare_shared_tools(plan: Plan) -> None:
    """Build what every worker would otherwise race to build: the QEMU plugin."""
    for backend in {e.backend for e in plan.entries}:
        get_backend(backend).exact_counter()

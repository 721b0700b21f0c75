"""bench sweep --cluster and bench worker: a sweep's runs placed by a Dask
distributed scheduler (PyPI ``distributed``); bench writes no scheduling.

Resources. A ``bench worker`` advertises what it can run as Dask worker
resources: ``emulator`` = N slots (``--emulators N``), and one unit of
``board:BOARD:BACKEND`` per named board (``--board BOARD:BACKEND[:ID]``).
Each run asks for one unit of its target's resource (``resource_of``), so
the scheduler sends a board's runs only to the worker that has the board,
one at a time per board, and spreads emulator runs over every worker.

Results come home. A run is measured on the worker by the same code as a
local run (``harness.run.execute.run``), in one of the worker's run
processes (one per slot, kept), into a scratch SQLite file there; each
sample the run commits is sent to the client as a Dask event (``log_event``
/ ``subscribe_topic``) and copied into the client's store, and the task's
result carries every sample again: ``Store.copy_sample_rows`` keeps the
first copy of a sample, so each is stored once. A continued run
(``--resume``, or a run a failed attempt left) is sent with its stored row
and samples: the worker measures only the samples missing. A worker that
dies mid-run: Dask gives its task to another worker (as it was sent: samples
that already came home are measured again there and not stored twice); if
Dask gives up, the run stays incomplete in the client's store and
``--resume`` continues it.

Firmware is built where it runs, from the model file and bench's sources
at the same path on the worker (a shared checkout or the same install): a
build id names what was built from which sources, but a firmware image is
only good for the toolchain, board support and QEMU plugin beside it, and
the run's model and dataset hashes stored with it and checked on resume
say whether two workers measured the same thing.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from harness.backends import get_backend, resolve_board_backend
from harness.errors import BenchError, ConfigError
from harness.kinds import RunStatus
from harness.processes import Interrupted, die_with_parent, stop_signals_interrupt
from harness.store.schema import RUN_FIELDS, RunRecord
from harness.store.store import Store
from harness.sweep import (
    Entry,
    Outcome,
    Plan,
    _mark_unfinished,
    _prepare_shared_tools,
    _request,
    _worker_start,
    check_plan,
)

EMULATOR = "emulator"
PLUGIN = "bench-boards"
PROCESSES = "bench-run-processes"
POLL_S = 0.2

# (event, entry key, done, total, worker name)
ClusterProgress = Callable[[str, str, int, int, str | None], None]


def board_resource(board: str, backend: str) -> str:
    return f"board:{board}:{backend}"


def resource_of(entry: Entry) -> str:
    """The worker resource a run holds: the sweep file's, else an emulator
    slot for an emulator backend, else the board itself."""
    if entry.resource:
        return entry.resource
    if get_backend(entry.backend).emulator:
        return EMULATOR
    return board_resource(entry.board, entry.backend)


@dataclass(frozen=True)
class BoardSpec:
    """A board a worker offers: ``--board BOARD:BACKEND[:ID]``; ID is the
    backend's (a probe's unique id, a serial port), None for the only one."""

    board: str
    backend: str
    ident: str | None = None

    @property
    def resource(self) -> str:
        return board_resource(self.board, self.backend)


def parse_board(text: str) -> BoardSpec:
    parts = text.split(":", 2)
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--board {text!r}: give BOARD:BACKEND[:ID], e.g. "
                          f"stm32l452:probe:066DFF535155 or apollo3:ambiq-uart:/dev/ttyUSB0")
    board, backend = parts[0], parts[1]
    resolve_board_backend(board, backend)  # unknown names: one line naming the known ones
    return BoardSpec(board, backend, parts[2] if len(parts) == 3 else None)


# The environment variable a run reads its board's identity from (probe.py,
# ambiq_uart.py); an emulator "board" (a simulated one) needs none.
_IDENT_VAR = {"probe": "BENCH_PROBE"}


def _ident_env(backend: str, ident: str | None) -> dict[str, str]:
    if ident is None or get_backend(backend).emulator:
        return {}
    return {_IDENT_VAR.get(backend, "BENCH_PORT"): ident}


# -- the worker ------------------------------------------------------------------


@dataclass(eq=False)  # hashed by identity, as Dask keeps its plugins
class BoardPool(WorkerPlugin):
    """The worker's boards by resource. Dask's resource count bounds how many
    runs hold one at once; this says which one a run gets. A Dask worker
    plugin, so tasks find it on their worker (``get_worker().plugins``)."""

    boards: list[BoardSpec]
    name: str = PLUGIN
    _free: dict[str, list[str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for b in self.boards:
            self._free.setdefault(b.resource, []).append(b.ident)

    def take(self, resource: str) -> str | None:
        with self._lock:
            free = self._free.get(resource)
            if not free:
                return None  # an emulator slot: nothing to choose
            return free.pop(0)

    def give(self, resource: str, ident: str | None) -> None:
        with self._lock:
            if resource in self._free:
                self._free[resource].append(ident)


@dataclass(eq=False)
class RunProcesses(WorkerPlugin):
    """One long-lived process per run slot, as a local sweep's workers: torch
    and bench are imported once per process, not once per run (about 10 s
    each on a loaded 2-core machine). Started from the worker's main thread
    (setup), so they die with the worker (PR_SET_PDEATHSIG follows the
    thread that starts a child)."""

    slots: int
    name: str = PROCESSES
    _pool: ProcessPoolExecutor | None = None
    _manager: SyncManager | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ctx: Any = field(default_factory=lambda: multiprocessing.get_context("spawn"))

    def setup(self, worker: Any) -> None:  # noqa: ANN401 - distributed.Worker
        self._manager = SyncManager(ctx=self._ctx)
        self._manager.start(die_with_parent, (os.getpid(),))
        self._start()

    def _start(self) -> None:
        self._pool = ProcessPoolExecutor(self.slots, mp_context=self._ctx,
                                         initializer=_worker_start, initargs=(os.getpid(),))
        for f in [self._pool.submit(os.getpid) for _ in range(self.slots)]:
            f.result()  # every process started now, from this thread

    def teardown(self, worker: Any) -> None:  # noqa: ANN401
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._manager is not None:
            self._manager.shutdown()

    def queue(self) -> Any:  # noqa: ANN401 - a manager's queue proxy
        assert self._manager is not None
        return self._manager.Queue()

    def submit(self, *args: Any) -> Future:  # noqa: ANN401
        with self._lock:
            assert self._pool is not None
            try:
                return self._pool.submit(_pooled_run, *args)
            except BrokenProcessPool:  # a process died (killed): a new pool
                self._start()
                return self._pool.submit(_pooled_run, *args)


def worker_resources(boards: list[BoardSpec], emulators: int) -> dict[str, float]:
    out: dict[str, float] = {EMULATOR: float(emulators)} if emulators else {}
    for b in boards:
        out[b.resource] = out.get(b.resource, 0.0) + 1.0
    return out


def _loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def serve_worker(scheduler: str, boards: list[BoardSpec], emulators: int,
                 name: str | None = None, listen: str | None = None,
                 announce: Callable[[str], None] | None = None) -> None:
    """Run a Dask worker offering ``boards`` and ``emulators`` slots until it
    is stopped (Ctrl-C, SIGTERM) or its scheduler goes away."""
    if emulators < 0:
        raise ConfigError(f"--emulators must be 0 or more, got {emulators}")
    resources = worker_resources(boards, emulators)
    if not resources:
        raise ConfigError("this worker would offer nothing: give --emulators N or --board")
    asyncio.run(_serve(scheduler, boards, resources, name or f"{socket.gethostname()}-"
                       f"{os.getpid()}", listen or ("127.0.0.1" if _loopback(scheduler)
                                                    else None), announce))


async def _serve(scheduler: str, boards: list[BoardSpec], resources: dict[str, float],
                 name: str, host: str | None, announce: Callable[[str], None] | None) -> None:
    from distributed import Worker

    # One thread per run it can hold at once: each run goes to a run process.
    worker = Worker(scheduler, nthreads=max(1, int(sum(resources.values()))),
                    resources=resources, name=name, host=host, nanny=None,
                    # its HTTP server (health, metrics) on loopback, no dashboard
                    dashboard=False, dashboard_address="127.0.0.1:0",
                    plugins=[BoardPool(boards),
                             RunProcesses(max(1, int(sum(resources.values()))))],
                    death_timeout=30, silence_logs=40)
    try:
        await asyncio.wait_for(worker, timeout=30)
    except (OSError, TimeoutError, RuntimeError) as e:
        await worker.close(reason="cannot start")
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({e or 'timed out'}):"
                          f" start one with 'dask scheduler' and give its address") from e
    if announce:
        shown = ", ".join(f"{k} x{v:g}" for k, v in resources.items())
        announce(f"worker {name} at {worker.address}, scheduler {scheduler}: {shown}")
    try:
        await worker.finished()
    finally:
        await worker.close(reason="bench worker stopped")


def remote_run(entry: Entry, sweep_id: int, snapshot: dict | None, data_dir: str | None,
               topic: str) -> dict:
    """The Dask task: one run of the sweep, on whichever worker holds its
    resource; samples sent home as they are stored."""
    from distributed import get_worker

    worker = get_worker()
    pool: BoardPool | None = worker.plugins.get(PLUGIN)  # type: ignore[assignment]
    processes: RunProcesses = worker.plugins[PROCESSES]  # type: ignore[assignment]
    resource = resource_of(entry)
    ident = pool.take(resource) if pool is not None else None
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-run-", dir=worker.local_directory) as tmp:
            db = Path(tmp) / "run.db"
            result = _measure(entry, sweep_id, snapshot, db, data_dir,
                              _ident_env(entry.backend, ident),
                              lambda msg: worker.log_event(topic, msg), str(worker.name),
                              processes)
    finally:
        if pool is not None:
            pool.give(resource, ident)
    return result | {"started": started, "ended": time.time(), "board": ident}


def _seed(db: Path, snapshot: dict | None) -> int | None:
    """The scratch store a run is measured into; a continued run's row and
    samples copied in first, so the run resumes as it would at home."""
    with Store(db) as store:
        if snapshot is None:
            return None
        row = snapshot["run"]
        run_id = store.create_run(RunRecord(**{k: row.get(k) for k in RUN_FIELDS}))
        store.copy_sample_rows(run_id, snapshot["rows"])
        return run_id


def _pooled_run(entry: Entry, sweep_id: int, resume: int | None, db: str,
               data_dir: str | None, env: dict[str, str], events: Any) -> None:  # noqa: ANN401
    """In one of the worker's run processes (torch, the emulator and its
    signals stay out of the Dask worker): the run, as a local sweep's worker
    runs it; ``env`` (a board's identity) for this run only."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from harness.run.execute import run

    try:
        with stop_signals_interrupt():
            run(_request(entry, sweep_id, resume, Path(data_dir) if data_dir else None),
                Path(db), lambda done, total: events.put(("progress", done, total)))
    except Interrupted as e:
        os._exit(128 + e.signum)
    except BenchError as e:
        events.put(("error", str(e), 0))
        return
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    events.put(("done", 0, 0))


def _measure(entry: Entry, sweep_id: int, snapshot: dict | None, db: Path,
             data_dir: str | None, env: dict[str, str], send: Callable[[dict], None],
             worker: str, processes: RunProcesses) -> dict:
    resume = _seed(db, snapshot)
    sent = {r["idx"] for r in snapshot["rows"]["samples"]} if snapshot else set()
    measured: set[int] = set()
    events = processes.queue()
    proc = processes.submit(entry, sweep_id, resume, str(db), data_dir, env, events)
    error: str | None = None
    done = total = 0
    with Store(db) as store:
        def ship(final: bool) -> dict | None:
            ids = store.run_ids()
            if not ids:
                return None  # not opened yet (building)
            rows = store.sample_rows(ids[-1], after=sent)
            new = {r["idx"] for r in rows["samples"]}
            measured.update(new)
            sent.update(new)
            # "by", not "worker": the scheduler sets an event's "worker" to the address
            msg = {"key": entry.key, "by": worker, "run": store.run_row(ids[-1]),
                   "rows": rows, "done": done, "total": total}
            if final:  # every sample this attempt measured, in case an event was lost
                msg["rows"] = store.sample_rows(ids[-1], after=sent - measured)
            else:
                send(msg)
            return msg

        finished = False
        while not finished:
            try:
                kind, a, b = events.get(timeout=POLL_S)
            except queue.Empty:
                if proc.done():
                    break
                continue
            if kind == "progress":
                done, total = a, b
                ship(False)
            elif kind == "error":
                error, finished = str(a), True
            else:
                finished = True
        crash = proc.exception()  # waits for the pooled call to return
        if not finished and error is None:
            error = f"the run's process failed: {type(crash).__name__}: {crash}"
        final = ship(True)
    if final is None:  # stopped before its run was opened: nothing measured
        return {"key": entry.key, "by": worker, "run": None, "rows": {}, "error": error,
                "done": 0, "total": 0}
    return final | {"error": error}


# -- the client -------------------------------------------------------------------


@dataclass
class _Home:
    """The client's store receiving the runs' rows, each run once."""

    store: Store
    run_ids: dict[str, int]  # entry key -> run id here
    progress: ClusterProgress | None = None

    def receive(self, msg: dict) -> int | None:
        row = msg.get("run")
        if row is None:
            return None
        key = msg["key"]
        fields = {k: row.get(k) for k in RUN_FIELDS} | {"worker": msg["by"]}
        run_id = self.run_ids.get(key)
        if run_id is None:
            run_id = self.store.create_run(RunRecord(**fields))
            self.store.hold_run(run_id)
            self.run_ids[key] = run_id
        else:
            self.store.update_run(run_id, **fields)
        self.store.copy_sample_rows(run_id, msg["rows"])
        if self.progress and msg.get("total"):
            self.progress("samples", key, msg["done"], msg["total"], msg["by"])
        return run_id

    def finish(self, result: dict) -> int | None:
        run_id = self.receive(result)
        if run_id is None:
            return None
        row = result["run"]
        status = row["status"] if row["status"] != RunStatus.RUNNING else RunStatus.INCOMPLETE
        if result.get("error") and status == RunStatus.COMPLETE:
            status = RunStatus.INCOMPLETE
        self.store.finish_run(run_id, status, note=row.get("note") or result.get("error"))
        return run_id


def _connect(address: str) -> Any:  # noqa: ANN401 - distributed.Client
    from distributed import Client

    try:
        return Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({e}): start one "
                          f"with 'dask scheduler' and workers with 'bench worker --scheduler "
                          f"{address}'") from e


def _check_resources(client: Any, address: str, entries: list[Entry]) -> None:  # noqa: ANN401
    """Refuse a sweep no connected worker can run (Dask would wait forever)."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    if entries and not workers:
        raise ConfigError(f"no worker is connected to the Dask scheduler at {address}: start "
                          f"some with 'bench worker --scheduler {address}'")
    offered = {r for w in workers.values() for r in (w.get("resources") or {})}
    for e in entries:
        need = resource_of(e)
        if need not in offered:
            how = ("--emulators N" if need == EMULATOR else
                   f"--board {need.removeprefix('board:')}:ID" if need.startswith("board:")
                   else f"resource {need}")
            raise ConfigError(f"no worker at {address} offers {need!r}, which {e.label} needs: "
                              f"start one with 'bench worker --scheduler {address} {how}'")


def run_cluster_sweep(plan: Plan, db: Path, address: str, resume: bool,
                      progress: ClusterProgress | None = None,
                      ready: Callable[[], None] | None = None) -> tuple[int, list[Outcome]]:
    """As ``harness.sweep.run_sweep``, each run sent to the Dask cluster at
    ``address``; the client's store gets every sample once. ``ready`` is
    called once the cluster is found able to run the plan."""
    check_plan(plan)
    with Store(db) as store:  # open (and its runs held) for the whole sweep
        sweep_id = store.latest_sweep(plan.spec_hash) if resume else None
        if resume and sweep_id is None:
            raise ConfigError(f"no earlier sweep with this plan in {db}: run it without "
                              f"--resume first")
        if sweep_id is None:
            sweep_id = store.create_sweep(plan.name, plan.spec_hash, plan.spec)
        stored = store.sweep_runs(sweep_id)
        outcomes = {e.key: Outcome(e) for e in plan.entries}
        todo: list[tuple[Entry, dict | None]] = []
        run_ids: dict[str, int] = {}
        for e in plan.entries:
            run_id, status = stored.get(e.key, (None, ""))
            if status == RunStatus.COMPLETE:
                outcomes[e.key] = Outcome(e, run_id, "skipped")
            elif run_id is None:
                todo.append((e, None))
            else:  # continued where it stopped: only its missing samples are measured
                store.hold_run(run_id)
                run_ids[e.key] = run_id
                todo.append((e, {"run": store.run_row(run_id),
                                 "rows": store.sample_rows(run_id)}))
        client = _connect(address)
        home = _Home(store, run_ids, progress)
        topic = f"bench-sweep-{uuid.uuid4().hex}"
        events: queue.SimpleQueue = queue.SimpleQueue()
        futures: dict[Any, Entry] = {}
        subscribed = False
        try:
            _check_resources(client, address, [e for e, _ in todo])
            if ready:
                ready()
            if todo:
                _prepare_shared_tools(plan)
            client.subscribe_topic(topic, lambda event: events.put(event[1]))
            subscribed = True
            data_dir = str(plan.data_dir) if plan.data_dir else None
            for e, snapshot in todo:
                f = client.submit(remote_run, e, sweep_id, snapshot, data_dir, topic,
                                  resources={resource_of(e): 1}, pure=False,
                                  key=f"bench-run-{e.key}-{topic[-8:]}")
                futures[f] = e
            pending = set(futures)
            while pending:
                _drain(events, home)
                ready = {f for f in pending if f.done()}
                if not ready:
                    time.sleep(POLL_S)
                    continue
                pending -= ready
                _drain(events, home)
                for f in ready:
                    e = futures[f]
                    outcomes[e.key] = _outcome(e, f, home)
                    if progress:
                        progress("finished", e.key, 0, 0, outcomes[e.key].worker)
            _drain(events, home)
        except BaseException as e:
            for f in futures:
                f.cancel()
            _drain(events, home)
            store.close()  # the held runs are let go before they are marked
            _mark_unfinished(db, sweep_id)
            if isinstance(e, KeyboardInterrupt):
                signum = e.signum if isinstance(e, Interrupted) else 2
                raise Interrupted(f"sweep {sweep_id} stopped; finished runs are stored, the "
                                  f"others are incomplete: continue it with --resume",
                                  signum) from e
            raise
        finally:
            if subscribed:
                client.unsubscribe_topic(topic)
            client.close()
        results = [outcomes[e.key] for e in plan.entries]
        ok = all(o.status in (RunStatus.COMPLETE, "skipped") for o in results)
        store.finish_sweep(sweep_id, RunStatus.COMPLETE if ok else RunStatus.INCOMPLETE)
    return sweep_id, results


def _drain(events: queue.SimpleQueue, home: _Home) -> None:
    while True:
        try:
            msg = events.get_nowait()
        except queue.Empty:
            return
        home.receive(msg)


def _outcome(entry: Entry, future: Any, home: _Home) -> Outcome:  # noqa: ANN401
    try:
        result = future.result()
    except Exception as e:  # the task failed on every worker Dask tried (KilledWorker)
        return Outcome(entry, home.run_ids.get(entry.key), "failed",
                       f"{type(e).__name__}: {e}; the run is stored as far as it came home")
    run_id = home.finish(result)
    complete = result.get("error") is None and result["run"] is not None \
        and result["run"]["status"] == RunStatus.COMPLETE
    return Outcome(entry, run_id, RunStatus.COMPLETE if complete else "failed",
                   result.get("error"), worker=result["by"], started=result["started"],
                   ended=result["ended"])

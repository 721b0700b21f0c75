"""bench sweep --cluster on a real Dask scheduler (`dask scheduler`) and three
`bench worker` processes, all on 127.0.0.1: every run complete and stored
once with one worker killed mid-sweep, a board resource honoured (only its
worker runs those runs, one at a time), --resume redoes nothing; and the
worker's and the client's bad input. Real builds, real QEMU, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, Bench
from hostc import emulator_test

from harness.store.schema import RunRecord, Sample
from harness.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "harness.cli"]
BOARD = "board:stm32l452:qemu"  # a simulated board: a named resource one worker holds


def _env() -> dict[str, str]:
    # The scheduler unpickles the tasks' functions: it imports this checkout.
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = path.read_text() if path.exists() else ""
        if text in got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} ended ({proc.returncode}): {got}")
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in {path} after {timeout} s")


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}
        self.address = ""

    def start_scheduler(self) -> None:
        info = self.tmp / "scheduler.json"
        log = self.tmp / "scheduler.log"
        # loopback only; no dashboard, its HTTP server on loopback too
        self.procs["scheduler"] = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
             "--scheduler-file", str(info)], cwd=ROOT, env=_env(),
            stdout=subprocess.DEVNULL, stderr=log.open("w"))
        _wait_for(log, "Scheduler at:", self.procs["scheduler"])
        self.address = json.loads(info.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:")

    def start_worker(self, name: str, *args: str) -> None:
        log = self.tmp / f"{name}.log"
        self.procs[name] = subprocess.Popen(
            [*BENCH, "worker", "--scheduler", self.address, "--name", name, *args],
            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=log.open("w"))

    def wait_workers(self, *names: str) -> None:
        for name in names:
            line = _wait_for(self.tmp / f"{name}.log", f"worker {name} at tcp://127.0.0.1:",
                             self.procs[name])
            assert "Traceback" not in line

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        c.start_scheduler()
        yield c
    finally:
        c.stop()


def _sweep_file(tmp: Path) -> Path:
    """8 runs: two tiny models x float32/int8 on emulator slots, and the same
    on the simulated board."""
    rng = np.random.default_rng(1)
    np.savez(tmp / "tiny.npz", x=rng.normal(size=(8, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=8))
    for name in ("tiny_a", "tiny_b"):
        (tmp / f"{name}.py").write_text(TINY_MODEL)
    path = tmp / "sweep.toml"
    path.write_text(f"""name = "cluster"
limit = 2
engines = ["native"]
dtypes = ["float32", "int8"]
[quant]
calibrate = 8
[[target]]
board = "stm32l452"
backend = "qemu"
[[target]]
board = "stm32l452"
backend = "qemu"
resource = "{BOARD}"
[[model]]
model = "tiny_a.py:tiny"
dataset = "tiny.npz"
[[model]]
model = "tiny_b.py:tiny"
dataset = "tiny.npz"
""")
    return path


def _runs(db: Path) -> list[tuple]:
    """(run_id, status, sweep_key, worker, samples, distinct sample indices)."""
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(
            "SELECT r.run_id, r.status, r.sweep_key, r.worker, "
            "(SELECT count(*) FROM samples s WHERE s.run_id = r.run_id), "
            "(SELECT count(DISTINCT idx) FROM samples s WHERE s.run_id = r.run_id) "
            "FROM runs r").fetchall()
    except sqlite3.OperationalError:  # tables not made yet
        return []
    finally:
        con.close()


@emulator_test
@pytest.mark.slow
def test_sweep_on_three_workers_survives_a_killed_worker(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    cluster.start_worker("wa", "--emulators", "1", "--board", "stm32l452:qemu:sim0")
    cluster.start_worker("wb", "--emulators", "1")
    cluster.start_worker("wc", "--emulators", "1")
    cluster.wait_workers("wa", "wb", "wc")
    sweep, db = _sweep_file(tmp_path), tmp_path / "home.db"
    client = subprocess.Popen([*BENCH, "sweep", str(sweep), "--cluster", cluster.address,
                               "--db", str(db), "--json"], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wb is killed outright while a run of its is under way (its run's
        # row has come home, the run is not finished).
        deadline = time.monotonic() + 600
        while not any(w == "wb" and s == "running" for _, s, _, w, _, _ in _runs(db)):
            assert time.monotonic() < deadline and client.poll() is None, client.stderr
            time.sleep(0.1)
        os.kill(cluster.procs["wb"].pid, signal.SIGKILL)
        out, err = client.communicate(timeout=900)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err
    result = json.loads(out)["runs"]
    assert len(result) == 8 and {r["status"] for r in result} == {"complete"}, result
    stored = _runs(db)
    # every run stored once, complete, each sample once
    assert len(stored) == 8 and len({key for _, _, key, _, _, _ in stored}) == 8
    assert all(s == "complete" and n == 2 and d == 2 for _, s, _, _, n, d in stored), stored
    assert {w for *_, w, _, _ in stored} <= {"wa", "wc"}  # wb's run was finished elsewhere
    board = [r for r in result if r["label"].endswith(f"on {BOARD}")]
    assert len(board) == 4 and {r["worker"] for r in board} == {"wa"}
    spans = sorted((r["started"], r["ended"]) for r in board)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans)), spans

    again = subprocess.run([*BENCH, "sweep", str(sweep), "--cluster", cluster.address,
                            "--db", str(db), "--resume", "--json"], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert {r["status"] for r in json.loads(again.stdout)["runs"]} == {"skipped"}
    assert _runs(db) == stored


def test_a_resource_no_worker_offers_is_one_line(cluster: Cluster, bench_main: Bench,
                                                 tmp_path: Path) -> None:
    cluster.start_worker("wa", "--emulators", "1")
    cluster.wait_workers("wa")
    sweep = _sweep_file(tmp_path)
    p = bench_main("sweep", str(sweep), "--cluster", cluster.address, "--db",
                   str(tmp_path / "x.db"), cwd=ROOT)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert f"offers '{BOARD}'" in lines[0] and "--board stm32l452:qemu:ID" in lines[0]


@pytest.mark.parametrize("args,expect", [
    (["--board", "stm32l452"], "give BOARD:BACKEND[:ID]"),
    (["--board", "nucleo-f4:probe:1"], "unknown board"),
    (["--emulators", "-1"], "--emulators must be 0 or more"),
    (["--emulators", "0"], "would offer nothing"),
])
def test_bad_worker_arguments_give_one_line(bench_main: Bench, args: list[str],
                                            expect: str) -> None:
    p = bench_main("worker", "--scheduler", "tcp://127.0.0.1:9", *args, cwd=ROOT)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: ") and expect in lines[0], lines[0]


def test_no_scheduler_is_one_line(bench_main: Bench, tmp_path: Path) -> None:
    """Nothing listens on port 9 of loopback (discard): the client says so."""
    sweep = _sweep_file(tmp_path)
    p = bench_main("sweep", str(sweep), "--cluster", "tcp://127.0.0.1:9", "--db",
                   str(tmp_path / "x.db"), cwd=ROOT)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[0]


def _record() -> RunRecord:
    return RunRecord(board="stm32l452", backend="qemu", engine="native", dtype="float32",
                     model="m.py:f", model_hash="ab", dataset="d.npz", dataset_hash="cd",
                     samples_planned=3, sweep_key="1:k", timer_kind="tcg_plugin")


def _sample(i: int) -> Sample:
    return Sample(idx=i, label=i % 2, predicted=0, count=100 + i, raw_count=100 + i,
                  stack_bytes=64, max_abs_error=0.0, output=np.arange(3, dtype=np.float32) + i,
                  layers=(60, 40 + i), spikes=(i,))


def test_rows_come_home_once_and_a_continued_run_starts_where_it_stopped(
        tmp_path: Path) -> None:
    """What the client and a worker do with a run's rows, on real SQLite:
    the worker's scratch store seeded with the stored part of a run resumes
    it (only the missing samples are left to measure), and rows that arrive
    twice (an event and the task's result) are stored once."""
    from harness.cluster import _Home, _seed

    with Store(tmp_path / "home.db") as home:
        run_id = home.create_run(_record())
        for i in (0, 1):
            home.add_sample(run_id, _sample(i))
        snapshot = {"run": home.run_row(run_id), "rows": home.sample_rows(run_id)}
    scratch = tmp_path / "scratch.db"
    resume = _seed(scratch, snapshot)
    with Store(scratch) as worker:
        assert resume is not None and worker.done_indices(resume) == {0, 1}
        assert worker.run_row(resume)["timer_kind"] == "tcg_plugin"
        worker.add_sample(resume, _sample(2))  # the one sample left to measure
        worker.finish_run(resume, "complete")
        msg = {"key": "k", "by": "w1", "run": worker.run_row(resume), "done": 3, "total": 3,
               "rows": worker.sample_rows(resume, after={0, 1})}
        result = msg | {"rows": worker.sample_rows(resume), "error": None}
    with Store(tmp_path / "home.db") as store:
        h = _Home(store, {"k": run_id})
        assert h.receive(msg) == run_id
        assert h.finish(result) == run_id  # every sample again: none stored twice
        assert store.done_indices(run_id) == {0, 1, 2}
        assert [s.count for s in store.samples(run_id)] == [100, 101, 102]
        assert store.layer_counts(run_id) == {0: [60, 40], 1: [60, 41], 2: [60, 42]}
        assert store.spike_counts(run_id) == {0: [0], 1: [1], 2: [2]}
        row = store.run_row(run_id)
        assert row["status"] == "complete" and row["worker"] == "w1"
        assert store.run_ids() == [run_id]

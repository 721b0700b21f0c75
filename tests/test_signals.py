"""Signals and processes, as a user and a CI runner send them: Ctrl-C and
SIGTERM stop a run or a sweep at once leaving it resumable, SIGKILL of a
sweep's main process or of its process group leaves no worker or emulator
behind, and one run is measured by one process at a time.

Real bench processes, real QEMU, real SQLite, real signals. Every process a
test starts carries a marker in its environment, which its children
(workers, QEMU) inherit: ``left()`` finds any still running.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import needs_emulator

pytestmark = needs_emulator
ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "harness.cli"]
MARK = "BENCH_TEST_MARK"


def left(mark: str) -> list[str]:
    """Processes still running (zombies aside) whose environment has ``mark``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"{MARK}={mark}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue  # gone meanwhile, or a zombie
    return found


def tcp_sockets(mark: str) -> list[tuple[str, int]]:
    """(local address, port) of every TCP socket the marked processes hold,
    listening or connected (Linux /proc)."""
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        try:
            if f"{MARK}={mark}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ip_hex, port_hex = fields[1].rsplit(":", 1)
                ip = (".".join(str(int(ip_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
                      if len(ip_hex) == 8 else ip_hex)
                found.append((ip, int(port_hex, 16)))
    return found


def no_process_left(mark: str, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while (still := left(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not still, still


def start(*args: str, mark: str) -> subprocess.Popen:
    """bench in a session of its own, SIGINT as a terminal leaves it (the
    test runner may ignore it, and children inherit that)."""
    return subprocess.Popen(
        [*BENCH, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, MARK: mark}, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the tables are not made yet
        return []
    finally:
        con.close()


def stored(db: Path) -> int:
    rows = query(db, "SELECT count(*) FROM samples")
    return rows[0][0] if rows else 0


def wait_until(cond: Callable[[], bool], proc: subprocess.Popen, what: str,
               timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert proc.poll() is None, f"bench ended before {what}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def long_data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(11)
    path = tmp_path / "long.npz"
    np.savez(path, x=rng.normal(size=(3000, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=3000))
    return path


@pytest.mark.slow
def test_a_run_is_measured_by_one_process_and_sigterm_stops_it_resumable(
        bench_main: Bench, tiny_model: str, long_data: Path, tmp_path: Path) -> None:
    """While a run streams, a --resume of it is refused with one line and
    stores nothing; SIGTERM then stops the run as Ctrl-C does: marked
    incomplete, one line saying how to resume, its emulator gone."""
    db = tmp_path / "r.db"
    mark = uuid.uuid4().hex
    # The console UART (about 100 samples/s here): slow enough to be caught mid-run.
    args = ["run", "--board", "stm32l452", "--model", tiny_model, "--dataset", str(long_data),
            "--link", "uart", "--db", str(db)]
    first = start(*args, mark=mark)
    wait_until(lambda: stored(db) >= 10, first, "10 samples were stored")
    run_id = query(db, "SELECT max(run_id) FROM runs")[0][0]
    # QEMU's console socket and bench's end of it: on the loopback only.
    sockets = tcp_sockets(mark)
    assert sockets and {ip for ip, _ in sockets} == {"127.0.0.1"}, sockets

    second = bench_main(*args, "--resume", str(run_id))  # another process: this one
    assert second.returncode == 2, second.stderr
    assert one_line(second.stderr) == (
        f"bench: error: run {run_id} in {db} is being measured by another bench process right "
        f"now: let it finish, or stop it, before resuming it")
    assert first.poll() is None  # the first goes on, undisturbed
    assert query(db, "SELECT status FROM runs") == [("running",)]

    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 128 + signal.SIGTERM, err
    assert one_line(err) == (f"bench: interrupted (SIGTERM): run {run_id} is stored as "
                             f"incomplete: continue it with --resume {run_id}")
    assert query(db, "SELECT status, note FROM runs") == [("incomplete",
                                                           "interrupted (SIGTERM)")]
    # Every sample once (the primary key would refuse a second) and in order.
    idx = [r[0] for r in query(db, "SELECT idx FROM samples ORDER BY idx")]
    assert idx == list(range(len(idx))) and len(idx) >= 10
    no_process_left(mark)


SWEEP_SAMPLES = 1500  # per run: about 2 s of streaming each, time to stop it mid-way
# How a sweep is stopped, in a row: (name, signal, to the whole process group?)
WAYS = [("mid-start-up", signal.SIGKILL, False), ("Ctrl-C", signal.SIGINT, True),
        ("SIGTERM", signal.SIGTERM, False), ("SIGKILL of the parent", signal.SIGKILL, False),
        ("SIGKILL of the group", signal.SIGKILL, True)]


@pytest.mark.slow
def test_a_sweep_stopped_five_ways_resumes_to_the_end_leaving_no_process(
        tiny_model: str, tmp_path: Path) -> None:
    """One sweep stopped five ways in a row, resumed after each: a stop
    by signal ends it within seconds with one line saying how to resume, and
    no run left 'running'; after any stop no bench, worker or QEMU process is
    left; finished runs are never redone, interrupted ones continue; at the
    end every run is complete with every sample once."""
    rng = np.random.default_rng(3)
    data = tmp_path / "many.npz"
    np.savez(data, x=rng.normal(size=(SWEEP_SAMPLES, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=SWEEP_SAMPLES))
    sweep = tmp_path / "s.toml"
    sweep.write_text(textwrap.dedent(f"""
        name = "stopped"
        engines = ["native"]
        dtypes = ["float32", "int8"]
        [[target]]
        board = "stm32l452"
        backend = "qemu"
        [[model]]
        model = "{tiny_model}"
        dataset = "{data}"
        [quant]
        calibrate = 20
    """))
    db = tmp_path / "s.db"
    runs_sql = ("SELECT r.run_id, r.status, r.finished_at, (SELECT count(*) FROM samples s "
                "WHERE s.run_id = r.run_id) FROM runs r ORDER BY r.run_id")
    for i, (way, sig, group) in enumerate(WAYS):
        mark = uuid.uuid4().hex
        before = {r[0]: r for r in query(db, runs_sql)}
        n0 = stored(db)
        proc = start("sweep", str(sweep), "--workers", "1", "--db", str(db),
                     *(["--resume"] if i else []), mark=mark)
        if way == "mid-start-up":  # the workers exist, no sample is stored yet
            wait_until(lambda: len(left(mark)) >= 3, proc, "the workers started")  # noqa: B023
            assert stored(db) == n0
        else:
            wait_until(lambda: stored(db) >= n0 + 30, proc, f"samples were stored ({way})")  # noqa: B023
        sent = time.monotonic()
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        assert proc.returncode in (128 + sig, -sig), (way, proc.returncode, err)
        if sig != signal.SIGKILL:
            assert took < 10, (way, took)
            # The banner, then bench's one line; nothing from the workers.
            banner, line = err.strip().splitlines()
            assert banner.startswith("sweep stopped: 2 runs, 1 worker"), err
            assert line.startswith(f"bench: interrupted ({signal.Signals(sig).name}): sweep 1 "
                                   f"stopped; "), err
            assert err.rstrip().endswith(f"'bench sweep {sweep} --resume --db {db}'"), err
            assert all(status != "running" for _, status, _, _ in query(db, runs_sql)), way
        no_process_left(mark)
        after = {r[0]: r for r in query(db, runs_sql)}
        for run_id, row in before.items():
            if row[1] == "complete":
                assert after[run_id] == row, way  # a finished run is never redone

    final = subprocess.run([*BENCH, "sweep", str(sweep), "--db", str(db), "--resume"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    rows = query(db, runs_sql)
    assert [(status, n) for _, status, _, n in rows] == [("complete", SWEEP_SAMPLES)] * 2, rows
    for run_id, *_ in rows:
        idx = [r[0] for r in query(db, f"SELECT idx FROM samples WHERE run_id = {run_id} "
                                       f"ORDER BY idx")]
        assert idx == list(range(SWEEP_SAMPLES))

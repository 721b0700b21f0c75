"""The device link under faults, on the real emulator: a relay between bench
and QEMU (tests/sims/qemu_relay.py) damages frames in both directions, and
QEMU is killed while starting, during the handshake and mid-run.

Real arm-none-eabi-gcc builds, real QEMU (behind the relay), real SQLite.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import needs_emulator

from harness.run.execute import run
from harness.run.request import RunRequest
from harness.store.store import Store

sys.path.insert(0, str(Path(__file__).parent / "sims"))
import qemu_relay  # noqa: E402

pytestmark = needs_emulator
N = 300  # samples of the semihosting fault-injection run
# (link, samples, damage every Nth frame of each direction): at least one of
# each fault in each direction. The USART moves 40 KB/s, semihosting MB/s:
# the uart run is shorter and damaged more densely (17 %; semihost 5 %).
FAULTY_RUNS = [("semihost", N, 20), ("uart", 100, 6)]

Relay = Callable[..., dict[str, str]]


@pytest.fixture
def relay(tmp_path: Path) -> Relay:
    """``relay(FAULT_EVERY=20, ...)``: an environment in which bench's
    qemu-system-arm is the relay, configured by BENCH_RELAY_<key> = value."""
    real = shutil.which("qemu-system-arm")
    assert real is not None
    bin_dir = qemu_relay.install(tmp_path / "relay-bin", real)
    state = tmp_path / "relay-state"
    state.mkdir()

    def env(**settings: object) -> dict[str, str]:
        return {**os.environ, "PATH": f"{bin_dir.parent}{os.pathsep}{os.environ['PATH']}",
                "BENCH_RELAY_STATE": str(state),
                **{f"BENCH_RELAY_{k}": str(v) for k, v in settings.items()}}

    env.state = state  # type: ignore[attr-defined]
    return env


@pytest.fixture
def data300(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    path = tmp_path / "d300.npz"
    np.savez(path, x=rng.normal(size=(N, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=N))
    return path


def exported(bench_main: Bench, db: Path, run_id: int, out: Path) -> dict[str, np.ndarray]:
    p = bench_main("export", str(run_id), "-o", str(out), "--db", str(db))
    assert p.returncode == 0, p.stderr
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def last_run(db: Path) -> int:
    with Store(db) as store:
        return store.run_ids()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("link,samples,every", FAULTY_RUNS)
def test_damaged_frames_lose_nothing(bench_main: Bench, relay: Relay, tiny_model: str,
                                     data300: Path, tmp_path: Path, link: str, samples: int,
                                     every: int) -> None:
    """Frames of both directions damaged, every kind of damage in each: the
    run completes with every sample once and the very outputs and
    instruction counts of an undisturbed semihosting run."""
    db = tmp_path / "r.db"
    args = ["run", "--board", "stm32l452", "--model", tiny_model, "--dataset", str(data300),
            "--db", str(db), "--limit", str(samples), "--json"]
    clean = bench_main(*args, "--link", "semihost")  # the fast link, undisturbed
    assert clean.returncode == 0, clean.stderr
    want = exported(bench_main, db, last_run(db), tmp_path / "clean.npz")

    faulty = bench_main(*args, "--link", link, env=relay(FAULT_EVERY=every, SEED=7))
    assert faulty.returncode == 0, faulty.stderr
    got = exported(bench_main, db, last_run(db), tmp_path / "faulty.npz")

    faults, frames = qemu_relay.read_log(relay.state)  # type: ignore[attr-defined]
    for direction in ("h2d", "d2h"):
        kinds = {k for d, k in faults if d == direction}
        assert kinds == set(qemu_relay.FAULTS), (direction, kinds)
    assert len(faults) >= 0.02 * sum(frames.values()), (len(faults), frames)
    assert list(got["index"]) == list(range(samples))  # none lost, none twice
    for key in ("outputs", "counts", "labels", "predicted"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert str(got["count_kind"]) == "instructions"


def test_qemu_killed_while_starting_keeps_the_instruction_counter(
        relay: Relay, tiny_model: str, tiny_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """QEMU dies of SIGKILL as it starts (launches 1 and 3) and mid-run
    (launch 2, at sample 3): every start is retried with the plugin, so the
    whole run is counted by it, as an undisturbed run is."""
    clean = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=8),
                tmp_path / "clean.db")
    for key, value in relay(KILL_AT_START="1,3").items():
        monkeypatch.setenv(key, value)
    state: Path = relay.state  # type: ignore[attr-defined]

    def progress(done: int, total: int) -> None:
        if done == 3:
            pid = qemu_relay.qemu_pid(state, 2)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

    db = tmp_path / "r.db"
    s = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=8), db,
            progress=progress)
    assert (state / "launches").read_text() == "4"
    assert s.status == "complete" and s.samples == 8
    assert s.timer_kind == clean.timer_kind == "tcg_plugin"
    with Store(db) as a, Store(tmp_path / "clean.db") as b:
        assert ([x.count for x in a.samples(s.run_id)]
                == [x.count for x in b.samples(clean.run_id)])


@pytest.mark.parametrize("link", ["semihost", "uart"])
def test_qemu_killed_during_the_handshake_is_one_true_line(
        bench_main: Bench, relay: Relay, tiny_model: str, tiny_data: Path, tmp_path: Path,
        link: str) -> None:
    db = tmp_path / "r.db"
    p = bench_main("run", "--board", "stm32l452", "--model", tiny_model, "--dataset",
                   str(tiny_data), "--limit", "3", "--link", link, "--db", str(db),
                   env=relay(KILL_ON_HELLO="1"))
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    line = lines[0]
    assert line.startswith("bench: error: no handshake from stm32l452 on qemu"), line
    assert "QEMU was killed by SIGKILL (not running)" in line and "is running" not in line
    run_id = last_run(db)
    assert f"--resume {run_id}" in line


KILLS = 10


@pytest.mark.slow
def test_qemu_killed_at_random_points_resumed_each_time_equals_a_clean_run(
        bench_main: Bench, tiny_model: str, data300: Path, tmp_path: Path) -> None:
    """QEMU killed KILLS times at random points of a 300-sample run (each a
    random moment after a random sample: mid-exchange as often as not), the
    run resumed after each: every sample stored once, with the outputs and
    instruction counts of an uninterrupted run (bench export of both)."""
    import random
    import subprocess
    import threading

    from harness.errors import BackendError

    rng = random.Random(12)
    db = tmp_path / "k.db"
    clean = run(RunRequest("stm32l452", "qemu", tiny_model, str(data300), limit=N), db)
    want = exported(bench_main, db, clean.run_id, tmp_path / "clean.npz")

    def qemu_pid() -> int:
        pids = subprocess.run(["pgrep", "-P", str(os.getpid()), "qemu-system-arm"],
                              capture_output=True, text=True).stdout.split()
        assert len(pids) == 1, pids
        return int(pids[0])

    at = sorted(rng.sample(range(1, N - 30), KILLS))  # the last lands well before the end
    run_id: int | None = None
    kills = 0
    for attempt in range(KILLS + 1):
        timers: list[threading.Timer] = []
        first: list[int] = []
        pid: list[int] = []

        def progress(done: int, total: int) -> None:
            # At the chosen sample, once this attempt has streamed one (not
            # while QEMU starts); QEMU's pid is found at once, the kill lands
            # a random moment later (pgrep alone can take longer than the run).
            first.append(done) if not first else None  # noqa: B023
            if attempt == KILLS or timers or done == first[0]:  # noqa: B023
                return
            if not pid:  # noqa: B023
                pid.append(qemu_pid())  # noqa: B023
            if done >= at[attempt]:  # noqa: B023
                timers.append(threading.Timer(rng.uniform(0, 0.004), os.kill,  # noqa: B023
                                              (pid[0], signal.SIGKILL)))  # noqa: B023
                timers[0].start()  # noqa: B023

        req = RunRequest("stm32l452", "qemu", tiny_model, str(data300), limit=N,
                         resume=run_id, max_restarts=0)
        try:
            s = run(req, db, progress=progress)
        except BackendError as e:
            assert "QEMU was killed by SIGKILL" in str(e) and "--resume" in str(e), e
            kills += 1
            with Store(db) as store:
                run_id = store.run_ids()[-1]
                assert store.run_row(run_id)["status"] == "incomplete"
            continue
        finally:
            for t in timers:
                t.join()
        assert s.status == "complete" and s.samples == N
        break
    assert kills == KILLS, kills  # every kill landed while the run was streaming
    got = exported(bench_main, db, s.run_id, tmp_path / "killed.npz")
    assert list(got["index"]) == list(range(N))  # none lost, none twice
    for key in ("outputs", "counts", "labels", "predicted"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)

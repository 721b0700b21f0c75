"""bench sweep on the emulated STM32L452: the repository example, a killed and
resumed sweep, and bad sweep files. Real builds, real QEMU, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import needs_emulator

pytestmark = needs_emulator
ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "harness.cli"]


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def runs(db: Path) -> dict[int, tuple[str, str, int]]:
    """run_id -> (status, sweep_key, samples stored)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute("SELECT r.run_id, r.status, r.sweep_key, "
                           "(SELECT count(*) FROM samples s WHERE s.run_id = r.run_id) "
                           "FROM runs r").fetchall()
    except sqlite3.OperationalError:  # the sweep has created the file, not the tables yet
        rows = []
    finally:
        con.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.slow
def test_example_sweep_runs_and_resume_redoes_nothing(tmp_path: Path) -> None:
    """The repository's example sweep, cut to 20 samples a run and its
    models' training to one epoch (the session's model cache): the file's
    plan, not its accuracies, is under test."""
    text = (ROOT / "examples" / "sweep.toml").read_text()
    assert 'name = "example"\n' in text and "\nlimit" not in text  # full test sets
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(text.replace('name = "example"\n', 'name = "example"\nlimit = 20\n')
                     .replace('model = "', f'model = "{ROOT / "examples"}/'))
    db = tmp_path / "sweep.db"
    quick = {"BENCH_TRAIN_EPOCHS": "1"}
    p = bench("sweep", str(sweep), "--workers", "2", "--db", str(db), "--json", env=quick)
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout)["runs"]
    assert len(first) == 15  # 3 models x (native, qualia) x 2 dtypes + tflm int8
    assert {r["status"] for r in first} == {"complete"}
    stored = runs(db)
    assert len(stored) == 15 and all(s == "complete" and n == 20 for s, _, n in stored.values())
    assert len({key for _, key, _ in stored.values()}) == 15

    again = bench("sweep", str(sweep), "--db", str(db), "--resume", "--json", env=quick)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["runs"]
    assert {r["status"] for r in second} == {"skipped"}
    assert [r["run_id"] for r in second] == [r["run_id"] for r in first]
    assert runs(db) == stored  # nothing redone, nothing added


SAMPLES = 1500  # enough for a run to take a few seconds: time to kill it mid-way


def _write_sweep(tmp_path: Path, tiny_model: str) -> Path:
    rng = np.random.default_rng(3)
    data = tmp_path / "many.npz"
    np.savez(data, x=rng.normal(size=(SAMPLES, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=SAMPLES))
    sweep = tmp_path / "s.toml"
    sweep.write_text(textwrap.dedent(f"""
        name = "killed"
        engines = ["native"]
        dtypes = ["float32", "int8", "int16"]
        [[target]]
        board = "stm32l452"
        backend = "qemu"
        [[model]]
        model = "{tiny_model}"
        dataset = "{data}"
        [quant]
        calibrate = 20
    """))
    return sweep


@pytest.mark.slow
def test_killed_sweep_resumes_without_redoing_finished_runs(tiny_model: str,
                                                            tmp_path: Path) -> None:
    db = tmp_path / "sweep.db"
    sweep = _write_sweep(tmp_path, tiny_model)
    proc = subprocess.Popen([*BENCH, "sweep", str(sweep), "--workers", "1", "--db", str(db)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        # Kill the whole sweep (workers and emulators) once one run has
        # finished and the next has stored samples but not all of them.
        while time.monotonic() < deadline:
            state = runs(db) if db.exists() else {}
            done = [r for r, (s, _, _) in state.items() if s == "complete"]
            partial = [r for r, (s, _, n) in state.items()
                       if s != "complete" and 0 < n < SAMPLES]
            if done and partial:
                break
            assert proc.poll() is None, "the sweep finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("the sweep never reached a state worth killing")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = runs(db)

    p = bench("sweep", str(sweep), "--db", str(db), "--resume", "--json")
    assert p.returncode == 0, p.stderr
    after = runs(db)
    assert len(after) == 3
    assert all(s == "complete" and n == SAMPLES for s, _, n in after.values())
    for run_id in done:
        assert after[run_id] == before[run_id]  # finished runs untouched
    for run_id in partial:
        assert after[run_id][0] == "complete"  # the interrupted run continued, same id
    statuses = {r["run_id"]: r["status"] for r in json.loads(p.stdout)["runs"]}
    assert all(statuses[r] == "skipped" for r in done)


@pytest.mark.parametrize("text,expect", [
    ('engines = ["native"]\ndtypes = ["int8"]\ncolour = "red"\n', "unknown key(s) colour"),
    ('engines = ["native"]\ndtypes = ["int8"]\n[[target]]\nboard = "stm32l452"\n'
     'backend = "qemu"\n', "'model' must be a non-empty list"),
    ('engines = ["native"]\ndtypes = ["int8"]\n[[target]]\nboard = "nucleo-f4"\n'
     'backend = "qemu"\n[[model]]\nmodel = "x.py:f"\ndataset = "digits"\n', "unknown board"),
    ('engines = ["native"\n', "not valid TOML"),
])
def test_bad_sweep_files_give_one_error_line(bench_main: Bench, tmp_path: Path, text: str,
                                             expect: str) -> None:
    sweep = tmp_path / "bad.toml"
    sweep.write_text(text)
    p = bench_main("sweep", str(sweep), "--db", str(tmp_path / "x.db"), cwd=ROOT)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: ") and expect in lines[0], lines[0]

"""bench sweep on the emulated STM32L452: the repository example, a killed and
resumed sweep, and bad sweep files. Real builds, real QEMU, real SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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

"""The results database when the disk is not on our side: full, read-only,
or missing. Real SQLite files on a real full disk (a small tmpfs mounted in
a mount namespace) and on a real read-only mount.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import emulator_test

ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "harness.cli"]
DISK_BYTES = 256 * 1024  # the full disk: room for the database and about 25 samples of WAL


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _on_a_small_disk(disk: Path, out: Path, db: Path) -> list[str]:
    """A command prefix that runs its command with ``disk`` a tmpfs of
    DISK_BYTES (in a mount namespace of its own) holding a copy of ``db``,
    and copies the database files back to ``out`` when it ends. Skips where
    the machine allows no mount namespace."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"],
                                                         capture_output=True).returncode:
        pytest.skip("no mount namespace here (unshare -m): cannot make a small disk")
    return ["unshare", "-m", "sh", "-c",
            f'mount -t tmpfs -o size={DISK_BYTES} tmpfs "{disk}" && cp "{db}" "{disk}/" && '
            f'"$@"; rc=$?; cp "{disk}/{db.name}"* "{out}/"; exit $rc', "sh"]


@emulator_test
def test_a_full_disk_leaves_the_run_incomplete_resumable_and_the_wal_checkpointed(
        bench_main: Bench, tiny_model: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = tmp_path / "d.npz"
    n = 120
    np.savez(data, x=rng.normal(size=(n, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=n))
    db = tmp_path / "r.db"
    args = ["run", "--board", "stm32l452", "--model", tiny_model, "--dataset", str(data),
            "--db", str(db)]
    first = bench_main(*args, "--limit", "2")  # the database and the build, with room
    assert first.returncode == 0, first.stderr

    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    on_disk = ["run", "--board", "stm32l452", "--model", tiny_model, "--dataset", str(data),
               "--db", str(disk / db.name)]
    full = subprocess.run([*_on_a_small_disk(disk, out, db), *BENCH, *on_disk], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    db = out / db.name  # what the full disk held
    assert full.returncode == 2, full.stderr
    line = one_line(full.stderr)
    assert line.startswith(f"bench: error: cannot write to {disk / db.name}: database or disk "
                           f"is full; "), line
    assert line.endswith("run 2 is stored as incomplete: continue it with --resume 2"), line
    (status,), = rows(db, "SELECT status FROM runs WHERE run_id = 2")
    assert status == "incomplete"
    (stored,), = rows(db, "SELECT count(*) FROM samples WHERE run_id = 2")
    assert 0 < stored < n
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size < 64 * 1024  # checkpointed, not left full

    resumed = bench_main(*args[:-1], str(db), "--resume", "2")
    assert resumed.returncode == 0, resumed.stderr
    idx = [r[0] for r in rows(db, "SELECT idx FROM samples WHERE run_id = 2 ORDER BY idx")]
    assert idx == list(range(n))


def _one_run_db(path: Path) -> Path:
    """A results database with one finished run of 3 samples, made by the
    store itself, closed (as after any bench command: no -wal, no -shm)."""
    from harness.store.schema import RunRecord, Sample
    from harness.store.store import Store

    with Store(path) as store:
        run_id = store.create_run(RunRecord(
            board="stm32l452", backend="qemu", engine="native", dtype="float32",
            model="m.py:f", model_hash="h", dataset="digits", dataset_hash="h",
            samples_planned=3, count_kind="instructions"))
        for i in range(3):
            store.add_sample(run_id, Sample(idx=i, label=i, predicted=i, count=100 + i,
                                            raw_count=100 + i, stack_bytes=200,
                                            max_abs_error=0.0,
                                            output=np.eye(3, dtype=np.float32)[i]))
        store.finish_run(run_id, "complete")
    return path


def _read_only_mount(folder: Path) -> list[str]:
    """A command prefix that runs its command with ``folder`` on a read-only
    mount (a bind mount in a mount namespace of its own: no permission
    lets root write there, as on a read-only disk). Skips where the machine
    allows no mount namespace."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"],
                                                         capture_output=True).returncode:
        pytest.skip("no mount namespace here (unshare -m): cannot make a read-only mount")
    return ["unshare", "-m", "sh", "-c",
            f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" '
            f'&& exec "$@"', "sh"]


def test_reports_and_exports_read_a_database_on_a_read_only_disk(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    db = _one_run_db(ro / "r.db")
    before = db.read_bytes()
    prefix = _read_only_mount(ro)
    denied = subprocess.run([*prefix, "touch", str(ro / "x")], capture_output=True, text=True)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr  # really so

    report = subprocess.run([*prefix, *BENCH, "report", "--db", str(db), "--format", "csv"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert report.stdout.count("\n") == 2 and "stm32l452" in report.stdout  # header + the run
    out = tmp_path / "out.npz"
    export = subprocess.run([*prefix, *BENCH, "export", "1", "-o", str(out), "--db", str(db)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    with np.load(out) as f:
        assert list(f["counts"]) == [100, 101, 102]
    assert db.read_bytes() == before and sorted(p.name for p in ro.iterdir()) == ["r.db"]


@pytest.mark.parametrize("command", [["export", "1", "-o", "{out}"], ["report"],
                                     ["profile", "1"]])
def test_a_missing_database_is_refused_never_created(bench_main: Bench, tmp_path: Path,
                                                     command: list[str]) -> None:
    db = tmp_path / "nowhere" / "r.db"
    argv = [a.format(out=tmp_path / "o.npz") for a in command]
    p = bench_main(*argv, "--db", str(db))
    assert p.returncode == 2
    assert one_line(p.stderr).startswith(f"bench: error: no results database at {db}: ")
    assert not db.parent.exists() and not (tmp_path / "o.npz").exists()

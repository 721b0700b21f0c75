"""The peer engines' edges: TFLite Micro host runs through bench run, the
STM32Cube.AI report importer, and the one-line errors of the firmware paths
that need tools this machine cannot have (a TFLM tree, ST's stedgeai).

The c_info / validate files below are written in ST Edge AI's documented
layouts (c_info JSON schema 2.0 as ST's own stm_ai_runner reads it; the two
validate report formats ST's tools print); the numbers in them are made up
and only have to come back out of the store unchanged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, Bench

from harness.backends import get_board
from harness.engines.stm32cubeai import read_c_info, read_validation
from harness.errors import ConfigError
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import Store

ROOT = Path(__file__).resolve().parents[1]

tflm_runtime = pytest.importorskip("tflite_micro", reason="tflite-micro (Linux x86-64 only)")


@pytest.fixture
def bench(bench_main: Bench) -> Bench:
    """bench's command line, in-process (conftest.bench_main), from the checkout."""
    return lambda *args, env=None: bench_main(*args, env=env, cwd=ROOT)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: ")
    return lines[0]


def c_info(weights: int = 6144, activations: int = 1408, kernel_flash: int | None = 9120,
           series: str = "stm32l4", version: str = "2.0") -> dict:
    mem = {"weights": weights, "activations": activations, "io": [96, 3], "series": series,
           "kernel_ram": 1892}
    if kernel_flash is not None:
        mem["kernel_flash"] = kernel_flash
    return {
        "json_schema_version": version,
        "environment": {
            "generated_model": {"name": "network"},
            "tools": [{"version": {"major": 2, "minor": 1, "micro": 0},
                       "input_model": {"name": "tiny_int8.tflite", "type": "tflite"}}]},
        "graphs": [{"nodes": [{"name": "conv_0", "id": 0, "macc": 5376},
                              {"name": "pool_1", "id": 1, "macc": 1024},
                              {"name": "dense_2", "id": 2, "macc": 99}]}],
        "memory_pools": [{"id": 0, "used_size_bytes": activations}],
        "buffers": [{"id": 0, "size_bytes": activations}],
        "memory_footprint": mem,
    }


VALIDATE_V2 = """ST Edge AI Core v2.1.0-20194
Exec/report summary (validate)

ST.AI Profiling results v2.0 - "network"
---------------------------------------------------------------
nb sample(s)   :   12
duration       :   0.262 ms by sample (0.261/0.263/0.001)
macc           :   6499
cycles/MACC    :   3.22
CPU cycles     :   20960
---------------------------------------------------------------

Evaluation report (summary)
------------------------------------------------------------------------------
Output              acc       rmse          mae           l2r
------------------------------------------------------------------------------
TARGET c-model #1   41.67%    0.120089211   0.025269194   0.245565161
"""

VALIDATE_OLD = """Results for 10 inference(s) @80/80MHz (macc:6499)
 duration    : 0.300 ms (average)
 cycles/MACC : 3.69 (average for all layers)
"""


def test_c_info_and_validate_reports_parse(tmp_path: Path) -> None:
    f = tmp_path / "network_c_info.json"
    f.write_text(json.dumps(c_info()))
    info = read_c_info(f)
    assert info.macc == 6499 and info.tool_version == "2.1.0"
    assert info.rom_bytes == 6144 + 9120 and info.ram_bytes == 1408 + 1892
    v = tmp_path / "v.txt"
    v.write_text(VALIDATE_V2)
    val = read_validation(v)
    assert (val.samples, val.cycles, val.duration_ms) == (12, 20960, 0.262)
    assert val.accuracy == pytest.approx(0.4167)
    v.write_text(VALIDATE_OLD)
    old = read_validation(v)
    assert old.clock_hz == 80_000_000 and old.cycles == round(3.69 * 6499)
    assert old.accuracy is None


@pytest.mark.parametrize("content, says", [
    ("not json", "is not JSON"),
    (json.dumps(c_info(version="1.1")), "JSON schema 2.0"),
    (json.dumps({"json_schema_version": "2.0"}), "lacks"),
])
def test_bad_c_info_is_one_clear_error(tmp_path: Path, content: str, says: str) -> None:
    f = tmp_path / "x_c_info.json"
    f.write_text(content)
    with pytest.raises(ConfigError, match=says):
        read_c_info(f)


def test_import_cubeai_cli_stores_an_imported_row(bench: Bench, tmp_path: Path) -> None:
    out = tmp_path / "st_ai_output"
    out.mkdir()
    (out / "network_c_info.json").write_text(json.dumps(c_info()))
    (out / "network_validate_report.txt").write_text(VALIDATE_V2)
    db = tmp_path / "r.db"
    p = bench("import-cubeai", str(out), "--board", "stm32l452", "--db", str(db))
    assert p.returncode == 0, p.stderr
    assert "imported as run 1" in p.stdout and "20,960 cycles" in p.stdout
    with Store(db) as st:
        s = st.summary(1)
    assert (s.engine, s.backend, s.count_kind, s.count_per_inference) == (
        "stm32cubeai", "imported", "cycles", 20960)
    assert (s.rom_bytes, s.ram_bytes, s.arena_bytes) == (15264, 3300, 1408)
    assert s.accuracy == pytest.approx(0.4167) and s.samples == 12
    assert s.imported_from.endswith("network_c_info.json; " + str(
        out / "network_validate_report.txt"))
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 0
    con.close()


def test_import_refuses_another_series_and_missing_files(bench: Bench, tmp_path: Path) -> None:
    f = tmp_path / "network_c_info.json"
    f.write_text(json.dumps(c_info(series="stm32h7")))
    db = tmp_path / "r.db"
    line = one_error_line(bench("import-cubeai", str(f), "--board", "stm32l452", "--db",
                                str(db)))
    assert "stm32h7" in line and "--board" in line
    line = one_error_line(bench("import-cubeai", str(tmp_path / "nope"), "--board",
                                "stm32l452", "--db", str(db)))
    assert "does not exist" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no *_c_info.json" in one_error_line(
        bench("import-cubeai", str(empty), "--board", "stm32l452", "--db", str(db)))
    with Store(db) as st:
        assert st.run_ids() == []  # nothing half-stored


def test_firmware_paths_without_their_tools_say_how(bench: Bench, tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    args = ["build", "--board", "stm32l452", "--model", f"{tmp_path / 'tiny.py'}:tiny",
            "--dtype", "int8", "--calibration-data", "digits"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TFLM_ROOT", "STEDGEAI_CORE_DIR")}
    env["PATH"] = "/usr/bin:/bin"
    np.savez(tmp_path / "cal.npz", x=np.zeros((8, 3, 32), np.float32), y=np.zeros(8, int))
    args[-1] = str(tmp_path / "cal.npz")
    line = one_error_line(bench(*args, "--engine", "stm32cubeai", env=env))
    assert "stedgeai" in line and "bench import-cubeai" in line
    line = one_error_line(bench(*args, "--engine", "tflm", env=env))
    assert "TFLM_ROOT" in line
    env["TFLM_ROOT"] = str(tmp_path)
    line = one_error_line(bench(*args, "--engine", "tflm", env=env))
    assert "is not a tflite-micro source tree" in line


def test_tflm_host_run_is_bit_exact_and_stores_no_device_numbers(bench: Bench,
                                                                 tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "tiny.npz", x=rng.normal(size=(16, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=16))
    db = tmp_path / "r.db"
    s = run(RunRequest("stm32l452", "qemu", f"{tmp_path / 'tiny.py'}:tiny",
                       str(tmp_path / "tiny.npz"), engine="tflm", dtype="int8", limit=10,
                       quant=QuantRequest(samples=16)), db)
    assert (s.status, s.backend, s.samples, s.quant_scheme) == ("complete", "host", 10,
                                                                  "affine")
    assert s.max_abs_error == 0.0  # TFLM computed our integer reference's bits
    assert s.arena_bytes and s.arena_bytes > 0
    assert s.count_per_inference is None and s.rom_bytes is None and s.stack_bytes is None
    with Store(db) as st:
        outs = np.stack([x.output for x in st.samples(s.run_id)])
    assert outs.shape == (10, 3) and np.isfinite(outs).all()
    # float32 is not a TFLM build: one line, nothing stored
    p = bench("run", "--board", "stm32l452", "--model", f"{tmp_path / 'tiny.py'}:tiny",
              "--dataset", str(tmp_path / "tiny.npz"), "--engine", "tflm", "--db", str(db))
    assert "supports: int8" in one_error_line(p)
    with Store(db) as st:
        assert st.run_ids() == [s.run_id]


def test_cubeai_series_of_a_board() -> None:
    from harness.engines.stm32cubeai import series

    assert series(get_board("stm32l452")) == "stm32l4"


def test_tflm_host_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    rng = np.random.default_rng(6)
    np.savez(tmp_path / "tiny.npz", x=rng.normal(size=(12, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=12))
    db = tmp_path / "r.db"
    req = RunRequest("stm32l452", "qemu", f"{tmp_path / 'tiny.py'}:tiny",
                     str(tmp_path / "tiny.npz"), engine="tflm", dtype="int8", limit=8,
                     quant=QuantRequest(samples=12))
    first = run(req, db)
    with Store(db) as st:
        before = {x.idx: x.output for x in st.samples(first.run_id)}
    con = sqlite3.connect(db)  # as if the run had been killed after 3 samples
    with con:
        con.execute("DELETE FROM samples WHERE run_id = ? AND idx >= 3", (first.run_id,))
        con.execute("UPDATE runs SET status = 'incomplete' WHERE run_id = ?", (first.run_id,))
    con.close()
    from dataclasses import replace

    again = run(replace(req, resume=first.run_id), db)
    assert (again.run_id, again.status, again.samples) == (first.run_id, "complete", 8)
    with Store(db) as st:
        after = {x.idx: x.output for x in st.samples(first.run_id)}
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[i], before[i]) for i in before)

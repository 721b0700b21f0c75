"""int8/int16 runs end to end on the emulated STM32L452, through the CLI.

Every sample's device output is compared with the bit-exact integer
reference, so max_abs_error must be exactly zero.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Bench
from hostc import needs_emulator

from harness.build.firmware import Firmware

pytestmark = needs_emulator


@pytest.fixture
def bench(bench_main: Bench) -> Callable[..., dict]:
    """``bench(*args)``: bench ... --json in-process (conftest.bench_main), its JSON."""
    def call(*args: str) -> dict:
        p = bench_main(*args, "--json")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    return call


def run_args(model: str, data: Path, db: Path, *extra: str) -> list[str]:
    return ["run", "--board", "stm32l452", "--model", model, "--dataset", str(data),
            "--db", str(db), *extra]


@pytest.mark.parametrize("dtype,quant", [("int8", "pot"), ("int8", "affine"), ("int16", "pot")])
def test_integer_run_is_bit_exact_on_the_device(bench: Callable[..., dict], tiny_model: str,
                                                tiny_data: Path, tmp_path: Path, dtype: str,
                                                quant: str) -> None:
    db = tmp_path / "q.db"
    res = bench(*run_args(tiny_model, tiny_data, db, "--dtype", dtype, "--quant", quant,
                          "--limit", "20", "--calibrate", "40"))
    assert res["status"] == "complete" and res["samples"] == 20
    assert res["dtype"] == dtype and res["quant_scheme"] == quant
    assert res["max_abs_error"] == 0.0  # device == integer reference, every sample
    row = sqlite3.connect(db).execute(
        "SELECT calibration, firmware_dir, timer_kind FROM runs").fetchone()
    record = json.loads(row[0])
    assert record["method"] == "minmax" and record["samples"] == 40
    fw = Firmware.load(Path(row[1]))
    assert (fw.dir / "calibration.json").exists()
    # Inputs travel quantized: 3 x 32 values of 1 or 2 bytes, not 4.
    assert fw.input_bytes == 96 * (1 if dtype == "int8" else 2)
    assert fw.input_layout == "hwc"


def test_default_scheme_is_chosen_on_calibration_and_recorded(bench: Callable[..., dict],
                                                              tiny_model: str, tiny_data: Path,
                                                              tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    res = bench(*run_args(tiny_model, tiny_data, db, "--dtype", "int8", "--limit", "5",
                          "--calibrate", "40", "--calibration-method", "percentile"))
    record = json.loads(sqlite3.connect(db).execute("SELECT calibration FROM runs")
                        .fetchone()[0])
    assert set(record["accuracy"]) == {"pot", "affine"}
    best = max(record["accuracy"].values())
    assert record["accuracy"][res["quant_scheme"]] == best
    assert record["method"] == "percentile"


def test_saved_ranges_rebuild_the_same_firmware(bench: Callable[..., dict], tiny_model: str,
                                                tiny_data: Path, tmp_path: Path) -> None:
    first = bench("build", "--board", "stm32l452", "--model", tiny_model, "--dtype", "int8",
                  "--quant", "pot", "--dataset", str(tiny_data), "--calibrate", "40",
                  "-o", str(tmp_path / "a"))
    again = bench("build", "--board", "stm32l452", "--model", tiny_model, "--dtype", "int8",
                  "--quant", "pot", "--ranges", str(tmp_path / "a" / "calibration.json"),
                  "-o", str(tmp_path / "b"))
    assert first["build_id"] == again["build_id"]
    other = bench("build", "--board", "stm32l452", "--model", tiny_model, "--dtype", "int8",
                  "--quant", "pot", "--dataset", str(tiny_data), "--calibrate", "5",
                  "-o", str(tmp_path / "c"))
    assert other["build_id"] != first["build_id"]  # other ranges, other firmware


def test_memory_is_split_by_component(bench: Callable[..., dict], tiny_model: str, tiny_data: Path,
                                      tmp_path: Path) -> None:
    reports = {}
    for engine in ("native", "qualia"):
        fw = bench("build", "--board", "stm32l452", "--model", tiny_model, "--dtype", "int8",
                   "--engine", engine, "--dataset", str(tiny_data), "-o", str(tmp_path / engine))
        mem = fw["memory"]
        parts = mem["components"]
        # Every byte is attributed once (up to alignment padding between objects).
        assert 0 <= mem["rom_bytes"] - sum(p["rom"] for p in parts.values()) < 32
        assert mem["ram_bytes"] - sum(p["ram"] for p in parts.values()) < 32
        assert parts["model"]["rom"] > 0
        reports[engine] = parts
    # The runtime is the same code for every engine: it cancels out of comparisons
    # (up to the few bytes of constant strings the linker merges across objects).
    for kind in ("rom", "ram"):
        assert abs(reports["native"]["runtime"][kind] - reports["qualia"]["runtime"][kind]) <= 16

"""bench run --meter on the emulated STM32L452: a real QEMU run streams the
dataset while the N6705 simulator (real pyvisa + pyvisa-py over TCP) records
one pulse per sample; per-sample energy lands in the store. QEMU ignores the
trigger GPIO, so the simulator's pulses stand in for the board's pin."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import Bench
from hostc import needs_emulator
from sims.n6705 import N6705Sim
from sims.waveform import Waveform

from harness.power import Trace

pytestmark = needs_emulator
LIMIT = 5


def _run(bench_main: Bench, tiny_model: str, tiny_data: Path, db: Path,
         *extra: str) -> subprocess.CompletedProcess:
    return bench_main("run", "--board", "stm32l452", "--backend", "qemu",
                      "--model", tiny_model, "--dataset", str(tiny_data), "--limit",
                      str(LIMIT), "--db", str(db), "--json", *extra)


def _energies(db: Path, run_id: int) -> list[float | None]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT energy_uj FROM samples WHERE run_id = ? ORDER BY idx",
                       (run_id,)).fetchall()
    con.close()
    return [r[0] for r in rows]


def test_run_with_meter_stores_per_sample_energy(bench_main: Bench, tiny_model: str,
                                                 tiny_data: Path, tmp_path: Path) -> None:
    wave = Waveform(pulses=LIMIT, width_s=0.02, record_s=0.5)
    db = tmp_path / "r.db"
    with N6705Sim(wave=wave) as sim:
        p = _run(bench_main, tiny_model, tiny_data, db, "--meter", sim.uri, "--meter-rate", "20000",
                 "--meter-duration", "0.5")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["samples"] == LIMIT and res["energy_kind"] == "measured"
    energies = _energies(db, res["run_id"])
    for k, e in enumerate(energies):  # windows matched to samples in order
        assert e == pytest.approx(wave.energy_j(k) * 1e6, rel=0.01)
    assert res["trace_file"] and Trace.load(Path(res["trace_file"])).meter == sim.uri
    assert Path(res["trace_file"]).with_suffix(".png").exists()

    # the same model without a meter: an estimate, labelled as one, in run and report
    p = _run(bench_main, tiny_model, tiny_data, db)
    est = json.loads(p.stdout)
    assert est["energy_kind"] == "estimated" and est["trace_file"] is None
    # QEMU's estimated cycles x 100 uA/MHz x 3.3 V, as the latency shown
    assert est["estimated_cycles_per_inference"] > est["count_per_inference"]
    assert est["energy_uj"] == pytest.approx(
        est["estimated_cycles_per_inference"] * 100 * 3.3e-6, rel=0.01)
    assert est["energy_basis"].startswith("estimated: cycles estimated (timing model cortex-m4")
    # without the plugin there is no timing model: instructions at the board's CPI, still labelled
    p = bench_main("run", "--board", "stm32l452", "--backend", "qemu", "--model", tiny_model,
                   "--dataset", str(tiny_data), "--limit", "2", "--db", str(db), "--json",
                   env={**os.environ, "BENCH_QEMU_PLUGIN": "0"})
    plain = json.loads(p.stdout)
    assert plain["timing_model"] is None and plain["energy_kind"] == "estimated"
    assert "x CPI 1 /" in plain["energy_basis"]
    assert plain["energy_uj"] == pytest.approx(plain["count_per_inference"] * 100 * 3.3e-6,
                                               rel=0.01)
    rep = bench_main("report", "--db", str(db))
    assert rep.returncode == 0, rep.stderr
    assert "(measured)" in rep.stdout and "(estimated)" in rep.stdout


def test_meter_failure_keeps_the_run(bench_main: Bench, tiny_model: str, tiny_data: Path,
                                     tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    # the instrument drops the connection when the host fetches the record
    with N6705Sim(wave=Waveform(pulses=LIMIT), drop_on="FETC") as sim:
        p = _run(bench_main, tiny_model, tiny_data, db, "--meter", sim.uri + "?timeout=2",
                 "--meter-rate", "20000", "--meter-duration", "0.5")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: ")
    assert "FETC:ARR:CURR?" in lines[0] and "is stored with its other results" in lines[0]
    res = json.loads(p.stdout)
    assert res["status"] == "complete" and res["samples"] == LIMIT
    assert res["energy_kind"] == "estimated"
    assert all(e is not None and e > 0 for e in _energies(db, res["run_id"]))
    con = sqlite3.connect(db)
    note = con.execute("SELECT note FROM runs WHERE run_id = ?", (res["run_id"],)).fetchone()[0]
    con.close()
    assert note.startswith("energy not measured")


def test_meter_not_found_before_the_run(bench_main: Bench, tiny_model: str, tiny_data: Path,
                                        tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    p = _run(bench_main, tiny_model, tiny_data, db, "--meter", "ppk2:///dev/nonexistent-ppk2")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        p.stderr.strip()] and "meter /dev/nonexistent-ppk2 not found" in p.stderr

"""bench run --meter dmm://... on the emulated STM32L452: a real QEMU run
streams the dataset while the 34465A simulator (real pyvisa + pyvisa-py over
TCP) digitizes one current step per sample. No trigger pin: the windows come
from the current level, the voltage from the board file's [power] supply_v,
and the run's energy basis says so."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import Bench
from hostc import needs_emulator
from sims.truevolt import TruevoltSim
from sims.waveform import Waveform

pytestmark = needs_emulator
LIMIT = 4


def test_run_with_dmm_stores_level_window_energy(bench_main: Bench, tiny_model: str,
                                                 tiny_data: Path, tmp_path: Path) -> None:
    wave = Waveform(shape="rect", r_ohm=0.0, pulses=LIMIT, width_s=0.02, record_s=0.4)
    db = tmp_path / "r.db"
    with TruevoltSim(wave=wave, noise_a=0.0002) as sim:
        p = bench_main("run", "--board", "stm32l452", "--backend", "qemu",
                       "--model", tiny_model, "--dataset", str(tiny_data), "--limit",
                       str(LIMIT), "--db", str(db), "--json", "--meter", sim.uri,
                       "--meter-rate", "20000", "--meter-duration", "0.4")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["energy_kind"] == "measured"
    con = sqlite3.connect(db)
    energies = [r[0] for r in con.execute(
        "SELECT energy_uj FROM samples WHERE run_id = ? ORDER BY idx", (res["run_id"],))]
    basis = con.execute("SELECT energy_basis FROM runs WHERE run_id = ?",
                        (res["run_id"],)).fetchone()[0]
    con.close()
    for k, e in enumerate(energies):  # 3.3 V from boards/stm32l452/board.toml [power]
        assert e == pytest.approx(wave.energy_j(k) * 1e6, rel=0.01)
    assert "windows from current level" in basis and "not a trigger pin" in basis
    assert "voltage assumed 3.3 V (the board file's [power] supply_v), not measured" in basis

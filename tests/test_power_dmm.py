"""The dmm:// meter (Keysight 34465A/34470A digitizing current) against a
Truevolt SCPI simulator on TCP, through the real pyvisa + pyvisa-py stack
and IEEE 488.2 binary blocks. Windows come from the current level (a DMM
has no trigger input) and the voltage is assumed; energy per window must
match the waveform's closed form within 1%, each bad input is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from sims.truevolt import TruevoltSim
from sims.waveform import Waveform

from harness.errors import ConfigError, MeterError
from harness.power import Trace, open_meter
from harness.power.energy import energy_per_window
from harness.power.scpi_digitize import level_windows

RECT = Waveform(shape="rect", r_ohm=0.0, pulses=5, record_s=0.5)


def capture(uri: str, rate: float | None, duration: float, supply_v: float | None = None) -> Trace:
    meter = open_meter(uri)
    meter.board_supply_v = supply_v  # as `bench run` sets it from the board file
    with meter as m:
        m.configure(rate, duration)
        m.start()
        m.stop()
        return m.read()


def assert_energies(trace: Trace, wave: Waveform) -> None:
    rep = energy_per_window(trace)
    assert len(rep.windows) == wave.pulses
    for k, w in enumerate(rep.windows):
        assert w.energy_j == pytest.approx(wave.energy_j(k), rel=0.01), k
        start = wave.starts()[k]
        assert w.t_start_s == pytest.approx(start, abs=2 / trace.sample_rate)


def test_energy_matches_waveform_within_1pct(tmp_path: Path) -> None:
    with TruevoltSim(wave=RECT) as sim:
        trace = capture(sim.uri + "?supply_v=3.3", 20_000, 0.5)
        cmds = [c.upper() for c in sim.commands]
    assert_energies(trace, RECT)
    assert trace.sample_rate == pytest.approx(20_000) and len(trace) == 10_000
    assert trace.range_a == pytest.approx(0.12)  # 100 mA range, 120% overrange
    assert np.all(trace.voltage_v == 3.3)
    assert trace.windows_from.startswith("current level (threshold 0.007 A")
    assert trace.windows_from.endswith("not a trigger pin")
    assert trace.voltage_from == "assumed 3.3 V (supply_v in the URI), not measured"
    for c in ("CONF:CURR:DC 0.1", "SAMP:SOUR TIM", "SAMP:TIM 5E-05", "SAMP:COUN 10000",
              "TRIG:SOUR IMM", "FORM:DATA REAL,64", "INIT", "*OPC?", "FETC?", "SYST:ERR?"):
        assert c in cmds, c
    # the labels survive the trace file
    back = Trace.load(trace.save(tmp_path / "t.parquet"))
    assert (back.windows_from, back.voltage_from) == (trace.windows_from, trace.voltage_from)


def test_real32_noise_quantized_timer_and_board_voltage() -> None:
    """REAL,32 blocks, reading noise (the hysteresis keeps one window per
    pulse), a timer the instrument rounds (the trace uses what it took), and
    the voltage from the board file when the URI gives none."""
    wave = Waveform(shape="rect", r_ohm=0.0, pulses=4, record_s=0.4, supply_v=1.8)
    with TruevoltSim(wave=wave, noise_a=0.0004, timer_step=2e-6) as sim:
        trace = capture(sim.uri + "?bits=32&range=0.05", 30_000, 0.4, supply_v=1.8)
        cmds = [c.upper() for c in sim.commands]
    assert "FORM:DATA REAL,32" in cmds and "CONF:CURR:DC 0.05" in cmds
    assert trace.sample_rate == pytest.approx(1 / 34e-6)  # 33.3 us rounded to 34 us
    assert trace.duration_s == pytest.approx(0.4, abs=1e-4)
    assert trace.voltage_from == "assumed 1.8 V (the board file's [power] supply_v), not measured"
    assert_energies(trace, wave)


def test_threshold_and_hysteresis_options() -> None:
    # pulses k = 0..3 reach 10, 12, 14, 16 mA: a 15 mA threshold keeps the last one
    wave = Waveform(shape="rect", r_ohm=0.0, pulses=4, record_s=0.4)
    with TruevoltSim(wave=wave) as sim:
        trace = capture(sim.uri + "?supply_v=3.3&threshold=0.015&hysteresis=0.0005", 20_000,
                        0.4)
    assert "threshold 0.015 A, hysteresis 0.0005 A" in trace.windows_from
    rep = energy_per_window(trace)
    assert len(rep.windows) == 1
    assert rep.windows[0].energy_j == pytest.approx(wave.energy_j(3), rel=0.01)


def test_level_windows_hysteresis_and_flat_trace() -> None:
    rng = np.random.default_rng(1)
    cur = np.r_[np.full(100, 1e-3), np.full(100, 5e-3), np.full(100, 1e-3)]
    noisy = cur + rng.normal(0, 2e-4, len(cur))
    state, _ = level_windows(noisy)
    assert np.count_nonzero(np.diff(state.astype(int)) == 1) == 1
    state, _ = level_windows(noisy, hysteresis=0.0)  # no band: noise would chatter...
    assert np.count_nonzero(np.diff(state.astype(int)) == 1) == 1  # ...not at 20 sigma apart
    flat, label = level_windows(1e-3 + rng.normal(0, 1e-5, 1000))
    assert not flat.any() and "not a trigger pin" in label


def test_instrument_error_is_one_line() -> None:
    with TruevoltSim(reject=("SAMP:TIM",)) as sim, open_meter(sim.uri + "?supply_v=3.3") as m:
        with pytest.raises(MeterError, match=r"answered an error after configuration: "
                           r'-222,"Data out of range"$'):
            m.configure(20_000, 0.1)


def test_not_found_and_wrong_instrument() -> None:
    with TruevoltSim() as sim:
        port = sim.port  # closed when the simulator stops
    with pytest.raises(MeterError, match="not found"):
        open_meter(f"dmm://TCPIP::127.0.0.1::{port}::SOCKET?supply_v=3.3&timeout=2").open()
    with TruevoltSim(idn="Keysight Technologies,N6705C,MY1,D.03") as sim:
        with pytest.raises(MeterError, match="not a Keysight 34465A/34470A"):
            open_meter(sim.uri + "?supply_v=3.3").open()


def test_overload_is_clipped() -> None:
    # 10 mA range reads to 12 mA; pulses reach 10..16 mA: the instrument sends 9.9E37
    with TruevoltSim(wave=RECT) as sim:
        trace = capture(sim.uri + "?supply_v=3.3&range=0.01", 20_000, 0.5)
    assert np.isinf(trace.current_a).any()
    with pytest.raises(MeterError, match=r"clipped at the meter's range limit \(0.012 A full "
                       r"scale\) in window 1 .* choose a higher current range$"):
        energy_per_window(trace)


def test_no_windows_in_a_flat_trace() -> None:
    with TruevoltSim(wave=Waveform(shape="rect", amp_a=0.0, r_ohm=0.0)) as sim:
        trace = capture(sim.uri + "?supply_v=3.3", 10_000, 0.2)
    with pytest.raises(MeterError, match=r"^no windows found in 0.2 s of trace from dmm://.*"
                       r"\(windows from current level .*not a trigger pin\)"):
        energy_per_window(trace)


def test_rate_too_low_for_the_window_names_the_minimum() -> None:
    with TruevoltSim(wave=RECT) as sim:
        trace = capture(sim.uri + "?supply_v=3.3", 2_000, 0.5)
    with pytest.raises(MeterError, match=r"at least 5,000 Hz is needed"):
        energy_per_window(trace)


@pytest.mark.parametrize(("query", "rate", "duration", "message"), [
    ("", 20_000, 0.1, r"a DMM measures current only: give the supply voltage as "
                      r"\?supply_v=VOLTS"),
    ("?supply_v=0", 20_000, 0.1, "supply_v must be positive"),
    ("?supply_v=3.3&windows=pin", 20_000, 0.1, "has no input for the trigger pin; use "
                                               "windows=level"),
    ("?supply_v=3.3&bits=16", 20_000, 0.1, "REAL,32 or REAL,64"),
    ("?supply_v=3.3&speed=3", 20_000, 0.1, "has no option 'speed'"),
    ("?supply_v=abc", 20_000, 0.1, "supply_v='abc' .* is not a number"),
    ("?supply_v=3.3", 100_000, 0.1, "at most at 50,000 Hz"),
    ("?supply_v=3.3&memory=50000", 20_000, 10, "holds 50,000: lower the rate to 5,000 Hz"),
])
def test_bad_options_are_one_line(query: str, rate: float, duration: float,
                                  message: str) -> None:
    with TruevoltSim() as sim, pytest.raises(ConfigError, match=message):
        with open_meter(sim.uri + query) as m:
            m.configure(rate, duration)


def test_cli_capture_labels_level_windows(bench_main: Bench, tmp_path: Path) -> None:
    with TruevoltSim(wave=RECT) as sim:
        p = bench_main("power", "capture", "--meter", sim.uri + "?supply_v=3.3",
                       "--duration", "0.5", "--rate", "20000",
                       "-o", str(tmp_path / "t.parquet"))
    assert p.returncode == 0, p.stderr
    assert "inference windows" in p.stdout
    back = Trace.load(tmp_path / "t.parquet")
    assert back.windows_from.endswith("not a trigger pin")
    assert (tmp_path / "t.png").exists()

"""Meters against simulators speaking their real wire protocols: the N6705
through pyvisa + pyvisa-py over TCP, the LPM01A and PPK2 through pyserial on
ptys. Integrated energy must match the synthetic waveform's closed form
within 1%, and each bad input gives one clear error."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from sims.lpm01a import Lpm01aSim, ascii_dec
from sims.n6705 import N6705Sim
from sims.ppk2 import Ppk2Sim
from sims.waveform import Waveform

from harness.backends import get_board
from harness.errors import ConfigError, MeterError
from harness.power import Trace, open_meter
from harness.power.energy import energy_per_window, match_samples
from harness.power.estimate import estimate_uj, power_facts


def capture(uri: str, rate: float | None, duration: float) -> Trace:
    """A finite capture: stop() returns once the meter has its ``duration``
    of samples (the simulators send exactly that many, or stream until
    told), so no test waits on the wall clock."""
    with open_meter(uri) as m:
        m.configure(rate, duration)
        m.start()
        m.stop()
        return m.read()


def assert_energies(trace: Trace, wave: Waveform) -> float:
    rep = energy_per_window(trace)
    assert len(rep.windows) == wave.pulses
    worst = 0.0
    for k, w in enumerate(rep.windows):
        err = abs(w.energy_j / wave.energy_j(k) - 1)
        assert err < 0.01, (k, w.energy_j, wave.energy_j(k))
        worst = max(worst, err)
    return worst


# -- Keysight N6705 (SCPI over pyvisa-py) -------------------------------------------


def test_n6705_energy_matches_waveform_within_1pct() -> None:
    wave = Waveform(pulses=6, width_s=0.02, record_s=0.6)
    with N6705Sim(wave=wave) as sim:
        trace = capture(sim.uri, 20_000, 0.6)
        cmds = [c.upper() for c in sim.commands]
    assert assert_energies(trace, wave) < 0.01
    assert trace.range_a == pytest.approx(0.1)
    assert "FORM:DATA REAL" in cmds and "SYST:ERR?" in cmds
    assert any(c.startswith("FETC:ARR:CURR?") for c in cmds)
    # the instrument rounded 50 us to its 20.48 us grid; the trace says so
    assert trace.sample_rate == pytest.approx(1 / 40.96e-6)
    assert trace.duration_s == pytest.approx(0.6, abs=1e-4)


def test_n6705_instrument_error_is_one_line() -> None:
    with N6705Sim(reject=("SENS:SWE:TINT",)) as sim, open_meter(sim.uri) as m:
        with pytest.raises(MeterError, match=r"answered an error after configuration: "
                           r'-222,"Data out of range"'):
            m.configure(20_000, 0.1)


def test_n6705_not_found() -> None:
    with N6705Sim() as sim:
        port = sim.port  # closed when the simulator stops
    with pytest.raises(MeterError, match="not found"):
        open_meter(f"visa://TCPIP::127.0.0.1::{port}::SOCKET?timeout=2").open()


def test_n6705_record_too_long_says_the_rate() -> None:
    with N6705Sim() as sim, open_meter(sim.uri) as m:
        with pytest.raises(ConfigError, match="holds 524,288: lower the rate to 5,243 Hz"):
            m.configure(40_000, 100)


def test_n6705_clipped_range() -> None:
    wave = Waveform(pulses=3, record_s=0.3, amp_a=0.2, clip_a=0.1)  # pulses beyond 100 mA
    with N6705Sim(wave=wave, range_a=0.1) as sim:
        trace = capture(sim.uri, 20_000, 0.3)
    with pytest.raises(MeterError, match=r"clipped at the meter's range limit \(0.1 A full "
                       r"scale\) in window 0"):
        energy_per_window(trace)


# -- ST LPM01A (serial text protocol on a pty) ----------------------------------------


def test_ascii_dec_format() -> None:
    assert ascii_dec(640.9e-6) == "6409-07"
    assert ascii_dec(0.0123) == "1230-05"


def test_lpm01a_energy_matches_waveform_within_1pct() -> None:
    with Lpm01aSim() as sim:
        trace = capture(sim.uri, 10_000, 0.5)
        assert "eventsrc d7 both" in sim.commands and "freq 10k" in sim.commands
    assert assert_energies(trace, sim.wave) < 0.01
    assert trace.voltage_v[0] == pytest.approx(3.3)


def test_lpm01a_error_reply() -> None:
    with Lpm01aSim(reject=("freq",)) as sim, open_meter(sim.uri) as m:
        with pytest.raises(MeterError, match="answered an error to 'freq 10k': invalid "
                           "parameter"):
            m.configure(10_000, 0.5)


def test_lpm01a_rate_too_low_names_the_minimum() -> None:
    with Lpm01aSim() as sim:
        trace = capture(sim.uri, 2_000, 0.5)
    with pytest.raises(MeterError, match=r"sample rate 2000 Hz is too low for the .* window "
                       r"0: it has 40 samples; at least 5,000 Hz is needed"):
        energy_per_window(trace)


def test_lpm01a_saturated_dynamic_range() -> None:
    with Lpm01aSim(wave=Waveform(base_a=0.001, amp_a=0.012, r_ohm=0.0)) as sim:
        trace = capture(sim.uri, 10_000, 0.5)
    with pytest.raises(MeterError, match="clipped at the meter's range limit"):
        energy_per_window(trace)


def test_lpm01a_ascii_limit() -> None:
    with Lpm01aSim() as sim, open_meter(sim.uri) as m:
        with pytest.raises(ConfigError, match="at most 1 s in ascii"):
            m.configure(10_000, 5)


def test_lpm01a_not_found(tmp_path: Path) -> None:
    with pytest.raises(MeterError, match="not found"):
        open_meter(f"lpm01a://{tmp_path}/ttyACM9").open()


# -- Nordic PPK2 (binary serial protocol on a pty) ------------------------------------


def test_ppk2_energy_matches_waveform_within_1pct() -> None:
    with Ppk2Sim(trigger_bit=3) as sim:
        trace = capture(sim.uri + "?trigger=D3&voltage_mv=3300", None, 0.5)
        assert sim.voltage_mv == 3300
        assert sim.commands[:4] == [0x19, 0x0D, 0x11, 0x0C]
    assert len(trace) == 50_000
    assert assert_energies(trace, sim.wave) < 0.01


def test_ppk2_wrong_trigger_input_has_no_edges() -> None:
    with Ppk2Sim(trigger_bit=3) as sim:
        trace = capture(sim.uri + "?trigger=D0", None, 0.5)
    with pytest.raises(MeterError, match="has no trigger edges .*check the trigger wiring"):
        energy_per_window(trace)


def test_ppk2_lost_samples() -> None:
    with Ppk2Sim(skip_at=1234) as sim:
        with pytest.raises(MeterError, match="dropped samples"):
            capture(sim.uri, None, 0.5)


def test_ppk2_saturated_top_range() -> None:
    with Ppk2Sim(wave=Waveform(amp_a=20.0, r_ohm=0.0)) as sim:
        trace = capture(sim.uri, None, 0.5)
    assert np.isinf(trace.current_a).any()
    with pytest.raises(MeterError, match="range is saturated"):
        energy_per_window(trace)


def test_ppk2_rate_is_fixed() -> None:
    with Ppk2Sim() as sim, open_meter(sim.uri) as m:
        with pytest.raises(ConfigError, match="100000 Hz only"):
            m.configure(10_000, 1)


# -- traces, windows, estimates -------------------------------------------------------


def _square(n: int = 10_000, rate: float = 100_000.0) -> Trace:
    trig = np.zeros(n, dtype=bool)
    for s in (1000, 4000, 7000):
        trig[s:s + 1000] = True
    return Trace(sample_rate=rate, current_a=np.where(trig, 0.01, 0.001), voltage_v=3.0,
                 trigger=trig, meter="test://")


def test_trace_parquet_roundtrip(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    t = _square()
    t.save(tmp_path / "t.parquet")
    back = Trace.load(tmp_path / "t.parquet")
    assert back.sample_rate == t.sample_rate and back.meter == "test://"
    np.testing.assert_array_equal(back.current_a, t.current_a)
    np.testing.assert_array_equal(back.trigger, t.trigger)
    meta = pq.read_schema(tmp_path / "t.parquet").metadata[b"bench"].decode()
    assert '"units": {"time": "s", "current": "A", "voltage": "V"' in meta


def test_windows_exact_and_matched_in_order() -> None:
    rep = energy_per_window(_square())
    assert [w.energy_uj for w in rep.windows] == pytest.approx([300.0] * 3)  # 10 ms x 30 mW
    assert match_samples(rep, [4, 9, 2]) == pytest.approx({4: 300.0, 9: 300.0, 2: 300.0})
    with pytest.raises(MeterError, match="has 3 inference windows but the run streamed 4 "
                       "samples: the capture ended before the run did"):
        match_samples(rep, [0, 1, 2, 3])


def test_partial_windows_are_left_out() -> None:
    t = _square()
    t.trigger[:10] = True
    t.trigger[-10:] = True
    rep = energy_per_window(t)
    assert len(rep.windows) == 3 and rep.dropped_partial == 2


def test_no_trigger_channel() -> None:
    t = Trace(sample_rate=1000.0, current_a=np.ones(10), voltage_v=3.3, trigger=None, meter="x")
    with pytest.raises(MeterError, match="has no trigger channel"):
        energy_per_window(t)


def test_estimate_from_board_file() -> None:
    facts = power_facts(get_board("stm32l452"))
    assert facts is not None and facts.supply_v == 3.3 and facts.cpi == 1.0
    # 80,000 instructions at CPI 1 = 1 ms at 80 MHz; 100 uA/MHz x 80 MHz = 8 mA; x 3.3 V
    assert estimate_uj(80_000, "instructions", facts) == pytest.approx(26.4)
    assert estimate_uj(80_000, "cycles", facts) == pytest.approx(26.4)
    with pytest.raises(ConfigError):
        estimate_uj(1, "ticks", facts)


def test_estimate_from_apollo3_board_file() -> None:
    facts = power_facts(get_board("apollo3"))
    assert facts is not None and "DS-A3" in facts.source
    # 48,000 cycles = 1 ms at 48 MHz; 6 uA/MHz x 48 MHz = 288 uA; x 3.3 V = 0.9504 uJ
    assert estimate_uj(48_000, "cycles", facts) == pytest.approx(0.9504)


def test_meter_uri_errors() -> None:
    with pytest.raises(ConfigError, match="unknown meter 'foo://'"):
        open_meter("foo://x")
    with pytest.raises(ConfigError, match="not a URI"):
        open_meter("/dev/ttyACM0")
    with pytest.raises(ConfigError, match="has no option 'speed'"):
        open_meter("ppk2:///dev/x?speed=3")


def test_old_database_gets_energy_columns(tmp_path: Path) -> None:
    from harness.store import store

    old = store.SCHEMA
    for line in old.splitlines():
        if any(k in line for k in ("energy_", "trace_file TEXT", "meter TEXT")):
            old = old.replace(line + "\n", "")
    # the column now last in each table loses its comma, whichever it is
    old = re.sub(r",([ \t]*(?:--[^\n]*)?)\n\);", r"\1\n);", old)
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(old)
    con.close()
    with store.Store(db) as s:
        cols = {r[1] for r in s._db.execute("PRAGMA table_info(samples)")}
        assert "energy_uj" in cols
        cols = {r[1] for r in s._db.execute("PRAGMA table_info(runs)")}
        assert {"energy_kind", "energy_basis", "trace_file", "meter"} <= cols


# -- bench power capture --------------------------------------------------------------


def test_cli_capture_writes_trace_plot_and_table(bench_main: Bench, tmp_path: Path) -> None:
    wave = Waveform(pulses=4, record_s=0.4)
    with N6705Sim(wave=wave) as sim:
        p = bench_main("power", "capture", "--meter", sim.uri, "--duration", "0.4",
                       "--rate", "20000", "-o", str(tmp_path / "t.parquet"))
    assert p.returncode == 0, p.stderr
    assert "inference windows" in p.stdout and "(measured)" in p.stdout
    rows = re.findall(r"│ (\d) │ +[\d.]+ │ +[\d,.]+ │ +([\d,.]+) │", p.stdout)
    assert len(rows) == 4
    for k, uj in rows:
        assert float(uj.replace(",", "")) == pytest.approx(wave.energy_j(int(k)) * 1e6, rel=0.01)
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert len(Trace.load(tmp_path / "t.parquet")) > 0


def test_cli_capture_without_edges_keeps_files(bench_main: Bench, tmp_path: Path) -> None:
    with N6705Sim(trigger_wired=False) as sim:
        p = bench_main("power", "capture", "--meter", sim.uri, "--duration", "0.2",
                       "-o", str(tmp_path / "t.parquet"))
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: ")
    assert "no trigger edges" in lines[0] and "trace and its plot are written" in lines[0]
    assert (tmp_path / "t.parquet").exists() and (tmp_path / "t.png").exists()


def test_cli_capture_meter_not_found(bench_main: Bench, tmp_path: Path) -> None:
    p = bench_main("power", "capture", "--meter", "lpm01a:///dev/nonexistent",
                   "--duration", "1", "-o", str(tmp_path / "t.parquet"))
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert "meter /dev/nonexistent not found" in p.stderr


def test_board_drives_the_trigger_pin_its_board_file_names() -> None:
    """The meter's windows come from this pin: board.c must drive the pin
    board.toml names, and the runtime must raise it around the timed region."""
    board = get_board("stm32l452")
    src = (board.folder / "board.c").read_text()
    m = re.search(r"#define TRIGGER_PIN (\d+)u", src)
    assert m and board.trigger_pin == f"PA{m.group(1)}"
    assert "GPIOA_BSRR = level ? (1u << TRIGGER_PIN)" in src
    main = (board.folder.parent.parent / "firmware" / "runtime" / "main.c").read_text()
    timed = main[main.index("board_trigger(1);"):main.index("board_trigger(0);")]
    assert "board_timer_start();" in timed and "bench_model_run(" in timed
    assert "board_timer_stop(&kind);" in timed

"""Keysight Truevolt 34465A / 34470A digital multimeters digitizing DC
current on a timer, through pyvisa.

URI: dmm://RESOURCE?supply_v=3.3&range=0.1 where RESOURCE is any VISA
resource string (dmm://USB0::0x2A8D::0x0101::SERIAL::INSTR,
dmm://TCPIP::10.0.0.6::5025::SOCKET). It has a scheme of its own rather than
visa://RESOURCE?mode=digitize because the scheme picks the instrument's
command set (the registry maps one scheme to one meter class): visa:// is the
N6705's datalogger, dmm:// a DMM's digitizer, and both take the same VISA
resource string after it.

Commands (Keysight Truevolt Series Operating and Service Guide, "SCPI
Programming Reference"): CONFigure:CURRent:DC <range> (a fixed range;
autoranging would stall the timer), CURRent:DC:ZERO:AUTO OFF and
CURRent:DC:APERture <s> (integration time, default 80% of the sample
interval, at least 20 us), TRIGger:SOURce IMMediate, TRIGger:COUNt 1,
TRIGger:DELay 0, SAMPle:SOURce TIMer with SAMPle:TIMer <s> (the instrument rounds it; read
back with SAMPle:TIMer?), SAMPle:COUNt <n>, FORMat:DATA REAL,64 (or
REAL,32) with FORMat:BORDer NORMal, INITiate, *OPC? to wait for the record,
FETCh? for the readings as one IEEE 488.2 definite-length block, SYSTem:
ERRor? after each step. Digitizing at 50 kSa/s (20 us) needs the DIG
option and 2 M readings the MEM option (standard: 5 kSa/s, 50 k readings);
the instrument reports out-of-range settings in SYST:ERR?. An overloaded
reading is 9.9E37; Truevolt ranges read to 120% of the range before that.
The Keysight B2900 SMUs (:SENS:FUNC "CURR", :TRIG:ACQ:COUN, :FETC:ARR:CURR?)
are not driven here.

What a DMM does not give, said in the trace and the run's energy basis:

- Voltage: it measures current only, so the supply voltage is assumed:
  ``supply_v=V`` in the URI, else the board file's ``[power] supply_v``.
- Windows: digitizing has no logic input to see the board's trigger pin, so
  the windows come from the current level (``windows=level``, the only
  mode): the trace is split at ``threshold`` amps (default: halfway between
  the low and high levels found in the trace) with a hysteresis band
  (``hysteresis`` amps, default 10% of high - low) so noise at the
  threshold does not split a window. It suits a board that sleeps between
  inferences; anything else drawing above the threshold also counts as a
  window, which the run then reports as a count mismatch.
"""

from __future__ import annotations

import math

import numpy as np

from harness.checks import Check
from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace
from harness.power.visa import OVERLOAD, VisaInstrument, visa_checks

OVERRANGE = 1.2  # Truevolt DC current ranges read to 120% of range
DEFAULT_RATE = 50_000.0  # the 34465A/34470A with the DIG option
MIN_INTERVAL = 20e-6
MEMORY = 2_000_000  # readings with the MEM option (50,000 without)
OPTIONS = ("supply_v", "range", "aperture", "bits", "windows", "threshold", "hysteresis",
           "memory", "backend", "timeout")


def level_windows(current: np.ndarray, threshold: float | None = None,
                  hysteresis: float | None = None) -> tuple[np.ndarray, str]:
    """A stand-in for the trigger pin from the current alone: True while the
    current is in its high state, with hysteresis; and a line saying how.
    Levels: two-means on the finite samples (the medians below and above a
    threshold that settles halfway between them)."""
    cur = current[np.isfinite(current)]
    if len(cur) == 0:
        return np.zeros(len(current), dtype=bool), "current level (no finite samples)"
    thr = float(cur.min() + cur.max()) / 2
    lo = hi = thr
    for _ in range(50):
        below, above = cur[cur <= thr], cur[cur > thr]
        if len(below) == 0 or len(above) == 0:
            break
        lo, hi = float(np.median(below)), float(np.median(above))
        new = (lo + hi) / 2
        if new == thr:
            break
        thr = new
    # The quieter level's spread (the high level may hold pulses of several heights).
    noise = min((float(np.median(np.abs(part - level))) if len(part) else 0.0)
                for part, level in ((cur[cur <= thr], lo), (cur[cur > thr], hi)))
    separated = hi - lo > 0 and hi - lo > 8 * noise
    if threshold is not None:
        thr = threshold
    band = hysteresis if hysteresis is not None else 0.1 * (hi - lo)
    label = (f"current level (threshold {thr:.4g} A, hysteresis {band:.3g} A), "
             f"not a trigger pin")
    if not separated and threshold is None:
        return np.zeros(len(current), dtype=bool), label  # one level only: no windows
    up, down = thr + band / 2, thr - band / 2
    # A Schmitt trigger: each sample above `up` sets the state, each below
    # `down` clears it, samples in the band keep the last one (forward fill).
    event = np.where(current > up, 1, np.where(current < down, 0, -1))
    last = np.maximum.accumulate(np.where(event >= 0, np.arange(len(current)), 0))
    state = (event[last] == 1)
    return state, label


class TruevoltMeter(Meter):
    name = "dmm (Keysight 34465A/34470A digitize)"

    @classmethod
    def checks(cls) -> list[Check]:
        return visa_checks()

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(OPTIONS)
        if self.option("windows", "level") != "level":
            raise ConfigError(f"{uri}: windows={self.options['windows']!r}: a DMM digitizing "
                              f"has no input for the trigger pin; use windows=level")
        bits = self.option("bits", "64")
        if bits not in ("32", "64"):
            raise ConfigError(f"{uri}: bits={bits!r}: the readings are REAL,32 or REAL,64")
        self.bits = int(bits)
        self.range_set = self.float_option("range", 0.1)
        self.aperture = self.options.get("aperture")
        if self.aperture is not None:
            self.float_option("aperture", 0.0)  # a number, or one line saying it is not
        self.threshold = (self.float_option("threshold", 0.0)
                          if "threshold" in self.options else None)
        self.hysteresis = (self.float_option("hysteresis", 0.0)
                           if "hysteresis" in self.options else None)
        self.memory = int(self.float_option("memory", MEMORY))
        self.visa = VisaInstrument(uri, address, self.option("backend", "@py"),
                                   self.float_option("timeout", 10.0))
        self._points = 0
        self._interval = 0.0
        self.range_a: float | None = None

    # -- plumbing ----------------------------------------------------------------

    def supply_v(self) -> tuple[float, str]:
        """The assumed supply voltage and where it came from."""
        if "supply_v" in self.options:
            v, source = self.float_option("supply_v", 0.0), "supply_v in the URI"
        elif self.board_supply_v is not None:
            v, source = self.board_supply_v, "the board file's [power] supply_v"
        else:
            raise ConfigError(f"{self.uri}: a DMM measures current only: give the supply "
                              f"voltage as ?supply_v=VOLTS (or a board with [power] supply_v)")
        if not v > 0:
            raise ConfigError(f"{self.uri}: supply_v must be positive, got {v:g}")
        return v, source

    # -- Meter ---------------------------------------------------------------------

    def open(self) -> None:
        self.supply_v()  # before touching the instrument: a missing voltage is a usage error
        self.visa.open("dmm", ("34465A", "34470A"),
                       "Keysight 34465A/34470A (the Truevolt models that digitize on a timer)")

    def configure(self, sample_rate: float | None, duration: float | None) -> float:
        rate = sample_rate or DEFAULT_RATE
        interval = 1.0 / rate
        if interval < MIN_INTERVAL * (1 - 1e-9):
            raise ConfigError(f"the 34465A/34470A digitize at most at {1 / MIN_INTERVAL:,.0f} "
                              f"Hz (DIG option); asked {rate:,.0f} Hz")
        points = self.memory if duration is None else math.ceil(duration * rate)
        if points > self.memory:
            raise ConfigError(f"{duration:g} s at {rate:,.0f} Hz is {points:,} readings; the "
                              f"meter holds {self.memory:,}: lower the rate to "
                              f"{self.memory / duration:,.0f} Hz or record shorter")
        aperture = (self.float_option("aperture", 0.0) if self.aperture is not None
                    else max(MIN_INTERVAL, 0.8 * interval))
        self.visa.write(f"CONF:CURR:DC {self.range_set:g}")
        self.visa.write("CURR:DC:ZERO:AUTO OFF")
        self.visa.write(f"CURR:DC:APER {aperture:.9g}")
        self.visa.write("TRIG:SOUR IMM")
        self.visa.write("TRIG:COUN 1")
        self.visa.write("TRIG:DEL 0")
        self.visa.write("SAMP:SOUR TIM")
        self.visa.write(f"SAMP:TIM {interval:.9g}")
        self.visa.write(f"SAMP:COUN {points}")
        self.visa.write(f"FORM:DATA REAL,{self.bits}")
        self.visa.write("FORM:BORD NORM")
        self.visa.check_errors("configuration")
        # The timer is quantized: keep the duration with the interval it took.
        self._interval = float(self.visa.query("SAMP:TIM?"))
        if duration is not None and abs(self._interval - interval) > 1e-12:
            points = min(self.memory, math.ceil(duration / self._interval))
            self.visa.write(f"SAMP:COUN {points}")
            self.visa.check_errors("configuration")
        self._points = int(float(self.visa.query("SAMP:COUN?")))
        self.range_a = OVERRANGE * float(self.visa.query("CURR:DC:RANG?"))
        return 1.0 / self._interval

    def start(self) -> None:
        self.visa.write("INIT")
        self.visa.check_errors("starting the acquisition")

    def stop(self) -> None:
        """Nothing to stop: the record has a fixed length; read() waits for it."""

    def read(self) -> Trace:
        # *OPC? answers when the last reading is taken: allow for the record's length.
        self.visa.query("*OPC?", wait_s=self._points * self._interval)
        data = self.visa.query_block("FETC?", "d" if self.bits == 64 else "f")
        self.visa.check_errors("fetching the readings")
        if len(data) != self._points:
            raise MeterError(f"{self.uri}: FETC? returned {len(data)} readings, expected "
                             f"{self._points} (does the meter hold that many? set memory=)")
        current = np.where(np.abs(data) >= OVERLOAD, np.inf, data)
        trigger, how = level_windows(current, self.threshold, self.hysteresis)
        v, source = self.supply_v()
        return Trace(sample_rate=1.0 / self._interval, current_a=current, voltage_v=v,
                     trigger=trigger, meter=self.uri, range_a=self.range_a, windows_from=how,
                     voltage_from=f"assumed {v:g} V ({source}), not measured")

    def close(self) -> None:
        self.visa.close()

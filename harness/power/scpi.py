"""Keysight N6705 DC power analyzer (N678xA SMU modules) through pyvisa.

The measurement system ("scope" mode, N6705 User's Guide "Advanced Source,
Measurement, and Control"): SENS:SWE:POIN points and SENS:SWE:TINT interval
per channel, INIT:ACQ arms it, TRIG:ACQ triggers it, FETC:ARR:CURR? /
FETC:ARR:VOLT? return the arrays, here as IEEE 488.2 definite-length binary
blocks (FORM:DATA REAL, big-endian float32). SYST:ERR? is read after the
configuration, and any error the instrument queued is reported.

The N6705 has no logic input in its measurement arrays, so the board's
trigger pin goes to a second channel's voltage sense (default channel 2,
output off); it is digitized together with channel 1 and thresholded at
half its swing.

URI: visa://RESOURCE?channel=1&trigger_channel=2 where RESOURCE is any VISA
resource string (visa://USB0::0x2A8D::0x0F02::SERIAL::INSTR,
visa://TCPIP::10.0.0.5::5025::SOCKET). Option backend=@py (default) picks
pyvisa-py; backend=@ivi uses a vendor VISA library.
"""

from __future__ import annotations

import math

import numpy as np

from harness.checks import Check
from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace
from harness.power.visa import OVERLOAD, VisaInstrument, visa_checks

MAX_POINTS = 524_288  # the N678xA acquisition buffer
# Shortest sample interval by parameters digitized: 1 -> 5.12 us (N678xA),
# 2 -> 10.24 us, 3-4 -> 20.48 us (N6705 User's Guide, "Time interval").
MIN_TINT = {1: 5.12e-6, 2: 10.24e-6, 3: 20.48e-6, 4: 20.48e-6}
DEFAULT_RATE = 20_000.0


class N6705Meter(Meter):
    name = "visa (Keysight N6705)"

    @classmethod
    def checks(cls) -> list[Check]:
        return visa_checks()

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(("channel", "trigger_channel", "backend", "timeout"))
        self.channel = int(self.float_option("channel", 1))
        self.trigger_channel = int(self.float_option("trigger_channel", 2))
        if self.channel == self.trigger_channel:
            raise ConfigError(f"{uri}: channel and trigger_channel must differ")
        self.visa = VisaInstrument(uri, address, self.option("backend", "@py"),
                                   self.float_option("timeout", 10.0))
        self._points = 0
        self._tint = 0.0
        self.range_a: float | None = None

    # -- plumbing ----------------------------------------------------------------

    def _array(self, what: str, chan: int) -> np.ndarray:
        cmd = f"FETC:ARR:{what}? (@{chan})"
        # FETCh waits for the acquisition to finish: allow for its length.
        data = self.visa.query_block(cmd, "f", wait_s=self._points * self._tint)
        if len(data) != self._points:
            raise MeterError(f"{self.uri}: {cmd} returned {len(data)} points, expected "
                             f"{self._points}")
        return data

    # -- Meter ---------------------------------------------------------------------

    def open(self) -> None:
        self.visa.open("visa", ("N67",), "Keysight N6705")

    def configure(self, sample_rate: float | None, duration: float | None) -> float:
        rate = sample_rate or DEFAULT_RATE
        params = 3  # current + voltage on the channel, voltage on the trigger channel
        tint = 1.0 / rate
        if tint < MIN_TINT[params] * (1 - 1e-9):
            raise ConfigError(f"the N6705 digitizes {params} parameters at most at "
                              f"{1 / MIN_TINT[params]:,.0f} Hz; asked {rate:,.0f} Hz")
        points = MAX_POINTS if duration is None else math.ceil(duration * rate)
        if points > MAX_POINTS:
            raise ConfigError(f"{duration:g} s at {rate:,.0f} Hz is {points:,} points; the "
                              f"N6705 holds {MAX_POINTS:,}: lower the rate to "
                              f"{MAX_POINTS / duration:,.0f} Hz or record shorter")
        chans = f"(@{self.channel},{self.trigger_channel})"
        self.visa.write("FORM:DATA REAL")
        self.visa.write("FORM:BORD NORM")
        self.visa.write(f"SENS:FUNC:CURR ON,(@{self.channel})")
        self.visa.write(f"SENS:FUNC:VOLT ON,{chans}")
        self.visa.write(f"SENS:SWE:POIN {points},{chans}")
        self.visa.write(f"SENS:SWE:TINT {tint:.9g},{chans}")
        self.visa.write(f"SENS:SWE:OFFS:POIN 0,{chans}")
        self.visa.write(f"TRIG:ACQ:SOUR BUS,{chans}")
        self.visa.check_errors("configuration")
        # The instrument rounds the interval to its resolution: use what it took.
        self._tint = float(self.visa.query(f"SENS:SWE:TINT? (@{self.channel})"))
        if duration is not None and abs(self._tint - tint) > 1e-12:
            points = min(MAX_POINTS, math.ceil(duration / self._tint))
            self.visa.write(f"SENS:SWE:POIN {points},{chans}")
            self.visa.check_errors("configuration")
        self._points = int(float(self.visa.query(f"SENS:SWE:POIN? (@{self.channel})")))
        self.range_a = float(self.visa.query(f"SENS:CURR:RANG? (@{self.channel})"))
        return 1.0 / self._tint

    def start(self) -> None:
        chans = f"(@{self.channel},{self.trigger_channel})"
        self.visa.write(f"INIT:ACQ {chans}")
        self.visa.write(f"TRIG:ACQ {chans}")
        self.visa.check_errors("starting the acquisition")

    def stop(self) -> None:
        """Nothing to stop: the record has a fixed length; read() waits for it."""

    def read(self) -> Trace:
        current = self._array("CURR", self.channel)
        voltage = self._array("VOLT", self.channel)
        pin = self._array("VOLT", self.trigger_channel)
        self.visa.check_errors("fetching the arrays")
        lo, hi = float(pin.min()), float(pin.max())
        trigger = pin > (lo + hi) / 2 if hi - lo > 0.5 else np.zeros(len(pin), dtype=bool)
        # SCPI's overload value (9.9e37) marks a saturated reading.
        current = np.where(np.abs(current) >= OVERLOAD, np.inf, current)
        return Trace(sample_rate=1.0 / self._tint, current_a=current, voltage_v=voltage,
                     trigger=trigger, meter=self.uri, range_a=self.range_a)

    def close(self) -> None:
        self.visa.close()

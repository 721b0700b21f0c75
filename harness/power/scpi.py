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
import time

import numpy as np

from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace

MAX_POINTS = 524_288  # the N678xA acquisition buffer
# Shortest sample interval by parameters digitized: 1 -> 5.12 us (N678xA),
# 2 -> 10.24 us, 3-4 -> 20.48 us (N6705 User's Guide, "Time interval").
MIN_TINT = {1: 5.12e-6, 2: 10.24e-6, 3: 20.48e-6, 4: 20.48e-6}
DEFAULT_RATE = 20_000.0


class N6705Meter(Meter):
    name = "visa (Keysight N6705)"

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(("channel", "trigger_channel", "backend", "timeout"))
        self.channel = int(self.float_option("channel", 1))
        self.trigger_channel = int(self.float_option("trigger_channel", 2))
        if self.channel == self.trigger_channel:
            raise ConfigError(f"{uri}: channel and trigger_channel must differ")
        self.backend = self.option("backend", "@py")
        self.timeout_s = self.float_option("timeout", 10.0)
        self._rm = None
        self._inst = None
        self._points = 0
        self._tint = 0.0
        self._started = 0.0
        self.range_a: float | None = None
        self.idn = ""

    # -- plumbing ----------------------------------------------------------------

    def _io(self, what: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        import pyvisa

        if self._inst is None:
            raise MeterError(f"{self.uri} is not open")
        try:
            return fn(*args, **kwargs)
        except (pyvisa.errors.VisaIOError, OSError, ValueError, EOFError) as e:
            raise MeterError(f"{self.uri}: {what} failed: {e}") from e

    def _write(self, cmd: str) -> None:
        self._io(cmd, self._inst.write, cmd)  # type: ignore[union-attr]

    def _query(self, cmd: str) -> str:
        return str(self._io(cmd, self._inst.query, cmd)).strip()  # type: ignore[union-attr]

    def _check_errors(self, after: str) -> None:
        """Read the whole SCPI error queue; any entry is one MeterError."""
        errors = []
        for _ in range(20):
            reply = self._query("SYST:ERR?")
            code = reply.split(",", 1)[0].strip()
            if code in ("0", "+0"):
                break
            errors.append(reply)
        if errors:
            raise MeterError(f"{self.uri} answered an error after {after}: {errors[0]}"
                             + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))

    def _array(self, what: str, chan: int) -> np.ndarray:
        cmd = f"FETC:ARR:{what}? (@{chan})"
        # FETCh waits for the acquisition to finish: allow for its length.
        self._inst.timeout = int(1000 * (self.timeout_s + self._points * self._tint))  # type: ignore[union-attr]
        data = self._io(cmd, self._inst.query_binary_values, cmd,  # type: ignore[union-attr]
                        datatype="f", is_big_endian=True, container=np.array)
        if len(data) != self._points:
            raise MeterError(f"{self.uri}: {cmd} returned {len(data)} points, expected "
                             f"{self._points}")
        return data.astype(np.float64)

    # -- Meter ---------------------------------------------------------------------

    def open(self) -> None:
        try:
            import pyvisa
        except ImportError as e:
            raise MeterError("visa:// meters need pyvisa and pyvisa-py: pip install pyvisa "
                             "pyvisa-py") from e
        try:
            self._rm = pyvisa.ResourceManager(self.backend)
            self._inst = self._rm.open_resource(self.address, read_termination="\n",
                                                write_termination="\n",
                                                timeout=int(1000 * self.timeout_s))
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as e:
            self.close()
            raise MeterError(f"meter {self.address} not found ({e}): check the VISA resource "
                             f"string and that the instrument is on") from e
        try:
            idn = self._query("*IDN?")
        except MeterError as e:
            raise MeterError(f"meter {self.address} not found: {e.__cause__ or e}") from e
        if "N67" not in idn.upper():
            raise MeterError(f"{self.address} is {idn!r}, not a Keysight N6705")
        self.idn = idn
        self._write("*CLS")

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
        self._write("FORM:DATA REAL")
        self._write("FORM:BORD NORM")
        self._write(f"SENS:FUNC:CURR ON,(@{self.channel})")
        self._write(f"SENS:FUNC:VOLT ON,{chans}")
        self._write(f"SENS:SWE:POIN {points},{chans}")
        self._write(f"SENS:SWE:TINT {tint:.9g},{chans}")
        self._write(f"SENS:SWE:OFFS:POIN 0,{chans}")
        self._write(f"TRIG:ACQ:SOUR BUS,{chans}")
        self._check_errors("configuration")
        # The instrument rounds the interval to its resolution: use what it took.
        self._tint = float(self._query(f"SENS:SWE:TINT? (@{self.channel})"))
        if duration is not None and abs(self._tint - tint) > 1e-12:
            points = min(MAX_POINTS, math.ceil(duration / self._tint))
            self._write(f"SENS:SWE:POIN {points},{chans}")
            self._check_errors("configuration")
        self._points = int(float(self._query(f"SENS:SWE:POIN? (@{self.channel})")))
        self.range_a = float(self._query(f"SENS:CURR:RANG? (@{self.channel})"))
        return 1.0 / self._tint

    def start(self) -> None:
        chans = f"(@{self.channel},{self.trigger_channel})"
        self._write(f"INIT:ACQ {chans}")
        self._write(f"TRIG:ACQ {chans}")
        self._check_errors("starting the acquisition")
        self._started = time.monotonic()

    def stop(self) -> None:
        """Nothing to stop: the record has a fixed length; read() waits for it."""

    def read(self) -> Trace:
        current = self._array("CURR", self.channel)
        voltage = self._array("VOLT", self.channel)
        pin = self._array("VOLT", self.trigger_channel)
        self._check_errors("fetching the arrays")
        lo, hi = float(pin.min()), float(pin.max())
        trigger = pin > (lo + hi) / 2 if hi - lo > 0.5 else np.zeros(len(pin), dtype=bool)
        # SCPI's overload value (9.9e37) marks a saturated reading.
        current = np.where(np.abs(current) >= 9.9e37, np.inf, current)
        return Trace(sample_rate=1.0 / self._tint, current_a=current, voltage_v=voltage,
                     trigger=trigger, meter=self.uri, range_a=self.range_a)

    def close(self) -> None:
        for obj in (self._inst, self._rm):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing a dead link must not mask the cause
                    pass
        self._inst = self._rm = None

"""A Keysight N6705 SCPI server on 127.0.0.1 (random port), for pyvisa-py's
TCPIP::HOST::PORT::SOCKET resources.

It answers the measurement-system subset harness/power/scpi.py uses (and
rejects anything else with -113 "Undefined header" in the error queue):
*IDN?, *CLS, *RST, SYST:ERR?, FORM[:DATA] REAL|ASC, FORM:BORD NORM|SWAP,
SENS:FUNC:CURR|VOLT ON, SENS:SWE:POIN, SENS:SWE:TINT (rounded to 20.48 us
steps above 20.48 us, as the instrument does), SENS:SWE:OFFS:POIN,
SENS:CURR:RANG?, TRIG:ACQ:SOUR, INIT:ACQ, TRIG:ACQ, ABOR:ACQ, and
FETC:ARR:CURR?|VOLT? (@ch) as IEEE 488.2 definite-length blocks
(#<n><len><float32 data>). Channel 1 carries the waveform's current and
voltage, the trigger channel (2) the pin's voltage (0 / 3.3 V).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np

from .scpi_server import ScpiServer, definite_block
from .waveform import Waveform


@dataclass
class N6705Sim(ScpiServer):
    wave: Waveform = field(default_factory=Waveform)
    range_a: float = 0.1
    idn: str = "Keysight Technologies,N6705C,MY00000000,D.03.01"
    reject: tuple[str, ...] = ()  # command headers answered with -222 Data out of range
    drop_on: str | None = None  # close the connection when this header arrives
    trigger_wired: bool = True  # False: the trigger channel reads 0 V throughout
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._points: dict[int, int] = {}
        self._tint: dict[int, float] = {}
        self._armed = self._triggered = False
        self._real = False
        self._swap = False
        self._listen()

    @property
    def uri(self) -> str:
        return f"visa://{self.resource}"

    # -- commands ----------------------------------------------------------------

    @staticmethod
    def _chans(arg: str) -> list[int]:
        m = re.search(r"\(@([\d,:]+)\)", arg)
        return [int(c) for c in m.group(1).split(",")] if m else [1]

    def _record(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, tint = self._points.get(1, 1024), self._tint.get(1, 20.48e-6)
        return self.wave.sample(np.arange(n) * tint)

    def _block(self, values: np.ndarray) -> bytes:
        data = values.astype("<f4" if self._swap else ">f4").tobytes()
        return definite_block(data)

    def _command(self, h: str, arg: str) -> str | bytes | None:  # noqa: C901 - a command table
        head = h
        if h in ("FORM", "FORM:DATA"):
            self._real = arg.strip().upper().startswith("REAL")
            return None
        if h == "FORM:BORD":
            self._swap = arg.strip().upper().startswith("SWAP")
            return None
        if h in ("SENS:FUNC:CURR", "SENS:FUNC:VOLT", "TRIG:ACQ:SOUR", "SENS:SWE:OFFS:POIN"):
            return None
        if h == "SENS:SWE:POIN":
            n = int(float(arg.split(",")[0]))
            if not 1 <= n <= 524288:
                self._errors.append('-222,"Data out of range"')
                return None
            for c in self._chans(arg):
                self._points[c] = n
            return None
        if h == "SENS:SWE:POIN?":
            return str(self._points.get(self._chans(arg)[0], 1024))
        if h == "SENS:SWE:TINT":
            t = float(arg.split(",")[0])
            if t < 5.12e-6:
                self._errors.append('-222,"Data out of range"')
                return None
            if t > 20.48e-6:
                t = round(t / 20.48e-6) * 20.48e-6
            for c in self._chans(arg):
                self._tint[c] = t
            return None
        if h == "SENS:SWE:TINT?":
            return f"{self._tint.get(self._chans(arg)[0], 20.48e-6):.9E}"
        if h == "SENS:CURR:RANG?":
            return f"{self.range_a:.6E}"
        if h == "INIT:ACQ":
            self._armed, self._triggered = True, False
            return None
        if h == "TRIG:ACQ":
            if not self._armed:
                self._errors.append('-211,"Trigger ignored"')
            self._triggered = self._armed
            return None
        if h == "ABOR:ACQ":
            self._armed = self._triggered = False
            return None
        if h in ("FETC:ARR:CURR?", "FETC:ARR:VOLT?"):
            if not self._triggered:
                self._errors.append('-230,"Data corrupt or stale"')
                return "#10\n" if self._real else ""
            cur, volt, trig = self._record()
            chan = self._chans(arg)[0]
            if h.endswith("CURR?"):
                values = cur
            else:
                values = volt if chan == 1 else np.where(trig & self.trigger_wired, 3.3, 0.0)
            if self._real:
                return self._block(values)
            return ",".join(f"{v:.6E}" for v in values)
        self._errors.append(f'-113,"Undefined header;{head}"')
        return None


def unpack_block(block: bytes) -> np.ndarray:
    """Decode '#<n><len><data>' (for the simulator's own tests)."""
    assert block[:1] == b"#"
    n = int(block[1:2])
    size = int(block[2:2 + n])
    data = block[2 + n:2 + n + size]
    return np.array(struct.unpack(f">{size // 4}f", data))

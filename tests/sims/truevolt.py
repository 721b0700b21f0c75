"""A Keysight 34465A (Truevolt DMM) SCPI server on 127.0.0.1 (random port),
for pyvisa-py's TCPIP::HOST::PORT::SOCKET resources, digitizing DC current.

It answers the commands harness/power/scpi_digitize.py sends and puts -113
"Undefined header" in the error queue for anything else: *IDN?, *CLS, *RST,
*OPC? (answers once the record's last reading is due, in real time from
INIT), SYST:ERR?, CONF:CURR:DC <range> (picks the smallest range that holds
it; above 3 A: -222), CURR:DC:ZERO:AUTO, CURR:DC:APER, CURR:DC:RANG?,
TRIG:SOUR, TRIG:COUN, TRIG:DEL, SAMP:SOUR, SAMP:TIM (rounded to
``timer_step``; below 20 us: -222), SAMP:TIM?, SAMP:COUN (1..memory),
SAMP:COUN?, FORM:DATA ASC|REAL,32|REAL,64, FORM:BORD NORM|SWAP, INIT and
FETC? (one IEEE 488.2 definite-length block in REAL format). Readings beyond
120% of the range are 9.9E37, as the instrument's overload. The reading is
the waveform's current at each sample instant plus optional gaussian noise
(the aperture is not modelled).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .scpi_server import ScpiServer, definite_block
from .waveform import Waveform

RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0)


@dataclass
class TruevoltSim(ScpiServer):
    wave: Waveform = field(default_factory=lambda: Waveform(shape="rect", r_ohm=0.0))
    idn: str = "Keysight Technologies,34465A,MY00000000,A.03.01-03.15-03.01-00.52-03-02"
    memory: int = 2_000_000
    timer_step: float = 1e-6
    noise_a: float = 0.0  # rms of gaussian reading noise (seeded: the same every run)
    reject: tuple[str, ...] = ()  # command headers answered with -222 Data out of range
    drop_on: str | None = None  # close the connection when this header arrives
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._range = 0.1
        self._interval = 1e-3
        self._count = 1
        self._bits = 0  # 0: ASCII
        self._swap = False
        self._init_at: float | None = None
        self._listen()

    @property
    def uri(self) -> str:
        return f"dmm://{self.resource}"

    # -- commands ----------------------------------------------------------------

    def readings(self) -> np.ndarray:
        cur, _, _ = self.wave.sample(np.arange(self._count) * self._interval)
        cur = cur + np.random.default_rng(0).normal(0.0, self.noise_a, len(cur))
        return np.where(np.abs(cur) > 1.2 * self._range, 9.9e37, cur)

    def _block(self, values: np.ndarray) -> bytes:
        order = "<" if self._swap else ">"
        data = values.astype(f"{order}f{self._bits // 8}").tobytes()
        return definite_block(data)

    def _bad(self) -> None:
        self._errors.append('-222,"Data out of range"')

    def _command(self, h: str, arg: str) -> str | bytes | None:  # noqa: C901, PLR0911
        head, a = h, arg.strip().upper()
        if h == "*OPC?":
            if self._init_at is not None:
                left = self._init_at + self._count * self._interval - time.monotonic()
                time.sleep(max(0.0, left))
            return "1"
        if h == "CONF:CURR:DC":
            want = float(a) if a else 0.1
            fits = [r for r in RANGES if r >= want * (1 - 1e-9)]
            if not fits:
                self._bad()
            else:
                self._range = fits[0]
            return None
        if h == "CURR:DC:RANG?":
            return f"{self._range:+.8E}"
        if h in ("CURR:DC:ZERO:AUTO", "CURR:DC:APER", "TRIG:SOUR", "TRIG:COUN", "TRIG:DEL",
                 "SAMP:SOUR"):
            return None
        if h == "SAMP:TIM":
            t = float(a)
            if t < 20e-6 * (1 - 1e-9):
                self._bad()
            else:
                self._interval = round(t / self.timer_step) * self.timer_step
            return None
        if h == "SAMP:TIM?":
            return f"{self._interval:+.9E}"
        if h == "SAMP:COUN":
            n = int(float(a))
            if not 1 <= n <= self.memory:
                self._bad()
            else:
                self._count = n
            return None
        if h == "SAMP:COUN?":
            return f"{self._count:+d}"
        if h in ("FORM", "FORM:DATA"):
            kind, _, bits = a.partition(",")
            if kind.startswith("REAL") and bits.strip() in ("", "32", "64"):
                self._bits = int(bits or 64)
            elif kind.startswith("ASC"):
                self._bits = 0
            else:
                self._bad()
            return None
        if h == "FORM:BORD":
            self._swap = a.startswith("SWAP")
            return None
        if h in ("INIT", "INIT:IMM"):
            self._init_at = time.monotonic()
            return None
        if h == "FETC?":
            if self._init_at is None:
                self._errors.append('-230,"Data stale"')
                return "#10" if self._bits else ""
            self._handle("*OPC?")  # FETCh? waits for the measurement to complete
            values = self.readings()
            if self._bits:
                return self._block(values)
            return ",".join(f"{v:+.8E}" for v in values)
        self._errors.append(f'-113,"Undefined header;{head}"')
        return None

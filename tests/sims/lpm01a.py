"""An ST X-NUCLEO-LPM01A on a pty, speaking its serial text protocol
(see harness/power/lpm01a.py): ack/error replies, ascii_dec current samples
one per line, ``event N ris|fal`` lines for pin edges on D7,
``Acquisition completed`` at the end."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from .pty import PtyDevice
from .waveform import Waveform

KNOWN = {"htc", "hrc", "format", "output", "acqmode", "volt", "freq", "acqtime", "trigsrc",
         "eventsrc", "start", "stop", "pwr", "powershield", "version", "lcd", "trigdelay"}


def ascii_dec(v: float) -> str:
    """6409-07 style: four digits and a power of ten."""
    if v <= 0:
        return "0000-00"
    e = math.floor(math.log10(v)) - 3
    m = round(v / 10.0 ** e)
    if m >= 10000:
        m, e = round(m / 10), e + 1
    return f"{m:04d}{'-' if e < 0 else '+'}{abs(e):02d}"


@dataclass
class Lpm01aSim:
    wave: Waveform = field(default_factory=lambda: Waveform(base_a=0.0005, amp_a=0.002,
                                                            r_ohm=0.0))
    reject: tuple[str, ...] = ()  # commands answered with an error
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pty = PtyDevice()
        self.path = self._pty.path
        self._freq = 100
        self._acqtime = 10.0
        self._streaming = threading.Event()
        self._pty.spawn(self._serve)

    @property
    def uri(self) -> str:
        return f"lpm01a://{self.path}"

    def close(self) -> None:
        self._streaming.clear()
        self._pty.close()

    def __enter__(self) -> Lpm01aSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, text: str) -> None:
        self._pty.write(text.encode())

    def _serve(self) -> None:
        buf = b""
        while (chunk := self._pty.read()) is not None:
            buf += chunk.replace(b"\r", b"")
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._handle(line.decode().strip())

    @staticmethod
    def _value(arg: str) -> float:
        mult = {"k": 1e3, "m": 1e-3, "u": 1e-6}
        return float(arg[:-1]) * mult[arg[-1]] if arg[-1] in mult else float(arg)

    def _handle(self, cmd: str) -> None:
        if not cmd:
            return
        self.commands.append(cmd)
        word, _, arg = cmd.partition(" ")
        if word not in KNOWN or word in self.reject:
            self._send(f"{'PowerShield > '}error {cmd}\r\nError detail: "
                       f"{'invalid parameter' if word in KNOWN else 'unknown command'}\r\n")
            return
        if word == "freq":
            self._freq = int(self._value(arg))
        elif word == "acqtime":
            self._acqtime = self._value(arg) if arg not in ("0", "inf") else 0.0
        self._send(f"PowerShield > ack {cmd}\r\n")
        if word == "start":
            self._streaming.set()
            self._pty.spawn(self._acquire)
        elif word == "stop":
            self._streaming.clear()
            self._send("Acquisition completed\r\n")

    def _acquire(self) -> None:
        span = self._acqtime or self.wave.record_s
        n = int(round(span * self._freq))
        t = np.arange(n) / self._freq
        cur, _volt, trig = self.wave.sample(t)
        cur = np.minimum(cur, 0.010)  # the dynamic range's end
        level = False
        lines = []
        for i in range(n):
            if trig[i] != level:
                level = bool(trig[i])
                lines.append(f"event {i} {'ris' if level else 'fal'}\r\n")
            lines.append(ascii_dec(float(cur[i])) + "\r\n")
            if i % 1000 == 999:
                lines.append(f"TimeStamp: {i // self._freq}s, buff 0%\r\n")
            if len(lines) > 2000:
                self._send("".join(lines))
                lines = []
                if not self._streaming.is_set():
                    return
        self._send("".join(lines))
        if self._acqtime:
            self._streaming.clear()
            self._send("Acquisition completed\r\n")

"""A Nordic PPK2 on a pty, speaking its binary serial protocol (see
harness/power/ppk2.py): metadata text on 0x19, 4-byte samples at 100 kHz
after 0x06 with the trigger pin on digital input D0 (or another bit).

Like the instrument it streams until told to stop (0x07): first the
waveform's record, then the baseline current with the trigger low. Nothing
depends on wall-clock time: the meter waits for the samples its capture needs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from .pty import PtyDevice
from .waveform import Waveform

R = (1031.64, 101.65, 10.15, 0.94, 0.043)
ADC_MULT = 1.8 / 163840
META = "".join(f"R{i}: {r}\n" for i, r in enumerate(R)) + "".join(
    f"{k}{i}: {v}\n" for k, v in (("GS", 0), ("GI", 1), ("O", 0), ("S", 0), ("I", 0),
                                  ("UG", 1)) for i in range(5)) + "Calibrated: 0\nHW: 9173\n" \
    "mode: 2\nIA: 56\nEND\n"


def encode(cur: np.ndarray, trig: np.ndarray, bit: int = 0, first: int = 0) -> bytes:
    """Each sample in the most sensitive range that holds it (clipped in range 4);
    ``first`` is the index of the first sample (the rolling counter goes on)."""
    adc = np.rint(np.asarray(cur, dtype=np.float64)[:, None] * np.array(R) / ADC_MULT / 4)
    fits = adc <= 0x3FFF
    fits[:, -1] = True  # the least sensitive range takes what is left, clipped
    rng = np.argmax(fits, axis=1)
    adc = np.minimum(adc[np.arange(len(rng)), rng], 0x3FFF).astype(np.uint32)
    i = np.arange(first, first + len(rng), dtype=np.uint32)
    trig = np.asarray(trig).astype(np.uint32)
    words = adc | (rng.astype(np.uint32) << 14) | ((i % 64) << 18) | ((trig << bit) << 24)
    return words.astype("<u4").tobytes()


@dataclass
class Ppk2Sim:
    wave: Waveform = field(default_factory=lambda: Waveform(r_ohm=0.0))
    trigger_bit: int = 0
    skip_at: int | None = None  # drop a sample here (a lost USB packet)
    commands: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pty = PtyDevice()
        self.path = self._pty.path
        self.voltage_mv = 0
        self._streaming = threading.Event()
        self._pty.spawn(self._serve)

    @property
    def uri(self) -> str:
        return f"ppk2://{self.path}"

    def close(self) -> None:
        self._pty.close()

    def __enter__(self) -> Ppk2Sim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        pending = b""
        while (chunk := self._pty.read(64)) is not None:
            pending += chunk
            while pending:
                op = pending[0]
                need = {0x0D: 3, 0x11: 2, 0x0C: 2}.get(op, 1)
                if len(pending) < need:
                    break
                args, pending = pending[1:need], pending[need:]
                self.commands.append(op)
                if op == 0x19:
                    self._pty.write(META.encode())
                elif op == 0x0D:
                    self.voltage_mv = (args[0] << 8) | args[1]
                elif op == 0x06:
                    self._streaming.set()
                    self._pty.spawn(self._stream)
                elif op == 0x07:
                    self._streaming.clear()

    def _stream(self) -> None:
        n = int(round(self.wave.record_s * 100_000))
        cur, _v, trig = self.wave.sample(np.arange(n) / 100_000)
        data = encode(cur, trig, self.trigger_bit)
        if self.skip_at is not None:
            k = 4 * self.skip_at
            data = data[:k] + data[k + 4:]
        sent = n
        while self._streaming.is_set() and self._pty.write(data):
            # after the record, the baseline in 10 ms blocks until told to stop
            idle = np.full(1000, self.wave.base_a)
            data = encode(idle, np.zeros(1000, dtype=bool), self.trigger_bit, first=sent)
            sent += 1000

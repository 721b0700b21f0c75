"""Nordic Power Profiler Kit II over its serial wire protocol.

The protocol (as Nordic's nRF Connect Power Profiler and the ppk2-api
package speak it): one-byte opcodes, some with arguments --
0x19 GET_META_DATA (answered with ``key: value`` text lines up to ``END``:
the calibration R0..R4, GS, GI, O, S, I, UG per range), 0x0D REGULATOR_SET
(two bytes, the supply in mV big-endian), 0x11 SET_POWER_MODE (1 ampere
meter, 2 source meter), 0x0C DEVICE_RUNNING_SET (DUT power 1/0), 0x06
AVERAGE_START and 0x07 AVERAGE_STOP. While running it streams 100 kHz
samples, 4 bytes little endian each: bits 0-13 ADC, 14-16 range, 18-23 a
rolling counter, 24-31 the eight digital inputs D0..D7 -- the board's
trigger pin goes to one of them.

current = UG * (x * (GS * x + GI) + S * V + I), x = (4 * ADC - O) * 1.8 / 163840 / R
(per range; ppk2-api's formula). The Power Profiler's spike filter after
range switches is not applied: the trace is the raw calibrated samples.

URI: ppk2:///dev/ttyACM1?trigger=D0&voltage_mv=3300&mode=source
(mode=ampere measures a board powered elsewhere; voltage_mv is then the
supply the energy is computed with).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace

RATE = 100_000.0
ADC_MULT = 1.8 / 163840
ADC_MAX = 0x3FFF
GET_META_DATA, REGULATOR_SET, SET_POWER_MODE = 0x19, 0x0D, 0x11
DEVICE_RUNNING_SET, AVERAGE_START, AVERAGE_STOP = 0x0C, 0x06, 0x07
IN_FLIGHT_S = 5.0  # how long after its duration a finite capture waits for its samples


def parse_metadata(text: str) -> dict[str, list[float]]:
    """'R0: 1031.64\\nGS0: ...' -> {'R': [5 values], 'GS': [...], ...}."""
    out: dict[str, list[float]] = {k: [0.0] * 5 for k in ("R", "GS", "GI", "O", "S", "I", "UG")}
    seen = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or len(key) < 2 or not key[-1].isdigit() or key[:-1] not in out:
            continue
        idx = int(key[-1])
        if idx < 5:
            out[key[:-1]][idx] = float(value)
            seen.add(key)
    missing = [f"R{i}" for i in range(5) if f"R{i}" not in seen]
    if missing:
        raise MeterError(f"PPK2 metadata lacks {missing[0]}: is this a PPK2?")
    for k in ("GI", "UG"):
        if not any(f"{k}{i}" in seen for i in range(5)):
            out[k] = [1.0] * 5
    return out


class Ppk2Meter(Meter):
    name = "ppk2 (Nordic Power Profiler Kit II)"

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(("trigger", "voltage_mv", "mode"))
        trig = self.option("trigger", "D0").upper()
        if len(trig) != 2 or trig[0] != "D" or trig[1] not in "01234567":
            raise ConfigError(f"PPK2 trigger input is D0..D7, not {trig!r}")
        self.trigger_bit = int(trig[1])
        self.voltage_mv = int(self.float_option("voltage_mv", 3300))
        if not 800 <= self.voltage_mv <= 5000:
            raise ConfigError(f"PPK2 supplies 800..5000 mV, not {self.voltage_mv}")
        self.mode = self.option("mode", "source")
        if self.mode not in ("source", "ampere"):
            raise ConfigError(f"PPK2 mode is source or ampere, not {self.mode!r}")
        self._port = None
        self._meta: dict[str, list[float]] = {}
        self._chunks: list[bytes] = []
        self._running = threading.Event()
        self._reader: threading.Thread | None = None
        self._failure: str | None = None
        self._max_samples: int | None = None
        self._received = 0  # bytes
        self._enough = threading.Event()  # a finite capture has all its samples
        self._started_at = 0.0

    def _write(self, *data: int) -> None:
        assert self._port is not None
        try:
            self._port.write(bytes(data))
        except Exception as e:  # noqa: BLE001
            raise MeterError(f"PPK2 on {self.address}: write failed: {e}") from e

    def open(self) -> None:
        import serial

        try:
            self._port = serial.Serial(self.address, 9600, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as e:
            raise MeterError(f"meter {self.address} not found ({e}): is the PPK2 plugged in "
                             f"(its data port)?") from e
        self._port.reset_input_buffer()
        self._write(GET_META_DATA)
        text, deadline = b"", time.monotonic() + 3
        while b"END" not in text and time.monotonic() < deadline:
            text += self._port.read(self._port.in_waiting or 1)
        if b"END" not in text:
            raise MeterError(f"{self.address} did not send PPK2 metadata: is it a PPK2?")
        self._meta = parse_metadata(text.decode(errors="replace"))

    def configure(self, sample_rate: float | None, duration: float | None) -> float:
        if sample_rate not in (None, RATE):
            raise ConfigError(f"the PPK2 samples at {RATE:g} Hz only; omit --rate")
        mv = self.voltage_mv
        self._write(REGULATOR_SET, mv >> 8, mv & 0xFF)
        self._write(SET_POWER_MODE, 2 if self.mode == "source" else 1)
        if self.mode == "source":
            self._write(DEVICE_RUNNING_SET, 1)
        self._max_samples = None if duration is None else int(round(duration * RATE))
        return RATE

    def _read_loop(self) -> None:
        assert self._port is not None
        while self._running.is_set():
            try:
                data = self._port.read(max(self._port.in_waiting, 4))
            except Exception as e:  # noqa: BLE001 - a vanished port ends the capture
                self._failure = f"serial port failed: {e}"
                return
            if data:
                self._chunks.append(data)
                self._received += len(data)
                if self._max_samples is not None and self._received >= 4 * self._max_samples:
                    self._enough.set()

    def start(self) -> None:
        self._chunks, self._failure, self._received = [], None, 0
        self._enough.clear()
        self._started_at = time.monotonic()
        self._running.set()
        self._write(AVERAGE_START)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def stop(self) -> None:
        if self._max_samples is not None:
            # A finite capture ends when its samples are here, not at a wall-clock
            # time: wait for the ones still in flight (USB latency, a busy host).
            deadline = self._started_at + self._max_samples / RATE + IN_FLIGHT_S
            while not self._enough.is_set() and self._failure is None and self._reader_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._enough.wait(min(left, 0.1))
        if self._failure is None:
            self._write(AVERAGE_STOP)
            if not self._enough.is_set():
                time.sleep(0.05)  # the samples already in flight
        self._running.clear()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._failure:
            raise MeterError(f"PPK2 on {self.address}: {self._failure}")

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def decode(self, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Current (A; inf where the top range saturates) and trigger pin."""
        n = len(raw) // 4
        words = np.frombuffer(raw[:4 * n], dtype="<u4")
        adc = (words & ADC_MAX).astype(np.float64)
        rng = np.minimum((words >> 14) & 0x7, 4)
        counter = (words >> 18) & 0x3F
        logic = (words >> 24) & 0xFF
        lost = int(np.count_nonzero((np.diff(counter.astype(np.int64)) % 64) != 1))
        if lost:
            raise MeterError(f"PPK2 on {self.address} dropped samples at {lost} places (the "
                             f"sample counter skipped): the USB link did not keep up")
        m = {k: np.asarray(v) for k, v in self._meta.items()}
        x = (4 * adc - m["O"][rng]) * ADC_MULT / m["R"][rng]
        cur = m["UG"][rng] * (x * (m["GS"][rng] * x + m["GI"][rng])
                              + m["S"][rng] * self.voltage_mv / 1000 + m["I"][rng])
        cur = np.where((rng == 4) & (adc >= ADC_MAX), np.inf, cur)
        return cur, ((logic >> self.trigger_bit) & 1).astype(bool)

    def read(self) -> Trace:
        raw = b"".join(self._chunks)
        if self._max_samples is not None:
            raw = raw[:4 * self._max_samples]
        cur, trig = self.decode(raw)
        return Trace(sample_rate=RATE, current_a=cur,
                     voltage_v=np.full(len(cur), self.voltage_mv / 1000), trigger=trig,
                     meter=self.uri)

    def close(self) -> None:
        self._running.clear()
        port, self._port = self._port, None
        if port is not None:
            try:
                port.write(bytes([AVERAGE_STOP]))
                port.close()
            except Exception:  # noqa: BLE001 - closing a dead link must not mask the cause
                pass

"""ST X-NUCLEO-LPM01A (PowerShield) over its serial text protocol.

Commands (ST UM2269; the MLPerf Tiny energy runner drives the board the same
way): ``htc`` takes host control, ``volt 3300m`` sets the supply it powers the
board with, ``freq 10k`` the sampling rate, ``acqtime 2`` the record length
(``0`` = until ``stop``), ``format ascii_dec`` and ``output current`` select
decimal current samples, ``trigsrc sw`` starts at ``start``, ``eventsrc d7
<edge>`` reports the board's trigger pin on Arduino D7. Each command is
answered ``ack <command>`` or ``error <command>`` then ``Error detail: ...``.
While acquiring, samples arrive one per line as ``MMMM-EE`` (MMMM x
10^-EE A, e.g. 6409-07 = 640.9 uA), pin edges as ``event <n> ris|fal`` lines
between them, periodic ``TimeStamp: ...`` lines (skipped), and the end as
``Acquisition completed``.

The LPM01A measures current only; voltage is the supply it is set to. In
ascii_dec format it samples at most 10 kHz for 1 s or 20 kHz for 0.5 s
(UM2269's acquisition-time table), and unlimited at 5 kHz or less. Its
dynamic range ends at 10 mA: a sample at 10 mA is clipped.

URI: lpm01a:///dev/ttyACM2?edge=both&baud=3686400
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace

FREQS = (100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10, 5,
         2, 1)
ASCII_LIMIT_S = {20_000: 0.5, 10_000: 1.0}  # longer records at these rates need bin_hexa
DYN_RANGE_A = 0.010
PROMPT = "PowerShield > "
SAMPLE = re.compile(r"^(\d{4})([-+]\d{2})$")
EVENT = re.compile(r"^event \d+ (ris|fal)")


def _freq_arg(hz: int) -> str:
    return f"{hz // 1000}k" if hz >= 1000 else str(hz)


class Lpm01aMeter(Meter):
    name = "lpm01a (ST X-NUCLEO-LPM01A)"

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(("edge", "baud", "voltage_mv"))
        self.edge = self.option("edge", "both")
        self.baud = int(self.float_option("baud", 3_686_400))
        self.voltage_mv = int(self.float_option("voltage_mv", 3300))
        if not 1800 <= self.voltage_mv <= 3300:
            raise ConfigError(f"LPM01A supplies 1800..3300 mV, not {self.voltage_mv}")
        self._port = None
        self._rate = 0
        self._samples: list[float] = []
        self._trigger: list[bool] = []
        self._level = False
        self._done = threading.Event()
        self._replies: list[str] = []
        self._reply = threading.Condition()
        self._reader: threading.Thread | None = None
        self._acquiring = False
        self._failure: str | None = None

    # -- line protocol -------------------------------------------------------------

    def _read_loop(self) -> None:
        assert self._port is not None
        buf = b""
        while self._port is not None:
            try:
                chunk = self._port.read(self._port.in_waiting or 1)
            except Exception as e:  # noqa: BLE001 - a vanished port ends the reader
                self._failure = f"serial port failed: {e}"
                self._done.set()
                with self._reply:
                    self._reply.notify_all()
                return
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                self._line(raw.decode(errors="replace").replace(PROMPT, "").strip())

    def _line(self, line: str) -> None:
        if not line:
            return
        m = SAMPLE.match(line)
        if m and self._acquiring:
            self._samples.append(int(m.group(1)) * 10.0 ** int(m.group(2)))
            self._trigger.append(self._level)
            return
        e = EVENT.match(line)
        if e:
            self._level = e.group(1) == "ris"
            return
        if line.startswith("TimeStamp"):
            return
        if "Acquisition completed" in line:
            self._acquiring = False
            self._done.set()
            return
        with self._reply:
            self._replies.append(line)
            self._reply.notify_all()

    def _command(self, cmd: str, timeout: float = 2.0) -> None:
        assert self._port is not None
        with self._reply:
            self._replies.clear()
        try:
            self._port.write((cmd + "\n").encode())
        except Exception as e:  # noqa: BLE001
            raise MeterError(f"{self.uri}: cannot send {cmd!r}: {e}") from e
        deadline = time.monotonic() + timeout
        with self._reply:
            while True:
                for i, line in enumerate(self._replies):
                    if line.startswith("ack") and cmd.split()[0] in line:
                        return
                    if line.startswith("error"):
                        detail = next((r.split(":", 1)[1].strip() for r in self._replies[i:]
                                       if r.startswith("Error detail")), "")
                        if not detail and time.monotonic() < deadline:
                            break  # the detail line follows
                        raise MeterError(f"LPM01A answered an error to {cmd!r}: "
                                         f"{detail or line}")
                left = deadline - time.monotonic()
                if left <= 0 or self._failure:
                    raise MeterError(f"LPM01A on {self.address} did not answer {cmd!r}"
                                     + (f" ({self._failure})" if self._failure else ""))
                self._reply.wait(left)

    # -- Meter -------------------------------------------------------------------

    def open(self) -> None:
        import serial

        try:
            self._port = serial.Serial(self.address, self.baud, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as e:
            raise MeterError(f"meter {self.address} not found ({e}): is the LPM01A plugged "
                             f"in?") from e
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._command("htc")

    def configure(self, sample_rate: float | None, duration: float | None) -> float:
        rate = int(sample_rate or 5_000)
        if rate not in FREQS:
            raise ConfigError(f"the LPM01A samples at {', '.join(map(str, FREQS))} Hz, not "
                              f"{rate}")
        if rate > 20_000:
            raise ConfigError("the LPM01A's ascii format samples at 20 kHz at most (faster "
                              "needs its bin_hexa format, not supported)")
        limit = ASCII_LIMIT_S.get(rate)
        if limit is not None and (duration is None or duration > limit):
            raise ConfigError(f"at {rate} Hz the LPM01A records at most {limit:g} s in ascii "
                              f"format: give a duration up to that, or 5000 Hz or less")
        for cmd in ("format ascii_dec", "output current", "acqmode dyn",
                    f"volt {self.voltage_mv}m", f"freq {_freq_arg(rate)}",
                    f"acqtime {0 if duration is None else f'{duration:g}'}", "trigsrc sw",
                    f"eventsrc d7 {self.edge}"):
            self._command(cmd)
        self._rate = rate
        self._duration = duration
        return float(rate)

    def start(self) -> None:
        self._samples, self._trigger, self._level = [], [], False
        self._done.clear()
        self._acquiring = True
        self._command("start")

    def stop(self, timeout: float = 5.0) -> None:
        if not self._done.is_set():
            if self._duration is not None:
                # A finite acquisition ends itself; wait for it first.
                self._done.wait(self._duration + timeout)
            if not self._done.is_set():
                assert self._port is not None
                self._port.write(b"stop\n")
                self._done.wait(timeout)
        if self._failure:
            raise MeterError(f"LPM01A on {self.address}: {self._failure}")
        if not self._done.is_set():
            raise MeterError(f"LPM01A on {self.address} did not end the acquisition")

    def read(self) -> Trace:
        cur = np.array(self._samples, dtype=np.float64)
        return Trace(sample_rate=float(self._rate), current_a=cur,
                     voltage_v=np.full(len(cur), self.voltage_mv / 1000),
                     trigger=np.array(self._trigger, dtype=bool), meter=self.uri,
                     range_a=DYN_RANGE_A)

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.write(b"hrc\n")
                port.close()
            except Exception:  # noqa: BLE001 - closing a dead link must not mask the cause
                pass

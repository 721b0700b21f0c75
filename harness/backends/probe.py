"""A real board behind its SWD debug probe (ST-LINK, DAPLink, J-Link),
flashed with pyOCD (harness/flash/pyocd_flash.py); the link is the board's
serial port, found from the probe's USB identity.

Counts are core cycles: the firmware reads DWT CYCCNT around the
inference (or SysTick clocked at the core clock, also one tick per cycle
on silicon), so latency = cycles / f_clk is a measurement.

Which probe and port: BENCH_PROBE (a unique id) and BENCH_PORT in the
environment for 'bench run'; 'bench flash' takes --probe and --port.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.backends.base import Backend, Count, Session
from harness.boards import Board
from harness.errors import BackendError, BenchError
from harness.flash import pyocd_flash
from harness.flash.image import check_fits

CYCLE_TIMERS = ("dwt_cycles", "systick")


class BoardSession(Session):
    """A flashed board: nothing runs on the host but its serial port."""

    def __init__(self, url: str, baudrate: int, what: str) -> None:
        self.url = url
        self.baudrate = baudrate
        self.what = what

    def alive(self) -> bool:
        return not self.url.startswith("/dev/") or os.path.exists(self.url)

    def why_dead(self) -> str:
        state = "present" if self.alive() else "gone (unplugged?)"
        return f"{self.what}; serial port {self.url} {state}"

    def close(self) -> None:
        pass  # the board keeps running; the link closes its own port


def cycles(board: Board, raw: int, timer_kind: str) -> Count:
    if timer_kind in CYCLE_TIMERS:
        return Count(value=raw, kind="cycles", raw=raw)
    raise BackendError(f"firmware timer {timer_kind!r} does not count cycles on {board.name}: "
                       f"rebuild it for the real board")


class ProbeBackend(Backend):
    name = "probe"
    description = "real board through its SWD debug probe (pyOCD), DWT cycle counts"
    link = "uart"

    def __init__(self, probe_id: str | None = None, port: str | None = None) -> None:
        self.probe_id = probe_id or os.environ.get("BENCH_PROBE") or None
        self.port = port or os.environ.get("BENCH_PORT") or None
        self._flashed: tuple[str, str] | None = None  # (probe id, ELF digest) on the board now
        self.last_flash: pyocd_flash.Flashed | None = None

    def available(self) -> tuple[bool, str]:
        try:
            probes = pyocd_flash.list_probes()
        except BenchError as e:
            return False, str(e)
        if not probes:
            return False, "no debug probe attached (connect the board's ST-LINK / DAPLink USB)"
        return True, f"{len(probes)} probe(s): {', '.join(p.unique_id for p in probes)}"

    def supports(self, board: Board) -> bool:
        return bool(board.pyocd_target)

    def start(self, board: Board, elf: Path, link: str,
              progress: pyocd_flash.Progress | None = None) -> Session:
        if link != "uart":
            raise BackendError(f"a real board talks over its UART, not the {link!r} link: "
                               f"build with --backend probe")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        check_fits(elf, board)
        probe = pyocd_flash.choose_probe(pyocd_flash.list_probes(), self.probe_id)
        pyocd_flash.check_target(board)
        port = self.port or pyocd_flash.serial_port_for(probe)
        key = (probe.unique_id, pyocd_flash.elf_digest(elf))
        if self._flashed == key:
            pyocd_flash.reset(board, probe)  # a restart: same firmware, fresh state
        else:
            self.last_flash = pyocd_flash.flash_elf(board, elf, probe, progress)
            self._flashed = key
        return BoardSession(port, board.baud, f"{board.name} via probe {probe.unique_id}")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        return cycles(board, raw, timer_kind)

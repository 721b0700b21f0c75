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
from collections.abc import Sequence
from pathlib import Path

from harness.backends.base import Backend, Count, FlashProgress, Options, Session
from harness.boards import Board
from harness.checks import Check, package
from harness.errors import BackendError, BenchError
from harness.flash import pyocd_flash
from harness.flash.image import check_fits
from harness.flash.ports import serial_ports
from harness.kinds import CountKind, LinkKind

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
        return Count(value=raw, kind=CountKind.CYCLES, raw=raw)
    raise BackendError(f"firmware timer {timer_kind!r} does not count cycles on {board.name}: "
                       f"rebuild it for the real board")


def usb_serial_check() -> Check:
    """The USB serial ports attached now (boards, adapters, meters)."""
    ports = serial_ports()
    usb = [p for p in ports if p.vid is not None]
    # Built-in UARTs without a device behind them (/dev/ttyS0 "n/a") are noise here.
    others = [p.device for p in ports if p.vid is None and p.description != "n/a"]
    listing = [p.line() for p in usb] + [f"{d} (not USB)" for d in others]
    return Check("serial ports (USB)", bool(usb), "; ".join(listing) or
                 "none: plug in the board (Nucleo: its ST-LINK USB; SparkFun Edge: a 3.3 V "
                 "USB-serial adapter) or a meter (PPK2, LPM01A); Linux users need the "
                 "dialout group", required=False)


class ProbeBackend(Backend):
    name = "probe"
    title = "SWD probe (pyOCD)"
    description = "real board through its SWD debug probe (pyOCD), DWT cycle counts"
    link = LinkKind.UART
    Facts = pyocd_flash.PyocdTarget

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        self.probe_id = self.options.probe or os.environ.get("BENCH_PROBE") or None
        self.port = self.options.port or os.environ.get("BENCH_PORT") or None
        self._flashed: tuple[str, str] | None = None  # (probe id, ELF digest) on the board now
        self.last_flash: pyocd_flash.Flashed | None = None

    def options_used(self) -> tuple[str, ...]:
        return ("probe", "port")

    def available(self) -> tuple[bool, str]:
        try:
            probes = pyocd_flash.list_probes()
        except BenchError as e:
            return False, str(e)
        if not probes:
            return False, "no debug probe attached (connect the board's ST-LINK / DAPLink USB)"
        return True, f"{len(probes)} probe(s): {', '.join(p.unique_id for p in probes)}"

    def checks(self, boards: Sequence[Board] = ()) -> list[Check]:
        out = [package("pyocd", required=False,
                       hint=f"real boards over SWD: {pyocd_flash.INSTALL_HINT}")]
        try:
            probes = pyocd_flash.list_probes()
            out.append(Check("debug probes (pyOCD)", bool(probes), "; ".join(
                p.line() for p in probes) or "none attached: plug in the board's ST-LINK / "
                "DAPLink USB (Linux: install the probe's udev rules); 'bench flash --probe ID' "
                "picks one", required=False))
        except BenchError as e:
            out.append(Check("debug probes (pyOCD)", False, str(e), required=False))
        out.append(usb_serial_check())
        return out

    def start(self, board: Board, elf: Path, link: str,
              progress: FlashProgress | None = None) -> Session:
        if link != LinkKind.UART:
            raise BackendError(f"a real board talks over its UART, not the {link!r} link: "
                               f"build with --backend probe")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        check_fits(elf, board)
        target = self.facts(board)
        probe = pyocd_flash.choose_probe(pyocd_flash.list_probes(), self.probe_id)
        pyocd_flash.check_target(board, target)
        port = self.port or pyocd_flash.serial_port_for(probe)
        key = (probe.unique_id, pyocd_flash.elf_digest(elf))
        if self._flashed == key:
            pyocd_flash.reset(board, target, probe)  # a restart: same firmware, fresh state
        else:
            self.last_flash = pyocd_flash.flash_elf(board, target, elf, probe, progress)
            self._flashed = key
        return BoardSession(port, board.baud, f"{board.name} via probe {probe.unique_id}")

    def flash(self, board: Board, elf: Path, progress: FlashProgress | None = None
              ) -> tuple[Session, str]:
        self._flashed = None  # bench flash always programs
        session = self.start(board, elf, LinkKind.UART, progress)
        done = self.last_flash
        assert done is not None
        return session, (f"programmed {done.bytes_programmed:,} bytes through probe "
                         f"{done.probe.unique_id} ({self.facts(board).target}), verified "
                         f"{done.verified_bytes:,}")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        return cycles(board, raw, timer_kind)

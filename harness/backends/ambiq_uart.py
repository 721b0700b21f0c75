"""An Ambiq Apollo3 board (SparkFun Edge) flashed over its UART through the
secure bootloader (harness/flash/ambiq_wired.py), no debug probe needed.
The same UART then carries the link. Counts are core cycles (DWT), as on
any real board.

Which port: BENCH_PORT for 'bench run' (else the only USB-serial adapter
attached); 'bench flash' takes --port and --boot-entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.backends.base import Backend, Count, Session
from harness.backends.probe import BoardSession, cycles
from harness.boards import Board
from harness.errors import BackendError, ConfigError
from harness.flash import ambiq_wired
from harness.flash.image import check_fits, load_image, rom_limit
from harness.flash.ports import adapter_port, serial_ports


def load_address(board: Board) -> int:
    return int(board.extra.get("load_address", ambiq_wired.LOAD_ADDRESS))


class AmbiqUartBackend(Backend):
    name = "ambiq-uart"
    description = "Apollo3 board over its UART: Ambiq secure bootloader, DWT cycle counts"
    link = "uart"

    def __init__(self, port: str | None = None, boot_entry: str | None = None,
                 connect_s: float = 30.0) -> None:
        self.port = port or os.environ.get("BENCH_PORT") or None
        self.boot_entry = boot_entry
        self.connect_s = connect_s
        self.last_flash: ambiq_wired.WiredResult | None = None

    def available(self) -> tuple[bool, str]:
        ports = serial_ports()
        if not ports:
            return False, "no serial port found: connect the board's USB-serial adapter"
        return True, f"serial ports: {', '.join(p.device for p in ports)}"

    def supports(self, board: Board) -> bool:
        return board.part.upper().startswith("AMA3") or "ambiq-uart" in board.backends

    def entry(self, board: Board) -> str:
        return self.boot_entry or str(board.extra.get("boot_entry", "button"))

    def start(self, board: Board, elf: Path, link: str,
              progress: ambiq_wired.Progress | None = None) -> Session:
        if link != "uart":
            raise BackendError(f"the Ambiq bootloader path talks over the UART, not the {link!r} "
                               f"link")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        check_fits(elf, board)
        address = load_address(board)
        image = load_image(elf, max_span=rom_limit(board))
        if image.base != address:
            raise ConfigError(f"{elf.name} is linked at 0x{image.base:x}; the Ambiq bootloader "
                              f"installs applications at 0x{address:x}: build it for "
                              f"{board.name}")
        port = adapter_port(self.port)
        baud = int(board.extra.get("bootloader_baud", board.baud))
        self.last_flash = ambiq_wired.flash_app(
            port, image.data, baud=baud, entry=self.entry(board), load_address=address,
            connect_s=self.connect_s, progress=progress)
        return BoardSession(port, board.baud, f"{board.name} on {port}")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        return cycles(board, raw, timer_kind)

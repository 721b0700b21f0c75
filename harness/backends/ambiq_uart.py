"""An Ambiq Apollo3 board (SparkFun Edge) flashed over its UART through the
secure bootloader (harness/flash/ambiq_wired.py), no debug probe needed.
The same UART then carries the link. Counts are core cycles (DWT), as on
any real board.

Which port: BENCH_PORT for 'bench run' (else the only USB-serial adapter
attached); 'bench flash' takes --port and --boot-entry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend, Count, FlashProgress, Options, Session
from harness.backends.probe import BoardSession, cycles, usb_serial_check
from harness.boards import Board
from harness.checks import Check
from harness.errors import BackendError, ConfigError
from harness.flash import ambiq_wired
from harness.flash.image import check_fits, load_image
from harness.flash.ports import ADAPTER_VENDORS, adapter_port, serial_ports
from harness.kinds import LinkKind

BOOT_ENTRIES = ("button", "lines")
CONNECT_S = 30.0  # how long the user has to put the board in its bootloader


@dataclass(frozen=True)
class AmbiqFacts:
    """A board's [ambiq-uart] table."""

    boot_entry: str = "button"  # Edge v1: hold button 14, press reset; v2/Artemis: "lines"
    bootloader_baud: int | None = None  # default: the board's baud


class AmbiqUartBackend(Backend):
    name = "ambiq-uart"
    title = "Ambiq UART bootloader"
    description = "Apollo3 board over its UART: Ambiq secure bootloader, DWT cycle counts"
    link = LinkKind.UART
    Facts = AmbiqFacts

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(options)
        self.port = self.options.port or os.environ.get("BENCH_PORT") or None
        self.connect_s = CONNECT_S
        self.last_flash: ambiq_wired.WiredResult | None = None

    def options_used(self) -> tuple[str, ...]:
        return ("port", "boot_entry")

    def available(self) -> tuple[bool, str]:
        adapters = [p for p in serial_ports() if p.vid in ADAPTER_VENDORS]
        if not adapters:
            return False, ("no USB-serial adapter (CH340, FTDI, CP210x): connect the board's "
                           "adapter")
        return True, f"USB-serial adapters: {', '.join(p.device for p in adapters)}"

    def checks(self, boards: Sequence[Board] = ()) -> list[Check]:
        return [usb_serial_check()]

    def entry(self, board: Board) -> str:
        entry = self.options.boot_entry or self.facts(board).boot_entry
        if entry not in BOOT_ENTRIES:
            raise ConfigError(f"boot entry {entry!r} is not one of {', '.join(BOOT_ENTRIES)}")
        return str(entry)

    def start(self, board: Board, elf: Path, link: str,
              progress: FlashProgress | None = None) -> Session:
        if link != LinkKind.UART:
            raise BackendError(f"the Ambiq bootloader path talks over the UART, not the {link!r} "
                               f"link")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        check_fits(elf, board)
        image = load_image(elf, max_span=board.rom_bytes)
        if image.base != board.load_address:
            raise ConfigError(f"{elf.name} is linked at 0x{image.base:x}; the Ambiq bootloader "
                              f"installs applications at 0x{board.load_address:x}: build it for "
                              f"{board.name}")
        port = adapter_port(self.port)
        facts: AmbiqFacts = self.facts(board)
        self.last_flash = ambiq_wired.flash_app(
            port, image.data, baud=facts.bootloader_baud or board.baud, entry=self.entry(board),
            load_address=board.load_address, connect_s=self.connect_s,
            progress=(lambda done, total: progress(done / total)) if progress else None)
        return BoardSession(port, board.baud, f"{board.name} on {port}")

    def flash(self, board: Board, elf: Path, progress: FlashProgress | None = None
              ) -> tuple[Session, str]:
        session = self.start(board, elf, LinkKind.UART, progress)
        done = self.last_flash
        assert done is not None
        return session, (f"sent {done.image_bytes:,} bytes in {done.blocks} block(s) through "
                         f"the Ambiq bootloader (version 0x{done.status.version:x})"
                         + (f", {done.retried} resent" if done.retried else ""))

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        return cycles(board, raw, timer_kind)

"""What a flasher needs from an ELF: its bytes as they lie in flash, and
whether they fit the board.

The flash image is built from the ELF's PT_LOAD segments at their load
(physical) addresses, the same bytes ``objcopy -O binary`` gives: code,
constants and the initial values of .data. Gaps between segments are filled
with 0xFF, the value of erased flash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from harness.boards import Board
from harness.build.memory import memory_report
from harness.errors import BuildError, ConfigError


@dataclass(frozen=True)
class Segment:
    address: int  # load address (LMA)
    data: bytes


@dataclass(frozen=True)
class FlashImage:
    base: int  # lowest load address
    data: bytes  # contiguous from base, gaps filled with 0xFF
    segments: tuple[Segment, ...]


def load_image(elf: Path, max_span: int | None = None) -> FlashImage:
    try:
        with elf.open("rb") as f:
            segments = tuple(
                Segment(seg["p_paddr"], seg.data()[:seg["p_filesz"]])
                for seg in ELFFile(f).iter_segments()
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0)
    except (OSError, ELFError) as e:
        raise ConfigError(f"{elf} is not a readable ELF file: {e}") from e
    if not segments:
        raise ConfigError(f"{elf} has nothing to load (no PT_LOAD segment with bytes)")
    base = min(s.address for s in segments)
    end = max(s.address + len(s.data) for s in segments)
    if max_span is not None and end - base > max_span:
        raise BuildError(f"{elf} spans 0x{base:08x}..0x{end:08x} ({end - base:,} bytes), more "
                         f"than the {max_span:,} bytes of flash it may use")
    image = bytearray(b"\xff" * (end - base))
    for s in sorted(segments, key=lambda s: s.address):
        image[s.address - base:s.address - base + len(s.data)] = s.data
    return FlashImage(base, bytes(image), segments)


def check_fits(elf: Path, board: Board) -> None:
    """Refuse an ELF whose sections do not fit the board's flash or RAM."""
    try:
        m = memory_report(elf)
    except (OSError, ELFError) as e:
        raise ConfigError(f"{elf} is not a readable ELF file: {e}") from e
    limit = board.rom_bytes  # the application's share, from its load address on
    if m.rom_bytes > limit:
        raise BuildError(f"{elf.name} needs {m.rom_bytes:,} bytes of flash, {board.name} has "
                         f"{limit:,} for the application: it does not fit")
    ram = m.ram_bytes + m.stack_reserved_bytes
    if ram > board.ram_bytes:
        raise BuildError(f"{elf.name} needs {ram:,} bytes of RAM (static {m.ram_bytes:,} + stack "
                         f"{m.stack_reserved_bytes:,}), {board.name} has {board.ram_bytes:,}: "
                         f"it does not fit")

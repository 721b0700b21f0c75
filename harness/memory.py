"""ROM and RAM from the ELF's section headers, the same way for every engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

STACK_SECTION = ".stack"


@dataclass(frozen=True)
class MemoryReport:
    rom_bytes: int  # flash: code, constants (weights), vector table, .data's load image
    ram_bytes: int  # static RAM: .data + .bss (buffers, arena); stack not included
    stack_reserved_bytes: int  # the stack region the linker script sets aside
    sections: dict[str, int]


def memory_report(elf: Path) -> MemoryReport:
    rom = ram = stack = 0
    sections: dict[str, int] = {}
    with elf.open("rb") as f:
        for sec in ELFFile(f).iter_sections():
            flags = sec["sh_flags"]
            size = sec["sh_size"]
            if not flags & SH_FLAGS.SHF_ALLOC or size == 0:
                continue
            sections[sec.name] = size
            if sec.name == STACK_SECTION:
                stack += size
            elif sec["sh_type"] == "SHT_NOBITS":
                ram += size
            elif flags & SH_FLAGS.SHF_WRITE:
                ram += size
                rom += size  # initial values live in flash
            else:
                rom += size
    return MemoryReport(rom_bytes=rom, ram_bytes=ram, stack_reserved_bytes=stack,
                        sections=sections)

"""ROM and RAM from the ELF's section headers, the same way for every engine.

With the linker map, the same bytes are split by component: ``model`` (the
generated code and weights), ``kernels`` (the engine's library), ``runtime``
(protocol, link, board support: identical for every engine) and ``libc``
(toolchain libraries). Engines are compared on model + kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
    # component -> {"rom": bytes, "ram": bytes} (see the module docstring)
    components: dict[str, dict[str, int]] = field(default_factory=dict)

    def engine_bytes(self) -> tuple[int, int] | None:
        """(ROM, static RAM) of model + kernels: what differs between engines."""
        if not self.components:
            return None
        parts = [self.components.get(c, {}) for c in ("model", "kernels")]
        return sum(p.get("rom", 0) for p in parts), sum(p.get("ram", 0) for p in parts)


# An input section in the map: " .text.name  0xADDR  0xSIZE  /path/file.o" (the
# name may sit alone on the line before when it is long).
_INPUT = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_OUTPUT = re.compile(r"^(\.\S+)")


def components_from_map(map_file: Path, objects: dict[str, str],
                        kinds: dict[str, str]) -> dict[str, dict[str, int]]:
    """Bytes per component from a GNU ld map; ``objects`` maps object file
    names to components, anything else (archives) is ``libc``; ``kinds``
    says which output sections are "rom", "ram" (.bss) or "data" (both)."""
    text = map_file.read_text(errors="replace")
    start = text.find("Linker script and memory map")
    out: dict[str, dict[str, int]] = {}
    section = ""
    pending = None
    for line in text[start:].splitlines():
        head = _OUTPUT.match(line)
        if head:
            section = head.group(1)
            continue
        if line.startswith(" ") and len(line.split()) == 1 and line.strip().startswith("."):
            pending = line.strip()
            continue
        m = _INPUT.match(line)
        if not m or section not in kinds:
            pending = None
            continue
        name = m.group(1) or pending
        pending = None
        size = int(m.group(3), 16)
        if not name or name.startswith("*") or size == 0 or int(m.group(2), 16) == 0:
            continue
        obj = Path(m.group(4).split("(")[0].strip()).name
        component = objects.get(obj, "libc")
        slot = out.setdefault(component, {"rom": 0, "ram": 0})
        kind = kinds[section]
        if kind in ("ram", "data"):
            slot["ram"] += size
        if kind in ("rom", "data"):
            slot["rom"] += size
    return out


def memory_report(elf: Path, map_file: Path | None = None,
                  objects: dict[str, str] | None = None) -> MemoryReport:
    rom = ram = stack = 0
    sections: dict[str, int] = {}
    kinds: dict[str, str] = {}
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
                kinds[sec.name] = "ram"
            elif flags & SH_FLAGS.SHF_WRITE:
                ram += size
                rom += size  # initial values live in flash
                kinds[sec.name] = "data"
            else:
                rom += size
                kinds[sec.name] = "rom"
    components = {}
    if map_file is not None and objects is not None and map_file.exists():
        components = components_from_map(map_file, objects, kinds)
    return MemoryReport(rom_bytes=rom, ram_bytes=ram, stack_reserved_bytes=stack,
                        sections=sections, components=components)

"""Small real ELFs (arm-none-eabi-gcc) and board facts for the flashing tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends import get_board
from harness.boards import Board

CC = "arm-none-eabi-gcc"
needs_cc = pytest.mark.skipif(shutil.which(CC) is None, reason=f"{CC} not installed")


def skip_without_cc() -> None:
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} not installed")

APP_C = """
const unsigned char payload[PAYLOAD] = {1, 2, 3, 4, 5, 6, 7, 8};
unsigned int counter = 7;
void Reset_Handler(void) { for (;;) { counter += payload[counter & 7]; } }
"""

# .data's initial values are loaded in flash after the code, as in a real image.
LD = """
MEMORY { FLASH (rx) : ORIGIN = ADDRESS, LENGTH = 4M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { *(.text*) *(.rodata*) } > FLASH
  .data : { *(.data*) } > RAM AT > FLASH
  .bss : { *(.bss*) } > RAM
}
"""


def tiny_elf(tmp: Path, address: int, payload: int = 4096, name: str = "app") -> Path:
    """A Cortex-M4 ELF whose code starts at ``address``, with ``payload``
    bytes of constants (and 4 bytes of .data)."""
    src = tmp / f"{name}.c"
    src.write_text(APP_C)
    ld = tmp / f"{name}.ld"
    ld.write_text(LD.replace("ADDRESS", f"0x{address:x}"))
    elf = tmp / f"{name}.elf"
    subprocess.run([CC, "-mcpu=cortex-m4", "-mthumb", "-O1", "-nostdlib", f"-DPAYLOAD={payload}",
                    "-T", str(ld), "-o", str(elf), str(src)], check=True, capture_output=True)
    return elf


def apollo3_board() -> Board:
    """The SparkFun Edge's facts as boards/apollo3/board.toml states them."""
    return get_board("apollo3")

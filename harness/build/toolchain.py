"""The Arm GNU toolchain (Debian's gcc-arm-none-eabi 12.2)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

from harness.errors import ToolMissingError

CC = "arm-none-eabi-gcc"
INSTALL_HINT = ("install it with 'make setup' (apt-get install gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi)")

# Shared by every board and engine, so numbers are comparable.
CFLAGS = ("-O2", "-g", "-std=c99", "-Wall", "-Wextra", "-ffunction-sections",
          "-fdata-sections", "-fno-common")
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections")


def compiler() -> str:
    exe = shutil.which(CC)
    if exe is None:
        raise ToolMissingError(f"{CC} not found; {INSTALL_HINT}")
    return exe


@cache
def compiler_version() -> str:
    out = subprocess.run([compiler(), "-dumpfullversion"], capture_output=True, text=True,
                         check=False)
    return f"{CC} {out.stdout.strip()}"

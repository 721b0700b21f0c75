"""The Arm GNU toolchain (Debian's gcc-arm-none-eabi 12.2)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from harness.errors import ToolMissingError

CC = "arm-none-eabi-gcc"
CXX = "arm-none-eabi-g++"
INSTALL_HINT = ("install it with 'make setup' (apt-get install gcc-arm-none-eabi "
                "libnewlib-arm-none-eabi)")
CXX_HINT = ("C++ sources (a TFLM build) need the cross C++ library: apt-get install "
            "libstdc++-arm-none-eabi-newlib")
CXX_SUFFIXES = (".cc", ".cpp", ".cxx")

# Shared by every board and engine, so numbers are comparable.
CFLAGS = ("-O2", "-g", "-std=c99", "-Wall", "-Wextra", "-ffunction-sections",
          "-fdata-sections", "-fno-common")
# C++ (a peer's sources, e.g. TFLM): the same code generation, plus what an
# embedded C++ build without a heap needs, as TFLM's own Makefile sets it.
CXXFLAGS = ("-O2", "-g", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter",
            "-ffunction-sections", "-fdata-sections", "-fno-common", "-fno-exceptions",
            "-fno-rtti", "-fno-threadsafe-statics", "-fno-unwind-tables",
            "-fno-asynchronous-unwind-tables", "-fno-use-cxa-atexit")
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


def is_cxx(source: Path) -> bool:
    return source.suffix in CXX_SUFFIXES


def cxx_compiler() -> str:
    """arm-none-eabi-g++, when the cross C++ library is installed too."""
    exe = shutil.which(CXX)
    if exe is None:
        raise ToolMissingError(f"{CXX} not found; {INSTALL_HINT}")
    if not has_cxx_library(exe):
        raise ToolMissingError(f"{CXX} has no C++ standard library (no <cstddef>); {CXX_HINT}")
    return exe


@cache
def has_cxx_library(exe: str) -> bool:
    """Whether ``exe`` finds <cstddef> (Debian's libstdc++-arm-none-eabi-newlib)."""
    proc = subprocess.run([exe, "-x", "c++", "-E", "-"], input="#include <cstddef>\n",
                          capture_output=True, text=True, check=False)
    return proc.returncode == 0

"""Compiling and running generated C in tests: the flags and tool checks in one place."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

HERE = Path(__file__).resolve().parent
GCC = shutil.which("gcc")
WARN = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
needs_gcc = pytest.mark.skipif(GCC is None, reason="host gcc not installed")
# End-to-end tests need the emulator and the cross compiler (make setup); they
# are the slow tier, marked `emulator` (`pytest -m "not emulator"` leaves them out).
needs_emulator = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not installed (make setup)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc not installed (make setup)"),
]
F = TypeVar("F", bound=Callable[..., object])


def emulator_test(fn: F) -> F:
    """needs_emulator for one test: ``@emulator_test``."""
    for mark in needs_emulator:
        fn = mark(fn)
    return fn


def run_ok(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, capture_output=True, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stderr.decode()}"
    return proc


def compile_objects(sources: list[Path], include_dirs: list[Path], out: Path) -> list[Path]:
    """Kernels plus tests/host_main.c, compiled for the host with -Werror."""
    assert GCC is not None
    objs = []
    for src in [*sources, HERE / "host_main.c"]:
        obj = out / (src.stem + ".o")
        run_ok([GCC, "-O2", *WARN, *(f"-I{d}" for d in include_dirs), "-c", str(src), "-o",
                str(obj)])
        objs.append(obj)
    return objs


def run_model(model_dir: Path, objs: list[Path], include_dirs: list[Path], n: int,
              inputs: bytes) -> bytes:
    """Build model_dir/model.c with the objects, feed it n inputs, return
    host_main's stdout (header + outputs)."""
    assert GCC is not None
    exe = model_dir / "model_host"
    run_ok([GCC, "-O2", *WARN, *(f"-I{d}" for d in include_dirs), f"-I{model_dir}", "-c",
            str(model_dir / "model.c"), "-o", str(model_dir / "model.o")])
    run_ok([GCC, "-o", str(exe), str(model_dir / "model.o"), *map(str, objs)])
    return run_ok([str(exe)], input=struct.pack("<I", n) + inputs).stdout

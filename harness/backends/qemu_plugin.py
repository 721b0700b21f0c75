"""Exact instruction counts on QEMU: bench's TCG plugin and its host side.

The plugin (firmware/qemu-plugin/bench_insn.c) is compiled with the host C
compiler on first use into build/qemu-plugin/, cached by a hash of its
sources, compiler and flags. QEMU loads it with the addresses of the
firmware's marker functions (bench_mark_start/stop/layer, read from the ELF
symbol table) and the path of a counts file; at every stop mark it appends
one line: sequence number, instructions between the marks, per-layer counts.
The line is flushed before the guest can send its RESULT, so the host reads
it after the reply arrives. Format: see the comment at the top of
bench_insn.c. The plugin also estimates the Cortex-M4 cycles of the same
instructions with the timing model it names in its first line
(firmware/qemu-plugin/cm4_timing.h): an estimate, stored beside the count.

``BENCH_QEMU_PLUGIN=0`` turns the plugin off (SysTick counts only);
``BENCH_QEMU_PLUGIN=/path/plugin.so`` loads that file instead of building.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import BinaryIO

from harness.backends.base import InsnCount
from harness.errors import BuildError, ProtocolError, ToolMissingError
from harness.paths import FIRMWARE, build_root

SOURCE_DIR = FIRMWARE / "qemu-plugin"
SOURCES = (SOURCE_DIR / "bench_insn.c", SOURCE_DIR / "qemu_plugin_api.h",
           SOURCE_DIR / "cm4_timing.h")
CFLAGS = ("-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-std=gnu11", "-Wall", "-Wextra")
MARKERS = ("bench_mark_start", "bench_mark_stop", "bench_mark_layer")
READY = "# bench_insn 2"  # then " timing=<the timing model>"
ENV = "BENCH_QEMU_PLUGIN"
SOURCE_NAME = "tcg_plugin"  # stored as the run's timer_kind when the plugin counted


class PluginUnavailable(Exception):
    """Why exact counts cannot be had here (a warning, not an error: runs
    fall back to SysTick counts)."""

    def __init__(self, message: str, deliberate: bool = False) -> None:
        super().__init__(message)
        self.deliberate = deliberate  # the user turned it off: nothing to warn about


def host_compiler() -> str:
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise ToolMissingError("no host C compiler (gcc) to build the QEMU plugin; "
                           "apt-get install gcc")


def build_plugin(out_dir: Path | None = None) -> Path:
    """Compile the plugin unless a build of the same sources exists; return the .so."""
    h = hashlib.sha256()
    for src in SOURCES:
        h.update(src.name.encode())
        h.update(src.read_bytes())
    h.update(repr(CFLAGS).encode())
    out_dir = out_dir or build_root() / "qemu-plugin"
    so = out_dir / f"bench_insn-{h.hexdigest()[:12]}.so"
    if so.exists():
        return so  # a cached build needs no compiler
    cc = host_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent runs never load half a file.
    fd, tmp = tempfile.mkstemp(prefix=".bench_insn-", suffix=".so", dir=out_dir)
    os.close(fd)
    proc = subprocess.run([cc, *CFLAGS, "-o", tmp, str(SOURCES[0])], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0 or proc.stderr.strip():
        Path(tmp).unlink(missing_ok=True)
        first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), "no output")
        raise BuildError(f"QEMU plugin build failed: {first.strip()}")
    os.replace(tmp, so)
    return so


def plugin_library() -> Path:
    """The plugin to load, or PluginUnavailable saying why there is none."""
    choice = os.environ.get(ENV, "").strip()
    if choice.lower() in ("0", "off", "no", "false"):
        raise PluginUnavailable(f"turned off by {ENV}={choice}", deliberate=True)
    if choice and choice.lower() not in ("1", "on", "yes", "true"):
        path = Path(choice)
        if not path.is_file():
            raise PluginUnavailable(f"{ENV}={choice} is not a file")
        return path
    try:
        return build_plugin()
    except (ToolMissingError, BuildError, OSError) as e:
        raise PluginUnavailable(str(e)) from e


@dataclass(frozen=True)
class Markers:
    start: int
    stop: int
    layer: int | None

    def plugin_args(self) -> list[str]:
        args = [f"start=0x{self.start:x}", f"stop=0x{self.stop:x}"]
        if self.layer is not None:
            args.append(f"layer=0x{self.layer:x}")
        return args


def find_markers(elf: Path) -> Markers:
    """Marker addresses from the ELF's symbol table (Thumb bit cleared)."""
    st = elf.stat()
    return _find_markers(str(elf), st.st_mtime_ns, st.st_size)


@cache
def _find_markers(path: str, _mtime_ns: int, _size: int) -> Markers:
    from elftools.elf.elffile import ELFFile

    found: dict[str, int] = {}
    with open(path, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if symtab is not None:
            for name in MARKERS:
                syms = symtab.get_symbol_by_name(name)  # type: ignore[attr-defined]
                if syms:
                    found[name] = syms[0]["st_value"] & ~1
    if "bench_mark_start" not in found or "bench_mark_stop" not in found:
        raise PluginUnavailable(f"{path} has no bench_mark_start/bench_mark_stop symbols "
                                f"(built before the markers existed? rebuild it)")
    return Markers(found["bench_mark_start"], found["bench_mark_stop"],
                   found.get("bench_mark_layer"))


class CountsFile:
    """The host's end of the plugin's counts file: reads lines as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: BinaryIO | None = None
        self._tail = b""
        self._last_seq = 0
        self.ready = False
        self._latest: InsnCount | None = None
        self._cycles: tuple[int, int, tuple[int, ...]] | None = None  # seq, total, layers
        self.timing_model: str | None = None  # named by the plugin's first line

    def plugin_arg(self) -> str:
        return f"out={self.path}"

    def _poll(self) -> None:
        if self._f is None:
            try:
                self._f = open(self.path, "rb")  # held open for the session
            except FileNotFoundError:
                return
        chunk = self._f.read()
        if not chunk:
            return
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()  # an unfinished line stays for the next read
        for raw in lines:
            line = raw.decode("ascii", "replace").strip()
            if line == READY or line.startswith(READY + " "):
                self.ready = True
                model = line.partition(" timing=")[2]
                self.timing_model = model.strip() or None
            elif line.startswith("C "):
                c = _parse_line(line)
                self._cycles = (c.seq, c.total, c.layers)
            elif line.startswith("R "):
                r = _parse_line(line)
                if self._cycles is not None and self._cycles[0] == r.seq:
                    r = replace(r, estimated_cycles=self._cycles[1],
                                layer_cycles=self._cycles[2], timing_model=self.timing_model)
                self._latest = r
            elif line.startswith("E "):
                raise ProtocolError(f"QEMU plugin: {line[2:]}")

    def wait_ready(self, alive: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Until the plugin says it is installed (True) or QEMU is gone (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._poll()
            if self.ready:
                return True
            if not alive():
                return False
            time.sleep(0.002)
        return False

    def take(self, timeout_s: float = 2.0) -> InsnCount:
        """The count of the inference whose reply just arrived: the newest line,
        which must be newer than the one taken before."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._poll()
            if self._latest is not None and self._latest.seq > self._last_seq:
                self._last_seq = self._latest.seq
                return self._latest
            if time.monotonic() > deadline:
                raise ProtocolError("the QEMU plugin wrote no count for the last inference")
            time.sleep(0.001)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _parse_line(line: str) -> InsnCount:
    parts = line.split()
    try:
        seq, total, n = int(parts[1]), int(parts[2]), int(parts[3])
        layers = tuple(int(v) for v in parts[4:])
    except (IndexError, ValueError) as e:
        raise ProtocolError(f"unreadable QEMU plugin line {line!r}") from e
    if len(layers) != n:
        raise ProtocolError(f"QEMU plugin line has {len(layers)} layer counts, says {n}")
    return InsnCount(seq=seq, total=total, layers=layers)

"""QEMU system emulation (qemu-system-arm 10, Debian bookworm-backports).

Runs with ``-icount shift=0,align=off,sleep=on``: each guest instruction
advances virtual time by 2^0 = 1 ns, so the board's SysTick, clocked at
f_clk, ticks f_clk / 1e9 times per instruction. Readings are identical run to
run; instructions = ticks * 1e9 / f_clk (resolution 1e9 / f_clk
instructions, 12.5 at 80 MHz). QEMU has no cycle model: this is an
instruction count, never a latency.

Exact counts: when bench's TCG plugin can be built and loaded
(qemu_plugin.py), every session also counts guest instructions between the
firmware's region markers, exactly, and per layer in -DBENCH_PER_LAYER
builds. The run then stores those (timer_kind "tcg_plugin"); without the
plugin it falls back to SysTick with a one-line warning.

The link: by default the firmware talks Arm semihosting, which QEMU maps to
its own stdin/stdout, here a pty the host opens with pyserial (bulk reads, a
few MB/s). The console UART works too (``--link uart``, a TCP socket) but
QEMU's STM32L4 USART model takes one byte per main-loop turn: about 40 KB/s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend, Count, InsnCount, Session
from harness.backends.process import EmulatorSession, start_on_free_port, temp_log, tool_version
from harness.backends.qemu_plugin import (
    SOURCE_NAME,
    CountsFile,
    PluginUnavailable,
    find_markers,
    plugin_library,
)
from harness.boards import Board
from harness.checks import Check, output
from harness.errors import BackendError, ToolMissingError
from harness.kinds import CountKind, LinkKind

QEMU = "qemu-system-arm"
ICOUNT = "shift=0,align=off,sleep=on"
ICOUNT_NS_PER_INSN = 1  # 2**shift
INSTALL_HINT = ("install QEMU 10 from bookworm-backports: run 'make setup' "
                "(scripts/install-system.sh)")


def qemu_version() -> str | None:
    return tool_version(QEMU)


_warned: set[str] = set()


def _warn_no_plugin(board: Board, why: str) -> None:
    """Once per reason and process: the run goes on with SysTick counts."""
    if why not in _warned:
        _warned.add(why)
        step = 1e9 / (board.clock_hz * ICOUNT_NS_PER_INSN)
        print(f"bench: warning: no exact instruction counts ({why}); counting SysTick ticks "
              f"instead ({step:g} instructions per tick)", file=sys.stderr)


@dataclass
class _Plugin:
    """One session's plugin: what to pass to QEMU and where counts arrive."""

    library: Path
    args: list[str]
    counts: CountsFile
    workdir: Path

    def qemu_args(self) -> list[str]:
        return ["-plugin", ",".join([f"file={self.library}", self.counts.plugin_arg(),
                                     *self.args])]

    def discard(self) -> None:
        self.counts.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class QemuSession(EmulatorSession):
    emulator = "QEMU"
    # A guest blocked in a semihosting read holds QEMU's big lock and ignores
    # SIGTERM, so do not wait long for it.
    stop_grace_s = 0.5

    def __init__(self, proc: subprocess.Popen, url: str, log: Path,
                 pty_fd: int | None = None, plugin: _Plugin | None = None) -> None:
        super().__init__(proc, url, log)
        self._pty_fd = pty_fd  # our hold on the pty, so it never hangs up under QEMU
        self.plugin = plugin
        self.count_source = SOURCE_NAME if plugin is not None else None

    def last_count(self) -> InsnCount | None:
        return None if self.plugin is None else self.plugin.counts.take()

    def release(self) -> None:
        if self._pty_fd is not None:
            os.close(self._pty_fd)
            self._pty_fd = None
        if self.plugin is not None:
            self.plugin.discard()


@dataclass(frozen=True)
class QemuFacts:
    """A board's [qemu] table."""

    machine: str  # QEMU's -M name of the emulated board
    serial_index: int  # which -serial is the console UART (0 = the first)


class QemuBackend(Backend):
    name = "qemu"
    title = "QEMU"
    description = "QEMU 10 system emulator, -icount (instruction counts, no cycle model)"
    emulator = True
    link = LinkKind.SEMIHOST
    links = (LinkKind.SEMIHOST, LinkKind.UART)
    Facts = QemuFacts

    def available(self) -> tuple[bool, str]:
        version = qemu_version()
        if version is None:
            return False, f"{QEMU} not found; {INSTALL_HINT}"
        major = int(version.split(".")[0]) if version[:1].isdigit() else 0
        if major < 9:
            return False, f"{QEMU} {version} lacks the STM32L4 board; {INSTALL_HINT}"
        return True, f"{QEMU} {version}"

    def checks(self, boards: Sequence[Board] = ()) -> list[Check]:
        ok, why = self.available()
        out = [Check(f"{QEMU} (>= 9, STM32L4 board)", ok, why)]
        if ok:
            machines = output([QEMU, "-M", "help"])
            for board in boards:
                machine = self.facts(board).machine
                have = machine in machines.split()
                out.append(Check(f"QEMU machine {machine}", have, "present" if have else
                                 "this QEMU lacks it: install QEMU 10 from bookworm-backports"))
        ok, why = self.exact_counter()  # builds the plugin if needed
        out.append(Check("QEMU plugin (exact instruction counts)", ok,
                         why if ok else f"{why}; runs fall back to SysTick counts",
                         required=False))
        return out

    def exact_counter(self) -> tuple[bool, str]:
        try:
            return True, f"TCG plugin {plugin_library().name}"
        except PluginUnavailable as e:
            return False, str(e)

    def _plugin(self, board: Board, elf: Path) -> _Plugin | None:
        """The plugin for one session, or None (warned) when it cannot be had."""
        try:
            library = plugin_library()
            markers = find_markers(elf)
        except PluginUnavailable as e:
            if not e.deliberate:
                _warn_no_plugin(board, str(e))
            return None
        workdir = Path(tempfile.mkdtemp(prefix="bench-qemu-"))
        plugin = _Plugin(library, markers.plugin_args(), CountsFile(workdir / "counts"), workdir)
        if "," in f"{library}{workdir}":
            plugin.discard()  # QEMU splits plugin options at commas
            _warn_no_plugin(board, f"a comma in the plugin or temporary path ({library}, "
                                   f"{workdir})")
            return None
        return plugin

    def _checked(self, board: Board, session: QemuSession,
                 restart: Callable[[], QemuSession]) -> QemuSession:
        """Wait until QEMU has loaded the plugin; if it could not, warn and
        start again without it (restart())."""
        if session.plugin is None or session.plugin.counts.wait_ready(session.alive):
            return session
        why = session.why_dead()
        session.close()
        _warn_no_plugin(board, f"QEMU did not load the plugin: {why}")
        return restart()

    def command(self, board: Board, elf: Path, link: str, port: int = 0,
                plugin: _Plugin | None = None) -> list[str]:
        """The QEMU command line. link "uart": the console UART on a TCP
        socket. link "semihost": QEMU's stdin/stdout carry the link, every
        -serial is null."""
        facts: QemuFacts = self.facts(board)
        # wait=on holds QEMU's start-up, plugin loading included, until the
        # host connects; with the plugin, let QEMU start so the host can see
        # the plugin loaded (the guest only talks after the host's HELLO).
        wait = "off" if plugin is not None else "on"
        serials: list[str] = []
        for i in range(facts.serial_index + 1):
            on_tcp = link == LinkKind.UART and i == facts.serial_index
            target = (f"tcp:127.0.0.1:{port},server=on,wait={wait},nodelay=on" if on_tcp
                      else "null")
            serials += ["-serial", target]
        extra = (["-semihosting-config", "enable=on,target=native"]
                 if link == LinkKind.SEMIHOST else [])
        return [QEMU, "-M", facts.machine, "-display", "none", "-monitor", "none",
                "-icount", ICOUNT, "-kernel", str(elf), *serials, *extra,
                *(plugin.qemu_args() if plugin is not None else [])]

    def start(self, board: Board, elf: Path, link: str) -> Session:
        ok, why = self.available()
        if not ok:
            raise ToolMissingError(why)
        if not self.supports(board):
            raise BackendError(f"board {board.name} has no QEMU machine")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        if link not in tuple(LinkKind):
            raise BackendError(f"QEMU cannot carry the {link!r} link")
        start = self._start_pty if link == LinkKind.SEMIHOST else self._start_tcp
        return self._checked(board, start(board, elf, self._plugin(board, elf)),
                             lambda: start(board, elf, None))

    def _start_pty(self, board: Board, elf: Path, plugin: _Plugin | None) -> QemuSession:
        # QEMU's stdin/stdout = the pty's master side; the host opens the
        # slave like any serial port (/dev/pts/N), through pyserial.
        master, slave = os.openpty()
        tty.setraw(slave)
        log = temp_log("bench-qemu-")
        try:
            with log.open("w") as err:
                proc = subprocess.Popen(self.command(board, elf, LinkKind.SEMIHOST, plugin=plugin),
                                        stdin=master, stdout=master, stderr=err)
        finally:
            os.close(master)
        return QemuSession(proc, os.ttyname(slave), log, pty_fd=slave, plugin=plugin)

    def _start_tcp(self, board: Board, elf: Path, plugin: _Plugin | None) -> QemuSession:
        def detach_plugin(session: QemuSession) -> None:
            session.plugin = None  # kept for the next attempt

        # A dead QEMU with the plugin goes back to _checked(), which retries
        # without the plugin.
        return start_on_free_port(
            "QEMU", lambda port: self.command(board, elf, LinkKind.UART, port, plugin=plugin),
            lambda proc, url, log: QemuSession(proc, url, log, plugin=plugin),
            keep_dead=lambda session: session.plugin is not None,
            before_retry=detach_plugin)

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        if timer_kind == "systick":
            insns = round(raw * 1e9 / (board.clock_hz * ICOUNT_NS_PER_INSN))
            return Count(value=insns, kind=CountKind.INSTRUCTIONS, raw=raw)
        raise BackendError(f"firmware timer {timer_kind!r} has no meaning under QEMU")

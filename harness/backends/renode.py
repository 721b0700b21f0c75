"""Renode (Antmicro's emulation framework), for the boards QEMU lacks.

Needs Renode >= 1.16.0: 1.15 sets the GE flags of SSUB8 and the other
parallel add/subtract instructions from overflow instead of "result >= 0"
(int8 max pooling then computes wrong outputs) and advances its cycle
counter in whole time quanta (counts rounded). ``available()`` refuses an
older Renode with that reason, so ``bench doctor`` and every run say it.

The session: Renode runs headless with its monitor on its own stdin
(``--console``), a pipe bench holds open, so no monitor socket is opened
(headless Renode otherwise listens on 0.0.0.0:1234, unauthenticated).
Closing the pipe quits Renode, which is also what happens when bench dies
however it dies. The script sets ``$elf`` and ``$repl``, includes the
board's ``renode/<board>.resc`` (machine, platform, ELF, vector table),
gives the console UART a pty (``emulation CreateUartPtyTerminal``: Renode's
socket terminal would listen on every interface) and starts. The host
speaks bench's protocol on the pty through pyserial, like QEMU's
semihosting link: Renode opens no TCP port at all.

The ``renode`` launcher is a shell script that runs mono or dotnet without
``exec``: Renode runs in a process group of its own and the whole group is
signalled when the session ends (harness/processes.py end_group).

Counts: Renode has no cycle model. Its DWT model counts virtual time at the
board clock, and the .resc sets ``PerformanceInMips`` to the clock in MHz, so
one instruction is one DWT "cycle": a reading is executed instructions
(CPI 1), stored as instructions, never as cycles. Any latency from it is an
estimate.

Checked against Renode 1.16.1 built from source (mono); CI, which has no
Renode, checks the command line, the script, the version refusal and the
process-group handling (tests/test_renode_backend.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.backends.base import Backend, Count, Session
from harness.backends.process import EmulatorSession, temp_log, tool_version
from harness.boards import Board
from harness.errors import BackendError, ToolMissingError
from harness.kinds import CountKind, LinkKind
from harness.paths import ROOT
from harness.processes import dies_with_us, end_group

RENODE = "renode"
MIN_VERSION = (1, 16, 0)
INSTALL_HINT = ("install Renode >= 1.16 (the release's linux-portable-dotnet.tar.gz on PATH; "
                "README 'Renode')")
TOO_OLD = ("before 1.16.0 Renode computes the GE flags of SSUB8 and the other parallel "
           "add/subtract instructions wrongly (int8 max pooling gives wrong outputs) and "
           "rounds its cycle counter to whole time quanta")
TERMINAL = "bench_console"
START_TIMEOUT_S = 60.0  # Renode's own start-up (the .NET runtime) takes a few seconds
RENODE_DIR = ROOT / "renode"
# .NET stack-frame lines ("   at Antmicro.Renode...", "--- End of inner exception
# stack trace ---"), mono's native frames ("  at <unknown> <0xffffffff>") and the
# monitor's own prompt and echo: none of them says what went wrong.
NOISE = re.compile(r"^\s*(at\s|--- |\(\w[\w-]*\)\s*$|\(\w[\w-]*\) i @)")
PROMPT = re.compile(r"\(\w[\w-]*\)")  # the monitor's prompt: "(monitor)", "(stm32l452)"


def renode_version() -> str | None:
    return tool_version(RENODE)


def version_problem(version: str | None) -> str | None:
    """Why this Renode cannot run bench, or None when it can."""
    if version is None:
        return f"{RENODE} not found; {INSTALL_HINT}"
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if found is None:
        return (f"{RENODE} did not say its version ('{RENODE} --version'): bench needs "
                f"Renode >= 1.16.0; {INSTALL_HINT}")
    if tuple(int(g or 0) for g in found.groups()) < MIN_VERSION:
        return f"{RENODE} {version} is too old: {TOO_OLD}; {INSTALL_HINT}"
    return None


class RenodeSession(EmulatorSession):
    emulator = "Renode"
    stop_grace_s = 3.0

    def __init__(self, proc: subprocess.Popen, url: str, log: Path, workdir: Path) -> None:
        super().__init__(proc, url, log)
        self.workdir = workdir
        self.pty_fd: int | None = None  # our hold on the pty, so it never hangs up

    def last_message(self) -> str:
        """Renode ends a failure with a .NET stack trace: the last line that
        is not a stack frame (or the monitor's prompt)."""
        return last_message(self.log)

    def release(self) -> None:
        if self.pty_fd is not None:
            os.close(self.pty_fd)
            self.pty_fd = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self) -> None:
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()  # end of input: Renode's monitor quits
        end_group(self.proc, self.stop_grace_s)
        self.release()
        self.log.unlink(missing_ok=True)


def last_message(log: Path) -> str:
    """The log's last line that is not a stack frame or the monitor's prompt."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip() and not NOISE.match(line):
            return line.strip()
    return ""


def _monitor_path(path: Path) -> str:
    """A path as Renode's monitor takes it (``@/abs/path``, no quoting)."""
    text = str(path.resolve())
    if any(c.isspace() for c in text) or '"' in text:
        raise BackendError(f"Renode cannot take a path with spaces or quotes: {text}")
    return f"@{text}"


@dataclass(frozen=True)
class RenodeFacts:
    """A board's [renode] table: our platform for it and its console."""

    platform: Path  # the .repl (renode/<board>.repl), relative to the repository
    uart: str  # the console UART's peripheral, e.g. "sysbus.usart2"


class RenodeBackend(Backend):
    name = "renode"
    title = "Renode"
    description = "Renode emulator, our platforms in renode/ (instruction counts, no cycle model)"
    emulator = True
    link = LinkKind.UART
    Facts = RenodeFacts

    def available(self) -> tuple[bool, str]:
        version = renode_version()
        problem = version_problem(version)
        if problem is not None:
            return False, problem
        return True, f"{RENODE} {version}"

    def script(self, board: Board, elf: Path, pty: Path) -> str:
        """The Renode script one session runs; the console UART appears as a
        pty at ``pty`` (a symlink Renode makes)."""
        facts: RenodeFacts = self.facts(board)
        resc = RENODE_DIR / f"{board.name}.resc"
        return "\n".join([
            f"# bench session: {board.name}, console {facts.uart} on a pty at {pty}",
            f"$elf={_monitor_path(elf)}",
            f"$repl={_monitor_path(facts.platform)}",
            f"include {_monitor_path(resc)}",
            f'emulation CreateUartPtyTerminal "{TERMINAL}" "{_monitor_path(pty)[1:]}"',
            f"connector Connect {facts.uart} {TERMINAL}",
            "start",
            "",
        ])

    def command(self, script: Path) -> list[str]:
        """Headless, the monitor on stdin (no monitor socket), the log on
        stdout without colours."""
        return [RENODE, "--disable-xwt", "--console", "--plain", str(script)]

    def start(self, board: Board, elf: Path, link: str) -> Session:
        ok, why = self.available()
        if not ok:
            raise ToolMissingError(why)
        if not self.supports(board):
            raise BackendError(f"board {board.name} has no Renode platform")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        if link != LinkKind.UART:
            raise BackendError(f"Renode carries only the UART link, not {link!r}; build with "
                               f"--link uart")
        # Not "renode-*": Renode deletes every /tmp/renode-* that is not a
        # running Renode's own temporary directory.
        workdir = Path(tempfile.mkdtemp(prefix="bench-rn-"))
        pty = workdir / "console"
        script = workdir / "session.resc"
        try:
            script.write_text(self.script(board, elf, pty))
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        log = temp_log("bench-rn-")
        try:
            with log.open("w") as out:
                # Its own process group (the launcher does not exec); stdin a
                # pipe we hold: its end quits Renode, even when we are killed.
                proc = subprocess.Popen(self.command(script), stdin=subprocess.PIPE,
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=dies_with_us())
        except OSError as e:
            log.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
            raise BackendError(f"Renode did not start: {e}") from e
        session = RenodeSession(proc, str(pty), log, workdir)
        try:
            self._wait_for_console(session, pty, script)
        except BaseException:
            session.close()
            raise
        return session

    @staticmethod
    def _wait_for_console(s: RenodeSession, pty: Path, script: Path) -> None:
        """Renode makes the pty when the script reaches that line; a script
        that fails before leaves Renode at its prompt, which the log shows."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not s.alive():
                raise BackendError(f"Renode did not start: {s.why_dead()}")
            if pty.exists():
                fd = os.open(pty, os.O_RDWR | os.O_NOCTTY)
                tty.setraw(fd)
                s.pty_fd = fd
                return
            failed = _script_error(s.log, script)
            if failed:
                raise BackendError(f"Renode did not start: {failed}")
            time.sleep(0.1)
        raise BackendError(f"Renode did not make the console within {START_TIMEOUT_S:g} s: "
                           f"{last_message(s.log) or 'no output'}")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        if timer_kind in ("dwt_cycles", "systick"):
            # DWT and SysTick tick at the board clock in virtual time, and the
            # .resc runs clock-MHz MIPS: one tick per executed instruction.
            return Count(value=raw, kind=CountKind.INSTRUCTIONS, raw=raw)
        raise BackendError(f"firmware timer {timer_kind!r} has no meaning under Renode")


def _script_error(log: Path, script: Path) -> str:
    """The monitor's error once it has given up on the session script: after
    the echo of ``i @script`` it prints what failed ("There was an error
    executing command ...", then why) and its prompt, "(machine) ", again."""
    try:
        lines = [ln.strip("\r ") for ln in log.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    echo = next((k for k, ln in enumerate(lines) if ln.endswith(f"i @{script}")), None)
    if echo is None or echo == len(lines) - 1 or not PROMPT.fullmatch(lines[-1]):
        return ""
    said = lines[echo + 1:-1]
    for k, line in enumerate(said):
        if line.startswith("There was an error"):
            why = said[k + 1] if k + 1 < len(said) else ""
            return f"{line}: {why}" if why and not why.startswith("There was") else line
    return "the session script stopped at the monitor's prompt"

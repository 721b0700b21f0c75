"""Renode (Antmicro's emulation framework), for the boards QEMU lacks.

The session: Renode runs headless on a generated script that sets ``$elf`` and
``$repl``, includes the board's ``renode/<board>.resc`` (machine, platform,
ELF, vector table), serves the board's console UART as a raw TCP socket
(``emulation CreateServerSocketTerminal PORT NAME false``: no telnet bytes)
and starts. The host speaks bench's protocol on ``socket://127.0.0.1:PORT``
exactly as with QEMU's UART link; process and port handling are shared
(process.py).

Counts: Renode has no cycle model. Its DWT model counts virtual time at the
board clock, and the .resc sets ``PerformanceInMips`` to the clock in MHz, so
one instruction is one DWT "cycle": a reading is executed instructions
(CPI 1), stored as instructions, never as cycles (SysTick, clocked the same
way, likewise). Any latency from it is an estimate.

Renode is not installable on the machine bench is developed on: this backend
is built against Renode's documented command line and monitor commands and
checked here only for the script it generates (tests/test_renode_backend.py);
.github/workflows/renode.yml runs it for real.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend, Count, Session
from harness.backends.process import EmulatorSession, start_on_free_port, tool_version
from harness.boards import Board
from harness.errors import BackendError, ToolMissingError
from harness.kinds import CountKind, LinkKind
from harness.paths import ROOT

RENODE = "renode"
INSTALL_HINT = "install Renode >= 1.15 (release .deb or portable build; README 'Renode')"
TERMINAL = "bench_console"
LISTEN_TIMEOUT_S = 60.0  # Renode's own start-up (the .NET runtime) takes a few seconds
RENODE_DIR = ROOT / "renode"


def renode_version() -> str | None:
    return tool_version(RENODE)


class RenodeSession(EmulatorSession):
    emulator = "Renode"
    stop_grace_s = 3.0

    def __init__(self, proc: subprocess.Popen, url: str, log: Path, script: Path) -> None:
        super().__init__(proc, url, log)
        self.script = script

    def release(self) -> None:
        self.script.unlink(missing_ok=True)


def _monitor_path(path: Path) -> str:
    """A path as Renode's monitor takes it (``@/abs/path``, no quoting)."""
    text = str(path.resolve())
    if any(c.isspace() for c in text) or '"' in text:
        raise BackendError(f"Renode cannot take a path with spaces or quotes: {text}")
    return f"@{text}"


def _port_listening(port: int) -> bool | None:
    """Whether something listens on 127.0.0.1:port (Linux /proc), None when
    the table is not there to ask."""
    found = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            if fields[1].rsplit(":", 1)[1] == f"{port:04X}" and fields[3] == "0A":
                return True
    return False if found else None


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
        if version is None:
            return False, f"{RENODE} not found; {INSTALL_HINT}"
        return True, f"{RENODE} {version}"

    def script(self, board: Board, elf: Path, port: int) -> str:
        """The Renode script one session runs."""
        facts: RenodeFacts = self.facts(board)
        resc = RENODE_DIR / f"{board.name}.resc"
        return "\n".join([
            f"# bench session: {board.name}, console {facts.uart} on TCP port {port}",
            f"$elf={_monitor_path(elf)}",
            f"$repl={_monitor_path(facts.platform)}",
            f"include {_monitor_path(resc)}",
            f'emulation CreateServerSocketTerminal {port} "{TERMINAL}" false',
            f"connector Connect {facts.uart} {TERMINAL}",
            "start",
            "",
        ])

    def command(self, script: Path) -> list[str]:
        """Headless, no GUI and no monitor socket; the log goes to stdout."""
        return [RENODE, "--disable-xwt", "--plain", "--port", "-1", str(script)]

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
        scripts: dict[int, Path] = {}

        def command(port: int) -> list[str]:
            fd, name = tempfile.mkstemp(prefix="bench-renode-", suffix=".resc")
            os.close(fd)
            path = Path(name)
            path.write_text(self.script(board, elf, port))
            scripts[port] = path
            return self.command(path)

        def session(proc: subprocess.Popen, url: str, log: Path) -> RenodeSession:
            return RenodeSession(proc, url, log, scripts[int(url.rsplit(":", 1)[1])])

        s = start_on_free_port("Renode", command, session)
        self._wait_listening(s)
        return s

    def _wait_listening(self, s: RenodeSession) -> None:
        """Renode opens the console socket only once its script has run."""
        port = int(s.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            if not s.alive():
                why = s.why_dead()
                s.close()
                raise BackendError(f"Renode did not start: {why}")
            listening = _port_listening(port)
            if listening is None:
                time.sleep(5.0)  # no /proc here: give Renode its usual start-up time
                return
            if listening:
                return
            time.sleep(0.1)
        s.close()
        raise BackendError(f"Renode did not open the console on port {port} within "
                           f"{LISTEN_TIMEOUT_S:g} s")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        if timer_kind in ("dwt_cycles", "systick"):
            # DWT and SysTick tick at the board clock in virtual time, and the
            # .resc runs clock-MHz MIPS: one tick per executed instruction.
            return Count(value=raw, kind=CountKind.INSTRUCTIONS, raw=raw)
        raise BackendError(f"firmware timer {timer_kind!r} has no meaning under Renode")

"""QEMU system emulation (qemu-system-arm 10, Debian bookworm-backports).

Runs with ``-icount shift=0,align=off,sleep=on``: each guest instruction
advances virtual time by 2^0 = 1 ns, so the board's SysTick, clocked at
f_clk, ticks f_clk / 1e9 times per instruction. Readings are identical run to
run; instructions = ticks * 1e9 / f_clk (resolution 1e9 / f_clk
instructions, 12.5 at 80 MHz). QEMU has no cycle model: this is an
instruction count, never a latency.

The link: by default the firmware talks Arm semihosting, which QEMU maps to
its own stdin/stdout, here a pty the host opens with pyserial (bulk reads, a
few MB/s). The console UART works too (``--link uart``, a TCP socket) but
QEMU's STM32L4 USART model takes one byte per main-loop turn: about 40 KB/s.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import tty
from pathlib import Path

from harness.backends.base import Backend, Count, Session
from harness.boards import Board
from harness.errors import BackendError, ToolMissingError

QEMU = "qemu-system-arm"
ICOUNT = "shift=0,align=off,sleep=on"
ICOUNT_NS_PER_INSN = 1  # 2**shift
INSTALL_HINT = ("install QEMU 10 from bookworm-backports: run 'make setup' "
                "(scripts/install-system.sh)")


def qemu_version() -> str | None:
    exe = shutil.which(QEMU)
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.split("version", 1)[-1].strip().split()[0] if "version" in first else first


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuSession(Session):
    def __init__(self, proc: subprocess.Popen, url: str, log: Path,
                 pty_fd: int | None = None) -> None:
        self.proc = proc
        self.url = url
        self.log = log
        self._pty_fd = pty_fd  # our hold on the pty, so it never hangs up under QEMU

    def alive(self) -> bool:
        return self.proc.poll() is None

    def why_dead(self) -> str:
        code = self.proc.poll()
        tail = ""
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            tail = lines[-1] if lines else ""
        except OSError:
            pass
        state = "running" if code is None else f"exited with code {code}"
        return f"QEMU {state}" + (f": {tail}" if tail else "")

    def close(self) -> None:
        if self.proc.poll() is None:
            # A guest blocked in a semihosting read holds QEMU's big lock and
            # ignores SIGTERM, so do not wait long for it.
            self.proc.terminate()
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pty_fd is not None:
            os.close(self._pty_fd)
            self._pty_fd = None
        self.log.unlink(missing_ok=True)


class QemuBackend(Backend):
    name = "qemu"
    description = "QEMU 10 system emulator, -icount (instruction counts, no cycle model)"
    link = "semihost"

    def available(self) -> tuple[bool, str]:
        version = qemu_version()
        if version is None:
            return False, f"{QEMU} not found; {INSTALL_HINT}"
        major = int(version.split(".")[0]) if version[:1].isdigit() else 0
        if major < 9:
            return False, f"{QEMU} {version} lacks the STM32L4 board; {INSTALL_HINT}"
        return True, f"{QEMU} {version}"

    def supports(self, board: Board) -> bool:
        return board.qemu is not None

    def command(self, board: Board, elf: Path, link: str, port: int = 0) -> list[str]:
        """The QEMU command line. link "uart": the console UART on a TCP
        socket. link "semihost": QEMU's stdin/stdout carry the link, every
        -serial is null."""
        assert board.qemu is not None
        serials: list[str] = []
        for i in range(board.qemu.serial_index + 1):
            on_tcp = link == "uart" and i == board.qemu.serial_index
            target = f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on" if on_tcp else "null"
            serials += ["-serial", target]
        extra = ["-semihosting-config", "enable=on,target=native"] if link == "semihost" else []
        return [QEMU, "-M", board.qemu.machine, "-display", "none", "-monitor", "none",
                "-icount", ICOUNT, "-kernel", str(elf), *serials, *extra]

    def start(self, board: Board, elf: Path, link: str) -> Session:
        ok, why = self.available()
        if not ok:
            raise ToolMissingError(why)
        if not self.supports(board):
            raise BackendError(f"board {board.name} has no QEMU machine")
        if not elf.exists():
            raise BackendError(f"firmware {elf} does not exist; run 'bench build' first")
        if link == "semihost":
            return self._start_pty(board, elf)
        if link != "uart":
            raise BackendError(f"QEMU cannot carry the {link!r} link")
        return self._start_tcp(board, elf)

    def _start_pty(self, board: Board, elf: Path) -> Session:
        # QEMU's stdin/stdout = the pty's master side; the host opens the
        # slave like any serial port (/dev/pts/N), through pyserial.
        master, slave = os.openpty()
        tty.setraw(slave)
        log = Path(tempfile.mkstemp(prefix="bench-qemu-", suffix=".log")[1])
        try:
            with log.open("w") as err:
                proc = subprocess.Popen(self.command(board, elf, "semihost"), stdin=master,
                                        stdout=master, stderr=err)
        finally:
            os.close(master)
        return QemuSession(proc, os.ttyname(slave), log, pty_fd=slave)

    def _start_tcp(self, board: Board, elf: Path) -> Session:
        for _attempt in range(5):
            port = _free_port()
            log = Path(tempfile.mkstemp(prefix="bench-qemu-", suffix=".log")[1])
            with log.open("w") as out:
                proc = subprocess.Popen(self.command(board, elf, "uart", port),
                                        stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT)
            session = QemuSession(proc, f"socket://127.0.0.1:{port}", log)
            # QEMU holds the guest until the link connects (wait=on); a quick
            # exit means it could not start (port taken, bad ELF).
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                return session
            reason = session.why_dead()
            session.close()
            if "in use" not in reason:
                raise BackendError(f"QEMU did not start: {reason}")
        raise BackendError("QEMU could not get a free TCP port after 5 tries")

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        if timer_kind == "systick":
            insns = round(raw * 1e9 / (board.clock_hz * ICOUNT_NS_PER_INSN))
            return Count(value=insns, kind="instructions", raw=raw)
        raise BackendError(f"firmware timer {timer_kind!r} has no meaning under QEMU")

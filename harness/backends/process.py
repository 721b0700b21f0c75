"""What the emulator backends share: an emulator process and its log, ended
with the session; for QEMU's UART link, a console on a TCP socket on
localhost, started on a free port.

QEMU and Renode both load the ELF themselves, serve the firmware's console
(QEMU's UART as a TCP server, pyserial URL ``socket://127.0.0.1:PORT``, or
semihosting on a pty; Renode's UART on a pty) and count in virtual time.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.backends.base import Session
from harness.errors import BackendError
from harness.processes import dies_with_us

PORT_TRIES = 5
VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")


def free_port() -> int:
    """A TCP port nobody listens on right now (the emulator binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_url(port: int) -> str:
    return f"socket://127.0.0.1:{port}"


def temp_log(prefix: str) -> Path:
    return Path(tempfile.mkstemp(prefix=prefix, suffix=".log")[1])


def tool_version(exe_name: str) -> str | None:
    """The first version number ``EXE --version`` prints ("10.0.2" from QEMU's
    "QEMU emulator version 10.0.2 (Debian ...)"); None when the tool is not
    on PATH."""
    exe = shutil.which(exe_name)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown version"
    found = VERSION.search(out.stdout + out.stderr)
    return found.group(0) if found else "unknown version"


def exit_state(code: int | None) -> str:
    """A process's return code in words: "is running but not answering",
    "was killed by SIGKILL", "exited with code 1"."""
    if code is None:
        return "is running but not answering"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name} (not running)"
        except ValueError:
            return f"was killed by signal {-code} (not running)"
    return f"exited with code {code}"


class EmulatorSession(Session):
    """An emulator process and its log; closing the session ends both."""

    emulator = "emulator"  # the name in messages: "QEMU", "Renode"
    stop_grace_s = 0.5

    def __init__(self, proc: subprocess.Popen, url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def why_dead(self, settle_s: float = 1.0) -> str:
        """What state the emulator is in, for a message. A process killed a
        moment ago has closed its end of the link before the kernel reports
        it gone: give it ``settle_s`` to be so, then say what is true."""
        code = self.proc.poll()
        if code is None and settle_s > 0:
            try:
                code = self.proc.wait(timeout=settle_s)
            except subprocess.TimeoutExpired:
                pass
        tail = self.last_message()
        return f"{self.emulator} {exit_state(code)}" + (f": {tail}" if tail else "")

    def last_message(self) -> str:
        """The log's last line that says something (here: its last line)."""
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def release(self) -> None:
        """What the session holds besides the process (files, descriptors)."""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.release()
        self.log.unlink(missing_ok=True)


S = TypeVar("S", bound=EmulatorSession)


def start_on_free_port(name: str, command: Callable[[int], list[str]],
                       session: Callable[[subprocess.Popen, str, Path], S],
                       settle_s: float = 0.05,
                       keep_dead: Callable[[S], bool] = lambda s: False,
                       before_retry: Callable[[S], None] = lambda s: None) -> S:
    """Start ``command(port)`` with its output in a log, on a fresh port.

    A quick exit means it could not start: a port taken meanwhile is retried
    (``before_retry`` first), anything else raises, unless ``keep_dead``
    wants the dead session back (to retry differently itself).
    """
    for _attempt in range(PORT_TRIES):
        port = free_port()
        log = temp_log(f"bench-{name.lower()}-")
        with log.open("w") as out:
            try:
                # The emulator dies with us, however we end (a sweep worker
                # killed by SIGKILL runs no cleanup).
                proc = subprocess.Popen(command(port), stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, preexec_fn=dies_with_us())
            except OSError as e:
                log.unlink(missing_ok=True)
                raise BackendError(f"{name} did not start: {e}") from e
        s = session(proc, socket_url(port), log)
        try:
            proc.wait(timeout=settle_s)
        except subprocess.TimeoutExpired:
            return s
        reason = s.why_dead()
        taken = "in use" in reason.lower()
        if not taken and keep_dead(s):
            return s
        if taken:
            before_retry(s)
        s.close()
        if not taken:
            raise BackendError(f"{name} did not start: {reason}")
    raise BackendError(f"{name} could not get a free TCP port after {PORT_TRIES} tries")

"""What every SCPI instrument simulator here shares: a TCP server on
127.0.0.1 (random port) for pyvisa-py's TCPIP::HOST::PORT::SOCKET resources,
newline-terminated commands (several per line with ';'), replies as text
lines or IEEE 488.2 definite-length blocks. A simulator subclasses it and
answers its own commands in ``_command``; the IEEE 488.2 common ones (*IDN?,
*CLS, *RST, SYST:ERR?) and the ``reject`` list are answered here.
"""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod
from typing import Self


def definite_block(data: bytes) -> bytes:
    """IEEE 488.2 definite-length arbitrary block: #<n><len><data>."""
    size = str(len(data)).encode()
    return b"#" + str(len(size)).encode() + size + data + b"\n"


class ScpiServer(ABC):
    commands: list[str]  # every command received, in order (tests read it)
    drop_on: str | None  # close the connection when this header arrives
    idn: str  # the *IDN? answer
    reject: tuple[str, ...]  # command headers answered with -222 Data out of range

    def _listen(self) -> None:
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(2)
        self.port: int = self._srv.getsockname()[1]
        self._errors: list[str] = []  # the SCPI error queue, oldest first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def resource(self) -> str:
        return f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def close(self) -> None:
        self._stop.set()
        try:  # close() alone does not wake a thread blocked in accept() on Linux
            self._srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._srv.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _command(self, head: str, arg: str) -> str | bytes | None:
        """The reply to one instrument command, header upper-cased (None: no
        reply); an unknown one queues -113 Undefined header."""

    def _handle(self, cmd: str) -> str | bytes | None:
        head, _, arg = cmd.partition(" ")
        h = head.upper()
        if any(h.startswith(r) for r in self.reject):
            self._errors.append('-222,"Data out of range"')
            return None
        if h == "*IDN?":
            return self.idn
        if h in ("*CLS", "*RST"):
            self._errors.clear()
            return None
        if h in ("SYST:ERR?", "SYSTEM:ERROR?"):
            return self._errors.pop(0) if self._errors else '+0,"No error"'
        return self._command(h, arg)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                for cmd in line.decode().split(";"):
                    cmd = cmd.strip()
                    if not cmd:
                        continue
                    self.commands.append(cmd)
                    if self.drop_on and cmd.upper().startswith(self.drop_on):
                        conn.close()
                        return
                    reply = self._handle(cmd)
                    if reply is not None:
                        conn.sendall(reply if isinstance(reply, bytes) else
                                     reply.encode() + b"\n")

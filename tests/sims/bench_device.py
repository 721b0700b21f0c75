"""A bench device on the far end of a pty: answers HELLO frames of the bench
protocol (framed with harness.link's own encoder) with a given HELLO_ACK
payload, or stays silent (hello_ack None) like a board that never booted."""

from __future__ import annotations

import os
import select
import struct
import threading
import tty

from harness.link import HELLO_ACK, MSG_HELLO, MSG_HELLO_ACK, PROTOCOL_VERSION, SYNC, frame


def hello_ack(board: str, build_id: bytes, model_hash: bytes = b"\x11" * 8,
              engine: str = "native", clock_hz: int = 48_000_000, timer: int = 1) -> bytes:
    """A HELLO_ACK payload as firmware/runtime/main.c sends it."""
    return HELLO_ACK.pack(PROTOCOL_VERSION, 0, 0, clock_hz, timer, 256, 40, 1024, 4096, 4096,
                          model_hash, build_id, board.encode(), engine.encode(), 512)


class FakeBenchDevice:
    def __init__(self, hello_ack_payload: bytes | None) -> None:
        self.payload = hello_ack_payload
        self.hellos = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            if not select.select([self._master], [], [], 0.02)[0]:
                continue
            try:
                buf += os.read(self._master, 4096)
            except OSError:
                return
            while (at := buf.find(SYNC)) >= 0 and len(buf) >= at + 12:
                msg_type, _flags, seq, length = struct.unpack_from("<BBHH", buf, at + 2)
                end = at + 12 + length
                if len(buf) < end:
                    break
                if msg_type == MSG_HELLO:
                    self.hellos += 1
                    if self.payload is not None:
                        os.write(self._master, frame(MSG_HELLO_ACK, seq, self.payload))
                del buf[:end]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> FakeBenchDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

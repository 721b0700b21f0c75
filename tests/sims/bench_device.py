"""Bench devices on the far end of a pty, framed with harness.link's own
encoder: one answers HELLO frames with a given HELLO_ACK payload, or stays
silent (hello_ack None) like a board that never booted; another follows a
script of replies to INFER, for the host's checks of what comes back."""

from __future__ import annotations

import os
import select
import struct
import threading
import tty
from collections.abc import Callable

from harness.link import (
    HELLO_ACK,
    MSG_HELLO,
    MSG_HELLO_ACK,
    MSG_INFER,
    PROTOCOL_VERSION,
    SYNC,
    Frame,
    FrameDecoder,
    frame,
)


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


Reply = Callable[[int, bytes], bytes]  # (request seq, request payload) -> bytes to send


class ScriptedDevice:
    """A bench device on a pty that answers HELLO with ``hello_ack`` and
    each INFER with the next of ``replies`` (the last one repeats): the
    bytes a misbehaving device or a damaged link would deliver. ``seen``
    lists the requests' (type, seq) as they arrived, intact ones only."""

    def __init__(self, hello_ack_payload: bytes, replies: list[Reply]) -> None:
        self.hello_ack = hello_ack_payload
        self.replies = replies
        self.seen: list[tuple[int, int]] = []
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        decoder = FrameDecoder()
        infers = 0
        while not self._stop.is_set():
            if not select.select([self._master], [], [], 0.02)[0]:
                continue
            try:
                decoder.feed(os.read(self._master, 4096))
            except OSError:
                return
            while (item := decoder.next()) is not None:
                if not isinstance(item, Frame):
                    continue
                self.seen.append((item.msg_type, item.seq))
                if item.msg_type == MSG_HELLO:
                    os.write(self._master, frame(MSG_HELLO_ACK, item.seq, self.hello_ack))
                elif item.msg_type == MSG_INFER:
                    reply = self.replies[min(infers, len(self.replies) - 1)]
                    infers += 1
                    os.write(self._master, reply(item.seq, item.payload))

    def hang_up(self) -> None:
        """The device side goes away (an emulator killed)."""
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        self._master = -1

    def close(self) -> None:
        if self._master >= 0:
            self.hang_up()
        os.close(self._slave)

    def __enter__(self) -> ScriptedDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

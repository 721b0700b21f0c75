"""A stand-in for the Apollo3 secure bootloader (SBL) on the far end of a pty.

It speaks the wired-update protocol as AmbiqSuite documents it, parsed here
on its own (not with harness.flash.ambiq_wired, so a shared mistake cannot
hide): every message is CRC-32 + (length << 16 | type) + body, checked for
CRC, length, type, order and sequence; replies are STATUS (88 bytes) to
HELLO and ACK (20 bytes) to everything else. Downloaded blocks are parked
by their header's address; RESET installs the OTA image they make up (magic,
length and CRC checked) at its load address, as the SBL does, and the
"board" then runs the application: a bench device answering HELLO frames
with ``app_hello_ack`` when given.

The host opens ``path`` with pyserial like any serial port.
"""

from __future__ import annotations

import os
import select
import struct
import threading
import tty
import zlib
from dataclasses import dataclass, field

HELLO, STATUS, OTA_DESC, UPDATE, ABORT, RECOVER, RESET, ACK, DATA = range(9)
OK, FAILURE, CRC_ERR, MSG_TOO_BIG, UNKNOWN, BAD_ADDR, BAD_OP, BAD_PARAM, SEQ_ERR, TOO_MUCH = (
    0, 1, 3, 5, 6, 7, 8, 9, 10, 11)
MAX_MSG = 8192
WU_HEADER = 96
MAX_BLOCK = 0x48000
FLASH_KEY = 0x12344321
VERSION = 0x3


def _crc(b: bytes) -> int:
    return zlib.crc32(b) & 0xFFFFFFFF


def _message(msg_type: int, body: bytes) -> bytes:
    rest = struct.pack("<I", ((8 + len(body)) << 16) | msg_type) + body
    return struct.pack("<I", _crc(rest)) + rest


@dataclass
class FakeBootloader:
    silent: bool = False  # never answers (board not in bootloader mode)
    corrupt_rx: set[int] = field(default_factory=set)  # damage these DATA messages (0-based)
    corrupt_tx: set[int] = field(default_factory=set)  # damage these replies (0-based)
    refuse: dict[int, int] = field(default_factory=dict)  # msg type -> NACK status, always
    app_hello_ack: bytes | None = None  # after install, answer bench HELLOs with this payload

    # What happened, for the tests to check.
    log: list[tuple[int, int]] = field(default_factory=list)  # (msg type, ack status)
    parked: dict[int, bytes] = field(default_factory=dict)  # flash address -> block body
    installed: dict[int, bytes] = field(default_factory=dict)  # load address -> application
    resets: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._hello_seen = False
        self._update: tuple[int, int] | None = None  # (length, crc) being received
        self._block = bytearray()
        self._data_seen = 0
        self._replies = 0
        self._app = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> FakeBootloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the byte pump ---------------------------------------------------------

    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if not ready:
                continue
            try:
                buf += os.read(self._master, 65536)
            except OSError:
                return
            if self.silent:
                buf.clear()
                continue
            buf = self._app_frames(buf) if self._app else self._sbl_messages(buf)

    def _send(self, raw: bytes) -> None:
        if self._replies in self.corrupt_tx:
            raw = raw[:-1] + bytes([raw[-1] ^ 0x40])
        self._replies += 1
        os.write(self._master, raw)

    def _sbl_messages(self, buf: bytearray) -> bytearray:
        while len(buf) >= 8:
            length = struct.unpack_from("<I", buf, 4)[0] >> 16
            if length < 8 or length > MAX_MSG:
                self.errors.append(f"bad length {length}")
                self._ack(struct.unpack_from("<I", buf, 4)[0] & 0xFFFF, MSG_TOO_BIG)
                return bytearray()
            if len(buf) < length:
                break
            msg, buf = bytes(buf[:length]), buf[length:]
            self._handle(msg)
            if self._app:
                return self._app_frames(buf)
        return buf

    # -- the SBL ---------------------------------------------------------------

    def _ack(self, acked: int, status: int, seq: int = 0) -> None:
        self.log.append((acked, status))
        self._send(_message(ACK, struct.pack("<III", acked, status, seq)))

    def _handle(self, msg: bytes) -> None:
        crc, word = struct.unpack_from("<II", msg)
        msg_type, body = word & 0xFFFF, bytearray(msg[8:])
        if msg_type == DATA:
            if self._data_seen in self.corrupt_rx:
                body[-1] ^= 0x01  # noise on the line after the host computed its CRC
            self._data_seen += 1
        if _crc(msg[4:8] + bytes(body)) != crc:
            self.errors.append(f"crc mismatch in message type {msg_type}")
            self._ack(msg_type, CRC_ERR)
            return
        if msg_type in self.refuse:
            self._ack(msg_type, self.refuse[msg_type])
            return
        if msg_type == HELLO:
            self._hello_seen = True
            self.log.append((HELLO, OK))
            info = list(range(0xA0, 0xB0))
            self._send(_message(STATUS, struct.pack("<20I", VERSION, MAX_BLOCK, 0, 1, *info)))
            return
        if not self._hello_seen:
            self._ack(msg_type, BAD_OP)
            return
        if msg_type == OTA_DESC:
            (address,) = struct.unpack("<I", body)
            self._ack(OTA_DESC, OK if address % 0x2000 == 0 else BAD_ADDR)
        elif msg_type == UPDATE:
            length, crc_block, piggy = struct.unpack("<III", body)
            if piggy != 0 or length <= WU_HEADER:
                self._ack(UPDATE, BAD_PARAM)
            elif length > WU_HEADER + MAX_BLOCK:
                self._ack(UPDATE, TOO_MUCH)
            else:
                self._update, self._block = (length, crc_block), bytearray()
                self._ack(UPDATE, OK)
        elif msg_type == DATA:
            self._data(body)
        elif msg_type == RESET:
            (option,) = struct.unpack("<I", body)
            if option not in (1, 2):
                self._ack(RESET, BAD_PARAM)
                return
            self._ack(RESET, OK)
            self.resets.append(option)
            self._install()
        else:
            self._ack(msg_type, UNKNOWN)

    def _data(self, body: bytearray) -> None:
        (offset,) = struct.unpack_from("<I", body)
        chunk = bytes(body[4:])
        if self._update is None:
            self._ack(DATA, BAD_OP, offset)
            return
        length, crc_block = self._update
        if offset != len(self._block):
            self._ack(DATA, SEQ_ERR, offset)
            return
        if len(self._block) + len(chunk) > length:
            self._ack(DATA, TOO_MUCH, offset)
            return
        self._block += chunk
        if len(self._block) < length:
            self._ack(DATA, OK, offset)
            return
        self._update = None
        block = bytes(self._block)
        if _crc(block) != crc_block:
            self.errors.append("block crc mismatch")
            self._ack(DATA, CRC_ERR, offset)
            return
        image_type, _options = block[80], block[81]
        key, address, size = struct.unpack_from("<III", block, 84)
        if image_type != 6 or key != FLASH_KEY or size != length - WU_HEADER:
            self.errors.append(f"bad wired header: type {image_type}, key {key:#x}, size {size}")
            self._ack(DATA, BAD_PARAM, offset)
            return
        self.parked[address] = block
        self._ack(DATA, OK, offset)

    def _install(self) -> None:
        """What the SBL does on reset: the parked blocks, in address order,
        make the OTA image; check it and copy the application to its address."""
        blocks = [self.parked[a] for a in sorted(self.parked)]
        if not blocks or not blocks[0][81] & 1:
            self.errors.append("reset without an image marked for install")
            return
        image = b"".join(b[WU_HEADER:] for b in blocks)
        (w0,) = struct.unpack_from("<I", image, 0)
        (crc,) = struct.unpack_from("<I", image, 4)
        magic, length = w0 >> 24, w0 & 0x7FFFFF
        if magic != 0xCB or length > len(image) or _crc(image[8:length]) != crc:
            self.errors.append(f"OTA image rejected: magic {magic:#x}, length {length}")
            return
        if image[11] != 0x10:
            self.errors.append(f"unexpected security byte {image[11]:#x}")
        (load,) = struct.unpack_from("<I", image, 112)
        self.installed[load] = image[128:length]
        self._app = True

    # -- the application after install ------------------------------------------

    def _app_frames(self, buf: bytearray) -> bytearray:
        from harness.link import MSG_HELLO, MSG_HELLO_ACK, SYNC, frame

        while True:
            at = buf.find(SYNC)
            if at < 0 or len(buf) < at + 12:
                return buf
            msg_type, _flags, seq, length = struct.unpack_from("<BBHH", buf, at + 2)
            end = at + 8 + length + 4
            if len(buf) < end:
                return buf
            if msg_type == MSG_HELLO and self.app_hello_ack is not None:
                os.write(self._master, frame(MSG_HELLO_ACK, seq, self.app_hello_ack))
            buf = buf[end:]

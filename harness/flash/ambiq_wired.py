"""Flash an Ambiq Apollo3 over UART with its secure bootloader (SBL).

Written from AmbiqSuite's description of the SBL "wired update" (the
Apollo3 scripts create_cust_image_blob.py, create_cust_wireupdate_blob.py,
uart_wired_update.py and their am_defines.py; SparkFun's ambiq_bin2board.py
chains the same three steps). No AmbiqSuite code or tool is needed.

Two wrappers make the image the SBL installs:

1. The OTA image (non-secure, magic 0xCB): a 128-byte header then the
   application, padded to 4 bytes. Header words: 0 = magic << 24 | total
   length; 1 = CRC-32 of bytes 8.. to the end; 2 = security byte 0x10 in
   the top byte (CRC checked at install, no authentication, no
   encryption, key slots 8); 112 = load address (0xC000, where the SBL installs and
   boots it); 116 = version; 120, 124 = child pointers (0xFFFFFFFF, none).
2. Wired-update blocks: each a 96-byte header (0: key slots 8; 80: image type 6 =
   non-secure; 81: options, bit 0 = install via OTA after download, first
   block only; 84: the flash key 0x12344321; 88: where the SBL parks the
   block in flash, 0x20000 + i x 0x48000; 92: block bytes) then up to
   0x48000 bytes of the OTA image.

The wire: every message, both ways, is CRC-32 (little endian, of what
follows) + a word (length << 16 | type) + body; length counts the whole
message, CRC included. The host says HELLO (the SBL answers STATUS, 88
bytes), OTA_DESC (where the OTA descriptor page is), then per block,
last block first, UPDATE (length, CRC-32 of the block) and DATA packets
(offset in the block, at most 8180 bytes), then RESET. Every message but
HELLO is answered by an ACK (20 bytes: the acknowledged type, a status,
the sequence number). On reset the SBL checks and installs the image at
0xC000 and starts it.

Entering the SBL: it runs after reset and stays when the boot pin is
asserted (SparkFun Edge: button 14) or when bytes arrive before its
timeout. Where the board's serial adapter drives reset and boot from DTR
and RTS (SparkFun Edge v2, Artemis boards) bench does it; on the Edge v1
the adapter's DTR only resets the board (through an RC), so bench asks
the user to hold button 14.
"""

from __future__ import annotations

import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import serial

from harness.errors import BackendError, ConfigError, ProtocolError

BAUD = 921_600
LOAD_ADDRESS = 0xC000  # where the SBL installs and starts a non-secure image
BLOB_ADDRESS = 0x20000  # where downloaded blocks wait in flash before installing
OTA_DESCRIPTOR = 0xFE000  # the OTA descriptor page, at the end of main flash
FLASH_PAGE = 0x2000
MAX_BLOCK = 0x48000  # OTA-image bytes per update block: what the SBL can buffer
MAX_MESSAGE = 8192  # the SBL's receive buffer
DATA_CHUNK = MAX_MESSAGE - 12  # CRC + header + offset words
MAGIC_NONSECURE = 0xCB
IMAGE_TYPE_NONSECURE = 6
OPTION_INSTALL = 0x1  # install the downloaded image through the OTA flow
FLASH_KEY = 0x12344321
IMAGE_HEADER = 128
WIRED_HEADER = 96
SECURITY_CRC_AT_INSTALL = 0x10
# Key slot 8 (the first INFO0 key) in the key-index fields: unused without
# authentication or encryption, but what AmbiqSuite's tools write there.
KEY_INDEX = 8
RESET_POI = 1  # power-on-initialisation reset; 2 would be a full power-on reset


class Msg(IntEnum):
    HELLO = 0
    STATUS = 1
    OTA_DESC = 2
    UPDATE = 3
    ABORT = 4
    RECOVER = 5
    RESET = 6
    ACK = 7
    DATA = 8


class AckStatus(IntEnum):
    SUCCESS = 0
    FAILURE = 1
    INVALID_INFO0 = 2
    CRC = 3
    SECURITY = 4
    MSG_TOO_BIG = 5
    UNKNOWN_MSGTYPE = 6
    INVALID_ADDR = 7
    INVALID_OPERATION = 8
    INVALID_PARAM = 9
    SEQ = 10
    TOO_MUCH_DATA = 11


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


class BootloaderError(ProtocolError):
    """The bootloader refused something or never answered."""


class DamagedReply(BootloaderError):
    """A reply arrived with a bad CRC: whether the message took is unknown."""


# -- packets -------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """One message as it travels: CRC-32 of the rest, length | type, body."""

    msg_type: int
    body: bytes = b""

    def encode(self) -> bytes:
        rest = struct.pack("<I", ((8 + len(self.body)) << 16) | self.msg_type) + self.body
        return struct.pack("<I", crc32(rest)) + rest

    @staticmethod
    def decode(raw: bytes) -> Packet:
        if len(raw) < 8:
            raise BootloaderError(f"bootloader message too short ({len(raw)} bytes)")
        crc, word = struct.unpack_from("<II", raw)
        if crc32(raw[4:]) != crc:
            raise DamagedReply("crc mismatch in a message from the bootloader")
        if word >> 16 != len(raw):
            raise BootloaderError(f"bootloader message says {word >> 16} bytes, has {len(raw)}")
        return Packet(word & 0xFFFF, raw[8:])


@dataclass(frozen=True)
class Status:
    """The SBL's answer to HELLO."""

    version: int
    max_storage: int
    status: int
    state: int
    info: tuple[int, ...]  # 16 words of AM info

    SIZE = 88

    @classmethod
    def from_packet(cls, p: Packet) -> Status:
        if p.msg_type != Msg.STATUS or len(p.body) != cls.SIZE - 8:
            raise BootloaderError(f"expected STATUS ({cls.SIZE} bytes) after HELLO, got message "
                                  f"type {p.msg_type} ({len(p.body) + 8} bytes)")
        words = struct.unpack("<20I", p.body)
        return cls(words[0], words[1], words[2], words[3], words[4:])


@dataclass(frozen=True)
class Ack:
    acked: int  # the message type acknowledged
    status: int
    seq: int

    SIZE = 20

    @classmethod
    def from_packet(cls, p: Packet) -> Ack:
        if p.msg_type != Msg.ACK or len(p.body) != cls.SIZE - 8:
            raise BootloaderError(f"expected ACK ({cls.SIZE} bytes), got message type "
                                  f"{p.msg_type} ({len(p.body) + 8} bytes)")
        return cls(*struct.unpack("<III", p.body))

    def status_name(self) -> str:
        try:
            return AckStatus(self.status).name.lower().replace("_", " ")
        except ValueError:
            return f"status {self.status}"


def hello() -> Packet:
    return Packet(Msg.HELLO)


def ota_descriptor(address: int = OTA_DESCRIPTOR) -> Packet:
    return Packet(Msg.OTA_DESC, struct.pack("<I", address))


def update(block: bytes) -> Packet:
    # The last word would carry data piggybacked on UPDATE: none, DATA follows.
    return Packet(Msg.UPDATE, struct.pack("<III", len(block), crc32(block), 0))


def data(offset: int, chunk: bytes) -> Packet:
    if len(chunk) > DATA_CHUNK:
        raise ValueError(f"DATA chunk of {len(chunk)} bytes exceeds {DATA_CHUNK}")
    return Packet(Msg.DATA, struct.pack("<I", offset) + chunk)


def reset(option: int = RESET_POI) -> Packet:
    return Packet(Msg.RESET, struct.pack("<I", option))


# -- images --------------------------------------------------------------------


def ota_image(app: bytes, load_address: int = LOAD_ADDRESS, version: int = 0) -> bytes:
    """The non-secure OTA image of an application linked at ``load_address``."""
    if load_address % 4:
        raise ConfigError(f"load address 0x{load_address:x} is not word aligned")
    app = _pad4(app)
    hdr = bytearray(IMAGE_HEADER)
    struct.pack_into("<I", hdr, 0, (MAGIC_NONSECURE << 24) | (IMAGE_HEADER + len(app)))
    struct.pack_into("<I", hdr, 8, (SECURITY_CRC_AT_INSTALL << 24) | (KEY_INDEX << 12)
                     | (KEY_INDEX << 4))
    struct.pack_into("<IIII", hdr, 112, load_address, version & 0x7FFF, 0xFFFFFFFF, 0xFFFFFFFF)
    struct.pack_into("<I", hdr, 4, crc32(bytes(hdr[8:]) + app))
    return bytes(hdr) + app


def wired_blocks(image: bytes, blob_address: int = BLOB_ADDRESS, options: int = OPTION_INSTALL,
                 max_block: int = MAX_BLOCK) -> list[bytes]:
    """Split an OTA image into wired-update blocks, each with its header."""
    if max_block % FLASH_PAGE:
        raise ConfigError(f"block size 0x{max_block:x} is not a multiple of the 8 KB flash page")
    image = _pad4(image)
    blocks = []
    for i, start in enumerate(range(0, len(image), max_block)):
        part = image[start:start + max_block]
        hdr = bytearray(WIRED_HEADER)
        struct.pack_into("<I", hdr, 0, (KEY_INDEX << 24) | (KEY_INDEX << 8))
        hdr[80] = IMAGE_TYPE_NONSECURE
        hdr[81] = options if i == 0 else 0
        struct.pack_into("<III", hdr, 84, FLASH_KEY, blob_address + i * max_block, len(part))
        blocks.append(bytes(hdr) + part)
    return blocks


# -- the host side -------------------------------------------------------------

Say = Callable[[str], None]
Progress = Callable[[int, int], None]  # (bytes sent, total)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class WiredUpdate:
    """One conversation with the SBL over an open serial port."""

    port: serial.SerialBase
    reply_timeout_s: float = 12.0  # the SBL may erase and program pages before it ACKs
    retries: int = 3
    retried: int = field(default=0, init=False)

    def _read(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError
            buf += self.port.read(n - len(buf))
        return bytes(buf)

    def _reply(self, timeout_s: float) -> Packet:
        deadline = time.monotonic() + timeout_s
        head = self._read(8, deadline)
        length = struct.unpack_from("<I", head, 4)[0] >> 16
        if not 8 <= length <= MAX_MESSAGE:
            raise DamagedReply(f"bootloader reply claims {length} bytes: line noise or not "
                                  f"the Ambiq bootloader")
        return Packet.decode(head + self._read(length - 8, deadline))

    def _exchange(self, packet: Packet, timeout_s: float) -> Packet:
        self.port.reset_input_buffer()
        self.port.write(packet.encode())
        return self._reply(timeout_s)

    def hello(self, timeout_s: float = 1.0) -> Status:
        return Status.from_packet(self._exchange(hello(), timeout_s))

    def command(self, packet: Packet, idempotent: bool = True) -> Ack:
        """Send a message the SBL acknowledges. The SBL NACKs a damaged
        message (status CRC): resend it. A damaged or missing reply leaves
        unknown whether the message took: resend only an idempotent one,
        else raise DamagedReply for the caller to start the block over."""
        name = Msg(packet.msg_type).name
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            try:
                ack = Ack.from_packet(self._exchange(packet, self.reply_timeout_s))
            except TimeoutError:
                problem = f"no reply to {name} within {self.reply_timeout_s:g} s"
                if not idempotent:
                    raise DamagedReply(problem) from None
                continue
            except DamagedReply as e:
                problem = str(e)
                if not idempotent:
                    raise
                continue
            if ack.status == AckStatus.SUCCESS:
                return ack
            problem = f"bootloader refused {name}: {ack.status_name()} (seq {ack.seq})"
            if ack.status != AckStatus.CRC:  # only a damaged message is worth resending
                raise BootloaderError(problem)
        raise BootloaderError(f"{name} failed after {self.retries + 1} tries: {problem}")

    def send_image(self, blocks: list[bytes], progress: Progress | None = None) -> None:
        total = sum(len(b) for b in blocks)
        sent = 0
        # Last block first, as AmbiqSuite's host does: the first block carries
        # the install option, so the SBL sees the whole image before it.
        for block in reversed(blocks):
            done = sent
            for attempt in range(self.retries + 1):
                try:
                    sent = done
                    self._send_block(block, sent, total, progress)
                    break
                except DamagedReply as e:
                    # UPDATE starts the block over on the SBL's side too.
                    if attempt == self.retries:
                        raise BootloaderError(f"block of {len(block):,} bytes failed "
                                              f"{self.retries + 1} times: {e}") from None
                    self.retried += 1
            sent = done + len(block)

    def _send_block(self, block: bytes, sent: int, total: int,
                    progress: Progress | None) -> None:
        self.command(update(block))
        for offset in range(0, len(block), DATA_CHUNK):
            chunk = block[offset:offset + DATA_CHUNK]
            self.command(data(offset, chunk), idempotent=False)
            sent += len(chunk)
            if progress:
                progress(sent, total)


BOOT_ENTRIES = ("lines", "button")


def enter_bootloader(port: serial.SerialBase, entry: str, say: Say = _say) -> None:
    """Reset into the SBL. "lines": the adapter's DTR and RTS drive reset and
    boot (SparkFun Edge v2, Artemis): assert, then release both; the boot pin
    decays over ~100 ms while the SBL samples it. "button": only DTR reaches
    reset (Edge v1), so the user holds the boot button."""
    if entry == "lines":
        try:
            port.dtr = True  # reset asserted (and boot pulled up through the RC)
            port.rts = True
            time.sleep(0.008)
            port.dtr = False
            port.rts = False
        except OSError as e:
            raise BootloaderError(f"{port.name} has no DTR/RTS lines to reset the board ({e}): "
                                  f"use --boot-entry button") from e
        time.sleep(0.1)  # let the SBL sample the boot pin; it waits ~250 ms for a host
    elif entry == "button":
        say("bench: hold button 14 on the board and press and release RESET, keep holding 14 "
            "until the upload starts")
    else:
        raise ConfigError(f"unknown bootloader entry {entry!r}; known: {', '.join(BOOT_ENTRIES)}")


@dataclass(frozen=True)
class WiredResult:
    status: Status
    image_bytes: int
    blocks: int
    retried: int


def flash_app(url: str, app: bytes, baud: int = BAUD, entry: str = "button",
              load_address: int = LOAD_ADDRESS, blob_address: int = BLOB_ADDRESS,
              connect_s: float = 30.0, reply_timeout_s: float = 12.0, say: Say = _say,
              progress: Progress | None = None) -> WiredResult:
    """Download ``app`` (the application's flash bytes, linked at
    ``load_address``) through the SBL on ``url`` and reset into it."""
    blocks = wired_blocks(ota_image(app, load_address), blob_address)
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as e:
        raise BackendError(f"cannot open {url}: {e}") from e
    with port:
        enter_bootloader(port, entry, say)
        sbl = WiredUpdate(port, reply_timeout_s=reply_timeout_s)
        deadline = time.monotonic() + connect_s
        while True:
            try:
                status = sbl.hello(timeout_s=0.5)
                break
            except (TimeoutError, BootloaderError) as e:
                if time.monotonic() > deadline:
                    why = "no answer" if isinstance(e, TimeoutError) else str(e)
                    hint = ("hold button 14 while pressing RESET" if entry == "button" else
                            "this adapter may not wire DTR/RTS to reset and boot: try "
                            "--boot-entry button")
                    raise BootloaderError(
                        f"no answer from the Ambiq bootloader on {url} at {baud} baud after "
                        f"{connect_s:g} s ({why}): {hint}; right port? the SparkFun Edge's "
                        f"bootloader runs at 921600 baud") from None
        say(f"bench: Ambiq bootloader version 0x{status.version:x} answered; sending "
            f"{len(app):,} bytes for 0x{load_address:x}")
        sbl.command(ota_descriptor())
        sbl.send_image(blocks, progress)
        sbl.command(reset())
        return WiredResult(status, sum(len(b) for b in blocks), len(blocks), sbl.retried)

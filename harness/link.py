"""Host side of the device link: framed messages over a pyserial URL.

The frame layout and messages are in docs/protocol.md and
firmware/runtime/bench_protocol.h. The host never trusts the device: every
reply is checked (sync, CRC, sequence number, length, and its body against
what the handshake announced), a damaged or missing reply is retried, and
only then is the device declared silent. A reply that is intact (its CRC
holds) but malformed is the device's fault, never retried: a ProtocolError.

Damage in either direction is recoverable ("Host rules" in docs/protocol.md):
- a reply whose CRC fails, or whose header promises more bytes than any
  reply to this request can have, is damaged: resend at once;
- ERROR 1 (crc) and ERROR 2 (bad length) for a request the host knows to be
  within the device's limits mean the request was damaged on the way: resend;
- before every resend the host sends ``max_payload + 12`` zero bytes, which
  complete any frame the device is still waiting for (its header length
  damaged upwards, or bytes lost): the device then hunts for the next sync;
- a missing reply is waited for ``4 x`` the slowest first-try reply so far
  (at least 0.25 s), doubling per attempt, the last attempt waiting the
  full ``timeout_s``: a lost frame costs a fraction of a second, a device
  that is really gone is found as before.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import serial

from harness.errors import ProtocolError
from harness.kinds import DType

try:
    import termios

    # pyserial lets termios.error (not an OSError) out of a pty whose other end is gone.
    _TTY_ERRORS: tuple[type[Exception], ...] = (termios.error,)
except ImportError:  # not POSIX
    _TTY_ERRORS = ()

PROTOCOL_VERSION = 1
SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<BBHH")  # type, flags, seq, length (after the sync bytes)
FRAME_OVERHEAD = len(SYNC) + HEADER.size + 4  # sync, header, CRC-32
MAX_FRAME_PAYLOAD = 0xFFFF  # the header's 16-bit length
MAX_LENGTH = 0xFFFF

MSG_HELLO, MSG_INFER, MSG_PING = 0x01, 0x02, 0x03
MSG_HELLO_ACK, MSG_RESULT, MSG_PONG, MSG_ERROR = 0x81, 0x82, 0x83, 0xFF
MSG_LOAD, MSG_LOAD_ACK = 0x04, 0x84  # an FPGA core's model load (docs/fpga-protocol.md)
ERR_CRC, ERR_LENGTH, ERR_TYPE, ERR_MODEL = 1, 2, 3, 4
ERRORS = {ERR_CRC: "crc mismatch", ERR_LENGTH: "bad length", ERR_TYPE: "unknown message type",
          ERR_MODEL: "model failed"}
ERROR_BYTES = 4
DTYPES = {0: DType.FLOAT32, 1: DType.INT16, 2: DType.INT8}  # bench_model.h bench_dtype
# 3: an FPGA core's own clock cycles (docs/fpga-protocol.md)
TIMER_KINDS = {0: "none", 1: "dwt_cycles", 2: "systick", 3: "core_cycles"}

HELLO_ACK = struct.Struct("<HBBIB3xIIIII8s8s16s16sI")
RESULT_HEADER = struct.Struct("<QIBBH")  # count, stack, timer kind, spike counts S, layer counts L
MAX_LAYER_COUNTS = 1024  # per-layer counts a RESULT may carry (none today)
MAX_SPIKE_COUNTS = 255  # spike counters a RESULT may carry (S is one byte)

FIRST_WAIT_FLOOR_S = 0.25  # shortest wait for a reply
RTT_FACTOR = 4  # a reply is missing after this many times the slowest reply seen


class DeviceSilent(ProtocolError):
    """No valid reply after every retry: the device needs a reset."""


class LinkLost(ProtocolError):
    """The byte stream itself broke: the port vanished or its other end
    (an emulator) closed it."""


@dataclass(frozen=True)
class DeviceInfo:
    """What the firmware says about itself in the handshake."""

    protocol_version: int
    input_dtype: str
    output_dtype: str
    clock_hz: int
    timer_kind: str
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    stack_size_bytes: int
    max_payload: int
    model_hash: str
    build_id: str
    board: str
    engine: str
    stack_bytes: int


@dataclass(frozen=True)
class Inference:
    count: int
    timer_kind: str
    stack_bytes: int
    output: bytes
    layers: tuple[int, ...] = ()  # per-layer counts the device sent (none today)
    spikes: tuple[int, ...] = ()  # spiking models: spikes per layer over the sample's timesteps


@dataclass(frozen=True)
class Frame:
    """An intact frame: its CRC holds."""

    msg_type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Damaged:
    """Bytes that began like a frame and are not one."""

    why: str


def frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_FRAME_PAYLOAD:
        raise ProtocolError(f"a {len(payload):,}-byte payload does not fit one frame "
                            f"(at most {MAX_FRAME_PAYLOAD:,} bytes)")
    header = HEADER.pack(msg_type, 0, seq & 0xFFFF, len(payload))
    return SYNC + header + payload + struct.pack("<I", zlib.crc32(header + payload))


class FrameDecoder:
    """Bytes in, frames out. Hunts for the sync pair; a header longer than
    ``max_length`` or a CRC that fails makes a Damaged, and the hunt goes on
    from the byte after that sync pair, so a frame inside the damaged one's
    bytes (a damaged length swallowed it) is still found."""

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        self.max_length = max_length
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        self._buf.clear()

    def next(self) -> Frame | Damaged | None:
        """The next frame or damage found, or None until more bytes come."""
        buf = self._buf
        at = buf.find(SYNC)
        if at < 0:
            # Keep a trailing first sync byte: its pair may come next.
            del buf[:len(buf) - 1 if buf[-1:] == SYNC[:1] else len(buf)]
            return None
        del buf[:at]
        if len(buf) < len(SYNC) + HEADER.size:
            return None
        _type, _flags, seq, length = HEADER.unpack_from(buf, len(SYNC))
        if length > self.max_length:
            del buf[:len(SYNC)]
            return Damaged(f"a frame header says {length} bytes, more than the {self.max_length} "
                           f"a reply can have (frame {seq})")
        end = len(SYNC) + HEADER.size + length + 4
        if len(buf) < end:
            return None
        body = bytes(buf[len(SYNC):end - 4])
        (crc,) = struct.unpack_from("<I", buf, end - 4)
        if zlib.crc32(body) != crc:
            del buf[:len(SYNC)]
            return Damaged(f"crc mismatch in a reply from the device (frame {seq})")
        del buf[:end]
        return Frame(body[0], seq, body[HEADER.size:])

    def needed(self) -> int:
        """Bytes to read before next() can say more (after it said None)."""
        head = len(SYNC) + HEADER.size
        if len(self._buf) < head or self._buf[:len(SYNC)] != SYNC:
            return head - (len(self._buf) if self._buf[:len(SYNC)] == SYNC else 0)
        (length,) = struct.unpack_from("<H", self._buf, head - 2)
        return max(1, head + length + 4 - len(self._buf))


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


T = TypeVar("T")


class Link:
    """One open connection to a device running the bench runtime.

    ``max_payload``: the largest request the device takes, until its
    handshake says (the build's input bytes); sizes the resend filler.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3,
                 connect_s: float = 10.0, baudrate: int | None = None,
                 max_payload: int = 64) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.retried_frames = 0
        self.max_payload = max_payload
        self.info: DeviceInfo | None = None
        self._seq = 0
        self._slowest: dict[int, float] = {}  # message type -> slowest reply seen, s
        self._decoder = FrameDecoder()
        # An emulator may still be starting: retry the connection for a while.
        deadline = time.monotonic() + connect_s
        while True:
            try:
                # A real board's UART runs at its board.toml baud; sockets and ptys ignore it.
                extra = {"baudrate": baudrate} if baudrate else {}
                self._port = serial.serial_for_url(url, timeout=0.05, **extra)
                break
            except (serial.SerialException, OSError, ValueError) as e:
                if time.monotonic() > deadline or not url.startswith("socket://"):
                    raise ProtocolError(f"cannot open device link {url}: {e}") from e
                time.sleep(0.02)

    def close(self) -> None:
        self._port.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bytes -----------------------------------------------------------------

    def _io(self, what: Callable[[], T]) -> T:
        """One port operation; a broken stream becomes LinkLost (the runner
        restarts an emulator on it)."""
        try:
            return what()
        except (serial.SerialException, OSError, *_TTY_ERRORS) as e:
            raise LinkLost(f"device link {self.url} is gone: {e}") from e

    def _read(self, wanted: int) -> bytes:
        """Up to ``wanted`` bytes (more if more are waiting), at most the
        port's 50 ms after the last one came."""
        return self._io(lambda: self._port.read(max(wanted, self._port.in_waiting)))

    def _send(self, data: bytes) -> None:
        self._io(lambda: self._port.write(data))

    # -- requests --------------------------------------------------------------

    def _wait_s(self, msg_type: int, attempt: int, attempts: int,
                timeout_s: float | None) -> float:
        if timeout_s is not None:
            return timeout_s
        slowest = self._slowest.get(msg_type)
        if slowest is None or attempt == attempts - 1:
            return self.timeout_s
        return min(self.timeout_s, max(FIRST_WAIT_FLOOR_S, RTT_FACTOR * slowest) * 2 ** attempt)

    def request(self, msg_type: int, payload: bytes, reply_type: int,
                timeout_s: float | None = None, max_reply: int = MAX_LENGTH) -> bytes:
        """Send one request and return the payload of its reply, retrying on
        damaged, mismatched or missing replies. ``timeout_s``: a fixed wait
        per attempt instead of the adaptive one; ``max_reply``: the longest
        reply payload this request can get (longer headers are damage)."""
        if len(payload) > self.max_payload:
            raise ProtocolError(f"a request of {len(payload)} bytes is more than the device "
                                f"takes ({self.max_payload})")
        self._decoder.max_length = max(max_reply, ERROR_BYTES)
        attempts = self.retries + 1
        problem = "no reply"
        for attempt in range(attempts):
            if attempt:
                self.retried_frames += 1
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
            self._io(self._port.reset_input_buffer)
            self._decoder.clear()
            # Zeros first on a resend: they finish a frame the device still
            # waits for (its length damaged, bytes lost); it then hunts for sync.
            filler = bytes(self.max_payload + FRAME_OVERHEAD) if attempt else b""
            sent = time.monotonic()
            self._send(filler + frame(msg_type, seq, payload))
            wait = self._wait_s(msg_type, attempt, attempts, timeout_s)
            reply = self._await(seq, reply_type, sent + wait)
            if isinstance(reply, bytes):
                if not attempt:  # a resend's reply may be a delayed one's: not a measure
                    rtt = time.monotonic() - sent
                    self._slowest[msg_type] = max(rtt, self._slowest.get(msg_type, 0.0))
                return reply
            problem = reply if reply else f"no reply within {wait:g} s"
        raise DeviceSilent(f"device at {self.url} did not answer after {attempts} tries: "
                           f"{problem}")

    def _await(self, seq: int, reply_type: int, deadline: float) -> bytes | str:
        """The reply's payload, or why this attempt is to be retried ("" on
        a timeout). Raises ProtocolError for an intact reply that cannot be
        accepted (the device's own error, a wrong message type)."""
        damaged = ""
        while True:
            item = self._decoder.next()
            if item is None:
                if damaged:
                    return damaged  # nothing intact followed it: resend now
                if time.monotonic() > deadline:
                    return ""
                self._decoder.feed(self._read(self._decoder.needed()))
                continue
            if isinstance(item, Damaged):
                damaged = item.why
                continue
            if item.seq != seq:
                continue  # a late reply to an earlier attempt
            if item.msg_type == MSG_ERROR:
                code = item.payload[0] if item.payload else 0
                problem = f"device error: {ERRORS.get(code, f'code {code}')}"
                # The request is known to fit the device: a crc or length
                # complaint means it was damaged on the way. Others stand.
                if code in (ERR_CRC, ERR_LENGTH):
                    return f"{problem} (frame {seq})"
                raise ProtocolError(problem, frame=seq)
            if item.msg_type != reply_type:
                raise ProtocolError(
                    f"expected message 0x{reply_type:02x}, got 0x{item.msg_type:02x}", frame=seq)
            return item.payload

    # -- messages --------------------------------------------------------------

    def hello(self, timeout_s: float = 0.3, attempts: int = 30) -> DeviceInfo:
        """Handshake. Bytes sent before the firmware enables its UART are
        lost, so the first HELLOs are expected to go unanswered."""
        saved = self.retries
        self.retries = attempts - 1
        try:
            p = self.request(MSG_HELLO, b"", MSG_HELLO_ACK, timeout_s=timeout_s,
                             max_reply=HELLO_ACK.size)
        finally:
            self.retries = saved
        self.info = parse_hello(p)
        self.max_payload = self.info.max_payload
        return self.info

    def ping(self, payload: bytes = b"") -> bytes:
        reply = self.request(MSG_PING, payload, MSG_PONG, max_reply=len(payload))
        if reply != payload:
            raise ProtocolError(f"the device echoed {len(reply)} bytes that differ from the "
                                f"{len(payload)} sent", frame=self._seq)
        return reply

    def infer(self, tensor: bytes) -> Inference:
        if self.info is None:
            raise ProtocolError("infer before the handshake: call hello() first")
        if len(tensor) != self.info.input_bytes:
            raise ProtocolError(f"an input of {len(tensor)} bytes; the device takes "
                                f"{self.info.input_bytes}")
        out_bytes = self.info.output_bytes
        p = self.request(MSG_INFER, tensor, MSG_RESULT,
                         max_reply=RESULT_HEADER.size + 4 * (MAX_LAYER_COUNTS + MAX_SPIKE_COUNTS)
                         + out_bytes)
        return parse_result(p, self.info, self._seq)


def parse_hello(p: bytes) -> DeviceInfo:
    """A HELLO_ACK's body, checked field by field."""
    if len(p) < 2:
        raise ProtocolError(f"handshake too short ({len(p)} bytes): not a bench firmware?")
    (version,) = struct.unpack_from("<H", p)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"device speaks protocol {version}, host speaks "
                            f"{PROTOCOL_VERSION}: rebuild the firmware")
    if len(p) != HELLO_ACK.size:
        raise ProtocolError(f"handshake of {len(p)} bytes, protocol {PROTOCOL_VERSION} has "
                            f"{HELLO_ACK.size}: not a bench firmware?")
    (version, in_dt, out_dt, clock, timer, in_b, out_b, arena, stack_size, max_payload,
     model_hash, build_id, board, engine, stack_hw) = HELLO_ACK.unpack_from(p)
    for what, code, known in (("input dtype", in_dt, DTYPES), ("output dtype", out_dt, DTYPES),
                              ("timer kind", timer, TIMER_KINDS)):
        if code not in known:
            raise ProtocolError(f"handshake names {what} {code}, which protocol "
                                f"{PROTOCOL_VERSION} does not have")
    if max_payload < in_b:
        raise ProtocolError(f"handshake: the device takes at most {max_payload} bytes, less "
                            f"than its own input of {in_b}")
    return DeviceInfo(
        protocol_version=version, input_dtype=DTYPES[in_dt], output_dtype=DTYPES[out_dt],
        clock_hz=clock, timer_kind=TIMER_KINDS[timer], input_bytes=in_b, output_bytes=out_b,
        arena_bytes=arena, stack_size_bytes=stack_size, max_payload=max_payload,
        model_hash=model_hash.hex(), build_id=build_id.hex(), board=_cstr(board),
        engine=_cstr(engine), stack_bytes=stack_hw)


def parse_result(p: bytes, info: DeviceInfo, seq: int | None = None) -> Inference:
    """A RESULT's body, checked against what the handshake announced."""
    if len(p) < RESULT_HEADER.size:
        raise ProtocolError(f"result too short ({len(p)} bytes)", frame=seq)
    count, stack, timer, n_spikes, n_layers = RESULT_HEADER.unpack_from(p)
    want = RESULT_HEADER.size + 4 * (n_layers + n_spikes) + info.output_bytes
    if len(p) != want:
        raise ProtocolError(f"a result of {len(p)} bytes; with {n_layers} layer counts, "
                            f"{n_spikes} spike counts and {info.output_bytes} output bytes it "
                            f"must have {want}", frame=seq)
    if timer not in TIMER_KINDS:
        raise ProtocolError(f"a result names timer kind {timer}, which protocol "
                            f"{PROTOCOL_VERSION} does not have", frame=seq)
    if stack > info.stack_size_bytes:
        raise ProtocolError(f"a result claims {stack} bytes of stack used, more than the "
                            f"{info.stack_size_bytes} the device has", frame=seq)
    layers = struct.unpack_from(f"<{n_layers}I", p, RESULT_HEADER.size)
    body = RESULT_HEADER.size + 4 * n_layers
    spikes = struct.unpack_from(f"<{n_spikes}I", p, body)
    return Inference(count=count, timer_kind=TIMER_KINDS[timer], stack_bytes=stack,
                     output=p[body + 4 * n_spikes:], layers=layers, spikes=spikes)

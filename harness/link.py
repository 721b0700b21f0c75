"""Host side of the device link: framed messages over a pyserial URL.

The frame layout and messages are in docs/protocol.md and
firmware/runtime/bench_protocol.h. The host never trusts the device: every
reply is checked (sync, CRC, sequence number, length), a bad or missing reply
is retried, and only then is the device declared silent.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

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

MSG_HELLO, MSG_INFER, MSG_PING = 0x01, 0x02, 0x03
MSG_HELLO_ACK, MSG_RESULT, MSG_PONG, MSG_ERROR = 0x81, 0x82, 0x83, 0xFF
ERRORS = {1: "crc mismatch", 2: "bad length", 3: "unknown message type", 4: "model failed"}
DTYPES = {0: DType.FLOAT32, 1: DType.INT16, 2: DType.INT8}  # bench_model.h bench_dtype
TIMER_KINDS = {0: "none", 1: "dwt_cycles", 2: "systick"}

HELLO_ACK = struct.Struct("<HBBIB3xIIIII8s8s16s16sI")
RESULT_HEADER = struct.Struct("<QIBBH")  # count, stack, timer kind, spike counts S, layer counts L


class DeviceSilent(ProtocolError):
    """No valid reply after every retry: the device needs a reset."""


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
    spikes: tuple[int, ...] = ()  # spiking models: spikes per layer over the sample's timesteps


def frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    header = HEADER.pack(msg_type, 0, seq & 0xFFFF, len(payload))
    return SYNC + header + payload + struct.pack("<I", zlib.crc32(header + payload))


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


class Link:
    """One open connection to a device running the bench runtime."""

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3,
                 connect_s: float = 10.0, baudrate: int | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.retried_frames = 0
        self._seq = 0
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

    # -- framing ---------------------------------------------------------------

    def _read_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = self._port.read(n - len(buf))
            buf += chunk
        return bytes(buf)

    def _read_frame(self, deadline: float) -> tuple[int, int, bytes]:
        # Hunt for the sync pair; stray bytes (boot noise, a torn frame) are skipped.
        prev = b""
        while True:
            b = self._read_exact(1, deadline)
            if prev == SYNC[:1] and b == SYNC[1:]:
                break
            prev = b
        header = self._read_exact(HEADER.size, deadline)
        msg_type, _flags, seq, length = HEADER.unpack(header)
        body = self._read_exact(length + 4, deadline)
        payload, crc = body[:length], struct.unpack("<I", body[length:])[0]
        if zlib.crc32(header + payload) != crc:
            raise ProtocolError("crc mismatch in a reply from the device", frame=seq)
        return msg_type, seq, payload

    def request(self, msg_type: int, payload: bytes, reply_type: int,
                timeout_s: float | None = None) -> bytes:
        """Send one request and return the payload of its reply, retrying on
        corrupt, mismatched or missing replies."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        problem = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried_frames += 1
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
            try:
                self._port.reset_input_buffer()
                self._port.write(frame(msg_type, seq, payload))
            except _TTY_ERRORS as e:
                # The emulator died: an OSError, which the runner answers with a restart.
                raise OSError(f"device link {self.url} is gone: {e}") from e
            deadline = time.monotonic() + timeout_s
            try:
                while True:
                    got_type, got_seq, reply = self._read_frame(deadline)
                    if got_seq != seq:
                        continue  # a late reply to an earlier attempt
                    if got_type == MSG_ERROR:
                        code = reply[0] if reply else 0
                        problem = f"device error: {ERRORS.get(code, f'code {code}')}"
                        if code in (2, 3, 4):  # not transient: retrying cannot help
                            raise ProtocolError(problem, frame=seq)
                        break
                    if got_type != reply_type:
                        raise ProtocolError(
                            f"expected message 0x{reply_type:02x}, got 0x{got_type:02x}", frame=seq)
                    return reply
            except TimeoutError:
                problem = f"no reply within {timeout_s:g} s"
            except ProtocolError as e:
                if "crc mismatch" not in str(e):
                    raise
                problem = str(e)
        raise DeviceSilent(f"device at {self.url} did not answer after {self.retries + 1} tries: "
                           f"{problem}")

    # -- messages --------------------------------------------------------------

    def hello(self, timeout_s: float = 0.3, attempts: int = 30) -> DeviceInfo:
        """Handshake. Bytes sent before the firmware enables its UART are
        lost, so the first HELLOs are expected to go unanswered."""
        saved = self.retries
        self.retries = attempts - 1
        try:
            p = self.request(MSG_HELLO, b"", MSG_HELLO_ACK, timeout_s=timeout_s)
        finally:
            self.retries = saved
        if len(p) < HELLO_ACK.size:
            raise ProtocolError(f"handshake too short ({len(p)} bytes): not a bench firmware?")
        (version, in_dt, out_dt, clock, timer, in_b, out_b, arena, stack_size, max_payload,
         model_hash, build_id, board, engine, stack_hw) = HELLO_ACK.unpack_from(p)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"device speaks protocol {version}, host speaks "
                                f"{PROTOCOL_VERSION}: rebuild the firmware")
        return DeviceInfo(
            protocol_version=version, input_dtype=DTYPES.get(in_dt, str(in_dt)),
            output_dtype=DTYPES.get(out_dt, str(out_dt)), clock_hz=clock,
            timer_kind=TIMER_KINDS.get(timer, str(timer)), input_bytes=in_b,
            output_bytes=out_b, arena_bytes=arena, stack_size_bytes=stack_size,
            max_payload=max_payload, model_hash=model_hash.hex(), build_id=build_id.hex(),
            board=_cstr(board), engine=_cstr(engine), stack_bytes=stack_hw)

    def ping(self, payload: bytes = b"") -> bytes:
        return self.request(MSG_PING, payload, MSG_PONG)

    def infer(self, tensor: bytes) -> Inference:
        p = self.request(MSG_INFER, tensor, MSG_RESULT)
        if len(p) < RESULT_HEADER.size:
            raise ProtocolError(f"result too short ({len(p)} bytes)", frame=self._seq)
        count, stack, timer, n_spikes, n_layers = RESULT_HEADER.unpack_from(p)
        body = RESULT_HEADER.size + 4 * n_layers
        if len(p) < body + 4 * n_spikes:
            raise ProtocolError(f"result too short ({len(p)} bytes) for its {n_layers} layer "
                                f"and {n_spikes} spike counts", frame=self._seq)
        spikes = struct.unpack_from(f"<{n_spikes}I", p, body)
        return Inference(count=count, timer_kind=TIMER_KINDS.get(timer, str(timer)),
                         stack_bytes=stack, output=p[body + 4 * n_spikes:], spikes=spikes)

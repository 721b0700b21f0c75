"""The host's side of the device link (harness/link.py): the frame decoder
under arbitrary bytes (hypothesis), and the Link's answers to a device
that replies with damage, errors or malformed bodies (a scripted device on
a real pty). The same rules on the real emulator: tests/test_link_faults.py."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sims.bench_device import Reply, ScriptedDevice, hello_ack

from harness.errors import ProtocolError
from harness.link import (
    ERR_CRC,
    ERR_LENGTH,
    ERR_MODEL,
    MSG_ERROR,
    MSG_RESULT,
    RESULT_HEADER,
    SYNC,
    Damaged,
    Frame,
    FrameDecoder,
    Link,
    LinkLost,
    frame,
    parse_hello,
    parse_result,
)

BUILD = b"\x42" * 8
IN_BYTES, OUT_BYTES = 256, 40  # what sims.bench_device.hello_ack announces

frames_st = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF),
                               st.binary(max_size=80)), min_size=1, max_size=5)


def decode(data: bytes, max_length: int = 0xFFFF, chunk: int = 0) -> list[Frame | Damaged]:
    """Everything a decoder finds in ``data``, fed whole or ``chunk`` bytes at a time."""
    d = FrameDecoder(max_length)
    out: list[Frame | Damaged] = []
    pieces = [data] if not chunk else [data[i:i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        d.feed(piece)
        while (item := d.next()) is not None:
            out.append(item)
    return out


def intact(items: list[Frame | Damaged]) -> list[tuple[int, int, bytes]]:
    return [(f.msg_type, f.seq, f.payload) for f in items if isinstance(f, Frame)]


# No deadline: the suite shares two cores with emulators; an example's time says nothing.
@settings(deadline=None)
@given(frames_st, st.integers(0, 7))
def test_frames_decode_whole_however_the_bytes_arrive(frames: list, chunk: int) -> None:
    data = b"".join(frame(t, s, p) for t, s, p in frames)
    assert decode(data, chunk=chunk) == [Frame(t, s, p) for t, s, p in frames]


@settings(deadline=None)
@given(frames_st, st.binary(max_size=64), st.binary(max_size=64))
def test_noise_around_frames_costs_nothing_once_zeros_follow(
        frames: list, before: bytes, between: bytes) -> None:
    """Whatever comes before or between frames (fake sync pairs and headers
    too), every frame is found once the resend filler (zeros as long as
    the longest frame) has followed: the rule the Link relies on."""
    data = before + b"".join(frame(t, s, p) + between for t, s, p in frames)
    filler = bytes(80 + 12)
    assert intact(decode(data + filler, max_length=80)) == frames


@settings(deadline=None)
@given(frames_st, st.data())
def test_a_flipped_bit_never_decodes_as_another_frame(frames: list, data: st.DataObject) -> None:
    """One flipped bit anywhere in one frame: that frame is lost (the CRC
    or the length check catches it), every other frame still decodes, and
    nothing raises."""
    encoded = [frame(t, s, p) for t, s, p in frames]
    victim = data.draw(st.integers(0, len(encoded) - 1))
    bit = data.draw(st.integers(0, 8 * len(encoded[victim]) - 1))
    damaged = bytearray(encoded[victim])
    damaged[bit // 8] ^= 1 << (bit % 8)
    encoded[victim] = bytes(damaged)
    got = intact(decode(b"".join(encoded) + bytes(80 + 12), max_length=80))
    assert got == [f for i, f in enumerate(frames) if i != victim]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_any_bytes_never_raise_and_leave_nothing_unbounded(data: bytes, limit: int) -> None:
    d = FrameDecoder(limit)
    d.feed(data)
    while (item := d.next()) is not None:
        assert isinstance(item, (Frame, Damaged))
        if isinstance(item, Frame):
            assert len(item.payload) <= limit
    assert d.needed() >= 1


# -- the Link against a scripted device ------------------------------------------------

def result(seq: int, out: bytes = bytes(OUT_BYTES), layers: int = 0, count: int = 1234,
           stack: int = 100, timer: int = 1) -> bytes:
    body = RESULT_HEADER.pack(count, stack, timer, 0, layers) + bytes(4 * layers) + out
    return frame(MSG_RESULT, seq, body)


def error(code: int) -> Reply:
    return lambda seq, _p: frame(MSG_ERROR, seq, bytes([code, 0]) + struct.pack("<H", seq))


def good(seq: int, _p: bytes) -> bytes:
    return result(seq)


def open_link(device: ScriptedDevice) -> Link:
    link = Link(device.path, timeout_s=2.0)
    link.hello()
    return link


@pytest.mark.parametrize("first", [
    error(ERR_LENGTH),  # a length the device could not check the CRC of: damage
    error(ERR_CRC),
    lambda seq, _p: bytearray(result(seq))[:-1] + b"\x00",  # the reply's CRC fails
    lambda seq, _p: result(seq)[:8] + result(seq)[6:],  # a reply torn and spliced
    lambda seq, _p: SYNC + b"\x82\x00" + struct.pack("<HH", seq, 60000),  # a length past any reply
], ids=["error-2", "error-1", "crc", "torn", "long-header"])
def test_a_damaged_exchange_is_resent_at_once(first: Reply) -> None:
    with ScriptedDevice(hello_ack("b", BUILD), [first, good]) as device:
        link = open_link(device)
        started = time.monotonic()
        res = link.infer(bytes(IN_BYTES))
        assert res.count == 1234 and len(res.output) == OUT_BYTES
        assert link.retried_frames == 1
        assert time.monotonic() - started < 1.0  # no wait for a timeout


def test_a_missing_reply_is_resent_after_a_short_wait_once_replies_are_known() -> None:
    with ScriptedDevice(hello_ack("b", BUILD), [good, lambda s, p: b"", good]) as device:
        link = open_link(device)
        link.infer(bytes(IN_BYTES))  # measures how long a reply takes
        started = time.monotonic()
        link.infer(bytes(IN_BYTES))
        assert link.retried_frames == 1
        assert time.monotonic() - started < 1.0  # not the 2 s timeout


@pytest.mark.parametrize("reply,expect", [
    (lambda s, p: result(s, out=bytes(OUT_BYTES - 1)), "a result of 55 bytes"),
    (lambda s, p: result(s, out=bytes(OUT_BYTES + 2)), "it must have 56"),
    (lambda s, p: result(s, layers=3, out=bytes(OUT_BYTES - 4)), "with 3 layer counts"),
    (lambda s, p: result(s, timer=9), "timer kind 9"),
    (lambda s, p: result(s, stack=1 << 20), "more than the 4096"),
    (lambda s, p: frame(MSG_RESULT, s, b"\x01\x02"), "result too short"),
    (error(ERR_MODEL), "model failed"),
    (lambda s, p: frame(0x83, s, b""), "expected message 0x82, got 0x83"),
], ids=["short", "long", "layers", "timer", "stack", "tiny", "model-error", "wrong-type"])
def test_an_intact_but_malformed_reply_is_a_protocol_error(reply: Reply,
                                                           expect: str) -> None:
    """A reply whose CRC holds is what the device meant: checked against the
    handshake, and refused with one line (never a ValueError, never resent)."""
    with ScriptedDevice(hello_ack("b", BUILD), [reply]) as device:
        link = open_link(device)
        with pytest.raises(ProtocolError, match=expect.replace("(", r"\(")):
            link.infer(bytes(IN_BYTES))
        assert link.retried_frames == 0


@pytest.mark.parametrize("field,value,expect", [
    (2, 7, "input dtype 7"), (8, 5, "timer kind 5"), (0, 2, "protocol 2"),
])
def test_a_malformed_handshake_is_refused(field: int, value: int, expect: str) -> None:
    ack = bytearray(hello_ack("b", BUILD))
    ack[field] = value
    with ScriptedDevice(bytes(ack), [good]) as device:
        with pytest.raises(ProtocolError, match=expect):
            Link(device.path).hello()


def test_a_device_that_hangs_up_is_link_lost_not_a_serial_traceback() -> None:
    with ScriptedDevice(hello_ack("b", BUILD), [good]) as device:
        link = open_link(device)
        device.hang_up()
        with pytest.raises(LinkLost, match="is gone"):
            link.infer(bytes(IN_BYTES))


def test_an_input_of_the_wrong_size_is_never_sent() -> None:
    with ScriptedDevice(hello_ack("b", BUILD), [good]) as device:
        link = open_link(device)
        with pytest.raises(ProtocolError, match="the device takes 256"):
            link.infer(bytes(IN_BYTES + 4))
        assert [t for t, _ in device.seen] == [1]  # only the HELLO went out


INFO = parse_hello(hello_ack("b", BUILD))


@settings(deadline=None)
@given(st.binary(max_size=200), st.integers(0, 0xFFFF))
def test_any_reply_body_is_an_inference_or_one_protocol_error(body: bytes, seq: int) -> None:
    """Whatever body a CRC-valid frame carries, the host's parsers return a
    checked result or raise ProtocolError (one line): never another error."""
    for parse in (parse_hello, lambda p: parse_result(p, INFO, seq)):
        try:
            parse(body)
        except ProtocolError:
            pass


@settings(deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, INFO.stack_size_bytes), st.sampled_from([0, 1, 2]),
       st.lists(st.integers(0, 2**32 - 1), max_size=8), st.binary(min_size=OUT_BYTES,
                                                                  max_size=OUT_BYTES))
def test_a_well_formed_result_reads_back_as_sent(count: int, stack: int, timer: int,
                                                 layers: list[int], out: bytes) -> None:
    body = (RESULT_HEADER.pack(count, stack, timer, 0, len(layers))
            + struct.pack(f"<{len(layers)}I", *layers) + out)
    got = parse_result(body, INFO)
    assert (got.count, got.stack_bytes, got.layers, got.output) == (count, stack, tuple(layers),
                                                                    out)

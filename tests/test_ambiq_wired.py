"""The Ambiq Apollo3 secure-bootloader wired update against a fake SBL on a
pty (tests/sims/ambiq_bootloader.py), opened with pyserial like a board."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from flash_fixtures import apollo3_board, needs_cc, tiny_elf
from sims import ambiq_bootloader as sbl
from sims.ambiq_bootloader import FakeBootloader
from sims.bench_device import hello_ack

from harness.backends import get_backend
from harness.backends.base import Options
from harness.commands.flash import flash_board
from harness.errors import ConfigError, ProtocolError
from harness.flash import ambiq_wired as aw
from harness.flash.image import load_image


def ambiq(port: str, boot_entry: str | None = None):  # noqa: ANN201
    """The ambiq-uart backend as 'bench flash --port PORT' makes it."""
    return get_backend("ambiq-uart", Options(port=port, boot_entry=boot_entry))


QUIET = {"say": lambda _text: None, "connect_s": 2.0, "reply_timeout_s": 1.0}


def test_packet_layout_matches_the_documented_frame() -> None:
    raw = aw.hello().encode()
    assert raw[4:] == bytes.fromhex("00000800")  # (8 << 16) | HELLO, little endian
    assert raw[:4] == struct.pack("<I", zlib.crc32(raw[4:]))
    raw = aw.data(0x1FF4, b"abc").encode()
    assert struct.unpack_from("<II", raw, 4) == ((15 << 16) | 8, 0x1FF4)
    assert aw.Packet.decode(raw) == aw.Packet(aw.Msg.DATA, struct.pack("<I", 0x1FF4) + b"abc")
    with pytest.raises(aw.BootloaderError, match="crc mismatch"):
        aw.Packet.decode(raw[:-1] + b"x")
    with pytest.raises(ValueError):
        aw.data(0, bytes(aw.DATA_CHUNK + 1))


def test_ota_image_and_wired_blocks_follow_the_header_layout() -> None:
    app = bytes(range(256)) * 1200 + b"xy"  # 307,202 bytes: padded, then split in two
    image = aw.ota_image(app)
    w0, crc, w2 = struct.unpack_from("<III", image)
    assert w0 >> 24 == 0xCB and w0 & 0xFFFFFF == len(image) == 128 + 307_204
    assert crc == zlib.crc32(image[8:]) and w2 == 0x10008080
    assert struct.unpack_from("<IIII", image, 112) == (0xC000, 0, 0xFFFFFFFF, 0xFFFFFFFF)
    assert image[128:128 + len(app)] == app
    blocks = aw.wired_blocks(image)
    assert [len(b) - 96 for b in blocks] == [0x48000, len(image) - 0x48000]
    for i, b in enumerate(blocks):
        assert b[80] == 6 and b[81] == (1 if i == 0 else 0)
        assert struct.unpack_from("<III", b, 84) == (0x12344321, 0x20000 + i * 0x48000,
                                                      len(b) - 96)
    assert b"".join(b[96:] for b in blocks) == image


def test_image_arrives_byte_exact_in_order() -> None:
    app = os.urandom(310_000)  # two blocks, 39 DATA packets
    with FakeBootloader() as fake:
        result = aw.flash_app(fake.path, app, **QUIET)
    assert fake.errors == []
    assert fake.installed[0xC000][:len(app)] == app
    assert fake.resets == [aw.RESET_POI]
    kinds = [t for t, _ in fake.log]
    assert kinds[:3] == [sbl.HELLO, sbl.OTA_DESC, sbl.UPDATE] and kinds[-1] == sbl.RESET
    assert kinds.count(sbl.UPDATE) == 2 and all(s == sbl.OK for _, s in fake.log)
    assert result.blocks == 2 and result.retried == 0 and result.status.version == sbl.VERSION


def test_corrupt_data_packet_is_rejected_and_resent() -> None:
    app = os.urandom(50_000)
    with FakeBootloader(corrupt_rx={1, 4}) as fake:
        result = aw.flash_app(fake.path, app, **QUIET)
    assert fake.errors == ["crc mismatch in message type 8"] * 2
    assert (sbl.DATA, sbl.CRC_ERR) in fake.log
    assert result.retried == 2
    assert fake.installed[0xC000][:len(app)] == app


def test_damaged_ack_restarts_the_block() -> None:
    app = os.urandom(30_000)
    with FakeBootloader(corrupt_tx={4}) as fake:  # STATUS, OTA, UPDATE, DATA 0, DATA 1 <-
        result = aw.flash_app(fake.path, app, **QUIET)
    assert result.retried == 1 and fake.errors == []
    assert [t for t, _ in fake.log].count(sbl.UPDATE) == 2
    assert fake.installed[0xC000][:len(app)] == app


def test_refusal_is_reported_in_one_line() -> None:
    with FakeBootloader(refuse={sbl.UPDATE: sbl.BAD_ADDR}) as fake:
        with pytest.raises(aw.BootloaderError) as e:
            aw.flash_app(fake.path, b"\0" * 1000, **QUIET)
    assert "refused UPDATE: invalid addr" in str(e.value) and "\n" not in str(e.value)
    assert fake.installed == {}


def test_silent_bootloader_times_out_with_a_hint() -> None:
    with FakeBootloader(silent=True) as fake:
        with pytest.raises(aw.BootloaderError) as e:
            aw.flash_app(fake.path, b"\0" * 1000, **{**QUIET, "connect_s": 1.0})
    msg = str(e.value)
    assert "no answer from the Ambiq bootloader" in msg and "button 14" in msg
    assert "921600" in msg and "\n" not in msg


def test_lines_entry_needs_modem_lines() -> None:
    with FakeBootloader() as fake:
        with pytest.raises(aw.BootloaderError, match="--boot-entry button"):
            aw.flash_app(fake.path, b"\0" * 1000, entry="lines", **QUIET)


@needs_cc
def test_flash_command_path_installs_the_elf_and_handshakes(tmp_path: Path) -> None:
    board = apollo3_board()
    elf = tiny_elf(tmp_path, 0xC000, payload=20_000)
    ack = hello_ack(board.name, b"\x42" * 8)
    with FakeBootloader(app_hello_ack=ack) as fake:
        done = flash_board(board, ambiq(fake.path, "button"), elf,
                           handshake_s=2)
    image = load_image(elf)
    assert image.base == 0xC000
    assert image.data.endswith(struct.pack("<I", 7))  # .data's initial value, at its LMA
    assert fake.installed[0xC000][:len(image.data)] == image.data
    assert done.info.board == board.name and done.info.build_id == "42" * 8
    assert done.port == fake.path and "Ambiq bootloader" in done.detail


@needs_cc
def test_firmware_of_another_board_is_refused_after_flashing(tmp_path: Path) -> None:
    board = apollo3_board()
    elf = tiny_elf(tmp_path, 0xC000)
    ack = hello_ack("stm32l452", b"\x07" * 8)  # what a wrongly built image would say
    with FakeBootloader(app_hello_ack=ack) as fake:
        with pytest.raises(ProtocolError) as e:
            flash_board(board, ambiq(fake.path), elf, handshake_s=2)
    assert "built for board 'stm32l452'" in str(e.value) and "\n" not in str(e.value)


@needs_cc
def test_elf_linked_elsewhere_is_refused_before_any_byte_is_sent(tmp_path: Path) -> None:
    board = apollo3_board()
    elf = tiny_elf(tmp_path, 0x0)  # over the bootloader itself
    with FakeBootloader() as fake:
        with pytest.raises(ConfigError, match="linked at 0x0; the Ambiq bootloader installs"):
            flash_board(board, ambiq(fake.path), elf)
        assert fake.log == []

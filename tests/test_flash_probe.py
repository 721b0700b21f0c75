"""bench flash / the probe backend at the seams that exist without a board:
pyOCD's probe listing (only its enumeration call is replaced, by objects
with a DebugProbe's attributes), pyOCD's own target and pack lookup, the
ELF fit check on real ELFs, and the handshake over a pty."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flash_fixtures import apollo3_board, skip_without_cc, tiny_elf
from pyocd.core.helpers import ConnectHelper
from pyocd.target import TARGET
from pyocd.target.pack import pack_target
from serial.tools.list_ports_common import ListPortInfo
from sims.bench_device import FakeBenchDevice, hello_ack

from harness.backends import get_backend, get_board
from harness.cli import main
from harness.errors import BackendError, ConfigError, ProtocolError, ToolMissingError
from harness.flash import pyocd_flash
from harness.flash.handshake import Expected, wait_handshake
from harness.flash.image import check_fits


@dataclass
class ListedProbe:
    """What pyOCD's DebugProbe exposes when listed (pyocd/probe/debug_probe.py)."""

    unique_id: str
    description: str
    vendor_name: str = "STMicroelectronics"
    product_name: str = "STM32 STLink"


NUCLEO = ListedProbe("0669FF505055877267183628", "NUCLEO-L452RE")
OTHER = ListedProbe("066DFF535154887767094522", "NUCLEO-F401RE")


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[ListedProbe]:
    attached: list[ListedProbe] = []

    def enumerate_probes(blocking: bool = True, unique_id: str | None = None,
                         print_wait_message: bool = True) -> list[ListedProbe]:
        assert blocking is False  # bench never waits for a probe to appear
        return list(attached)

    monkeypatch.setattr(ConnectHelper, "get_all_connected_probes",
                        staticmethod(enumerate_probes))
    return attached


def flash(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["flash", *args])
    return code, capsys.readouterr().err.strip()


@pytest.fixture
def stm_elf(tmp_path: Path) -> Path:
    skip_without_cc()
    return tiny_elf(tmp_path, 0x0800_0000)


def test_no_probe_is_one_line(probes: list, stm_elf: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = flash(capsys, "--board", "stm32l452", "--firmware", str(stm_elf))
    assert code == 2 and err.count("\n") == 0
    assert err == ("bench: error: no debug probe found: connect the board's USB (ST-LINK / "
                   "DAPLink side) and check 'bench doctor'")


def test_several_probes_are_listed_and_nothing_is_flashed(
        probes: list, stm_elf: Path, capsys: pytest.CaptureFixture) -> None:
    probes += [NUCLEO, OTHER]
    code, err = flash(capsys, "--board", "stm32l452", "--firmware", str(stm_elf))
    assert code == 2 and err.count("\n") == 0
    assert "2 debug probes attached, choose one with --probe ID" in err
    assert NUCLEO.unique_id in err and "NUCLEO-L452RE" in err and OTHER.unique_id in err


def test_wrong_probe_id_lists_the_attached_ones(
        probes: list, stm_elf: Path, capsys: pytest.CaptureFixture) -> None:
    probes += [NUCLEO, OTHER]
    code, err = flash(capsys, "--board", "stm32l452", "--firmware", str(stm_elf),
                      "--probe", "0670")
    assert code == 2 and err.count("\n") == 0
    assert f"probe '0670' is not attached; attached: {NUCLEO.unique_id}, {OTHER.unique_id}" \
        in err


def test_probe_chosen_by_id_or_prefix(probes: list) -> None:
    probes += [NUCLEO, OTHER]
    listed = pyocd_flash.list_probes()
    assert pyocd_flash.choose_probe(listed, NUCLEO.unique_id).raw is NUCLEO
    assert pyocd_flash.choose_probe(listed, "066d").raw is OTHER
    with pytest.raises(ConfigError, match="matches several probes"):
        pyocd_flash.choose_probe(listed, "06")
    only = pyocd_flash.choose_probe(listed[:1], None)
    assert (only.unique_id, only.vendor, only.product) == (
        NUCLEO.unique_id, "STMicroelectronics", "STM32 STLink")


def test_missing_cmsis_pack_names_the_install_command(
        probes: list, stm_elf: Path, capsys: pytest.CaptureFixture) -> None:
    pack_target.ManagedPacks.populate_target("stm32l452retx")
    if "stm32l452retx" in TARGET:
        pytest.skip("the STM32L4 pack is installed here")
    probes.append(NUCLEO)
    code, err = flash(capsys, "--board", "stm32l452", "--firmware", str(stm_elf))
    assert code == 2 and err.count("\n") == 0
    assert "pyOCD has no target 'stm32l452retx'" in err
    assert "'pyocd pack install stm32l452re' installs it" in err


def test_builtin_apollo3_target_needs_no_pack() -> None:
    edge = apollo3_board()
    pyocd_flash.check_target(edge, get_backend("probe").facts(edge))  # built into pyOCD
    with pytest.raises(ToolMissingError, match="pyocd pack install stm32l452re"):
        if "stm32l452retx" in TARGET:
            pytest.skip("the STM32L4 pack is installed here")
        nucleo = get_board("stm32l452")
        pyocd_flash.check_target(nucleo, get_backend("probe").facts(nucleo))


def _port(device: str, serial: str | None, vid: int | None) -> ListPortInfo:
    p = ListPortInfo(device, skip_link_detection=True)
    p.serial_number, p.vid, p.pid = serial, vid, 0x374B if vid else None
    return p


def test_serial_port_found_from_the_probe_usb_identity() -> None:
    nucleo = pyocd_flash.Probe(NUCLEO.unique_id, "", "", "")
    ports = [_port("/dev/ttyACM1", OTHER.unique_id, 0x0483),
             _port("/dev/ttyACM0", NUCLEO.unique_id.lower(), 0x0483),
             _port("/dev/ttyUSB0", "A50285BI", 0x0403)]
    assert pyocd_flash.serial_port_for(nucleo, ports) == "/dev/ttyACM0"
    # No serial number match: the only port of a probe vendor.
    assert pyocd_flash.serial_port_for(nucleo, ports[2:] + [_port("/dev/ttyACM3", None,
                                                                   0x0483)]) == "/dev/ttyACM3"
    with pytest.raises(ConfigError, match="pass --port .*/dev/ttyACM1"):
        pyocd_flash.serial_port_for(nucleo, [ports[0], _port("/dev/ttyACM2", "X", 0x0483)])


def test_probe_backend_availability_follows_the_listing(probes: list) -> None:
    ok, why = get_backend("probe").available()
    assert not ok and "no debug probe attached" in why
    probes.append(NUCLEO)
    ok, why = get_backend("probe").available()
    assert ok and NUCLEO.unique_id in why


def test_probe_backend_counts_cycles_at_the_board_clock() -> None:
    board = get_board("stm32l452")
    c = get_backend("probe").count(board, 160_000, "dwt_cycles")
    assert (c.value, c.kind, c.raw) == (160_000, "cycles", 160_000)
    assert c.value / board.clock_hz == pytest.approx(2e-3)  # 2 ms at 80 MHz
    with pytest.raises(BackendError):
        get_backend("probe").count(board, 1, "none")


def test_elf_too_large_is_refused(tmp_path: Path, probes: list,
                                  capsys: pytest.CaptureFixture) -> None:
    skip_without_cc()
    big = tiny_elf(tmp_path, 0x0800_0000, payload=600 * 1024, name="big")
    code, err = flash(capsys, "--board", "stm32l452", "--firmware", str(big))
    assert code == 2 and err.count("\n") == 0
    assert "needs 614,4" in err and "stm32l452 has 524,288" in err and "does not fit" in err
    # The Apollo3's application space is its 1 MB less the bootloader's 48 KB.
    edge = tiny_elf(tmp_path, 0xC000, payload=1_000_000, name="edge")
    with pytest.raises(Exception, match="apollo3 has 999,424 for the application"):
        check_fits(edge, apollo3_board())


def test_handshake_timeout_has_a_hint() -> None:
    board = get_board("stm32l452")
    with FakeBenchDevice(None) as dev:
        with pytest.raises(BackendError) as e:
            wait_handshake(dev.path, board, Expected(board.name), timeout_s=1.0)
        assert dev.hellos >= 3  # it kept asking
    assert str(e.value) == (f"no handshake after 1 s on {dev.path}: wrong port? wrong baud "
                            f"(stm32l452 uses 921600)? did the firmware start (press reset)?")


def test_handshake_refuses_another_board_and_another_build() -> None:
    board = get_board("stm32l452")
    build = "5a" * 8
    with FakeBenchDevice(hello_ack("apollo3", bytes.fromhex(build))) as dev:
        with pytest.raises(ProtocolError, match="built for board 'apollo3'.*--board stm32l452"):
            wait_handshake(dev.path, board, Expected(board.name, build), timeout_s=2)
    with FakeBenchDevice(hello_ack("stm32l452", b"\x01" * 8)) as dev:
        with pytest.raises(ProtocolError, match=f"runs build 0101010101010101, not the flashed "
                                                f"{build}"):
            wait_handshake(dev.path, board, Expected(board.name, build), timeout_s=2)
    with FakeBenchDevice(hello_ack("stm32l452", bytes.fromhex(build))) as dev:
        info = wait_handshake(dev.path, board, Expected(board.name, build), timeout_s=2)
    assert (info.board, info.build_id, info.timer_kind) == ("stm32l452", build, "dwt_cycles")


@pytest.mark.emulator  # a firmware build
def test_emulator_build_is_refused_for_a_real_board(tiny_model: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "fw"
    assert main(["build", "--board", "stm32l452", "--model", tiny_model, "-o", str(out)]) == 0
    code, err = flash(capsys, "--board", "stm32l452", "--backend", "probe", "--firmware",
                      str(out))
    assert code == 2 and err.count("\n") == 0
    assert "was built for the 'semihost' link" in err and "--backend probe" in err

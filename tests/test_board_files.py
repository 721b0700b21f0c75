"""board.toml read strictly: every key is known to the board or to the part
that owns its table, and every reader uses the typed facts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flash_fixtures import needs_cc, tiny_elf
from sims.ambiq_bootloader import FakeBootloader
from sims.bench_device import hello_ack

from harness.backends import check_board, get_backend, get_board
from harness.backends.base import Options
from harness.boards import read_board
from harness.commands.flash import flash_board
from harness.errors import ConfigError
from harness.flash.image import check_fits
from harness.paths import BOARDS


def board_copy(tmp_path: Path, name: str, edit: dict[str, str]) -> Path:
    """boards/<name> copied under tmp_path with lines of board.toml replaced."""
    folder = tmp_path / name
    shutil.copytree(BOARDS / name, folder)
    toml = folder / "board.toml"
    text = toml.read_text()
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new)
    toml.write_text(text)
    return folder


def checked(folder: Path) -> None:
    check_board(read_board(folder))


def test_the_shipped_boards_read_cleanly() -> None:
    for name in ("stm32l452", "apollo3"):
        b = get_board(name)
        assert b.file == BOARDS / name / "board.toml"
    assert get_board("apollo3").load_address == 0xC000
    assert get_board("stm32l452").load_address == 0x0800_0000


@pytest.mark.parametrize("edit,message", [
    ({'core = "cortex-m4f"': 'core = "cortex-m4f"\ncolour = "blue"'},
     "board.toml: unknown key 'colour'"),
    ({"[qemu]": "[qemu]\nspeed = 3"}, "board.toml [qemu]: unknown key 'speed'"),
    ({"[qemu]": "[bochs]\nmachine = 1\n[qemu]"}, "unknown table [bochs]"),
    ({"serial_index = 1": 'serial_index = "one"'},
     "[qemu]: 'serial_index' must be an integer, not 'one'"),
    ({"clock_hz = 80_000_000": 'clock_hz = "fast"'}, "'clock_hz' must be an integer"),
    ({'backends = ["qemu", "probe", "renode"]': 'backends = ["qemu", "bochs"]'},
     "lists backend 'bochs', which bench does not have"),
    ({"run_ua_per_mhz = 100.0": "run_ua_per_mhz = 100.0\nwatts = 1"},
     "board.toml [power]: unknown key 'watts'"),
    ({'[probe]\ntarget = "stm32l452retx"\n': ""}, "lists backend 'probe' but has no [probe]"),
    ({"part = \"STM32L452RE\"\n": ""}, "board.toml lacks 'part'"),
])
def test_a_bad_board_file_names_the_file_and_the_key(tmp_path: Path, edit: dict[str, str],
                                                       message: str) -> None:
    folder = board_copy(tmp_path, "stm32l452", edit)
    with pytest.raises(ConfigError) as e:
        checked(folder)
    assert message in str(e.value) and str(folder) in str(e.value)


def test_rom_bytes_is_the_applications_share(tmp_path: Path) -> None:
    """The Apollo3's 1 MB holds the 48 KB bootloader; rom_bytes says what is
    left, and the fit check uses exactly that."""
    assert get_board("apollo3").rom_bytes == 1024 * 1024 - 0xC000


@needs_cc
def test_load_address_comes_from_the_board_file(tmp_path: Path) -> None:
    """A board whose bootloader starts applications elsewhere than the
    Apollo3's 0xC000: the image must be linked, checked and installed at the
    board's own load address (the Ambiq backend once read a key that was
    never there and always used 0xC000)."""
    folder = board_copy(tmp_path, "apollo3", {
        "load_address = 0xC000": "load_address = 0x10000",
        "rom_bytes = 999_424": "rom_bytes = 983_040"})
    board = check_board(read_board(folder))
    assert board.load_address == 0x10000
    elf = tiny_elf(tmp_path, 0x10000, payload=5_000)
    ack = hello_ack(board.name, b"\x42" * 8)
    with FakeBootloader(app_hello_ack=ack) as fake:
        backend = get_backend("ambiq-uart", Options(port=fake.path))
        done = flash_board(board, backend, elf, handshake_s=2)
    assert list(fake.installed) == [0x10000] and done.info.board == board.name
    old_place = tiny_elf(tmp_path, 0xC000, name="old")
    with FakeBootloader() as fake:
        backend = get_backend("ambiq-uart", Options(port=fake.path))
        with pytest.raises(ConfigError, match="linked at 0xc000; the Ambiq bootloader "
                                              "installs applications at 0x10000"):
            flash_board(board, backend, old_place, handshake_s=2)
        assert fake.log == []
    # the fit check uses the board's own figure, not a default
    big = tiny_elf(tmp_path, 0x10000, payload=990_000, name="big")
    with pytest.raises(Exception, match="has 983,040 for the application"):
        check_fits(big, board)


def test_a_backend_reads_only_its_own_table() -> None:
    nucleo = get_board("stm32l452")
    assert get_backend("qemu").facts(nucleo).machine == "b-l475e-iot01a"
    assert get_backend("probe").facts(nucleo).target == "stm32l452retx"
    with pytest.raises(ConfigError, match=r"apollo3 has no \[qemu\] table"):
        get_backend("qemu").facts(get_board("apollo3"))
    assert get_backend("ambiq-uart").facts(get_board("apollo3")).boot_entry == "button"


def test_options_a_backend_does_not_take_are_refused() -> None:
    with pytest.raises(ConfigError, match="--probe does not apply to --backend qemu"):
        get_backend("qemu", Options(probe="0669FF"))
    with pytest.raises(ConfigError, match="--probe does not apply to --backend ambiq-uart"):
        get_backend("ambiq-uart", Options(probe="0669FF", port="/dev/ttyUSB0"))

"""bench flash on an FPGA board (harness/flash/openfpgaloader.py), at its
seams: no FPGA is attached here. openFPGALoader is either the real one
against no board (it must fail in one line) or a stand-in on PATH that
records the arguments it got; the design after programming is a fake bench
device on a pty speaking the real protocol."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import Bench
from sims.bench_device import FakeBenchDevice, hello_ack

ICE40_BIN = b"\xff\x00Lattice iCE40UP5K\x00\xff" + bytes.fromhex("7eaa997e") + bytes(64)
BUILD = "5a" * 8


def fake_loader(folder: Path, exit_code: int = 0) -> Path:
    """An openFPGALoader that writes its arguments, one a line, to args.txt."""
    folder.mkdir(exist_ok=True)
    exe = folder / "openFPGALoader"
    exe.write_text(f"#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done > {folder}/args.txt\n"
                   f"echo 'Flash: Done'\nexit {exit_code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return folder / "args.txt"


def env_with(folder: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def test_icebreaker_bitstream_goes_to_openfpgaloader_then_the_handshake(
        tmp_path: Path, bench_main: Bench) -> None:
    bit = tmp_path / "bitstream.bin"
    bit.write_bytes(ICE40_BIN)
    args = fake_loader(tmp_path / "bin")
    with FakeBenchDevice(hello_ack("icebreaker", bytes.fromhex(BUILD),
                                   clock_hz=12_000_000)) as dev:
        p = bench_main("flash", "--board", "icebreaker", "--firmware", str(bit), "--port",
                       dev.path, env=env_with(tmp_path / "bin"))
    assert p.returncode == 0, p.stderr
    assert args.read_text().splitlines() == ["--board", "ice40_generic", str(bit)]
    shown = "".join(p.stdout.split())  # rich wraps long lines, even inside a path
    for said in (f"programmed {bit} on icebreaker with openFPGALoader: Flash: Done",
                 f"handshake ok on {dev.path} at 115200 baud", f"build {BUILD}", "12 MHz"):
        assert "".join(said.split()) in shown


def test_spleat_takes_the_users_bitstream_and_its_cable(tmp_path: Path,
                                                        bench_main: Bench) -> None:
    rbf = tmp_path / "spleat.rbf"
    rbf.write_bytes(b"\xff" * 32 + b"\x6a" * 32)
    args = fake_loader(tmp_path / "bin")
    with FakeBenchDevice(hello_ack("spleat", bytes.fromhex(BUILD))) as dev:
        p = bench_main("flash", "--board", "spleat", "--firmware", str(rbf), "--port", dev.path,
                       env=env_with(tmp_path / "bin"))
    assert p.returncode == 0, p.stderr
    assert args.read_text().splitlines() == ["--cable", "usb-blaster", str(rbf)]
    # a design that says it is another board is refused in one line
    with FakeBenchDevice(hello_ack("icebreaker", bytes.fromhex(BUILD))) as dev:
        p = bench_main("flash", "--board", "spleat", "--firmware", str(rbf), "--port", dev.path,
                       env=env_with(tmp_path / "bin"))
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.strip().endswith("says it is 'icebreaker', not 'spleat': wrong bitstream "
                                     "or another board's port")
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_design_that_never_answers_is_one_line(tmp_path: Path, bench_main: Bench) -> None:
    bit = tmp_path / "bitstream.bin"
    bit.write_bytes(ICE40_BIN)
    fake_loader(tmp_path / "bin")
    with FakeBenchDevice(None) as dev:
        p = bench_main("flash", "--board", "icebreaker", "--firmware", str(bit), "--port",
                       dev.path, "--timeout", "0.7", env=env_with(tmp_path / "bin"))
        assert dev.hellos >= 2
    assert p.returncode != 0
    assert p.stderr.strip() == (f"bench: error: no handshake after 0.7 s on {dev.path}: wrong "
                                f"port? wrong baud (icebreaker uses 115200)? did the bitstream "
                                f"configure the FPGA?")


@pytest.mark.skipif(shutil.which("openFPGALoader") is None,
                    reason="openFPGALoader not installed (scripts/install-system.sh)")
def test_the_real_openfpgaloader_with_no_board_fails_in_one_line(tmp_path: Path,
                                                                  bench_main: Bench) -> None:
    bit = tmp_path / "bitstream.bin"
    bit.write_bytes(ICE40_BIN)
    p = bench_main("flash", "--board", "icebreaker", "--firmware", str(bit), "--port",
                   "/dev/null")
    assert p.returncode != 0 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: openFPGALoader could not program icebreaker: ")
    assert "is the board plugged in (USB 0403:6010)" in lines[0]


def test_files_that_are_not_bitstreams_are_refused_before_programming(
        tmp_path: Path, bench_main: Bench) -> None:
    args = fake_loader(tmp_path / "bin")
    env = env_with(tmp_path / "bin")
    elf = tmp_path / "firmware.bin"
    elf.write_bytes(b"\x7fELF" + bytes(100))
    text = tmp_path / "notes.bin"
    text.write_text("hello\n")
    empty = tmp_path / "empty.rbf"
    empty.write_bytes(b"")
    cases = [
        ("icebreaker", elf, f"{elf} is an ELF file, not a bitstream for icebreaker"),
        ("icebreaker", text, f"{text} is not an iCE40 bitstream (no 0x7EAA997E sync word at "
                             f"its start)"),
        ("icebreaker", Path(__file__), "is not a bitstream for icebreaker (Lattice "
                                       "iCE40UP5K-SG48): expected a .bin file"),
        ("spleat", empty, f"bitstream {empty} is empty"),
        ("spleat", tmp_path / "none.rbf", "does not exist"),
    ]
    for board, path, message in cases:
        p = bench_main("flash", "--board", board, "--firmware", str(path), "--port", "/dev/null",
                       env=env)
        assert p.returncode != 0
        assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not args.exists()  # openFPGALoader never ran
    p = bench_main("flash", "--board", "spleat", "--port", "/dev/null", env=env)
    assert "bench builds no bitstream for spleat (Intel Cyclone V): pass --firmware" in p.stderr


def test_without_openfpgaloader_the_line_says_how_to_install(tmp_path: Path,
                                                             bench_main: Bench) -> None:
    bit = tmp_path / "bitstream.bin"
    bit.write_bytes(ICE40_BIN)
    p = bench_main("flash", "--board", "icebreaker", "--firmware", str(bit), "--port",
                   "/dev/null", env={**os.environ, "PATH": str(tmp_path)})
    assert p.returncode != 0
    assert p.stderr.strip() == ("bench: error: openFPGALoader not found; install it with 'make "
                                "setup' (apt-get install openfpgaloader)")


def test_bench_build_on_spleat_says_it_synthesises_nothing(tmp_path: Path,
                                                           bench_main: Bench) -> None:
    p = bench_main("build", "--board", "spleat", "--model", str(tmp_path / "m.py:f"))
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.strip() == ("bench: error: bench synthesises nothing for spleat (Intel "
                                "Cyclone V): program your own bitstream with 'bench flash "
                                "--board spleat --firmware FILE'")

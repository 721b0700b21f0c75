"""The Renode backend at the seams that run here (Renode itself cannot be
installed on this machine; .github/workflows/renode.yml runs it): the session
script it generates, our platform files against the boards' linker scripts,
the robot test's frames against the host's, and one clear error without
Renode."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from conftest import Bench

from harness.backends import BACKENDS, all_boards, get_backend, get_board
from harness.backends.process import tool_version
from harness.backends.renode import RENODE_DIR, RenodeBackend, _port_listening
from harness.errors import BackendError, ToolMissingError
from harness.link import frame
from harness.paths import FIRMWARE

RENODE_BOARDS = [b for b in all_boards().values() if "renode" in b.backends]


def _mapped_memory(repl: str) -> list[tuple[int, int]]:
    """(address, size) of every Memory.MappedMemory registration in a .repl."""
    out = []
    for block in re.split(r"\n(?=\S)", repl):
        if "Memory.MappedMemory" not in block:
            continue
        size = int(re.search(r"size:\s*(0x[0-9A-Fa-f]+)", block).group(1), 16)
        head = block.split("size:")[0]
        out += [(int(a, 16), size) for a in re.findall(r"sysbus\s+(0x[0-9A-Fa-f]+)", head)]
    return out


def _linker_regions(ld: str) -> dict[str, tuple[int, int]]:
    def kb(expr: str) -> int:
        return eval(re.sub(r"(\d+)K", r"(\1*1024)", expr.replace("M", "*1024K")),
                    {"__builtins__": {}})

    return {m.group(1): (int(m.group(2), 16), kb(m.group(3)))
            for m in re.finditer(r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),"
                                 r"\s*LENGTH\s*=\s*([^\n]+)", ld)}


def test_registered_and_every_renode_board_has_a_platform() -> None:
    assert BACKENDS.load("renode") is RenodeBackend
    assert {b.name for b in RENODE_BOARDS} == {"stm32l452", "apollo3"}
    for b in RENODE_BOARDS:
        assert RenodeBackend().facts(b).platform.exists()
        assert (RENODE_DIR / f"{b.name}.resc").exists()
        assert RenodeBackend().supports(b)


@pytest.mark.parametrize("board", [b.name for b in RENODE_BOARDS])
def test_session_script(board: str, tmp_path: Path) -> None:
    b = get_board(board)
    elf = tmp_path / "firmware.elf"
    lines = RenodeBackend().script(b, elf, 45678).splitlines()
    assert f"$elf=@{elf}" in lines
    assert f"$repl=@{RENODE_DIR / (board + '.repl')}" in lines
    assert f"include @{RENODE_DIR / (board + '.resc')}" in lines
    # A raw socket (emitConfig false): telnet negotiation bytes would corrupt frames.
    assert 'emulation CreateServerSocketTerminal 45678 "bench_console" false' in lines
    uart = {"stm32l452": "sysbus.usart2", "apollo3": "sysbus.uart0"}[board]
    assert f"connector Connect {uart} bench_console" in lines
    assert lines[-1] == "start"
    assert lines.index("start") > lines.index(f"connector Connect {uart} bench_console")
    cmd = RenodeBackend().command(tmp_path / "s.resc")
    assert cmd[:2] == ["renode", "--disable-xwt"] and cmd[-1] == str(tmp_path / "s.resc")


def test_paths_renode_cannot_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="spaces"):
        RenodeBackend().script(get_board("apollo3"), tmp_path / "my build" / "f.elf", 1)


@pytest.mark.parametrize("board", [b.name for b in RENODE_BOARDS])
def test_platform_matches_the_board(board: str) -> None:
    b = get_board(board)
    facts = RenodeBackend().facts(b)
    repl = facts.platform.read_text()
    memory = _mapped_memory(repl)
    # Every region the linker fills lies inside memory the platform maps.
    for name, (origin, length) in _linker_regions(b.linker_script.read_text()).items():
        assert any(a <= origin and origin + length <= a + size for a, size in memory), name
    # The console the session connects to is declared, with the right model.
    uart = facts.uart.removeprefix("sysbus.")
    model = {"stm32l452": "UART.STM32F7_USART", "apollo3": "UART.PL011"}[board]
    assert re.search(rf"^{uart}: {re.escape(model)} @ sysbus", repl, re.M)
    # DWT and SysTick at the board clock, and the .resc runs clock-MHz MIPS:
    # that is what makes a DWT reading an instruction count (count()).
    assert re.search(rf"Miscellaneous.DWT @ sysbus 0xE0001000\s+frequency: {b.clock_hz}", repl)
    assert f"systickFrequency: {b.clock_hz}" in repl
    resc = (RENODE_DIR / f"{board}.resc").read_text()
    assert f"PerformanceInMips {b.clock_hz // 1_000_000}" in resc
    assert 'VectorTableOffset `sysbus GetSymbolAddress "vector_table"`' in resc


def test_robot_hello_is_the_hosts_hello() -> None:
    robot = (RENODE_DIR / "tests" / "handshake.robot").read_text()
    hello = re.search(r"^@\{HELLO\}\s+(.+)$", robot, re.M).group(1).split()
    assert bytes(int(b, 16) for b in hello) == frame(0x01, 0)
    ack = re.search(r"^\$\{HELLO_ACK\}\s+(.+)$", robot, re.M).group(1).split()
    header = bytes(int(b, 16) for b in ack[:8])
    assert header[:4] == bytes([0xA5, 0x5A, 0x81, 0x00])
    assert int.from_bytes(header[6:8], "little") == 84  # BENCH_HELLO_ACK_BYTES
    assert ((FIRMWARE / "runtime" / "bench_protocol.h").read_text().count(
        "#define BENCH_HELLO_ACK_BYTES 84u") == 1)


def test_counts_are_instructions_not_cycles() -> None:
    b = get_board("apollo3")
    c = RenodeBackend().count(b, 12345, "dwt_cycles")
    assert (c.value, c.kind, c.raw) == (12345, "instructions", 12345)
    with pytest.raises(BackendError, match="no meaning under Renode"):
        RenodeBackend().count(b, 1, "none")


def test_port_listening_reads_the_kernel_table() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert _port_listening(port) is False
        s.listen()
        assert _port_listening(port) is True


def test_without_renode_one_clear_line(bench_main: Bench, tiny_model: str, tiny_data: Path,
                                       tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    ok, why = get_backend("renode").available()
    assert not ok and "renode not found" in why and "install Renode" in why
    with pytest.raises(ToolMissingError, match="renode not found"):
        get_backend("renode").start(get_board("apollo3"), tmp_path / "f.elf", "uart")
    p = bench_main("run", "--board", "apollo3", "--backend", "renode", "--model", tiny_model,
                   "--dataset", str(tiny_data), "--db", str(tmp_path / "r.db"), env=env)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: renode not found; install Renode")


def test_renode_version_is_read_from_its_banner(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Renode prints e.g. "Renode v1.15.3.29053 (a1b2c3d4-...)"; only the parsing is
    # checked here, with a script standing in for the missing binary.
    fake = tmp_path / "renode"
    fake.write_text("#!/bin/sh\necho 'Renode v1.15.3.29053 (a1b2c3d4-202409200856)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert tool_version("renode") == "1.15.3.29053"
    assert RenodeBackend().available() == (True, "renode 1.15.3.29053")

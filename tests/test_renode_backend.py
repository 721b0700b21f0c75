"""The Renode backend at the seams CI can reach (CI has no Renode;
.github/workflows/renode.yml runs it): the command line and session script
it generates (no monitor socket, no TCP port: the console is a pty), the
version it refuses, our platform files against the boards' linker scripts,
the robot test's frames against the host's, one clear error without Renode,
and, against a stand-in launched the way Renode's launcher starts Renode
(tests/sims/fake_renode.py), the process group ended on close, the pipe on
its stdin, and start-up errors without .NET stack frames. With Renode >= 1.16
on PATH, the last test runs a real session."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import Bench

from harness.backends import BACKENDS, all_boards, get_backend, get_board
from harness.backends.renode import (
    RENODE_DIR,
    RenodeBackend,
    RenodeSession,
    renode_version,
    version_problem,
)
from harness.errors import BackendError, ToolMissingError
from harness.kinds import LinkKind
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
    pty = tmp_path / "console"
    text = RenodeBackend().script(b, elf, pty)
    lines = text.splitlines()
    assert f"$elf=@{elf}" in lines
    assert f"$repl=@{RENODE_DIR / (board + '.repl')}" in lines
    assert f"include @{RENODE_DIR / (board + '.resc')}" in lines
    # The console is a pty, not Renode's socket terminal (which listens on
    # every interface): the session opens no TCP port.
    assert f'emulation CreateUartPtyTerminal "bench_console" "{pty}"' in lines
    assert "Socket" not in text and "port" not in text.lower()
    uart = {"stm32l452": "sysbus.usart2", "apollo3": "sysbus.uart0"}[board]
    assert f"connector Connect {uart} bench_console" in lines
    assert lines[-1] == "start"
    assert lines.index("start") > lines.index(f"connector Connect {uart} bench_console")


def test_command_opens_no_monitor_socket(tmp_path: Path) -> None:
    # Headless Renode listens for its monitor on 0.0.0.0:1234, unauthenticated,
    # unless the monitor is on the console (--port -1 does not stop it).
    cmd = RenodeBackend().command(tmp_path / "s.resc")
    assert cmd == ["renode", "--disable-xwt", "--console", "--plain", str(tmp_path / "s.resc")]
    assert not any(a in ("--port", "-P", "--robot-server-port", "--server-mode") for a in cmd)


def test_paths_renode_cannot_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="spaces"):
        RenodeBackend().script(get_board("apollo3"), tmp_path / "my build" / "f.elf",
                               tmp_path / "console")


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


def _fake_renode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str = "1.16.1.33786",
                 mode: str = "ok") -> Path:
    """A ``renode`` on PATH that, like Renode's launcher, runs the program
    without exec (tests/sims/fake_renode.py); returns where it reports."""
    sim = Path(__file__).parent / "sims" / "fake_renode.py"
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    launcher = bindir / "renode"
    launcher.write_text(f'#!/bin/sh\n"{sys.executable}" "{sim}" "$@"\n')
    launcher.chmod(0o755)
    report = tmp_path / "renode.json"
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RENODE_VERSION", version)
    monkeypatch.setenv("FAKE_RENODE_MODE", mode)
    monkeypatch.setenv("FAKE_RENODE_REPORT", str(report))
    return report


def _running(pid: int) -> bool:
    """Whether pid is a process that has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_report(report: Path) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if report.exists() and report.read_text():
            return json.loads(report.read_text())
        time.sleep(0.02)
    raise AssertionError("the stand-in never started")


def test_renode_version_is_read_from_its_banner(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_renode(tmp_path, monkeypatch, version="1.16.1.33786")
    assert renode_version() == "1.16.1.33786"
    assert RenodeBackend().available() == (True, "renode 1.16.1.33786")


@pytest.mark.parametrize("version", ["1.15.3.29053", "1.15.0", "1.9.0"])
def test_renode_before_1_16_is_refused_with_the_reason(version: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_renode(tmp_path, monkeypatch, version=version)
    ok, why = RenodeBackend().available()
    assert not ok
    assert why.startswith(f"renode {version} is too old: before 1.16.0 Renode computes the GE "
                          f"flags of SSUB8")
    assert "rounds its cycle counter" in why and "install Renode >= 1.16" in why
    with pytest.raises(ToolMissingError, match="too old"):
        RenodeBackend().start(get_board("stm32l452"), tmp_path / "f.elf", LinkKind.UART)


def test_version_rule() -> None:
    assert version_problem("1.16.0") is None and version_problem("1.16.1.33786") is None
    assert version_problem("2.0") is None
    assert "too old" in (version_problem("1.15.99.1") or "")
    assert "did not say its version" in (version_problem("unknown version") or "")
    assert "not found" in (version_problem(None) or "")


def test_doctor_says_why_an_old_renode_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.commands.doctor import checks

    _fake_renode(tmp_path, monkeypatch, version="1.15.3.29053")
    row = next(c for c in checks() if c.name == "renode: Renode")
    assert not row.ok and row.detail.startswith("renode 1.15.3.29053 is too old: ")


def test_session_is_its_own_group_with_a_pipe_on_stdin(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    report = _fake_renode(tmp_path, monkeypatch)
    elf = tmp_path / "f.elf"
    elf.write_bytes(b"\x7fELF")
    s = RenodeBackend().start(get_board("stm32l452"), elf, LinkKind.UART)
    assert isinstance(s, RenodeSession)
    seen = _wait_report(report)
    try:
        assert seen["stdin_is_pipe"] and seen["pgid"] == s.proc.pid != os.getpgid(0)
        assert "--console" in seen["argv"] and "--port" not in seen["argv"]
        assert Path(s.url).is_symlink() and os.path.realpath(s.url).startswith("/dev/pts/")
        assert _running(seen["pid"])
    finally:
        s.close()
    assert not _running(seen["pid"]) and s.proc.poll() is not None
    assert not s.workdir.exists() and not s.log.exists()


def test_close_ends_the_whole_group_even_a_program_that_ignores_sigterm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Renode's launcher runs mono without exec: ending the launcher alone
    # leaves Renode running (holding its pty and CPU). The stand-in here also
    # ignores SIGTERM and the end of its stdin: only SIGKILL to the group ends it.
    report = _fake_renode(tmp_path, monkeypatch, mode="stubborn")
    elf = tmp_path / "f.elf"
    elf.write_bytes(b"\x7fELF")
    s = RenodeBackend().start(get_board("stm32l452"), elf, LinkKind.UART)
    s.stop_grace_s = 0.3
    seen = _wait_report(report)
    assert seen["pid"] != s.proc.pid  # a child of the launcher, not the launcher
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 < 5
    assert not _running(seen["pid"])


def test_start_failure_shows_the_error_not_a_stack_frame(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_renode(tmp_path, monkeypatch, mode="crash")
    elf = tmp_path / "f.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(BackendError) as e:
        RenodeBackend().start(get_board("stm32l452"), elf, LinkKind.UART)
    assert str(e.value) == ("Renode did not start: Renode exited with code 1: "
                            "[ERROR] FATAL UNHANDLED EXCEPTION: Antmicro.Renode.Exceptions."
                            "RecoverableException: Python runtime error: 'PythonRequest' "
                            "object has no attribute 'isInit'")


def test_script_error_at_the_prompt_is_reported_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _fake_renode(tmp_path, monkeypatch, mode="script-error")
    elf = tmp_path / "f.elf"
    elf.write_bytes(b"\x7fELF")
    t0 = time.monotonic()
    with pytest.raises(BackendError) as e:
        RenodeBackend().start(get_board("stm32l452"), elf, LinkKind.UART)
    assert str(e.value) == ("Renode did not start: There was an error executing command "
                            "'sysbus LoadELF $elf': Parameters did not match the signature")
    assert time.monotonic() - t0 < 10
    assert not _running(_wait_report(report)["pid"])


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def _group_sockets(pgid: int) -> set[str]:
    """Socket inodes open in any process of the group."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    found.add(target[8:-1])
        except OSError:
            continue
    return found


@pytest.mark.emulator
@pytest.mark.skipif(version_problem(renode_version()) is not None or
                    shutil.which("arm-none-eabi-gcc") is None,
                    reason="needs Renode >= 1.16 on PATH and arm-none-eabi-gcc")
def test_real_renode_session_listens_nowhere_and_ends_whole(tiny_model: str,
                                                            tmp_path: Path) -> None:
    from harness.build.build import build_for
    from harness.engines import get_engine
    from harness.link import Link
    from harness.model.load import load_graph

    board = get_board("stm32l452")
    fw = build_for(board, load_graph(tiny_model), get_engine("native"), "float32",
                   LinkKind.UART, tmp_path / "fw")
    s = RenodeBackend().start(board, fw.elf, LinkKind.UART)
    assert isinstance(s, RenodeSession)
    try:
        info = Link(s.url, max_payload=256).hello()
        assert info.board == "stm32l452" and info.timer_kind == "dwt_cycles"
        assert not _group_sockets(s.proc.pid) & _listening_inodes()
    finally:
        s.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(s.proc.pid, 0)  # nothing of the group is left


def test_the_prompt_before_the_script_runs_is_no_error(tmp_path: Path) -> None:
    # Renode prints "(monitor) " before it echoes the script's include: a
    # session still starting (a sweep's first run once failed on this).
    from harness.backends.renode import _script_error

    script = tmp_path / "session.resc"
    log = tmp_path / "renode.log"
    log.write_text("19:35:01.1 [INFO] Loaded monitor commands from: /opt/monitor.py\n"
                   "Renode, version 1.16.1 (-202612031905)\n\r\n\r(monitor) ")
    assert _script_error(log, script) == ""
    log.write_text(log.read_text() + f"i @{script}\n\r19:35:02.1 [INFO] Including script(s)\n")
    assert _script_error(log, script) == ""  # running it
    log.write_text(log.read_text() + "(stm32l452) ")
    assert _script_error(log, script) == "the session script stopped at the monitor's prompt"

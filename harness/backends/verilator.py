"""Verilator (Debian 5.006): bench's SNN core (fpga/rtl) simulated cycle
by cycle, its UART on a pty that the host opens with pyserial exactly as a
board's serial port.

The simulator is the RTL compiled with fpga/sim/sim_main.cpp, built once per
design (a hash of the Verilog, the harness and the parameters names its
directory, so a changed design rebuilds and an unchanged one is reused).
Starting a session runs it, reads the pty it announces, and loads the model
over the link (LOAD messages, docs/fpga-protocol.md); the run's handshake
then checks the core holds the build's model. The count each RESULT carries
is the core's own cycle counter from the start of the inference to its
result: cycles of the RTL, not the UART and not host time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.base import Backend, Count, Session
from harness.backends.process import EmulatorSession, temp_log, tool_version
from harness.boards import Board
from harness.checks import Check
from harness.errors import BackendError, BenchError, ToolMissingError
from harness.fpga.build import read_load
from harness.fpga.core import REFERENCE, TOP, rtl_sources
from harness.kinds import CountKind, LinkKind
from harness.link import MSG_LOAD, MSG_LOAD_ACK, DeviceSilent, Link, LinkLost
from harness.paths import ROOT, build_root
from harness.processes import dies_with_us

VERILATOR = "verilator"
SIM_MAIN = ROOT / "fpga" / "sim" / "sim_main.cpp"
INSTALL_HINT = ("install it with 'apt-get install verilator' (Debian 5.006; "
                "scripts/install-system.sh)")
COUNT_KIND = "core_cycles"
START_S = 10.0  # for the simulator to announce its pty


@dataclass(frozen=True)
class VerilatorFacts:
    """The board's [verilator] table."""

    clks_per_bit: int = 8  # UART bit time in simulation (fast; not what is counted)


def sim_parameters(board: Board, clks_per_bit: int) -> dict[str, int]:
    return {**REFERENCE, "ClockHz": board.clock_hz, "ClksPerBit": clks_per_bit}


def simulator(params: dict[str, int]) -> Path:
    """The simulator binary for ``params``, built on first use and cached
    by the design's hash."""
    return verilate(TOP, rtl_sources(), SIM_MAIN, params,
                    (f"-DBENCH_CLKS_PER_BIT={params['ClksPerBit']}",), "bench-snn-sim")


def verilate(top: str, sources: Sequence[Path], main_cpp: Path, params: dict[str, int],
             defines: Sequence[str] = (), name: str = "sim") -> Path:
    """``top`` from ``sources`` compiled with the C++ harness ``main_cpp``;
    cached under the build root by a hash of everything that goes in (the
    Verilog, the harness, the parameters, Verilator's version)."""
    exe = shutil.which(VERILATOR)
    if exe is None:
        raise ToolMissingError(f"verilator is not installed: {INSTALL_HINT}")
    h = hashlib.sha256()
    for p in [*sources, main_cpp]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(repr((top, sorted(params.items()), list(defines))).encode())
    h.update(str(tool_version(VERILATOR)).encode())
    root = build_root() / "verilator"
    out = root / f"{name}-{h.hexdigest()[:16]}"
    binary = out / name
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    # One build at a time per design: parallel runs wait for it and reuse it.
    with (root / f".{out.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        _build(exe, top, sources, main_cpp, params, defines, name, root, out)
    return binary


def _build(exe: str, top: str, sources: Sequence[Path], main_cpp: Path,
           params: dict[str, int], defines: Sequence[str], name: str, root: Path,
           out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    cmd = [exe, "--cc", "--exe", "--build", "-j", "2", "--top-module", top, "-Wall",
           *(f"-G{k}={v}" for k, v in sorted(params.items())),
           "-CFLAGS", " ".join(["-O1", *defines]),
           "--Mdir", str(work / "obj"), "-o", str(work / name),
           *map(str, sources), str(main_cpp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    (work / "build.log").write_text(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "%Error" in ln or "error" in ln),
                     proc.stderr[-300:])
        raise BackendError(f"the Verilator build of {top} failed: {first.strip()} "
                           f"(full log: {work / 'build.log'})")
    shutil.rmtree(work / "obj", ignore_errors=True)
    work.rename(out)


class VerilatorSession(EmulatorSession):
    """The simulator process (its own process group) and its pty."""

    emulator = "the Verilator simulation"

    def close(self) -> None:
        # The whole group: nothing the simulator started outlives the session.
        if self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=self.stop_grace_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.release()
        self.log.unlink(missing_ok=True)


def start_simulator(binary: Path) -> VerilatorSession:
    """Run the simulator and wait for the pty it announces."""
    log = temp_log("bench-verilator-")
    with log.open("w") as err:
        try:
            proc = subprocess.Popen([str(binary)], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err,
                                    start_new_session=True, preexec_fn=dies_with_us())
        except OSError as e:
            log.unlink(missing_ok=True)
            raise BackendError(f"the Verilator simulation did not start: {e}") from e
    session = VerilatorSession(proc, "", log)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_S)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    if not line.startswith("pty /dev/"):
        why = session.why_dead(settle_s=0.2)
        session.close()
        raise BackendError(f"the Verilator simulation announced no pty: {why}")
    session.url = line.split(" ", 1)[1]
    return session


def load_model(url: str, payloads: Sequence[bytes]) -> None:
    """Send the model's LOAD messages; each is acknowledged."""
    with Link(url, max_payload=max(len(p) for p in payloads)) as link:
        for payload in payloads:
            link.request(MSG_LOAD, payload, MSG_LOAD_ACK, max_reply=0)


class VerilatorBackend(Backend):
    name = "verilator"
    title = "Verilator (SNN core RTL)"
    description = "bench's SNN core simulated cycle by cycle; its UART on a pty"
    emulator = True
    link = LinkKind.UART
    links = (LinkKind.UART,)
    Facts = VerilatorFacts

    def available(self) -> tuple[bool, str]:
        if shutil.which(VERILATOR) is None:
            return False, f"verilator is not installed: {INSTALL_HINT}"
        if shutil.which("g++") is None or shutil.which("make") is None:
            return False, "Verilator needs g++ and make: apt-get install g++ make"
        return True, f"verilator {tool_version(VERILATOR)}"

    def checks(self, boards: Sequence[Board] = ()) -> list[Check]:
        ok, why = self.available()
        return [Check(f"{self.name}: {self.title}", ok, why, required=False)]

    def start(self, board: Board, elf: Path, link: str) -> Session:
        facts: VerilatorFacts = self.facts(board)
        if facts.clks_per_bit < 4:
            raise BackendError(f"{board.file} [verilator] clks_per_bit must be 4 or more")
        ok, why = self.available()
        if not ok:
            raise ToolMissingError(why)
        payloads = read_load(elf)
        session = start_simulator(simulator(sim_parameters(board, facts.clks_per_bit)))
        try:
            load_model(session.url, payloads)
        except (DeviceSilent, LinkLost) as e:
            why = session.why_dead(settle_s=0.2)
            session.close()
            raise BackendError(f"the SNN core did not take the model: {e} ({why})") from e
        except BenchError:
            session.close()
            raise
        return session

    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        if timer_kind != COUNT_KIND:
            raise BackendError(f"timer {timer_kind!r} is not the SNN core's cycle counter")
        return Count(value=raw, kind=CountKind.CYCLES, raw=raw)

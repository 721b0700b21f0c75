"""bench flash: program a real board (with the backend that programs it) or
load an emulator, then wait for the firmware's handshake and refuse a device
that runs anything but the firmware just flashed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn

from harness.backends import BACKENDS, get_backend, get_board, resolve_board_backend
from harness.backends.base import Backend, Flashed, FlashProgress, Options
from harness.boards import Board
from harness.build.firmware import Firmware
from harness.commands import Command
from harness.commands.show import err, out
from harness.errors import BackendError, ConfigError
from harness.flash.handshake import Expected, wait_handshake
from harness.flash.image import check_fits
from harness.fpga.facts import FpgaBoard, fpga_board
from harness.kinds import LinkKind
from harness.paths import build_root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", required=True, help="board name (see 'bench boards')")
    p.add_argument("--backend",
                   help="probe: SWD debug probe (pyOCD); ambiq-uart: the Apollo3's UART "
                   "bootloader; qemu: load the emulator; openfpgaloader: FPGA boards (their "
                   "default) (default: the board's own way: its flash_backend, else the first "
                   "of its backends that programs real boards)")
    p.add_argument("--firmware", type=Path, help="build directory or firmware.elf; FPGA "
                   "boards: the bitstream (default: the newest build for the board)")
    p.add_argument("--probe", metavar="ID",
                   help="debug probe unique id, or a unique prefix (see 'bench doctor')")
    p.add_argument("--port", metavar="DEV", help="the board's serial port (default: the "
                   "probe's virtual COM port, or the only USB-serial adapter)")
    p.add_argument("--boot-entry", choices=["button", "lines"],
                   help="ambiq-uart: how the board enters its bootloader: button (you hold "
                   "button 14 and press reset; SparkFun Edge v1) or lines (the adapter's DTR/RTS "
                   "do it; Edge v2, Artemis); default: the board's [ambiq-uart] boot_entry")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the firmware's handshake after flashing "
                   "(default: 10)")
    p.add_argument("--keep", action="store_true",
                   help="emulators: keep the emulator running and print its link URL until "
                   "Ctrl-C")


def default_backend(board: Board) -> str:
    """What ``bench flash --board B`` uses without --backend: the board's
    ``flash_backend``, else its first backend that is not an emulator, else
    its first backend."""
    if board.flash_backend is not None:
        return board.flash_backend
    real = [b for b in board.backends if not BACKENDS.load(b).emulator]
    return (real or list(board.backends))[0]


def newest_build(board: str, link: str = "") -> Path:
    pattern = f"{board}-{link}-*" if link else f"{board}-*"
    builds = sorted((p.parent for p in build_root().glob(f"{pattern}/firmware.elf")),
                    key=lambda p: p.stat().st_mtime)
    if not builds:
        backend = " --backend probe" if link == LinkKind.UART else ""
        raise ConfigError(f"no firmware built for {board}{' (uart link)' if link else ''} yet: "
                          f"run 'bench build --board {board}{backend} --model ...' or pass "
                          f"--firmware")
    return builds[-1]


def firmware_for(board: Board, path: Path) -> tuple[Path, Expected]:
    """The ELF to flash and what its handshake must say. A bench build
    directory (or the ELF inside one) names its board and build id; a bare
    ELF is accepted and checked by board name only."""
    if not path.exists():
        raise ConfigError(f"firmware {path} does not exist")
    folder = path.parent if path.suffix == ".elf" else path
    if not (folder / "manifest.json").exists():
        if path.suffix != ".elf":
            raise ConfigError(f"{path} is neither a bench build directory nor an ELF file")
        return path, Expected(board.name, None, path)
    fw = Firmware.load(path)
    if fw.board != board.name:
        raise ConfigError(f"{path} was built for {fw.board}, not {board.name}: build it with "
                          f"--board {board.name}")
    if fw.link != LinkKind.UART:
        raise ConfigError(f"{path} was built for the {fw.link!r} link (an emulator's); a real "
                          f"board talks over its UART: build with --backend probe (or --link "
                          f"uart)")
    return fw.elf, Expected(board.name, fw.build_id, fw.elf)


def flash_board(board: Board, backend: Backend, firmware: Path, handshake_s: float = 10.0,
                progress: FlashProgress | None = None) -> Flashed:
    """Check the firmware, program it with ``backend``, wait for its handshake."""
    if backend.emulator:
        raise ConfigError(f"backend {backend.name} is an emulator: it does not flash real boards")
    elf, want = firmware_for(board, firmware)
    check_fits(elf, board)
    if not backend.supports(board):
        raise ConfigError(f"board {board.name} cannot be flashed with --backend {backend.name}; "
                          f"its backends: {', '.join(board.backends)}")
    session, detail = backend.flash(board, elf, progress)
    try:
        info = wait_handshake(session.url, board, want, handshake_s)
    except BackendError:
        if not session.alive():
            raise BackendError(f"no handshake: {session.why_dead()}") from None
        raise
    return Flashed(backend.name, elf, session.url, info, detail)


def run(args: argparse.Namespace) -> int:
    fpga = fpga_board(args.board)
    if fpga is not None and args.backend in (None, "openfpgaloader"):
        return flash_fpga_board(args, fpga)
    board = get_board(args.board)
    name = args.backend or default_backend(board)
    options = Options(probe=args.probe, port=args.port, boot_entry=args.boot_entry)
    backend = get_backend(name, options)
    if not backend.emulator:
        path = args.firmware or newest_build(board.name, link=LinkKind.UART)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), console=err,
                      disable=not err.is_terminal) as bar:
            task = bar.add_task(f"flashing {board.name} ({name})", total=1.0)
            done = flash_board(board, backend, path, handshake_s=args.timeout,
                               progress=lambda f: bar.update(task, completed=f))
        info = done.info
        out.print(f"[green]flashed[/] {done.elf} on {board.name}: {done.detail}")
        out.print(f"handshake ok on {done.port} at {board.baud} baud: protocol "
                  f"{info.protocol_version}, build {info.build_id}, engine {info.engine}, "
                  f"{info.input_dtype}, {info.clock_hz / 1e6:g} MHz, timer {info.timer_kind}")
        return 0
    from harness.run.target import DeviceTarget

    board, backend = resolve_board_backend(args.board, name, options)
    path = args.firmware or newest_build(board.name)
    if not path.exists():
        raise ConfigError(f"firmware {path} does not exist")
    fw = Firmware.load(path)
    if fw.board != board.name:
        raise ConfigError(f"{path} was built for {fw.board}, not {board.name}")
    with DeviceTarget(backend, board, fw) as target:
        target.start()
        info, session = target.info, target.session
        assert info is not None and session is not None
        out.print(f"[green]loaded[/] {fw.elf} on {board.name} ({backend.name}); handshake ok: "
                  f"protocol {info.protocol_version}, build {info.build_id}, engine "
                  f"{info.engine}, {info.input_dtype}, {info.clock_hz / 1e6:g} MHz, timer "
                  f"{info.timer_kind}")
        if args.keep:
            if target.link is not None:
                target.link.close()
                target.link = None
            out.print(f"link: {session.url}  (Ctrl-C stops the emulator)")
            while session.alive():
                time.sleep(0.5)
    return 0


def flash_fpga_board(args: argparse.Namespace, board: FpgaBoard) -> int:
    """An FPGA board: openFPGALoader programs the bitstream, then the handshake."""
    from harness.flash.openfpgaloader import flash_fpga

    done = flash_fpga(board, args.firmware, args.port, args.timeout)
    info = done.info
    out.print(f"[green]programmed[/] {done.bitstream} on {board.name} with openFPGALoader: "
              f"{done.detail}")
    out.print(f"handshake ok on {done.port} at {board.facts.baud} baud: protocol "
              f"{info.protocol_version}, build {info.build_id}, engine {info.engine}, "
              f"{info.input_dtype}, {info.clock_hz / 1e6:g} MHz, timer {info.timer_kind}")
    return 0


COMMAND = Command("flash", "program a board or load an emulator, then handshake",
                  add_arguments, run)

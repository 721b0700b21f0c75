"""``bench flash`` on a real board: check the firmware, program it (pyOCD or
the Ambiq UART bootloader), then wait for its handshake on the serial port
and refuse a device that runs anything but the firmware just flashed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.backends.ambiq_uart import AmbiqUartBackend
from harness.backends.probe import BoardSession, ProbeBackend
from harness.boards import Board
from harness.build.build import Firmware
from harness.errors import BackendError, ConfigError
from harness.flash.handshake import Expected, wait_handshake
from harness.flash.image import check_fits
from harness.link import DeviceInfo

REAL_BACKENDS = ("probe", "ambiq-uart")
Progress = Callable[[float], None]  # 0.0 .. 1.0


def default_backend(board: Board) -> str:
    """What ``bench flash --board B`` uses without --backend: the board's
    own programming path (its ``flash_backend`` fact, else the Ambiq
    bootloader on an Apollo3, else its SWD probe), the emulator last."""
    if board.extra.get("flash_backend"):
        return str(board.extra["flash_backend"])
    if AmbiqUartBackend().supports(board):
        return "ambiq-uart"
    if board.pyocd_target:
        return "probe"
    return "qemu"


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
    if fw.link != "uart":
        raise ConfigError(f"{path} was built for the {fw.link!r} link (an emulator's); a real "
                          f"board talks over its UART: build with --backend probe (or --link "
                          f"uart)")
    return fw.elf, Expected(board.name, fw.build_id, fw.elf)


@dataclass(frozen=True)
class Flashed:
    backend: str
    elf: Path
    port: str
    info: DeviceInfo
    detail: str  # what the flasher did, for one line of output


def flash_board(board: Board, backend_name: str, firmware: Path, probe: str | None = None,
                port: str | None = None, boot_entry: str | None = None,
                handshake_s: float = 10.0, progress: Progress | None = None) -> Flashed:
    elf, want = firmware_for(board, firmware)
    check_fits(elf, board)
    if backend_name == "probe":
        pb = ProbeBackend(probe_id=probe, port=port)
        if not pb.supports(board):
            raise ConfigError(f"board {board.name} has no pyocd_target: it cannot be flashed "
                              f"with --backend probe")
        session = pb.start(board, elf, "uart", progress)
        assert pb.last_flash is not None
        detail = (f"programmed {pb.last_flash.bytes_programmed:,} bytes through probe "
                  f"{pb.last_flash.probe.unique_id} ({board.pyocd_target}), verified "
                  f"{pb.last_flash.verified_bytes:,}")
    elif backend_name == "ambiq-uart":
        if probe:
            raise ConfigError("--probe applies to --backend probe; the Ambiq bootloader path "
                              "uses --port")
        ab = AmbiqUartBackend(port=port, boot_entry=boot_entry)
        if not ab.supports(board):
            raise ConfigError(f"board {board.name} has no Ambiq secure bootloader")
        session = ab.start(board, elf, "uart",
                           (lambda done, total: progress(done / total)) if progress else None)
        assert ab.last_flash is not None
        detail = (f"sent {ab.last_flash.image_bytes:,} bytes in {ab.last_flash.blocks} block(s) "
                  f"through the Ambiq bootloader (version 0x{ab.last_flash.status.version:x})"
                  + (f", {ab.last_flash.retried} resent" if ab.last_flash.retried else ""))
    else:
        raise ConfigError(f"backend {backend_name!r} does not flash real boards; use one of "
                          f"{', '.join(REAL_BACKENDS)}")
    assert isinstance(session, BoardSession)
    try:
        info = wait_handshake(session.url, board, want, handshake_s)
    except BackendError:
        if not session.alive():
            raise BackendError(f"no handshake: {session.why_dead()}") from None
        raise
    return Flashed(backend_name, elf, session.url, info, detail)

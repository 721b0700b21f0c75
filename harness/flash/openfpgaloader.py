"""Programming an FPGA board with openFPGALoader, then bench's handshake
over the board's UART.

Thin on purpose: no FPGA board has been attached to the machine this was
written on. What is checked here is everything up to the USB cable: the
bitstream is one (an iCE40 .bin starts with the sync word 0x7EAA997E after
icepack's comment; other vendors' files by their extension and a non-empty
body), the arguments openFPGALoader gets (the board's fpga.toml), and that
its failure (no board, no permission) is one line.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BackendError, ConfigError, ProtocolError, ToolMissingError
from harness.flash.ports import serial_ports
from harness.fpga.facts import FpgaBoard
from harness.fpga.synth import check_ice40_bitstream
from harness.link import DeviceInfo, DeviceSilent, Link
from harness.paths import build_root

EXE = "openFPGALoader"
INSTALL_HINT = "install it with 'make setup' (apt-get install openfpgaloader)"
HELLO_EVERY_S = 0.3
# Files that are surely not a bitstream for another vendor either.
_OTHER = {b"\x7fELF": "an ELF file", b"PK\x03\x04": "a zip archive"}


@dataclass(frozen=True)
class FpgaFlashed:
    bitstream: Path
    port: str
    info: DeviceInfo
    detail: str  # what openFPGALoader said last


def check_bitstream(board: FpgaBoard, path: Path) -> None:
    """``path`` is a bitstream ``board`` can take, or one ConfigError line."""
    if not path.is_file():
        raise ConfigError(f"bitstream {path} does not exist")
    suffixes = board.facts.bitstream_suffixes
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{path} is not a bitstream for {board.name} ({board.facts.device}): "
                          f"expected a {' or '.join(suffixes)} file")
    head = path.read_bytes()[:4096]
    if not head:
        raise ConfigError(f"bitstream {path} is empty")
    for magic, what in _OTHER.items():
        if head.startswith(magic):
            raise ConfigError(f"{path} is {what}, not a bitstream for {board.name}")
    if board.facts.bitstream_format == "ice40":
        check_ice40_bitstream(path)


def newest_bitstream(board: FpgaBoard) -> Path:
    """The newest bitstream 'bench build' synthesised for the board's part."""
    found = sorted(build_root().glob(f"fpga-{board.part.key}-*/bitstream.bin"),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        raise ConfigError(f"no bitstream built for {board.name} yet: run 'bench build --board "
                          f"{board.name} --model ...' or pass --firmware FILE")
    return found[-1]


def program(board: FpgaBoard, bitstream: Path, timeout_s: float = 180.0) -> str:
    """openFPGALoader with the board's arguments; its last line of output."""
    exe = shutil.which(EXE)
    if exe is None:
        raise ToolMissingError(f"{EXE} not found; {INSTALL_HINT}")
    cmd = [exe, *board.facts.openfpgaloader_args, str(bitstream)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BackendError(f"{EXE} did not finish programming {board.name} in "
                           f"{timeout_s:g} s") from None
    lines = [ln.strip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    if p.returncode != 0:
        why = next((ln for ln in lines if "error" in ln.lower() or "unable" in ln.lower()),
                   lines[-1] if lines else f"exit status {p.returncode}")
        usb = f" (USB {board.facts.usb_id})" if board.facts.usb_id else ""
        raise BackendError(f"{EXE} could not program {board.name}: {why}; is the board "
                           f"plugged in{usb} and its USB device writable by you?")
    return lines[-1] if lines else "done"


def uart_port(board: FpgaBoard, explicit: str | None) -> str:
    """``explicit``, else the board's USB-serial bridge (by vid:pid); on a
    dual-port FTDI the UART is the second interface, the higher tty."""
    if explicit:
        return explicit
    if board.facts.usb_id:
        vid, pid = (int(x, 16) for x in board.facts.usb_id.split(":"))
        ports = [p.device for p in serial_ports() if (p.vid, p.pid) == (vid, pid)]
        if ports:
            return sorted(ports)[-1]
    raise ConfigError(f"cannot tell which serial port is {board.name}'s UART "
                      f"({board.facts.uart}): pass --port")


def handshake(board: FpgaBoard, url: str, timeout_s: float) -> DeviceInfo:
    """HELLO until the design answers; it must say it is ``board``."""
    link = Link(url, connect_s=0, baudrate=board.facts.baud)
    try:
        info = link.hello(timeout_s=HELLO_EVERY_S,
                          attempts=max(1, math.ceil(timeout_s / HELLO_EVERY_S)))
    except DeviceSilent:
        raise BackendError(f"no handshake after {timeout_s:g} s on {url}: wrong port? wrong "
                           f"baud ({board.name} uses {board.facts.baud})? did the bitstream "
                           f"configure the FPGA?") from None
    finally:
        link.close()
    if info.board != board.name:
        raise ProtocolError(f"the design on {url} says it is {info.board!r}, not "
                            f"{board.name!r}: wrong bitstream or another board's port")
    return info


def flash_fpga(board: FpgaBoard, bitstream: Path | None, port: str | None,
               timeout_s: float = 10.0) -> FpgaFlashed:
    """Check the bitstream, program it, wait for the handshake."""
    if bitstream is None:
        if not board.facts.synthesise:
            raise ConfigError(f"bench builds no bitstream for {board.name} "
                              f"({board.facts.device}): pass --firmware YOUR_BITSTREAM")
        bitstream = newest_bitstream(board)
    check_bitstream(board, bitstream)
    url = uart_port(board, port)  # before programming: a refusal costs nothing
    detail = program(board, bitstream)
    return FpgaFlashed(bitstream, url, handshake(board, url, timeout_s), detail)

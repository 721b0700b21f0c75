"""Flash over SWD with pyOCD's Python API: choose the probe, program the
ELF, read it back, reset and run; and find the board's serial port from the
probe's USB identity.

pyOCD knows a target either built in (Apollo3: ``ama3b1kk_kbr``) or from a
CMSIS pack (STM32L452: ``stm32l452retx`` needs ``pyocd pack install
stm32l452re``). The ST-LINK and DAPLink probes on development boards are
one USB device with the virtual COM port: the port's USB serial number is
the probe's unique id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serial.tools import list_ports

from harness.boards import Board
from harness.errors import BackendError, ConfigError, ToolMissingError
from harness.flash.image import load_image

INSTALL_HINT = "pip install 'pyocd>=0.36' (or 'make setup')"
# USB vendors of on-board debug probes whose VCP shares the probe's USB device.
PROBE_VENDORS = {0x0483: "STMicroelectronics", 0x0D28: "Arm (DAPLink)", 0x1366: "SEGGER",
                 0x1FC9: "NXP"}

Progress = Callable[[float], None]  # 0.0 .. 1.0


@dataclass(frozen=True)
class Probe:
    """What bench shows of a pyOCD DebugProbe (the object stays in ``raw``)."""

    unique_id: str
    description: str
    vendor: str
    product: str
    raw: Any = None

    def line(self) -> str:
        return f"{self.unique_id}  {self.description} ({self.vendor} {self.product})".strip()


def _connect_helper() -> Any:
    try:
        from pyocd.core.helpers import ConnectHelper
    except ImportError as e:
        raise ToolMissingError(f"pyOCD is not installed ({e}): {INSTALL_HINT}") from e
    return ConnectHelper


def list_probes() -> list[Probe]:
    """Every debug probe pyOCD sees, without waiting for one to appear."""
    helper = _connect_helper()
    try:
        found = helper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception as e:  # a USB backend error: no permission, no libusb
        raise BackendError(f"pyOCD could not list debug probes: {e} (on Linux, the udev rules "
                           f"for ST-LINK / CMSIS-DAP give users access)") from e
    return [Probe(str(p.unique_id), str(p.description), str(p.vendor_name),
                  str(p.product_name), p) for p in found]


def choose_probe(probes: list[Probe], wanted: str | None) -> Probe:
    """The probe to use: ``wanted`` (a unique id or a unique prefix of one),
    or the only one attached."""
    if not probes:
        raise BackendError("no debug probe found: connect the board's USB (ST-LINK / DAPLink "
                           "side) and check 'bench doctor'")
    if wanted:
        hits = [p for p in probes if p.unique_id == wanted] or \
            [p for p in probes if p.unique_id.lower().startswith(wanted.lower())]
        if len(hits) == 1:
            return hits[0]
        ids = ", ".join(p.unique_id for p in probes)
        what = "matches several probes" if hits else "is not attached"
        raise ConfigError(f"probe {wanted!r} {what}; attached: {ids}")
    if len(probes) > 1:
        listing = "; ".join(p.line() for p in probes)
        raise ConfigError(f"{len(probes)} debug probes attached, choose one with --probe ID: "
                          f"{listing}")
    return probes[0]


def serial_port_for(probe: Probe, ports: list[Any] | None = None) -> str:
    """The serial device of the probe's virtual COM port: same USB serial
    number, else the only port of a known probe vendor."""
    ports = list(list_ports.comports()) if ports is None else ports
    uid = probe.unique_id.lower()
    same = [p for p in ports if p.serial_number and p.serial_number.lower() == uid]
    if len(same) == 1:
        return same[0].device
    vendor = [p for p in ports if p.vid in PROBE_VENDORS]
    if not same and len(vendor) == 1:
        return vendor[0].device
    seen = ", ".join(f"{p.device} ({p.serial_number or '?'})" for p in ports) or "none"
    raise ConfigError(f"cannot tell which serial port belongs to probe {probe.unique_id}: pass "
                      f"--port (serial ports here: {seen})")


@dataclass(frozen=True)
class PyocdTarget:
    """A board's [probe] table: pyOCD's name for the part, and the CMSIS
    pack that holds it when pyOCD does not build it in."""

    target: str  # e.g. "stm32l452retx"; "ama3b1kk_kbr" is built into pyOCD
    pack: str = ""  # default: the board's part number, lowercased


def pack_hint(board: Board, t: PyocdTarget) -> str:
    return f"pyocd pack install {t.pack or board.part.lower()}"


def check_target(board: Board, t: PyocdTarget) -> None:
    """Refuse, with the fix, a board whose pyOCD target is neither built in
    nor in an installed CMSIS pack (looked up the way pyOCD's Board does)."""
    _connect_helper()
    from pyocd.target import TARGET
    from pyocd.target.pack import pack_target

    name = t.target.lower()
    if name not in TARGET:
        pack_target.ManagedPacks.populate_target(name)
    if name not in TARGET:
        raise ToolMissingError(f"pyOCD has no target {t.target!r} (it comes in a CMSIS "
                               f"pack): '{pack_hint(board, t)}' installs it")


@dataclass(frozen=True)
class Flashed:
    probe: Probe
    bytes_programmed: int
    verified_bytes: int


def _open_session(board: Board, t: PyocdTarget, probe: Probe) -> Any:
    from pyocd.core.exceptions import TargetSupportError
    from pyocd.core.session import Session

    check_target(board, t)
    try:
        session = Session(probe.raw, target_override=t.target, resume_on_disconnect=True)
        session.open()
    except TargetSupportError as e:
        raise ToolMissingError(f"pyOCD has no target {t.target!r} ({e}); "
                               f"'{pack_hint(board, t)}' installs it") from e
    except Exception as e:
        raise BackendError(f"pyOCD could not connect to {board.name} through probe "
                           f"{probe.unique_id}: {e} (board powered? SWD cable?)") from e
    return session


def flash_elf(board: Board, t: PyocdTarget, elf: Path, probe: Probe,
              progress: Progress | None = None) -> Flashed:
    """Program ``elf``, read back every flash byte it wrote, reset and run."""
    from pyocd.flash.file_programmer import FileProgrammer

    image = load_image(elf)
    session = _open_session(board, t, probe)
    try:
        target = session.target
        try:
            # Without a callback pyOCD prints its own bar on stdout.
            FileProgrammer(session, progress=progress or (lambda _f: None)).program(
                str(elf), file_format="elf")
        except Exception as e:
            raise BackendError(f"programming {elf.name} failed: {e}") from e
        verified = 0
        for seg in image.segments:
            region = target.memory_map.get_region_for_address(seg.address)
            if region is None or not region.is_flash:
                continue
            got = bytes(target.read_memory_block8(seg.address, len(seg.data)))
            if got != seg.data:
                bad = next(i for i, (a, b) in enumerate(zip(got, seg.data, strict=True))
                           if a != b)
                raise BackendError(f"verify failed at 0x{seg.address + bad:08x}: flash holds "
                                   f"0x{got[bad]:02x}, {elf.name} has 0x{seg.data[bad]:02x}")
            verified += len(seg.data)
        if verified == 0:
            raise BackendError(f"{elf.name} has no bytes in {t.target}'s flash: built "
                               f"for another part?")
        target.reset()  # and run: no halt requested
    finally:
        session.close()
    return Flashed(probe, len(image.data), verified)


def reset(board: Board, t: PyocdTarget, probe: Probe) -> None:
    """Reset and run what is in flash (a silent board, a new run)."""
    session = _open_session(board, t, probe)
    try:
        session.target.reset()
    finally:
        session.close()


def elf_digest(elf: Path) -> str:
    return hashlib.sha256(elf.read_bytes()).hexdigest()

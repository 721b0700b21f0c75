"""After a flash: wait for the firmware's handshake on the board's serial
port, and refuse firmware that is not the one flashed for this board."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from harness.boards import Board
from harness.errors import BackendError, ProtocolError
from harness.link import DeviceInfo, DeviceSilent, Link

HELLO_EVERY_S = 0.3


@dataclass(frozen=True)
class Expected:
    """What the flashed firmware must say about itself."""

    board: str
    build_id: str | None = None  # None: a bare ELF without a bench manifest
    elf: Path | None = None


def check_identity(info: DeviceInfo, want: Expected, url: str) -> None:
    if info.board != want.board:
        raise ProtocolError(f"the device on {url} runs firmware built for board {info.board!r} "
                            f"(build {info.build_id}), not {want.board!r}: flash firmware built "
                            f"with --board {want.board}")
    if want.build_id is not None and info.build_id != want.build_id[:16]:
        raise ProtocolError(f"the device on {url} runs build {info.build_id}, not the flashed "
                            f"{want.build_id[:16]}: the flash did not take, or this is another "
                            f"board's port")


def wait_handshake(url: str, board: Board, want: Expected, timeout_s: float = 10.0,
                   baud: int | None = None) -> DeviceInfo:
    """HELLO every 0.3 s until the firmware answers or ``timeout_s`` passes."""
    baud = baud or board.baud
    link = Link(url, connect_s=0, baudrate=baud)
    try:
        info = link.hello(timeout_s=HELLO_EVERY_S,
                          attempts=max(1, math.ceil(timeout_s / HELLO_EVERY_S)))
    except DeviceSilent:
        raise BackendError(f"no handshake after {timeout_s:g} s on {url}: wrong port? wrong baud "
                           f"({board.name} uses {baud})? did the firmware start (press reset)?"
                           ) from None
    finally:
        link.close()
    check_identity(info, want, url)
    return info

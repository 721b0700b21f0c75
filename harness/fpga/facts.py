"""A board's FPGA facts: boards/<board>/fpga.toml.

Beside board.toml (what every board has), an FPGA board keeps here what
only an FPGA has: its part and package, the clock pin's frequency, the pin
constraints, how a bitstream is programmed and which serial port carries
bench's protocol. Read strictly, like board.toml: an unknown key is an
error naming the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.boards import parse_section
from harness.errors import ConfigError
from harness.fpga.part import FpgaPart, get_part
from harness.paths import BOARDS

FACTS_FILE = "fpga.toml"
BITSTREAM_FORMATS = ("ice40", "intel", "xilinx", "gowin", "ecp5")


@dataclass(frozen=True)
class FpgaFacts:
    title: str
    device: str  # what the FPGA is, in words (the part's name for synthesised boards)
    clock_hz: int  # the clock the design runs from on the board
    baud: int  # the UART carrying bench's protocol
    uart: str  # which serial port that is, in words
    bitstream_format: str  # what a bitstream for it looks like (one of BITSTREAM_FORMATS)
    openfpgaloader_args: tuple[str, ...]  # how openFPGALoader finds the board/cable
    synthesise: bool = False  # bench synthesises its own core for it
    part: str = ""  # a key of harness.fpga.part.PARTS (synthesised boards)
    package: str = ""
    pcf: str = ""  # pin constraints, relative to the board's folder
    usb_id: str = ""  # vid:pid of the board's USB-serial bridge
    bitstream_suffixes: tuple[str, ...] = ()  # file extensions accepted for a user bitstream
    note: str = ""


@dataclass(frozen=True)
class FpgaBoard:
    """An FPGA board: its name, folder and facts."""

    name: str
    folder: Path
    facts: FpgaFacts

    @property
    def part(self) -> FpgaPart:
        if not self.facts.part:
            raise ConfigError(f"board {self.name} names no FPGA part bench can synthesise for "
                              f"({self.facts.device}): give it a bitstream (--firmware)")
        part = get_part(self.facts.part)
        if self.facts.package and self.facts.package != part.package:
            raise ConfigError(f"{self.folder / FACTS_FILE}: package {self.facts.package!r}; "
                              f"bench knows {part.name} in {part.package} only")
        return part

    @property
    def pcf(self) -> Path | None:
        return self.folder / self.facts.pcf if self.facts.pcf else None


def read_fpga_board(folder: Path) -> FpgaBoard:
    path = folder / FACTS_FILE
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"FPGA facts {path} are unreadable: {e}") from e
    facts = parse_section(FpgaFacts, raw, str(path))
    if facts.bitstream_format not in BITSTREAM_FORMATS:
        raise ConfigError(f"{path}: bitstream_format {facts.bitstream_format!r}; known: "
                          f"{', '.join(BITSTREAM_FORMATS)}")
    if facts.synthesise and not facts.part:
        raise ConfigError(f"{path}: synthesise = true needs a part")
    board = FpgaBoard(folder.name, folder, facts)
    if board.pcf is not None and not board.pcf.is_file():
        raise ConfigError(f"{path}: pin constraints {board.pcf} do not exist")
    return board


def fpga_board(name: str, boards: Path = BOARDS) -> FpgaBoard | None:
    """The FPGA facts of board ``name``, or None when it is no FPGA board."""
    folder = boards / name
    if not (folder / FACTS_FILE).is_file():
        return None
    return read_fpga_board(folder)


def fpga_board_names(boards: Path = BOARDS) -> list[str]:
    return sorted(d.name for d in boards.iterdir() if (d / FACTS_FILE).is_file())

"""Board registry: one folder per board under boards/, facts in board.toml.

Adding a board takes one folder and no Python: board.toml, startup code, a
linker script and board support C implementing firmware/runtime/bench_board.h.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.paths import BOARDS, ROOT


@dataclass(frozen=True)
class QemuFacts:
    machine: str
    serial_index: int


@dataclass(frozen=True)
class RenodeFacts:
    platform: Path  # our .repl (renode/), absolute
    uart: str  # the console UART's peripheral, e.g. "sysbus.usart2"


@dataclass(frozen=True)
class Board:
    name: str
    folder: Path
    title: str
    part: str
    core: str
    clock_hz: int
    rom_bytes: int
    ram_bytes: int
    console: str
    baud: int
    sources: tuple[Path, ...]
    linker_script: Path
    cflags: tuple[str, ...]
    backends: tuple[str, ...]
    features: tuple[str, ...] = ()
    trigger_pin: str = ""
    pyocd_target: str = ""
    qemu: QemuFacts | None = None
    renode: RenodeFacts | None = None
    load_address: int = 0  # where the image starts in flash (after a bootloader)
    extra: dict = field(default_factory=dict, compare=False)


def _load(folder: Path) -> Board:
    try:
        facts = tomllib.loads((folder / "board.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"board file {folder / 'board.toml'} is unreadable: {e}") from e
    qemu = facts.pop("qemu", None)
    renode = facts.pop("renode", None)
    try:
        return Board(
            name=folder.name,
            folder=folder,
            title=facts.pop("title"),
            part=facts.pop("part"),
            core=facts.pop("core"),
            clock_hz=int(facts.pop("clock_hz")),
            rom_bytes=int(facts.pop("rom_bytes")),
            ram_bytes=int(facts.pop("ram_bytes")),
            console=facts.pop("console"),
            baud=int(facts.pop("baud")),
            sources=tuple(folder / s for s in facts.pop("sources")),
            linker_script=folder / facts.pop("linker_script"),
            cflags=tuple(facts.pop("cflags")),
            backends=tuple(facts.pop("backends")),
            features=tuple(facts.pop("features", ())),
            trigger_pin=facts.pop("trigger_pin", ""),
            pyocd_target=facts.pop("pyocd_target", ""),
            qemu=QemuFacts(**qemu) if qemu else None,
            renode=RenodeFacts(platform=ROOT / renode["platform"], uart=renode["uart"])
            if renode else None,
            load_address=int(facts.pop("load_address", 0)),
            extra=facts,
        )
    except KeyError as e:
        raise ConfigError(f"board file {folder / 'board.toml'} lacks {e.args[0]!r}") from e


def all_boards() -> dict[str, Board]:
    return {
        d.name: _load(d)
        for d in sorted(BOARDS.iterdir())
        if d.is_dir() and (d / "board.toml").exists()
    }


def get_board(name: str) -> Board:
    boards = all_boards()
    if name not in boards:
        raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(boards) or 'none'}")
    return boards[name]

"""Boards: one folder per board under boards/, its facts in board.toml.

Adding a board takes one folder and no Python: board.toml, startup code, a
linker script and board support C implementing firmware/runtime/bench_board.h.

board.toml is read strictly: the board's own facts are the top-level keys
below (an unknown key is an error naming the file and the key), and every
table belongs to a part that reads it: ``[power]`` to the energy estimate
(harness/power/estimate.py), ``[qemu]``, ``[renode]``, ``[probe]``,
``[ambiq-uart]`` to the backend of that name, which declares the table's
fields as a dataclass (``Backend.Facts``) and is the only reader of them.
harness/backends/__init__.py checks every table when a board is looked up.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError
from harness.paths import BOARDS, ROOT

F = TypeVar("F")


BOARD_KINDS = ("mcu", "fpga")
# What a microcontroller board must state and an FPGA board does not have:
# an FPGA runs no firmware (the SNN core is configured over its link).
MCU_ONLY = ("core", "rom_bytes", "ram_bytes", "sources", "linker_script", "cflags")


@dataclass(frozen=True)
class Board:
    name: str  # the --board name: the folder's name
    folder: Path
    title: str
    part: str
    clock_hz: int
    console: str
    baud: int
    backends: tuple[str, ...]  # the first is the default where none is named
    kind: str = "mcu"  # "mcu" (firmware) or "fpga" (bench's SNN core, harness/fpga)
    core: str = ""
    rom_bytes: int = 0  # flash the application may use, from load_address on
    ram_bytes: int = 0
    sources: tuple[Path, ...] = ()
    linker_script: Path = Path()
    cflags: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    trigger_pin: str = ""  # high during the timed region, for power meters
    load_address: int = 0  # where the application image starts in flash
    flash_backend: str | None = None  # what 'bench flash' uses without --backend
    # Said beside every run of the board, e.g. "compute-only, not an STM32".
    note: str = ""
    # The tables, by name, for the parts that own them (see the module docstring).
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    @property
    def file(self) -> Path:
        return self.folder / "board.toml"


_PATHS = {"linker_script"}  # relative to the board's folder
_PATH_LISTS = {"sources"}


def read_board(folder: Path) -> Board:
    """The board in ``folder``, its top-level keys checked; tables are kept
    for their owners (check them with harness.backends.check_board)."""
    path = folder / "board.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"board file {path} is unreadable: {e}") from e
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    facts = {k: v for k, v in raw.items() if k not in sections}
    known = {f.name for f in fields(Board)} - {"name", "folder", "sections"}
    unknown = sorted(set(facts) - known)
    if unknown:
        raise ConfigError(f"board file {path}: unknown key {unknown[0]!r}; a board has "
                          f"{', '.join(sorted(known))} and tables for its backends and [power]")
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(Board)
    for f in fields(Board):
        if f.name not in facts:
            continue
        value = facts[f.name]
        if f.name in _PATHS:
            value = folder / _typed(value, str, path, f.name)
        elif f.name in _PATH_LISTS:
            value = tuple(folder / s for s in _typed(value, tuple[str, ...], path, f.name))
        else:
            value = _typed(value, hints[f.name], path, f.name)
        values[f.name] = value
    missing = [f.name for f in fields(Board) if f.default is MISSING and f.default_factory is
               MISSING and f.name not in values and f.name not in ("name", "folder")]
    kind = values.get("kind", "mcu")
    if kind not in BOARD_KINDS:
        raise ConfigError(f"board file {path}: kind {kind!r} is not one of "
                          f"{', '.join(BOARD_KINDS)}")
    if kind == "mcu":
        missing += [k for k in MCU_ONLY if k not in values]
    else:
        extra = [k for k in MCU_ONLY if k in values]
        if extra:
            raise ConfigError(f"board file {path}: {extra[0]!r} is a microcontroller's; an "
                              f"FPGA board (kind = \"fpga\") runs no firmware")
    if missing:
        raise ConfigError(f"board file {path} lacks {missing[0]!r}")
    return Board(name=folder.name, folder=folder, sections=sections, **values)


def board_note(name: str) -> str:
    """A stored run's board note ("" when the board has none or bench no longer
    has the board): reports label such runs with it."""
    folder = board_folders().get(name)
    if folder is None:
        return ""
    try:
        return read_board(folder).note
    except ConfigError:
        return ""


def board_folders() -> dict[str, Path]:
    """Board name -> folder, for every folder under boards/ with a board.toml."""
    return {d.name: d for d in sorted(BOARDS.iterdir())
            if d.is_dir() and (d / "board.toml").exists()}


def parse_section(kind: type[F], table: Mapping[str, Any], where: str) -> F:
    """A board.toml table as the dataclass ``kind`` declares it: every key
    known, every field without a default given, each value of its type.
    ``Path`` fields are relative to the repository."""
    if not is_dataclass(kind):
        raise TypeError(f"{kind} is not a dataclass")
    declared = {f.name: f for f in fields(kind)}
    unknown = sorted(set(table) - set(declared))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; it takes "
                          f"{', '.join(declared) or 'nothing'}")
    hints = typing.get_type_hints(kind)
    values = {}
    for name, f in declared.items():
        if name not in table:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"{where} lacks {name!r}")
            continue
        values[name] = _typed(table[name], hints[name], where, name)
    return kind(**values)


def _typed(value: Any, hint: Any, where: str | Path, key: str) -> Any:  # noqa: ANN401
    """``value`` as a field of type ``hint`` wants it, or ConfigError."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        return _typed(value, hint, where, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key!r} must be a list")
        return tuple(_typed(v, args[0], where, key) for v in value)
    ok = {int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str), bool: isinstance(value, bool),
          Path: isinstance(value, str)}.get(hint)
    if ok is None:
        raise TypeError(f"board facts cannot hold {hint}")
    if not ok:
        raise ConfigError(f"{where}: {key!r} must be {_WORDS[hint]}, not {value!r}")
    if hint is Path:
        return ROOT / value
    return float(value) if hint is float else value


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          Path: "a path (relative to the repository)"}

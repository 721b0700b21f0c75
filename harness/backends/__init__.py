"""Backends: where firmware runs (an emulator, a probe-attached board, ...),
and the boards they run.

One module per backend plus one line in BACKENDS. A backend loads an ELF and
hands back a pyserial URL that reaches the firmware's console, says what the
firmware's timer counts mean there, and owns its table in board.toml
(harness/backends/base.py). Boards are looked up here, so that every table
of a board file is checked by the part that owns it.
"""

from __future__ import annotations

from harness.backends.base import Backend, Options
from harness.boards import Board, board_folders, read_board
from harness.errors import ConfigError
from harness.power.estimate import power_facts
from harness.registry import Registry

BACKENDS: Registry[type[Backend]] = Registry("backend", {
    "qemu": "harness.backends.qemu:QemuBackend",
    "renode": "harness.backends.renode:RenodeBackend",
    "probe": "harness.backends.probe:ProbeBackend",
    "ambiq-uart": "harness.backends.ambiq_uart:AmbiqUartBackend",
    "verilator": "harness.backends.verilator:VerilatorBackend",
})
POWER_TABLE = "power"  # board.toml's table for the energy estimate


def get_backend(name: str, options: Options | None = None) -> Backend:
    return BACKENDS.load(name)(options)


def check_board(board: Board) -> Board:
    """Every backend the board lists exists, and every table is known to
    and accepted by its owner; returns the board."""
    for name in board.backends:
        if name not in BACKENDS:
            raise ConfigError(f"board file {board.file} lists backend {name!r}, which bench "
                              f"does not have; known backends: {', '.join(BACKENDS)}")
    for table in board.sections:
        if table == POWER_TABLE:
            power_facts(board)
        elif table in BACKENDS:
            get_backend(table).facts(board)
        else:
            raise ConfigError(f"board file {board.file}: unknown table [{table}]; tables are "
                              f"[{POWER_TABLE}] and one per backend "
                              f"({', '.join(f'[{b}]' for b in BACKENDS)})")
    for name in board.backends:
        backend = get_backend(name)
        if backend.Facts is not None and name not in board.sections:
            raise ConfigError(f"board file {board.file} lists backend {name!r} but has no "
                              f"[{name}] table for it")
    if board.flash_backend is not None and board.flash_backend not in board.backends:
        raise ConfigError(f"board file {board.file}: flash_backend {board.flash_backend!r} is "
                          f"not among its backends")
    return board


def all_boards() -> dict[str, Board]:
    return {name: check_board(read_board(folder)) for name, folder in board_folders().items()}


def get_board(name: str) -> Board:
    folders = board_folders()
    if name not in folders:
        raise ConfigError(f"unknown board {name!r}; known boards: "
                          f"{', '.join(folders) or 'none'}")
    return check_board(read_board(folders[name]))


def resolve_board_backend(board_name: str, backend_name: str,
                          options: Options | None = None) -> tuple[Board, Backend]:
    board = get_board(board_name)
    backend = get_backend(backend_name, options)
    if not backend.supports(board):
        raise ConfigError(f"board {board.name} cannot run on backend {backend_name}; "
                          f"its backends: {', '.join(board.backends)}")
    return board, backend


__all__ = ["BACKENDS", "Backend", "Options", "all_boards", "check_board", "get_backend",
           "get_board", "resolve_board_backend"]

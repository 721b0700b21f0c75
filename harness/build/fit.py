"""Whether a model can fit a board at all, checked before any code is
generated or compiled.

The linker has the last word (build.py reads its "region overflowed"), but
a model far too large made gcc chew for minutes on a 200 MB weights header
before the linker refused it. This check uses lower bounds only, so it
never refuses a model that would fit:

- flash: the weights and biases at the build's element size (integer builds
  keep biases wider, and an engine may add tables) plus the least code any
  bench firmware has;
- RAM: the largest single tensor (input, output or activation) at that
  size. Engines plan their arenas differently (in place, overlapped, with
  scratch), so any plan needs at least this much, and usually more.
"""

from __future__ import annotations

from harness.boards import Board, board_folders, read_board
from harness.errors import BuildError, ConfigError
from harness.kinds import DType
from harness.model.ir import Graph, numel

# Code every bench firmware has: its runtime, board support and libc take
# 2.7 KB (apollo3) and 3.1 KB (stm32l452) in a tiny model's build; a floor.
CODE_BYTES_MIN = 2048


def weight_bytes(graph: Graph, dtype: DType) -> int:
    """The graph's parameters at ``dtype``'s element size: a lower bound on
    the flash they take."""
    return graph.params_count * dtype.itemsize


def largest_tensor_bytes(graph: Graph, dtype: DType) -> int:
    tensors = [graph.input_name, *(layer.output for layer in graph.layers)]
    return max(numel(graph.shape_of(t)) for t in tensors) * dtype.itemsize


def check_fits(board: Board, graph: Graph, dtype: DType) -> None:
    """BuildError saying by how much a model is over the board's flash or
    RAM, when it certainly is; nothing when it may fit."""
    if board.kind != "mcu":
        raise BuildError(f"board {board.name} is an FPGA running bench's SNN core: it takes no "
                         f"firmware (bench run --board {board.name} --backend "
                         f"{board.backends[0]} loads the model into the core)")
    weights = weight_bytes(graph, dtype)
    rom = weights + CODE_BYTES_MIN
    ram = largest_tensor_bytes(graph, dtype)
    over = []
    if rom > board.rom_bytes:
        over.append(f"FLASH by {rom - board.rom_bytes:,} bytes or more (its {dtype} weights "
                    f"alone are {weights:,} bytes, {weights / board.rom_bytes:.1f}x the "
                    f"flash)")
    if ram > board.ram_bytes:
        over.append(f"RAM by {ram - board.ram_bytes:,} bytes or more (its largest {dtype} "
                    f"tensor alone is {ram:,} bytes)")
    if over:
        raise BuildError(f"model does not fit {board.name} ({board.part}: "
                         f"{board.rom_bytes // 1024} KB flash, {board.ram_bytes // 1024} KB "
                         f"RAM): {'; '.join(over)}; nothing was built{_elsewhere(board, rom, ram)}")


def _elsewhere(board: Board, rom: int, ram: int) -> str:
    """Where else an emulator could run it (by the same lower bounds), or by
    how much it misses the largest emulated board."""
    emulated = []
    for name, folder in board_folders().items():
        try:
            b = read_board(folder)
        except ConfigError:
            continue
        if name != board.name and {"qemu", "renode"} & set(b.backends):
            emulated.append(b)
    fits = [b for b in emulated if rom <= b.rom_bytes and ram <= b.ram_bytes]
    if fits:
        return "; it may fit " + ", ".join(
            f"--board {b.name}" + (f" ({b.note})" if b.note else "") for b in fits)
    if not emulated:
        return ""
    big = max(emulated, key=lambda b: (b.ram_bytes, b.rom_bytes))
    miss = [f"{what} by {need - have:,} bytes" for what, need, have in
            (("flash", rom, big.rom_bytes), ("RAM", ram, big.ram_bytes)) if need > have]
    return (f"; it fits no emulated board either: the largest, {big.name}, misses "
            f"{' and '.join(miss)}")

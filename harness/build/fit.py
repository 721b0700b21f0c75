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

from harness.boards import Board
from harness.errors import BuildError
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
                         f"RAM): {'; '.join(over)}; nothing was built")

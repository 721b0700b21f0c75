"""What a run on an FPGA board stores as its resources: the synthesis of
exactly the design it ran (bench's SNN core in its reference configuration),
when 'bench build' made one. Nothing is synthesised here: a run does not
wait minutes for yosys, and without a synthesis the columns stay empty."""

from __future__ import annotations

import importlib
from pathlib import Path

from harness.errors import ToolMissingError
from harness.fpga.facts import fpga_board
from harness.fpga.synth import stored_synthesis

CORE_MODULE = "harness.fpga.core"


def design_run_fields(board_name: str, sources: list[Path], top: str,
                      parameters: dict[str, int]) -> dict[str, object]:
    """The runs columns (fpga_luts, ..., fmax_hz) of this design's synthesis
    for the board, or {} when the board synthesises nothing or none exists."""
    board = fpga_board(board_name)
    if board is None or not board.facts.synthesise:
        return {}
    try:
        syn = stored_synthesis(sources, top, parameters, board.part, board.pcf,
                               board.facts.clock_hz)
    except ToolMissingError:  # no flow installed: nothing can have been synthesised
        return {}
    return syn.resources.run_fields() if syn is not None else {}


def core_run_fields(board_name: str) -> dict[str, object]:
    """design_run_fields for bench's SNN core (harness/fpga/core.py)."""
    if fpga_board(board_name) is None:  # a microcontroller: no core to look for
        return {}
    try:
        core = importlib.import_module(CORE_MODULE)
    except ModuleNotFoundError:
        return {}
    return design_run_fields(board_name, list(core.rtl_sources()), core.TOP,
                             dict(core.REFERENCE))

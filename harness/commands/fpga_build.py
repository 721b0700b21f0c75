"""bench build for an FPGA board: size bench's SNN core from the model,
synthesise it (harness/fpga/synth.py) and show the resource report, each
figure against the part's limit: the FPGA's counterpart of the memory
report."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from harness.commands.show import out
from harness.errors import ConfigError
from harness.fpga.facts import FpgaBoard
from harness.fpga.synth import Synthesis, synthesis_dir, synthesis_key, synthesise

CORE_MODULE = "harness.fpga.core"


@dataclass(frozen=True)
class Design:
    """What to synthesise: Verilog sources, the top module, its parameters."""

    sources: list[Path]
    top: str
    parameters: dict[str, int]


def fpga_build_report(board: FpgaBoard, syn: Synthesis) -> Table:
    """The synthesis report: each resource against the part's limit, Fmax
    against the board's clock, and how long each step took here."""
    r, part = syn.resources, syn.resources.part
    t = Table(title=f"{board.name} / {part.name}-{part.package} / {syn.top}")
    t.add_column("what")
    t.add_column("used", justify="right")
    t.add_column(f"of the {part.name}", justify="right")
    for what, used, limit in r.rows():
        t.add_row(what, f"{used:,}", f"{limit:,}  ({100 * used / limit:.1f}%)")
    clock = board.facts.clock_hz
    if r.fmax_hz is None:
        t.add_row("Fmax", "-", "no clocked logic")
    else:
        verdict = "meets" if r.fmax_hz >= clock else "FAILS"
        t.add_row("Fmax (nextpnr, slowest clock)", f"{r.fmax_hz / 1e6:,.2f} MHz",
                  f"{verdict} the board's {clock / 1e6:g} MHz")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in syn.seconds.items())
    t.add_row("synthesis time", "reused" if syn.reused else f"{sum(syn.seconds.values()):.1f} s",
              steps)
    return t


def synthesise_for(board: FpgaBoard, design: Design, out_dir: Path | None = None) -> Synthesis:
    """``design`` synthesised for ``board``'s part, pins and clock, into
    ``out_dir`` or a directory under build/ named by its key."""
    part = board.part
    if out_dir is None:
        key = synthesis_key(design.sources, design.top, design.parameters, part, board.pcf,
                            board.facts.clock_hz)
        out_dir = synthesis_dir(part, design.top, key)
    return synthesise(design.sources, design.top, design.parameters, part, out_dir,
                      pcf=board.pcf, clock_hz=board.facts.clock_hz)


def core_design(args: argparse.Namespace) -> Design:
    """bench's SNN core (harness/fpga/core.py) in its reference configuration
    (one bitstream runs every model that fits its memories, configured over
    the link), after checking that ``args.model`` maps onto it and fits."""
    try:
        core = importlib.import_module(CORE_MODULE)
    except ModuleNotFoundError:
        raise ConfigError(f"this checkout has no FPGA SNN core ({CORE_MODULE}): nothing to "
                          f"synthesise for --board {args.board}") from None
    from harness.commands.options import quant_request, snn_options
    from harness.engines import get_engine
    from harness.model.load import load_graph
    from harness.quant.schemes import quantize_graph
    from harness.run.quantize import quant_for

    graph = load_graph(args.model, snn_options(args))
    if not graph.spiking or args.dtype not in ("int8", "int16"):
        raise ConfigError(f"board {args.board} runs spiking networks in int8 or int16 (bench's "
                          f"SNN core), not a {'spiking' if graph.spiking else 'non-spiking'} "
                          f"{args.dtype} model")
    quant, _ = quant_for(graph, get_engine(args.engine), args.dtype, args.dataset,
                         quant_request(args), args.data_dir)
    assert quant is not None
    core.check_fits(core.core_model(quantize_graph(graph, quant, args.dtype)), core.REFERENCE)
    return Design(list(core.rtl_sources()), core.TOP, dict(core.REFERENCE))


def build_fpga(args: argparse.Namespace, board: FpgaBoard) -> int:
    """The FPGA board's build: synthesise and print the report."""
    if not board.facts.synthesise:
        raise ConfigError(f"bench synthesises nothing for {board.name} ({board.facts.device}): "
                          f"program your own bitstream with 'bench flash --board {board.name} "
                          f"--firmware FILE'")
    syn = synthesise_for(board, core_design(args), args.output)
    out.print(fpga_build_report(board, syn))
    out.print(f"bitstream: {syn.bitstream}")
    return 0

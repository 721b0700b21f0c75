"""bench build: generate and compile firmware; print its memory report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from harness.backends import get_board, resolve_board_backend
from harness.build.firmware import Firmware
from harness.commands import Command
from harness.commands.options import add_data_dir, add_model, quant_request, snn_options
from harness.commands.show import out
from harness.fpga.facts import fpga_board
from harness.kinds import LinkKind


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model(p)
    p.add_argument("--backend", help="where it will run; sets the default link "
                   "(default: the board's first backend, see 'bench boards')")
    p.add_argument("--link", choices=list(LinkKind),
                   help="host link: uart (real boards) or semihost (QEMU's fast path); "
                   "default: the backend's")
    p.add_argument("-o", "--output", type=Path, help="build directory (default: build/...)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.add_argument("--dataset", help="calibration data for int8/int16 builds (its training "
                   "split when it has one); a spiking model's spike rates for --snn-kernels "
                   "auto")
    add_data_dir(p)


def memory_table(fw: Firmware) -> Table:
    scheme = f" ({fw.quant_scheme})" if fw.quant_scheme else ""
    t = Table(title=f"{fw.board} / {fw.engine} / {fw.dtype}{scheme}")
    t.add_column("what")
    t.add_column("bytes", justify="right")
    board = get_board(fw.board)
    m = fw.memory
    t.add_row("ROM (flash)", f"{m.rom_bytes:,}  ({100 * m.rom_bytes / board.rom_bytes:.1f}% of "
              f"{board.rom_bytes // 1024} KB)")
    t.add_row("RAM (.data + .bss)", f"{m.ram_bytes:,}")
    t.add_row("  of which activation arena", f"{fw.arena_bytes:,}")
    for part in ("model", "kernels", "runtime", "libc"):
        if part in m.components:
            c = m.components[part]
            t.add_row(f"  {part}: ROM / RAM", f"{c['rom']:,} / {c['ram']:,}")
    t.add_row("stack reserved", f"{m.stack_reserved_bytes:,}")
    t.add_row("input / output per inference", f"{fw.input_bytes:,} / {fw.output_bytes:,}")
    return t


def run(args: argparse.Namespace) -> int:
    from harness.build.build import build_for
    from harness.build.fit import check_fits
    from harness.engines import get_engine
    from harness.model.load import load_graph
    from harness.run.quantize import quant_for

    fpga = fpga_board(args.board)
    if fpga is not None and (not fpga.facts.synthesise or not args.backend):
        from harness.commands.fpga_build import build_fpga  # an FPGA's build is synthesis

        return build_fpga(args, fpga)
    board = get_board(args.board)
    _, backend = resolve_board_backend(board.name, args.backend or board.backends[0])
    link = backend.check_link(args.link)  # before the model: a refusal costs nothing
    engine = get_engine(args.engine)
    graph = load_graph(args.model, snn_options(args))
    if graph.spiking:
        from harness.datasets import load_dataset
        from harness.model import snn_kernels

        data = load_dataset(args.dataset, args.data_dir) if args.dataset else None
        graph = snn_kernels.pick(graph, args.snn_kernels or "auto",
                                 data.x if data is not None else None, args.dtype)
    dtype = engine.check_dtype(args.dtype)
    check_fits(board, graph, dtype)  # before calibrating a model that cannot fit
    quant, _record = quant_for(graph, engine, dtype, args.dataset, quant_request(args),
                               args.data_dir)
    fw = build_for(board, graph, engine, dtype, link, args.output, quant=quant)
    if args.json:
        print(json.dumps(fw.manifest(), default=str))
    else:
        out.print(memory_table(fw))
        out.print(f"firmware: {fw.elf}")
    return 0


COMMAND = Command("build", "generate and compile firmware; print its memory report",
                  add_arguments, run)

"""bench report: comparison tables and plots of the runs in the store."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import out
from harness.errors import ConfigError
from harness.paths import output_file, write_failed
from harness.report.render import FORMATS
from harness.store.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_db(p)
    p.add_argument("--format", choices=list(FORMATS), default="md",
                   help="md (default; with -o its plots are written as PNGs beside the file), "
                   "html (one self-contained file with the plots), csv, latex (booktabs)")
    p.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")
    p.add_argument("--baseline", metavar="ENGINE",
                   help="engine the ratios compare against, run for run on the same board, "
                   "model, dataset and dtype (default: native when stored)")
    p.add_argument("--cpi", type=float, default=1.0,
                   help="cycles per instruction for the latency estimate of instruction "
                   "counts (default: 1; the column header names it; measured cycles ignore it)")
    p.add_argument("--published", action="store_true",
                   help="also show the published figures in references/ (marked, with source "
                   "and unit; never in the ratios)")


def run(args: argparse.Namespace) -> int:
    from harness.fpga.energy import with_estimate
    from harness.report import published
    from harness.report.compare import compare
    from harness.report.render import render

    if not args.db.exists():
        raise ConfigError(f"no results database at {args.db}: run 'bench run' or 'bench demo'")
    if args.output:
        output_file(args.output, "report")  # before any plot is written beside it
    with Store(args.db, readonly=True) as store:
        summaries = [with_estimate(s) for s in store.summaries()]  # FPGA runs' estimate
    if not (math.isfinite(args.cpi) and args.cpi > 0):  # inf made every latency inf
        raise ConfigError(f"--cpi must be a positive number, got {args.cpi:g}")
    comparison = compare(summaries, args.baseline,
                         published.load() if args.published else None, cpi=args.cpi)
    if args.output:
        try:  # md writes its plots beside the file
            args.output.write_text(render(comparison, args.format, args.output))
        except OSError as e:
            raise write_failed(args.output, "report", e) from e
        out.print(f"wrote {args.output}")
    else:
        print(render(comparison, args.format), end="")
    return 0


COMMAND = Command("report", "comparison tables and plots of the runs in the store",
                  add_arguments, run)

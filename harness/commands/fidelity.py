"""bench fidelity: a board's measured cycles against the emulator's estimate."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import out
from harness.store.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("board_run", type=int, metavar="RUN_ON_BOARD",
                   help="a run measured on a real board (DWT cycles)")
    p.add_argument("emulator_run", type=int, metavar="RUN_ON_EMULATOR",
                   help="the same model, engine and dtype on QEMU (with a cycle estimate)")
    p.add_argument("--json", action="store_true")
    add_db(p)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from harness.report.fidelity import compare

    with Store(args.db, readonly=True) as store:
        f = compare(store, args.board_run, args.emulator_run)
    if args.json:
        out.print_json(json.dumps({**asdict(f), "within_target": f.within_target}))
        return 0
    t = Table(title=f"measured cycles (run {f.board_run}) vs estimated (run {f.emulator_run}, "
              f"timing model {f.timing_model}), medians over {f.samples} samples")
    for col in ("#", "layer", "op", "measured cycles", "estimated cycles", "error"):
        t.add_column(col, justify="right" if col not in ("layer", "op") else "left")
    for la in f.layers:
        t.add_row(str(la.index), la.name, la.op, f"{la.measured:,}", f"{la.estimated:,}",
                  f"{100 * la.error:+.1f} %")
    t.add_row("", "per inference", "", f"{f.measured:,}", f"{f.estimated:,}",
              f"{100 * f.error:+.1f} %", style="bold")
    out.print(t)
    verdict = "within" if f.within_target else "outside"
    out.print(f"error per inference {100 * f.error:+.1f} % ({verdict} the {100 * f.target:g} % "
              f"target)" + ("" if f.layers else "; no per-layer counts in both runs (run "
                            "both with --per-layer for a per-layer comparison)"))
    return 0


COMMAND = Command("fidelity", "a board run's measured cycles against an emulator run's "
                  "cycle estimate, per layer and per inference", add_arguments, run)

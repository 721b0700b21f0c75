"""bench profile: instructions per layer of a stored run."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import err, out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", type=int)
    add_db(p)
    p.add_argument("--samples", type=int, default=3,
                   help="samples to measure when the run has no per-layer counts (default: 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from harness.profile import profile_run

    if args.json:
        print(json.dumps(profile_run(args.run_id, args.db, args.samples).as_dict()))
        return 0
    with err.status(f"profiling run {args.run_id} ..."):
        p = profile_run(args.run_id, args.db, args.samples)
    where = ("stored per-layer counts" if p.source == "stored" else
             "measured now: the run itself has no per-layer counts")
    header = ("#", "layer", "op", "MACs", "instructions", "% of total", "MACs/instr")
    rows = [(str(la.index), la.name, la.op, f"{la.macs:,}", f"{la.instructions:,}",
             f"{la.percent:.1f}", "-" if la.macs_per_instruction is None
             else f"{la.macs_per_instruction:.3f}") for la in p.layers]
    if p.layers:
        rows.append(("", "(outside layers)", "", "", f"{p.outside_layers:,}",
                     f"{100 * p.outside_layers / p.total:.1f}" if p.total else "-", ""))
    else:  # e.g. TFLM: no per-layer marks, so no per-layer counts
        rows.append(("", "(no per-layer counts: the engine marks no layers)", "", "-", "-",
                     "-", "-"))
    rows.append(("", "total", "", f"{p.macs:,}", f"{p.total:,}", "100.0",
                 f"{p.macs / p.total:.3f}" if p.total and p.macs else "-"))
    if p.estimated_cycles is not None:
        # The timing model's cycles and cycles per instruction, beside the counts.
        header += ("est. cycles", "CPI")
        cycles: list[int | None] = [la.estimated_cycles for la in p.layers]
        cycles += [None] * (len(rows) - len(cycles) - 1) + [p.estimated_cycles]
        rows = [(*row, "-" if c is None else f"{c:,}",
                 f"{c / int(row[4].replace(',', '')):.2f}"
                 if c is not None and row[4] not in ("0", "-") else "-")
                for row, c in zip(rows, cycles, strict=True)]
    model = (f"; cycles estimated (timing model {p.timing_model}), not measured"
             if p.estimated_cycles is not None else "")
    t = Table(title=f"run {p.run_id}: instructions per layer, median of {p.samples} samples",
              caption=f"{where}; firmware {p.firmware_dir}{model}")
    for i, col in enumerate(header):
        t.add_column(col, justify="left" if i in (1, 2) else "right", no_wrap=True)
    for row in rows:
        t.add_row(*row)
    # Never cut a layer name: wider than a pipe's default 80 columns if need be.
    need = sum(max(len(r[i]) for r in (header, *rows)) + 3 for i in range(len(header))) + 1
    (out if out.is_terminal else Console(width=max(out.width, need))).print(t)
    return 0


COMMAND = Command("profile", "per-layer instructions of a stored run (QEMU plugin)",
                  add_arguments, run)

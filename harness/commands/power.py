"""bench power capture: a raw power trace (Parquet) with its plot, and the
energy of each trigger window in it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from harness.commands import Command
from harness.commands.options import METER_HELP
from harness.commands.show import err, out


def add_arguments(p: argparse.ArgumentParser) -> None:
    psub = p.add_subparsers(dest="power_command", required=True, metavar="ACTION")
    c = psub.add_parser("capture", help="record a raw power trace (Parquet) and plot it; "
                        "energy per trigger window in a table")
    c.add_argument("--meter", metavar="URI", required=True, help=METER_HELP)
    c.add_argument("--duration", type=float, required=True, metavar="S",
                   help="seconds to record")
    c.add_argument("-o", "--output", type=Path, required=True, metavar="TRACE",
                   help="trace file (.parquet); the plot goes beside it as .png")
    c.add_argument("--rate", type=float, metavar="HZ",
                   help="sample rate (default: the meter's)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from harness.power.capture import capture

    with Progress(TextColumn("[bold]recording"), BarColumn(),
                  TextColumn("{task.completed:.1f} / {task.total:.1f} s"), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task("capture", total=args.duration)
        cap = capture(args.meter, args.duration, args.output, args.rate,
                      tick=lambda done, total: bar.update(task, completed=done))
    tr = cap.trace
    t = Table(title=f"power trace from {args.meter}", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("samples", f"{len(tr):,} at {tr.sample_rate:,.0f} Hz ({tr.duration_s:.3f} s)")
    t.add_row("mean current / power", f"{1e3 * float(np.mean(tr.current_a)):.4f} mA / "
              f"{1e3 * float(np.mean(tr.current_a * tr.voltage_v)):.4f} mW")
    if cap.report is not None:
        r = cap.report
        t.add_row("inference windows", f"{len(r.windows)}" + (
            f" ({r.dropped_partial} cut by the trace's ends, left out)"
            if r.dropped_partial else ""))
        t.add_row("energy per window (measured)", f"median {r.median_uj:,.3f} uJ, min "
                  f"{r.min_uj:,.3f}, max {r.max_uj:,.3f} (spread {r.spread_pct:.1f} %)")
        length = float(np.median([w.duration_s for w in r.windows]))
        t.add_row("window length", f"median {1e6 * length:,.1f} us")
    t.add_row("trace", str(cap.trace_file))
    t.add_row("plot", str(cap.plot_file))
    out.print(t)
    if cap.report is not None and len(cap.report.windows) <= 20:
        w = Table(title="windows")
        for col in ("#", "start (s)", "length (us)", "energy (uJ)"):
            w.add_column(col, justify="right")
        for k, win in enumerate(cap.report.windows):
            w.add_row(str(k), f"{win.t_start_s:.6f}", f"{1e6 * win.duration_s:,.1f}",
                      f"{win.energy_uj:,.3f}")
        out.print(w)
    if cap.error is not None:
        raise type(cap.error)(f"{cap.error} (the trace and its plot are written)")
    return 0


COMMAND = Command("power", "power meters: record a trace with its plot", add_arguments, run)

"""bench check: a regression gate, a run or sweep against a stored baseline."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import out

FAILED = 1  # over budget (bad input is 2, as for every command)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", required=True, metavar="FILE_OR_RUN",
                   help="a file from 'bench baseline export', or RUN_ID / sweep:ID in --db")
    p.add_argument("--run", required=True, metavar="RUN_ID|sweep:ID", dest="checked",
                   help="what to check: a run id, sweep:ID or sweep:last (the newest sweep)")
    p.add_argument("--budget", metavar="LIST",
                   help="how far each metric may move the wrong way, e.g. count=+2%%,rom=+1KB,"
                   "ram=+0,accuracy=-0.5pt,energy=+3%%; metrics: count (also per layer), rom, "
                   "ram, stack, accuracy, energy; default 0, but +2%% for cycles on real "
                   "boards and +5%% for measured energy")
    add_db(p)


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    if metric == "accuracy":
        return f"{value:.2f}"
    if metric == "energy":
        return f"{value:,.3f}"
    return f"{int(value):,}"


def _change(base: float | None, now: float | None, metric: str) -> str:
    if base is None or now is None:
        return "new" if base is None else "gone"
    d = now - base
    pct = f" ({100 * d / base:+.2f} %)" if base and metric != "accuracy" else ""
    return (f"{d:+.2f}" if metric in ("accuracy", "energy") else f"{int(d):+,}") + pct


def run(args: argparse.Namespace) -> int:
    from harness.gate import check, load_baseline, measured, parse_budget, run_ids
    from harness.store.store import Store

    budget = parse_budget(args.budget)  # a bad budget: one line, before anything is read
    base_name, baseline = load_baseline(args.baseline, args.db)
    with Store(args.db, readonly=True) as store:
        name, ids = run_ids(store, args.checked)
        runs = [measured(store, i) for i in ids]
    verdict = check(baseline, runs, budget, whole=len(ids) > 1)
    moved = [c for c in verdict.changes if c.moved or c.over]
    t = Table(title=f"{name} against {base_name}")
    for col in ("run", "metric", "layer", "baseline", "now", "change", "budget", ""):
        t.add_column(col, justify="right" if col in ("baseline", "now", "change") else "left")
    for c in moved:
        t.add_row(c.label, c.metric, c.layer or "", _fmt(c.base, c.metric),
                  _fmt(c.now, c.metric), _change(c.base, c.now, c.metric), c.allowed,
                  "OVER" if c.over else "ok")
    if moved:
        (out if out.is_terminal else Console(width=160)).print(t)
    compared = len(runs) - len(verdict.unmatched)
    out.print(f"{len(verdict.changes)} figures of {compared} run(s) compared, "
              f"{len(moved)} moved, {len(verdict.over)} over budget", highlight=False)
    for note in verdict.notes:
        out.print(f"note: {note}", highlight=False)
    for label in verdict.unmatched:
        out.print(f"note: {label} has no baseline (not checked)", highlight=False)
    if not verdict.failed:
        return 0
    if verdict.over:
        # per-layer items first: they say where a count went
        over = sorted(verdict.over, key=lambda c: c.layer is None)
        shown = "; ".join(f"{c.what()}: {_change(c.base, c.now, c.metric)}"
                          + (f" ({_fmt(c.now, c.metric)})" if c.base is None else "")
                          + f", budget {c.allowed}" for c in over[:3])
        more = f"; and {len(over) - 3} more" if len(over) > 3 else ""
        print(f"bench: check failed, over budget: {shown}{more}", file=sys.stderr)
    else:
        print(f"bench: check failed: {verdict.missing[0]} is in the baseline but was not run",
              file=sys.stderr)
    return FAILED


COMMAND = Command("check", "compare a run or sweep with a baseline; non-zero exit when a "
                  "budget is exceeded (a regression gate for CI)", add_arguments, run)

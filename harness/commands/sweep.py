"""bench sweep: a matrix of boards x models x engines x dtypes from a TOML file."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import err, kb, out
from harness.errors import BenchError, ConfigError
from harness.paths import DEFAULT_DB
from harness.processes import Interrupted
from harness.store.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="sweep file (TOML)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="runs in parallel, each with its own emulator (default: the core count)")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest sweep of this plan: finished runs are not redone")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="send each run to the Dask scheduler at ADDRESS (tcp://HOST:8786), to "
                   "the 'bench worker's that offer its board or an emulator slot; results "
                   "come home to --db")
    add_db(p)
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")


def run(args: argparse.Namespace) -> int:
    try:
        return _sweep(args)
    except Interrupted as e:
        resume = f"bench sweep {args.file} --resume" + ("" if args.db == DEFAULT_DB
                                                         else f" --db {args.db}")
        raise Interrupted(str(e).replace("--resume", f"'{resume}'"), e.signum) from e


def _sweep(args: argparse.Namespace) -> int:
    from harness.sweep import check_plan, load_plan, run_sweep

    plan = load_plan(args.file)
    check_plan(plan)  # bad names fail here, before any banner or build
    if args.workers <= 0:  # (run_sweep checks it too, after the banner)
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    labels = {e.key: e.label for e in plan.entries}

    def sweep(progress: Callable[..., None] | None = None,
              banner: Callable[[], None] | None = None) -> tuple[int, list]:
        if args.cluster:
            from harness.cluster import run_cluster_sweep

            # the banner once the cluster can run the plan: else one error line
            return run_cluster_sweep(plan, args.db, args.cluster, args.resume, progress,
                                     banner)
        if banner:
            banner()
        return run_sweep(plan, args.db, args.workers, args.resume, progress)

    if args.json:
        sweep_id, outcomes = sweep()
    else:
        def banner() -> None:
            for note in plan.notes:
                err.print(f"bench: note: {note}")
            where = (f"Dask cluster {args.cluster}" if args.cluster
                     else f"{args.workers} worker(s)")
            err.print(f"sweep [bold]{plan.name}[/]: {len(plan.entries)} runs, {where}, "
                      f"results in {args.db}", soft_wrap=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, disable=not err.is_terminal) as bar:
            overall = bar.add_task("[bold]runs finished", total=len(plan.entries))
            tasks: dict[str, int] = {}

            def progress(event: str, key: str, done: int, total: int,
                         worker: str | None = None) -> None:
                label = labels[key] + (f" @ {worker}" if worker else "")  # --cluster: where
                if event == "finished":
                    bar.advance(overall)
                    if key in tasks:
                        bar.remove_task(tasks.pop(key))
                    elif not err.is_terminal:
                        err.print(f"finished {label}", highlight=False)
                    return
                if key not in tasks:
                    tasks[key] = bar.add_task(label, total=total)
                bar.update(tasks[key], completed=done, total=total, description=label)

            sweep_id, outcomes = sweep(progress, banner)
    failed = [o for o in outcomes if o.status == "failed"]
    if args.json:
        print(json.dumps({"sweep_id": sweep_id, "runs": [
            {"label": o.entry.label, "key": o.entry.key, "run_id": o.run_id, "status": o.status,
             "error": o.error, "worker": o.worker, "started": o.started, "ended": o.ended}
            for o in outcomes]}))
    else:
        print_sweep(sweep_id, outcomes, args.db)
    if failed:
        raise BenchError(f"{len(failed)} of {len(outcomes)} runs failed ({failed[0].entry.label}:"
                         f" {failed[0].error}); the others are stored: fix and rerun with "
                         f"--resume")
    return 0


def print_sweep(sweep_id: int, outcomes: list, db: Path) -> None:
    targets = sorted({f"{o.entry.board}/{o.entry.backend}" for o in outcomes})
    t = Table(title=f"sweep {sweep_id} on {', '.join(targets)}")
    for col in ("run", "model", "engine", "dtype", "status", "metric", "per inference",
                "ROM", "RAM"):
        t.add_column(col, justify="right" if col in ("run", "metric", "per inference", "ROM",
                                                      "RAM") else "left")
    with Store(db) as store:
        for o in outcomes:
            e = o.entry
            model = Path(e.model.split(":")[0]).stem
            if e.snn_kernels:
                model += f" ({e.snn_kernels} kernels)"
            s = store.summary(o.run_id) if o.run_id is not None else None
            status = o.status if o.status != "skipped" else "done earlier"
            if s is None or o.status == "failed":
                t.add_row(str(o.run_id or "-"), model, e.engine, e.dtype, status, "-", "-",
                          "-", "-")
                continue
            t.add_row(str(s.run_id), model, e.engine, e.dtype, status,
                      s.metric_text,
                      "-" if s.count_per_inference is None
                      else f"{s.count_per_inference:,} {s.count_kind[:5]}.",
                      kb(s.rom_bytes), kb(s.ram_bytes))
    # One line per run, also when the output goes to a pipe or a log.
    (out if out.is_terminal else Console(width=120)).print(t)
    out.print(f"compare them: bench report --db {db}")



COMMAND = Command("sweep", "measure a matrix of boards x models x engines x dtypes from a TOML "
                  "file (see examples/sweep.toml)", add_arguments, run)

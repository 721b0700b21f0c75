"""bench run: one measured run, printed and stored."""

from __future__ import annotations

import argparse
import json

from harness.backends import BACKENDS
from harness.commands import Command
from harness.commands.options import (
    METER_HELP,
    add_data_dir,
    add_db,
    add_model,
    quant_request,
    snn_options,
)
from harness.commands.show import print_summary, run_with_progress


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model(p)
    p.add_argument("--backend", default="qemu",
                   help=f"where to run ({', '.join(BACKENDS)}; default: qemu; see 'bench "
                   f"boards')")
    p.add_argument("--dataset", required=True,
                   help="registry name, NAME:SPLIT (e.g. uci-har, uci-har:train; a bare name "
                   "is its test split) or a .npz file with x and y; see 'bench datasets'")
    add_data_dir(p)
    p.add_argument("--limit", type=int, help="run only the first N samples")
    p.add_argument("--top-k", type=int, metavar="K",
                   help="classification: also score top-K accuracy (the label among the K "
                   "largest outputs), besides top-1")
    add_db(p)
    p.add_argument("--resume", type=int, metavar="RUN_ID",
                   help="continue an incomplete run without redoing finished samples")
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    p.add_argument("--per-layer", action="store_true",
                   help="build with per-layer markers and store per-layer instruction counts "
                   "(QEMU plugin); see 'bench profile'")
    g = p.add_argument_group("energy (a power meter on the board's supply)")
    g.add_argument("--meter", metavar="URI", help=METER_HELP + "; measures energy per "
                   "inference from the trigger pin's windows (default: estimate it from "
                   "the board file's datasheet figures)")
    g.add_argument("--meter-rate", type=float, metavar="HZ",
                   help="meter sample rate (default: the meter's)")
    g.add_argument("--meter-duration", type=float, metavar="S",
                   help="record length (default: until the run ends; the N6705 records "
                   "its longest record)")


def run(args: argparse.Namespace) -> int:
    from harness.run.energy import MeterFailed
    from harness.run.execute import run as run_once
    from harness.run.request import RunRequest

    req = RunRequest(board=args.board, backend=args.backend, model=args.model,
                     dataset=args.dataset, engine=args.engine, dtype=args.dtype,
                     limit=args.limit, resume=args.resume, per_layer=args.per_layer,
                     quant=quant_request(args), meter=args.meter, meter_rate=args.meter_rate,
                     meter_duration=args.meter_duration, data_dir=args.data_dir,
                     snn=snn_options(args), top_k=args.top_k)
    try:
        summary = run_once(req, args.db) if args.json else run_with_progress(req, args.db)
    except MeterFailed as e:
        # The run is stored: show it, then the meter's one error line.
        if args.json:
            print(json.dumps(e.summary.as_dict()))
        else:
            print_summary(e.summary)
        raise
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print_summary(summary)
    return 0


COMMAND = Command("run", "one measured run, printed and stored", add_arguments, run)

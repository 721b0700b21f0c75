"""bench worker: a Dask worker offering this computer's boards and emulator
slots to ``bench sweep FILE --cluster tcp://HOST:8786`` (harness/cluster.py)."""

from __future__ import annotations

import argparse
import os

from harness.commands import Command
from harness.commands.show import err


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", required=True, metavar="ADDRESS",
                   help="the Dask scheduler, e.g. tcp://HOST:8786 (start one with 'dask "
                   "scheduler')")
    p.add_argument("--board", action="append", default=[], metavar="BOARD:BACKEND[:ID]",
                   help="a board attached here, offered as one exclusive resource (repeat for "
                   "more); ID: the probe's unique id (probe) or the serial port (ambiq-uart), "
                   "left out when only one is attached")
    p.add_argument("--emulators", type=int, default=None, metavar="N",
                   help="emulator runs at once (default: the core count, 0 with --board)")
    p.add_argument("--name", help="the worker's name in progress and in the store "
                   "(default: HOST-PID)")
    p.add_argument("--listen", metavar="HOST",
                   help="address to listen on (default: 127.0.0.1 for a scheduler on "
                   "loopback, else the interface that reaches the scheduler)")


def run(args: argparse.Namespace) -> int:
    from harness.cluster import parse_board, serve_worker

    boards = [parse_board(b) for b in args.board]
    emulators = args.emulators
    if emulators is None:
        emulators = 0 if boards else (os.cpu_count() or 1)
    serve_worker(args.scheduler, boards, emulators, args.name, args.listen,
                 announce=lambda line: err.print(line, soft_wrap=True, highlight=False))
    return 0


COMMAND = Command("worker", "offer this computer's boards and emulators to sweeps on a Dask "
                  "cluster (bench sweep FILE --cluster tcp://HOST:8786)", add_arguments, run)

"""bench import-cubeai: an STM32Cube.AI / ST Edge AI run's reports as an imported row."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands import Command
from harness.commands.options import add_data_dir, add_db
from harness.commands.show import out, print_summary
from harness.kinds import DType
from harness.store.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("report", type=Path,
                   help="a stedgeai output folder or its <name>_c_info.json; a "
                   "<name>_validate_report.txt beside it adds on-target cycles and accuracy")
    p.add_argument("--board", required=True, help="the board the report was made for")
    p.add_argument("--model", help="the same model as bench's own runs (.pt2 or file.py:factory):"
                   " the row then joins their report group and ratios")
    p.add_argument("--dataset", help="the dataset stedgeai validated on, when it is the same "
                   "as bench's runs")
    add_data_dir(p)
    p.add_argument("--dtype", default=DType.INT8, choices=list(DType),
                   help="the network's data type (default: int8)")
    add_db(p)


def run(args: argparse.Namespace) -> int:
    from harness.backends import get_board
    from harness.imports.cubeai import import_report

    run_id = import_report(args.report, get_board(args.board), args.db, model=args.model,
                           dataset=args.dataset, dtype=args.dtype, data_dir=args.data_dir)
    with Store(args.db) as store:
        s = store.summary(run_id)
    print_summary(s)
    out.print(f"imported as run {run_id} into {args.db} (figures from {s.imported_from})",
              soft_wrap=True)
    return 0


COMMAND = Command("import-cubeai", "store an STM32Cube.AI / ST Edge AI run's reports "
                  "(*_c_info.json, *_validate_report.txt) as an imported row", add_arguments, run)

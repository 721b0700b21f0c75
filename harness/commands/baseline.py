"""bench baseline export: what runs measured, as a JSON file for bench check."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import err
from harness.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="write runs' figures (per layer where stored) to a JSON "
                       "baseline for 'bench check'")
    e.add_argument("what", metavar="RUN_ID|sweep:ID",
                   help="a run id, sweep:ID, or sweep:last (the newest sweep)")
    e.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="the baseline file (JSON), e.g. baseline.json in your repository")
    add_db(e)


def run(args: argparse.Namespace) -> int:
    from harness.gate import export

    data = export(args.db, args.what)
    try:
        args.output.write_text(json.dumps(data, indent=1) + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {args.output}: {e.strerror or e}") from e
    err.print(f"baseline of {data['from']} ({len(data['runs'])} run(s)) written to "
              f"{args.output}", soft_wrap=True, highlight=False)
    return 0


COMMAND = Command("baseline", "export runs as a baseline file for 'bench check' (a regression "
                  "gate)", add_arguments, run)

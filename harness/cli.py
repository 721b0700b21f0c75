"""bench: the command line (DESIGN.md section 2 is the contract).

Every command exits 0 on success; bad input exits non-zero with one line on
stderr that says what was wrong. The commands themselves are in
harness/commands/, one module each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.commands import COMMANDS, Command
from harness.errors import BenchError
from harness.processes import Interrupted, stop_signals_interrupt

EPILOG = """examples:
  bench demo
  bench boards
  bench build --board stm32l452 --model examples/digits_cnn.py:digits_cnn
  bench run --board stm32l452 --model model.pt2 --dataset digits --limit 100
  bench run --board stm32l452 --model model.pt2 --dataset digits --dtype int8 --quant pot
  bench profile 1
  bench sweep examples/sweep.toml --workers 2
  bench power capture --meter ppk2:///dev/ttyACM1 --duration 2 -o trace.parquet
  bench report --format html -o report.html --baseline qualia --published
  bench import-cubeai st_ai_output/ --board stm32l452 --model model.pt2 --dataset digits
"""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bench", description="Measure neural networks on microcontrollers: accuracy, "
        "instructions or cycles, ROM/RAM, stack and energy, on emulated or real boards, and "
        "compare engines (native, Qualia, TFLite Micro, STM32Cube.AI).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        command: Command = COMMANDS.load(name)
        p = sub.add_parser(name, help=command.help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # SIGTERM (a CI job cancelled, kill PID) and SIGHUP stop a run as
        # Ctrl-C does: what was stored stays, the run is marked incomplete.
        with stop_signals_interrupt():
            return int(args.run(args))
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else 2
        name = e.signal_name if isinstance(e, Interrupted) else "SIGINT"
        print(f"bench: interrupted ({name})" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())

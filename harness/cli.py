"""bench: the command line (DESIGN.md section 2 is the contract).

Every command exits 0 on success; bad input exits non-zero with one line on
stderr that says what was wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import BenchError
from harness.paths import DEFAULT_DB

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


def _add_model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--board", required=True, help="board name (see 'bench boards')")
    p.add_argument("--model", required=required,
                   help="a .pt2 file (torch.export) or path/to/file.py:factory")
    p.add_argument("--engine", default="native",
                   help="inference engine: native (default), qualia, tflm (int8; TFLM's host "
                   "interpreter unless TFLM_ROOT names a tflite-micro tree), stm32cubeai (int8; "
                   "needs ST's stedgeai, else see 'bench import-cubeai')")
    p.add_argument("--dtype", default="float32", choices=["float32", "int16", "int8"],
                   help="data type (default: float32)")
    q = p.add_argument_group("quantization (int8/int16)")
    q.add_argument("--quant", choices=["pot", "affine"],
                   help="pot: per-layer power-of-two fixed point (shifts); affine: per-channel "
                   "int8 with zero points (TFLite arithmetic); default: the more accurate on "
                   "the calibration set")
    q.add_argument("--calibrate", type=int, default=300, metavar="N",
                   help="calibration samples (default: 300)")
    q.add_argument("--calibration-method", choices=["minmax", "percentile", "mse"],
                   default="minmax", help="how ranges are taken (default: minmax)")
    q.add_argument("--calibration-data", metavar="DATASET",
                   help="dataset to calibrate on (default: the dataset's -train split if the "
                   "registry has one, else the dataset itself)")
    q.add_argument("--weight-layout", choices=["packed", "wide"], default="packed",
                   help="int8 conv weights in flash: packed (int8, smallest, default) or wide "
                   "(stored as int16: fastest inner loop, twice the weight flash)")
    q.add_argument("--ranges", type=Path, metavar="FILE",
                   help="reuse a saved calibration.json (from a build directory) instead of "
                   "calibrating")


METER_HELP = ("power meter URI: visa://RESOURCE (Keysight N6705), dmm://RESOURCE?supply_v=V "
              "(Keysight 34465A/34470A digitizing; windows from the current level), "
              "ppk2:///dev/ttyACM1, lpm01a:///dev/ttyACM2, joulescope://")


def _add_meter_args(p: argparse.ArgumentParser, run: bool) -> None:
    if run:
        g = p.add_argument_group("energy (a power meter on the board's supply)")
        g.add_argument("--meter", metavar="URI", help=METER_HELP + "; measures energy per "
                       "inference from the trigger pin's windows (default: estimate it from "
                       "the board file's datasheet figures)")
        g.add_argument("--meter-rate", type=float, metavar="HZ",
                       help="meter sample rate (default: the meter's)")
        g.add_argument("--meter-duration", type=float, metavar="S",
                       help="record length (default: until the run ends; the N6705 records "
                       "its longest record)")
        return
    p.add_argument("--meter", metavar="URI", required=True, help=METER_HELP)
    p.add_argument("--duration", type=float, required=True, metavar="S",
                   help="seconds to record")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="TRACE",
                   help="trace file (.parquet); the plot goes beside it as .png")
    p.add_argument("--rate", type=float, metavar="HZ",
                   help="sample rate (default: the meter's)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="bench", description="Measure neural networks on microcontrollers: accuracy, "
        "instructions or cycles, ROM/RAM, stack and energy, on emulated or real boards, and "
        "compare engines (native, Qualia, TFLite Micro, STM32Cube.AI).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("boards", help="list boards, their backends and what runs here")

    p = sub.add_parser("build", help="generate and compile firmware; print its memory report")
    _add_model_args(p)
    p.add_argument("--backend", help="where it will run; sets the default link "
                   "(default: the board's first backend, see 'bench boards')")
    p.add_argument("--link", choices=["uart", "semihost"],
                   help="host link: uart (real boards) or semihost (QEMU's fast path); "
                   "default: the backend's")
    p.add_argument("-o", "--output", type=Path, help="build directory (default: build/...)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.add_argument("--dataset", help="calibration data for int8/int16 builds")

    p = sub.add_parser("flash", help="program a board or load an emulator, then handshake")
    p.add_argument("--board", required=True, help="board name (see 'bench boards')")
    p.add_argument("--backend",
                   help="probe: SWD debug probe (pyOCD); ambiq-uart: the Apollo3's UART "
                   "bootloader; qemu: load the emulator (default: the board's own way: "
                   "ambiq-uart on apollo3, probe where pyOCD knows the part)")
    p.add_argument("--firmware", type=Path, help="build directory or firmware.elf "
                   "(default: the newest build for the board)")
    p.add_argument("--probe", metavar="ID",
                   help="debug probe unique id, or a unique prefix (see 'bench doctor')")
    p.add_argument("--port", metavar="DEV", help="the board's serial port (default: the "
                   "probe's virtual COM port, or the only USB-serial adapter)")
    p.add_argument("--boot-entry", choices=["button", "lines"],
                   help="ambiq-uart: how the board enters its bootloader: button (you hold "
                   "button 14 and press reset; SparkFun Edge v1) or lines (the adapter's DTR/RTS "
                   "do it; Edge v2, Artemis); default: the board's boot_entry fact, else button")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the firmware's handshake after flashing "
                   "(default: 10)")
    p.add_argument("--keep", action="store_true",
                   help="qemu: keep the emulator running and print its link URL until Ctrl-C")

    p = sub.add_parser("run", help="one measured run, printed and stored")
    _add_model_args(p)
    p.add_argument("--backend", default="qemu", help="where to run (default: qemu)")
    p.add_argument("--dataset", required=True,
                   help="registry name (e.g. digits) or a .npz file with x and y")
    p.add_argument("--limit", type=int, help="run only the first N samples")
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results database "
                   f"(default: {DEFAULT_DB.relative_to(DEFAULT_DB.parents[1])})")
    p.add_argument("--resume", type=int, metavar="RUN_ID",
                   help="continue an incomplete run without redoing finished samples")
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")
    p.add_argument("--per-layer", action="store_true",
                   help="build with per-layer markers and store per-layer instruction counts "
                   "(QEMU plugin); see 'bench profile'")
    _add_meter_args(p, run=True)

    p = sub.add_parser("profile", help="per-layer instructions of a stored run (QEMU plugin)")
    p.add_argument("run_id", type=int)
    p.add_argument("--db", type=Path, default=DEFAULT_DB)
    p.add_argument("--samples", type=int, default=3,
                   help="samples to measure when the run has no per-layer counts (default: 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("sweep", help="measure a matrix of boards x models x engines x dtypes "
                       "from a TOML file (see examples/sweep.toml)")
    p.add_argument("file", type=Path, help="sweep file (TOML)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="runs in parallel, each with its own emulator (default: the core count)")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest sweep of this plan: finished runs are not redone")
    p.add_argument("--db", type=Path, default=DEFAULT_DB)
    p.add_argument("--json", action="store_true", help="print one JSON object, no progress")

    p = sub.add_parser("export", help="write a run's device outputs and labels to .npz")
    p.add_argument("run_id", type=int)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--db", type=Path, default=DEFAULT_DB)

    p = sub.add_parser("report", help="comparison tables and plots of the runs in the store")
    p.add_argument("--db", type=Path, default=DEFAULT_DB)
    p.add_argument("--format", choices=["md", "html", "csv", "latex"], default="md",
                   help="md (default; with -o its plots are written as PNGs beside the file), "
                   "html (one self-contained file with the plots), csv, latex (booktabs)")
    p.add_argument("-o", "--output", type=Path, help="write to a file instead of stdout")
    p.add_argument("--baseline", metavar="ENGINE",
                   help="engine the ratios compare against, run for run on the same board, "
                   "model, dataset and dtype (default: native when stored)")
    p.add_argument("--cpi", type=float, default=1.0,
                   help="cycles per instruction for the latency estimate of instruction "
                   "counts (default: 1; the column header names it; measured cycles ignore it)")
    p.add_argument("--published", action="store_true",
                   help="also show the published figures in references/ (marked, with source "
                   "and unit; never in the ratios)")

    p = sub.add_parser("import-cubeai", help="store an STM32Cube.AI / ST Edge AI run's reports "
                       "(*_c_info.json, *_validate_report.txt) as an imported row")
    p.add_argument("report", type=Path,
                   help="a stedgeai output folder or its <name>_c_info.json; a "
                   "<name>_validate_report.txt beside it adds on-target cycles and accuracy")
    p.add_argument("--board", required=True, help="the board the report was made for")
    p.add_argument("--model", help="the same model as bench's own runs (.pt2 or file.py:factory):"
                   " the row then joins their report group and ratios")
    p.add_argument("--dataset", help="the dataset stedgeai validated on, when it is the same "
                   "as bench's runs")
    p.add_argument("--dtype", default="int8", choices=["float32", "int16", "int8"],
                   help="the network's data type (default: int8)")
    p.add_argument("--db", type=Path, default=DEFAULT_DB)

    p = sub.add_parser("power", help="power meters: record a trace with its plot")
    psub = p.add_subparsers(dest="power_command", required=True, metavar="ACTION")
    c = psub.add_parser("capture", help="record a raw power trace (Parquet) and plot it; "
                        "energy per trigger window in a table")
    _add_meter_args(c, run=False)

    sub.add_parser("doctor", help="what is installed, what is missing, how to get it")

    p = sub.add_parser("demo", help="train a small CNN on digits and measure it on the "
                       "emulated STM32L452")
    p.add_argument("--db", type=Path, default=DEFAULT_DB)
    p.add_argument("--limit", type=int, help="measure only the first N test samples")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from harness.commands import legacy as commands

    try:
        return getattr(commands, f"cmd_{args.command.replace('-', '_')}")(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

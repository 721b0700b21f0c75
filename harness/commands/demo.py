"""bench demo: the main job end to end on the embedded default: train a
small CNN on scikit-learn's digits and measure it on the emulated STM32L452."""

from __future__ import annotations

import argparse

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import err, out, print_summary, run_with_progress
from harness.paths import RESULTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_db(p)
    p.add_argument("--limit", type=int, help="measure only the first N test samples")


def run(args: argparse.Namespace) -> int:
    from harness.demo import prepare_demo_model
    from harness.run.request import RunRequest

    err.print("[bold]1/3[/] training the example CNN on scikit-learn digits (CPU; the "
              "weights are cached after the first time) ...")
    model_path, test_acc = prepare_demo_model(RESULTS / "demo")
    err.print(f"    PyTorch test accuracy {100 * test_acc:.2f} %, exported to {model_path}")
    err.print("[bold]2/3[/] building firmware (native engine, float32) for stm32l452 ...")
    err.print("[bold]3/3[/] measuring on the emulated STM32L452 (QEMU b-l475e-iot01a) ...")
    req = RunRequest(board="stm32l452", backend="qemu", model=str(model_path),
                     dataset="digits", limit=args.limit)
    summary = run_with_progress(req, args.db)
    print_summary(summary)
    out.print(f"stored in {args.db}; see all runs with 'bench report'")
    return 0


COMMAND = Command("demo", "train a small CNN on digits and measure it on the emulated "
                  "STM32L452", add_arguments, run)

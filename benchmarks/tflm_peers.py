"""bench's int8 engine against TFLite Micro (reference kernels and CMSIS-NN)
on the emulated STM32L452.

Same board (QEMU, exact instruction counts from the TCG plugin), same
compiler and flags, same runtime and protocol, same calibration. Models:
the HAR CNN (uci-har test set), the digits CNN (digits test set), ResNet-8
and DS-CNN (untrained, random inputs: no CIFAR-10 or Speech Commands
installs offline; instructions do not depend on the weights' values).

Per model: bench native int8 with the affine scheme (TFLite's arithmetic,
bit for bit) and with power-of-two scales (pot), TFLM built from
``TFLM_ROOT`` with its reference kernels, and TFLM + CMSIS-NN
(``TFLM_CMSIS_NN``). Prints instructions per inference and the ratios to
bench affine, each TFLM build's distance to bench's integer reference (0 =
bit-exact), its accuracy next to TFLM's host interpreter's, the arena TFLM
reported on the target and ROM/RAM. Without ``TFLM_ROOT`` it says how to
get a tree, and prints bench's rows and TFLM's host interpreter's accuracy
and arena.

    TFLM_ROOT=/path/to/tflite-micro TFLM_CMSIS_NN=/path/to/CMSIS-NN \\
        .venv/bin/python benchmarks/tflm_peers.py [--limit 20] [--models har_cnn,...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.errors import BenchError
from harness.paths import RESULTS, ROOT
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import RunSummary

EXAMPLES = ROOT / "examples"
ROOT_VAR, CMSIS_NN_VAR = "TFLM_ROOT", "TFLM_CMSIS_NN"
HOW_TO_GET = f"""TFLM firmware needs a tflite-micro source tree ({ROOT_VAR}) and, for the
CMSIS-NN rows, a CMSIS-NN tree ({CMSIS_NN_VAR}), plus Debian's
libstdc++-arm-none-eabi-newlib:
  git clone <tflite-micro> && cd tflite-micro
  make -f tensorflow/lite/micro/tools/make/Makefile third_party_downloads
  git clone <CMSIS-NN>
  export {ROOT_VAR}=$PWD {CMSIS_NN_VAR}=/path/to/CMSIS-NN
(see README "TFLite Micro firmware"). Without them: bench's rows and TFLM's
host interpreter (accuracy and arena, no device counts)."""

out = Console(width=200)


@dataclass(frozen=True)
class Model:
    spec: str
    dataset: str | None  # None: random inputs of the model's shape
    shape: tuple[int, ...] = ()


MODELS = {
    "har_cnn": Model(f"{EXAMPLES / 'har_cnn.py'}:har_cnn", "uci-har:test"),
    "digits_cnn": Model(f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn", "digits:test"),
    "resnet8": Model(f"{EXAMPLES / 'resnet8.py'}:resnet8", None, (3, 32, 32)),
    "ds_cnn": Model(f"{EXAMPLES / 'ds_cnn.py'}:ds_cnn", None, (1, 49, 10)),
}
# Column -> (engine, scheme, TFLM_ROOT used, TFLM_CMSIS_NN used): the
# environment picks where TFLM runs (host interpreter without a tree) and
# its variant.
BUILDS = {"ours affine": ("native", "affine", False, False),
          "ours pot": ("native", "pot", False, False),
          "tflm host": ("tflm", "affine", False, False),
          "tflm": ("tflm", "affine", True, False),
          "tflm+cmsis-nn": ("tflm", "affine", True, True)}


def _dataset(m: Model, folder: Path, limit: int) -> str:
    if m.dataset is not None:
        return m.dataset
    rng = np.random.default_rng(0)
    path = folder / f"random_{'x'.join(map(str, m.shape))}.npz"
    if not path.exists():
        n = max(limit, 64)  # calibration takes from the same file
        np.savez(path, x=rng.uniform(-1, 1, size=(n, *m.shape)).astype(np.float32),
                 y=rng.integers(0, 10, size=n))
    return str(path)


def _run(m: Model, dataset: str, engine: str, scheme: str, env: dict[str, str | None],
         db: Path, limit: int) -> RunSummary:
    """One run with ``env``'s TFLM variables (None: unset), restored after."""
    saved = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        os.environ.pop(k, None)
        if v:
            os.environ[k] = v
    try:
        req = RunRequest(board="stm32l452", backend="qemu", model=m.spec, dataset=dataset,
                         engine=engine, dtype="int8", limit=limit,
                         quant=QuantRequest(scheme=scheme))
        return run(req, db)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20, help="samples per run (default: 20)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    ap.add_argument("--db", type=Path, help="results database (default: a temporary one)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-tflm-"))
    db = args.db or folder / "bench.db"
    tflm_root, cmsis = os.environ.get(ROOT_VAR), os.environ.get(CMSIS_NN_VAR)
    if not tflm_root:
        out.print(HOW_TO_GET)
    elif not cmsis:
        out.print(f"{CMSIS_NN_VAR} is unset: no TFLM+CMSIS-NN rows")
    wanted = ({"ours affine", "ours pot", "tflm host"} | ({"tflm"} if tflm_root else set())
              | ({"tflm+cmsis-nn"} if tflm_root and cmsis else set()))
    results: dict = {}
    for name in args.models.split(","):
        m = MODELS[name]
        dataset = _dataset(m, folder, args.limit)
        runs: dict[str, RunSummary] = {}
        for col, (engine, scheme, tree, nn) in BUILDS.items():
            if col not in wanted:
                continue
            env = {ROOT_VAR: tflm_root if tree else None, CMSIS_NN_VAR: cmsis if nn else None}
            try:
                runs[col] = _run(m, dataset, engine, scheme, env, db, args.limit)
            except BenchError as e:
                out.print(f"[red]{name} {col}: {e}[/]")
        results[name] = {col: {"run_id": s.run_id, "engine": s.engine, "backend": s.backend,
                               "instructions": s.count_per_inference, "accuracy": s.accuracy,
                               "max_abs_error": s.max_abs_error, "arena_bytes": s.arena_bytes,
                               "rom_bytes": s.rom_bytes, "ram_bytes": s.ram_bytes,
                               "stack_bytes": s.stack_bytes}
                         for col, s in runs.items()}
        report(name, m, runs)
    dest = RESULTS / "benchmarks" / "tflm_peers.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=1) + "\n")
    out.print(f"runs stored in {db}; numbers in {dest}")


def report(name: str, m: Model, runs: dict[str, RunSummary]) -> None:
    trained = m.dataset is not None
    t = Table(title=f"{name}: int8 on the emulated STM32L452 (QEMU), instructions per inference"
              + ("" if trained else "; untrained, random inputs: accuracy means nothing"))
    for col in ("build", "where", "instructions", "/ ours affine", "accuracy",
                "max |out - int ref|", "arena (target)", "ROM", "RAM", "stack"):
        t.add_column(col, justify="left" if col in ("build", "where") else "right")
    base = runs.get("ours affine")
    for col, s in runs.items():
        ratio = (f"{s.count_per_inference / base.count_per_inference:.2f}x"
                 if base and s.count_per_inference and base.count_per_inference else "-")
        diff = "-" if s.max_abs_error is None else f"{s.max_abs_error:.2e}"
        t.add_row(col, s.backend,
                  _n(s.count_per_inference), ratio,
                  "-" if s.accuracy is None else f"{100 * s.accuracy:.2f} %", diff,
                  _n(s.arena_bytes), _n(s.rom_bytes), _n(s.ram_bytes), _n(s.stack_bytes))
    out.print(t)


if __name__ == "__main__":
    main()

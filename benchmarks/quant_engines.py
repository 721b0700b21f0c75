"""Our int8/int16 engine against Qualia's, side by side on the emulated STM32L452.

Same board (QEMU, exact instruction counts from the TCG plugin), same
compiler and flags, same runtime, same calibration data (300 samples of the
training split), full test sets. Models:

- har_cnn (examples/har_cnn.py): 1-D CNN on UCI-HAR's 9 x 128 windows, trained on
  uci-har (bench's rebuild from the raw HAPT recordings);
- digits_cnn (examples/digits_cnn.py): 2-D residual CNN on scikit-learn digits.
Both are the examples' trained factories (trained once, then cached: harness/train.py).

Prints, per model and dtype: accuracy (and our int8/int16 loss against our
float32), instructions per inference and the ratio ours/Qualia, and ROM/RAM
of the engine's own part of the firmware (model + kernels, from the link map;
the runtime is byte-identical for both engines) with ratios, each against the
issue's target. With examples/resnet8.py present it also measures MACs per
instruction on the convolution layers of an int8 ResNet-8 (random weights).

    .venv/bin/python benchmarks/quant_engines.py [--limit N] [--models har_cnn,digits_cnn]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.build.firmware import Firmware
from harness.demo import export_example
from harness.paths import RESULTS, ROOT
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import RunSummary, Store

MODELS = {  # name -> (trained example, its test set)
    "har_cnn": (f"{ROOT / 'examples' / 'har_cnn.py'}:har_cnn", "uci-har"),
    "digits_cnn": (f"{ROOT / 'examples' / 'digits_cnn.py'}:digits_cnn", "digits"),
}
ENGINES = ("native", "qualia")
DTYPES = ("float32", "int16", "int8")
# The targets (ours / Qualia, and accuracy loss in points).
TARGET_INSTR = {"int8": 0.5, "int16": 0.6}
TARGET_MEMORY = 0.8
TARGET_LOSS = {"int8": 0.5, "int16": 0.1}
TARGET_MACS_PER_INSTR = 1.0
CUBEAI_RESNET8_MACS_PER_CYCLE = 0.63  # published (STM32Cube.AI on an STM32L4), cycles not instr.

out = Console(width=200)


@dataclass
class Measured:
    summary: RunSummary
    fw: Firmware

    @property
    def engine_rom(self) -> int:
        parts = self.fw.memory.engine_bytes()
        return parts[0] if parts else self.fw.memory.rom_bytes

    @property
    def engine_ram(self) -> int:
        """Static RAM of model + kernels, plus the measured stack."""
        parts = self.fw.memory.engine_bytes()
        static = parts[1] if parts else self.fw.memory.ram_bytes
        return static + (self.summary.stack_bytes or 0)


def measure(model: str, dataset: str, engine: str, dtype: str, db: Path,
            limit: int | None) -> Measured:
    quant = QuantRequest(scheme="pot" if engine == "qualia" and dtype != "float32" else None)
    req = RunRequest(board="stm32l452", backend="qemu", model=model, dataset=dataset,
                     engine=engine, dtype=dtype, limit=limit, quant=quant)
    summary = run(req, db)
    with Store(db) as store:
        folder = Path(store.run_row(summary.run_id)["firmware_dir"])
    return Measured(summary, Firmware.load(folder))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _verdict(ok: bool) -> str:
    return "[green]meets[/]" if ok else "[red]misses[/]"


def report(name: str, runs: dict[tuple[str, str], Measured]) -> dict:
    t = Table(title=f"{name}: ours (native) vs Qualia, same board, flags, calibration")
    for col in ("dtype", "scheme", "accuracy ours / Qualia", "loss vs our float32",
                "instructions ours / Qualia", "ratio", "engine ROM ours / Qualia", "ratio",
                "engine RAM+stack ours / Qualia", "ratio"):
        t.add_column(col, justify="right")
    base = runs[("native", "float32")].summary.accuracy or 0.0
    record: dict = {}
    for dtype in DTYPES:
        ours, peer = runs[("native", dtype)], runs[("qualia", dtype)]
        a, b = ours.summary, peer.summary
        loss = 100 * (base - (a.accuracy or 0.0))
        ir = (a.count_per_inference or 0) / (b.count_per_inference or 1)
        rr = ours.engine_rom / peer.engine_rom
        mr = ours.engine_ram / peer.engine_ram
        loss_txt = "-" if dtype == "float32" else (
            f"{loss:+.2f} pt " + _verdict(loss <= TARGET_LOSS[dtype]))
        instr_txt = f"{ir:.2f}x" + ("" if dtype == "float32" else
                                    " " + _verdict(ir <= TARGET_INSTR[dtype]))
        mem = "" if dtype == "float32" else " " + _verdict(rr <= TARGET_MEMORY)
        ram = "" if dtype == "float32" else " " + _verdict(mr <= TARGET_MEMORY)
        t.add_row(dtype, a.quant_scheme or "-",
                  f"{100 * (a.accuracy or 0):.2f} / {100 * (b.accuracy or 0):.2f} %", loss_txt,
                  f"{a.count_per_inference:,} / {b.count_per_inference:,}", instr_txt,
                  f"{ours.engine_rom:,} / {peer.engine_rom:,}", f"{rr:.2f}x{mem}",
                  f"{ours.engine_ram:,} / {peer.engine_ram:,}", f"{mr:.2f}x{ram}")
        record[dtype] = {
            "scheme": a.quant_scheme, "samples": a.samples,
            "accuracy": {"native": a.accuracy, "qualia": b.accuracy},
            "instructions": {"native": a.count_per_inference, "qualia": b.count_per_inference},
            "engine_rom": {"native": ours.engine_rom, "qualia": peer.engine_rom},
            "engine_ram_stack": {"native": ours.engine_ram, "qualia": peer.engine_ram},
            "total_rom": {"native": a.rom_bytes, "qualia": b.rom_bytes},
            "total_ram": {"native": a.ram_bytes, "qualia": b.ram_bytes},
            "run_ids": {"native": a.run_id, "qualia": b.run_id},
        }
    out.print(t)
    return record


def resnet8(db: Path, folder: Path) -> dict | None:
    """MACs per instruction over the conv layers of an int8 ResNet-8."""
    example = ROOT / "examples" / "resnet8.py"
    if not example.exists():
        out.print("examples/resnet8.py not found: ResNet-8 skipped")
        return None
    from harness.profile import profile_run

    rng = np.random.default_rng(0)
    data = folder / "resnet8_random.npz"
    np.savez(data, x=rng.uniform(-1, 1, size=(64, 3, 32, 32)).astype(np.float32),
             y=rng.integers(0, 10, size=64))
    t = Table(title="int8 ResNet-8 (32x32x3, random weights): convolution layers")
    for col in ("scheme / weights", "conv MACs", "conv instructions", "MACs / instruction",
                "target"):
        t.add_column(col, justify="right")
    record = {}
    for scheme in ("pot", "affine"):
        for weights in ("packed", "wide"):
            req = RunRequest(board="stm32l452", backend="qemu", model=f"{example}:resnet8",
                             dataset=str(data), dtype="int8", limit=2, per_layer=True,
                             quant=QuantRequest(scheme=scheme, samples=64, weights=weights))
            summary = run(req, db)
            rows = profile_run(summary.run_id, db).layers
            macs = sum(r.macs for r in rows if r.op.startswith("conv"))
            instr = sum(r.instructions for r in rows if r.op.startswith("conv"))
            ratio = macs / instr if instr else 0.0
            t.add_row(f"{scheme} / {weights}", f"{macs:,}", f"{instr:,}", f"{ratio:.2f}",
                      f">= {TARGET_MACS_PER_INSTR} " + _verdict(ratio >= TARGET_MACS_PER_INSTR))
            record[f"{scheme}/{weights}"] = {"macs": macs, "instructions": instr,
                                             "macs_per_instruction": ratio}
    out.print(t)
    out.print(f"published peer: STM32Cube.AI, ResNet-8 int8 on an STM32L4: "
              f"{CUBEAI_RESNET8_MACS_PER_CYCLE} MACs per cycle (MLPerf Tiny v1.3, "
              f"../shared/reference/mlperf_tiny_l4r5zi.csv; cycles on silicon, not emulated "
              f"instructions)")
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="samples per run (default: full test sets)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    ap.add_argument("--db", type=Path, help="results database (default: a temporary one)")
    ap.add_argument("--no-resnet8", action="store_true")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-quant-"))
    db = args.db or folder / "bench.db"
    results: dict = {}
    for name in args.models.split(","):
        example, dataset = MODELS[name]
        model, torch_acc = export_example(example, dataset, RESULTS / "models")
        out.print(f"[bold]{name}[/]: {model} (PyTorch test accuracy {100 * torch_acc:.2f} %, "
                  f"dataset {dataset})")
        runs = {(e, d): measure(str(model), dataset, e, d, db, args.limit)
                for e in ENGINES for d in DTYPES}
        results[name] = report(name, runs)
    if not args.no_resnet8:
        results["resnet8"] = resnet8(db, folder)
    dest = RESULTS / "benchmarks" / "quant_engines.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=1) + "\n")
    out.print(f"runs stored in {db}; numbers in {dest}")


if __name__ == "__main__":
    main()

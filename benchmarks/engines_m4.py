"""bench's own engine on the Cortex-M4 against its peers: speed and ROM, one run.

Everything measured here runs in this run, on the emulated STM32L452 (QEMU,
exact instructions per inference from the TCG plugin), with the same
compiler, flags and runtime for every engine:

1. float32, bench (native) vs Qualia on every example model Qualia's
   templates can generate and that fits the board in float32: instructions
   per inference (issue 17's target: at most 0.8x Qualia), total firmware
   ROM and the engine's part of it (model + kernels, from the link map;
   target: total ROM at most 1.0x Qualia's).
2. int8, bench affine (TFLite-exact arithmetic) and pot on the MLPerf Tiny
   models and the examples, beside TFLM + CMSIS-NN's instructions as
   PUBLISHED in issue 17 (measured once on this emulated board with the same
   flags; shown labelled "published", not measured in this run; the TFLM
   helper's benchmarks/tflm_peers.py measures them with TFLM_ROOT set).
   Targets: affine at most 0.5x, pot at most 0.4x.
3. ResNet-8 int8 affine with packed weights: MACs per instruction over the
   whole model (target at least 1.0).

Models are the examples' untrained factories (instruction counts do not
depend on the weights' values) with random inputs, so nothing is trained.

    .venv/bin/python benchmarks/engines_m4.py [--limit N] [--skip float32,int8,resnet8]
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
from harness.model.ir import numel
from harness.model.load import load_graph
from harness.paths import RESULTS, ROOT
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import RunSummary, Store

EX = ROOT / "examples"
# float32: models both engines generate and that fit the STM32L452 in float32
# (DS-CNN's 10x4 stem is not square: Qualia's conv2d template refuses it;
# ResNet-8, MobileNet and the FC autoencoder do not fit in float32).
FLOAT_MODELS = {
    "har_cnn": f"{EX / 'har_cnn.py'}:har_cnn_untrained",
    "digits_cnn": f"{EX / 'digits_cnn.py'}:digits_cnn_untrained",
    "fsdd_cnn": f"{EX / 'fsdd_cnn.py'}:fsdd_cnn_untrained",
    "digits_denoiser": f"{EX / 'digits_denoiser.py'}:DigitsDenoiser",
}
INT8_MODELS = {
    "har_cnn": f"{EX / 'har_cnn.py'}:har_cnn_untrained",
    "digits_cnn": f"{EX / 'digits_cnn.py'}:digits_cnn_untrained",
    "ds_cnn": f"{EX / 'ds_cnn.py'}:ds_cnn",
    "resnet8": f"{EX / 'resnet8.py'}:resnet8",
    "mobilenet_v1": f"{EX / 'mobilenet_v1.py'}:mobilenet_v1",
    "fc_autoencoder": f"{EX / 'fc_autoencoder.py'}:fc_autoencoder",
}
# TFLM + CMSIS-NN int8 instructions per inference, PUBLISHED in issue 17's
# table (built from their public sources, run through bench on this emulated
# board, same flags); not measured by this script.
TFLM_PUBLISHED = {"har_cnn": 456_102, "digits_cnn": 1_045_219, "resnet8": 29_883_161,
                  "ds_cnn": 7_705_731}
TARGET_FLOAT = 0.8
TARGET_ROM = 1.0
TARGET_AFFINE = 0.5
TARGET_POT = 0.4
TARGET_MACS = 1.0

out = Console(width=200)


@dataclass
class Measured:
    summary: RunSummary
    fw: Firmware

    @property
    def instructions(self) -> int:
        return self.summary.count_per_inference or 0

    @property
    def engine_rom(self) -> int:
        parts = self.fw.memory.engine_bytes()
        return parts[0] if parts else self.fw.memory.rom_bytes


def _dataset(spec: str, folder: Path) -> Path:
    """Random inputs in the model's shape, with targets of the right kind."""
    graph = load_graph(spec)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(8, *graph.input_shape)).astype(np.float32)
    path = folder / (spec.rsplit(":", 1)[1] + ".npz")
    if numel(graph.output_shape) == numel(graph.input_shape):
        np.savez(path, x=x, y=x.reshape(8, *graph.output_shape))  # a reconstruction
    else:
        np.savez(path, x=x, y=rng.integers(0, 2, size=8))
    return path


def measure(spec: str, data: Path, engine: str, dtype: str, db: Path, limit: int,
            scheme: str | None = None, per_layer: bool = False) -> Measured:
    quant = QuantRequest(scheme=scheme, samples=8) if dtype != "float32" else QuantRequest()
    req = RunRequest(board="stm32l452", backend="qemu", model=spec, dataset=str(data),
                     engine=engine, dtype=dtype, limit=limit, quant=quant, per_layer=per_layer)
    summary = run(req, db)
    with Store(db) as store:
        folder = Path(store.run_row(summary.run_id)["firmware_dir"])
    return Measured(summary, Firmware.load(folder))


def _verdict(ok: bool) -> str:
    return "[green]meets[/]" if ok else "[red]misses[/]"


def float32(db: Path, folder: Path, limit: int) -> dict:
    t = Table(title="float32: bench (native) vs Qualia, measured in this run "
                    "(emulated STM32L452, instructions per inference)")
    for col in ("model", "instructions bench / Qualia", "ratio", f"<= {TARGET_FLOAT}x",
                "total ROM bench / Qualia", "ratio", f"<= {TARGET_ROM}x",
                "engine ROM bench / Qualia"):
        t.add_column(col, justify="right")
    record = {}
    for name, spec in FLOAT_MODELS.items():
        data = _dataset(spec, folder)
        ours = measure(spec, data, "native", "float32", db, limit)
        peer = measure(spec, data, "qualia", "float32", db, limit)
        ir = ours.instructions / peer.instructions
        rr = ours.summary.rom_bytes / peer.summary.rom_bytes
        t.add_row(name, f"{ours.instructions:,} / {peer.instructions:,}", f"{ir:.2f}x",
                  _verdict(ir <= TARGET_FLOAT),
                  f"{ours.summary.rom_bytes:,} / {peer.summary.rom_bytes:,}", f"{rr:.2f}x",
                  _verdict(rr <= TARGET_ROM), f"{ours.engine_rom:,} / {peer.engine_rom:,}")
        record[name] = {"instructions": {"native": ours.instructions,
                                         "qualia": peer.instructions},
                        "rom_bytes": {"native": ours.summary.rom_bytes,
                                      "qualia": peer.summary.rom_bytes},
                        "engine_rom": {"native": ours.engine_rom, "qualia": peer.engine_rom}}
    out.print(t)
    return record


def int8(db: Path, folder: Path, limit: int) -> dict:
    t = Table(title="int8: bench measured in this run; TFLM + CMSIS-NN as PUBLISHED in "
                    "issue 17 (same board and flags, not measured here)")
    for col in ("model", "bench affine", "bench pot", "TFLM+CMSIS-NN (published)",
                "affine / TFLM", f"<= {TARGET_AFFINE}x", "pot / TFLM", f"<= {TARGET_POT}x",
                "ROM affine"):
        t.add_column(col, justify="right")
    record = {}
    for name, spec in INT8_MODELS.items():
        data = _dataset(spec, folder)
        aff = measure(spec, data, "native", "int8", db, limit, scheme="affine")
        pot = measure(spec, data, "native", "int8", db, limit, scheme="pot")
        tflm = TFLM_PUBLISHED.get(name)
        ra = f"{aff.instructions / tflm:.2f}x" if tflm else "-"
        rp = f"{pot.instructions / tflm:.2f}x" if tflm else "-"
        t.add_row(name, f"{aff.instructions:,}", f"{pot.instructions:,}",
                  f"{tflm:,}" if tflm else "not published",
                  ra, _verdict(aff.instructions <= TARGET_AFFINE * tflm) if tflm else "-",
                  rp, _verdict(pot.instructions <= TARGET_POT * tflm) if tflm else "-",
                  f"{aff.summary.rom_bytes:,}")
        record[name] = {"affine": aff.instructions, "pot": pot.instructions,
                        "tflm_published": tflm, "rom_affine": aff.summary.rom_bytes}
    out.print(t)
    return record


def resnet8(db: Path, folder: Path, limit: int) -> dict:
    spec = INT8_MODELS["resnet8"]
    from harness.profile import profile_run

    data = _dataset(spec, folder)
    m = measure(spec, data, "native", "int8", db, limit, scheme="affine", per_layer=True)
    rows = profile_run(m.summary.run_id, db).layers
    macs = sum(r.macs for r in rows)
    total = sum(r.instructions for r in rows)
    ratio = macs / total if total else 0.0
    out.print(f"ResNet-8 int8 affine, packed weights: {macs:,} MACs in {total:,} instructions "
              f"(layers) = {ratio:.2f} MACs per instruction (target >= {TARGET_MACS}: "
              f"{_verdict(ratio >= TARGET_MACS)})")
    return {"macs": macs, "instructions": total, "macs_per_instruction": ratio}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=2, help="inferences per run (default 2)")
    ap.add_argument("--skip", default="", help="comma-separated: float32, int8, resnet8")
    ap.add_argument("--db", type=Path, help="results database (default: a temporary one)")
    args = ap.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    folder = Path(tempfile.mkdtemp(prefix="bench-m4-"))
    db = args.db or folder / "bench.db"
    results: dict = {}
    if "float32" not in skip:
        results["float32"] = float32(db, folder, args.limit)
    if "int8" not in skip:
        results["int8"] = int8(db, folder, args.limit)
    if "resnet8" not in skip:
        results["resnet8"] = resnet8(db, folder, args.limit)
    dest = RESULTS / "benchmarks" / "engines_m4.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=1) + "\n")
    out.print(f"runs stored in {db}; numbers in {dest}")


if __name__ == "__main__":
    main()

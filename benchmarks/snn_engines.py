"""bench's native spiking engine against Qualia's SNN code
(qualia-codegen-plugin-snn 2.6.0), side by side on the emulated STM32L452.

Same model, board (QEMU, exact instruction counts from the TCG plugin), T,
compiler, flags, runtime and calibration (300 samples of digits-train) for
both engines. The model (``snn_digits`` below) is a small SpikingJelly
network for scikit-learn digits, TRAINED here (seeded, BPTT through T steps
with SpikingJelly's surrogate gradient, cached in results/models/):
conv 3x3 (8 maps) -> LIF -> max pool -> linear 128x32 -> LIF -> linear
32x10, read out as the mean output over T (Qualia's readout).

Prints, per dtype: accuracy of each engine and the agreement of their
predictions, instructions per inference and the ratio native/Qualia
against the issue's target (<= 0.5x), ROM and RAM (+ measured stack) of
each engine's own part of the firmware (model + kernels, from the link
map). Qualia has no spike counters: only the native run stores spikes.

    .venv/bin/python benchmarks/snn_engines.py [--limit N] [--dtypes float32,int16,int8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.paths import RESULTS
from harness.store.store import RunSummary

T = 4
EPOCHS = 15
WEIGHTS = RESULTS / "models" / f"snn_digits_t{T}_e{EPOCHS}.pt"
TARGET_INSTR = 0.5  # native / Qualia, the target


def _net() -> nn.Module:
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(layer.Conv2d(1, 8, 3, padding=1), neuron.LIFNode(tau=2.0),
                        layer.MaxPool2d(2), layer.Flatten(), layer.Linear(128, 32),
                        neuron.LIFNode(tau=2.0), layer.Linear(32, 10))
    net.input_shape = (1, 8, 8)
    net.timesteps = T
    net.readout = "output_mean"
    return net


def _train(net: nn.Module) -> float:
    """BPTT over T steps on digits-train; returns the test accuracy."""
    from spikingjelly.activation_based import functional

    from harness.datasets import load_dataset

    train, test = load_dataset("digits-train"), load_dataset("digits")
    x, y = torch.from_numpy(train.x.astype(np.float32)), torch.from_numpy(train.y).long()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    gen = torch.Generator().manual_seed(0)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        functional.reset_net(net)
        return sum(net(batch) for _ in range(T)) / T  # type: ignore[return-value]

    for _ in range(EPOCHS):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(forward(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = forward(torch.from_numpy(test.x.astype(np.float32))).argmax(1).numpy()
    functional.reset_net(net)
    return float(np.mean(pred == test.y))


def snn_digits() -> nn.Module:
    """The benchmark's model, trained once and cached (seeded)."""
    net = _net()
    if WEIGHTS.exists():
        net.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    else:
        acc = _train(net)
        WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), WEIGHTS)
        WEIGHTS.with_suffix(".json").write_text(json.dumps({"pytorch_test_accuracy": acc}))
    return net.eval()


@dataclass
class Measured:
    summary: RunSummary
    predictions: np.ndarray
    engine_rom: int
    engine_ram: int


def measure(engine: str, dtype: str, db: Path, limit: int | None) -> Measured:
    from harness.build.firmware import Firmware
    from harness.run.execute import run
    from harness.run.request import QuantRequest, RunRequest
    from harness.store.store import Store

    req = RunRequest(board="stm32l452", backend="qemu", model=f"{Path(__file__)}:snn_digits",
                     dataset="digits", engine=engine, dtype=dtype, limit=limit,
                     quant=QuantRequest(scheme="pot" if dtype != "float32" else None))
    s = run(req, db)
    with Store(db) as store:
        fw = Firmware.load(Path(store.run_row(s.run_id)["firmware_dir"]))
        pred = np.array([smp.predicted for smp in store.samples(s.run_id)])
    parts = fw.memory.engine_bytes()
    rom, ram = parts if parts else (fw.memory.rom_bytes, fw.memory.ram_bytes)
    return Measured(s, pred, rom, ram + (s.stack_bytes or 0))


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="samples per run (default: the whole test split)")
    ap.add_argument("--dtypes", default="float32,int16,int8", help="comma-separated")
    ap.add_argument("--db", type=Path, help="results database (default: a temporary one)")
    args = ap.parse_args()
    out = Console(width=200)
    snn_digits()  # train (or load) before the runs
    meta = json.loads(WEIGHTS.with_suffix(".json").read_text())
    out.print(f"snn_digits: SpikingJelly conv/LIF/linear/LIF/linear, T = {T}, output_mean "
              f"readout, trained {EPOCHS} epochs on digits-train (PyTorch test accuracy "
              f"{100 * meta['pytorch_test_accuracy']:.2f} %)")
    db = args.db or Path(tempfile.mkdtemp(prefix="bench-snn-engines-")) / "bench.db"
    t = Table(title="native vs Qualia SNN code (qualia-codegen-plugin-snn 2.6.0), same model, "
              "board, T, flags, calibration")
    for col in ("dtype", "accuracy native / Qualia", "predictions agree",
                "instructions native / Qualia", "ratio (target <= 0.5x)",
                "engine ROM native / Qualia", "ratio", "engine RAM+stack native / Qualia",
                "ratio", "native spikes / inf."):
        t.add_column(col, justify="right")
    record: dict = {}
    for dtype in args.dtypes.split(","):
        a, b = (measure(e, dtype, db, args.limit) for e in ("native", "qualia"))
        sa, sb = a.summary, b.summary
        ir = (sa.count_per_inference or 0) / (sb.count_per_inference or 1)
        agree = float(np.mean(a.predictions == b.predictions))
        verdict = "[green]meets[/]" if ir <= TARGET_INSTR else "[red]misses[/]"
        t.add_row(dtype, f"{100 * (sa.accuracy or 0):.2f} / {100 * (sb.accuracy or 0):.2f} %",
                  f"{100 * agree:.1f} %",
                  f"{sa.count_per_inference:,} / {sb.count_per_inference:,}",
                  f"{ir:.2f}x {verdict}", f"{a.engine_rom:,} / {b.engine_rom:,}",
                  f"{a.engine_rom / b.engine_rom:.2f}x", f"{a.engine_ram:,} / {b.engine_ram:,}",
                  f"{a.engine_ram / b.engine_ram:.2f}x",
                  f"{sa.spikes_per_inference or 0:,.1f}")
        record[dtype] = {
            "samples": sa.samples, "agreement": agree,
            "accuracy": {"native": sa.accuracy, "qualia": sb.accuracy},
            "instructions": {"native": sa.count_per_inference,
                             "qualia": sb.count_per_inference},
            "ratio": ir, "target": TARGET_INSTR,
            "engine_rom": {"native": a.engine_rom, "qualia": b.engine_rom},
            "engine_ram_stack": {"native": a.engine_ram, "qualia": b.engine_ram},
            "run_ids": {"native": sa.run_id, "qualia": sb.run_id}}
    out.print(t)
    out.print("Qualia's code has no spike counters: its runs store no spikes. Native: spikes "
              "counted on the device, summed over T.")
    dest = RESULTS / "benchmarks" / "snn_engines.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(record, indent=1) + "\n")
    out.print(f"runs stored in {db}; numbers in {dest}")


if __name__ == "__main__":
    main()

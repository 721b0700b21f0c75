"""Spiking examples on the emulated STM32L452 against their own libraries:
accuracy and spikes of bench's float32, int16 and int8 builds beside
snnTorch / SpikingJelly running the same trained network for the same T.

For each example (examples/snn_digits.py: snnTorch, digits; examples/
snn_fsdd.py: SpikingJelly, FSDD MFCCs), on the full test split:
- the library itself (PyTorch, the unrolled one-step network, state reset
  per sample): accuracy and spikes per layer;
- bench float32 on QEMU: accuracy, predictions agreeing with the library's
  (target >= 99 %), spike totals per layer (target within 1 %);
- bench int16 / int8 (pot, calibrated on 300 training samples): accuracy
  against the library's (targets: within 0.5 and 1 point);
- instructions per inference and spikes per inference, as measured.

    .venv/bin/python benchmarks/snn_targets.py [--limit N] [--examples snn_digits,snn_fsdd]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.datasets import load_dataset
from harness.model.load import load_model
from harness.model.snn import run_library, spec_of
from harness.model.snn_options import SnnOptions
from harness.paths import ROOT
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import Store

EXAMPLES = {"snn_digits": "digits", "snn_fsdd": "fsdd"}
TARGET_AGREE, TARGET_SPIKES = 0.99, 0.01
TARGET_LOSS = {"int16": 0.5, "int8": 1.0}  # accuracy points below the library's

out = Console(width=140)


def measure(name: str, dataset: str, limit: int | None, db: Path) -> list[list[str]]:
    spec = f"{ROOT / 'examples' / name}.py:{name}"
    data = load_dataset(dataset)
    n = len(data) if limit is None else min(limit, len(data))
    x, y = data.x[:n], data.y[:n]
    module, _ = load_model(spec)
    timesteps, readout, encoding = spec_of(module, SnnOptions())
    lib_out, lib_spikes = run_library(module, x, timesteps, encoding, readout or "spike_count")
    lib_pred = lib_out.argmax(axis=1)
    lib_acc = float(np.mean(lib_pred == y))
    lib_total = {k: float(v.sum()) for k, v in lib_spikes.items()}
    rows = [[name, "library (PyTorch)", f"{100 * lib_acc:.2f} %", "-", "-",
             f"{sum(lib_total.values()) / n:,.1f}", "-"]]
    for dtype in ("float32", "int16", "int8"):
        quant = QuantRequest() if dtype == "float32" else QuantRequest(scheme="pot", samples=300)
        req = RunRequest("stm32l452", "qemu", spec, dataset, dtype=dtype, limit=n, quant=quant)
        s = run(req, db)
        with Store(db) as store:
            samples = store.samples(s.run_id)
        pred = np.array([smp.predicted for smp in samples])
        spikes = np.array([smp.spikes for smp in samples])
        names = [layer["name"] for layer in json.loads(s.spike_layers or "[]")]
        acc = float(s.accuracy or 0.0)
        if dtype == "float32":
            agree = float(np.mean(pred == lib_pred))
            worst = max(abs(spikes[:, k].sum() - lib_total[name_k]) / max(lib_total[name_k], 1)
                        for k, name_k in enumerate(names))
            check = (f"agree {100 * agree:.1f} % ({'met' if agree >= TARGET_AGREE else 'MISSED'}"
                     f"), spikes off by {100 * worst:.2f} % "
                     f"({'met' if worst <= TARGET_SPIKES else 'MISSED'})")
        else:
            loss = 100 * (lib_acc - acc)
            check = (f"{loss:+.2f} points vs the library "
                     f"({'met' if loss <= TARGET_LOSS[dtype] else 'MISSED'})")
        rows.append([name, f"bench {dtype} on QEMU", f"{100 * acc:.2f} %",
                     f"{s.count_per_inference:,}", f"{s.rom_bytes:,}",
                     f"{s.spikes_per_inference:,.1f}", check])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="samples per run (default: the full test split)")
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    args = ap.parse_args()
    db = Path(tempfile.mkdtemp(prefix="bench-snn-")) / "bench.db"
    t = Table(title="spiking examples, STM32L452 on QEMU (instructions from the TCG plugin)")
    for col in ("example", "where", "accuracy", "instructions", "ROM bytes",
                "spikes / inference", "against the targets"):
        t.add_column(col)
    for name in args.examples.split(","):
        with out.status(f"{name}: training (first time only), building, running ..."):
            for row in measure(name, EXAMPLES[name], args.limit, db):
                t.add_row(*row)
    out.print(t)
    out.print(f"runs stored in {db}")


if __name__ == "__main__":
    main()

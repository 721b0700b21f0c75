"""Cycles against spikes on bench's SNN core (Verilator): the core's cost
follows the events.

Runs a spiking model (default: examples/snn_digits.py, int8) on the first N
digits of the test set through the Verilator backend, then the same images
with every other non-zero pixel set to zero (half the input events), and
prints per sample the input events, the spikes the network fired, the
the core's cycles, a least-squares fit of cycles against events (input
events + spikes), and the mean cycles of the full and
the halved inputs. Counts are the RTL's own cycle counter (not host time).

    .venv/bin/python benchmarks/fpga_events.py [--samples 40] [--model M] [--dtype int8]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from harness.datasets import load_dataset
from harness.paths import ROOT
from harness.run.prepare import prepare
from harness.run.request import QuantRequest, RunRequest

MODEL = f"{ROOT / 'examples' / 'snn_digits.py'}:snn_digits"


@dataclass(frozen=True)
class Point:
    input_events: int
    spikes: int
    cycles: int


def halve(x: np.ndarray) -> np.ndarray:
    """Every other non-zero value (in memory order) set to zero."""
    flat = x.reshape(-1).copy()
    nz = np.flatnonzero(flat)
    flat[nz[1::2]] = 0
    return flat.reshape(x.shape)


def measure(model: str, dtype: str, samples: int, calibrate: int = 100
            ) -> tuple[list[Point], list[Point]]:
    """(full inputs, halved inputs): one Point per sample."""
    req = RunRequest("icebreaker", "verilator", model, "digits", dtype=dtype, limit=samples,
                     quant=QuantRequest(samples=calibrate))
    p = prepare(req)
    assert p.fw is not None and p.fw.input_quant is not None
    x = load_dataset("digits").x[:samples]
    target = p.target()
    target.start()
    out: tuple[list[Point], list[Point]] = ([], [])
    try:
        for k, inputs in enumerate((x, np.stack([halve(s) for s in x]))):
            for i, sample in enumerate(inputs):
                events = int(np.count_nonzero(p.fw.input_quant.quantize(sample)))
                res = target.infer(sample, i)
                assert res.count is not None
                out[k].append(Point(events, int(sum(res.spikes)), res.count.value))
    finally:
        target.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--dtype", default="int8")
    args = ap.parse_args()
    full, half = measure(args.model, args.dtype, args.samples)
    print(f"{'sample':>6} {'input events':>12} {'spikes':>8} {'cycles':>10}   "
          f"{'half: events':>12} {'spikes':>8} {'cycles':>10}")
    for i, (a, b) in enumerate(zip(full, half, strict=True)):
        print(f"{i:6d} {a.input_events:12d} {a.spikes:8d} {a.cycles:10,d}   "
              f"{b.input_events:12d} {b.spikes:8d} {b.cycles:10,d}")
    pts = full + half
    events = np.array([pt.input_events + pt.spikes for pt in pts], dtype=np.float64)
    cycles = np.array([pt.cycles for pt in pts], dtype=np.float64)
    slope, intercept = np.polyfit(events, cycles, 1)
    r = np.corrcoef(events, cycles)[0, 1]
    print(f"\ncycles ~ {intercept:,.0f} + {slope:,.1f} x (input events + spikes), "
          f"r = {r:.3f} over {len(pts)} inferences")
    mf, mh = np.mean([pt.cycles for pt in full]), np.mean([pt.cycles for pt in half])
    ef = np.mean([pt.input_events for pt in full])
    eh = np.mean([pt.input_events for pt in half])
    print(f"full inputs:   {ef:6.1f} input events, {mf:12,.0f} cycles on average")
    print(f"halved inputs: {eh:6.1f} input events, {mh:12,.0f} cycles on average "
          f"({mh / mf:.1%} of the full inputs' cycles)")


if __name__ == "__main__":
    main()

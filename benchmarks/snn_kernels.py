"""Event-driven against dense: a spiking linear layer's instructions against
its input spike rate, on the emulated STM32L452 (QEMU, exact instruction
counts per layer from bench's TCG plugin; float32).

The model is two layers, built straight in bench's IR: a layer of neurons
that fires exactly where the input is 1 (threshold 0.5, no leak, reset to
zero, one timestep), then a linear layer of IN x OUT weights fed with its
spikes. Inputs are random 0/1 vectors at each rate. Both firmwares are
built with the per-layer markers; only the linear layer's own count is
compared. Prints the instructions at each rate, the ratio event/dense, the
crossover rate (where the event kernel stops being cheaper: the value of
``harness/model/snn_kernels.py`` CROSSOVER_RATE) and the issue's target
(at 10 % input spikes, event <= 0.3x dense).

    .venv/bin/python benchmarks/snn_kernels.py [--in 256] [--out 128] [--samples 3]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.backends import get_backend, get_board
from harness.build.build import build_for
from harness.engines import get_engine
from harness.model.ir import Graph, Layer
from harness.model.neuron import Neuron
from harness.model.snn_kernels import CROSSOVER_RATE, choose
from harness.run.target import DeviceTarget

RATES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
TARGET_RATE, TARGET_RATIO = 0.1, 0.3

out = Console(width=120)


def model(n_in: int, n_out: int) -> Graph:
    gate = Neuron(decay=0.0, threshold=0.5, reset="zero", source="benchmark gate")
    rng = np.random.default_rng(0)
    return Graph(
        input_shape=(n_in,), output="fc", timesteps=1, readout="output_mean",
        layers=[
            Layer("spikes", "lif", ["input"], "spikes", [(n_in,)], (n_in,),
                  {"neuron": gate.params()}, state_shape=(n_in,)),
            Layer("fc", "linear", ["spikes"], "fc", [(n_in,)], (n_out,), {"activation": None},
                  weight=rng.standard_normal((n_out, n_in)).astype(np.float32) / n_in ** 0.5,
                  bias=np.zeros(n_out, dtype=np.float32)),
        ])


def measure(graph: Graph, mode: str, samples: int) -> dict[float, int]:
    """Median instructions of the linear layer at each input rate."""
    board, backend = get_board("stm32l452"), get_backend("qemu")
    graph = choose(graph, mode)
    fw = build_for(board, graph, get_engine("native"), "float32", backend.link, per_layer=True)
    rng = np.random.default_rng(1)
    n_in = graph.input_shape[0]
    found = {}
    with DeviceTarget(backend, board, fw) as target:
        target.start()
        for rate in RATES:
            counts = []
            for i in range(samples):
                x = np.zeros(n_in, dtype=np.float32)
                x[rng.permutation(n_in)[:round(rate * n_in)]] = 1.0
                res = target.infer(x, i)
                counts.append(res.layers[1])  # [0] the gate, [1] the linear layer
            found[rate] = int(statistics.median(counts))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="n_in", type=int, default=256)
    ap.add_argument("--out", dest="n_out", type=int, default=128)
    ap.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    graph = model(args.n_in, args.n_out)
    with out.status("building and running the dense and event-driven firmware ..."):
        dense = measure(graph, "dense", args.samples)
        event = measure(graph, "event", args.samples)
    t = Table(title=f"linear {args.n_in} -> {args.n_out} fed with spikes, float32, STM32L452 "
              f"on QEMU (instructions of the layer, median of {args.samples})")
    for col in ("input spike rate", "dense", "event-driven", "event / dense"):
        t.add_column(col, justify="right")
    for rate in RATES:
        t.add_row(f"{100 * rate:.0f} %", f"{dense[rate]:,}", f"{event[rate]:,}",
                  f"{event[rate] / dense[rate]:.3f}x")
    out.print(t)
    cheaper = [r for r in RATES if event[r] < dense[r]]
    crossover = next((r for r in RATES if event[r] >= dense[r]), None)
    out.print(f"event-driven is cheaper up to {100 * max(cheaper, default=0):.0f} % input "
              f"spikes; first rate where it is not: "
              f"{'none measured' if crossover is None else f'{100 * crossover:.0f} %'} "
              f"(harness/model/snn_kernels.py CROSSOVER_RATE = {CROSSOVER_RATE})")
    ratio = event[TARGET_RATE] / dense[TARGET_RATE]
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    out.print(f"target: at {100 * TARGET_RATE:.0f} % input spikes event/dense <= "
              f"{TARGET_RATIO}x: {ratio:.3f}x, {verdict}")


if __name__ == "__main__":
    main()

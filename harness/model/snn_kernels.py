"""Which kernel a layer fed with spikes gets: dense (the conventional
kernel on a 0/1 tensor) or event-driven (only the active inputs visited).

An event-driven linear layer costs a scan of its inputs plus one row of
adds per input spike; the dense one in_features x out_features MACs
whatever the activity. ``auto`` takes event-driven where the input's spike
rate, measured by the reference on sample data, is below the crossover
``benchmarks/snn_kernels.py`` measures on the Cortex-M4.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.errors import ConfigError
from harness.model.ir import Graph, Layer, numel

# Input spike rate below which the event-driven linear kernel costs fewer
# instructions than the dense one: benchmarks/snn_kernels.py (float32, 256 ->
# 128, STM32L452 on QEMU) measured 0.115x at 10 %, 0.81x at 80 %, 1.006x at
# 100 %: the event kernel adds a weight row per spike where the dense one
# multiplies and adds every weight. README "Spiking networks".
CROSSOVER_RATE = 0.9
EVENT_OPS = frozenset({"linear"})  # ops with an event-driven kernel
EVENT_DTYPES = ("float32",)  # dtypes with event-driven kernels (integer ones: not yet)


def candidates(graph: Graph) -> list[Layer]:
    """Layers that could run event-driven: an event kernel exists for the op
    and the input is spikes."""
    return [layer for layer in graph.layers
            if layer.op in EVENT_OPS and graph.spike_source(layer.inputs[0]) is not None]


def input_rates(graph: Graph, x: np.ndarray) -> dict[str, float]:
    """Mean spike rate (spikes / (neurons x T)) of each spiking layer on ``x``."""
    from harness.model.reference import run_snn

    run = run_snn(graph, x)
    return {layer.name: float(run.spikes[:, k].mean()) / (numel(layer.out_shape)
                                                          * graph.timesteps)
            for k, layer in enumerate(graph.spiking_layers())}


def choose(graph: Graph, mode: str, rates: dict[str, float] | None = None) -> Graph:
    """``graph`` with params["spikes_in"] = "event" or "dense" on every candidate:
    all event, all dense, or ``auto`` by the rates (dense where unknown)."""
    layers = []
    chosen = {layer.name for layer in candidates(graph)}
    for layer in graph.layers:
        if layer.name in chosen:
            source = graph.spike_source(layer.inputs[0])
            assert source is not None
            rate = (rates or {}).get(source.name)
            event = mode == "event" or (mode == "auto" and rate is not None
                                        and rate < CROSSOVER_RATE)
            layer = replace(layer, params={**layer.params,
                                           "spikes_in": "event" if event else "dense"})
        layers.append(layer)
    return replace(graph, layers=layers)


RATE_SAMPLES = 32  # samples the reference runs to measure the rates for auto


def pick(graph: Graph, mode: str, x: np.ndarray | None, dtype: str = "float32") -> Graph:
    """``choose`` with the rates measured on the first samples of ``x``
    (auto only; without samples, auto keeps the dense kernels). Integer
    builds have no event-driven kernels yet: event is refused, auto is dense."""
    if dtype not in EVENT_DTYPES and candidates(graph):
        if mode == "event":
            raise ConfigError(f"--snn-kernels event: the event-driven kernels are "
                              f"{', '.join(EVENT_DTYPES)} only for now; {dtype} builds run "
                              "layers fed with spikes on the dense kernels")
        return choose(graph, "dense")
    if mode != "auto" or not candidates(graph):
        return choose(graph, mode)
    rates = input_rates(graph, x[:RATE_SAMPLES]) if x is not None and len(x) else None
    return choose(graph, mode, rates)


def apply(graph: Graph, choices: dict[str, str]) -> Graph:
    """``graph`` with the kernels a run recorded (runs.spike_kernels): the
    same graph, and graph hash, as the run built."""
    return replace(graph, layers=[
        replace(layer, params={**layer.params, "spikes_in": choices[layer.name]})
        if layer.name in choices else layer for layer in graph.layers])

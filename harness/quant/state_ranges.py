"""Spiking layers' state formats, tuned on the calibration set.

A membrane potential's calibrated range is set by its rare extremes (a
neuron driven far below rest, say -15.7 with a threshold of 1), and one
int8 format covering them leaves 3 fractional bits near the threshold,
where the spikes are decided. Narrowing the range by a power of two gains
a fractional bit; the few potentials beyond it saturate, which mostly
delays a neuron that is far from firing anyway.

Per spiking layer, in graph order, each narrowing (1, then 2 bits) is
quantized and run through the integer reference on the calibration
samples; it is kept when the readout moves closer to the float model
(mean |output - float|) and the layer's potential stays within the
saturation limit (reference.MAX_SATURATED). Nothing here looks at labels,
and the chosen ranges are saved with the build's calibration, so a rebuild
gives the same formats.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.errors import ModelError
from harness.kinds import Scheme
from harness.model.ir import Graph
from harness.model.reference import STATE, run_graph
from harness.quant import QuantConfig
from harness.quant.calibrate import Calibration
from harness.quant.reference import check_accumulators, run_qgraph
from harness.quant.schemes import quantize_graph

MAX_NARROWING = 2  # fractional bits gained at most per layer


def _error(graph: Graph, cal: Calibration, dtype: str, x: np.ndarray,
           reference: np.ndarray) -> float | None:
    """Mean |readout - float model| on ``x``; None when the formats do not
    hold the layer (a constant that does not fit, saturation over the limit)."""
    try:
        qgraph = quantize_graph(graph, QuantConfig(Scheme.POT, cal), dtype)
        check_accumulators(qgraph, x)
    except ModelError:
        return None
    out = qgraph.output_q.dequantize(run_qgraph(qgraph, qgraph.input_q.quantize(x)))
    return float(np.mean(np.abs(out - reference)))


def tune_state_ranges(graph: Graph, calibration: Calibration, dtype: str,
                      x: np.ndarray) -> tuple[Calibration, dict[str, int]]:
    """The calibration with narrowed potential ranges, and the fractional
    bits gained per spiking layer (only layers that gained any)."""
    reference = run_graph(graph, x)
    best = _error(graph, calibration, dtype, x, reference)
    if best is None:  # the plain ranges already fail: leave the refusal to the build
        return calibration, {}
    gained: dict[str, int] = {}
    for layer in graph.layers:
        if layer.op != "lif":
            continue
        key = layer.name + STATE
        lo, hi = calibration.ranges[key]
        for bits in range(1, MAX_NARROWING + 1):
            ranges = {**calibration.ranges, key: (lo / 2**bits, hi / 2**bits)}
            candidate = replace(calibration, ranges=ranges)
            error = _error(graph, candidate, dtype, x, reference)
            if error is None:  # narrower only saturates more
                break
            if error < best:
                best, calibration, gained[layer.name] = error, candidate, bits
    return calibration, gained

"""Pick the quantization scheme: the more accurate on the calibration set.

Each candidate is quantized and run through the integer reference on the
calibration samples; the higher accuracy wins, then the smaller error
against the float model, then the order given (pot first: it is cheaper).
Without class labels (anomaly and regression sets) the error alone decides.
"""

from __future__ import annotations

import numpy as np

from harness.errors import ConfigError
from harness.kinds import Scheme
from harness.model.ir import Graph
from harness.model.reference import run_graph
from harness.quant import QuantConfig
from harness.quant.calibrate import Calibration
from harness.quant.reference import check_accumulators, run_qgraph
from harness.quant.schemes import quantize_graph


def choose_scheme(graph: Graph, calibration: Calibration, dtype: str,
                  candidates: tuple[str, ...], x: np.ndarray, y: np.ndarray | None
                  ) -> tuple[str, dict[str, float]]:
    """Returns the chosen scheme and each candidate's calibration accuracy
    (``y`` class labels), or without labels (``y`` None) each one's mean
    |output - float model|.

    Raises:
        ConfigError: no candidate scheme.
        ModelError: the chosen scheme overflows on the calibration set.
    """
    if graph.spiking:  # one fixed-point format for potential, threshold and leak
        candidates = tuple(c for c in candidates if c == Scheme.POT)
    if not candidates:
        raise ConfigError(f"no quantization scheme for {dtype}" + (
            " (spiking models quantize with pot)" if graph.spiking else ""))
    reference = run_graph(graph, x)
    scores: dict[str, float] = {}
    ranking: list[tuple[float, float, int, str]] = []
    for order, scheme in enumerate(candidates):
        qgraph = quantize_graph(graph, QuantConfig(scheme, calibration), dtype)
        out = qgraph.output_q.dequantize(run_qgraph(qgraph, qgraph.input_q.quantize(x)))
        accuracy = 0.0 if y is None else float(np.mean(np.argmax(out, axis=1) == y))
        error = float(np.mean(np.abs(out - reference)))
        scores[scheme] = error if y is None else accuracy
        ranking.append((-accuracy, error, order, scheme))
    chosen = min(ranking)[3]
    check_accumulators(quantize_graph(graph, QuantConfig(chosen, calibration), dtype), x)
    return chosen, scores

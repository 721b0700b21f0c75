"""Ranges and scheme for an integer build: calibrate on data (or load saved
ranges) and pick the scheme the engine has that is more accurate on the
calibration samples."""

from __future__ import annotations

from pathlib import Path

from harness.datasets import calibration_spec, load_dataset
from harness.engines.base import Engine
from harness.errors import ConfigError
from harness.kinds import DType, Task, WeightLayout
from harness.model.ir import Graph
from harness.quant import QuantConfig
from harness.quant.calibrate import Calibration, calibrate
from harness.quant.select import choose_scheme
from harness.quant.state_ranges import tune_state_ranges
from harness.run.request import QuantRequest


def quant_for(graph: Graph, engine: Engine, dtype: str, dataset: str | None,
              q: QuantRequest, data_dir: Path | None = None
              ) -> tuple[QuantConfig | None, dict | None]:
    """Calibrate (or load ranges) and pick the scheme for an integer build.

    Returns the config and what to record with the run (method, samples,
    source dataset, each candidate scheme's calibration accuracy).
    """
    if dtype == DType.FLOAT32:
        if q.scheme is not None:
            raise ConfigError("--quant applies to int8/int16 builds, not float32")
        return None, None
    schemes = engine.schemes(dtype)
    if q.scheme is not None and q.scheme not in schemes:
        raise ConfigError(f"engine {engine.name} has no {q.scheme!r} scheme for {dtype}; it "
                          f"has: {', '.join(schemes) or 'none'}")
    if q.samples <= 0:
        raise ConfigError(f"--calibrate needs at least one sample, got {q.samples}")
    source = q.data or (calibration_dataset_for(dataset) if dataset else None)
    if source is None and q.ranges is None:
        raise ConfigError(f"a {dtype} build needs calibration data: give --dataset, "
                          f"--calibration-data or --ranges")
    data = None
    if source is not None:
        data = load_dataset(source, data_dir)
        try:
            data.check_fits(graph.input_shape)
        except ConfigError as e:
            raise ConfigError(f"calibration set {source}: {e}") from e
    if q.ranges is not None:
        cal = Calibration.load(q.ranges)
        missing = [t for t in (graph.input_name, *(layer.output for layer in graph.layers))
                   if t not in cal.ranges]
        if missing:
            raise ConfigError(f"{q.ranges} has no range for tensor {missing[0]!r}: it was "
                              f"made for another model")
    else:
        assert data is not None
        cal = calibrate(graph, data.x[:q.samples], q.method)
        cal.dataset = source
    candidates = (q.scheme,) if q.scheme is not None else schemes
    narrowed: dict[str, int] = {}
    if graph.spiking and data is not None and q.ranges is None:
        cal, narrowed = tune_state_ranges(graph, cal, dtype, data.x[:q.samples])
    if data is None:  # saved ranges and no data to compare schemes on
        chosen, scores = candidates[0], {}
    else:
        labels = data.y[:q.samples] if data.task == Task.CLASSIFICATION else None
        chosen, scores = choose_scheme(graph, cal, dtype, candidates, data.x[:q.samples],
                                       labels)
    # classification: each scheme's calibration accuracy; otherwise its mean
    # |output - float model| on the calibration samples
    key = "accuracy" if data is None or data.task == Task.CLASSIFICATION else "error_vs_float"
    record = {"method": cal.method, "samples": cal.samples, "dataset": cal.dataset,
              key: scores, "ranges_file": str(q.ranges) if q.ranges else None}
    if narrowed:  # spiking layers whose potential range was narrowed: fractional bits gained
        record["state_bits_gained"] = narrowed
    if q.weights not in tuple(WeightLayout):
        raise ConfigError(f"unknown weight layout {q.weights!r}; known: "
                          f"{', '.join(WeightLayout)}")
    record["weights"] = q.weights
    return QuantConfig(chosen, cal, weights=q.weights), record


def calibration_dataset_for(dataset: str) -> str:
    """The training split of a registry dataset when there is one (``NAME:train``):
    calibrating on the test set would tune the ranges to the data being scored."""
    return calibration_spec(dataset)

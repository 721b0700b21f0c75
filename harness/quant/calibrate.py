"""Calibration: the float range of every tensor over a slice of the data.

Ranges are what both schemes (and other engines, e.g. Qualia) quantize
from; they are saved as JSON beside the firmware so a build can be redone
without the data.

Methods:
- ``minmax``: the observed min and max.
- ``percentile``: the ``percentile``-th / (100 - p)-th percentiles, which
  ignores a few outliers (wider effective resolution, rare clipping).
- ``mse``: per tensor, the clipping threshold (a fraction of the observed
  range) that minimises the mean squared int8 quantization error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, ModelError
from harness.model.ir import Graph
from harness.model.reference import run_graph_tensors, run_snn

METHODS: tuple[str, ...] = ("minmax", "percentile", "mse")
DEFAULT_SAMPLES = 300
DEFAULT_PERCENTILE = 99.99
_BATCH = 256


@dataclass
class Calibration:
    """Float range (lo, hi) of the graph input and of every layer output."""

    method: str
    samples: int
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    percentile: float | None = None
    dataset: str | None = None  # where the samples came from, for the record

    def range_of(self, tensor: str) -> tuple[float, float]:
        if tensor not in self.ranges:
            raise ConfigError(f"calibration has no range for tensor {tensor!r}; "
                              f"recalibrate for this model")
        return self.ranges[tensor]

    def to_json(self) -> dict:
        return {"method": self.method, "samples": self.samples, "percentile": self.percentile,
                "dataset": self.dataset,
                "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in self.ranges.items()}}

    @staticmethod
    def from_json(data: dict) -> Calibration:
        try:
            cal = Calibration(method=str(data["method"]), samples=int(data["samples"]),
                              percentile=data.get("percentile"), dataset=data.get("dataset"),
                              ranges={k: (float(v[0]), float(v[1]))
                                      for k, v in data["ranges"].items()})
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise ConfigError(f"malformed calibration data: {e}") from e
        for tensor, (lo, hi) in cal.ranges.items():
            # a NaN or inverted range would quantize every value to garbage, silently
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(f"the range of {tensor!r} is [{lo}, {hi}]: ranges must be "
                                  f"finite with low <= high")
        return cal

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> Calibration:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read calibration {path}: {e.strerror or e}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"calibration {path} is not text ({e.reason} at byte "
                              f"{e.start}): give a calibration.json from a build") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"calibration {path} is not JSON: {e}") from e
        try:
            return Calibration.from_json(data)
        except ConfigError as e:
            raise ConfigError(f"calibration {path}: {e}") from e


def calibrate(graph: Graph, x: np.ndarray, method: str = "minmax",
              percentile: float = DEFAULT_PERCENTILE) -> Calibration:
    """Run the float reference over ``x`` and record every tensor's range.

    Raises:
        ConfigError: unknown method, empty set, or samples of the wrong shape.
        ModelError: a tensor is not finite (NaN/inf) on the calibration set.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ConfigError("calibration set is empty")
    if tuple(x.shape[1:]) != tuple(graph.sample_shape):
        raise ConfigError(f"calibration samples have shape {tuple(x.shape[1:])}, the model "
                          f"takes {tuple(graph.sample_shape)}")
    if not 50.0 < percentile <= 100.0:
        raise ConfigError(f"percentile must be in (50, 100], got {percentile}")

    chunks: dict[str, list[np.ndarray]] = {}

    def observe(name: str, value: np.ndarray) -> None:
        chunks.setdefault(name, []).append(value.reshape(-1))

    for start in range(0, len(x), _BATCH):
        if graph.spiking:  # every tensor at every step, and the neurons' potentials
            run_snn(graph, x[start:start + _BATCH], observe)
            continue
        for name, value in run_graph_tensors(graph, x[start:start + _BATCH]).items():
            observe(name, value)
    ranges: dict[str, tuple[float, float]] = {}
    for name, parts in chunks.items():
        values = np.concatenate(parts)
        if not np.all(np.isfinite(values)):
            raise ModelError(f"tensor {name!r} is not finite (NaN or inf) on the calibration "
                             f"set: it cannot be quantized")
        ranges[name] = _range(values, method, percentile)
    return Calibration(method=method, samples=len(x), ranges=ranges,
                       percentile=percentile if method == "percentile" else None)


def _range(values: np.ndarray, method: str, percentile: float) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    if method == "minmax" or lo == hi:
        return lo, hi
    if method == "percentile":
        plo, phi = np.percentile(values, [100.0 - percentile, percentile])
        # Keep an exact zero bound (ReLU outputs) exact.
        return (0.0 if lo == 0.0 else float(plo)), (0.0 if hi == 0.0 else float(phi))
    return _mse_range(values, lo, hi)


def _mse_range(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    sample = values if values.size <= 200_000 else np.random.default_rng(0).choice(
        values, 200_000, replace=False)
    best, best_err = (lo, hi), np.inf
    for frac in np.linspace(0.3, 1.0, 36):
        clo, chi = lo * frac, hi * frac
        scale = (chi - clo) / 255.0
        q = np.clip(np.rint((sample - clo) / scale), 0, 255) * scale + clo
        err = float(np.mean((q - sample) ** 2))
        if err < best_err:
            best, best_err = (clo, chi), err
    return best

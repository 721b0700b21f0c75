"""Quantization: calibration ranges, the two integer schemes, the integer
graph the C is generated from, and its bit-exact numpy reference.

- ``calibrate.py``: float ranges of every tensor over a calibration slice.
- ``schemes.py``: float graph + ranges -> ``QGraph`` (integer weights,
  per-tensor formats, requantization constants).
- ``reference.py``: runs a ``QGraph`` on integers exactly as the C does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.kinds import DType, Scheme, WeightLayout
from harness.quant.calibrate import Calibration

SCHEMES: tuple[str, ...] = tuple(Scheme)
QDTYPES: dict[str, tuple[int, int]] = {DType.INT8: (-128, 127), DType.INT16: (-32768, 32767)}


@dataclass(frozen=True)
class TensorQuant:
    """How a float tensor maps to integers: x = scale * (q - zero_point).

    ``pot`` formats have scale = 2**-frac_bits and zero_point 0.
    """

    dtype: str  # "int8" | "int16"
    scale: float
    zero_point: int = 0
    frac_bits: int | None = None  # set for power-of-two formats

    def quantize(self, x: np.ndarray) -> np.ndarray:
        lo, hi = QDTYPES[self.dtype]
        q = np.rint(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, lo, hi).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale).astype(
            np.float32)

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "scale": self.scale, "zero_point": self.zero_point,
                "frac_bits": self.frac_bits}


@dataclass(frozen=True)
class QuantConfig:
    """What a quantized build needs besides the graph."""

    scheme: str  # "pot" | "affine"
    calibration: Calibration
    # int8 conv weights in flash: "packed" (int8, smallest) or "wide" (stored
    # as int16: no unpacking in the inner loop, twice the flash).
    weights: str = WeightLayout.PACKED


__all__ = ["QDTYPES", "SCHEMES", "Calibration", "QuantConfig", "TensorQuant"]

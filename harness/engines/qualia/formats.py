"""Qualia's per-tensor power-of-two fixed-point rule, shared by the CNN and
SNN sides of the qualia engine."""

from __future__ import annotations

import math

from harness.errors import EngineError


def frac_bits(width: int, magnitude: float) -> int:
    """Qualia's fractional bits for a tensor whose largest |value| is
    ``magnitude`` (qualia-core ``Quantizer.fractional_bits``: ``bits - 1 +
    maxWeight(max)``, maxWeight = -(floor(log2 m) + 1), or -1 for m = 0)."""
    if not math.isfinite(magnitude):
        raise EngineError(f"cannot pick a fixed-point format for a range of {magnitude}")
    if magnitude == 0.0:
        return width - 2
    return width - 2 - math.floor(math.log2(magnitude))

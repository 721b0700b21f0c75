"""What a user may say about a spiking model on the command line (or in a
sweep entry): timesteps, readout, encoding, and the step that discretises a
NIR graph. No torch here: requests carry it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import ModelError

READOUTS = ("spike_count", "output_mean", "membrane_last")
ENCODINGS = ("direct", "iterate")
KERNELS = ("dense", "event", "auto")  # layers fed with spikes (harness/model/snn_kernels.py)
MAX_TIMESTEPS = 4096
# Seconds per step for NIR's continuous-time neurons: snnTorch's NIR import and
# export assume it (dt = 1e-4 in snntorch/import_nir.py and export_nir.py).
DEFAULT_DT = 1e-4


@dataclass(frozen=True)
class SnnOptions:
    """What the command line says about a spiking model (None: the model's own)."""

    timesteps: int | None = None
    readout: str | None = None
    encoding: str | None = None
    kernels: str | None = None  # None: auto
    dt: float | None = None  # NIR graphs only: the Euler step in seconds

    def __post_init__(self) -> None:
        if self.timesteps is not None and not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise ModelError(f"--timesteps must be 1..{MAX_TIMESTEPS}, got {self.timesteps}")
        if self.readout is not None and self.readout not in READOUTS:
            raise ModelError(f"--readout {self.readout!r}: use one of {', '.join(READOUTS)}")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ModelError(f"--encoding {self.encoding!r}: use one of {', '.join(ENCODINGS)}")
        if self.kernels is not None and self.kernels not in KERNELS:
            raise ModelError(f"--snn-kernels {self.kernels!r}: use one of {', '.join(KERNELS)}")
        if self.dt is not None and not (math.isfinite(self.dt) and self.dt > 0):
            raise ModelError(f"--dt must be a positive number of seconds, got {self.dt}")

"""What a user may say about a spiking model on the command line (or in a
sweep entry): timesteps, readout and encoding. No torch here: requests
carry it."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import ModelError

READOUTS = ("spike_count", "output_mean", "membrane_last")
ENCODINGS = ("direct", "iterate")
KERNELS = ("dense", "event", "auto")  # layers fed with spikes (harness/model/snn_kernels.py)
MAX_TIMESTEPS = 4096


@dataclass(frozen=True)
class SnnOptions:
    """What the command line says about a spiking model (None: the model's own)."""

    timesteps: int | None = None
    readout: str | None = None
    encoding: str | None = None
    kernels: str | None = None  # None: auto

    def __post_init__(self) -> None:
        if self.timesteps is not None and not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise ModelError(f"--timesteps must be 1..{MAX_TIMESTEPS}, got {self.timesteps}")
        if self.readout is not None and self.readout not in READOUTS:
            raise ModelError(f"--readout {self.readout!r}: use one of {', '.join(READOUTS)}")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ModelError(f"--encoding {self.encoding!r}: use one of {', '.join(ENCODINGS)}")
        if self.kernels is not None and self.kernels not in KERNELS:
            raise ModelError(f"--snn-kernels {self.kernels!r}: use one of {', '.join(KERNELS)}")

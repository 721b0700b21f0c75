"""Spiking neurons: one discrete-time update that covers the libraries
bench imports, and its numpy implementation (the reference the C kernels
are checked against).

One step of a layer of neurons, with ``V`` the potential kept between steps
and ``I`` the input current of this step::

    r = fire(V)                 if pre_reset else 0      (snnTorch: the reset
                                                          of the last spike)
    H = decay * (v_reset if reset == "zero" and r else V) + gain * I + offset
        - (threshold * r if reset == "subtract" else 0)
    S = fire(H)                 H > threshold ("gt") or >= ("ge")
    d = S - r                   if post_reset else 0
    V = H - d * threshold       (reset "subtract")
        v_reset if d == 1, H + H - v_reset if d == -1, else H   (reset "zero")
        H                       (reset "none")

How each library maps onto it (../shared/DESIGN.md section 8):

- snnTorch ``Leaky``: decay = beta (clamped to [0, 1]), gain 1, fire "gt",
  pre_reset; ``reset_delay=False`` adds post_reset (snnTorch's own "avoid
  double reset" arithmetic, d = S - r, is what makes the two agree).
- SpikingJelly ``LIFNode``: decay = 1 - 1/tau, gain = 1/tau with
  ``decay_input`` (else 1), offset = v_reset/tau, fire "ge", post_reset;
  ``v_reset=None`` is reset "subtract", a value is reset "zero" to it, and
  the potential starts at v_reset. ``IFNode``: decay 1.
- NIR ``LIF``/``IF`` (continuous time, discretised with dt): fire "gt",
  hard reset to v_reset, post_reset (harness/model/nir_import.py).

A leaky integrator that never fires (NIR ``LI``, a readout layer) is an
``Integrator``: ``V = decay * V + gain * I + offset``, and V is its output.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

RESETS = ("subtract", "zero", "none")
FIRES = ("gt", "ge")


@dataclass(frozen=True)
class Neuron:
    """Per-layer scalar parameters of one spiking layer (see the module doc)."""

    decay: float
    threshold: float
    reset: str = "subtract"
    gain: float = 1.0
    offset: float = 0.0
    v_reset: float = 0.0
    v_init: float = 0.0
    fire: str = "gt"
    pre_reset: bool = False
    post_reset: bool = True
    source: str = ""  # the library class it came from, for messages and reports

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"reset {self.reset!r} is not one of {', '.join(RESETS)}")
        if self.fire not in FIRES:
            raise ValueError(f"fire {self.fire!r} is not one of {', '.join(FIRES)}")
        for name in ("decay", "threshold", "gain", "offset", "v_reset", "v_init"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name} is not finite")

    def params(self) -> dict[str, Any]:
        """As the IR keeps it (Layer.params["neuron"])."""
        return asdict(self)

    @staticmethod
    def from_params(params: dict[str, Any]) -> Neuron:
        return Neuron(**params)


def _fires(neuron: Neuron, v: np.ndarray) -> np.ndarray:
    thr = np.float32(neuron.threshold)
    return (v > thr) if neuron.fire == "gt" else (v >= thr)


def initial_state(neuron: Neuron, shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, np.float32(neuron.v_init), dtype=np.float32)


def charge(neuron: Neuron, v: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first half of a step: (r, H), the reset carried from the last
    spike and the potential before this step's spike (what the state's
    integer format must hold)."""
    f32 = np.float32
    v = v.astype(np.float32, copy=False)
    current = current.astype(np.float32, copy=False)
    r = _fires(neuron, v) if neuron.pre_reset else np.zeros(v.shape, dtype=bool)
    base = np.where(r, f32(neuron.v_reset), v) if neuron.reset == "zero" else v
    h = f32(neuron.decay) * base + f32(neuron.gain) * current + f32(neuron.offset)
    if neuron.reset == "subtract":
        h = h - np.where(r, f32(neuron.threshold), f32(0))
    return r, h.astype(np.float32, copy=False)


def settle(neuron: Neuron, r: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The second half: (spikes as 0.0/1.0, the potential kept)."""
    f32 = np.float32
    s = _fires(neuron, h)
    if neuron.post_reset:
        d = s.astype(np.float32) - r.astype(np.float32)
        if neuron.reset == "subtract":
            h = h - d * f32(neuron.threshold)
        elif neuron.reset == "zero":
            vr = f32(neuron.v_reset)
            h = np.where(d == 1, vr, np.where(d == -1, h + (h - vr), h))
    return s.astype(np.float32), h.astype(np.float32, copy=False)


def step(neuron: Neuron, v: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One timestep in float32: (spikes as 0.0/1.0, the new potential).

    The order of operations is the C kernel's (firmware/kernels/ref/lif_f32.c),
    so the two agree bit for bit."""
    return settle(neuron, *charge(neuron, v, current))
@dataclass(frozen=True)
class Integrator:
    """A leaky integrator (NIR ``LI``): a potential that never fires or resets;
    each step's output is the potential itself (a readout layer)."""

    decay: float
    gain: float = 1.0
    offset: float = 0.0
    v_init: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("decay", "gain", "offset", "v_init"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name} is not finite")

    def params(self) -> dict[str, Any]:
        """As the IR keeps it (Layer.params["integrator"])."""
        return asdict(self)

    @staticmethod
    def from_params(params: dict[str, Any]) -> Integrator:
        return Integrator(**params)


def integrate(li: Integrator, v: np.ndarray, current: np.ndarray) -> np.ndarray:
    """One timestep in float32: the new potential, which is also the output.
    Same order of operations as firmware/kernels/ref/li_f32.c."""
    f32 = np.float32
    h = f32(li.decay) * v.astype(np.float32, copy=False) \
        + f32(li.gain) * current.astype(np.float32, copy=False) + f32(li.offset)
    return h.astype(np.float32, copy=False)

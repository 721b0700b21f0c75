"""bench's spiking neurons (harness/model/neuron.py) as Qualia-CodeGen's SNN
plugin (``qualia-codegen-plugin-snn`` 2.6.0) can compute them, or a refusal
naming what it cannot.

The plugin maps SpikingJelly ``IFNode``/``LIFNode`` modules to its ``if``
and ``lif`` templates. What those compute, per neuron and timestep (H the
potential before the spike, X the input, Vr the reset value, 1/tau the
"reciprocal_tau" constant)::

    IF:                   H = V + X
    LIF, decay_input:     H = V + (X - (V - Vr)) / tau
    LIF, no decay_input:  H = V - (V - Vr) / tau + X
    (soft reset: Vr is left out, i.e. 0)
    spike when H >= threshold, then V = H - threshold (soft) or Vr (hard)
    every potential starts at 0 (its reset(): ``<layer>_reset_pot()``)

In bench's terms (decay, gain, offset): IF is (1, 1, 0); LIF is
(1 - 1/tau, 1/tau or 1, Vr/tau). A neuron with another leak formula, no
reset, snnTorch's delayed reset (the previous step's spike subtracted at
this step) or a resting potential other than 0 is refused. A neuron that
fires on ``>`` (snnTorch, NIR) is accepted with a note: Qualia fires on
``>=``, which differs only when the potential lands exactly on the
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import EngineError
from harness.model.ir import Layer
from harness.model.neuron import Neuron

_REL = 1e-6  # float32 parameters read back from a float64 formula


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_REL, abs_tol=1e-9)


@dataclass(frozen=True)
class QualiaNeuron:
    """One spiking layer as the plugin's template sees it."""

    kind: str  # "if" | "lif"
    threshold: float
    v_reset: float | None  # None: soft reset (subtract the threshold)
    reciprocal_tau: float = 1.0  # lif only
    decay_input: bool = True  # lif only
    note: str | None = None  # a semantic difference accepted

    def module(self) -> Any:  # noqa: ANN401 (spikingjelly is imported lazily)
        """The SpikingJelly module the plugin maps to this template."""
        from spikingjelly.activation_based import neuron as sj

        if self.kind == "if":
            return sj.IFNode(v_threshold=self.threshold, v_reset=self.v_reset)
        return sj.LIFNode(tau=1.0 / self.reciprocal_tau, decay_input=self.decay_input,
                          v_threshold=self.threshold, v_reset=self.v_reset)


def qualia_neuron(layer: Layer) -> QualiaNeuron:
    """How Qualia computes ``layer`` (a ``lif`` layer), or EngineError."""
    n = Neuron.from_params(layer.params["neuron"])
    where = f"layer {layer.name!r} ({n.source or 'lif'})"
    if n.pre_reset:
        raise EngineError(f"{where}: delayed reset (the previous step's spike is subtracted "
                          f"at this step, snnTorch's Leaky) cannot be expressed in Qualia's "
                          f"SNN code, which resets in the step that fires")
    if n.reset == "none" or not n.post_reset:
        raise EngineError(f"{where}: a neuron without reset cannot be expressed in Qualia's "
                          f"SNN code, whose IF/LIF always reset after a spike")
    if n.v_init != 0.0:
        raise EngineError(f"{where}: the potential rests at {n.v_init:g}; Qualia starts every "
                          f"potential at 0 (its reset_pot())")
    soft = n.reset == "subtract"
    vr = 0.0 if soft else n.v_reset
    note = (f"{layer.name} fires on V >= threshold in Qualia, on V > threshold in its "
            f"library (they differ only when V equals the threshold)"
            if n.fire == "gt" else None)
    if _close(n.decay, 1.0) and _close(n.gain, 1.0) and _close(n.offset, 0.0):
        return QualiaNeuron("if", n.threshold, None if soft else vr, note=note)
    k = 1.0 - n.decay
    if not 0.0 < k <= 1.0:
        raise EngineError(f"{where}: decay {n.decay:g} is not a leak 1 - 1/tau with tau >= 1; "
                          f"Qualia's LIF cannot express it")
    if not _close(n.offset, k * vr):
        raise EngineError(f"{where}: the input offset {n.offset:g} is not Vr/tau "
                          f"({k * vr:g}); Qualia's LIF leaks towards its reset value only"
                          + (" (and a soft reset has Vr = 0)" if soft else ""))
    if _close(n.gain, k):
        decay_input = True
    elif _close(n.gain, 1.0):
        decay_input = False
    else:
        raise EngineError(f"{where}: input gain {n.gain:g} is neither 1/tau ({k:g}) nor 1; "
                          f"Qualia's LIF computes V + (X - (V - Vr))/tau or V - (V - Vr)/tau + X")
    return QualiaNeuron("lif", n.threshold, None if soft else vr, reciprocal_tau=k,
                        decay_input=decay_input, note=note)

"""Spiking neurons on integers (pot scheme): the neuron's parameters in its
state's fixed-point format, and one step exactly as the C kernel does it
(firmware/kernels/q/lif_q.c).

The membrane potential is stored in the layer's dtype (int16 or int8) with
``f_v`` fractional bits, chosen from the calibrated range of the potential
before a spike (and the threshold, reset and rest values it must hold).
Threshold, reset value, resting value and the per-step offset are
integers in that format. The leak is a shift when beta = 1 - 2**-k
(``v - (v >> k)``), else a Q15 multiply rounded half up; the input current
(the producing layer's format ``f_i``) enters the state's format through
``(i * in_mult) >> in_shift``, rounded half up (a plain shift when the gain
is 1). Every step computes in 64 bits and saturates the potential to the
dtype, never wraps. Spikes are 0/1 integers: a format of 0 fractional bits. A leaky
integrator (NIR ``LI``) takes the same step without ever firing; its output
is the potential, in the state's format.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from harness.errors import ModelError
from harness.model.neuron import Integrator, Neuron

Q15 = 15
DECAY_NONE, DECAY_SHIFT, DECAY_MULT = 0, 1, 2
RESETS = {"subtract": 0, "zero": 1, "none": 2}  # bench_reset in bench_kernels.h


@dataclass(frozen=True)
class IntNeuron:
    """A neuron's constants in its state format (bench_lif_qparams)."""

    state_frac_bits: int
    decay_mode: int
    decay_shift: int
    decay_mult: int
    in_mult: int
    in_shift: int  # right shift; negative: left shift
    offset: int
    threshold: int
    v_reset: int
    v_init: int
    reset: int
    fire_ge: int
    pre_reset: int
    post_reset: int
    lo: int  # the state dtype's range
    hi: int

    def c_fields(self) -> dict[str, int]:
        d = asdict(self)
        for key in ("state_frac_bits", "v_init", "lo", "hi"):
            d.pop(key)
        return d


def _decay(beta: float) -> tuple[int, int, int]:
    """(mode, shift, mult) for the leak factor."""
    if beta == 1.0:
        return DECAY_NONE, 0, 0
    for k in range(1, Q15 + 1):
        if beta == 1.0 - 2.0**-k:
            return DECAY_SHIFT, k, 0
    return DECAY_MULT, 0, int(round(beta * 2**Q15))


def _input_scale(real: float) -> tuple[int, int]:
    """(mult, shift) with i * real ~= (i * mult) >> shift; mult < 2**15."""
    if real <= 0.0:
        return 0, 0
    e = math.floor(math.log2(real))
    if real == 2.0**e:  # a power of two: a shift alone
        return 1, -e
    mult, shift = round(real * 2.0 ** (14 - e)), 14 - e
    if mult == 2**15:
        mult, shift = mult // 2, shift - 1
    return int(mult), int(shift)


def quantize_neuron(neuron: Neuron, name: str, in_frac_bits: int, state_frac_bits: int,
                    lo: int, hi: int) -> IntNeuron:
    """The neuron's constants in the state format; ModelError naming the
    layer when one of them does not fit the state's dtype."""
    scale = 2.0**state_frac_bits

    def fixed(value: float, what: str) -> int:
        q = int(round(value * scale))
        if not lo <= q <= hi:
            raise ModelError(f"layer {name!r}: {what} {value:g} does not fit the state format "
                             f"(range [{lo / scale:.3g}, {hi / scale:.3g}])")
        return q

    threshold = fixed(neuron.threshold, "threshold")
    if threshold == 0 and neuron.threshold != 0.0:
        raise ModelError(f"layer {name!r}: threshold {neuron.threshold:g} rounds to 0 in the "
                         f"state format ({state_frac_bits} fractional bits)")
    mode, shift, mult = _decay(neuron.decay)
    in_mult, in_shift = _input_scale(neuron.gain * 2.0 ** (state_frac_bits - in_frac_bits))
    return IntNeuron(state_frac_bits=state_frac_bits, decay_mode=mode, decay_shift=shift,
                     decay_mult=mult, in_mult=in_mult, in_shift=in_shift,
                     offset=fixed(neuron.offset, "offset"), threshold=threshold,
                     v_reset=fixed(neuron.v_reset, "v_reset"),
                     v_init=fixed(neuron.v_init, "the resting potential"),
                     reset=RESETS[neuron.reset], fire_ge=int(neuron.fire == "ge"),
                     pre_reset=int(neuron.pre_reset), post_reset=int(neuron.post_reset),
                     lo=lo, hi=hi)


def as_neuron(li: Integrator) -> Neuron:
    """A leaky integrator is a neuron without reset whose threshold is never
    crossed: the same step, so the same kernel and reference."""
    return Neuron(decay=li.decay, threshold=0.0, reset="none", gain=li.gain, offset=li.offset,
                  v_init=li.v_init, pre_reset=False, post_reset=False, source=li.source)


def quantize_integrator(li: Integrator, name: str, in_frac_bits: int, state_frac_bits: int,
                        lo: int, hi: int) -> IntNeuron:
    """The integrator's constants in its state format; its threshold is the
    dtype's top with "v > threshold", which a saturated potential never is."""
    q = quantize_neuron(as_neuron(li), name, in_frac_bits, state_frac_bits, lo, hi)
    return replace(q, threshold=hi, fire_ge=0)


def state_frac_bits(lo: float, hi: float, neuron: Neuron, bits: int) -> int:
    """The most fractional bits with which the potential's calibrated range
    and the neuron's constants fit ``bits`` magnitude bits."""
    top = max(abs(lo), abs(hi), abs(neuron.threshold), abs(neuron.v_reset),
              abs(neuron.v_init), abs(neuron.offset))
    if top <= 0.0:
        return bits
    return math.floor(math.log2((2**bits - 1) / top))


def _rshift_round(x: np.ndarray, shift: int) -> np.ndarray:
    if shift > 0:
        return (x + (1 << (shift - 1))) >> shift
    return x << -shift


def _fires(p: IntNeuron, v: np.ndarray) -> np.ndarray:
    return (v >= p.threshold) if p.fire_ge else (v > p.threshold)


def int_step(p: IntNeuron, v: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """One step: (spikes 0/1, the potential kept, the potential before the
    spike), as int64 arrays."""
    v = v.astype(np.int64)
    r = _fires(p, v) if p.pre_reset else np.zeros(v.shape, dtype=bool)
    base = np.where(r, p.v_reset, v) if p.reset == RESETS["zero"] else v
    if p.decay_mode == DECAY_SHIFT:
        decayed = base - (base >> p.decay_shift)
    elif p.decay_mode == DECAY_MULT:
        decayed = (base * p.decay_mult + (1 << (Q15 - 1))) >> Q15
    else:
        decayed = base
    h = decayed + _rshift_round(current.astype(np.int64) * p.in_mult, p.in_shift) + p.offset
    if p.reset == RESETS["subtract"]:
        h = h - np.where(r, p.threshold, 0)
    h = np.clip(h, p.lo, p.hi)
    before = h
    s = _fires(p, h)
    if p.post_reset:
        d = s.astype(np.int64) - r.astype(np.int64)
        if p.reset == RESETS["subtract"]:
            h = np.clip(h - d * p.threshold, p.lo, p.hi)
        elif p.reset == RESETS["zero"]:
            h = np.where(d == 1, p.v_reset, np.where(d == -1, np.clip(h + (h - p.v_reset),
                                                                       p.lo, p.hi), h))
    return s.astype(np.int64), h, before

"""The integer graph on numpy, bit for bit what the generated C computes.

Everything runs in int64 and is narrowed where the C narrows: accumulators
wrap to int32 (SMLAD wraps; the portable C adds as uint32), requantization
rounds exactly as firmware/kernels/q/bench_requant.h, results saturate to
the tensor's dtype. Layouts here are the IR's (channels first); the C works
channels last, which changes no value.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.errors import ModelError
from harness.quant import QDTYPES
from harness.quant.lif import int_step
from harness.quant.schemes import INT32_MAX, INT32_MIN, QGraph, QLayer


def wrap32(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.int64) + 2**31) % 2**32) - 2**31


def _div_trunc(x: np.ndarray, d: int) -> np.ndarray:
    """C's integer division (toward zero)."""
    q = np.abs(x) // d
    return np.where(x < 0, -q, q)


def srdhm(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    a = a.astype(np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = _div_trunc(ab + nudge, 1 << 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, out)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT (round half away from zero)."""
    x = x.astype(np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, mult: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """tflite::MultiplyByQuantizedMultiplier (double rounding)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(x.astype(np.int64) << left), mult), right)


def shift_round(x: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """pot requantization as bench_requant.h: add half with int32
    saturation (QADD), shift right; a negative shift is a left shift
    saturated to int32."""
    x = wrap32(x)
    s = np.asarray(shift, dtype=np.int64)
    right = np.maximum(s, 0)
    half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
    rounded = np.clip(x + half, INT32_MIN, INT32_MAX) >> right
    left = np.clip(x << np.maximum(-s, 0), INT32_MIN, INT32_MAX)
    return np.where(s > 0, rounded, left)


def _saturate(x: np.ndarray, lo: int, hi: int, dtype: str) -> np.ndarray:
    return np.clip(x, lo, hi).astype(dtype)


# --------------------------------------------------------------------------- ops


def _pad(x: np.ndarray, pads: tuple[int, ...], value: int) -> np.ndarray:
    if not any(pads):
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - len(pads)) + [(p, p) for p in pads],
                  constant_values=value)


def _windows(x: np.ndarray, q: QLayer, value: int) -> np.ndarray:
    """(N, C, *out_spatial, *kernel) of the padded input."""
    p = q.layer.params
    kernel, stride = tuple(p["kernel"]), tuple(p["stride"])
    xp = _pad(x, tuple(p["padding"]), value)
    nd = len(kernel)
    w = sliding_window_view(xp, kernel, axis=tuple(range(2, 2 + nd)))
    w = w[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)]
    out_sp = tuple(q.layer.out_shape[1:])
    return w[(slice(None), slice(None)) + tuple(slice(0, o) for o in out_sp)]


def _requant(q: QLayer, acc: np.ndarray, channel_axis: int) -> np.ndarray:
    acc = wrap32(acc)
    assert q.shift is not None
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    shift = q.shift.reshape(shape)
    if q.mult is None:
        y = shift_round(acc, shift)
    else:
        y = multiply_by_quantized_multiplier(acc, q.mult.reshape(shape), shift)
    return _saturate(y + q.output_offset, q.act_min, q.act_max, q.out_q.dtype)


def _peak(peaks: dict[str, int] | None, q: QLayer, acc: np.ndarray) -> None:
    if peaks is not None and acc.size:
        peaks[q.name] = max(peaks.get(q.name, 0), int(np.max(np.abs(acc))))


def _conv(q: QLayer, x: np.ndarray, peaks: dict[str, int] | None) -> np.ndarray:
    assert q.weight is not None and q.bias is not None
    groups = int(q.layer.params["groups"])
    # Padding holds the input's zero point: (zp + input_offset) = 0.
    xo = x.astype(np.int64) + q.input_offset
    win = _windows(xo, q, 0)
    n, c = win.shape[:2]
    nd = len(q.layer.params["kernel"])
    out_sp = win.shape[2:2 + nd]
    k_sp = win.shape[2 + nd:]
    cg = c // groups
    cout = q.weight.shape[0]
    win = win.reshape((n, groups, cg, *out_sp, *k_sp))
    win = np.moveaxis(win, 2, 2 + nd).reshape(n, groups, int(np.prod(out_sp)), -1)
    w = q.weight.astype(np.int64).reshape(groups, cout // groups, -1)
    acc = np.einsum("ngpk,gok->ngop", win, w).reshape((n, cout, *out_sp))
    acc = acc + q.bias.astype(np.int64).reshape((1, cout) + (1,) * nd)
    _peak(peaks, q, acc)
    return _requant(q, acc, 1)


def _linear(q: QLayer, x: np.ndarray, peaks: dict[str, int] | None) -> np.ndarray:
    assert q.weight is not None and q.bias is not None
    xo = x.reshape(x.shape[0], -1).astype(np.int64) + q.input_offset
    acc = xo @ q.weight.astype(np.int64).T + q.bias.astype(np.int64)
    _peak(peaks, q, acc)
    return _requant(q, acc, 1).reshape((x.shape[0], *q.layer.out_shape))


def _rounded_div(total: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """TFLite's average: (sum +- count/2) / count, truncating."""
    count = np.asarray(count, dtype=np.int64)
    half = count // 2
    return np.where(total > 0, (total + half) // count, -((half - total) // count))


def _maxpool(q: QLayer, x: np.ndarray) -> np.ndarray:
    lo = QDTYPES[q.out_q.dtype][0]
    nd = len(q.layer.params["kernel"])
    return _windows(x.astype(np.int64), q, lo).max(axis=tuple(range(-nd, 0))).astype(
        q.out_q.dtype)


def _avgpool(q: QLayer, x: np.ndarray) -> np.ndarray:
    nd = len(q.layer.params["kernel"])
    axes = tuple(range(-nd, 0))
    # Raw values, as TFLite's AVERAGE_POOL_2D (input and output share the
    # format); counted padding holds a real zero, the zero point.
    include_pad = q.layer.params.get("count_include_pad", True)
    pad = q.in_q[0].zero_point if include_pad else 0
    total = _windows(x.astype(np.int64), q, pad).sum(axis=axes)
    if include_pad:
        count: np.ndarray | int = int(np.prod(q.layer.params["kernel"]))
    else:
        ones = np.ones((1, 1, *x.shape[2:]), dtype=np.int64)
        count = _windows(ones, q, 0).sum(axis=axes)
    return _saturate(_rounded_div(total, count), q.act_min, q.act_max, q.out_q.dtype)


def _global_avgpool(q: QLayer, x: np.ndarray) -> np.ndarray:
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1).astype(np.int64)
    y = _rounded_div(flat.sum(axis=2), flat.shape[2])
    return _saturate(y, q.act_min, q.act_max, q.out_q.dtype).reshape((n, *q.layer.out_shape))


def _add(q: QLayer, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    e = q.extra
    if "a_mult" in e:  # affine
        sa = multiply_by_quantized_multiplier(
            wrap32((a.astype(np.int64) + e["a_offset"]) << e["left_shift"]), e["a_mult"],
            e["a_shift"])
        sb = multiply_by_quantized_multiplier(
            wrap32((b.astype(np.int64) + e["b_offset"]) << e["left_shift"]), e["b_mult"],
            e["b_shift"])
        y = multiply_by_quantized_multiplier(wrap32(sa + sb), e["out_mult"], e["out_shift"])
        y = y + q.output_offset
    else:
        total = (a.astype(np.int64) << e["a_left"]) + (b.astype(np.int64) << e["b_left"])
        y = shift_round(total, e["shift"])
    return _saturate(y, q.act_min, q.act_max, q.out_q.dtype)


def _clamp_only(q: QLayer, x: np.ndarray) -> np.ndarray:
    return _saturate(x.astype(np.int64), q.act_min, q.act_max, q.out_q.dtype)


def _run_layers(qgraph: QGraph, values: dict[str, np.ndarray], peaks: dict[str, int] | None,
                states: dict[str, np.ndarray] | None = None,
                spikes: dict[str, np.ndarray] | None = None) -> None:
    """Every layer once (one timestep of a spiking graph: ``states`` holds
    the potentials, ``spikes`` gets each spiking layer's spikes added)."""
    for q in qgraph.layers:
        args = [values[t] for t in q.layer.inputs]
        op = q.op
        if op in ("conv1d", "conv2d"):
            out = _conv(q, args[0], peaks)
        elif op == "linear":
            out = _linear(q, args[0], peaks)
        elif op in ("maxpool1d", "maxpool2d"):
            out = _maxpool(q, args[0])
        elif op in ("avgpool1d", "avgpool2d"):
            out = _avgpool(q, args[0])
        elif op == "global_avgpool":
            out = _global_avgpool(q, args[0])
        elif op == "add":
            out = _add(q, args[0], args[1])
        elif op in ("relu", "relu6"):
            out = _clamp_only(q, args[0])
        elif op in ("flatten", "reshape"):
            out = args[0].reshape((args[0].shape[0], *q.layer.out_shape))
        elif op == "lif":
            assert q.neuron is not None and states is not None and spikes is not None
            s, states[q.name], before = int_step(q.neuron, states[q.name], args[0])
            if peaks is not None:  # how often the potential sits at the format's edge
                at_edge = int(np.count_nonzero((before == q.neuron.lo) | (before == q.neuron.hi)))
                peaks[q.name + "#saturated"] = peaks.get(q.name + "#saturated", 0) + at_edge
                peaks[q.name + "#steps"] = peaks.get(q.name + "#steps", 0) + before.size
            spikes[q.name] += s.reshape(len(s), -1).sum(axis=1)
            out = s.astype(q.out_q.dtype)
        elif op == "li":  # never fires: its output is the potential
            assert q.neuron is not None and states is not None
            _, states[q.name], _ = int_step(q.neuron, states[q.name], args[0])
            out = states[q.name].astype(q.out_q.dtype)
        else:
            raise ValueError(f"layer {q.name!r}: no integer reference for op {op!r}")
        values[q.layer.output] = out


def run_qgraph(qgraph: QGraph, xq: np.ndarray,
               peaks: dict[str, int] | None = None) -> np.ndarray:
    """Run on quantized inputs (N, *sample_shape) of the input's dtype.

    Returns the output tensor (N, n_out) in the output's dtype (a spiking
    graph's readout over its timesteps). ``peaks``, when given, collects the
    largest |accumulator| per conv/linear layer (before wrapping), for
    overflow checks.
    """
    if qgraph.graph.spiking:
        return run_qsnn(qgraph, xq, peaks)[0]
    graph = qgraph.graph
    xq = _checked_input(qgraph, xq)
    values: dict[str, np.ndarray] = {graph.input_name: xq}
    _run_layers(qgraph, values, peaks)
    return values[graph.output].reshape(len(xq), -1)


def _checked_input(qgraph: QGraph, xq: np.ndarray) -> np.ndarray:
    lo, hi = QDTYPES[qgraph.dtype]
    xq = np.asarray(xq)
    if np.any(xq < lo) or np.any(xq > hi):
        raise ValueError(f"inputs outside {qgraph.dtype}")
    return xq.astype(qgraph.dtype)


def run_qsnn(qgraph: QGraph, xq: np.ndarray,
             peaks: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A spiking graph on integers over its timesteps: (readout (N, n_out)
    in the output dtype, spikes (N, spiking layers) summed over T)."""
    graph = qgraph.graph
    xq = _checked_input(qgraph, xq)
    n = len(xq)
    lifs = [q for q in qgraph.layers if q.op == "lif"]
    states = {q.name: np.full((n, *q.layer.out_shape), q.neuron.v_init, dtype=np.int64)
              for q in qgraph.layers if q.op in ("lif", "li") and q.neuron is not None}
    spikes = {q.name: np.zeros(n, dtype=np.int64) for q in lifs}
    acc = np.zeros((n, int(np.prod(graph.output_shape))), dtype=np.int64)
    for t in range(graph.timesteps):
        values = {graph.input_name: xq[:, t] if graph.encoding == "iterate" else xq}
        _run_layers(qgraph, values, peaks, states, spikes)
        acc += values[graph.output].reshape(n, -1).astype(np.int64)
    lo, hi = QDTYPES[qgraph.dtype]
    if graph.readout == "membrane_last":
        out = states[graph.output].reshape(n, -1)
    elif graph.readout == "output_mean":
        out = _rounded_div(acc, graph.timesteps)
    else:
        out = acc
    return (np.clip(out, lo, hi).astype(qgraph.dtype),
            np.stack([spikes[q.name] for q in lifs], axis=1))


# The share of neuron-steps a spiking layer's potential may spend at its
# format's edge on the calibration set before a build is refused.
MAX_SATURATED = 0.01


def accumulator_peaks(qgraph: QGraph, x: np.ndarray) -> dict[str, int]:
    """Largest |accumulator| per conv/linear layer over float inputs ``x``
    (through the integer reference): how close int32 came to overflowing."""
    peaks: dict[str, int] = {}
    run_qgraph(qgraph, qgraph.input_q.quantize(x), peaks=peaks)
    return peaks


def check_accumulators(qgraph: QGraph, x: np.ndarray) -> None:
    """Raise ModelError naming the layer whose accumulator overflows int32
    on the calibration set."""
    peaks = accumulator_peaks(qgraph, x)
    for q in qgraph.layers:
        if q.neuron is None:
            continue
        share = peaks.get(q.name + "#saturated", 0) / max(1, peaks.get(q.name + "#steps", 0))
        if share > MAX_SATURATED:
            f = q.neuron.state_frac_bits
            raise ModelError(f"layer {q.name!r}: its potential saturates the {qgraph.dtype} state "
                             f"format (range [{q.neuron.lo / 2**f:.3g}, {q.neuron.hi / 2**f:.3g}]) "
                             f"in {share:.1%} of neuron-steps on the calibration set, more than "
                             f"{MAX_SATURATED:.0%}: use a wider dtype")
    for name, peak in peaks.items():
        if "#" in name:
            continue
        if peak > INT32_MAX:
            raise ModelError(f"layer {name!r}: accumulator reaches {peak:.3g} on the "
                             f"calibration set, beyond int32: the activations overflow the "
                             f"{qgraph.dtype} format")

"""Float graph + calibration ranges -> integer graph (``QGraph``).

Two schemes:

``pot`` (int8, int16): per-tensor power-of-two fixed point, the
MicroAI/Qualia scheme. A tensor with ``f`` fractional bits holds
``round(x * 2**f)``. Weights get their own ``f_w`` per layer; biases are
int32 at ``f_x + f_w``; a conv/linear output is the accumulator shifted
right by ``f_x + f_w - f_y`` with round-half-up. No multiplies outside the
MACs.

``affine`` (int8): TFLite-compatible. Activations asymmetric (scale, zero
point), weights symmetric per output channel in [-127, 127], biases int32 at
``s_x * s_w[c]``, requantization by a Q31 multiplier and a shift with
gemmlowp rounding (tflite::MultiplyByQuantizedMultiplier); adds follow
TFLite's int8 ADD (left shift 20, one multiplier per input and one for the
output).

Accumulators are 32 bits. int8 products cannot overflow them for any layer
this engine accepts; for int16 the weight precision is lowered where the
calibrated accumulator would come within 2 bits of 2**31.

Ops that only move or compare values (max pool, reshape, flatten, a lone
ReLU) keep their input's format; average pools keep it too, dividing with
rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.errors import ConfigError, ModelError
from harness.kinds import DType, Scheme
from harness.model.ir import ALIASING, Graph, Layer, fuse_activations
from harness.model.neuron import Integrator, Neuron
from harness.model.reference import STATE
from harness.quant import QDTYPES, SCHEMES, QuantConfig, TensorQuant
from harness.quant.lif import (
    IntNeuron,
    as_neuron,
    quantize_integrator,
    quantize_neuron,
    state_frac_bits,
)

# Ops whose output format is the input's (values are moved, compared or averaged).
SAME_FORMAT: frozenset[str] = frozenset(
    {"maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d", "global_avgpool", "relu", "relu6",
     *ALIASING})
ADD_LEFT_SHIFT = 20  # TFLite int8 ADD
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# int16: keep calibrated accumulators below 2**29 (2 bits of headroom).
ACC_HEADROOM_BITS = 29
MAX_SHIFT = 31


@dataclass
class QLayer:
    """One layer on integers.

    Conv/linear: ``weight`` (same layout as the float layer), ``bias`` int32,
    ``mult``/``shift`` per output channel (``mult`` is None for pot, where
    ``shift`` is a right shift, negative = left), ``act_min``/``act_max``
    the clamp after requantization (it carries the fused ReLU/ReLU6).
    Add: ``extra`` holds the per-input constants.
    """

    layer: Layer  # the float layer (names, shapes, params)
    in_q: list[TensorQuant]
    out_q: TensorQuant
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    mult: np.ndarray | None = None
    shift: np.ndarray | None = None
    act_min: int = 0
    act_max: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    neuron: IntNeuron | None = None  # lif, li: the neuron in its state format

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def op(self) -> str:
        return self.layer.op

    @property
    def input_offset(self) -> int:
        return -self.in_q[0].zero_point

    @property
    def output_offset(self) -> int:
        return self.out_q.zero_point


@dataclass
class QGraph:
    scheme: str
    dtype: str
    graph: Graph  # the float graph, activations fused
    layers: list[QLayer]
    tensors: dict[str, TensorQuant]
    # A spiking graph's output over T steps, when not its output tensor's
    # format: spike counts (scale 1) or the output layer's potential.
    readout_q: TensorQuant | None = None

    @property
    def input_q(self) -> TensorQuant:
        return self.tensors[self.graph.input_name]

    @property
    def output_q(self) -> TensorQuant:
        return self.readout_q or self.tensors[self.graph.output]


# --------------------------------------------------------------------------- formats


def _bits(dtype: str) -> int:
    return 7 if dtype == DType.INT8 else 15


def frac_bits_for(max_abs: float, bits: int) -> int:
    """The most fractional bits with which ``max_abs`` still fits ``bits``
    magnitude bits (2**bits - 1 at most)."""
    if max_abs <= 0.0:
        return bits
    return math.floor(math.log2((2**bits - 1) / max_abs))


def pot_format(lo: float, hi: float, dtype: str) -> TensorQuant:
    f = frac_bits_for(max(abs(lo), abs(hi)), _bits(dtype))
    return TensorQuant(dtype=dtype, scale=2.0**-f, zero_point=0, frac_bits=f)


def affine_format(lo: float, hi: float) -> TensorQuant:
    """TFLite's asymmetric int8: the range always includes an exact zero."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0.0:
        return TensorQuant(dtype=DType.INT8, scale=1.0, zero_point=0)
    # Scales are float32, as a .tflite file stores them: TFLite Micro derives
    # its multipliers from those floats, so ours must come from the same ones.
    scale = float(np.float32((hi - lo) / 255.0))
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return TensorQuant(dtype=DType.INT8, scale=float(scale), zero_point=zp)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier: real = m * 2**(shift - 31), m in [2**30, 2**31)."""
    if real == 0.0:
        return 0, 0
    mant, shift = math.frexp(real)
    m = math.floor(mant * (1 << 31) + 0.5)  # TfLiteRound: half away from zero
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ModelError(f"requantization multiplier {real:g} is too large for int32")
    return int(m), int(shift)


# --------------------------------------------------------------------------- quantize


def quantize_graph(graph: Graph, config: QuantConfig, dtype: str) -> QGraph:
    """Quantize ``graph`` with ``config``'s scheme and ranges.

    Raises:
        ConfigError: a scheme/dtype pair that does not exist.
        ModelError: a tensor or weight that the format cannot hold.
    """
    if config.scheme not in SCHEMES:
        raise ConfigError(f"unknown quantization scheme {config.scheme!r}; known: "
                          f"{', '.join(SCHEMES)}")
    if dtype not in QDTYPES:
        raise ConfigError(f"{dtype} is not an integer dtype")
    if config.scheme == Scheme.AFFINE and dtype != DType.INT8:
        raise ConfigError("the affine scheme is int8 only (TFLite's int16 variant needs 64-bit "
                          "accumulators); use --quant pot for int16")
    graph = fuse_activations(graph)
    cal = config.calibration
    fmt = ((lambda lo, hi: pot_format(lo, hi, dtype)) if config.scheme == Scheme.POT
           else affine_format)

    if graph.spiking and config.scheme != Scheme.POT:
        raise ConfigError("spiking models quantize with the pot scheme (--quant pot): the "
                          "membrane potential, threshold and leak share one fixed-point format")
    tensors: dict[str, TensorQuant] = {graph.input_name: fmt(*cal.range_of(graph.input_name))}
    layers: list[QLayer] = []
    for layer in graph.layers:
        in_q = [tensors[t] for t in layer.inputs]
        if layer.op in SAME_FORMAT:
            out_q = in_q[0]
        elif layer.op == "lif":
            out_q = spike_format(dtype)
        elif layer.op == "li":  # the output is the potential: the state's format
            out_q = _li_format(layer, dtype, cal.range_of(layer.output))
        else:
            out_q = fmt(*cal.range_of(layer.output))
        tensors[layer.output] = out_q
        q = QLayer(layer=layer, in_q=in_q, out_q=out_q)
        if layer.op in ("conv1d", "conv2d", "linear"):
            if config.scheme == Scheme.POT:
                _pot_weights(q, dtype)
            else:
                _affine_weights(q)
        elif layer.op == "add":
            if config.scheme == Scheme.POT:
                _pot_add(q)
            else:
                _affine_add(q)
        elif layer.op == "lif":
            _pot_lif(q, dtype, cal.range_of(layer.name + STATE))
        elif layer.op == "li":
            _pot_li(q, dtype)
        _clamp(q, dtype)
        layers.append(q)
    qgraph = QGraph(scheme=config.scheme, dtype=dtype, graph=graph, layers=layers,
                    tensors=tensors)
    if graph.spiking:
        qgraph.readout_q = _readout_format(qgraph)
    return qgraph


def spike_format(dtype: str) -> TensorQuant:
    """Spikes and spike counts: integers, 1 is one spike."""
    return TensorQuant(dtype=dtype, scale=1.0, zero_point=0, frac_bits=0)


def _pot_lif(q: QLayer, dtype: str, state_range: tuple[float, float]) -> None:
    neuron = Neuron.from_params(q.layer.params["neuron"])
    f_i = q.in_q[0].frac_bits
    assert f_i is not None
    f_v = state_frac_bits(*state_range, neuron, _bits(dtype))
    lo, hi = QDTYPES[dtype]
    q.neuron = quantize_neuron(neuron, q.name, f_i, f_v, lo, hi)


def _li_format(layer: Layer, dtype: str, out_range: tuple[float, float]) -> TensorQuant:
    li = Integrator.from_params(layer.params["integrator"])
    f = state_frac_bits(*out_range, as_neuron(li), _bits(dtype))
    return TensorQuant(dtype=dtype, scale=2.0**-f, zero_point=0, frac_bits=f)


def _pot_li(q: QLayer, dtype: str) -> None:
    li = Integrator.from_params(q.layer.params["integrator"])
    f_i, f_v = q.in_q[0].frac_bits, q.out_q.frac_bits
    assert f_i is not None and f_v is not None
    lo, hi = QDTYPES[dtype]
    q.neuron = quantize_integrator(li, q.name, f_i, f_v, lo, hi)


def _readout_format(qgraph: QGraph) -> TensorQuant | None:
    graph = qgraph.graph
    if graph.readout == "spike_count":
        if graph.timesteps > QDTYPES[qgraph.dtype][1]:
            raise ModelError(f"{graph.timesteps} timesteps: a spike count per output does not "
                             f"fit {qgraph.dtype}; use fewer timesteps or --readout output_mean")
        return spike_format(qgraph.dtype)
    if graph.readout == "membrane_last":
        q = next(q for q in qgraph.layers if q.layer.output == graph.output)
        assert q.neuron is not None
        f = q.neuron.state_frac_bits
        return TensorQuant(dtype=qgraph.dtype, scale=2.0**-f, zero_point=0, frac_bits=f)
    return None  # output_mean: the output tensor's own format


def _clamp(q: QLayer, dtype: str) -> None:
    lo, hi = QDTYPES[dtype]
    act = q.layer.params.get("activation")
    if q.op in ("relu", "relu6"):
        act = q.op
    if q.op == "lif":  # spikes
        q.act_min, q.act_max = 0, 1
        return
    zero = q.out_q.zero_point
    if act in ("relu", "relu6"):
        lo = max(lo, zero)
    if act == "relu6":
        hi = min(hi, zero + round(6.0 / q.out_q.scale))
    q.act_min, q.act_max = lo, hi


def _check_bias(q: QLayer, bias: np.ndarray) -> np.ndarray:
    if np.any(np.abs(bias) > INT32_MAX // 2):
        worst = float(np.max(np.abs(q.layer.bias))) if q.layer.bias is not None else 0.0
        raise ModelError(f"layer {q.name!r}: bias up to {worst:g} overflows the 32-bit "
                         f"accumulator at its scale (output range {_range_text(q.out_q)}); "
                         f"the activations overflow the {q.out_q.dtype} format")
    return bias.astype(np.int32)


def _pot_weights(q: QLayer, dtype: str) -> None:
    layer = q.layer
    assert layer.weight is not None
    bits = _bits(dtype)
    f_x, f_y = q.in_q[0].frac_bits, q.out_q.frac_bits
    assert f_x is not None and f_y is not None
    f_w = frac_bits_for(float(np.max(np.abs(layer.weight))), bits)
    if dtype == DType.INT16:
        # Each bit of shift beyond 15 is a bit of accumulator above the
        # output's 16: keep the accumulator below 2**ACC_HEADROOM_BITS.
        f_w = min(f_w, ACC_HEADROOM_BITS - 15 + f_y - f_x)
    shift = f_x + f_w - f_y
    if shift > MAX_SHIFT:
        f_w -= shift - MAX_SHIFT
        shift = MAX_SHIFT
    if shift < -MAX_SHIFT:
        raise ModelError(f"layer {q.name!r}: output range needs {f_y} fractional bits but "
                         f"input x weight has only {f_x + f_w}: the activations overflow "
                         f"the {dtype} format")
    lo, hi = QDTYPES[dtype]
    q.weight = np.clip(np.rint(layer.weight.astype(np.float64) * 2.0**f_w), lo, hi).astype(dtype)
    if np.max(np.abs(q.weight), initial=0) < 4 and np.max(np.abs(layer.weight)) > 0:
        raise ModelError(
            f"layer {q.name!r}: its output range {_range_text(q.out_q)} is too wide for its "
            f"input range {_range_text(q.in_q[0])} and weights: they would keep under 2 bits; "
            f"the activations overflow the {dtype} format")
    bias = layer.bias if layer.bias is not None else np.zeros(layer.weight.shape[0])
    q.bias = _check_bias(q, np.rint(bias.astype(np.float64) * 2.0**(f_x + f_w)))
    n_out = layer.weight.shape[0]
    q.shift = np.full(n_out, shift, dtype=np.int32)
    q.extra["weight_frac_bits"] = f_w


def _range_text(t: TensorQuant) -> str:
    lo, hi = QDTYPES[t.dtype]
    return f"[{(lo - t.zero_point) * t.scale:.3g}, {(hi - t.zero_point) * t.scale:.3g}]"


def _affine_weights(q: QLayer) -> None:
    layer = q.layer
    assert layer.weight is not None
    w = layer.weight.astype(np.float64)
    n_out = w.shape[0]
    max_abs = np.max(np.abs(w.reshape(n_out, -1)), axis=1)
    s_w = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32).astype(np.float64)
    shape = (n_out,) + (1,) * (w.ndim - 1)
    q.weight = np.clip(np.rint(w / s_w.reshape(shape)), -127, 127).astype(np.int8)
    s_x, s_y = q.in_q[0].scale, q.out_q.scale
    bias = layer.bias if layer.bias is not None else np.zeros(n_out)
    q.bias = _check_bias(q, np.rint(bias.astype(np.float64) / (s_x * s_w)))
    pairs = [quantize_multiplier(s_x * float(sw) / s_y) for sw in s_w]
    q.mult = np.array([m for m, _ in pairs], dtype=np.int32)
    q.shift = np.array([s for _, s in pairs], dtype=np.int32)


def _pot_add(q: QLayer) -> None:
    fa, fb, fy = (t.frac_bits for t in (*q.in_q, q.out_q))
    assert fa is not None and fb is not None and fy is not None
    top = max(fa, fb)
    # The aligned sum must stay inside int32: the finer input may move up by
    # at most 30 - magnitude bits.
    room = 30 - _bits(q.out_q.dtype)
    if top - min(fa, fb) > room or abs(top - fy) > MAX_SHIFT:
        raise ModelError(f"layer {q.name!r}: the two inputs' ranges differ by more than "
                         f"2**{room}: the activations overflow the {q.out_q.dtype} format")
    # Align both inputs to the finer format, add, then shift to the output's.
    q.extra.update(a_left=top - fa, b_left=top - fb, shift=top - fy)


def _affine_add(q: QLayer) -> None:
    sa, sb, sy = q.in_q[0].scale, q.in_q[1].scale, q.out_q.scale
    twice_max = 2.0 * max(sa, sb)
    ma, sha = quantize_multiplier(sa / twice_max)
    mb, shb = quantize_multiplier(sb / twice_max)
    my, shy = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * sy))
    q.extra.update(a_offset=-q.in_q[0].zero_point, b_offset=-q.in_q[1].zero_point,
                   a_mult=ma, a_shift=sha, b_mult=mb, b_shift=shb, out_mult=my, out_shift=shy,
                   left_shift=ADD_LEFT_SHIFT)

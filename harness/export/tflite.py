"""Our int8 affine ``QGraph`` as a ``.tflite`` flatbuffer (TFLite Micro's
host interpreter, which runs it, is harness/engines/tflm/interpreter.py).

No TensorFlow converter: the flatbuffer is written with the schema classes
that the ``tflite-micro`` package ships (``pip install tflite-micro``; it
also brings ``flatbuffers``). The integer weights, int32 biases and
per-tensor formats are ours, so TFLM's reference kernels compute from the
same integers as ``harness.quant.reference.run_qgraph``; outputs are
compared bit for bit.

Layout: the IR is channels first, TFLite is NHWC. A 1-D signal (C, L) is a
(1, 1, L, C) tensor and 1-D convs/pools are 1xK 2-D ones. A flatten of a
tensor with both several channels and several positions changes order
(CHW vs HWC), so it becomes TRANSPOSE + RESHAPE.

Padding: TFLite knows only SAME and VALID. Explicit IR padding that SAME
reproduces (same output size, same leading pad) is SAME. Otherwise a pad
op runs first and the op is VALID: PAD with the zero point (a real zero)
for convs and average pools that count padding, PADV2 with -128 for max
pools. An average pool that leaves padding out of its counts becomes VALID
pools over SLICEs (each clipped border window alone), concatenated.

TFLM recomputes every requantization multiplier from the float32 scales
in the file, so the export checks that those recomputed constants equal
the QGraph's and raises ``EngineError`` naming the layer when they do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import EngineError, ModelError, ToolMissingError
from harness.kinds import DType, Scheme
from harness.model.ir import Shape, numel
from harness.quant import TensorQuant
from harness.quant.schemes import QGraph, QLayer

INSTALL_HINT = "pip install tflite-micro"
SLICED = -1  # not a TFLite padding: the pool is split into VALID pieces


def schema() -> Any:
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
    except ImportError as e:
        raise ToolMissingError(f"the TFLite Micro engine needs the tflite-micro package "
                               f"({INSTALL_HINT}): {e}") from e
    return s


# --------------------------------------------------------------------------- TFLM's arithmetic


def _tflite_round(x: float) -> int:
    """TfLiteRound / std::round: half away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def tflm_quantize_multiplier(real: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier as TFLM runs it (std::frexp, TfLiteRound)."""
    if real == 0.0:
        return 0, 0
    mant, shift = math.frexp(real)
    m = _tflite_round(mant * (1 << 31))
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return m, shift


def f32(x: float) -> float:
    """What a scale becomes once stored as a flatbuffer float."""
    return float(np.float32(x))


def tflm_activation_range(act: str | None, q: TensorQuant) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 with TFLM's float32 scale."""
    lo, hi = -128, 127
    scale = np.float32(q.scale)
    if act in ("relu", "relu6"):
        lo = max(lo, q.zero_point)
    if act == "relu6":
        hi = min(hi, q.zero_point + _tflite_round(float(np.float32(6.0) / scale)))
    return lo, hi


# --------------------------------------------------------------------------- layout


def nhwc_shape(shape: Shape) -> list[int]:
    """IR shape (no batch, channels first) -> TFLite shape with batch 1."""
    if len(shape) == 1:
        return [1, shape[0]]
    if len(shape) == 2:
        return [1, 1, shape[1], shape[0]]
    if len(shape) == 3:
        return [1, shape[1], shape[2], shape[0]]
    raise ModelError(f"a tensor of shape {shape} has no TFLite layout here (rank 1-3 only)")


def _cf4(shape: Shape) -> list[int]:
    """IR shape as 4-D NCHW (1-D signals as height 1)."""
    if len(shape) == 2:
        return [1, shape[0], 1, shape[1]]
    return [1, *shape]


def _order_differs(shape: Shape) -> bool:
    """Whether CHW and HWC orders of this IR shape differ in memory."""
    return len(shape) > 1 and shape[0] > 1 and numel(shape[1:]) > 1


def _hw(values: tuple[int, ...] | list[int], fill: int) -> tuple[int, int]:
    """A per-spatial-dim tuple as (height, width); 1-D ops get ``fill`` as height."""
    v = tuple(int(x) for x in values)
    return (fill, v[0]) if len(v) == 1 else (v[0], v[1])


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """(output size, leading pad) of TFLite SAME padding."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2


# --------------------------------------------------------------------------- builder


@dataclass
class _Builder:
    s: Any
    tensors: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=list)
    operators: list[Any] = field(default_factory=list)
    opcodes: dict[int, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)  # IR tensor -> TFLite tensor

    def __post_init__(self) -> None:
        self.buffers.append(self.s.BufferT())  # buffer 0: the empty sentinel

    def tensor(self, name: str, shape: list[int], ttype: int, quant: Any | None = None,
               data: np.ndarray | None = None) -> int:
        t = self.s.TensorT()
        t.name, t.shape, t.type, t.quantization = name, list(shape), ttype, quant
        if data is None:
            t.buffer = 0
        else:
            b = self.s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, name: str, shape: list[int], q: TensorQuant) -> int:
        return self.tensor(name, shape, self.s.TensorType.INT8, _per_tensor(self.s, q))

    def op(self, code: int, inputs: list[int], outputs: list[int],
           options_type: int = 0, options: Any = None) -> None:
        if code not in self.opcodes:
            self.opcodes[code] = len(self.opcodes)
        o = self.s.OperatorT()
        o.opcodeIndex = self.opcodes[code]
        o.inputs, o.outputs = inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.operators.append(o)

    def int32_const(self, name: str, values: list[int]) -> int:
        return self.tensor(name, [len(values)], self.s.TensorType.INT32,
                           data=np.array(values, dtype="<i4"))


def _per_tensor(s: Any, q: TensorQuant) -> Any:
    p = s.QuantizationParametersT()
    p.scale, p.zeroPoint = [f32(q.scale)], [int(q.zero_point)]
    return p


def _per_channel(s: Any, scales: np.ndarray, dim: int) -> Any:
    p = s.QuantizationParametersT()
    p.scale = [f32(x) for x in scales]
    p.zeroPoint = [0] * len(scales)
    p.quantizedDimension = dim
    return p


# --------------------------------------------------------------------------- export


def _weight_scales(q: QLayer) -> np.ndarray:
    """The per-channel weight scales the QGraph used (max|w| / 127)."""
    assert q.layer.weight is not None
    w = q.layer.weight.astype(np.float64).reshape(q.layer.weight.shape[0], -1)
    max_abs = np.max(np.abs(w), axis=1)
    return np.where(max_abs > 0, max_abs / 127.0, 1.0)


def _check_requant(q: QLayer, s_w: np.ndarray) -> None:
    """TFLM derives each channel's multiplier from float32 scales; ours came
    from float64 ones. Refuse a file that would compute something else."""
    assert q.mult is not None and q.shift is not None
    s_x, s_y = f32(q.in_q[0].scale), f32(q.out_q.scale)
    for c, sw in enumerate(s_w):
        m, sh = tflm_quantize_multiplier(s_x * f32(float(sw)) / s_y)
        if (m, sh) != (int(q.mult[c]), int(q.shift[c])):
            raise EngineError(
                f"layer {q.name!r}, channel {c}: TFLM would requantize with multiplier "
                f"{m}*2^{sh - 31} (from float32 scales) where ours is "
                f"{int(q.mult[c])}*2^{int(q.shift[c]) - 31}; outputs would differ")


def _check_add(q: QLayer) -> None:
    sa, sb, sy = (f32(t.scale) for t in (*q.in_q, q.out_q))
    twice_max = 2.0 * max(sa, sb)
    want = (tflm_quantize_multiplier(sa / twice_max), tflm_quantize_multiplier(sb / twice_max),
            tflm_quantize_multiplier(twice_max / ((1 << q.extra["left_shift"]) * sy)))
    e = q.extra
    ours = ((e["a_mult"], e["a_shift"]), (e["b_mult"], e["b_shift"]),
            (e["out_mult"], e["out_shift"]))
    if want != ours:
        raise EngineError(f"layer {q.name!r}: TFLM's ADD constants {want} (from float32 "
                          f"scales) differ from ours {ours}; outputs would differ")


def _fused(s: Any, q: QLayer) -> int:
    act = q.layer.params.get("activation")
    if (q.act_min, q.act_max) != tflm_activation_range(act, q.out_q):
        raise EngineError(f"layer {q.name!r}: our clamp [{q.act_min}, {q.act_max}] is not "
                          f"TFLite's {act or 'no activation'} range "
                          f"{list(tflm_activation_range(act, q.out_q))}")
    a = s.ActivationFunctionType
    return {None: a.NONE, "relu": a.RELU, "relu6": a.RELU6}[act]


def _padding(b: _Builder, q: QLayer, x: int, in_shape: Shape, kernel: tuple[int, int],
             stride: tuple[int, int]) -> tuple[int, int]:
    """Decide SAME/VALID for a windowed op; insert a PAD when neither fits.

    Returns (padding enum or SLICED, input tensor id)."""
    s = b.s
    pads = _hw(q.layer.params["padding"], 0)
    if not any(pads):
        return s.Padding.VALID, x
    _, h, w, _ = nhwc_shape(in_shape)
    out = nhwc_shape(q.layer.out_shape)
    count_pad = q.op.startswith("avgpool") and q.layer.params.get("count_include_pad", True)
    same = [_same_pads(n, k, st) for n, k, st in zip((h, w), kernel, stride, strict=True)]
    if not count_pad and all(o == out[1 + i] and lead == pads[i]
                             for i, (o, lead) in enumerate(same)):
        return s.Padding.SAME, x
    if q.op.startswith("avgpool") and not count_pad:
        return SLICED, x
    paddings = b.tensor(f"{q.name}/paddings", [4, 2], s.TensorType.INT32,
                        data=np.array([[0, 0], [pads[0], pads[0]], [pads[1], pads[1]], [0, 0]],
                                      dtype="<i4"))
    shape = [1, h + 2 * pads[0], w + 2 * pads[1], nhwc_shape(in_shape)[3]]
    y = b.act(f"{q.name}/padded", shape, q.in_q[0])
    if q.op.startswith("maxpool"):
        # Max pool padding never wins: PADV2 with the smallest int8, as the reference.
        low = b.tensor(f"{q.name}/pad_value", [], s.TensorType.INT8,
                       _per_tensor(s, q.in_q[0]), np.array([-128], dtype=np.int8))
        b.op(s.BuiltinOperator.PADV2, [x, paddings, low], [y], s.BuiltinOptions.PadV2Options,
             s.PadV2OptionsT())
    else:
        # PAD fills with the zero point (the input's format): a real zero.
        b.op(s.BuiltinOperator.PAD, [x, paddings], [y], s.BuiltinOptions.PadOptions,
             s.PadOptionsT())
    return s.Padding.VALID, y


def _conv(b: _Builder, q: QLayer) -> None:
    s = b.s
    layer = q.layer
    assert q.weight is not None and q.bias is not None
    x = b.ids[layer.inputs[0]]
    in_shape = layer.in_shapes[0]
    kernel, stride = _hw(layer.params["kernel"], 1), _hw(layer.params["stride"], 1)
    if any(int(d) != 1 for d in layer.params.get("dilation", (1,))):
        raise ModelError(f"layer {q.name!r}: dilated convolutions are not exported")
    padding, x = _padding(b, q, x, in_shape, kernel, stride)
    s_w = _weight_scales(q)
    _check_requant(q, s_w)
    fused = _fused(s, q)
    c_in, c_out, groups = in_shape[0], q.weight.shape[0], int(layer.params["groups"])
    w = q.weight.reshape(c_out, -1, *kernel)  # (O, I/g, kh, kw)
    depthwise = groups == c_in and groups > 1
    s_x = f32(q.in_q[0].scale)
    bias_q = _per_channel(s, np.array([s_x * f32(float(v)) for v in s_w]), 0)
    bias = b.tensor(f"{q.name}/bias", [c_out], s.TensorType.INT32, bias_q,
                    q.bias.astype("<i4"))
    y = b.act(layer.output, nhwc_shape(layer.out_shape), q.out_q)
    if depthwise:
        wt = b.tensor(f"{q.name}/weight", [1, *kernel, c_out], s.TensorType.INT8,
                      _per_channel(s, s_w, 3), np.transpose(w[:, 0], (1, 2, 0)))
        o = s.DepthwiseConv2DOptionsT()
        o.depthMultiplier = c_out // c_in
        kind = s.BuiltinOperator.DEPTHWISE_CONV_2D
        opt_type = s.BuiltinOptions.DepthwiseConv2DOptions
    else:
        wt = b.tensor(f"{q.name}/weight", [c_out, *kernel, w.shape[1]], s.TensorType.INT8,
                      _per_channel(s, s_w, 0), np.transpose(w, (0, 2, 3, 1)))
        o = s.Conv2DOptionsT()
        kind, opt_type = s.BuiltinOperator.CONV_2D, s.BuiltinOptions.Conv2DOptions
    o.padding, o.strideH, o.strideW = padding, stride[0], stride[1]
    o.dilationHFactor = o.dilationWFactor = 1
    o.fusedActivationFunction = fused
    b.op(kind, [x, wt, bias], [y], opt_type, o)
    b.ids[layer.output] = y


def _linear(b: _Builder, q: QLayer) -> None:
    s = b.s
    assert q.weight is not None and q.bias is not None
    layer = q.layer
    x = b.ids[layer.inputs[0]]
    if len(layer.in_shapes[0]) != 1:
        raise ModelError(f"layer {q.name!r}: a linear layer on a {layer.in_shapes[0]} tensor "
                         f"is not exported (flatten first)")
    s_w = _weight_scales(q)
    _check_requant(q, s_w)
    o = s.FullyConnectedOptionsT()
    o.fusedActivationFunction = _fused(s, q)
    s_x = f32(q.in_q[0].scale)
    wt = b.tensor(f"{q.name}/weight", list(q.weight.shape), s.TensorType.INT8,
                  _per_channel(s, s_w, 0), q.weight)
    bias = b.tensor(f"{q.name}/bias", [q.weight.shape[0]], s.TensorType.INT32,
                    _per_channel(s, np.array([s_x * f32(float(v)) for v in s_w]), 0),
                    q.bias.astype("<i4"))
    y = b.act(layer.output, nhwc_shape(layer.out_shape), q.out_q)
    b.op(s.BuiltinOperator.FULLY_CONNECTED, [x, wt, bias], [y],
         s.BuiltinOptions.FullyConnectedOptions, o)
    b.ids[layer.output] = y


def _pool(b: _Builder, q: QLayer) -> None:
    s = b.s
    layer = q.layer
    x = b.ids[layer.inputs[0]]
    in_shape = layer.in_shapes[0]
    o = s.Pool2DOptionsT()
    o.fusedActivationFunction = _fused(s, q)
    if layer.op == "global_avgpool":
        _, h, w, _ = nhwc_shape(in_shape)
        kernel, stride, padding = (h, w), (1, 1), s.Padding.VALID
    else:
        kernel, stride = _hw(layer.params["kernel"], 1), _hw(layer.params["stride"], 1)
        padding, x = _padding(b, q, x, in_shape, kernel, stride)
    if padding == SLICED:
        b.ids[layer.output] = _avgpool_pieces(b, q, x, kernel, stride)
        return
    o.padding, o.strideH, o.strideW = padding, stride[0], stride[1]
    o.filterHeight, o.filterWidth = kernel
    kind = (s.BuiltinOperator.MAX_POOL_2D if layer.op.startswith("maxpool")
            else s.BuiltinOperator.AVERAGE_POOL_2D)
    pooled_shape = [1, 1, 1, in_shape[0]] if layer.op == "global_avgpool" \
        else nhwc_shape(layer.out_shape)
    final = nhwc_shape(layer.out_shape)
    y = b.act(layer.output if pooled_shape == final else f"{q.name}/pooled", pooled_shape,
              q.out_q)
    b.op(kind, [x], [y], s.BuiltinOptions.Pool2DOptions, o)
    if pooled_shape != final:
        y = _reshape_to(b, y, final, layer.output, q.out_q)
    b.ids[layer.output] = y


def _segments(n: int, k: int, s: int, p: int, n_out: int) -> list[tuple[int, int, int, int]]:
    """Split one axis of a padded, pad-excluding pool into runs TFLite can pool
    VALID: (input start, input stop, kernel, stride) per run, in output order."""
    runs: list[tuple[int, int, int, int]] = []
    full: list[int] = []
    for o in range(n_out):
        start = o * s - p
        lo, hi = max(start, 0), min(start + k, n)
        if lo == start and hi == start + k:
            full.append(start)
            continue
        if full:
            runs.append((full[0], full[-1] + k, k, s))
            full = []
        runs.append((lo, hi, hi - lo, 1))
    if full:
        runs.append((full[0], full[-1] + k, k, s))
    return runs


def _avgpool_pieces(b: _Builder, q: QLayer, x: int, kernel: tuple[int, int],
                    stride: tuple[int, int]) -> int:
    """An average pool that leaves padding out of its counts, with padding
    SAME does not reproduce: VALID pools over slices (full windows in runs,
    clipped border windows alone, each with its own count), concatenated."""
    s = b.s
    layer = q.layer
    _, h, w, c = nhwc_shape(layer.in_shapes[0])
    _, oh, ow, _ = nhwc_shape(layer.out_shape)
    pads = _hw(layer.params["padding"], 0)
    rows = _segments(h, kernel[0], stride[0], pads[0], oh)
    cols = _segments(w, kernel[1], stride[1], pads[1], ow)
    qt = q.out_q
    row_ids: list[tuple[int, int]] = []
    for i, (r0, r1, kh, sh) in enumerate(rows):
        pieces: list[tuple[int, int]] = []
        for j, (c0, c1, kw, sw) in enumerate(cols):
            name = f"{q.name}/piece{i}_{j}"
            sl = b.act(f"{name}/in", [1, r1 - r0, c1 - c0, c], qt)
            b.op(s.BuiltinOperator.SLICE,
                 [x, b.int32_const(f"{name}/begin", [0, r0, c0, 0]),
                  b.int32_const(f"{name}/size", [1, r1 - r0, c1 - c0, c])], [sl],
                 s.BuiltinOptions.SliceOptions, s.SliceOptionsT())
            ph, pw = (r1 - r0 - kh) // sh + 1, (c1 - c0 - kw) // sw + 1
            y = b.act(name, [1, ph, pw, c], qt)
            o = s.Pool2DOptionsT()
            o.padding, o.strideH, o.strideW = s.Padding.VALID, sh, sw
            o.filterHeight, o.filterWidth = kh, kw
            o.fusedActivationFunction = s.ActivationFunctionType.NONE
            b.op(s.BuiltinOperator.AVERAGE_POOL_2D, [sl], [y], s.BuiltinOptions.Pool2DOptions, o)
            pieces.append((y, pw))
        ph = (r1 - r0 - kh) // sh + 1
        row_ids.append((_concat(b, pieces, 2, [1, ph, ow, c], f"{q.name}/row{i}", qt), ph))
    return _concat(b, row_ids, 1, [1, oh, ow, c], layer.output, qt)


def _concat(b: _Builder, parts: list[tuple[int, int]], axis: int, shape: list[int],
            name: str, qt: TensorQuant) -> int:
    """Concatenate ``parts`` (tensor id, extent along ``axis``) into ``shape``."""
    s = b.s
    if len(parts) == 1:
        return parts[0][0]
    y = b.act(name, shape, qt)
    o = s.ConcatenationOptionsT()
    o.axis = axis
    o.fusedActivationFunction = s.ActivationFunctionType.NONE
    b.op(s.BuiltinOperator.CONCATENATION, [i for i, _ in parts], [y],
         s.BuiltinOptions.ConcatenationOptions, o)
    return y


def _reshape_to(b: _Builder, x: int, shape: list[int], name: str, q: TensorQuant) -> int:
    s = b.s
    y = b.act(name, shape, q)
    o = s.ReshapeOptionsT()
    o.newShape = list(shape)
    b.op(s.BuiltinOperator.RESHAPE, [x, b.int32_const(f"{name}/shape", list(shape))], [y],
         s.BuiltinOptions.ReshapeOptions, o)
    return y


def _transpose(b: _Builder, x: int, shape: list[int], perm: list[int], name: str,
               q: TensorQuant) -> int:
    s = b.s
    y = b.act(name, shape, q)
    b.op(s.BuiltinOperator.TRANSPOSE, [x, b.int32_const(f"{name}/perm", perm)], [y],
         s.BuiltinOptions.TransposeOptions, s.TransposeOptionsT())
    return y


def _reshape(b: _Builder, q: QLayer) -> None:
    """flatten/reshape: a relabel of a C-order (channels-first) buffer. In
    NHWC it is one too unless channel and position orders differ."""
    layer = q.layer
    src, dst = tuple(layer.in_shapes[0]), tuple(layer.out_shape)
    x = b.ids[layer.inputs[0]]
    qt = q.out_q
    if _order_differs(src):
        x = _transpose(b, x, _cf4(src), [0, 3, 1, 2], f"{q.name}/nchw", qt)
    if _order_differs(dst):
        x = _reshape_to(b, x, _cf4(dst), f"{q.name}/nchw_out", qt)
        y = _transpose(b, x, nhwc_shape(dst), [0, 2, 3, 1], layer.output, qt)
    else:
        y = _reshape_to(b, x, nhwc_shape(dst), layer.output, qt)
    b.ids[layer.output] = y


def _relu(b: _Builder, q: QLayer) -> None:
    """A ReLU/ReLU6 nothing could absorb: TFLite's own op, same format in and out."""
    s = b.s
    want = tflm_activation_range(q.op, q.out_q)
    if (q.act_min, q.act_max) != want:
        raise EngineError(f"layer {q.name!r}: our clamp [{q.act_min}, {q.act_max}] is not "
                          f"TFLite's {q.op} range {list(want)}")
    y = b.act(q.layer.output, nhwc_shape(q.layer.out_shape), q.out_q)
    kind = s.BuiltinOperator.RELU if q.op == "relu" else s.BuiltinOperator.RELU6
    b.op(kind, [b.ids[q.layer.inputs[0]]], [y])
    b.ids[q.layer.output] = y


def _add(b: _Builder, q: QLayer) -> None:
    s = b.s
    layer = q.layer
    _check_add(q)
    o = s.AddOptionsT()
    o.fusedActivationFunction = _fused(s, q)
    y = b.act(layer.output, nhwc_shape(layer.out_shape), q.out_q)
    b.op(s.BuiltinOperator.ADD, [b.ids[t] for t in layer.inputs], [y],
         s.BuiltinOptions.AddOptions, o)
    b.ids[layer.output] = y


_EXPORTERS = {
    "conv1d": _conv, "conv2d": _conv, "linear": _linear,
    "maxpool1d": _pool, "maxpool2d": _pool, "avgpool1d": _pool, "avgpool2d": _pool,
    "global_avgpool": _pool, "flatten": _reshape, "reshape": _reshape, "add": _add,
    "relu": _relu, "relu6": _relu,
}


def export_tflite(qgraph: QGraph) -> bytes:
    """Write ``qgraph`` (int8, affine scheme) as a ``.tflite`` flatbuffer.

    Raises:
        ToolMissingError: tflite-micro (schema classes) is not installed.
        ModelError: an op or layout this export cannot express.
        EngineError: TFLM would derive different requantization constants.
    """
    if qgraph.scheme != Scheme.AFFINE or qgraph.dtype != DType.INT8:
        raise EngineError(f"TFLite Micro runs int8 affine graphs; this one is "
                          f"{qgraph.dtype} {qgraph.scheme} (use --dtype int8 --quant affine)")
    s = schema()
    import flatbuffers

    b = _Builder(s)
    graph = qgraph.graph
    b.ids[graph.input_name] = b.act(graph.input_name, nhwc_shape(graph.input_shape),
                                    qgraph.input_q)
    for q in qgraph.layers:
        exporter = _EXPORTERS.get(q.op)
        if exporter is None:
            raise ModelError(f"layer {q.name!r}: op {q.op!r} has no TFLite export")
        exporter(b, q)

    sub = s.SubGraphT()
    sub.tensors, sub.operators = b.tensors, b.operators
    sub.inputs, sub.outputs = [b.ids[graph.input_name]], [b.ids[graph.output]]
    sub.name = "main"
    model = s.ModelT()
    model.version = 3
    model.description = "bench: exported from its int8 affine QGraph"
    model.subgraphs, model.buffers = [sub], b.buffers
    codes = []
    for code, _ in sorted(b.opcodes.items(), key=lambda kv: kv[1]):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
        codes.append(c)
    model.operatorCodes = codes
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())

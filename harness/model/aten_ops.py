"""ATen op handlers: one function per ATen op (or family) that turns the op
into IR layers, and the table that picks them by op name.

A new supported op is one handler here plus its line in HANDLERS; the
lowering (harness/model/lower.py) walks the graph and calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from harness.errors import ModelError
from harness.model.ir import Layer, Shape, numel
from harness.model.neuron import Neuron

SUPPORTED = (
    "Conv1d, Conv2d (stride, zero padding, groups), Linear, ReLU, ReLU6/hardtanh(0,6), "
    "MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, BatchNorm after Conv/Linear, "
    "Flatten/view/reshape, residual add, Dropout/Identity; spiking neurons: snnTorch Leaky, "
    "SpikingJelly IFNode/LIFNode"
)


@dataclass(frozen=True)
class Act:
    """An activation tensor flowing through the graph (shape without batch)."""

    name: str
    shape: Shape


@dataclass(frozen=True)
class Multi:
    """A tuple-returning op (batch_norm legit, max_pool with indices): only [0] is used."""

    first: Act


@dataclass(frozen=True)
class Membrane:
    """The membrane potential a neuron returns beside its spikes: bench keeps
    it inside the neuron, so it may only be returned (a readout), never read."""

    spikes: Act



# ATen ops that pass their input through, and those that only relabel a buffer.
IDENTITY = {"clone", "contiguous", "alias", "detach", "dropout", "feature_dropout",
             "alpha_dropout", "feature_alpha_dropout", "lift_fresh_copy", "_to_copy", "to"}
RESHAPES = {"view", "reshape", "_unsafe_view", "flatten", "squeeze", "unsqueeze"}

def base_name(node: torch.fx.Node) -> str:
    """The ATen op's name without namespace and overload: "conv2d"."""
    t = node.target
    if isinstance(t, torch._ops.OpOverload):
        return t._schema.name.split("::")[-1]
    return getattr(t, "__name__", str(t))


def _ints(value: Any, n: int, what: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    vals = tuple(int(v) for v in value)
    if len(vals) == 1 and n > 1:
        vals = vals * n
    if len(vals) != n:
        raise ValueError(f"{what} has {len(vals)} values, expected {n}")
    return vals


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


# --------------------------------------------------------------------------- op handlers

class Lowering(Protocol):
    """What a handler may ask of the lowering that calls it
    (harness/model/lower.py)."""

    batch: int | None  # the batch size the program was exported with, if static
    producer_node: dict[str, torch.fx.Node]  # layer name -> the node that made it
    neurons: list[tuple[str, Neuron]]  # (module path, neuron) by the index bench::neuron carries

    def unsupported(self, node: torch.fx.Node, why: str | None = None) -> ModelError: ...

    def act(self, node: torch.fx.Node, value: Any, what: str = "input") -> Act: ...

    def const(self, node: torch.fx.Node, value: Any, what: str) -> np.ndarray | None: ...

    def add_layer(self, node: torch.fx.Node, op: str, inputs: list[Act], out_shape: Shape,
                  params: dict[str, Any] | None = None, weight: np.ndarray | None = None,
                  bias: np.ndarray | None = None) -> Act: ...

    def producer(self, act: Act) -> Layer | None: ...

    def name_layer(self, act: Act, name: str) -> Act: ...


# A handler lowers one ATen op: (lowering, node, arguments by schema name).
Handler = Callable[[Lowering, torch.fx.Node, dict[str, Any]], Any]


def _h_conv(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["input"])
    weight = lw.const(node, a["weight"], "the conv weight")
    bias = lw.const(node, a.get("bias"), "the conv bias")
    assert weight is not None
    nd = weight.ndim - 2
    if nd not in (1, 2) or len(x.shape) != nd + 1:
        raise lw.unsupported(node, f"{nd}-D convolution on input {x.shape} is not supported")
    if a.get("transposed"):
        raise lw.unsupported(node, "transposed convolution is not supported")
    if a.get("output_padding") is not None and any(_ints(a["output_padding"], nd, "op")):
        raise lw.unsupported(node, "output_padding is not supported")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _ints(a["stride"], nd, "stride")
    dilation = _ints(a["dilation"], nd, "dilation")
    if any(d != 1 for d in dilation):
        raise lw.unsupported(node, f"dilation {dilation} is not supported (only 1)")
    padding_arg = a["padding"]
    if isinstance(padding_arg, str):
        if padding_arg == "valid":
            padding = (0,) * nd
        elif padding_arg == "same" and all(k % 2 == 1 for k in kernel):
            padding = tuple(k // 2 for k in kernel)
        else:
            raise lw.unsupported(node, f"padding={padding_arg!r} with kernel {kernel}")
    else:
        padding = _ints(padding_arg, nd, "padding")
    groups = int(a["groups"])
    cin = x.shape[0]
    if weight.shape[1] * groups != cin:
        raise lw.unsupported(node, f"weight {weight.shape} does not match {cin} input channels")
    out_sp = tuple(
        _conv_out(x.shape[1 + i], kernel[i], stride[i], padding[i]) for i in range(nd)
    )
    if any(o <= 0 for o in out_sp):
        raise lw.unsupported(node, f"kernel {kernel} larger than padded input {x.shape}")
    params = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
              "groups": groups, "activation": None}
    op = "conv1d" if nd == 1 else "conv2d"
    return lw.add_layer(node, op, [x], (weight.shape[0], *out_sp), params, weight, bias)


def _h_linear(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["input"])
    weight = lw.const(node, a["weight"], "the linear weight")
    bias = lw.const(node, a.get("bias"), "the linear bias")
    return _linear(lw, node, x, weight, bias)


def _linear(
    lw: Lowering, node: torch.fx.Node, x: Act, weight: np.ndarray | None, bias: np.ndarray | None
) -> Act:
    assert weight is not None
    if len(x.shape) != 1:
        raise lw.unsupported(
            node, f"Linear on a {len(x.shape) + 1}-D tensor (flatten to (N, features) first)"
        )
    if weight.ndim != 2 or weight.shape[1] != x.shape[0]:
        raise lw.unsupported(node, f"weight {weight.shape} does not match input {x.shape}")
    if bias is not None:
        bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    return lw.add_layer(node, "linear", [x], (weight.shape[0],), {"activation": None}, weight, bias)


def _h_addmm(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
        raise lw.unsupported(node, "addmm with alpha/beta != 1")
    x = lw.act(node, a["mat1"])
    wt = lw.const(node, a["mat2"], "the matrix operand")
    bias = lw.const(node, a["self"], "the bias")
    assert wt is not None
    return _linear(lw, node, x, wt.T, bias)


def _h_mm(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    other = a.get("mat2", a.get("other"))
    x = lw.act(node, a["self"])
    wt = lw.const(node, other, "the matrix operand")
    assert wt is not None
    if wt.ndim != 2:
        raise lw.unsupported(node, "matmul with a non-2-D constant")
    return _linear(lw, node, x, wt.T, None)


def _h_batch_norm(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    x = lw.act(node, a["input"])
    if a.get("training"):
        raise lw.unsupported(
            node, "BatchNorm in training mode: call model.eval() before torch.export"
        )
    mean = lw.const(node, a.get("running_mean"), "running_mean")
    var = lw.const(node, a.get("running_var"), "running_var")
    if mean is None or var is None:
        raise lw.unsupported(node, "BatchNorm without running statistics cannot be folded")
    gamma = lw.const(node, a.get("weight"), "the BatchNorm weight")
    beta = lw.const(node, a.get("bias"), "the BatchNorm bias")
    eps = float(a["eps"])
    src = lw.producer(x)
    src_node = lw.producer_node.get(x.name)
    if (
        src is None
        or src.op not in ("conv1d", "conv2d", "linear")
        or src.params.get("activation") is not None
        or src_node is None
        or len(src_node.users) != 1
    ):
        raise lw.unsupported(
            node,
            "BatchNorm can only be folded when it directly follows a Conv1d/Conv2d/Linear "
            "whose output feeds nothing else",
        )
    assert src.weight is not None
    c = src.weight.shape[0]
    # Fold in float64, cast once: folding must not add error of its own.
    scale = (np.ones(c) if gamma is None else gamma) / np.sqrt(var + eps)
    shift = np.zeros(c) if beta is None else beta
    w = src.weight.astype(np.float64) * scale.reshape((c,) + (1,) * (src.weight.ndim - 1))
    b = np.zeros(c) if src.bias is None else src.bias.astype(np.float64)
    src.weight = w.astype(np.float32)
    src.bias = ((b - mean) * scale + shift).astype(np.float32)
    # The conv's tensor now stands for the BN output; new readers of it are fine.
    lw.producer_node[x.name] = node
    if base_name(node) == "batch_norm":
        return x
    return Multi(x)


def _h_relu(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["self"])
    return lw.add_layer(node, "relu", [x], x.shape)


def _h_relu6(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["self"])
    return lw.add_layer(node, "relu6", [x], x.shape)


def _clamp_like(lw: Lowering, node: torch.fx.Node, x: Act, lo: Any, hi: Any) -> Act:
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo == 0.0 and hi is None:
        return lw.add_layer(node, "relu", [x], x.shape)
    if lo == 0.0 and hi == 6.0:
        return lw.add_layer(node, "relu6", [x], x.shape)
    raise lw.unsupported(node, f"clamp to [{lo}, {hi}] (only [0, inf) = ReLU and [0, 6] = ReLU6)")


def _h_hardtanh(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    return _clamp_like(lw, node, lw.act(node, a["self"]), a["min_val"], a["max_val"])


def _h_clamp(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    if any(isinstance(a.get(k), (torch.Tensor, Act)) for k in ("min", "max")):
        raise lw.unsupported(node, "clamp with tensor bounds")
    return _clamp_like(lw, node, lw.act(node, a["self"]), a.get("min"), a.get("max"))


def _h_clamp_min(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    return _clamp_like(lw, node, lw.act(node, a["self"]), a["min"], None)


def _pool_geometry(
    lw: Lowering, node: torch.fx.Node, x: Act, a: dict[str, Any], nd: int
) -> tuple[dict[str, Any], Shape]:
    if len(x.shape) != nd + 1:
        raise lw.unsupported(node, f"{nd}-D pooling on input of shape {x.shape}")
    kernel = _ints(a["kernel_size"], nd, "kernel_size")
    stride = _ints(a["stride"], nd, "stride") if a.get("stride") else kernel
    padding = _ints(a.get("padding", 0), nd, "padding")
    dilation = _ints(a.get("dilation", 1) or 1, nd, "dilation")
    if any(d != 1 for d in dilation):
        raise lw.unsupported(node, f"pooling dilation {dilation} is not supported (only 1)")
    if a.get("ceil_mode"):
        raise lw.unsupported(node, "ceil_mode=True pooling is not supported (use ceil_mode=False)")
    out_sp = tuple(_conv_out(x.shape[1 + i], kernel[i], stride[i], padding[i]) for i in range(nd))
    if any(o <= 0 for o in out_sp):
        raise lw.unsupported(node, f"pool kernel {kernel} larger than input {x.shape}")
    return {"kernel": kernel, "stride": stride, "padding": padding}, (x.shape[0], *out_sp)


def _make_pool(kind: str, nd: int, with_indices: bool = False) -> Handler:
    def handler(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
        x = lw.act(node, a["self"])
        params, out_shape = _pool_geometry(lw, node, x, a, nd)
        if kind == "avg":
            if a.get("divisor_override") is not None:
                raise lw.unsupported(node, "divisor_override is not supported")
            params["count_include_pad"] = bool(a.get("count_include_pad", True))
        out = lw.add_layer(node, f"{kind}pool{nd}d", [x], out_shape, params)
        return Multi(out) if with_indices else out

    return handler


def _h_adaptive_avg(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["self"])
    nd = len(x.shape) - 1
    out_size = _ints(a["output_size"], nd, "output_size")
    if all(o == 1 for o in out_size):
        return lw.add_layer(node, "global_avgpool", [x], (x.shape[0], *out_size))
    in_sp = x.shape[1:]
    if all(o is not None and o > 0 and s % o == 0 for s, o in zip(in_sp, out_size, strict=True)):
        # Evenly divisible: exactly an average pool with kernel = stride = in/out.
        kernel = tuple(s // o for s, o in zip(in_sp, out_size, strict=True))
        params = {"kernel": kernel, "stride": kernel, "padding": (0,) * nd,
                  "count_include_pad": True}
        return lw.add_layer(node, f"avgpool{nd}d", [x], (x.shape[0], *out_size), params)
    raise lw.unsupported(node, f"adaptive pooling {in_sp} -> {out_size} (not evenly divisible)")


def _h_mean(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a["self"])
    rank = len(x.shape) + 1  # with batch
    dims = a.get("dim")
    if dims is None:
        raise lw.unsupported(node, "mean over all dims (batch included) is not supported")
    dims = [int(d) % rank for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
    if len(x.shape) < 2 or sorted(dims) != list(range(2, rank)) or a.get("dtype") is not None:
        raise lw.unsupported(node, "mean is only supported over all spatial dims (global average)")
    keep = bool(a.get("keepdim", False))
    out = (x.shape[0], *([1] * (rank - 2))) if keep else (x.shape[0],)
    return lw.add_layer(node, "global_avgpool", [x], out)


def _h_reshape(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    x = lw.act(node, a.get("self", a.get("input")))
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor):
        full = tuple(val.shape)
    else:
        full = _static_reshape(lw, node, x, a)
    if len(full) < 2:
        raise lw.unsupported(node, "drops the batch dimension (use x.view(x.size(0), -1))")
    try:
        shape = tuple(int(d) for d in full[1:])
    except (TypeError, ValueError):
        raise lw.unsupported(node, "reshape to a dynamic non-batch shape") from None
    if isinstance(full[0], int) and full[0] != (lw.batch or 1) or numel(shape) != numel(x.shape):
        raise lw.unsupported(node, "mixes the batch dimension into the features")
    op = "flatten" if len(shape) == 1 else "reshape"
    return lw.add_layer(node, op, [x], shape)


def _static_reshape(lw: Lowering, node: torch.fx.Node, x: Act, a: dict[str, Any]) -> tuple:
    # Without export's metadata: let torch compute the shape on a meta tensor.
    args = [torch.empty((1, *x.shape), device="meta")]
    rest = [v for k, v in a.items() if k not in ("self", "input")]
    try:
        return tuple(node.target(*args, *rest).shape)  # type: ignore[operator]
    except Exception as e:
        raise lw.unsupported(node, f"cannot infer the reshape: {e}") from e


def _h_sym_size(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> int:
    """x.size(d) of an activation, e.g. for x.view(x.size(0), -1) with a dynamic batch."""
    x = lw.act(node, a["self"])
    dim = int(a["dim"]) % (len(x.shape) + 1)
    return 1 if dim == 0 else x.shape[dim - 1]


def _h_identity(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    first = next(iter(a.values()))
    x = lw.act(node, first)
    if base_name(node) in ("_to_copy", "to") and a.get("dtype") not in (None, torch.float32):
        raise lw.unsupported(node, f"casts activations to {a.get('dtype')}")
    return Multi(x) if base_name(node) == "native_dropout" else x


def _h_add(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    lhs, rhs = a["self"], a["other"]
    if a.get("alpha", 1) != 1:
        raise lw.unsupported(node, "add with alpha != 1")
    if isinstance(lhs, (Act, Multi)) and isinstance(rhs, (Act, Multi)):
        x, y = lw.act(node, lhs), lw.act(node, rhs)
        if x.shape != y.shape:
            raise lw.unsupported(node, f"broadcasting add {x.shape} + {y.shape}")
        return lw.add_layer(node, "add", [x, y], x.shape, {"activation": None})
    x = lw.act(node, lhs if isinstance(lhs, (Act, Multi)) else rhs)
    const = rhs if isinstance(lhs, (Act, Multi)) else lhs
    return _fold_bias(lw, node, x, const)


def _fold_bias(lw: Lowering, node: torch.fx.Node, x: Act, const: Any) -> Act:
    """``linear_or_conv(x) + constant``: absorb a per-channel constant into the bias."""
    src = lw.producer(x)
    src_node = lw.producer_node.get(x.name)
    value = np.asarray(const.detach().double().numpy() if isinstance(const, torch.Tensor)
                       else const, dtype=np.float64)
    if src is not None and src.op in ("linear", "conv1d", "conv2d") and src_node is not None \
            and len(src_node.users) == 1 and src.params.get("activation") is None:
        c = x.shape[0]
        per_channel: np.ndarray | None = None
        if value.size == 1:
            per_channel = np.full(c, float(value.reshape(-1)[0]))
        elif src.op == "linear" and value.size == c and value.shape[-1] == c:
            per_channel = value.reshape(c)
        elif src.op != "linear" and value.size == c and value.ndim >= len(x.shape) \
                and value.shape[-len(x.shape)] == c:
            per_channel = value.reshape(c)
        if per_channel is not None:
            b = np.zeros(c) if src.bias is None else src.bias.astype(np.float64)
            src.bias = (b + per_channel).astype(np.float32)
            lw.producer_node[x.name] = node
            return x
    raise lw.unsupported(node, "adding a constant is only supported as a conv/linear bias")


def _h_neuron(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Act:
    """bench::neuron (harness/model/snn.py): one layer of spiking neurons."""
    x = lw.act(node, a["x"], "input current")
    index = int(a["index"])
    if not 0 <= index < len(lw.neurons):
        raise lw.unsupported(node, f"names neuron {index}, which the model does not have")
    path, neuron = lw.neurons[index]
    out = lw.add_layer(node, "lif", [x], x.shape, {"neuron": neuron.params()})
    return lw.name_layer(out, path)


def _h_membrane(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Membrane:
    return Membrane(lw.act(node, a["x"]))


def _h_pad(lw: Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    base = base_name(node)
    mode = str(a.get("mode") or "constant")
    for word in ("reflect", "replicat", "circular"):
        if word in base:
            mode = word if word != "replicat" else "replicate"
    if mode == "constant":
        why = "explicit padding is not supported; use the conv/pool padding argument"
    else:
        why = f"padding mode {mode!r} is not supported (only zeros)"
    raise lw.unsupported(node, why)


HANDLERS: dict[str, Handler] = {
    "conv1d": _h_conv,
    "conv2d": _h_conv,
    "convolution": _h_conv,
    "_convolution": _h_conv,
    "linear": _h_linear,
    "addmm": _h_addmm,
    "mm": _h_mm,
    "matmul": _h_mm,
    "batch_norm": _h_batch_norm,
    "_native_batch_norm_legit_no_training": _h_batch_norm,
    "relu": _h_relu,
    "relu6": _h_relu6,
    "hardtanh": _h_hardtanh,
    "clamp": _h_clamp,
    "clamp_min": _h_clamp_min,
    "max_pool1d": _make_pool("max", 1),
    "max_pool2d": _make_pool("max", 2),
    "max_pool2d_with_indices": _make_pool("max", 2, with_indices=True),
    "avg_pool1d": _make_pool("avg", 1),
    "avg_pool2d": _make_pool("avg", 2),
    "adaptive_avg_pool1d": _h_adaptive_avg,
    "adaptive_avg_pool2d": _h_adaptive_avg,
    "_adaptive_avg_pool2d": _h_adaptive_avg,
    "mean": _h_mean,
    "add": _h_add,
    "native_dropout": _h_identity,
    "sym_size": _h_sym_size,
    "neuron": _h_neuron,
    "membrane": _h_membrane,
    **{name: _h_pad for name in ("pad", "constant_pad_nd", "reflection_pad1d",
                                 "reflection_pad2d", "replication_pad1d", "replication_pad2d",
                                 "_pad_circular")},
    **{name: _h_identity for name in IDENTITY},
    **{name: _h_reshape for name in RESHAPES},
}

"""Model import: a user's PyTorch model -> graph IR.

Both model kinds go through one lowering. A ``file.py:factory`` module is
exported with ``torch.export`` (after ``.eval()``); a ``.pt2`` file already is
an exported program. Either way we walk the ATen graph of ``ep.module()``,
so there is one set of op handlers, tested once, and module paths come from
the ``nn_module_stack`` metadata export keeps for every node.

Handled ATen forms include the pre-dispatch ops ``torch.export`` emits by
default (conv2d, linear, batch_norm, max_pool2d, ...) and the core-ATen forms
of a decomposed program (convolution, addmm/mm, _native_batch_norm_legit_no_
training, max_pool2d_with_indices, mean.dim, squeeze/unsqueeze).
"""

from __future__ import annotations

import hashlib
import importlib.util
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.errors import ModelError
from harness.model.ir import Graph, Layer, Shape, numel, simplify

SUPPORTED = (
    "Conv1d, Conv2d (stride, zero padding, groups), Linear, ReLU, ReLU6/hardtanh(0,6), "
    "MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, BatchNorm after Conv/Linear, "
    "Flatten/view/reshape, residual add, Dropout/Identity"
)


# --------------------------------------------------------------------------- loading


def load_model(spec: str) -> tuple[torch.nn.Module, Shape]:
    """Load ``path/to/file.py:factory`` or ``model.pt2``.

    Returns:
        (module, input_shape). For a ``.pt2`` the module is ``ep.module()``,
        an ATen GraphModule that ``import_graph`` walks as is.
    """
    if spec.endswith(".pt2") and ":" not in Path(spec).name:
        return _load_pt2(Path(spec))
    path_str, sep, factory_name = spec.rpartition(":")
    if not sep or not path_str.endswith(".py") or not factory_name:
        raise ModelError(
            f"model spec {spec!r} must be 'path/to/file.py:factory' or a torch.export '.pt2' file"
        )
    return _load_factory(Path(path_str), factory_name)


def _load_factory(path: Path, factory_name: str) -> tuple[torch.nn.Module, Shape]:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} not found")
    path = path.resolve()
    # A private module name per file: two model files may share a stem.
    mod_name = "bench_user_model_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses/pickle inside the file work; the directory is
    # on sys.path only while the file runs, for its sibling imports.
    sys.modules[mod_name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise ModelError(f"importing {str(path)!r} failed: {type(e).__name__}: {e}") from e
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            del sys.path[0]
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ModelError(f"{str(path)!r} has no callable {factory_name!r}")
    try:
        model = factory()
    except Exception as e:
        raise ModelError(f"{factory_name}() failed: {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise ModelError(f"{factory_name}() returned {type(model).__name__}, not a torch.nn.Module")
    shape = getattr(model, "input_shape", None)
    if shape is None:
        shape = getattr(factory, "input_shape", None)
    if shape is None:
        raise ModelError(
            f"{factory_name}() in {path.name}: set an 'input_shape' attribute (without the "
            "batch dim, e.g. (6, 128) or (1, 8, 8)) on the returned module or on the factory"
        )
    return model, _check_shape(shape, f"{factory_name}().input_shape")


def _check_shape(shape: Any, what: str) -> Shape:
    try:
        out = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{what} must be a tuple of ints, got {shape!r}") from e
    if not out or any(d <= 0 for d in out):
        raise ModelError(f"{what} must be non-empty positive sizes, got {shape!r}")
    return out


def _load_pt2(path: Path) -> tuple[torch.nn.Module, Shape]:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} not found")
    try:
        ep = torch.export.load(str(path))
    except Exception as e:
        raise ModelError(f"cannot load {path.name} with torch.export.load: {e}") from e
    user_inputs = list(ep.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise ModelError(f"{path.name}: the model takes {len(user_inputs)} inputs; bench needs one")
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"}
    val = vals.get(user_inputs[0])
    if not isinstance(val, torch.Tensor) or val.dim() < 2:
        raise ModelError(f"{path.name}: the input must be a tensor with a batch dimension")
    try:
        shape = tuple(int(d) for d in val.shape[1:])
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path.name}: only the batch dimension may be dynamic") from e
    return ep.module(), _check_shape(shape, f"{path.name} input shape")


# --------------------------------------------------------------------------- lowering


@dataclass(frozen=True)
class _Act:
    """An activation tensor flowing through the graph (shape without batch)."""

    name: str
    shape: Shape


@dataclass(frozen=True)
class _Multi:
    """A tuple-returning op (batch_norm legit, max_pool with indices): only [0] is used."""

    first: _Act


_ASSERTS = {"_assert_tensor_metadata", "_assert_scalar", "_assert_async", "sym_constrain_range",
            "sym_constrain_range_for_size"}
# Nodes that are not layers (not counted in "layer k of n").
_PLUMBING = _ASSERTS | {"sym_size", "sym_numel", "sym_stride"}
_IDENTITY = {"clone", "contiguous", "alias", "detach", "dropout", "feature_dropout",
             "alpha_dropout", "feature_alpha_dropout", "lift_fresh_copy", "_to_copy", "to"}
_RESHAPES = {"view", "reshape", "_unsafe_view", "flatten", "squeeze", "unsqueeze"}


def import_graph(module: Any, input_shape: Shape, *, verify: bool = True) -> Graph:
    """Lower a model to the IR.

    Args:
        module: an ``nn.Module`` (exported here after ``.eval()``), an
            ``ExportedProgram``, or the ATen GraphModule of ``ep.module()``.
        input_shape: input shape without the batch dim.
        verify: run torch and the numpy reference once on a random input and
            insist they agree (a guard against lowering mistakes).

    Raises:
        ModelError: unsupported layer or parameter, naming the layer.
    """
    input_shape = _check_shape(input_shape, "input_shape")
    gm = _aten_module(module, input_shape)
    graph = _Lowering(gm, input_shape).run()
    graph = simplify(graph)
    try:
        graph.validate()
    except ValueError as e:  # a bug in the lowering, reported as such
        raise ModelError(f"internal: lowered graph is inconsistent: {e}") from e
    if verify:
        _verify(gm, graph)
    return graph


def _is_aten_graph(module: Any) -> bool:
    return isinstance(module, torch.fx.GraphModule) and any(
        isinstance(n.target, torch._ops.OpOverload) for n in module.graph.nodes
    )


def _aten_module(module: Any, input_shape: Shape) -> torch.fx.GraphModule:
    if isinstance(module, torch.export.ExportedProgram):
        return module.module()
    if _is_aten_graph(module):
        return module
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"expected a torch.nn.Module, got {type(module).__name__}")
    module.eval()  # BatchNorm must use running stats, Dropout must be off
    example = (torch.zeros((1, *input_shape)),)
    try:
        ep = torch.export.export(module, example)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"torch.export could not trace {type(module).__name__} with input shape "
            f"{tuple(input_shape)}: {first}"
        ) from e
    return ep.module()


def _verify(gm: torch.fx.GraphModule, graph: Graph) -> None:
    from harness.model.reference import run_graph

    # A .pt2 may be specialised to the batch size it was exported with.
    vals = [n.meta.get("val") for n in gm.graph.nodes if n.op == "placeholder"]
    batch = (_static_batch(vals[0]) if vals and isinstance(vals[0], torch.Tensor) else None) or 1
    x = torch.randn((batch, *graph.input_shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = gm(x)
    if isinstance(want, (tuple, list)):
        want = want[0]
    want = want.detach().float().reshape(batch, -1).numpy()
    got = run_graph(graph, x.numpy())
    if got.shape != want.shape:
        raise ModelError(f"internal: output shape {got.shape[1:]} != torch's {want.shape[1:]}")
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    if not np.allclose(got, want, rtol=0, atol=1e-3 * scale):
        err = float(np.abs(got - want).max())
        raise ModelError(f"internal: imported graph disagrees with torch (max abs diff {err:.3g})")


def _static_batch(val: torch.Tensor) -> int | None:
    dim = val.shape[0] if val.dim() else None
    return dim if isinstance(dim, int) else None


def _full_type(type_name: Any) -> str:
    if isinstance(type_name, type):
        return f"{type_name.__module__}.{type_name.__qualname__}"
    return str(type_name)


def _op_name(node: torch.fx.Node) -> str:
    t = node.target
    if isinstance(t, torch._ops.OpOverload):
        return f"aten.{t._schema.name.split('::')[-1]}" + (
            f".{t._overloadname}" if t._overloadname != "default" else ""
        )
    return getattr(t, "__name__", str(t))


def _base_name(node: torch.fx.Node) -> str:
    t = node.target
    if isinstance(t, torch._ops.OpOverload):
        return t._schema.name.split("::")[-1]
    return getattr(t, "__name__", str(t))


_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}


def _innermost(node: torch.fx.Node) -> tuple[str, str, bool]:
    """(module path, class name, is a torch.nn layer) of the module running ``node``.

    A torch.nn layer is named by its module path; inside a user's block (whose
    forward calls functional ops) the ops are named by their node names.
    """
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", "", False
    path, type_name = list(stack.values())[-1]
    if str(path).startswith("_empty_nn_module_stack"):  # export's placeholder entry
        return "", "", False
    full = _full_type(type_name)
    short = full.rsplit(".", 1)[-1]
    return str(path), short, full.startswith("torch.nn.") and short not in _CONTAINERS


@dataclass
class _Lowering:
    gm: torch.fx.GraphModule
    input_shape: Shape
    env: dict[torch.fx.Node, Any] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    producer_node: dict[str, torch.fx.Node] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    position: dict[torch.fx.Node, int] = field(default_factory=dict)
    total: int = 0
    batch: int | None = None  # the batch size the program was exported with, if static

    # ---- driving

    def run(self) -> Graph:
        nodes = list(self.gm.graph.nodes)
        placeholders = [n for n in nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ModelError(f"the model takes {len(placeholders)} inputs; bench needs exactly one")
        self._number_layers(nodes)
        output_value: Any = None
        for node in nodes:
            if node.op == "placeholder":
                self._check_input(node)
                self.env[node] = _Act("input", self.input_shape)
            elif node.op == "get_attr":
                self.env[node] = self._fetch_attr(str(node.target))
            elif node.op == "call_module":
                if node.users:
                    raise self._unsupported(node, "calls a submodule export did not inline")
                # e.g. ep.module()'s _guards_fn input check: not part of the model
            elif node.op == "call_function":
                self.env[node] = self._call(node)
            elif node.op == "output":
                output_value = node.args[0]
        return self._finish(output_value)

    def _number_layers(self, nodes: list[torch.fx.Node]) -> None:
        """Positions for error messages: ops that touch activations, in order."""
        dynamic: set[torch.fx.Node] = set()
        for node in nodes:
            if node.op == "placeholder":
                dynamic.add(node)
            elif node.op == "call_function" and any(a in dynamic for a in node.all_input_nodes):
                dynamic.add(node)
                if node.target is not operator.getitem and _base_name(node) not in _PLUMBING:
                    self.total += 1
                    self.position[node] = self.total

    def _check_input(self, node: torch.fx.Node) -> None:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            if val.dtype != torch.float32:
                raise ModelError(f"the model input is {val.dtype}; bench needs float32")
            self.batch = _static_batch(val)

    def _finish(self, out: Any) -> Graph:
        if isinstance(out, (tuple, list)):
            if len(out) != 1:
                raise ModelError(f"the model returns {len(out)} values; bench needs one tensor")
            out = out[0]
        value = self.env.get(out) if isinstance(out, torch.fx.Node) else None
        if not isinstance(value, _Act):
            raise ModelError("the model output must be a tensor computed from the input")
        return Graph(input_shape=self.input_shape, layers=self.layers, output=value.name)

    def _fetch_attr(self, target: str) -> Any:
        obj: Any = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj.detach() if isinstance(obj, torch.Tensor) else obj

    # ---- messages

    def _where(self, node: torch.fx.Node) -> str:
        path, type_name, leaf = _innermost(node)
        op = _op_name(node)
        pos = self.position.get(node)
        at = f" at layer {pos} of {self.total}" if pos else ""
        if path and leaf:
            return f"layer {path!r} ({type_name}, {op}){at}"
        inside = f" in module {path!r} ({type_name})" if path else ""
        return f"operation {node.name!r} ({op}){inside}{at}"

    def _unsupported(self, node: torch.fx.Node, why: str | None = None) -> ModelError:
        what = self._where(node)
        if why:
            return ModelError(f"{what}: {why}")
        return ModelError(f"unsupported {what}; supported: {SUPPORTED}")

    def _layer_name(self, node: torch.fx.Node, op: str) -> str:
        path, type_name, leaf = _innermost(node)
        # Decomposed 1-D ops wrap the real op in unsqueeze/squeeze: the module
        # path names the real op, the wrappers get their node names.
        helper = op in ("flatten", "reshape") and type_name not in ("Flatten", "Unflatten")
        if path and leaf and not helper:
            base = path
        elif path:
            base = f"{path}.{node.name}"
        else:
            base = node.name
        name, k = base, 2
        while name in self.names:  # a module called twice (a shared nn.ReLU)
            name = f"{base}#{k}"
            k += 1
        self.names.add(name)
        return name

    # ---- node dispatch

    def _args(self, node: torch.fx.Node) -> dict[str, Any]:
        """Arguments by schema name, defaults filled in, nodes replaced by values."""
        target = node.target
        assert isinstance(target, torch._ops.OpOverload)
        bound: dict[str, Any] = {}
        for i, arg in enumerate(target._schema.arguments):
            if i < len(node.args):
                value = node.args[i]
            elif arg.name in node.kwargs:
                value = node.kwargs[arg.name]
            elif arg.has_default_value():
                value = arg.default_value
            else:
                value = None
            bound[arg.name] = self._resolve(value)
        return bound

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, torch.fx.Node):
            return self.env[value]
        if isinstance(value, (list, tuple)):
            return type(value)(self._resolve(v) for v in value)
        return value

    def _call(self, node: torch.fx.Node) -> Any:
        args = [self._resolve(a) for a in node.args]
        kwargs = {k: self._resolve(v) for k, v in node.kwargs.items()}
        has_act = any(isinstance(v, (_Act, _Multi)) for v in _flatten(args, kwargs))
        if node.target is operator.getitem:
            return self._getitem(node, args)
        if _base_name(node) in _ASSERTS:
            return None
        if not has_act:
            # Only constants in: fold now (weight permutes, sym sizes, zeros).
            return self._fold_constant(node, args, kwargs)
        base = _base_name(node)
        if not isinstance(node.target, torch._ops.OpOverload):
            raise self._unsupported(node)
        handler = _HANDLERS.get(base.rstrip("_"))
        if handler is None:
            raise self._unsupported(node)
        try:
            value = handler(self, node, self._args(node))
        except ValueError as e:  # malformed op arguments (e.g. wrong stride arity)
            raise self._unsupported(node, str(e)) from e
        if isinstance(value, _Act):
            self._check_shape(node, value.shape)
        return value

    def _fold_constant(self, node: torch.fx.Node, args: list[Any], kwargs: dict[str, Any]) -> Any:
        target = node.target
        if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
            # e.g. num_batches_tracked += 1: never mutate the user's buffers.
            args = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        try:
            with torch.no_grad():
                out = target(*args, **kwargs)  # type: ignore[operator]
        except Exception as e:
            raise self._unsupported(node, f"could not evaluate constant expression: {e}") from e
        return out.detach() if isinstance(out, torch.Tensor) else out

    def _getitem(self, node: torch.fx.Node, args: list[Any]) -> Any:
        src, index = args
        if isinstance(src, _Multi):
            if index != 0:
                if node.users:
                    raise self._unsupported(node, "uses a secondary output (e.g. pooling indices)")
                return None
            return src.first
        if isinstance(src, _Act):
            raise self._unsupported(node, "indexing/slicing activations is not supported")
        return src[index]

    def _check_shape(self, node: torch.fx.Node, shape: Shape) -> None:
        """Our shape inference must agree with export's recorded shapes."""
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            return
        full = tuple(val.shape)
        if len(full) < 2:
            raise self._unsupported(node, "drops the batch dimension (use x.view(x.size(0), -1))")
        if isinstance(full[0], int) and full[0] != (self.batch or 1):
            raise self._unsupported(node, "mixes the batch dimension into the features")
        try:
            torch_shape = tuple(int(d) for d in full[1:])
        except (TypeError, ValueError):
            raise self._unsupported(node, "has a dynamic non-batch dimension") from None
        if torch_shape != tuple(shape):
            raise ModelError(
                f"internal: {self._where(node)}: inferred shape {shape} != torch's {torch_shape}"
            )

    # ---- helpers for handlers

    def act(self, node: torch.fx.Node, value: Any, what: str = "input") -> _Act:
        if isinstance(value, _Multi):
            return value.first
        if not isinstance(value, _Act):
            raise self._unsupported(node, f"expects an activation tensor as {what}")
        return value

    def const(self, node: torch.fx.Node, value: Any, what: str) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, (_Act, _Multi)):
            raise self._unsupported(node, f"{what} must be a constant (a parameter), not computed")
        if not isinstance(value, torch.Tensor):
            raise self._unsupported(node, f"{what} must be a tensor")
        arr = value.detach().to(torch.float64).numpy()
        if not np.isfinite(arr).all():
            raise self._unsupported(node, f"{what} contains NaN or Inf")
        return arr

    def add_layer(
        self,
        node: torch.fx.Node,
        op: str,
        inputs: list[_Act],
        out_shape: Shape,
        params: dict[str, Any] | None = None,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> _Act:
        name = self._layer_name(node, op)
        layer = Layer(
            name=name,
            op=op,
            inputs=[a.name for a in inputs],
            output=name,
            in_shapes=[a.shape for a in inputs],
            out_shape=tuple(int(d) for d in out_shape),
            params=params or {},
            weight=None if weight is None else np.ascontiguousarray(weight, dtype=np.float32),
            bias=None if bias is None else np.ascontiguousarray(bias, dtype=np.float32),
        )
        self.layers.append(layer)
        self.producer_node[name] = node
        return _Act(name, layer.out_shape)

    def producer(self, act: _Act) -> Layer | None:
        for layer in reversed(self.layers):
            if layer.output == act.name:
                return layer
        return None


def _flatten(args: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    stack: list[Any] = [*args, *kwargs.values()]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        else:
            out.append(v)
    return out


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

Handler = Callable[[_Lowering, torch.fx.Node, dict[str, Any]], Any]


def _h_conv(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a["input"])
    weight = lw.const(node, a["weight"], "the conv weight")
    bias = lw.const(node, a.get("bias"), "the conv bias")
    assert weight is not None
    nd = weight.ndim - 2
    if nd not in (1, 2) or len(x.shape) != nd + 1:
        raise lw._unsupported(node, f"{nd}-D convolution on input {x.shape} is not supported")
    if a.get("transposed"):
        raise lw._unsupported(node, "transposed convolution is not supported")
    if a.get("output_padding") is not None and any(_ints(a["output_padding"], nd, "op")):
        raise lw._unsupported(node, "output_padding is not supported")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _ints(a["stride"], nd, "stride")
    dilation = _ints(a["dilation"], nd, "dilation")
    if any(d != 1 for d in dilation):
        raise lw._unsupported(node, f"dilation {dilation} is not supported (only 1)")
    padding_arg = a["padding"]
    if isinstance(padding_arg, str):
        if padding_arg == "valid":
            padding = (0,) * nd
        elif padding_arg == "same" and all(k % 2 == 1 for k in kernel):
            padding = tuple(k // 2 for k in kernel)
        else:
            raise lw._unsupported(node, f"padding={padding_arg!r} with kernel {kernel}")
    else:
        padding = _ints(padding_arg, nd, "padding")
    groups = int(a["groups"])
    cin = x.shape[0]
    if weight.shape[1] * groups != cin:
        raise lw._unsupported(node, f"weight {weight.shape} does not match {cin} input channels")
    out_sp = tuple(
        _conv_out(x.shape[1 + i], kernel[i], stride[i], padding[i]) for i in range(nd)
    )
    if any(o <= 0 for o in out_sp):
        raise lw._unsupported(node, f"kernel {kernel} larger than padded input {x.shape}")
    params = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
              "groups": groups, "activation": None}
    op = "conv1d" if nd == 1 else "conv2d"
    return lw.add_layer(node, op, [x], (weight.shape[0], *out_sp), params, weight, bias)


def _h_linear(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a["input"])
    weight = lw.const(node, a["weight"], "the linear weight")
    bias = lw.const(node, a.get("bias"), "the linear bias")
    return _linear(lw, node, x, weight, bias)


def _linear(
    lw: _Lowering, node: torch.fx.Node, x: _Act, weight: np.ndarray | None, bias: np.ndarray | None
) -> _Act:
    assert weight is not None
    if len(x.shape) != 1:
        raise lw._unsupported(
            node, f"Linear on a {len(x.shape) + 1}-D tensor (flatten to (N, features) first)"
        )
    if weight.ndim != 2 or weight.shape[1] != x.shape[0]:
        raise lw._unsupported(node, f"weight {weight.shape} does not match input {x.shape}")
    if bias is not None:
        bias = np.broadcast_to(bias, (weight.shape[0],)).copy()
    return lw.add_layer(node, "linear", [x], (weight.shape[0],), {"activation": None}, weight, bias)


def _h_addmm(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    if a.get("beta", 1) != 1 or a.get("alpha", 1) != 1:
        raise lw._unsupported(node, "addmm with alpha/beta != 1")
    x = lw.act(node, a["mat1"])
    wt = lw.const(node, a["mat2"], "the matrix operand")
    bias = lw.const(node, a["self"], "the bias")
    assert wt is not None
    return _linear(lw, node, x, wt.T, bias)


def _h_mm(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    other = a.get("mat2", a.get("other"))
    x = lw.act(node, a["self"])
    wt = lw.const(node, other, "the matrix operand")
    assert wt is not None
    if wt.ndim != 2:
        raise lw._unsupported(node, "matmul with a non-2-D constant")
    return _linear(lw, node, x, wt.T, None)


def _h_batch_norm(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    x = lw.act(node, a["input"])
    if a.get("training"):
        raise lw._unsupported(
            node, "BatchNorm in training mode: call model.eval() before torch.export"
        )
    mean = lw.const(node, a.get("running_mean"), "running_mean")
    var = lw.const(node, a.get("running_var"), "running_var")
    if mean is None or var is None:
        raise lw._unsupported(node, "BatchNorm without running statistics cannot be folded")
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
        raise lw._unsupported(
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
    if _base_name(node) == "batch_norm":
        return x
    return _Multi(x)


def _h_relu(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a["self"])
    return lw.add_layer(node, "relu", [x], x.shape)


def _h_relu6(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a["self"])
    return lw.add_layer(node, "relu6", [x], x.shape)


def _clamp_like(lw: _Lowering, node: torch.fx.Node, x: _Act, lo: Any, hi: Any) -> _Act:
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo == 0.0 and hi is None:
        return lw.add_layer(node, "relu", [x], x.shape)
    if lo == 0.0 and hi == 6.0:
        return lw.add_layer(node, "relu6", [x], x.shape)
    raise lw._unsupported(node, f"clamp to [{lo}, {hi}] (only [0, inf) = ReLU and [0, 6] = ReLU6)")


def _h_hardtanh(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    return _clamp_like(lw, node, lw.act(node, a["self"]), a["min_val"], a["max_val"])


def _h_clamp(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    if any(isinstance(a.get(k), (torch.Tensor, _Act)) for k in ("min", "max")):
        raise lw._unsupported(node, "clamp with tensor bounds")
    return _clamp_like(lw, node, lw.act(node, a["self"]), a.get("min"), a.get("max"))


def _h_clamp_min(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    return _clamp_like(lw, node, lw.act(node, a["self"]), a["min"], None)


def _pool_geometry(
    lw: _Lowering, node: torch.fx.Node, x: _Act, a: dict[str, Any], nd: int
) -> tuple[dict[str, Any], Shape]:
    if len(x.shape) != nd + 1:
        raise lw._unsupported(node, f"{nd}-D pooling on input of shape {x.shape}")
    kernel = _ints(a["kernel_size"], nd, "kernel_size")
    stride = _ints(a["stride"], nd, "stride") if a.get("stride") else kernel
    padding = _ints(a.get("padding", 0), nd, "padding")
    dilation = _ints(a.get("dilation", 1) or 1, nd, "dilation")
    if any(d != 1 for d in dilation):
        raise lw._unsupported(node, f"pooling dilation {dilation} is not supported (only 1)")
    if a.get("ceil_mode"):
        raise lw._unsupported(node, "ceil_mode=True pooling is not supported (use ceil_mode=False)")
    out_sp = tuple(_conv_out(x.shape[1 + i], kernel[i], stride[i], padding[i]) for i in range(nd))
    if any(o <= 0 for o in out_sp):
        raise lw._unsupported(node, f"pool kernel {kernel} larger than input {x.shape}")
    return {"kernel": kernel, "stride": stride, "padding": padding}, (x.shape[0], *out_sp)


def _make_pool(kind: str, nd: int, with_indices: bool = False) -> Handler:
    def handler(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
        x = lw.act(node, a["self"])
        params, out_shape = _pool_geometry(lw, node, x, a, nd)
        if kind == "avg":
            if a.get("divisor_override") is not None:
                raise lw._unsupported(node, "divisor_override is not supported")
            params["count_include_pad"] = bool(a.get("count_include_pad", True))
        out = lw.add_layer(node, f"{kind}pool{nd}d", [x], out_shape, params)
        return _Multi(out) if with_indices else out

    return handler


def _h_adaptive_avg(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
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
    raise lw._unsupported(node, f"adaptive pooling {in_sp} -> {out_size} (not evenly divisible)")


def _h_mean(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a["self"])
    rank = len(x.shape) + 1  # with batch
    dims = a.get("dim")
    if dims is None:
        raise lw._unsupported(node, "mean over all dims (batch included) is not supported")
    dims = [int(d) % rank for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
    if len(x.shape) < 2 or sorted(dims) != list(range(2, rank)) or a.get("dtype") is not None:
        raise lw._unsupported(node, "mean is only supported over all spatial dims (global average)")
    keep = bool(a.get("keepdim", False))
    out = (x.shape[0], *([1] * (rank - 2))) if keep else (x.shape[0],)
    return lw.add_layer(node, "global_avgpool", [x], out)


def _h_reshape(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    x = lw.act(node, a.get("self", a.get("input")))
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor):
        full = tuple(val.shape)
    else:
        full = _static_reshape(lw, node, x, a)
    if len(full) < 2:
        raise lw._unsupported(node, "drops the batch dimension (use x.view(x.size(0), -1))")
    try:
        shape = tuple(int(d) for d in full[1:])
    except (TypeError, ValueError):
        raise lw._unsupported(node, "reshape to a dynamic non-batch shape") from None
    if isinstance(full[0], int) and full[0] != (lw.batch or 1) or numel(shape) != numel(x.shape):
        raise lw._unsupported(node, "mixes the batch dimension into the features")
    op = "flatten" if len(shape) == 1 else "reshape"
    return lw.add_layer(node, op, [x], shape)


def _static_reshape(lw: _Lowering, node: torch.fx.Node, x: _Act, a: dict[str, Any]) -> tuple:
    # Without export's metadata: let torch compute the shape on a meta tensor.
    args = [torch.empty((1, *x.shape), device="meta")]
    rest = [v for k, v in a.items() if k not in ("self", "input")]
    try:
        return tuple(node.target(*args, *rest).shape)  # type: ignore[operator]
    except Exception as e:
        raise lw._unsupported(node, f"cannot infer the reshape: {e}") from e


def _h_sym_size(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> int:
    """x.size(d) of an activation, e.g. for x.view(x.size(0), -1) with a dynamic batch."""
    x = lw.act(node, a["self"])
    dim = int(a["dim"]) % (len(x.shape) + 1)
    return 1 if dim == 0 else x.shape[dim - 1]


def _h_identity(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    first = next(iter(a.values()))
    x = lw.act(node, first)
    if _base_name(node) in ("_to_copy", "to") and a.get("dtype") not in (None, torch.float32):
        raise lw._unsupported(node, f"casts activations to {a.get('dtype')}")
    return _Multi(x) if _base_name(node) == "native_dropout" else x


def _h_add(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> _Act:
    lhs, rhs = a["self"], a["other"]
    if a.get("alpha", 1) != 1:
        raise lw._unsupported(node, "add with alpha != 1")
    if isinstance(lhs, (_Act, _Multi)) and isinstance(rhs, (_Act, _Multi)):
        x, y = lw.act(node, lhs), lw.act(node, rhs)
        if x.shape != y.shape:
            raise lw._unsupported(node, f"broadcasting add {x.shape} + {y.shape}")
        return lw.add_layer(node, "add", [x, y], x.shape, {"activation": None})
    x = lw.act(node, lhs if isinstance(lhs, (_Act, _Multi)) else rhs)
    const = rhs if isinstance(lhs, (_Act, _Multi)) else lhs
    return _fold_bias(lw, node, x, const)


def _fold_bias(lw: _Lowering, node: torch.fx.Node, x: _Act, const: Any) -> _Act:
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
    raise lw._unsupported(node, "adding a constant is only supported as a conv/linear bias")


def _h_pad(lw: _Lowering, node: torch.fx.Node, a: dict[str, Any]) -> Any:
    base = _base_name(node)
    mode = str(a.get("mode") or "constant")
    for word in ("reflect", "replicat", "circular"):
        if word in base:
            mode = word if word != "replicat" else "replicate"
    if mode == "constant":
        why = "explicit padding is not supported; use the conv/pool padding argument"
    else:
        why = f"padding mode {mode!r} is not supported (only zeros)"
    raise lw._unsupported(node, why)


_HANDLERS: dict[str, Handler] = {
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
    **{name: _h_pad for name in ("pad", "constant_pad_nd", "reflection_pad1d",
                                 "reflection_pad2d", "replication_pad1d", "replication_pad2d",
                                 "_pad_circular")},
    **{name: _h_identity for name in _IDENTITY},
    **{name: _h_reshape for name in _RESHAPES},
}

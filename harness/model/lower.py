"""Lowering: an exported PyTorch program -> graph IR.

Both model kinds (harness/model/load.py) go through one lowering. A module
is exported with ``torch.export`` (after ``.eval()``); a ``.pt2`` file
already is an exported program. Either way we walk the ATen graph of
``ep.module()``, so there is one set of op handlers (harness/model/aten_ops.py),
tested once, and module paths come from the ``nn_module_stack`` metadata
export keeps for every node.

Handled ATen forms include the pre-dispatch ops ``torch.export`` emits by
default (conv2d, linear, batch_norm, max_pool2d, ...) and the core-ATen forms
of a decomposed program (convolution, addmm/mm, _native_batch_norm_legit_no_
training, max_pool2d_with_indices, mean.dim, squeeze/unsqueeze).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.errors import ModelError
from harness.model.aten_ops import HANDLERS, SUPPORTED, Act, Membrane, Multi, base_name
from harness.model.ir import Graph, Layer, Shape, simplify
from harness.model.neuron import Neuron

_ASSERTS = {"_assert_tensor_metadata", "_assert_scalar", "_assert_async", "sym_constrain_range",
            "sym_constrain_range_for_size"}
# Nodes that are not layers (not counted in "layer k of n").
_PLUMBING = _ASSERTS | {"sym_size", "sym_numel", "sym_stride"}



def check_shape(shape: Any, what: str) -> Shape:
    try:
        out = tuple(int(d) for d in shape)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{what} must be a tuple of ints, got {shape!r}") from e
    if not out or any(d <= 0 for d in out):
        raise ModelError(f"{what} must be non-empty positive sizes, got {shape!r}")
    return out


def import_graph(module: Any, input_shape: Shape, *, verify: bool = True,
                 neurons: list[tuple[str, Neuron]] | None = None) -> Graph:
    """Lower a model to the IR.

    Args:
        module: an ``nn.Module`` (exported here after ``.eval()``), an
            ``ExportedProgram``, or the ATen GraphModule of ``ep.module()``.
        input_shape: input shape without the batch dim.
        verify: run torch and the numpy reference once on a random input and
            insist they agree (a guard against lowering mistakes).
        neurons: a spiking model's neurons by the index its markers carry
            (harness/model/snn.py swapped them in); None for other models.

    Raises:
        ModelError: unsupported layer or parameter, naming the layer.
    """
    input_shape = check_shape(input_shape, "input_shape")
    gm = _aten_module(module, input_shape)
    graph = _Lowering(gm, input_shape, neurons=list(neurons or [])).run()
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
    # SpikingJelly's layer.* wrap the torch.nn layers of the same name.
    leaf = full.startswith(("torch.nn.", "spikingjelly.activation_based.layer."))
    return str(path), short, leaf and short not in _CONTAINERS


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
    neurons: list[tuple[str, Neuron]] = field(default_factory=list)  # spiking models

    # ---- driving

    def run(self) -> Graph:
        nodes = list(self.gm.graph.nodes)
        placeholders = [n for n in nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise ModelError(f"the model takes {len(placeholders)} inputs; bench needs exactly one")
        self._number_layers(nodes)
        if self.neurons:
            self._check_one_step(nodes)
        output_value: Any = None
        for node in nodes:
            if node.op == "placeholder":
                self._check_input(node)
                self.env[node] = Act("input", self.input_shape)
            elif node.op == "get_attr":
                self.env[node] = self._fetch_attr(str(node.target))
            elif node.op == "call_module":
                if node.users:
                    raise self.unsupported(node, "calls a submodule export did not inline")
                # e.g. ep.module()'s _guards_fn input check: not part of the model
            elif node.op == "call_function":
                self.env[node] = self._call(node)
            elif node.op == "output":
                output_value = node.args[0]
        return self._finish(output_value)

    def _check_one_step(self, nodes: list[torch.fx.Node]) -> None:
        """A spiking model's forward() is one timestep: each neuron runs once."""
        calls: dict[int, int] = {}
        for node in nodes:
            if node.op == "call_function" and base_name(node) == "neuron":
                index = int(node.args[1])  # type: ignore[arg-type]
                calls[index] = calls.get(index, 0) + 1
        for index, n in calls.items():
            if n > 1 and index < len(self.neurons):
                raise ModelError(f"{self.neurons[index][0]!r} runs {n} times in forward(): "
                                 "give bench the network for one timestep (bench runs the T "
                                 "loop and resets the state before every sample)")

    def _number_layers(self, nodes: list[torch.fx.Node]) -> None:
        """Positions for error messages: ops that touch activations, in order."""
        dynamic: set[torch.fx.Node] = set()
        for node in nodes:
            if node.op == "placeholder":
                dynamic.add(node)
            elif node.op == "call_function" and any(a in dynamic for a in node.all_input_nodes):
                dynamic.add(node)
                if node.target is not operator.getitem and base_name(node) not in _PLUMBING:
                    self.total += 1
                    self.position[node] = self.total

    def _check_input(self, node: torch.fx.Node) -> None:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            if val.dtype != torch.float32:
                raise ModelError(f"the model input is {val.dtype}; bench needs float32")
            self.batch = _static_batch(val)

    def _finish(self, out: Any) -> Graph:
        if isinstance(out, (tuple, list)) and self.neurons and len(out) > 1:
            # snnTorch networks return (spikes, membrane) of the output layer:
            # the spikes are the graph's output, the membrane a readout.
            rest = [self.env.get(o) if isinstance(o, torch.fx.Node) else None for o in out[1:]]
            if not all(isinstance(r, Membrane) for r in rest):
                raise ModelError(f"the model returns {len(out)} values; a spiking model may "
                                 "return its output spikes and membrane potentials only")
            out = out[:1]
        if isinstance(out, (tuple, list)):
            if len(out) != 1:
                raise ModelError(f"the model returns {len(out)} values; bench needs one tensor")
            out = out[0]
        value = self.env.get(out) if isinstance(out, torch.fx.Node) else None
        if isinstance(value, Membrane):  # returns only the membrane: the spikes are the output
            value = value.spikes
        if not isinstance(value, Act):
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

    def unsupported(self, node: torch.fx.Node, why: str | None = None) -> ModelError:
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
        flat = _flatten(args, kwargs)
        has_act = any(isinstance(v, (Act, Multi)) for v in flat)
        if any(isinstance(v, Membrane) for v in flat) and node.target is not operator.getitem:
            raise self.unsupported(node, "reads a neuron's membrane potential; bench keeps it "
                                         "inside the neuron (only spikes flow between layers)")
        if node.target is operator.getitem:
            return self._getitem(node, args)
        if base_name(node) in _ASSERTS:
            return None
        if not has_act:
            # Only constants in: fold now (weight permutes, sym sizes, zeros).
            return self._fold_constant(node, args, kwargs)
        base = base_name(node)
        if not isinstance(node.target, torch._ops.OpOverload):
            raise self.unsupported(node)
        handler = HANDLERS.get(base.rstrip("_"))
        if handler is None:
            raise self.unsupported(node)
        try:
            value = handler(self, node, self._args(node))
        except ValueError as e:  # malformed op arguments (e.g. wrong stride arity)
            raise self.unsupported(node, str(e)) from e
        if isinstance(value, Act):
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
            raise self.unsupported(node, f"could not evaluate constant expression: {e}") from e
        return out.detach() if isinstance(out, torch.Tensor) else out

    def _getitem(self, node: torch.fx.Node, args: list[Any]) -> Any:
        src, index = args
        if isinstance(src, Multi):
            if index != 0:
                if node.users:
                    raise self.unsupported(node, "uses a secondary output (e.g. pooling indices)")
                return None
            return src.first
        if isinstance(src, Act):
            raise self.unsupported(node, "indexing/slicing activations is not supported")
        return src[index]

    def _check_shape(self, node: torch.fx.Node, shape: Shape) -> None:
        """Our shape inference must agree with export's recorded shapes."""
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            return
        full = tuple(val.shape)
        if len(full) < 2:
            raise self.unsupported(node, "drops the batch dimension (use x.view(x.size(0), -1))")
        if isinstance(full[0], int) and full[0] != (self.batch or 1):
            raise self.unsupported(node, "mixes the batch dimension into the features")
        try:
            torch_shape = tuple(int(d) for d in full[1:])
        except (TypeError, ValueError):
            raise self.unsupported(node, "has a dynamic non-batch dimension") from None
        if torch_shape != tuple(shape):
            raise ModelError(
                f"internal: {self._where(node)}: inferred shape {shape} != torch's {torch_shape}"
            )

    # ---- helpers for handlers

    def act(self, node: torch.fx.Node, value: Any, what: str = "input") -> Act:
        if isinstance(value, Multi):
            return value.first
        if not isinstance(value, Act):
            raise self.unsupported(node, f"expects an activation tensor as {what}")
        return value

    def const(self, node: torch.fx.Node, value: Any, what: str) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, (Act, Multi)):
            raise self.unsupported(node, f"{what} must be a constant (a parameter), not computed")
        if not isinstance(value, torch.Tensor):
            raise self.unsupported(node, f"{what} must be a tensor")
        arr = value.detach().to(torch.float64).numpy()
        if not np.isfinite(arr).all():
            raise self.unsupported(node, f"{what} contains NaN or Inf")
        return arr

    def add_layer(
        self,
        node: torch.fx.Node,
        op: str,
        inputs: list[Act],
        out_shape: Shape,
        params: dict[str, Any] | None = None,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
    ) -> Act:
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
            state_shape=tuple(int(d) for d in out_shape) if op == "lif" else None,
        )
        self.layers.append(layer)
        self.producer_node[name] = node
        return Act(name, layer.out_shape)

    def name_layer(self, act: Act, name: str) -> Act:
        """Rename the layer just added (a neuron takes its module's path)."""
        layer = self.layers[-1]
        assert layer.output == act.name
        if name in self.names:
            raise ModelError(f"{name!r} runs more than once per timestep: give bench the "
                             "network for one timestep (bench runs the T loop)")
        self.names.discard(layer.name)
        self.names.add(name)
        self.producer_node[name] = self.producer_node.pop(layer.name)
        layer.name = layer.output = name
        return Act(name, act.shape)

    def producer(self, act: Act) -> Layer | None:
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

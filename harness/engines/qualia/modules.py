"""Our graph IR rebuilt as an fx-traceable torch module of standard layers,
one submodule per IR layer (what Qualia-CodeGen traces), and the check that
it computes what the IR computes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.engines.qualia.neurons import qualia_neuron
from harness.errors import EngineError
from harness.model.ir import Graph, Layer, numel

_CHECK_TOL = 1e-4  # rebuilt module vs numpy reference, relative to the output scale

# Activations Qualia can fuse into each producer (the templates #error otherwise).
_FUSES: dict[str, tuple[str, ...]] = {
    "conv1d": ("relu", "relu6"), "conv2d": ("relu", "relu6"), "linear": ("relu", "relu6"),
    "add": ("relu",), "maxpool1d": ("relu",), "maxpool2d": ("relu",),
    "avgpool1d": ("relu",), "avgpool2d": ("relu",), "global_avgpool": ("relu",),
}


@dataclass
class Step:
    """One submodule of the rebuilt torch model = one Qualia node."""

    module: str  # submodule name = fx node name = Qualia layer name (before prefixing)
    inputs: list[str]  # tensor names
    output: str  # tensor name written
    layer: Layer  # the IR layer it comes from
    range_of: str  # tensor whose calibration range sets its output format


def plan(graph: Graph) -> list[Step]:
    """Map IR layers to Qualia-expressible submodules; refuse the rest."""
    producers = {layer.output: layer for layer in graph.layers}
    steps: list[Step] = []
    for i, layer in enumerate(graph.layers):
        name = f"l{i}"
        op = layer.op
        where = f"layer {layer.name!r} ({op})"
        if op in ("conv1d", "conv2d"):
            if any(d != 1 for d in layer.params.get("dilation", ())):
                raise EngineError(f"{where}: Qualia has no dilated convolution")
            if op == "conv2d" and len(set(layer.params["kernel"])) != 1:
                raise EngineError(f"{where}: Qualia's conv2d template only handles square "
                                  f"kernels, this one is {tuple(layer.params['kernel'])}")
        elif op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            if any(layer.params["padding"]):
                raise EngineError(f"{where}: Qualia's pooling templates have no padding")
        elif op == "reshape":
            raise EngineError(f"{where}: Qualia has no reshape (only flatten before a linear "
                              f"layer)")
        elif op == "flatten":
            _check_flatten(graph, layer, where)
        elif op in ("relu", "relu6"):
            src = producers.get(layer.inputs[0])
            if src is None:
                raise EngineError(f"{where}: Qualia cannot apply an activation to the model "
                                  f"input (it fuses activations into the layer before)")
            if op not in _FUSES.get(src.op, ()) or src.params.get("activation"):
                raise EngineError(f"{where}: Qualia cannot fuse {op} into {src.op} layer "
                                  f"{src.name!r}")
            if len(graph.consumers(src.output)) != 1 or graph.output == src.output:
                raise EngineError(f"{where}: the output of {src.name!r} is also read before "
                                  f"the activation; Qualia fuses every activation into its "
                                  f"producer")
        elif op == "lif":
            qualia_neuron(layer)  # refuses what Qualia's IF/LIF cannot compute
        elif op not in ("linear", "add", "global_avgpool"):
            raise EngineError(f"{where}: op not supported by the qualia engine")
        act = layer.params.get("activation")
        if act is not None and act not in _FUSES.get(op, ()):
            raise EngineError(f"{where}: Qualia cannot fuse {act} into {op}")
        if op == "global_avgpool" and len(layer.out_shape) == 1:
            # Qualia's pool keeps the spatial dims: pool, then flatten.
            steps.append(Step(name, list(layer.inputs), f"{layer.output}#pooled", layer,
                               layer.output))
            steps.append(Step(f"{name}_flat", [f"{layer.output}#pooled"], layer.output, layer,
                               layer.output))
        elif act is not None:
            steps.append(Step(name, list(layer.inputs), f"{layer.output}#pre", layer,
                               layer.output))
            steps.append(Step(f"{name}_act", [f"{layer.output}#pre"], layer.output, layer,
                               layer.output))
        else:
            steps.append(Step(name, list(layer.inputs), layer.output, layer, layer.output))
    return steps


def _check_flatten(graph: Graph, layer: Layer, where: str) -> None:
    shape = tuple(layer.in_shapes[0])
    if len(shape) < 2 or numel(shape[1:]) == 1 or shape[0] == 1:
        return  # channels-first and channels-last orders agree
    readers = [graph.layers[j] for j in graph.consumers(layer.output)]
    if graph.output == layer.output or any(r.op != "linear" for r in readers):
        raise EngineError(f"{where}: flattening a {shape} map is only correct in Qualia when "
                          f"a linear layer reads it (Qualia reorders that layer's weights)")


def _module_for(step: Step, graph: Graph) -> Any:  # noqa: ANN401 (torch is imported lazily)
    import torch
    from torch import nn

    layer, op = step.layer, step.layer.op
    if step.module.endswith("_flat"):
        return nn.Flatten()
    if step.module.endswith("_act"):
        return nn.ReLU() if layer.params["activation"] == "relu" else nn.ReLU6()
    if op in ("conv1d", "conv2d"):
        assert layer.weight is not None
        cls = nn.Conv1d if op == "conv1d" else nn.Conv2d
        c_out = layer.weight.shape[0]
        c_in = layer.weight.shape[1] * int(layer.params["groups"])
        m = cls(c_in, c_out, tuple(layer.params["kernel"]), stride=tuple(layer.params["stride"]),
                padding=tuple(layer.params["padding"]), groups=int(layer.params["groups"]),
                bias=layer.bias is not None)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(np.asarray(layer.weight, dtype=np.float32)))
            if layer.bias is not None:
                m.bias.copy_(torch.from_numpy(np.asarray(layer.bias, dtype=np.float32)))
        return m
    if op == "linear":
        assert layer.weight is not None
        n_out, n_in = layer.weight.shape
        m = nn.Linear(n_in, n_out)  # Qualia's Linear mapping always reads a bias
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(np.asarray(layer.weight, dtype=np.float32)))
            bias = layer.bias if layer.bias is not None else np.zeros(n_out, np.float32)
            m.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
        return m
    if op in ("relu", "relu6"):
        return nn.ReLU() if op == "relu" else nn.ReLU6()
    if op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
        cls = {"maxpool1d": nn.MaxPool1d, "maxpool2d": nn.MaxPool2d,
               "avgpool1d": nn.AvgPool1d, "avgpool2d": nn.AvgPool2d}[op]
        k, s = tuple(layer.params["kernel"]), tuple(layer.params["stride"])
        return cls(k[0], s[0]) if op.endswith("1d") else cls(k, s)
    if op == "global_avgpool":
        spatial = tuple(layer.in_shapes[0][1:])
        if len(spatial) == 1:
            return nn.AvgPool1d(spatial[0], spatial[0])
        if len(spatial) == 2:
            return nn.AvgPool2d(spatial, spatial)
        raise EngineError(f"layer {layer.name!r}: global pooling of a {layer.in_shapes[0]} "
                          f"tensor")
    if op == "add":
        return add_module()()
    if op == "flatten":
        return nn.Flatten()
    if op == "lif":
        return qualia_neuron(layer).module()
    raise EngineError(f"layer {layer.name!r}: op {op!r} has no Qualia equivalent")


@functools.cache
def add_module() -> type:
    """The residual add as a leaf module, mapped to Qualia's Add layer (the
    way qualia-core registers its own Add); one class, so Qualia maps it once."""
    from torch import nn

    class QualiaAdd(nn.Module):
        def forward(self, a: Any, b: Any) -> Any:  # noqa: ANN401
            return a + b

    return QualiaAdd


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) > 1 else tuple(shape)


def build_module(graph: Graph, steps: list[Step] | None = None) -> Any:  # noqa: ANN401
    """An fx-traceable torch module computing ``graph`` (weights copied),
    with the channels-last ``input_shape`` attribute Qualia reads."""
    from torch import nn

    steps = plan(graph) if steps is None else steps

    class Rebuilt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for step in steps:
                self.add_module(step.module, _module_for(step, graph))
            self.input_shape = channels_last(tuple(graph.input_shape))

        def forward(self, x: Any) -> Any:  # noqa: ANN401
            values = {graph.input_name: x}
            for step in steps:
                values[step.output] = getattr(self, step.module)(
                    *(values[t] for t in step.inputs))
            return values[graph.output]

    return Rebuilt().eval()


def check_module(graph: Graph, module: Any, samples: int = 2) -> float:  # noqa: ANN401
    """Max |module - numpy reference| on random inputs, relative to the
    output magnitude; raises EngineError above ``_CHECK_TOL``."""
    import torch

    from harness.model.reference import run_graph

    x = np.random.default_rng(0).normal(size=(samples, *graph.input_shape)).astype(np.float32)
    want = run_graph(graph, x)
    with torch.no_grad():
        got = module(torch.from_numpy(x)).reshape(samples, -1).numpy()
    err = float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))
    if not err <= _CHECK_TOL:
        raise EngineError(f"the torch model rebuilt for Qualia differs from the graph by {err:.3g} "
                          f"(relative): please report this model")
    return err

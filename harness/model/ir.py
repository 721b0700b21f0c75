"""A small graph IR between model import and code generation.

Tensors are named; shapes never include the batch dimension and are
channels-first as in PyTorch: (C, L) for 1-D signals, (C, H, W) for images,
(F,) for features. Every layer produces exactly one tensor, named after the
layer, so ``Layer.output == Layer.name`` for imported graphs.

Ops and their ``params`` (all shapes/tuples are per spatial dim, 1-D ops use
1-tuples so 1-D and 2-D code paths look alike):

=================  ==========================================================
conv1d, conv2d     kernel, stride, padding, dilation (always 1s), groups,
                   activation (None | "relu" | "relu6"); weight
                   (C_out, C_in/groups, *kernel), bias (C_out,) or None
linear             activation; weight (out, in), bias (out,) or None; fed with
                   spikes: spikes_in ("event" | "dense", the kernel kind)
relu, relu6        -
maxpool1d/2d       kernel, stride, padding (padding counts as -inf)
avgpool1d/2d       kernel, stride, padding, count_include_pad
global_avgpool     - (mean over all spatial dims; out_shape keeps torch's
                   keepdim form, e.g. (C,), (C, 1) or (C, 1, 1))
flatten, reshape   - (zero-copy relabel of a C-order buffer; "flatten" when
                   the result is 1-D)
add                activation; two inputs of the same shape
lif                neuron (harness/model/neuron.py Neuron.params()): a layer of
                   spiking neurons; input the current, output spikes (0/1)
li                 integrator (neuron.py Integrator.params()): leaky integrators
                   that never fire (NIR LI); input the current, output their
                   potential
=================  ==========================================================

Spiking graphs: ``lif`` and ``li`` layers keep a membrane potential between
timesteps (``Layer.state_shape``, the output shape); the graph describes ONE timestep
and ``Graph.timesteps`` says how many steps one sample runs, ``readout``
how the steps' outputs become the sample's output (spike_count,
output_mean, membrane_last) and ``encoding`` how the sample feeds the steps
(direct: the same input every step). State is reset before every sample.
Feed-forward graphs leave them at 1 / None / "direct".
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

Shape = tuple[int, ...]

OPS: frozenset[str] = frozenset(
    {
        "conv1d",
        "conv2d",
        "linear",
        "relu",
        "relu6",
        "maxpool1d",
        "maxpool2d",
        "avgpool1d",
        "avgpool2d",
        "global_avgpool",
        "flatten",
        "reshape",
        "add",
        "lif",
        "li",
    }
)
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6")
# Ops that may absorb a directly following relu/relu6.
FUSABLE: frozenset[str] = frozenset({"conv1d", "conv2d", "linear", "add"})
# Ops that never move data: their output is the input buffer relabelled.
ALIASING: frozenset[str] = frozenset({"flatten", "reshape"})
ELEMENTWISE: frozenset[str] = frozenset({"relu", "relu6", "add", "lif", "li"})
SPIKING: frozenset[str] = frozenset({"lif"})  # stateful ops that emit spikes
# Ops that keep a 0/1 tensor 0/1: spikes pass through them as spikes.
SPIKE_PRESERVING: frozenset[str] = ALIASING | {"maxpool1d", "maxpool2d"}
STATEFUL: frozenset[str] = frozenset({"lif", "li"})  # ops that keep a potential between steps


@dataclass
class Layer:
    """One operation of the graph.

    Args:
        name: unique, from the torch module path ("features.0") or node name.
        op: one of ``OPS``.
        inputs: tensor names read, in order.
        output: tensor name written.
        in_shapes: shapes of ``inputs`` (no batch dim).
        out_shape: shape of ``output`` (no batch dim).
        params: op parameters, see the module docstring.
        weight, bias: float32 arrays or None.
        state_shape: per-sample state of a stateful (spiking) layer.
    """

    name: str
    op: str
    inputs: list[str]
    output: str
    in_shapes: list[Shape]
    out_shape: Shape
    params: dict[str, Any] = field(default_factory=dict)
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    state_shape: Shape | None = None

    @property
    def macs(self) -> int:
        return layer_macs(self)

    @property
    def params_count(self) -> int:
        return sum(int(a.size) for a in (self.weight, self.bias) if a is not None)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "out_shape": list(self.out_shape),
            "macs": self.macs,
            "params_count": self.params_count,
            "activation": self.params.get("activation"),
        }


def numel(shape: Shape) -> int:
    return math.prod(shape)


def layer_macs(layer: Layer) -> int:
    """Multiply-accumulates of one inference: conv and linear only.

    Pools, activations and adds do comparisons/additions, not MACs; they are
    reported as 0 so the number is comparable with other tools' "MACs".
    """
    if layer.op in ("conv1d", "conv2d"):
        assert layer.weight is not None
        per_output = numel(layer.weight.shape[1:])  # C_in/groups * kernel
        return numel(layer.out_shape) * per_output
    if layer.op == "linear":
        assert layer.weight is not None
        return int(layer.weight.size)
    return 0


@dataclass
class Graph:
    """A model as a topologically ordered list of layers.

    Args:
        input_shape: shape of the single input, no batch dim.
        layers: in execution order.
        output: name of the tensor returned (all logits).
        input_name: name of the input tensor.
        timesteps: steps per sample for stateful (spiking) graphs; 1 otherwise.
        readout: spiking graphs: how T steps make one output (module doc).
        encoding: spiking graphs: "direct" or "iterate" (one frame per step).
    """

    input_shape: Shape
    layers: list[Layer]
    output: str
    input_name: str = "input"
    timesteps: int = 1
    readout: str | None = None
    encoding: str = "direct"

    @property
    def spiking(self) -> bool:
        """Runs over timesteps: has layers with state (a graph of leaky
        integrators alone has no spikes to count but is run the same way)."""
        return any(layer.op in STATEFUL for layer in self.layers)

    def stateful_layers(self) -> list[Layer]:
        """The layers whose potential is kept between steps, in execution order."""
        return [layer for layer in self.layers if layer.op in STATEFUL]

    def steady_prefix(self) -> int:
        """How many leading layers compute the same tensor at every step: with
        direct encoding, the layers before the first stateful one read only
        the sample's input, so an engine runs them once per sample, not T
        times (0 for a conventional or an ``iterate`` graph)."""
        if not self.spiking or self.encoding != "direct":
            return 0
        return next(i for i, layer in enumerate(self.layers) if layer.op in STATEFUL)

    def spiking_layers(self) -> list[Layer]:
        """The layers whose spikes are counted, in execution order."""
        return [layer for layer in self.layers if layer.op in SPIKING]

    def spike_source(self, tensor: str) -> Layer | None:
        """The spiking layer whose spikes ``tensor`` is (through reshapes and
        max pools, which keep spikes 0/1), or None if it is not spikes."""
        producers = {layer.output: layer for layer in self.layers}
        layer = producers.get(tensor)
        while layer is not None and layer.op in SPIKE_PRESERVING:
            layer = producers.get(layer.inputs[0])
        return layer if layer is not None and layer.op in SPIKING else None

    def spike_layer_table(self) -> list[dict[str, Any]]:
        """{"name", "neurons"} of each spiking layer: what the device's spike
        counters refer to, in their order."""
        return [{"name": layer.name, "neurons": numel(layer.out_shape)}
                for layer in self.spiking_layers()]

    @property
    def sample_shape(self) -> Shape:
        """One sample as the data set holds it: a leading T axis when each
        step gets its own frame."""
        if self.encoding == "iterate":
            return (self.timesteps, *self.input_shape)
        return self.input_shape

    def shape_of(self, tensor: str) -> Shape:
        if tensor == self.input_name:
            return self.input_shape
        for layer in self.layers:
            if layer.output == tensor:
                return layer.out_shape
        raise KeyError(tensor)

    @property
    def output_shape(self) -> Shape:
        return self.shape_of(self.output)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params_count(self) -> int:
        return sum(layer.params_count for layer in self.layers)

    def consumers(self, tensor: str) -> list[int]:
        """Indices of the layers that read ``tensor``."""
        return [i for i, layer in enumerate(self.layers) if tensor in layer.inputs]

    def summary(self) -> list[dict[str, Any]]:
        return [layer.summary() for layer in self.layers]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary for reports (no weights)."""
        spiking = {"timesteps": self.timesteps, "readout": self.readout,
                   "encoding": self.encoding} if self.spiking else {}
        return {
            **spiking,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "macs": self.macs,
            "params_count": self.params_count,
            "layers": self.summary(),
        }

    def validate(self) -> None:
        """Check names, topological order and op set; raise ValueError."""
        known = {self.input_name}
        names: set[str] = set()
        for layer in self.layers:
            if layer.op not in OPS:
                raise ValueError(f"layer {layer.name!r}: unknown op {layer.op!r}")
            if layer.name in names:
                raise ValueError(f"duplicate layer name {layer.name!r}")
            names.add(layer.name)
            if len(layer.inputs) != len(layer.in_shapes):
                raise ValueError(f"layer {layer.name!r}: inputs and in_shapes differ in length")
            for tensor, shape in zip(layer.inputs, layer.in_shapes, strict=True):
                if tensor not in known:
                    raise ValueError(f"layer {layer.name!r} reads {tensor!r} before it is written")
                if self.shape_of(tensor) != tuple(shape):
                    raise ValueError(f"layer {layer.name!r}: shape of {tensor!r} disagrees")
            if layer.output in known:
                raise ValueError(f"tensor {layer.output!r} written twice")
            known.add(layer.output)
        if self.output not in known:
            raise ValueError(f"graph output {self.output!r} is never written")


def _rename_input(graph: Graph, old: str, new: str) -> None:
    for layer in graph.layers:
        layer.inputs = [new if t == old else t for t in layer.inputs]
    if graph.output == old:
        graph.output = new


def simplify(graph: Graph) -> Graph:
    """Collapse chains of reshapes and drop reshapes that change nothing.

    Decomposed exports wrap 1-D ops in unsqueeze/squeeze pairs; this keeps
    the graph (and the reports) free of those no-ops.
    """
    g = replace(graph, layers=[replace(layer) for layer in graph.layers])
    producers = {layer.output: layer for layer in g.layers}
    for layer in list(g.layers):
        if layer.op not in ALIASING:
            continue
        src = producers.get(layer.inputs[0])
        if src is not None and src.op in ALIASING and len(g.consumers(src.output)) == 1 \
                and g.output != src.output:
            layer.inputs = list(src.inputs)
            layer.in_shapes = list(src.in_shapes)
            g.layers.remove(src)
    for layer in list(g.layers):
        if layer.op in ALIASING and tuple(layer.in_shapes[0]) == tuple(layer.out_shape):
            g.layers.remove(layer)
            _rename_input(g, layer.output, layer.inputs[0])
    for layer in g.layers:
        if layer.op in ALIASING:
            layer.op = "flatten" if len(layer.out_shape) == 1 else "reshape"
    return g


def fuse_activations(graph: Graph) -> Graph:
    """Fold relu/relu6 into the conv/linear/add that directly feeds it.

    Only when the producer's output is read by the activation alone (and is
    not the graph output): otherwise the un-activated value is still needed.
    Returns a new graph; the input graph is left as it was.
    """
    g = replace(graph, layers=[replace(layer, params=dict(layer.params)) for layer in graph.layers])
    producers = {layer.output: layer for layer in g.layers}
    for act in list(g.layers):
        if act.op not in ACTIVATIONS:
            continue
        src = producers.get(act.inputs[0])
        if (
            src is None
            or src.op not in FUSABLE
            or src.params.get("activation") is not None
            or g.output == src.output
            or len(g.consumers(src.output)) != 1
        ):
            continue
        src.params["activation"] = act.op
        g.layers.remove(act)
        _rename_input(g, act.output, src.output)
    return g


def graph_hash(graph: Graph) -> bytes:
    """sha256 of what the model computes: structure, shapes, parameters."""
    h = hashlib.sha256()
    h.update(repr(tuple(graph.input_shape)).encode())
    if graph.spiking:  # feed-forward hashes stay what they were
        h.update(repr((graph.timesteps, graph.readout, graph.encoding)).encode())
    for layer in graph.layers:
        h.update(repr((layer.name, layer.op, tuple(layer.inputs), layer.output,
                       tuple(layer.out_shape), sorted(layer.params.items()))).encode())
        for arr in (layer.weight, layer.bias):
            if arr is not None:
                h.update(arr.astype("<f4").tobytes())
    return h.digest()

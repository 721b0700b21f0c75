"""Where a spiking graph's spikes go: each spiking layer's fan-out into the
next weighted layers, and each weighted layer's geometry, as records the
store keeps so activity and cost can be recomputed without the model.

A spike is an event: at its position it adds one weight column of every
weighted layer it reaches. The number of those additions is its fan-out,
counted exactly from the geometry, position by position:

- linear: the nonzero weights of the input's column (out_features when the
  matrix has no zeros);
- conv: for each kernel tap, the output positions whose window puts that
  tap on the input position (stride and dilation as the layer has them;
  taps that would land on padding are not synapses, so border inputs have
  fewer), times the nonzero weights of that tap over the group's output
  channels (C_out x kernel area away from the borders at stride 1);
- max/avg pooling, global average pooling, flatten/reshape, relu and add
  pass a spike on to every pooled output whose window holds it, and from
  there to the next weighted layers (after average pooling the 1/k scale
  is a weight scale: still one accumulate per synapse; after max pooling
  spikes sharing a window merge into one, so the count is an upper bound);
- a spiking layer stops the walk: its own spikes are counted on the device.

Zero weights are not synapses (NeuroBench counts effective operations the
same way); ``connections`` keeps the dense count, zeros included.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.model.ir import SPIKING, Graph, Layer, numel

WEIGHTED = frozenset({"conv1d", "conv2d", "linear"})
POOLS = frozenset({"maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"})
PASS = POOLS | {"global_avgpool", "flatten", "reshape", "relu", "relu6", "add"}


@dataclass(frozen=True)
class SpikeLayer:
    """A spiking layer: what its device counter counts and where its spikes go.

    Args:
        name, neurons: as ``Graph.spike_layer_table`` (the counter order).
        leak: the potential decays each step (a multiply); False for IF.
        synapses: weighted layer -> synapses this layer's neurons reach in
            it, summed over the neurons (fan-out per spike = synapses /
            neurons when spikes fall anywhere alike).
    """

    name: str
    neurons: int
    leak: bool = False
    synapses: dict[str, int] = field(default_factory=dict)

    @property
    def fanout(self) -> float:
        """Mean synaptic operations one spike of this layer causes."""
        return sum(self.synapses.values()) / self.neurons if self.neurons else 0.0


@dataclass(frozen=True)
class SynapticLayer:
    """A conv or linear layer of a spiking graph, as the cost models need it.

    Args:
        name, op: the layer.
        in_neurons, neurons: input and output elements per step.
        out_channels, kernel_area: C_out and the kernel's size (1 for linear).
        macs: multiply-accumulates per step as bench counts them for any
            model (``Layer.macs``: padding taps included).
        connections: input-output pairs per step that exist (padding taps
            excluded, zero weights included): NeuroBench's Dense.
        effective: the same with zero weights left out.
        weights, bias: parameter counts.
        spiking_input: the input is spikes (through pooling/flatten/add only);
            False when it is the sample itself or a non-spiking layer's output.
        target: the spiking layer this layer's output charges, if any.
    """

    name: str
    op: str
    in_neurons: int
    neurons: int
    out_channels: int
    kernel_area: int
    macs: int
    connections: int
    effective: int
    weights: int
    bias: int
    spiking_input: bool
    target: str | None


def _taps(layer: Layer) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(k) for k in layer.params["kernel"])))


def _landing(out_len: int, in_len: int, stride: int, pad: int, offset: int
             ) -> tuple[slice, slice] | None:
    """The outputs o whose window puts tap ``offset`` inside the input
    (i = o*stride - pad + offset, 0 <= i < in_len), and the inputs i they
    touch, as (input slice, output slice); None when there are none."""
    first = offset - pad
    o0 = max(0, -(first // stride))  # ceil(-first / stride)
    o1 = min(out_len - 1, (in_len - 1 - first) // stride)
    if o1 < o0:
        return None
    return (slice(o0 * stride + first, o1 * stride + first + 1, stride),
            slice(o0, o1 + 1))


def _windows(layer: Layer, in_shape: tuple[int, ...]
             ) -> list[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]]:
    """Per kernel tap that lands anywhere: (tap, input slices, output
    slices) over the spatial dims, the pairs (i, o) it connects."""
    spatial_in, spatial_out = in_shape[1:], layer.out_shape[1:]
    stride, pad = layer.params["stride"], layer.params["padding"]
    dil = layer.params.get("dilation") or (1,) * len(spatial_in)
    out = []
    for tap in _taps(layer):
        found = [_landing(spatial_out[d], spatial_in[d], stride[d], pad[d], k * dil[d])
                 for d, k in enumerate(tap)]
        if all(f is not None for f in found):
            out.append((tap, tuple(f[0] for f in found if f), tuple(f[1] for f in found if f)))
    return out


def input_fanout(layer: Layer, nonzero: bool = True) -> np.ndarray:
    """Synapses of a weighted layer per input position (the input's shape):
    how many accumulates one event there causes in this layer."""
    assert layer.weight is not None
    w = (layer.weight != 0) if nonzero else np.ones(layer.weight.shape, dtype=bool)
    in_shape = tuple(layer.in_shapes[0])
    if layer.op == "linear":
        return w.sum(axis=0).astype(np.int64).reshape(in_shape)
    groups = layer.params.get("groups", 1)
    c_in, c_out = in_shape[0], layer.out_shape[0]
    fan = np.zeros(in_shape, dtype=np.int64)
    for tap, ins, _outs in _windows(layer, in_shape):
        # nonzero weights of this tap: per input channel, summed over the
        # output channels of its group
        per_tap = w[(slice(None), slice(None), *tap)]  # (C_out, C_in/groups)
        per_in = np.concatenate([per_tap[g * (c_out // groups):(g + 1) * (c_out // groups)]
                                 .sum(axis=0) for g in range(groups)])
        assert per_in.shape == (c_in,)
        fan[(slice(None), *ins)] += per_in.reshape((c_in,) + (1,) * len(ins))
    return fan


def _through(layer: Layer, out_fan: np.ndarray, index: int) -> np.ndarray:
    """The fan-out per position of ``layer``'s input ``index``, given the
    fan-out per position of its output (the adjoint of a pass-through op)."""
    in_shape = tuple(layer.in_shapes[index])
    if layer.op in ("flatten", "reshape", "relu", "relu6", "add"):
        return out_fan.reshape(in_shape)
    if layer.op == "global_avgpool":
        c = in_shape[0]
        return np.broadcast_to(out_fan.reshape(c, *([1] * (len(in_shape) - 1))),
                               in_shape).copy()
    fan = np.zeros(in_shape, dtype=out_fan.dtype)
    for _tap, ins, outs in _windows(layer, in_shape):
        fan[(slice(None), *ins)] += out_fan[(slice(None), *outs)]
    return fan


class _Walk:
    """Fan-out maps of a graph's tensors, each split per weighted layer."""

    def __init__(self, graph: Graph, nonzero: bool = True) -> None:
        self.graph = graph
        self.nonzero = nonzero
        self._memo: dict[str, dict[str, np.ndarray]] = {}

    def reach(self, tensor: str) -> dict[str, np.ndarray]:
        """weighted layer -> synapses per position of ``tensor`` in it."""
        if tensor in self._memo:
            return self._memo[tensor]
        out: dict[str, np.ndarray] = {}
        for i in self.graph.consumers(tensor):
            c = self.graph.layers[i]
            for k, name in enumerate(c.inputs):
                if name != tensor:
                    continue
                if c.op in WEIGHTED:
                    parts = {c.name: input_fanout(c, self.nonzero)}
                elif c.op in PASS:
                    parts = {w: _through(c, arr, k) for w, arr in self.reach(c.output).items()}
                else:  # a spiking layer: its current is not a synapse
                    parts = {}
                for w, arr in parts.items():
                    out[w] = out[w] + arr if w in out else arr
        self._memo[tensor] = out
        return out


def _producer(graph: Graph, tensor: str) -> Layer | None:
    return next((layer for layer in graph.layers if layer.output == tensor), None)


def _spiking_input(graph: Graph, tensor: str) -> bool:
    """The tensor carries spikes: every path back reaches a spiking layer
    through pass-through ops only."""
    src = _producer(graph, tensor)
    if src is None:
        return False
    if src.op in SPIKING:
        return True
    if src.op in PASS:
        return all(_spiking_input(graph, t) for t in src.inputs)
    return False


def _target(graph: Graph, tensor: str) -> str | None:
    """The spiking layer a weighted layer's output charges (through
    pass-through ops), if any."""
    for i in graph.consumers(tensor):
        c = graph.layers[i]
        if c.op in SPIKING:
            return c.name
        if c.op in PASS:
            found = _target(graph, c.output)
            if found is not None:
                return found
    return None


def spike_layers(graph: Graph) -> list[SpikeLayer]:
    """Each spiking layer (device counter order) with its synapses."""
    walk = _Walk(graph)
    out = []
    for layer in graph.spiking_layers():
        reach = walk.reach(layer.output)
        out.append(SpikeLayer(name=layer.name, neurons=numel(layer.out_shape),
                              leak=layer.params["neuron"]["decay"] != 1.0,
                              synapses={w: int(arr.sum()) for w, arr in reach.items()}))
    return out


def synaptic_layers(graph: Graph) -> list[SynapticLayer]:
    """The weighted layers of a spiking graph, in execution order."""
    out = []
    for layer in graph.layers:
        if layer.op not in WEIGHTED:
            continue
        assert layer.weight is not None
        kernel = layer.params.get("kernel", ())
        out.append(SynapticLayer(
            name=layer.name, op=layer.op, in_neurons=numel(tuple(layer.in_shapes[0])),
            neurons=numel(layer.out_shape), out_channels=int(layer.weight.shape[0]),
            kernel_area=numel(tuple(kernel)) if kernel else 1, macs=layer.macs,
            connections=int(input_fanout(layer, nonzero=False).sum()),
            effective=int(input_fanout(layer).sum()),
            weights=int(layer.weight.size), bias=0 if layer.bias is None else int(layer.bias.size),
            spiking_input=_spiking_input(graph, layer.inputs[0]),
            target=_target(graph, layer.output)))
    return out


def to_json(records: list[SpikeLayer] | list[SynapticLayer]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]

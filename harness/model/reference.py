"""Host reference: run a Graph with numpy in float32.

This is the yardstick the device output is compared against, so it follows
PyTorch's semantics (padding, count_include_pad, keepdim) rather than the C
kernels' loop structure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.model import neuron as neurons
from harness.model.ir import Graph, Layer


def run_graph(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Run ``graph`` on a batch.

    Args:
        graph: the model.
        x: float array of shape (N, *graph.sample_shape).

    Returns:
        float32 array (N, n_out): the output tensor flattened per sample
        (a spiking graph's readout over its timesteps).
    """
    if graph.spiking:
        return run_snn(graph, x).outputs
    return run_graph_tensors(graph, x)[graph.output].reshape(x.shape[0], -1)


@dataclass(frozen=True)
class SnnRun:
    """A spiking graph run over its timesteps on a batch."""

    outputs: np.ndarray  # (N, n_out) float32: the readout
    spikes: np.ndarray  # (N, spiking layers) int64: spikes summed over the timesteps


STATE = "#state"  # suffix of a spiking layer's potential before its spike, for observers


def run_snn(graph: Graph, x: np.ndarray,
            observe: Callable[[str, np.ndarray], None] | None = None) -> SnnRun:
    """T steps per sample, every neuron's state reset before the sample.
    ``observe(name, values)`` sees every tensor of every step, and each
    spiking layer's potential before its spike as ``<layer>#state``."""
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) != tuple(graph.sample_shape):
        raise ValueError(f"input shape {x.shape[1:]} != the spiking graph's sample shape "
                         f"{graph.sample_shape}")
    n = x.shape[0]
    lifs = graph.spiking_layers()
    state = {layer.name: _initial_state(layer, n) for layer in graph.stateful_layers()}
    spikes = np.zeros((n, len(lifs)), dtype=np.int64)
    acc = np.zeros((n, int(np.prod(graph.output_shape))), dtype=np.float32)
    for t in range(graph.timesteps):
        values: dict[str, np.ndarray] = {
            graph.input_name: x[:, t] if graph.encoding == "iterate" else x}
        for layer in graph.layers:
            args = [values[name] for name in layer.inputs]
            if layer.op == "lif":
                neuron = neurons.Neuron.from_params(layer.params["neuron"])
                r, h = neurons.charge(neuron, state[layer.name], args[0])
                if observe is not None:
                    observe(layer.name + STATE, h)
                out, state[layer.name] = neurons.settle(neuron, r, h)
            elif layer.op == "li":
                li = neurons.Integrator.from_params(layer.params["integrator"])
                out = state[layer.name] = neurons.integrate(li, state[layer.name], args[0])
            else:
                out = _activation(_OPS[layer.op](layer, args), layer.params.get("activation"))
            values[layer.output] = out.astype(np.float32, copy=False)
        if observe is not None:
            for name, value in values.items():
                observe(name, value)
        for k, layer in enumerate(lifs):
            spikes[:, k] += values[layer.output].reshape(n, -1).sum(axis=1).astype(np.int64)
        if graph.readout != "membrane_last":
            acc += values[graph.output].reshape(n, -1)
    if graph.readout == "membrane_last":
        acc = state[graph.output].reshape(n, -1).copy()
    elif graph.readout == "output_mean":
        acc = acc / np.float32(graph.timesteps)
    return SnnRun(acc.astype(np.float32, copy=False), spikes)


def _initial_state(layer: Layer, n: int) -> np.ndarray:
    v_init = (layer.params["neuron"] if layer.op == "lif" else layer.params["integrator"])["v_init"]
    return np.full((n, *layer.out_shape), np.float32(v_init), dtype=np.float32)


def run_graph_tensors(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run ``graph`` on a batch and keep every tensor (input and each layer
    output, batch dim first): what calibration looks at."""
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) != tuple(graph.input_shape):
        raise ValueError(f"input shape {x.shape[1:]} != graph input shape {graph.input_shape}")
    values: dict[str, np.ndarray] = {graph.input_name: x}
    for layer in graph.layers:
        args = [values[t] for t in layer.inputs]
        out = _OPS[layer.op](layer, args)
        out = _activation(out, layer.params.get("activation"))
        values[layer.output] = out.astype(np.float32, copy=False)
    return values


def _activation(x: np.ndarray, kind: str | None) -> np.ndarray:
    if kind is None:
        return x
    if kind == "relu":
        return np.maximum(x, np.float32(0))
    if kind == "relu6":
        return np.clip(x, np.float32(0), np.float32(6))
    raise ValueError(f"unknown activation {kind!r}")


def _pad(x: np.ndarray, padding: tuple[int, ...], value: float) -> np.ndarray:
    if not any(padding):
        return x
    widths = [(0, 0)] * (x.ndim - len(padding)) + [(p, p) for p in padding]
    return np.pad(x, widths, constant_values=value)


def _windows(x: np.ndarray, layer: Layer, value: float) -> np.ndarray:
    """(N, C, *out_spatial, *kernel) view of the padded input."""
    kernel = tuple(layer.params["kernel"])
    stride = tuple(layer.params["stride"])
    xp = _pad(x, tuple(layer.params["padding"]), value)
    nd = len(kernel)
    axes = tuple(range(2, 2 + nd))
    w = sliding_window_view(xp, kernel, axis=axes)
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
    w = w[index]
    out_spatial = tuple(layer.out_shape[1:])
    return w[(slice(None), slice(None)) + tuple(slice(0, o) for o in out_spatial)]


def _conv(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    (x,) = args
    assert layer.weight is not None
    groups = int(layer.params["groups"])
    win = _windows(x, layer, 0.0)  # (N, C, *O, *K)
    n, c = win.shape[:2]
    nd = len(layer.params["kernel"])
    out_sp = win.shape[2 : 2 + nd]
    k_sp = win.shape[2 + nd :]
    cg = c // groups
    cout = layer.weight.shape[0]
    win = win.reshape((n, groups, cg, *out_sp, *k_sp))
    w = layer.weight.reshape((groups, cout // groups, cg, *k_sp))
    # Move (cg, *K) last and contract them in one matmul per group.
    win = np.moveaxis(win, 2, 2 + nd).reshape(n, groups, int(np.prod(out_sp)), -1)
    w = w.reshape(groups, cout // groups, -1)
    out = np.einsum("ngpk,gok->ngop", win, w, optimize=True)
    out = out.reshape((n, cout, *out_sp))
    if layer.bias is not None:
        out = out + layer.bias.reshape((1, cout) + (1,) * nd)
    return out


def _linear(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    (x,) = args
    assert layer.weight is not None
    out = x @ layer.weight.T
    if layer.bias is not None:
        out = out + layer.bias
    return out


def _maxpool(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    nd = len(layer.params["kernel"])
    win = _windows(args[0], layer, -np.inf)
    return win.max(axis=tuple(range(-nd, 0)))


def _avgpool(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    (x,) = args
    nd = len(layer.params["kernel"])
    axes = tuple(range(-nd, 0))
    total = _windows(x, layer, 0.0).sum(axis=axes, dtype=np.float32)
    if layer.params.get("count_include_pad", True):
        count = np.float32(np.prod(layer.params["kernel"]))
    else:
        ones = np.ones((1, 1, *x.shape[2:]), dtype=np.float32)
        count = _windows(ones, layer, 0.0).sum(axis=axes)
    return total / count


def _global_avgpool(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    (x,) = args
    n, c = x.shape[:2]
    mean = x.reshape(n, c, -1).mean(axis=2, dtype=np.float32)
    return mean.reshape((n, *layer.out_shape))


def _reshape(layer: Layer, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape((args[0].shape[0], *layer.out_shape))


_OPS: dict[str, Callable[[Layer, list[np.ndarray]], np.ndarray]] = {
    "conv1d": _conv,
    "conv2d": _conv,
    "linear": _linear,
    "relu": lambda layer, a: _activation(a[0], "relu"),
    "relu6": lambda layer, a: _activation(a[0], "relu6"),
    "maxpool1d": _maxpool,
    "maxpool2d": _maxpool,
    "avgpool1d": _avgpool,
    "avgpool2d": _avgpool,
    "global_avgpool": _global_avgpool,
    "flatten": _reshape,
    "reshape": _reshape,
    "add": lambda layer, a: a[0] + a[1],
}

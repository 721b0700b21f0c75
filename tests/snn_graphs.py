"""Small spiking graphs built layer by layer, for the activity, cost and
report tests: every number they give is worked out by hand in the tests."""

from __future__ import annotations

import numpy as np

from harness.model.ir import Graph, Layer
from harness.model.neuron import Neuron


def lif(name: str, src: str, shape: tuple[int, ...], decay: float = 0.5) -> Layer:
    return Layer(name, "lif", [src], name, [shape], shape,
                 {"neuron": Neuron(decay=decay, threshold=1.0).params()}, state_shape=shape)


def linear(name: str, src: str, w: np.ndarray) -> Layer:
    return Layer(name, "linear", [src], name, [(w.shape[1],)], (w.shape[0],),
                 {"activation": None}, weight=w.astype(np.float32),
                 bias=np.zeros(w.shape[0], np.float32))


def conv(name: str, src: str, in_shape: tuple[int, ...], w: np.ndarray, stride: tuple, pad: tuple,
         groups: int = 1) -> Layer:
    out = tuple((n + 2 * p - k) // s + 1
                for n, k, s, p in zip(in_shape[1:], w.shape[2:], stride, pad, strict=True))
    return Layer(name, "conv2d", [src], name, [in_shape], (w.shape[0], *out),
                 {"kernel": tuple(w.shape[2:]), "stride": stride, "padding": pad,
                  "dilation": (1, 1), "groups": groups, "activation": None},
                 weight=w.astype(np.float32), bias=None)


def pool(name: str, op: str, src: str, in_shape: tuple[int, ...], k: int, s: int, p: int
         ) -> Layer:
    out = tuple((n + 2 * p - k) // s + 1 for n in in_shape[1:])
    params = {"kernel": (k, k), "stride": (s, s), "padding": (p, p)}
    if op == "avgpool2d":
        params["count_include_pad"] = True
    return Layer(name, op, [src], name, [in_shape], (in_shape[0], *out), params)


def flatten(name: str, src: str, shape: tuple[int, ...]) -> Layer:
    return Layer(name, "flatten", [src], name, [shape], (int(np.prod(shape)),))


def graph(input_shape: tuple[int, ...], *layers: Layer, timesteps: int = 5) -> Graph:
    g = Graph(input_shape, list(layers), layers[-1].output, timesteps=timesteps,
              readout="spike_count")
    g.validate()
    return g


def mlp() -> Graph:
    """input (4,) -> fc0 4x4 -> s0 (LIF) -> fc1 3x4 with one zero weight -> s1 (IF)."""
    w1 = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    w1[1, 2] = 0.0
    return graph((4,), linear("fc0", "input", np.ones((4, 4))), lif("s0", "fc0", (4,)),
                 linear("fc1", "s0", w1), lif("s1", "fc1", (3,), decay=1.0))

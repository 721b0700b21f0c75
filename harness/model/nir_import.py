"""NIR graphs (``.nir`` files, read with the ``nir`` package) as bench's IR.

A NIR graph is a set of nodes and edges; edges into one node are summed
(a residual ``add`` here). Its neurons are continuous-time, so bench
discretises them with a forward Euler step of ``dt`` seconds (``--dt``,
default 1e-4 s), the rule snnTorch 1.0.0 applies in
``snntorch/import_nir.py`` (``_nir_to_snntorch_module``: ``beta = 1 - dt/tau``
with ``dt = 1e-4``, the input scaled by ``w_scale = r * dt / tau``, which
snnTorch folds into the threshold instead) and inverts in
``snntorch/export_nir.py`` (``tau = dt / (1 - beta)``, ``r = tau / dt``)::

    LIF        tau v' = (v_leak - v) + r I  ->  v = (1 - dt/tau) v + (r dt/tau) I + (dt/tau) v_leak
               spike when v > v_threshold, then v = v_reset in the same step
    IF         v' = r I                     ->  v = v + (r dt) I, spike and reset as LIF
    LI         as LIF, never fires: its potential is its output (an ``li`` layer)
    Threshold  z = (I > threshold), no state (a ``lif`` layer with decay 0, no reset)

The potential starts at 0 before every sample, as in snnTorch. IF uses the
same Euler step: an IF written with ``r = 1`` meaning "add the input every
step" (the Sinabs and Norse convention) needs ``--dt 1``; SpikingJelly writes
``r = 1/dt``. Parameters are per neuron in NIR; bench takes one value per
layer and refuses arrays whose values differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ModelError
from harness.model.ir import Graph, Layer, Shape, numel, simplify
from harness.model.neuron import Integrator, Neuron
from harness.model.snn import with_timesteps
from harness.model.snn_options import DEFAULT_DT, SnnOptions

SUPPORTED = ("Input, Output, Affine, Linear, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, "
             "LIF, IF, LI, Threshold")


def load_nir(path: Path, snn: SnnOptions) -> Graph:
    """Read ``path`` and import it; ``snn`` must give the timesteps (a NIR
    graph carries none), may give the readout, encoding and dt."""
    if snn.timesteps is None:
        raise ModelError(f"{path.name}: a NIR graph carries no number of timesteps: pass "
                         "--timesteps T")
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} not found")
    try:
        import nir
    except ImportError as e:
        raise ModelError("reading .nir files needs the nir package (pip install "
                         "'bench[snn]')") from e
    try:
        # bench checks the shapes itself, with messages naming the node
        nir_graph = nir.read(str(path), type_check=False)
    except Exception as e:  # h5py and nir raise many kinds for a bad file
        raise ModelError(f"cannot read {path.name} as a NIR graph: {type(e).__name__}: "
                         f"{e}") from e
    if not isinstance(nir_graph, nir.NIRGraph):
        raise ModelError(f"{path.name} holds a single {type(nir_graph).__name__} node, not a "
                         "NIR graph")
    graph = import_nir(nir_graph, snn.dt if snn.dt is not None else DEFAULT_DT)
    return with_timesteps(graph, snn.timesteps, snn.readout, snn.encoding or "direct")


def import_nir(nir_graph: Any, dt: float) -> Graph:
    """A ``nir.NIRGraph`` as the one-timestep IR (without T or readout)."""
    return _Importer(nir_graph, dt).run()


# --------------------------------------------------------------------------- graph order

def _order(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> list[str]:
    """Node keys in topological order; a cycle (a recurrent connection) is refused."""
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise ModelError(f"an edge ({src!r} -> {dst!r}) names node {end!r}, which the "
                                 "graph does not have")
        preds[dst].append(src)
    done: list[str] = []
    placed: set[str] = set()
    waiting = list(nodes)
    while waiting:
        ready = [k for k in waiting if all(p in placed for p in preds[k])]
        if not ready:
            raise ModelError(f"recurrent edges (a cycle through "
                             f"{', '.join(map(repr, _cycle(waiting, edges)))}) are not "
                             "supported: bench runs feed-forward NIR graphs")
        for k in ready:
            done.append(k)
            placed.add(k)
        waiting = [k for k in waiting if k not in placed]
    return done


def _cycle(stuck: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Of the nodes a topological order could not place, those on a cycle:
    drop the ones that feed nothing still stuck, until none can be dropped."""
    left = set(stuck)
    while True:
        sinks = {k for k in left if not any(a == k and b in left for a, b in edges)}
        if not sinks:
            return sorted(left)
        left -= sinks


# --------------------------------------------------------------------------- nodes

@dataclass
class _Tensor:
    """A value flowing between nodes; ``scale``: a SumPool2d's window area,
    still to be multiplied in by whatever reads it (see _sumpool)."""

    name: str
    shape: Shape
    scale: float = 1.0


@dataclass
class _Importer:
    nir_graph: Any
    dt: float
    layers: list[Layer] = field(default_factory=list)
    values: dict[str, _Tensor] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def run(self) -> Graph:
        import nir

        nodes: dict[str, Any] = dict(self.nir_graph.nodes)
        edges = [(str(a), str(b)) for a, b in self.nir_graph.edges]
        inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
        outputs = [k for k, n in nodes.items() if isinstance(n, nir.Output)]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"the NIR graph has {len(inputs)} Input and {len(outputs)} Output "
                             "nodes; bench needs one of each")
        preds: dict[str, list[str]] = {k: [] for k in nodes}
        for src, dst in edges:
            if dst in preds:
                preds[dst].append(src)
        input_key = inputs[0]
        input_shape = self._input_shape(input_key, nodes[input_key])
        self.names = set(nodes)
        self.values[input_key] = _Tensor(input_key, input_shape)
        for key in _order(nodes, edges):
            node = nodes[key]
            if key == input_key:
                if preds[key]:
                    raise ModelError(f"the Input node {key!r} has incoming edges")
                continue
            if not preds[key]:
                if key == outputs[0]:
                    raise ModelError(f"the Output node {key!r} is not connected")
                continue  # an unconnected node computes nothing the output needs
            x = self._summed(key, preds[key])
            if isinstance(node, nir.Output):
                self._check_declared(key, node.output_type.get("output"), x.shape, "output")
                if x.scale != 1.0:
                    raise self._sum_pool_reader(key, "Output")
                self.values[key] = x
                continue
            self.values[key] = self._node(key, node, x)
        out = self.values.get(outputs[0])
        if out is None:
            raise ModelError(f"the Output node {outputs[0]!r} is not reached from the Input")
        graph = simplify(Graph(input_shape=input_shape, layers=self.layers, output=out.name,
                               input_name=input_key))
        try:
            graph.validate()
        except ValueError as e:
            raise ModelError(f"internal: the imported NIR graph is invalid: {e}") from e
        return graph

    # ---- plumbing

    def _input_shape(self, key: str, node: Any) -> Shape:
        shape = node.input_type.get("input")
        if shape is None or np.size(shape) == 0:
            raise ModelError(f"the Input node {key!r} has no shape")
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        if any(d <= 0 for d in dims):
            raise ModelError(f"the Input node {key!r} has shape {dims}")
        return dims

    def _check_declared(self, key: str, declared: Any, shape: Shape, what: str) -> None:
        """A node's own type, where the file gives one, must agree with what
        flows into it (the element count: NIR writers differ on 0-d types)."""
        if declared is None or np.size(declared) == 0:
            return
        dims = tuple(int(d) for d in np.asarray(declared).reshape(-1))
        if math.prod(dims) != numel(shape):
            raise ModelError(f"node {key!r}: its {what} type {dims} does not match the "
                             f"{shape} it receives")

    def _fresh(self, name: str) -> str:
        out, k = name, 1
        while out in self.names:
            k += 1
            out = f"{name}{k}"
        self.names.add(out)
        return out

    def _add_layer(self, name: str, op: str, inputs: list[_Tensor], out_shape: Shape,
                   params: dict[str, Any] | None = None, weight: np.ndarray | None = None,
                   bias: np.ndarray | None = None) -> _Tensor:
        state = tuple(out_shape) if op in ("lif", "li") else None
        self.layers.append(Layer(
            name=name, op=op, inputs=[t.name for t in inputs], output=name,
            in_shapes=[t.shape for t in inputs], out_shape=tuple(out_shape),
            params=params or {},
            weight=None if weight is None else np.ascontiguousarray(weight, dtype=np.float32),
            bias=None if bias is None else np.ascontiguousarray(bias, dtype=np.float32),
            state_shape=state))
        return _Tensor(name, tuple(out_shape))

    def _summed(self, key: str, preds: list[str]) -> _Tensor:
        """The node's input: edges into one node add up (NIR's rule)."""
        xs = [self.values[p] for p in preds if p in self.values]
        if len(xs) != len(preds):
            missing = [p for p in preds if p not in self.values]
            raise ModelError(f"node {key!r} reads {missing[0]!r}, which is not connected to "
                             "the Input")
        acc = xs[0]
        for x in xs[1:]:
            if x.shape != acc.shape:
                raise ModelError(f"node {key!r} sums inputs of shapes {acc.shape} and {x.shape}")
            if acc.scale != 1.0 or x.scale != 1.0:
                raise self._sum_pool_reader(key, "a sum of edges")
            acc = self._add_layer(self._fresh(f"{key}.sum"), "add", [acc, x], acc.shape,
                                  {"activation": None})
        return acc

    def _sum_pool_reader(self, key: str, what: str) -> ModelError:
        return ModelError(f"node {key!r}: a SumPool2d feeds {what}; bench folds a sum pool's "
                          "window area into the Affine/Linear/Conv or neuron that reads it")

    def _unsupported(self, key: str, node: Any, why: str) -> ModelError:
        return ModelError(f"node {key!r} ({type(node).__name__}): {why}")

    def _one(self, key: str, node: Any, name: str, size: int) -> float:
        """A per-neuron parameter array as the layer's one value."""
        arr = np.asarray(getattr(node, name), dtype=np.float64).reshape(-1)
        if arr.size not in (1, size):
            raise self._unsupported(key, node, f"{name} has {arr.size} values for {size} neurons")
        if not np.all(arr == arr[0]):
            raise self._unsupported(key, node, f"per-neuron parameters are not supported yet "
                                    f"({name} differs between neurons); use one value per layer")
        value = float(arr[0])
        if not np.isfinite(value):
            raise self._unsupported(key, node, f"{name} is {value}")
        return value

    # ---- one node

    def _node(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        import nir

        handler = _handlers().get(type(node))
        if handler is None:
            if isinstance(node, nir.NIRGraph):
                raise self._unsupported(key, node, "nested graphs (how snnTorch writes its "
                                        "recurrent RLeaky/RSynaptic) are not supported")
            raise self._unsupported(key, node, f"not supported; bench imports {SUPPORTED}")
        if x.scale != 1.0 and type(node) not in _TAKES_SCALE:
            raise self._sum_pool_reader(key, type(node).__name__)
        return handler(self, key, node, x)

    def _dense(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2:
            raise self._unsupported(key, node, f"weight of shape {w.shape}; bench needs "
                                    "(out, in)")
        if len(x.shape) != 1 or x.shape[0] != w.shape[1]:
            raise self._unsupported(key, node, f"weight {w.shape} applied to shape {x.shape}; "
                                    f"flatten first to ({w.shape[1]},)")
        bias = getattr(node, "bias", None)
        if bias is not None:
            bias = np.broadcast_to(np.asarray(bias, dtype=np.float64).reshape(-1),
                                   (w.shape[0],))
        return self._add_layer(key, "linear", [x], (w.shape[0],), {"activation": None},
                               w * x.scale, bias)

    def _conv(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        w = np.asarray(node.weight, dtype=np.float64)
        nd = w.ndim - 2
        if nd not in (1, 2) or len(x.shape) != nd + 1:
            raise self._unsupported(key, node, f"weight {w.shape} on input of shape {x.shape}")
        groups = int(node.groups)
        if w.shape[1] * groups != x.shape[0]:
            raise self._unsupported(key, node, f"{w.shape[1]} x {groups} group input channels "
                                    f"for an input of {x.shape[0]} channels")
        kernel = tuple(int(k) for k in w.shape[2:])
        stride = _ints(node.stride, nd)
        dilation = _ints(node.dilation, nd)
        if any(d != 1 for d in dilation):
            raise self._unsupported(key, node, f"dilation {dilation} is not supported (only 1)")
        padding = self._padding(key, node, node.padding, kernel, stride)
        out_sp = tuple((x.shape[1 + i] + 2 * padding[i] - kernel[i]) // stride[i] + 1
                       for i in range(nd))
        if any(o <= 0 for o in out_sp):
            raise self._unsupported(key, node, f"kernel {kernel} larger than input {x.shape}")
        bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64).reshape(-1),
                               (w.shape[0],))
        params = {"kernel": kernel, "stride": stride, "padding": padding,
                  "dilation": (1,) * nd, "groups": groups, "activation": None}
        return self._add_layer(key, f"conv{nd}d", [x], (w.shape[0], *out_sp), params,
                               w * x.scale, bias)

    def _padding(self, key: str, node: Any, padding: Any, kernel: tuple[int, ...],
                 stride: tuple[int, ...]) -> tuple[int, ...]:
        nd = len(kernel)
        if isinstance(padding, (str, bytes)):
            mode = padding.decode() if isinstance(padding, bytes) else padding
            if mode == "valid":
                return (0,) * nd
            if mode == "same" and all(s == 1 for s in stride) and all(k % 2 for k in kernel):
                return tuple((k - 1) // 2 for k in kernel)
            raise self._unsupported(key, node, f"padding {mode!r} with kernel {kernel} and "
                                    f"stride {stride} is not supported (symmetric padding only)")
        return _ints(padding, nd)

    def _flatten(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        nd = len(x.shape)
        start, end = int(node.start_dim), int(node.end_dim)
        start, end = start + nd if start < 0 else start, end + nd if end < 0 else end
        if not 0 <= start <= end < nd:
            raise self._unsupported(key, node, f"start_dim {node.start_dim}, end_dim "
                                    f"{node.end_dim} on shape {x.shape} (dims without batch)")
        out = (*x.shape[:start], math.prod(x.shape[start:end + 1]), *x.shape[end + 1:])
        op = "flatten" if len(out) == 1 else "reshape"
        return _Tensor(self._add_layer(key, op, [x], out).name, out, x.scale)

    def _pool(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        import nir

        if len(x.shape) != 3:
            raise self._unsupported(key, node, f"2-D pooling on shape {x.shape}")
        kernel = _ints(node.kernel_size, 2)
        stride = _ints(node.stride, 2)
        padding = _ints(node.padding, 2)
        out_sp = tuple((x.shape[1 + i] + 2 * padding[i] - kernel[i]) // stride[i] + 1
                       for i in range(2))
        if any(o <= 0 for o in out_sp):
            raise self._unsupported(key, node, f"kernel {kernel} larger than input {x.shape}")
        params = {"kernel": kernel, "stride": stride, "padding": padding,
                  "count_include_pad": True}
        out = self._add_layer(key, "avgpool2d", [x], (x.shape[0], *out_sp), params)
        if isinstance(node, nir.SumPool2d):
            # The window sum is the window mean (zeros for padding) times the area;
            # the reader multiplies it in with its weights or input gain.
            out.scale = float(math.prod(kernel))
        return out

    def _tau(self, key: str, node: Any, size: int, name: str = "tau") -> float:
        tau = self._one(key, node, name, size)
        if tau <= 0:
            raise self._unsupported(key, node, f"{name} = {tau}")
        if self.dt > tau:
            raise self._unsupported(key, node, f"dt = {self.dt:g} s is longer than {name} = "
                                    f"{tau:g} s (the Euler step would not decay): pass a "
                                    "smaller --dt")
        return tau

    def _neuron(self, key: str, node: Any, x: _Tensor) -> _Tensor:
        import nir

        size = numel(x.shape)
        self._check_declared(key, node.input_type.get("input"), x.shape, "input")
        kind = type(node).__name__
        if isinstance(node, nir.Threshold):
            neuron = Neuron(decay=0.0, threshold=self._one(key, node, "threshold", size),
                            reset="none", gain=x.scale, fire="gt", pre_reset=False,
                            post_reset=False, source="nir.Threshold")
            return self._add_layer(key, "lif", [x], x.shape, {"neuron": neuron.params()})
        r = self._one(key, node, "r", size)
        if isinstance(node, nir.IF):
            decay, gain, offset = 1.0, r * self.dt, 0.0
        else:
            step = self.dt / self._tau(key, node, size)
            decay, gain = 1.0 - step, r * step
            offset = self._one(key, node, "v_leak", size) * step
        gain *= x.scale
        if isinstance(node, nir.LI):
            li = Integrator(decay=decay, gain=gain, offset=offset, source=f"nir.{kind}")
            return self._add_layer(key, "li", [x], x.shape, {"integrator": li.params()})
        neuron = Neuron(decay=decay, threshold=self._one(key, node, "v_threshold", size),
                        reset="zero", gain=gain, offset=offset,
                        v_reset=self._one(key, node, "v_reset", size), fire="gt",
                        pre_reset=False, post_reset=True, source=f"nir.{kind}")
        return self._add_layer(key, "lif", [x], x.shape, {"neuron": neuron.params()})


def _ints(value: Any, nd: int) -> tuple[int, ...]:
    """An int or a per-dimension sequence (NIR writes either) as nd ints."""
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        return (int(arr[0]),) * nd
    if arr.size != nd:
        raise ModelError(f"expected {nd} values, got {arr.tolist()}")
    return tuple(int(v) for v in arr)


_Handler = Callable[[_Importer, str, Any, _Tensor], _Tensor]
_HANDLERS: dict[type, _Handler] = {}
_TAKES_SCALE: set[type] = set()  # node kinds that multiply in a sum pool's area


def _handlers() -> dict[type, _Handler]:
    """By NIR class; filled on first use (nir is imported only for .nir files)."""
    if _HANDLERS:
        return _HANDLERS
    import nir

    _HANDLERS.update({
        nir.Affine: _Importer._dense, nir.Linear: _Importer._dense,
        nir.Conv1d: _Importer._conv, nir.Conv2d: _Importer._conv,
        nir.Flatten: _Importer._flatten,
        nir.AvgPool2d: _Importer._pool, nir.SumPool2d: _Importer._pool,
        nir.LIF: _Importer._neuron, nir.IF: _Importer._neuron, nir.LI: _Importer._neuron,
        nir.Threshold: _Importer._neuron,
    })
    _TAKES_SCALE.update({nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.Flatten,
                         nir.LIF, nir.IF, nir.LI, nir.Threshold})
    return _HANDLERS

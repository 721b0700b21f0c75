"""The qualia engine: LEAT's Qualia-CodeGen (``qualia-codegen-core`` 2.6.0) as
a peer, built with our runtime, board support and flags.

Flow of ``generate()``:

1. Our Graph IR (BatchNorm folded) is rebuilt as an fx-traceable
   ``nn.Module`` of standard torch layers, one submodule per IR layer, and
   checked against ``harness.model.reference.run_graph`` on random inputs.
2. Qualia's ``TorchModelGraph`` traces it; every node gets a
   ``Quantization`` (number type, width, long width, power-of-two scale
   factors) computed from OUR calibration ranges (see ``frac_bits``).
3. Qualia's ``Converter`` fuses ReLUs, quantizes the weights, allocates its
   activation unions and renders its Jinja templates into ``out_dir/qualia``
   (``model.c`` includes every layer and weight file; ``include/model.h``
   declares ``qualia_net(const input_t, output_t)``).
4. ``out_dir/model.c`` (ours) defines ``bench_model_info`` and
   ``bench_model_run()``, which calls ``qualia_net``.

Layout: Qualia's C is channels-last ((L, C), (H, W, C)) while the graph is
channels-first. The build declares ``input_layout``/``output_layout``
"hwc", so the host sends inputs in Qualia's order and reorders its outputs:
the wrapper passes the caller's buffers straight through (no copy, no
extra RAM, nothing added to the timed region). ``arena_bytes`` is what
Qualia's allocator reserves: the sum of its ``static union activationsN``
(the graph output goes to the caller's buffer). Some templates also keep
static scratch (conv2d accumulators, maxpool1d running max), reported as
``extra["scratch_bytes"]``; both are in the ELF's RAM figure.

Integer formats (Qualia: per-layer symmetric power-of-two fixed point, as
its ``Quantizer`` computes them for ``quantype='fxp'`` and minmax ranges): a
tensor whose largest magnitude is ``m`` gets ``width - 2 - floor(log2 m)``
fractional bits (``width - 2`` when ``m`` is 0). Activations use ``m`` from
our calibration range of that tensor; weights and biases use their own
``max |w|`` and ``max |b|`` (Qualia's separate bias quantizer: bias_q). Round
mode is nearest for weights and activations. Accumulators: 32 bits for int16
(Qualia's default) and for int8 (Qualia's default is 16 bits, which wraps on
ordinary post-training ranges; see ``LONG_WIDTH``). One addition to Qualia's
rule: a conv/linear accumulator holds its sum with q_in + max(q_w, q_b)
fractional bits, which overflows 32 bits for int16 (e.g. 13 + 18); q_w and
q_b are lowered just enough for the calibrated pre-activation range to fit
(``formats[...]["headroom_capped"]`` in the build's extra says where).

What Qualia 2.6.0 cannot express (EngineError naming the layer): dilated
convolutions, non-square 2-D kernels (its conv2d template declares the
kernel [KX][KY] but indexes it [y][x]), padded max/avg pooling, reshape
other than flatten, ReLU6 after add/pooling, an activation whose input is
also read raw elsewhere (Qualia fuses every ReLU into its producer). Global
average pooling becomes an average pool over the whole map (its integer
mean truncates, as Qualia's template does); the residual add is Qualia's own
Add layer (registered as a custom layer, as qualia-core does).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.checks import Check, package
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.errors import EngineError, ToolMissingError
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph, Layer, numel
from harness.paths import FIRMWARE
from harness.quant import QuantConfig, TensorQuant

ENGINE = "qualia"
MODEL_NAME = "qualia_net"  # Qualia's entry function and layer-name prefix
_RUNTIME = FIRMWARE / "runtime"

# dtype -> (width, long width). int8 with Qualia's default 16-bit accumulator
# overflows on post-training (not QAT-constrained) ranges, and 32-bit adds
# cost nothing extra on a Cortex-M4, so both integer types accumulate in 32.
LONG_WIDTH: dict[str, int] = {DType.FLOAT32: 32, DType.INT16: 32, DType.INT8: 32}
_WIDTH: dict[str, int] = {DType.FLOAT32: 32, DType.INT16: 16, DType.INT8: 8}
_CHECK_TOL = 1e-4  # rebuilt module vs numpy reference, relative to the output scale

# Activations Qualia can fuse into each producer (the templates #error otherwise).
_FUSES: dict[str, tuple[str, ...]] = {
    "conv1d": ("relu", "relu6"), "conv2d": ("relu", "relu6"), "linear": ("relu", "relu6"),
    "add": ("relu",), "maxpool1d": ("relu",), "maxpool2d": ("relu",),
    "avgpool1d": ("relu",), "avgpool2d": ("relu",), "global_avgpool": ("relu",),
}


def frac_bits(width: int, magnitude: float) -> int:
    """Qualia's fractional bits for a tensor whose largest |value| is
    ``magnitude`` (qualia-core ``Quantizer.fractional_bits``: ``bits - 1 +
    maxWeight(max)``, maxWeight = -(floor(log2 m) + 1), or -1 for m = 0)."""
    if not math.isfinite(magnitude):
        raise EngineError(f"cannot pick a fixed-point format for a range of {magnitude}")
    if magnitude == 0.0:
        return width - 2
    return width - 2 - math.floor(math.log2(magnitude))


@dataclass
class _Step:
    """One submodule of the rebuilt torch model = one Qualia node."""

    module: str  # submodule name = fx node name = Qualia layer name (before prefixing)
    inputs: list[str]  # tensor names
    output: str  # tensor name written
    layer: Layer  # the IR layer it comes from
    range_of: str  # tensor whose calibration range sets its output format


@dataclass
class QualiaLayer:
    """One function Qualia generated, and the IR layer it computes."""

    name: str  # C function name
    ir_name: str
    op: str
    macs: int
    output_bytes: int
    pool: int  # Qualia's activation union index (0: the caller's output buffer)


@dataclass
class QualiaBuild:
    """What ``generate_qualia()`` wrote."""

    wrapper_c: Path  # bench_model_info + bench_model_run()
    unit_c: Path  # compiles Qualia's model.c
    qualia_dir: Path
    input_bytes: int
    output_bytes: int
    pool_bytes: list[int]  # each ``static union activationsN``
    scratch_bytes: int  # static scratch inside Qualia's layer functions
    input_quant: TensorQuant | None
    output_quant: TensorQuant | None
    layers: list[QualiaLayer] = field(default_factory=list)
    formats: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def arena_bytes(self) -> int:
        return sum(self.pool_bytes)


# --------------------------------------------------------------------------- graph -> torch


def _plan(graph: Graph) -> list[_Step]:
    """Map IR layers to Qualia-expressible submodules; refuse the rest."""
    producers = {layer.output: layer for layer in graph.layers}
    steps: list[_Step] = []
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
        elif op not in ("linear", "add", "global_avgpool"):
            raise EngineError(f"{where}: op not supported by the qualia engine")
        act = layer.params.get("activation")
        if act is not None and act not in _FUSES.get(op, ()):
            raise EngineError(f"{where}: Qualia cannot fuse {act} into {op}")
        if op == "global_avgpool" and len(layer.out_shape) == 1:
            # Qualia's pool keeps the spatial dims: pool, then flatten.
            steps.append(_Step(name, list(layer.inputs), f"{layer.output}#pooled", layer,
                               layer.output))
            steps.append(_Step(f"{name}_flat", [f"{layer.output}#pooled"], layer.output, layer,
                               layer.output))
        elif act is not None:
            steps.append(_Step(name, list(layer.inputs), f"{layer.output}#pre", layer,
                               layer.output))
            steps.append(_Step(f"{name}_act", [f"{layer.output}#pre"], layer.output, layer,
                               layer.output))
        else:
            steps.append(_Step(name, list(layer.inputs), layer.output, layer, layer.output))
    return steps


def _check_flatten(graph: Graph, layer: Layer, where: str) -> None:
    shape = tuple(layer.in_shapes[0])
    if len(shape) < 2 or numel(shape[1:]) == 1 or shape[0] == 1:
        return  # channels-first and channels-last orders agree
    readers = [graph.layers[j] for j in graph.consumers(layer.output)]
    if graph.output == layer.output or any(r.op != "linear" for r in readers):
        raise EngineError(f"{where}: flattening a {shape} map is only correct in Qualia when "
                          f"a linear layer reads it (Qualia reorders that layer's weights)")


def _module_for(step: _Step, graph: Graph) -> Any:  # noqa: ANN401 (torch is imported lazily)
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
        return _add_module()()
    if op == "flatten":
        return nn.Flatten()
    raise EngineError(f"layer {layer.name!r}: op {op!r} has no Qualia equivalent")


_ADD_CLS: list[type] = []


def _add_module() -> type:
    """The residual add as a leaf module, mapped to Qualia's Add layer (the
    way qualia-core registers its own Add)."""
    if not _ADD_CLS:
        from torch import nn

        class QualiaAdd(nn.Module):
            def forward(self, a: Any, b: Any) -> Any:  # noqa: ANN401
                return a + b

        _ADD_CLS.append(QualiaAdd)
    return _ADD_CLS[0]


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) > 1 else tuple(shape)


def build_module(graph: Graph, steps: list[_Step] | None = None) -> Any:  # noqa: ANN401
    """An fx-traceable torch module computing ``graph`` (weights copied),
    with the channels-last ``input_shape`` attribute Qualia reads."""
    from torch import nn

    steps = _plan(graph) if steps is None else steps

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


# --------------------------------------------------------------------------- Qualia


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _quiet_qualia() -> Iterator[_Collect]:
    """Keep Qualia's logging and its fx table (printed to stdout) off our
    console; collect its warnings and errors for the EngineError message."""
    log = logging.getLogger("qualia_codegen_core")
    handler = _Collect()
    saved = (log.propagate, log.level)
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield handler
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = saved


def _qualia_failed(what: str, handler: _Collect, exc: BaseException | None = None) -> EngineError:
    why = "; ".join(handler.messages[-3:]) or (f"{type(exc).__name__}: {exc}" if exc else "")
    return EngineError(f"Qualia-CodeGen could not {what}" + (f": {why}" if why else ""))


def _import_qualia() -> None:
    try:
        import qualia_codegen_core  # noqa: F401
        import tabulate  # noqa: F401  (Qualia prints its fx table with it, undeclared)
    except ImportError as e:
        raise ToolMissingError(f"the qualia engine needs qualia-codegen-core 2.6.0 and "
                               f"tabulate ({e}); reinstall bench: .venv/bin/pip install -e .") \
            from e


def _feeds_relu6(step: _Step, steps: list[_Step]) -> bool:
    readers = [s for s in steps if step.output in s.inputs]
    return any((r.layer.op == "relu6" and not r.module.endswith("_act"))
               or (r.module.endswith("_act") and r.layer.params.get("activation") == "relu6")
               for r in readers)


def _annotate(modelgraph: Any, steps: list[_Step], graph: Graph, dtype: str,  # noqa: ANN401
              quant: QuantConfig | None) -> dict[str, dict[str, int | None]]:
    """Set every node's Quantization; returns the formats chosen, by node."""
    from qualia_codegen_core.graph import Quantization
    from qualia_codegen_core.graph.RoundMode import RoundMode

    width, long_width = _WIDTH[dtype], LONG_WIDTH[dtype]
    if dtype == DType.FLOAT32:
        for node in modelgraph.nodes:
            node.q = Quantization(number_type=float, width=width, long_width=long_width,
                                  weights_width=width, bias_width=width, output_width=width,
                                  weights_scale_factor=0, bias_scale_factor=None,
                                  output_scale_factor=0, weights_round_mode=RoundMode.NONE,
                                  output_round_mode=RoundMode.NONE)
        return {}
    assert quant is not None
    tensor_of = {s.module: s.range_of for s in steps}
    tensor_of["input"] = graph.input_name  # Qualia's TInputLayer is always named "input"
    formats: dict[str, dict[str, int | None]] = {}
    capped: list[str] = []
    relu6_fed = {s.module for s in steps if _feeds_relu6(s, steps)}
    for node in modelgraph.nodes:
        name = node.layer.name
        if name not in tensor_of:
            raise EngineError(f"Qualia produced a node {name!r} that bench did not ask for")
        lo, hi = quant.calibration.range_of(tensor_of[name])
        out_q = frac_bits(width, max(abs(lo), abs(hi)))
        w_q: int | None = 0
        b_q: int | None = None
        weights = node.layer.weights
        if "kernel" in weights:
            w_q = frac_bits(width, float(np.max(np.abs(weights["kernel"]))))
        if "bias" in weights:
            b_q = frac_bits(width, float(np.max(np.abs(weights["bias"]))))
        if "kernel" in weights:
            # Headroom: the accumulator holds the pre-activation sum with
            # q_in + max(q_w, q_b) fractional bits; Qualia's max|w| rule alone
            # overflows int32 for int16 (e.g. 13 + 18 bits). Lower q_w/q_b
            # just enough for the calibrated pre-activation range (and for
            # the ReLU6 bound, which the template also shifts to that format).
            m_acc = max(abs(lo), abs(hi), 6.0 if name in relu6_fed else 0.0)
            cap = frac_bits(long_width, m_acc) - node.innodes[0].q.output_scale_factor
            if max(w_q, b_q if b_q is not None else w_q) > cap:
                w_q = min(w_q, cap)
                b_q = None if b_q is None else min(b_q, cap)
                capped.append(name)
        for kind, q in (("weights", w_q), ("bias", b_q)):
            if q is not None and q < 0:
                # Qualia's Quantizer computes 1 << q: weights this large do not fit.
                raise EngineError(f"layer {name!r}: {kind} too large for {dtype} fixed point "
                                  f"(would need {-q} integer bits above the width)")
        node.q = Quantization(number_type=int, width=width, long_width=long_width,
                              weights_width=width, bias_width=width, output_width=width,
                              weights_scale_factor=w_q, bias_scale_factor=b_q,
                              output_scale_factor=out_q, weights_round_mode=RoundMode.NEAREST,
                              output_round_mode=RoundMode.NEAREST)
        formats[name] = {"output": out_q, "weights": w_q if weights else None, "bias": b_q,
                         "headroom_capped": name in capped}
    return formats


def generate_qualia(graph: Graph, out_dir: Path, model_hash: bytes, dtype: str,
                    quant: QuantConfig | None = None) -> QualiaBuild:
    """Run Qualia-CodeGen on ``graph`` and write our wrapper; see the module
    docstring.

    Raises:
        EngineError: a layer Qualia cannot express, a failed conversion, or
            a missing/unsuitable quantization config.
        ToolMissingError: qualia-codegen-core (or tabulate) is not installed.
    """
    if dtype not in _WIDTH:
        raise EngineError(f"the qualia engine has no {dtype}; it has float32, int16, int8")
    if dtype != DType.FLOAT32:
        if quant is None:
            raise EngineError(f"a qualia {dtype} build needs calibration ranges")
        if quant.scheme != Scheme.POT:
            raise EngineError(f"Qualia quantizes per layer to power-of-two fixed point only "
                              f"(scheme 'pot'), not {quant.scheme!r}")
    if len(model_hash) < 8:
        raise EngineError(f"model_hash needs at least 8 bytes, got {len(model_hash)}")
    try:
        graph.validate()
    except ValueError as e:
        raise EngineError(f"invalid graph: {e}") from e
    if len(graph.input_shape) > 3:
        raise EngineError(f"Qualia takes 1-D or 2-D inputs, not {graph.input_shape}")
    steps = _plan(graph)
    module = build_module(graph, steps)
    check_module(graph, module)

    out_dir = Path(out_dir)
    qdir = out_dir / "qualia"
    with _quiet_qualia() as log:
        _import_qualia()  # inside: its import warns that TensorFlow is absent
        from qualia_codegen_core import Converter
        from qualia_codegen_core.Allocator import Allocator
        from qualia_codegen_core.graph.layers import TAddLayer
        from qualia_codegen_core.graph.TorchModelGraph import TorchModelGraph

        try:
            modelgraph = TorchModelGraph(module).convert(
                custom_layers={_add_module(): lambda *_: (TAddLayer, [])})
        except Exception as e:  # noqa: BLE001 (any failure inside Qualia is an engine error)
            raise _qualia_failed("trace the model", log, e) from e
        if modelgraph is None:
            raise _qualia_failed("trace the model", log)
        formats = _annotate(modelgraph, steps, graph, dtype, quant)
        step_of = {id(node): s for node in modelgraph.nodes[1:]
                   for s in steps if s.module == node.layer.name}
        try:
            rendered = Converter(output_path=qdir, model_name=MODEL_NAME).convert_model(
                modelgraph)
            allocation = Allocator()(modelgraph) if rendered else None
        except Exception as e:  # noqa: BLE001
            raise _qualia_failed("generate C", log, e) from e
        if not rendered or not allocation:
            raise _qualia_failed("generate C", log)

    itemsize = DType(dtype).itemsize
    nodes = modelgraph.nodes
    pools = allocation["pools"]
    index = allocation["index"]
    assert isinstance(pools, list) and isinstance(index, dict)
    pool_bytes = [max((numel(tuple(n.output_shape[0][1:])) for n in pool), default=0) * itemsize
                  for pool in pools]
    layers: list[QualiaLayer] = []
    for node in nodes[1:]:
        step = step_of.get(id(node))
        if step is None:
            raise EngineError(f"cannot map Qualia layer {node.layer.name!r} back to the graph")
        layers.append(QualiaLayer(
            name=node.layer.name, ir_name=step.layer.name, op=step.layer.op,
            macs=step.layer.macs if not step.module.endswith(("_flat", "_act")) else 0,
            output_bytes=numel(tuple(node.output_shape[0][1:])) * itemsize,
            pool=int(index.get(node, 0))))

    # Static scratch some templates keep besides the unions (conv2d's per-map
    # accumulators, maxpool1d's running max): in .bss, reported apart.
    long_bytes = 4 if dtype == DType.FLOAT32 else LONG_WIDTH[dtype] // 8
    scratch = 0
    for node, li in zip(nodes[1:], layers, strict=True):
        out = tuple(node.output_shape[0][1:])
        if li.op == "conv2d":
            scratch += numel(out[:-1]) * long_bytes
        elif li.op == "maxpool1d":
            scratch += out[-1] * long_bytes
    in_shape, out_shape = tuple(graph.input_shape), tuple(graph.output_shape)
    in_q = out_q = None
    if dtype != DType.FLOAT32:
        iq, oq = nodes[0].q.output_scale_factor, nodes[-1].q.output_scale_factor
        in_q = TensorQuant(dtype, 2.0 ** -iq, 0, iq)
        out_q = TensorQuant(dtype, 2.0 ** -oq, 0, oq)
    build = QualiaBuild(wrapper_c=out_dir / "model.c", unit_c=out_dir / "qualia_net.c",
                        qualia_dir=qdir, input_bytes=numel(in_shape) * itemsize,
                        output_bytes=numel(out_shape) * itemsize, pool_bytes=pool_bytes,
                        scratch_bytes=scratch, input_quant=in_q, output_quant=out_q,
                        layers=layers, formats=formats)
    _mark_layers(qdir / "model.c", [li.name for li in layers])
    build.wrapper_c.write_text(_wrapper_source(graph, build, dtype, model_hash[:8]))
    build.unit_c.write_text(_UNIT)
    return build


def _mark_layers(model_c: Path, names: list[str]) -> None:
    """Put BENCH_LAYER_MARK() after each layer call of Qualia's call chain
    (a no-op unless -DBENCH_PER_LAYER), so per-layer profiles work as for
    the native engine. Each call is matched exactly once or nothing is
    written."""
    text = model_c.read_text()
    for name in names:
        # Qualia's model.cc renders "  <layer>(\n    args,\n    ...\n    );"
        text, n = re.subn(rf"(\n  {re.escape(name)}\((?:[^;])*?\);)",
                          r"\1\n  BENCH_LAYER_MARK();", text, count=2)
        if n != 1:
            raise EngineError(f"found {n} calls of {name} in Qualia's {model_c}; expected one "
                              f"(qualia-codegen-core version {_qualia_version()}?)")
    model_c.write_text(text)


# Qualia's model.c compiled as its own object, as Qualia's projects do; the
# one warning its templates raise at -Wextra is silenced for its code only.
_UNIT = """/* Generated by bench (engine: qualia). Do not edit. */
/* Qualia-CodeGen's translation unit: qualia/model.c includes every layer and
 * weight file (bench added BENCH_LAYER_MARK() after each layer call). Its
 * number.h float helpers ignore scale_factor and round_mode
 * (-Wunused-parameter at -Wextra); that warning is off for this file only. */
#include "bench_model.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "qualia/model.c"
"""


def _wrapper_source(graph: Graph, build: QualiaBuild, dtype: str, hash8: bytes) -> str:
    in_shape = tuple(graph.input_shape)
    return "\n".join([
        f"/* Generated by bench (engine: qualia, {dtype}). Do not edit. */",
        f"/* Calls Qualia-CodeGen's {MODEL_NAME}() (qualia/model.c) on the caller's buffers. "
        f"Qualia reads channels-last {channels_last(in_shape)} for the model's {in_shape}: "
        f"the host sends that order (manifest input_layout/output_layout \"hwc\"), so "
        f"nothing is copied here. */",
        "#include <stdint.h>",
        "",
        '#include "bench_model.h"',
        "",
        "/* Qualia's number.h: its float scale() helpers ignore two parameters. */",
        "#pragma GCC diagnostic push",
        '#pragma GCC diagnostic ignored "-Wunused-parameter"',
        '#include "model.h"',
        "#pragma GCC diagnostic pop",
        "",
        model_info_c(ModelInfo(engine=ENGINE, input_bytes=build.input_bytes,
                               output_bytes=build.output_bytes, arena_bytes=build.arena_bytes,
                               input_dtype=DType(dtype), output_dtype=DType(dtype),
                               model_hash=hash8)),
        "int32_t bench_model_run(const void *input, void *output)",
        "{",
        f"    {MODEL_NAME}(*(const input_t *)input, *(output_t *)output);",
        "    return 0;",
        "}",
        "",
    ])


class QualiaEngine(Engine):
    """LEAT's Qualia-CodeGen, under bench's runtime, board code and flags."""

    name = ENGINE
    capabilities = Capabilities(
        dtypes=(DType.FLOAT32, DType.INT16, DType.INT8),
        schemes={DType.INT8: (Scheme.POT,), DType.INT16: (Scheme.POT,)})

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        b = generate_qualia(graph, out_dir, model_hash, dtype, quant)
        return GeneratedModel(
            sources=(b.wrapper_c, b.unit_c),
            include_dirs=(b.qualia_dir, b.qualia_dir / "include", _RUNTIME),
            input_bytes=b.input_bytes, output_bytes=b.output_bytes, arena_bytes=b.arena_bytes,
            input_dtype=DType(dtype), output_dtype=DType(dtype), input_layout=Layout.HWC,
            output_layout=Layout.HWC, input_quant=b.input_quant, output_quant=b.output_quant,
            layers=tuple({"name": li.ir_name, "op": li.op, "macs": li.macs} for li in b.layers),
            extra={"qualia_version": _qualia_version(), "long_width": LONG_WIDTH[dtype],
                   "pool_bytes": b.pool_bytes,
                   "scratch_bytes": b.scratch_bytes,
                   "formats": b.formats, "layers": [dict(vars(li)) for li in b.layers]})

    def checks(self) -> list[Check]:
        return [package("qualia-codegen-core", required=False,
                        hint="peer engine for --engine qualia: pip install "
                        "qualia-codegen-core==2.6.0 tabulate (or 'make setup')")]


def _qualia_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qualia-codegen-core")
    except PackageNotFoundError:
        return "unknown"

"""Running Qualia-CodeGen on the rebuilt module (modules.py): its formats
from our calibration ranges, its C, the layer marks, and our wrapper that
implements bench_model.h around it."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.engines.qualia import snn
from harness.engines.qualia.formats import frac_bits
from harness.engines.qualia.modules import (
    Step,
    add_module,
    build_module,
    channels_last,
    check_module,
    plan,
)
from harness.errors import EngineError, ToolMissingError
from harness.kinds import DType, Scheme
from harness.model.ir import Graph, numel
from harness.quant import QuantConfig, TensorQuant

ENGINE = "qualia"
MODEL_NAME = "qualia_net"  # Qualia's entry function and layer-name prefix

# dtype -> (width, long width). int8 with Qualia's default 16-bit accumulator
# overflows on post-training (not QAT-constrained) ranges, and 32-bit adds
# cost nothing extra on a Cortex-M4, so both integer types accumulate in 32.
LONG_WIDTH: dict[str, int] = {DType.FLOAT32: 32, DType.INT16: 32, DType.INT8: 32}
_WIDTH: dict[str, int] = {DType.FLOAT32: 32, DType.INT16: 16, DType.INT8: 8}


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
    formats: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Spiking graphs: the potentials (static in Qualia's IF/LIF files), the
    # wrapper's step output and readout sum, and what differs from the model.
    state_bytes: int = 0
    readout_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def arena_bytes(self) -> int:
        return sum(self.pool_bytes) + self.state_bytes + self.readout_bytes


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


def _feeds_relu6(step: Step, steps: list[Step]) -> bool:
    readers = [s for s in steps if step.output in s.inputs]
    return any((r.layer.op == "relu6" and not r.module.endswith("_act"))
               or (r.module.endswith("_act") and r.layer.params.get("activation") == "relu6")
               for r in readers)


def _annotate(modelgraph: Any, steps: list[Step], graph: Graph, dtype: str,  # noqa: ANN401
              quant: QuantConfig | None) -> dict[str, dict[str, Any]]:
    """Set every node's Quantization; returns the formats chosen, by node.
    Spiking graphs: a spiking node's "weights" format is its potential's,
    and some output formats are set by snn.snn_formats (see there)."""
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
    formats: dict[str, dict[str, Any]] = {}
    capped: list[str] = []
    potential: dict[str, int] = {}
    forced: dict[str, int] = {}
    why: dict[str, str] = {}
    if graph.spiking:
        potential, forced, why = snn.snn_formats(graph, steps, dtype, quant)
    relu6_fed = {s.module for s in steps if _feeds_relu6(s, steps)}
    for node in modelgraph.nodes:
        name = node.layer.name
        if name not in tensor_of:
            raise EngineError(f"Qualia produced a node {name!r} that bench did not ask for")
        lo, hi = quant.calibration.range_of(tensor_of[name])
        out_q = forced.get(name, frac_bits(width, max(abs(lo), abs(hi))))
        w_q: int | None = potential.get(name, 0)
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
        if name in potential:
            formats[name]["potential"] = potential[name]
        if name in why:
            formats[name]["set_for"] = why[name]
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
    notes = snn.spiking_notes(graph, dtype) if graph.spiking else []
    steps = plan(graph)
    module = build_module(graph, steps)
    if graph.spiking:
        snn.check_snn_module(graph, module)
    else:
        check_module(graph, module)

    out_dir = Path(out_dir)
    qdir = out_dir / "qualia"
    with _quiet_qualia() as log:
        _import_qualia()  # inside: its import warns that TensorFlow is absent
        from qualia_codegen_core.Allocator import Allocator
        from qualia_codegen_core.graph.layers import TAddLayer

        if graph.spiking:  # the SNN plugin's subclasses: IF/LIF templates and mappings
            TorchModelGraph, Converter = snn.import_plugin()  # noqa: N806
        else:
            from qualia_codegen_core import Converter
            from qualia_codegen_core.graph.TorchModelGraph import TorchModelGraph

        try:
            modelgraph = TorchModelGraph(module).convert(
                custom_layers={add_module(): lambda *_: (TAddLayer, [])})
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
    state_bytes = readout_bytes = 0
    if graph.spiking:
        in_shape = tuple(graph.sample_shape)  # iterate: T frames
        state_bytes = sum(numel(la.out_shape) for la in graph.spiking_layers()) * itemsize
        # step_out, and the int32 sum over T of an integer build
        readout_bytes = numel(out_shape) * (itemsize + (4 if dtype != DType.FLOAT32 else 0))
    build = QualiaBuild(wrapper_c=out_dir / "model.c", unit_c=out_dir / "qualia_net.c",
                        qualia_dir=qdir, input_bytes=numel(in_shape) * itemsize,
                        output_bytes=numel(out_shape) * itemsize, pool_bytes=pool_bytes,
                        scratch_bytes=scratch, input_quant=in_q, output_quant=out_q,
                        layers=layers, formats=formats, state_bytes=state_bytes,
                        readout_bytes=readout_bytes, notes=notes)
    _mark_layers(qdir / "model.c", [li.name for li in layers])
    if graph.spiking:
        build.wrapper_c.write_text(snn.wrapper_source(
            graph, dtype, model_hash[:8], MODEL_NAME, build.input_bytes, build.output_bytes,
            build.arena_bytes))
    else:
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
                              f"(qualia-codegen-core version {qualia_version()}?)")
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


def qualia_version() -> str:

    try:
        return version("qualia-codegen-core")
    except PackageNotFoundError:
        return "unknown"

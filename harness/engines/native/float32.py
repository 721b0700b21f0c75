"""The native engine: graph IR -> portable float32 C.

``generate()`` writes two files into the output directory:

- ``model.c``: ``bench_model_info`` and ``bench_model_run()`` as declared in
  ``firmware/runtime/bench_model.h``; one kernel call per layer, activations
  in one static arena planned here.
- ``model_weights.h``: ``static const float`` arrays (flash), included by
  ``model.c`` only.

The kernels are in ``firmware/kernels/ref`` (``kernel_sources()``), declared in
``firmware/kernels/bench_kernels.h`` (``include_dirs()``).

Memory rules: no heap; the input buffer is read-only; the graph output is
computed straight into the caller's output buffer; reshapes are free
(aliases) and element-wise ops (relu, add) run in place when their input dies
there; every other tensor gets an offset in ``static float arena[]`` from a
greedy size-first planner over lifetimes.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from harness.engines.codegen import snn
from harness.engines.codegen.c import (
    CModel,
    ModelInfo,
    WrittenModel,
    c_array,
    c_float,
    comment,
    model_info_c,
    weights_header,
)
from harness.engines.codegen.plan import MemoryPlan, plan_memory
from harness.errors import EngineError
from harness.kinds import DType
from harness.model.ir import ALIASING, Graph, Layer, Shape, fuse_activations, numel
from harness.model.neuron import Integrator, Neuron
from harness.paths import FIRMWARE

ENGINE = "native"
_FLOAT_BYTES = 4
_KERNELS = FIRMWARE / "kernels"
_RUNTIME = FIRMWARE / "runtime"


def kernel_sources() -> list[Path]:
    """The kernel .c files a firmware using this engine must compile."""
    return sorted((_KERNELS / "ref").glob("*.c"))


@cache
def conv1d_variants() -> frozenset[tuple[int, int]]:
    """(kernel width, stride) pairs with a specialised bench_conv1d_f32_k<K>s<S>,
    as bench_kernels.h lists them (BENCH_CONV1D_VARIANTS)."""
    header = (_KERNELS / "bench_kernels.h").read_text()
    line = next(ln for ln in header.splitlines() if ln.startswith("#define BENCH_CONV1D_VARIANTS"))
    return frozenset((int(k), int(s)) for k, s in re.findall(r"X\((\d+), (\d+)\)", line))


def include_dirs() -> list[Path]:
    """Include directories for model.c and the kernels."""
    return [_KERNELS, _RUNTIME]


@dataclass
class LayerInfo:
    """What one generated layer costs and where its output lives."""

    name: str
    op: str
    kernel: str | None  # C function called, None for a free reshape
    macs: int
    weight_bytes: int
    output_bytes: int
    location: str  # "arena+<byte offset>", "input", "output"
    once: bool = False  # in a spiking graph's steady prefix: run once per sample


@dataclass
class FloatModel(WrittenModel):
    """What the float32 generator wrote."""

    layers: list[LayerInfo] = field(default_factory=list)
    state_bytes: int = 0  # spiking layers' membrane potentials (part of arena_bytes)

    @property
    def files(self) -> list[Path]:
        return [self.model_c, self.weights_h]


def _float_array(name: str, values: np.ndarray) -> str:
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    return c_array(name, "float", (c_float(v) for v in flat), per_line=6)


def _dims(shape: Shape) -> tuple[int, int, int]:
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return shape[0], 1, shape[1]
    if len(shape) == 1:
        return shape[0], 1, 1
    raise EngineError(f"tensor of shape {shape} has no (c, h, w) layout")


def _dims_init(shape: Shape) -> str:
    c, h, w = _dims(shape)
    return f"{{.c = {c}, .h = {h}, .w = {w}}}"


_ACT = {None: "BENCH_ACT_NONE", "relu": "BENCH_ACT_RELU", "relu6": "BENCH_ACT_RELU6"}
_RESET = {"subtract": "BENCH_RESET_SUBTRACT", "zero": "BENCH_RESET_ZERO",
          "none": "BENCH_RESET_NONE"}
MAX_SPIKE_LAYERS = 255  # the RESULT frame's count of spike counters is one byte


class _Emitter(CModel):
    def __init__(self, graph: Graph, plan: MemoryPlan) -> None:
        super().__init__()
        self.graph, self.plan = graph, plan
        self.infos: list[LayerInfo] = []
        self.used: set[str] = set()  # "input"/"output"/"arena" buffers referenced
        self.states: list[snn.StateArray] = []  # stateful layers' potentials (lif, li)
        self.state_floats = 0
        self.spike_layers = 0  # lif layers so far: the index of the next spike counter
        # One frame per timestep: layers read this step's slice of the input.
        self.input_ptr = "x_t" if graph.encoding == "iterate" else "in"
        self.once_lines = 0  # body[:once_lines]: the steady prefix, run before the steps

    def ptr(self, tensor: str) -> str:
        kind, offset = self.plan.storage[self.plan.root[tensor]]
        self.used.add(kind)
        if kind == "input":
            return self.input_ptr
        if kind == "output":
            return "out"
        return f"(arena + {offset})"

    def location(self, tensor: str) -> str:
        kind, offset = self.plan.storage[self.plan.root[tensor]]
        return f"arena+{offset * _FLOAT_BYTES}" if kind == "arena" else kind

    def weight(self, prefix: str, suffix: str, values: np.ndarray | None) -> str:
        if values is None:
            return "NULL"
        name = f"{prefix}_{suffix}"
        self.weights.append(_float_array(name, values))
        self.weight_bytes += int(values.size) * _FLOAT_BYTES
        return name

    def layer(self, i: int, layer: Layer) -> None:
        p = f"l{i}"
        x = [self.ptr(t) for t in layer.inputs]
        y = self.ptr(layer.output)
        in_shape = tuple(layer.in_shapes[0])
        act = _ACT[layer.params.get("activation")]
        before = self.weight_bytes
        kernel: str | None
        shapes = " + ".join(str(tuple(s)) for s in layer.in_shapes)
        self.body.append(
            f"    /* {i}: {comment(layer.name)} {layer.op} {shapes} -> {tuple(layer.out_shape)}"
            + (f", {layer.params['activation']}" if layer.params.get("activation") else "")
            + " */"
        )
        if layer.op in ("conv1d", "conv2d"):
            kernel = f"bench_{layer.op}_f32"
            nd = 1 if layer.op == "conv1d" else 2
            if len(in_shape) != nd + 1:
                raise EngineError(f"layer {layer.name!r}: {layer.op} on shape {in_shape}")
            stride = tuple(layer.params["stride"])
            pad = tuple(layer.params["padding"])
            if any(d != 1 for d in layer.params.get("dilation", (1,) * nd)):
                raise EngineError(f"layer {layer.name!r}: dilation is not supported")
            sh, sw = (1, stride[0]) if nd == 1 else stride
            ph, pw = (0, pad[0]) if nd == 1 else pad
            assert layer.weight is not None
            fshape = layer.weight.shape[1:]
            self.decls.append(
                f"static const bench_conv_params {p}_params = {{.stride_h = {sh}, "
                f".stride_w = {sw}, .pad_h = {ph}, .pad_w = {pw}, "
                f".groups = {layer.params['groups']}, .activation = {act}}};"
            )
            self.decls.append(f"static const bench_dims {p}_in = {_dims_init(in_shape)};")
            self.decls.append(f"static const bench_dims {p}_filter = {_dims_init(fshape)};")
            self.decls.append(
                f"static const bench_dims {p}_out = {_dims_init(tuple(layer.out_shape))};"
            )
            if nd == 1 and (fshape[-1], sw) in conv1d_variants():
                kernel = f"bench_conv1d_f32_k{fshape[-1]}s{sw}"  # the specialised copy
            w = self.weight(p, "weight", layer.weight)
            b = self.weight(p, "bias", layer.bias)
            self.call(
                f"{kernel}(&{p}_params, &{p}_in, {x[0]}, &{p}_filter, {w}, {b}, &{p}_out, {y})"
            )
        elif layer.op == "linear":
            kernel = "bench_linear_f32"
            assert layer.weight is not None
            n_out, n_in = layer.weight.shape
            if numel(in_shape) != n_in:
                raise EngineError(f"layer {layer.name!r}: input {in_shape} vs weight {n_in}")
            self.decls.append(
                f"static const bench_linear_params {p}_params = {{.in_features = {n_in}, "
                f".out_features = {n_out}, .activation = {act}}};"
            )
            if layer.params.get("spikes_in") == "event":
                # Spikes in: walk the active inputs, each adding a weight row.
                kernel = "bench_linear_events_f32"
                w = self.weight(p, "weight_t", np.ascontiguousarray(layer.weight.T))
            else:
                w = self.weight(p, "weight", layer.weight)
            b = self.weight(p, "bias", layer.bias)
            self.call(f"{kernel}(&{p}_params, {x[0]}, {w}, {b}, {y})")
        elif layer.op in ("relu", "relu6"):
            kernel = f"bench_{layer.op}_f32"
            self.call(f"{kernel}({numel(in_shape)}, {x[0]}, {y})")
        elif layer.op == "add":
            kernel = "bench_add_f32"
            if tuple(layer.in_shapes[0]) != tuple(layer.in_shapes[1]):
                raise EngineError(f"layer {layer.name!r}: add of different shapes")
            self.call(f"{kernel}({act}, {numel(in_shape)}, {x[0]}, {x[1]}, {y})")
        elif layer.op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            kind, nd = layer.op[:3], int(layer.op[-2])
            kernel = f"bench_{kind}_pool{nd}d_f32"
            if len(in_shape) != nd + 1:
                raise EngineError(f"layer {layer.name!r}: {layer.op} on shape {in_shape}")
            k, s, pad = (tuple(layer.params[key]) for key in ("kernel", "stride", "padding"))
            if nd == 1:
                k, s, pad = (1, k[0]), (1, s[0]), (0, pad[0])
            cip = int(bool(layer.params.get("count_include_pad", True)))
            self.decls.append(
                f"static const bench_pool_params {p}_params = {{.kernel_h = {k[0]}, "
                f".kernel_w = {k[1]}, .stride_h = {s[0]}, .stride_w = {s[1]}, "
                f".pad_h = {pad[0]}, .pad_w = {pad[1]}, .count_include_pad = {cip}}};"
            )
            self.decls.append(f"static const bench_dims {p}_in = {_dims_init(in_shape)};")
            self.decls.append(
                f"static const bench_dims {p}_out = {_dims_init(tuple(layer.out_shape))};"
            )
            self.call(f"{kernel}(&{p}_params, &{p}_in, {x[0]}, &{p}_out, {y})")
        elif layer.op == "global_avgpool":
            kernel = "bench_global_avg_pool_f32"
            if len(in_shape) not in (2, 3):
                raise EngineError(f"layer {layer.name!r}: global pool on shape {in_shape}")
            self.decls.append(f"static const bench_dims {p}_in = {_dims_init(in_shape)};")
            self.call(f"{kernel}(&{p}_in, {x[0]}, {y})")
        elif layer.op == "lif":
            kernel = "bench_lif_f32"
            nr = Neuron.from_params(layer.params["neuron"])
            size = numel(in_shape)
            k = self.spike_layers
            self.spike_layers += 1
            self.decls.append(
                f"static const bench_lif_params {p}_params = {{.decay = {c_float(nr.decay)}, "
                f".gain = {c_float(nr.gain)}, .offset = {c_float(nr.offset)}, "
                f".threshold = {c_float(nr.threshold)}, .v_reset = {c_float(nr.v_reset)}, "
                f".reset = {_RESET[nr.reset]}, .fire_ge = {int(nr.fire == 'ge')}, "
                f".pre_reset = {int(nr.pre_reset)}, .post_reset = {int(nr.post_reset)}}}; "
                f"/* {comment(nr.source)} */")
            self.states.append(snn.StateArray(f"{p}_state", size, c_float(nr.v_init)))
            self.state_floats += size
            self.call(f"{kernel}(&{p}_params, {size}, {x[0]}, {p}_state, {y}, "
                      f"&spike_counts[{k}])")
        elif layer.op == "li":
            kernel = "bench_li_f32"
            li = Integrator.from_params(layer.params["integrator"])
            size = numel(in_shape)
            self.decls.append(
                f"static const bench_li_params {p}_params = {{.decay = {c_float(li.decay)}, "
                f".gain = {c_float(li.gain)}, .offset = {c_float(li.offset)}}}; "
                f"/* {comment(li.source)} */")
            self.states.append(snn.StateArray(f"{p}_state", size, c_float(li.v_init)))
            self.state_floats += size
            self.call(f"{kernel}(&{p}_params, {size}, {x[0]}, {p}_state, {y})")
        elif layer.op in ALIASING:
            kernel = None
            self.body.append("    /* (no code: same buffer, new shape) */")
        else:
            raise EngineError(f"layer {layer.name!r}: op {layer.op!r} has no native kernel")
        self.infos.append(
            LayerInfo(
                name=layer.name,
                op=layer.op,
                kernel=kernel,
                macs=layer.macs,
                weight_bytes=self.weight_bytes - before,
                output_bytes=numel(tuple(layer.out_shape)) * _FLOAT_BYTES,
                location=self.location(layer.output),
            )
        )


def generate(graph: Graph, out_dir: Path, model_hash: bytes) -> FloatModel:
    """Write model.c and model_weights.h for ``graph`` into ``out_dir``.

    Args:
        graph: the imported model (activations are fused here).
        out_dir: created if missing; existing files are overwritten.
        model_hash: the model's sha256 (or any >= 8 bytes); the first 8 go
            into ``bench_model_info.model_hash`` for the handshake.

    Raises:
        EngineError: an op or shape the native kernels cannot run.
    """
    graph = fuse_activations(graph)
    try:
        graph.validate()
    except ValueError as e:
        raise EngineError(f"invalid graph: {e}") from e
    if len(graph.spiking_layers()) > MAX_SPIKE_LAYERS:
        raise EngineError(f"{len(graph.spiking_layers())} spiking layers; the device reports "
                          f"at most {MAX_SPIKE_LAYERS}")
    steady = graph.steady_prefix()
    plan = plan_memory(graph, output_in_arena=graph.spiking, steady_prefix=steady)
    em = _Emitter(graph, plan)
    for i, layer in enumerate(graph.layers):
        if i == steady:
            em.once_lines = len(em.body)
            em.infos = [dataclasses.replace(li, once=True) for li in em.infos]
        em.layer(i, layer)

    input_floats = numel(graph.input_shape)
    output_floats = numel(graph.output_shape)
    if plan.copy_output:
        em.used.update(("input", "output"))
        em.body += ["    /* the output is the input: copy it */",
                     f"    for (int32_t i = 0; i < {output_floats}; i++) {{",
                     "        out[i] = in[i];", "    }"]
    if graph.encoding == "iterate":
        input_floats *= graph.timesteps
    # A spiking model's membrane potentials are activation memory too.
    info = ModelInfo(engine=ENGINE, input_bytes=input_floats * _FLOAT_BYTES,
                     output_bytes=output_floats * _FLOAT_BYTES,
                     arena_bytes=(plan.arena_floats + em.state_floats) * _FLOAT_BYTES,
                     input_dtype=DType.FLOAT32, output_dtype=DType.FLOAT32,
                     model_hash=model_hash, spike_layers=em.spike_layers)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_h = out_dir / "model_weights.h"
    model_c = out_dir / "model.c"
    weights_h.write_text(weights_header(
        _HEADER, "Included by model.c only: static const arrays, placed in flash.", em.weights))
    model_c.write_text(_model_source(graph, em, plan, info))
    return FloatModel(model_c=model_c, weights_h=weights_h, arena_bytes=info.arena_bytes,
                      input_bytes=info.input_bytes, output_bytes=info.output_bytes,
                      weight_bytes=em.weight_bytes, layers=em.infos,
                      state_bytes=em.state_floats * _FLOAT_BYTES)


_HEADER = "/* Generated by bench (engine: native, float32). Do not edit. */\n"


def _model_source(graph: Graph, em: _Emitter, plan: MemoryPlan, info: ModelInfo) -> str:
    lines = [
        _HEADER,
        f"/* input {tuple(graph.input_shape)}, output {tuple(graph.output_shape)}, "
        f"{len(graph.layers)} layers, {graph.macs} MACs, arena {plan.arena_floats} floats */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        '#include "bench_model.h"',
        '#include "bench_kernels.h"',
        '#include "model_weights.h"',
        "",
    ]
    lines += snn.declarations(em.states, "float", em.spike_layers)
    lines += [model_info_c(info)]
    if plan.arena_floats:
        lines += [
            "/* Activations; offsets planned by lifetime (see bench native engine). */",
            f"static float arena[{plan.arena_floats}];",
            "",
        ]
    lines += em.decls
    lines += [
        "",
        "int32_t bench_model_run(const void *input, void *output)",
        "{",
        "    const float *in = (const float *)input;",
        "    float *out = (float *)output;",
    ]
    body = "\n".join(em.body)
    if "st = " in body:
        lines.append("    bench_status st;")
    if graph.spiking:
        readout = snn.Readout(acc="out", zero="0.0f",
                              mean=f"out[{{i}}] = out[{{i}}] / {c_float(graph.timesteps)};",
                              count="", membrane="out[{i}] = {state}[{i}];")
        lines += ["", *snn.run_body(graph, em.states, "\n".join(em.body[em.once_lines:]),
                                    em.ptr(graph.output), readout, "float", "input" in em.used,
                                    once="\n".join(em.body[:em.once_lines])),
                  "    return 0;", "}", ""]
        return "\n".join(lines)
    if "input" not in em.used:
        lines.append("    (void)in; /* the output does not depend on the input */")
    if "output" not in em.used:
        lines.append("    (void)out;")
    lines += ["", body, "    return 0;", "}", ""]
    return "\n".join(lines)

"""The native engine's int8/int16 generator: QGraph -> C.

Writes ``model.c`` (bench_model_info, bench_model_run, one kernel call per
layer) and ``model_weights.h`` (const arrays: flash). Kernels are in
``firmware/kernels/q`` (bench_qkernels.h).

Layout: every buffer is channels-last, (H, W, C) / (L, C), so the host
sends inputs transposed (``input_layout = "hwc"``). A flatten of a
channels-last map is free: the linear layer after it gets its weight
columns permuted here, once, instead of moving data on the device.

Memory: one arena planned by lifetime (harness.engines.native.plan_memory),
with each layer's working memory (im2col columns, pool sums) planned as a
tensor alive during that layer only; element-wise ops run in place; the
graph output is written straight into the caller's buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.engines.codegen import snn
from harness.engines.codegen.c import (
    CModel,
    ModelInfo,
    WrittenModel,
    model_info_c,
    weights_header,
)
from harness.engines.codegen.plan import MemoryPlan, plan_memory, scratch_name
from harness.errors import EngineError
from harness.kinds import DType, Layout, WeightLayout
from harness.model.ir import ALIASING, Shape, numel
from harness.paths import FIRMWARE
from harness.quant import QDTYPES, QuantConfig, TensorQuant
from harness.quant.schemes import QGraph, QLayer, quantize_graph

ENGINE = "native"
_KERNELS = FIRMWARE / "kernels"
_RUNTIME = FIRMWARE / "runtime"
_ALIGN = 4
_CTYPE = {DType.INT8: "int8_t", DType.INT16: "int16_t"}
_SUFFIX = {DType.INT8: "s8", DType.INT16: "s16"}  # the kernels' names: bench_conv_s8


def kernel_sources() -> list[Path]:
    return sorted((_KERNELS / "q").glob("*.c"))


def include_dirs() -> list[Path]:
    return [_KERNELS / "q", _KERNELS, _RUNTIME]


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def hwc_order(shape: Shape) -> np.ndarray:
    """Buffer position -> logical (channels-first, C order) flat index."""
    idx = np.arange(numel(shape)).reshape(shape)
    if len(shape) > 1:
        idx = np.moveaxis(idx, 0, -1)
    return idx.reshape(-1)


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(order.size)))


@dataclass
class IntModel(WrittenModel):
    """What the int8/int16 generator wrote."""

    input_quant: TensorQuant
    output_quant: TensorQuant
    output_layout: Layout
    layers: list[dict] = field(default_factory=list)


class _Emitter(CModel):
    def __init__(self, qgraph: QGraph, plan: MemoryPlan, orders: dict[str, np.ndarray],
                 wide: bool, scratch: dict[int, int]) -> None:
        super().__init__()
        self.qg, self.plan, self.orders, self.wide = qgraph, plan, orders, wide
        self.scratch = scratch  # layer index -> working-memory bytes planned
        self.ctype = _CTYPE[qgraph.dtype]
        self.sfx = _SUFFIX[qgraph.dtype]
        self.layers: list[dict] = []
        self.reads_input = False
        self.states: list[snn.StateArray] = []  # stateful layers' potentials (lif, li)
        self.spike_layers = 0  # lif layers so far: the index of the next spike counter
        self.input_ptr = "x_t" if qgraph.graph.encoding == "iterate" else "in"

    def ptr(self, tensor: str, ctype: str | None = None) -> str:
        kind, offset = self.plan.location(tensor)
        ctype = ctype or self.ctype
        if kind == "input":
            self.reads_input = True
            return self.input_ptr
        if kind == "output":
            return "out"
        return f"({ctype} *)(arena + {offset})"

    def array(self, name: str, values: np.ndarray, ctype: str) -> str:
        flat = np.asarray(values).reshape(-1)
        self.weight_bytes += flat.size * np.dtype(flat.dtype).itemsize
        rows = [", ".join(str(int(v)) for v in flat[i:i + 16]) for i in range(0, flat.size, 16)]
        body = ",\n    ".join(rows)
        # Word-aligned: the kernels read pairs and quads with LDR/LDRD.
        self.weights.append(f"static const {ctype} {name}[{flat.size}] "
                            f"__attribute__((aligned(4))) = {{\n    {body}\n}};\n")
        return name

    def scratch_ptr(self, i: int, q: QLayer, kernel: str, ctype: str) -> str:
        """Layer i's working memory, and a compile-time check that the plan
        gives the kernel at least what its size macro asks for."""
        need = scratch_macro(q)
        assert need is not None
        planned = self.scratch.get(i, 0)
        name = q.name.replace("\\", "/").replace('"', "'")
        self.decls.append(f'BENCH_STATIC_ASSERT({need} <= {planned}, "layer {i} ({name}): '
                          f'{kernel} needs more scratch than the arena plan gives it");')
        return self.ptr(scratch_name(i), ctype) if planned else "NULL"

    def qparams(self, p: str, q: QLayer) -> str:
        assert q.shift is not None
        mult = self.array(f"{p}_mult", q.mult, "int32_t") if q.mult is not None else "NULL"
        # pot: one shift per layer (bench_requantize reads shift[0]).
        shift = self.array(f"{p}_shift", q.shift if q.mult is not None else q.shift[:1],
                           "int32_t")
        self.decls.append(
            f"static const bench_qparams {p}_q = {{.mult = {mult}, .shift = {shift}, "
            f".input_offset = {q.input_offset}, .output_offset = {q.output_offset}, "
            f".act_min = {q.act_min}, .act_max = {q.act_max}}};")
        return f"&{p}_q"

    def dims(self, p: str, shape: Shape) -> str:
        c, h, w = (shape[0], 1, shape[1]) if len(shape) == 2 else shape
        self.decls.append(f"static const bench_dims {p} = {{.c = {c}, .h = {h}, .w = {w}}};")
        return f"&{p}"

    def window(self, p: str, q: QLayer) -> str:
        prm = q.layer.params
        k, s, pad = (tuple(prm[key]) for key in ("kernel", "stride", "padding"))
        if len(k) == 1:
            k, s, pad = (1, k[0]), (1, s[0]), (0, pad[0])
        if any(d != 1 for d in prm.get("dilation", (1,))):
            raise EngineError(f"layer {q.name!r}: dilation is not supported")
        self.decls.append(
            f"static const bench_window {p}_win = {{.kernel_h = {k[0]}, .kernel_w = {k[1]}, "
            f".stride_h = {s[0]}, .stride_w = {s[1]}, .pad_h = {pad[0]}, .pad_w = {pad[1]}}};")
        return f"&{p}_win"

    def layer(self, i: int, q: QLayer) -> None:
        layer, p = q.layer, f"l{i}"
        self.body.append(f"    /* {i}: {layer.name} ({layer.op}) */")
        x = [self.ptr(t) for t in layer.inputs]
        y = self.ptr(layer.output)
        in_shape = tuple(layer.in_shapes[0])
        sfx, op = self.sfx, layer.op
        for t in layer.inputs:
            shape = self.qg.graph.shape_of(t)
            if op not in ALIASING and len(shape) > 1 and not np.array_equal(
                    self.orders[t], hwc_order(shape)):
                raise EngineError(f"layer {layer.name!r}: input {t!r} is a reshape the "
                                  f"channels-last layout cannot express")
        if op in ("conv1d", "conv2d"):
            assert q.weight is not None and q.bias is not None
            groups = int(layer.params["groups"])
            c_in, c_out = in_shape[0], layer.out_shape[0]
            w = np.moveaxis(q.weight, 1, -1)  # (C_out, *k, C_in / groups)
            bias = self.array(f"{p}_bias", q.bias, "int32_t")
            win, qp = self.window(p, q), self.qparams(p, q)
            din, dout = self.dims(f"{p}_in", in_shape), self.dims(f"{p}_out", layer.out_shape)
            if groups == 1:
                wide = self.qg.dtype == DType.INT8 and self.wide
                rows = gemm_rows(conv_rows(w), permute=self.qg.dtype == DType.INT8 and wide)
                ctype = "int16_t" if wide else self.ctype
                weight = self.array(f"{p}_weight", rows.astype(ctype.replace("_t", "")), ctype)
                kernel = f"bench_conv_{sfx}" + ("_wide" if wide else "") + conv_variant(q)
                scratch = self.scratch_ptr(i, q, kernel, "int16_t")
                self.call(f"{kernel}({win}, {qp}, {din}, {x[0]}, {dout}, {weight}, "
                          f"{bias}, {scratch}, {y})")
            elif groups == c_in == c_out:
                # (kh, kw, C): one tap of neighbouring channels is contiguous.
                weight = self.array(f"{p}_weight", w.reshape(c_out, -1).T, self.ctype)
                self.call(f"bench_depthwise_{sfx}({win}, {qp}, {din}, {x[0]}, {dout}, "
                          f"{weight}, {bias}, {y})")
                kernel = f"bench_depthwise_{sfx}"
            else:
                weight = self.array(f"{p}_weight", w, self.ctype)
                kernel = f"bench_conv_grouped_{sfx}"
                self.call(f"{kernel}({win}, {qp}, {groups}, {din}, {x[0]}, {dout}, {weight}, "
                          f"{bias}, {y})")
        elif op == "linear":
            assert q.weight is not None and q.bias is not None
            n_out, n_in = q.weight.shape
            order = self.orders[layer.inputs[0]]
            weight = self.array(f"{p}_weight", q.weight[:, order], self.ctype)
            bias = self.array(f"{p}_bias", q.bias, "int32_t")
            qp = self.qparams(p, q)
            kernel = f"bench_linear_{sfx}"
            # int8: the input is widened to int16 once, in scratch.
            scratch = (f"{self.scratch_ptr(i, q, kernel, 'int16_t')}, "
                       if self.qg.dtype == DType.INT8 else "")
            self.call(f"{kernel}({qp}, {n_in}, {n_out}, {x[0]}, {weight}, {bias}, "
                      f"{scratch}{y})")
        elif op in ("maxpool1d", "maxpool2d"):
            win = self.window(p, q)
            din, dout = self.dims(f"{p}_in", in_shape), self.dims(f"{p}_out", layer.out_shape)
            kernel = f"bench_maxpool_{sfx}"
            self.call(f"{kernel}({win}, {din}, {x[0]}, {dout}, {y})")
        elif op in ("avgpool1d", "avgpool2d"):
            win = self.window(p, q)
            din, dout = self.dims(f"{p}_in", in_shape), self.dims(f"{p}_out", layer.out_shape)
            cip = int(bool(layer.params.get("count_include_pad", True)))
            kernel = f"bench_avgpool_{sfx}"
            zp = q.in_q[0].zero_point
            self.call(f"{kernel}({win}, {cip}, {zp}, {din}, {x[0]}, {dout}, {y})")
        elif op == "global_avgpool":
            din = self.dims(f"{p}_in", in_shape)
            kernel = f"bench_global_avgpool_{sfx}"
            scratch = self.scratch_ptr(i, q, kernel, "int32_t")
            self.call(f"{kernel}({din}, {x[0]}, {scratch}, {y})")
        elif op == "add":
            if not np.array_equal(self.orders[layer.inputs[0]], self.orders[layer.inputs[1]]):
                raise EngineError(f"layer {layer.name!r}: add of differently laid out tensors")
            e = {k: 0 for k in ("a_offset", "b_offset", "left_shift", "a_mult", "a_shift",
                                "b_mult", "b_shift", "out_mult", "out_shift", "a_left",
                                "b_left", "shift")}
            e.update(q.extra)
            fields = ", ".join(f".{k} = {v}" for k, v in e.items())
            self.decls.append(
                f"static const bench_qadd_params {p}_add = {{{fields}, "
                f".output_offset = {q.output_offset}, .act_min = {q.act_min}, "
                f".act_max = {q.act_max}}};")
            kernel = f"bench_add_{sfx}"
            self.call(f"{kernel}(&{p}_add, {numel(in_shape)}, {x[0]}, {x[1]}, {y})")
        elif op in ("relu", "relu6"):
            kernel = f"bench_clamp_{sfx}"
            self.call(f"{kernel}({q.act_min}, {q.act_max}, {numel(in_shape)}, {x[0]}, {y})")
        elif op == "lif":
            assert q.neuron is not None
            fields = ", ".join(f".{k} = {v}" for k, v in q.neuron.c_fields().items())
            self.decls.append(f"static const bench_lif_qparams {p}_lif = {{{fields}}};")
            size, k = numel(in_shape), self.spike_layers
            self.spike_layers += 1
            self.states.append(snn.StateArray(f"{p}_state", size, str(q.neuron.v_init)))
            kernel = f"bench_lif_{sfx}"
            self.call(f"{kernel}(&{p}_lif, {size}, {x[0]}, {p}_state, {y}, &spike_counts[{k}])")
        elif op == "li":
            assert q.neuron is not None
            fields = ", ".join(f".{k} = {v}" for k, v in q.neuron.c_fields().items())
            self.decls.append(f"static const bench_lif_qparams {p}_li = {{{fields}}};")
            size = numel(in_shape)
            self.states.append(snn.StateArray(f"{p}_state", size, str(q.neuron.v_init)))
            kernel = f"bench_li_{sfx}"
            self.call(f"{kernel}(&{p}_li, {size}, {x[0]}, {p}_state, {y})")
        elif op in ALIASING:
            self.body.append("    /* (no code: same buffer, new shape) */")
            return
        else:
            raise EngineError(f"layer {layer.name!r}: op {op!r} has no integer kernel")
        self.layers.append({"name": layer.name, "op": op, "macs": layer.macs,
                            "kernel": kernel})


def k_pad(k_len: int) -> int:
    """K rounded up to a multiple of 4 (a group of the 2 x 2 blocks)."""
    return (k_len + 3) // 4 * 4


def conv_rows(w: np.ndarray) -> np.ndarray:
    """(C_out, [kh,] kw, C_in) dense conv weights -> (C_out, k_pad) as
    bench_conv_k_pad(): each kernel row of kw * C_in values zero-padded to a
    multiple of 4, so im2col widens whole rows four values at a time."""
    c_out, kh = w.shape[0], (w.shape[1] if w.ndim == 4 else 1)
    rows = w.reshape(c_out, kh, -1)
    padded = np.zeros((c_out, kh, k_pad(rows.shape[2])), dtype=w.dtype)
    padded[:, :, :rows.shape[2]] = rows
    return padded.reshape(c_out, -1)


def conv_k_pad(weight_shape: Shape) -> int:
    """bench_conv_k_pad() for a (C_out, C_in, [kh,] kw) conv weight."""
    c_in, kernel = weight_shape[1], tuple(weight_shape[2:])
    kh = kernel[0] if len(kernel) == 2 else 1
    return kh * k_pad(kernel[-1] * c_in)


def gemm_rows(w: np.ndarray, permute: bool) -> np.ndarray:
    """(C_out, K) weights -> the bench_mac.h layout: K zero-padded to k_pad,
    C_out to even; per pair of channels and group of four k, 4 weights of
    the first channel then 4 of the second; ``permute`` stores each group
    as (0, 2, 1, 3), the order of int8 columns."""
    c_out, k_len = w.shape
    padded = np.zeros((c_out + c_out % 2, k_pad(k_len)), dtype=w.dtype)
    padded[:c_out, :k_len] = w
    blocks = padded.reshape(-1, 2, padded.shape[1] // 4, 4).transpose(0, 2, 1, 3)
    if permute:
        blocks = blocks[..., [0, 2, 1, 3]]
    return np.ascontiguousarray(blocks).reshape(-1)


def conv_variant(q: QLayer) -> str:
    """Suffix of the dense conv kernel specialised for ``q``'s requantization
    (bench_qkernels.h): "_affine", "_pot" (a right shift, clamped to the
    full range or a ReLU), "" (the generic kernel)."""
    if q.mult is not None:
        return "_affine"
    assert q.shift is not None
    lo, hi = QDTYPES[q.out_q.dtype]
    if int(q.shift[0]) >= 0 and q.act_max == hi and q.act_min in (lo, 0):
        return "_pot"
    return ""


def scratch_bytes(q: QLayer) -> int:
    """Working memory a layer's kernel needs: the planner's copy of the
    BENCH_*_SCRATCH_BYTES formulas in bench_qkernels.h, which own it. Every
    model.c checks the plan against them at compile time (scratch_macro),
    and tests/test_kernel_scratch.py compares the two over many shapes."""
    layer = q.layer
    if layer.op in ("conv1d", "conv2d") and int(layer.params["groups"]) == 1:
        assert layer.weight is not None
        return 4 * conv_k_pad(tuple(layer.weight.shape))  # two int16 columns
    if layer.op == "linear" and q.out_q.dtype == DType.INT8:
        assert layer.weight is not None
        return 2 * int(layer.weight.shape[1])  # the input as int16
    if layer.op == "global_avgpool":
        return 4 * layer.in_shapes[0][0]
    return 0


def scratch_macro(q: QLayer) -> str | None:
    """The C constant expression (bench_qkernels.h) for the scratch bytes of
    ``q``'s kernel, or None when that kernel takes no scratch."""
    layer, sfx = q.layer, _SUFFIX[q.out_q.dtype].upper()
    if layer.op in ("conv1d", "conv2d") and int(layer.params["groups"]) == 1:
        k = tuple(layer.params["kernel"])
        kh, kw = (1, k[0]) if len(k) == 1 else k
        return f"BENCH_CONV_{sfx}_SCRATCH_BYTES({kh}, {kw}, {layer.in_shapes[0][0]})"
    if layer.op == "linear" and q.out_q.dtype == DType.INT8:
        return f"BENCH_LINEAR_S8_SCRATCH_BYTES({numel(layer.in_shapes[0])})"
    if layer.op == "global_avgpool":
        return f"BENCH_GLOBAL_AVGPOOL_{sfx}_SCRATCH_BYTES({layer.in_shapes[0][0]})"
    return None


def _first_bytes(q: QLayer, itemsize: int) -> tuple[np.ndarray, int]:
    """Per output pixel (raster order), the lowest input byte its window
    reads; and the bytes one output pixel takes."""
    layer = q.layer
    in_shape, out_shape = tuple(layer.in_shapes[0]), tuple(layer.out_shape)
    out_h, out_w = (1, out_shape[1]) if len(out_shape) == 2 else out_shape[1:]
    stride, pad = tuple(layer.params["stride"]), tuple(layer.params["padding"])
    (sh, sw), (ph, pw) = ((1, stride[0]), (0, pad[0])) if len(stride) == 1 else (stride, pad)
    oy, ox = np.divmod(np.arange(out_h * out_w), out_w)
    first = (np.maximum(oy * sh - ph, 0) * in_shape[-1] + np.maximum(ox * sw - pw, 0))
    return first * in_shape[0] * itemsize, out_shape[0] * itemsize


def _trailing_offset(first: np.ndarray, pixel_bytes: int, step: int) -> int:
    """Bytes the output must start below the input so that, after each step
    of ``step`` output pixels, what was written ends before what later steps
    still read begins."""
    still_read = np.minimum.accumulate(first[::-1])[::-1]
    d = 0
    for start in range(0, len(first) - step, step):
        d = max(d, (start + step) * pixel_bytes - int(still_read[start + step]))
    return _aligned(d)


def conv_overlap(q: QLayer, itemsize: int) -> int | None:
    """How far below its input a dense conv's output must start for the
    kernel to write over its own input (bench_conv_*: two output pixels per
    step, both receptive fields copied to scratch before either is written)."""
    layer = q.layer
    if layer.op not in ("conv1d", "conv2d") or int(layer.params["groups"]) != 1:
        return None
    return _trailing_offset(*_first_bytes(q, itemsize), step=2)


def pool_overlap(q: QLayer, itemsize: int) -> int | None:
    """The same for max/average pools: they finish a channel's window before
    writing it, one output pixel at a time (ops_q.inc; the M4 max pool a
    group of 4 int8 / 2 int16 channels' windows before writing the group,
    which orders no read after a write the per-channel order does not), so
    a pixel's own window is safe once what it writes trails what later
    pixels read."""
    if q.op not in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
        return None
    return _trailing_offset(*_first_bytes(q, itemsize), step=1)


def tensor_orders(qgraph: QGraph) -> dict[str, np.ndarray]:
    """For each tensor, buffer position -> logical flat index."""
    graph = qgraph.graph
    orders = {graph.input_name: hwc_order(graph.input_shape)}
    for layer in graph.layers:
        if layer.op in ALIASING:
            orders[layer.output] = orders[layer.inputs[0]]
        else:
            orders[layer.output] = hwc_order(layer.out_shape)
    return orders


def generate(qgraph: QGraph, out_dir: Path, model_hash: bytes, wide: bool = False) -> IntModel:
    """Write model.c and model_weights.h for ``qgraph``; ``wide`` stores int8
    conv weights as int16 (faster inner loop, twice the flash)."""
    graph, dtype = qgraph.graph, qgraph.dtype
    try:
        graph.validate()
    except ValueError as e:
        raise EngineError(f"invalid graph: {e}") from e
    itemsize = np.dtype(dtype).itemsize
    scratch = {i: _aligned(scratch_bytes(q)) for i, q in enumerate(qgraph.layers)
               if scratch_bytes(q)}
    def size_of(t: str) -> int:
        return _aligned(numel(graph.shape_of(t)) * itemsize)

    # Each overlap merges two buffers into one that lives as long as both:
    # in a chain that can cost more than it saves. Try adding them one by
    # one, and removing them one by one from all of them; keep the smaller.
    candidates = {i: d for i, q in enumerate(qgraph.layers)
                  if (d := conv_overlap(q, itemsize) if q.op.startswith("conv")
                      else pool_overlap(q, itemsize)) is not None}

    steady = graph.steady_prefix()

    def arena(chosen: dict[int, int]) -> int:
        return plan_memory(graph, size_of, scratch, chosen, output_in_arena=graph.spiking,
                           steady_prefix=steady).arena_size

    added: dict[int, int] = {}
    for i, d in candidates.items():
        if arena({**added, i: d}) <= arena(added):
            added[i] = d
    kept = dict(candidates)
    for i in list(candidates):
        without = {k: v for k, v in kept.items() if k != i}
        if arena(without) <= arena(kept):
            kept = without
    overlap = min(added, kept, key=arena)
    plan = plan_memory(graph, size_of, scratch, overlap, output_in_arena=graph.spiking,
                       steady_prefix=steady)
    if plan.copy_output:
        raise EngineError("the model's output is its input: nothing to run")
    orders = tensor_orders(qgraph)
    em = _Emitter(qgraph, plan, orders, wide, scratch)
    once_lines = 0  # em.body[:once_lines]: the steady prefix, run before the steps
    for i, q in enumerate(qgraph.layers):
        if i == steady:
            once_lines = len(em.body)
            for info in em.layers:
                info["once"] = True
        em.layer(i, q)

    out_order = orders[graph.output]
    if _is_identity(out_order):
        output_layout = Layout.CHW
    elif np.array_equal(out_order, hwc_order(graph.output_shape)):
        output_layout = Layout.HWC
    else:
        raise EngineError("the graph output is a reshape of a channels-last map; end the model "
                          "with a linear layer or global pooling")
    input_bytes = numel(graph.sample_shape) * itemsize
    output_bytes = numel(graph.output_shape) * itemsize
    state_bytes = sum(s.size for s in em.states) * itemsize
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_h, model_c = out_dir / "model_weights.h", out_dir / "model.c"
    header = f"/* Generated by bench (engine: native, {dtype}, {qgraph.scheme}). Do not edit. */\n"
    weights_h.write_text(weights_header(header, "Included by model.c only: const arrays, in "
                                        "flash.", em.weights))
    # A spiking model's membrane potentials are activation memory too.
    info = ModelInfo(engine=ENGINE, input_bytes=input_bytes, output_bytes=output_bytes,
                     arena_bytes=plan.arena_size + state_bytes, input_dtype=DType(dtype),
                     output_dtype=DType(dtype), model_hash=model_hash,
                     spike_layers=em.spike_layers)
    arena_words = (plan.arena_size + 3) // 4
    lines = [
        header,
        f"/* input {tuple(graph.input_shape)} channels-last, output {tuple(graph.output_shape)}, "
        f"{len(graph.layers)} layers, {graph.macs} MACs, arena {plan.arena_size} bytes */",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        '#include "bench_model.h"',
        '#include "bench_qkernels.h"',
        '#include "model_weights.h"',
        "",
        "#ifndef BENCH_LAYER_MARK",
        "#define BENCH_LAYER_MARK() ((void)0)",
        "#endif",
        "",
        *snn.declarations(em.states, _CTYPE[dtype], len(graph.spiking_layers())),
        model_info_c(info),
    ]
    if arena_words:
        lines += ["/* Activations and per-layer working memory, planned by lifetime. */",
                  f"static uint32_t arena_words[{arena_words}];", ""]
    lines += em.decls
    ctype = _CTYPE[dtype]
    lines += ["", "int32_t bench_model_run(const void *input, void *output)", "{",
              f"    const {ctype} *in = (const {ctype} *)input;",
              f"    {ctype} *out = ({ctype} *)output;"]
    if arena_words:
        lines.append("    uint8_t *arena = (uint8_t *)arena_words;")
    body = "\n".join(em.body)
    lines.append("    bench_status st;")
    if graph.spiking:
        lines += ["", *_spiking_run(qgraph, em, "\n".join(em.body[once_lines:]),
                                    "\n".join(em.body[:once_lines])), "    return 0;", "}", ""]
    else:
        if not em.reads_input:
            lines.append("    (void)in;")
        lines += ["", body, "    return 0;", "}", ""]
    model_c.write_text("\n".join(lines))
    return IntModel(model_c=model_c, weights_h=weights_h, arena_bytes=info.arena_bytes,
                    input_bytes=input_bytes, output_bytes=output_bytes,
                    weight_bytes=em.weight_bytes, input_quant=qgraph.input_q,
                    output_quant=qgraph.output_q, output_layout=output_layout,
                    layers=em.layers)


def _spiking_run(qgraph: QGraph, em: _Emitter, step: str, once: str) -> list[str]:
    """The T-step loop (harness/engines/codegen/snn.py) with an int32
    readout accumulator: spike counts and sums of outputs saturate into the
    output dtype at the end; a mean rounds as the integer reference does."""
    graph, (lo, hi) = qgraph.graph, QDTYPES[qgraph.dtype]
    ctype, t = _CTYPE[qgraph.dtype], graph.timesteps
    acc = "readout_acc"
    sat = f"({ctype})(v < {lo} ? {lo} : (v > {hi} ? {hi} : v))"
    readout = snn.Readout(
        acc=acc, zero="0",
        mean=(f"const int32_t v = {acc}[{{i}}] >= 0 ? ({acc}[{{i}}] + {t // 2}) / {t} "
              f": -(({t // 2} - {acc}[{{i}}]) / {t}); out[{{i}}] = {sat};"),
        count=f"const int32_t v = {acc}[{{i}}]; out[{{i}}] = {sat};",
        membrane="out[{i}] = {state}[{i}];")
    lines = ([f"    static int32_t {acc}[{numel(graph.output_shape)}];"]
             if graph.readout != "membrane_last" else [])
    return lines + snn.run_body(graph, em.states, step, em.ptr(graph.output), readout, ctype,
                                em.reads_input, once=once)


def generate_int(graph, out_dir: Path, model_hash: bytes, dtype: str,  # noqa: ANN001
                 quant: QuantConfig) -> IntModel:
    """Quantize ``graph`` and write its C."""
    return generate(quantize_graph(graph, quant, dtype), out_dir, model_hash,
                    wide=quant.weights == WeightLayout.WIDE)

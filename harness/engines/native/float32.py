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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import EngineError
from harness.model.ir import ALIASING, ELEMENTWISE, Graph, Layer, Shape, fuse_activations, numel
from harness.paths import FIRMWARE

ENGINE = "native"
_FLOAT_BYTES = 4
_KERNELS = FIRMWARE / "kernels"
_RUNTIME = FIRMWARE / "runtime"


def kernel_sources() -> list[Path]:
    """The kernel .c files a firmware using this engine must compile."""
    return sorted((_KERNELS / "ref").glob("*.c"))


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


@dataclass
class GeneratedModel:
    model_c: Path
    weights_h: Path
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int
    layers: list[LayerInfo] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [self.model_c, self.weights_h]


# --------------------------------------------------------------------------- planning


@dataclass
class MemoryPlan:
    """Where every tensor lives.

    ``root[t]`` is the tensor whose buffer ``t`` shares (itself if it owns
    one); ``storage[root]`` is ("input", 0), ("output", 0) or ("arena", offset
    in floats). ``copy_output`` is set when the output is the input itself
    (an identity model) and must be copied.
    """

    root: dict[str, str]
    storage: dict[str, tuple[str, int]]
    arena_size: int  # in the caller's units (floats here, bytes for the integer engine)
    lifetimes: dict[str, tuple[int, int]]
    copy_output: bool = False
    # Start of a tensor inside its root's buffer (non-zero only for outputs
    # overlapped onto their input, see plan_memory's ``overlap``).
    shift: dict[str, int] = field(default_factory=dict)

    @property
    def arena_floats(self) -> int:
        return self.arena_size

    def location(self, tensor: str) -> tuple[str, int]:
        """("input" | "output" | "arena", offset) of a tensor's first element."""
        kind, offset = self.storage[self.root.get(tensor, tensor)]
        return kind, offset + self.shift.get(tensor, 0)


Rect = tuple[int, int, int, int]  # offset, size, first layer, last layer


def _fits(base: int, mine: list[Rect], placed: list[Rect]) -> bool:
    """No rectangle of ``mine`` at ``base`` meets a placed one in both bytes and time."""
    return all(base + rel + size <= off or off + osize <= base + rel
               for rel, size, start, end in mine
               for off, osize, s, e in placed if not (e < start or end < s))


def scratch_name(layer_index: int) -> str:
    """The pseudo-tensor holding a layer's working memory (im2col columns)."""
    return f"#scratch{layer_index}"


def plan_memory(graph: Graph, size_of: Callable[[str], int] | None = None,
                scratch: dict[int, int] | None = None,
                overlap: dict[int, int] | None = None) -> MemoryPlan:
    """Assign buffers to tensors; see the module docstring for the rules.

    Args:
        size_of: size of a tensor's buffer in arena units (default: its
            element count, i.e. floats).
        scratch: layer index -> working memory that layer needs, in the same
            units; planned like a tensor alive during that layer only.
        overlap: layer index -> d: that layer's kernel may write its output
            over its (dying) input when the output starts d units before
            the input (the kernel reads ahead of where it writes). Used when
            the input dies there and the output does not become the graph
            output.
    """
    size_of = size_of or (lambda t: numel(graph.shape_of(t)))
    n = len(graph.layers)
    uses: dict[str, list[int]] = {graph.input_name: []}
    for layer in graph.layers:
        uses[layer.output] = []
    for i, layer in enumerate(graph.layers):
        for t in layer.inputs:
            uses[t].append(i)
    uses[graph.output].append(n)  # the output is read after the last layer

    root: dict[str, str] = {graph.input_name: graph.input_name}
    members: dict[str, list[str]] = {graph.input_name: [graph.input_name]}
    defined: dict[str, int] = {graph.input_name: -1}
    shift: dict[str, int] = {graph.input_name: 0}
    # Tensors that may end up in the caller's output buffer: never overlapped.
    to_output = {graph.output}
    for layer in reversed(graph.layers):
        if layer.output in to_output and layer.op in ALIASING | ELEMENTWISE:
            to_output.update(layer.inputs)

    def last_use(r: str) -> int:
        return max((u for t in members[r] for u in uses[t]), default=defined[r])

    for i, layer in enumerate(graph.layers):
        r = layer.output
        shift[r] = 0
        if layer.op in ALIASING:
            r = root[layer.inputs[0]]
            shift[layer.output] = shift[layer.inputs[0]]
        elif layer.op in ELEMENTWISE:
            for t in layer.inputs:
                cand = root[t]
                # In place only into a buffer nobody reads after this layer.
                if cand != graph.input_name and last_use(cand) <= i:
                    r = cand
                    shift[layer.output] = shift[t]
                    break
        elif overlap and i in overlap and layer.output not in to_output:
            t = layer.inputs[0]
            cand = root[t]
            if cand != graph.input_name and last_use(cand) <= i:
                r = cand
                shift[layer.output] = shift[t] - overlap[i]
        root[layer.output] = r
        if r == layer.output:
            members[r] = [r]
            defined[r] = i
        else:
            members[r].append(layer.output)

    out_root = root[graph.output]
    storage: dict[str, tuple[str, int]] = {graph.input_name: ("input", 0)}
    copy_output = out_root == graph.input_name
    if not copy_output:
        storage[out_root] = ("output", 0)

    # Every tensor is a rectangle (offset in its buffer, size) x (layer that
    # makes it, last layer that reads it). A buffer is placed as the set of
    # its members' rectangles, so a buffer that shrinks over time (a conv
    # written over its input, then a pool in place) frees what it no longer
    # holds.
    made = {graph.input_name: -1, **{layer.output: i for i, layer in enumerate(graph.layers)}}
    lifetimes: dict[str, tuple[int, int]] = {}
    sizes: dict[str, int] = {}
    rects: dict[str, list[Rect]] = {}  # offsets relative to the buffer
    for r in members:
        # A buffer spans all its members; overlapped ones start before the root.
        low = min(shift[m] for m in members[r])
        for m in members[r]:
            shift[m] -= low
        if r in storage:
            continue
        lifetimes[r] = (defined[r], last_use(r))
        sizes[r] = max(shift[m] + size_of(m) for m in members[r])
        rects[r] = [(shift[m], size_of(m), made[m], max(uses[m], default=made[m]))
                    for m in members[r]]
    for i, units in (scratch or {}).items():
        lifetimes[scratch_name(i)] = (i, i)
        sizes[scratch_name(i)] = units
        rects[scratch_name(i)] = [(0, units, i, i)]

    placed: list[Rect] = []
    arena = 0
    for r in sorted(lifetimes, key=lambda t: (-sizes[t], lifetimes[t][0])):
        mine = rects[r]
        candidates = sorted({0} | {off + osize - rel for off, osize, _, _ in placed
                                   for rel, _, _, _ in mine if off + osize - rel > 0})
        offset = next(b for b in candidates if _fits(b, mine, placed))
        placed += [(offset + rel, size, start, end) for rel, size, start, end in mine]
        storage[r] = ("arena", offset)
        arena = max(arena, offset + sizes[r])
    return MemoryPlan(root, storage, arena, lifetimes, copy_output, shift)


# --------------------------------------------------------------------------- C emission


def c_float(value: float) -> str:
    """A C float literal that reads back bit-exactly (hex float, C99)."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise EngineError(f"non-finite weight value {v}")
    text = v.hex()  # e.g. '0x1.5555560000000p-2': exact for any float32
    mantissa, exp = text.split("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exp}f"


def _c_array(name: str, values: np.ndarray, per_line: int = 6) -> str:
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    items = [c_float(v) for v in flat]
    lines = [
        "    " + ", ".join(items[i : i + per_line]) + ","
        for i in range(0, len(items), per_line)
    ]
    return f"static const float {name}[{len(items)}] = {{\n" + "\n".join(lines) + "\n};\n"


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


def _comment(text: str) -> str:
    return text.replace("*/", "* /")


@dataclass
class _Emitter:
    graph: Graph
    plan: MemoryPlan
    decls: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    infos: list[LayerInfo] = field(default_factory=list)
    weight_bytes: int = 0
    used: set[str] = field(default_factory=set)  # "input"/"output"/"arena" buffers referenced

    def ptr(self, tensor: str) -> str:
        kind, offset = self.plan.storage[self.plan.root[tensor]]
        self.used.add(kind)
        if kind == "input":
            return "in"
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
        self.weights.append(_c_array(name, values))
        self.weight_bytes += int(values.size) * _FLOAT_BYTES
        return name

    def call(self, expr: str) -> None:
        self.body.append(f"    st = {expr};")
        self.body.append("    if (st != BENCH_OK) {")
        self.body.append("        return (int32_t)st;")
        self.body.append("    }")

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
            f"    /* {i}: {_comment(layer.name)} {layer.op} {shapes} -> {tuple(layer.out_shape)}"
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
        elif layer.op in ALIASING:
            kernel = None
            self.body.append("    /* (no code: same buffer, new shape) */")
        else:
            raise EngineError(f"layer {layer.name!r}: op {layer.op!r} has no native kernel")
        if kernel is not None:
            # One mark per layer listed in GeneratedModel.layers (the ones with code);
            # a call only in -DBENCH_PER_LAYER builds.
            self.body.append("    BENCH_LAYER_MARK();")
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


def generate(graph: Graph, out_dir: Path, model_hash: bytes) -> GeneratedModel:
    """Write model.c and model_weights.h for ``graph`` into ``out_dir``.

    Args:
        graph: the imported model (activations are fused here).
        out_dir: created if missing; existing files are overwritten.
        model_hash: the model's sha256 (or any >= 8 bytes); the first 8 go
            into ``bench_model_info.model_hash`` for the handshake.

    Raises:
        EngineError: an op or shape the native kernels cannot run.
    """
    if len(model_hash) < 8:
        raise EngineError(f"model_hash needs at least 8 bytes, got {len(model_hash)}")
    graph = fuse_activations(graph)
    try:
        graph.validate()
    except ValueError as e:
        raise EngineError(f"invalid graph: {e}") from e
    plan = plan_memory(graph)
    em = _Emitter(graph, plan)
    for i, layer in enumerate(graph.layers):
        em.layer(i, layer)

    input_floats = numel(graph.input_shape)
    output_floats = numel(graph.output_shape)
    if plan.copy_output:
        em.used.update(("input", "output"))
        em.body.append("    /* the output is the input: copy it */")
        em.body.append(f"    for (int32_t i = 0; i < {output_floats}; i++) {{")
        em.body.append("        out[i] = in[i];")
        em.body.append("    }")
    arena_bytes = plan.arena_floats * _FLOAT_BYTES
    if max(arena_bytes, input_floats * _FLOAT_BYTES, output_floats * _FLOAT_BYTES) >= 2**31:
        raise EngineError("model too large for 32-bit sizes")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_h = out_dir / "model_weights.h"
    model_c = out_dir / "model.c"
    weights_h.write_text(_weights_header(em.weights))
    model_c.write_text(
        _model_source(graph, em, plan, model_hash[:8], input_floats, output_floats)
    )
    return GeneratedModel(
        model_c=model_c,
        weights_h=weights_h,
        arena_bytes=arena_bytes,
        input_bytes=input_floats * _FLOAT_BYTES,
        output_bytes=output_floats * _FLOAT_BYTES,
        weight_bytes=em.weight_bytes,
        layers=em.infos,
    )


_HEADER = "/* Generated by bench (engine: native, float32). Do not edit. */\n"


def _weights_header(arrays: list[str]) -> str:
    return (
        _HEADER
        + "/* Included by model.c only: static const arrays, placed in flash. */\n"
        + "#ifndef BENCH_MODEL_WEIGHTS_H\n#define BENCH_MODEL_WEIGHTS_H\n\n"
        + "\n".join(arrays)
        + "\n#endif /* BENCH_MODEL_WEIGHTS_H */\n"
    )


def _model_source(
    graph: Graph,
    em: _Emitter,
    plan: MemoryPlan,
    hash8: bytes,
    input_floats: int,
    output_floats: int,
) -> str:
    hash_init = ", ".join(f"0x{b:02x}" for b in hash8)
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
        "const bench_model_info_t bench_model_info = {",
        f"    .input_bytes = {input_floats * _FLOAT_BYTES}u,",
        f"    .output_bytes = {output_floats * _FLOAT_BYTES}u,",
        f"    .arena_bytes = {plan.arena_floats * _FLOAT_BYTES}u,",
        "    .input_dtype = (uint8_t)BENCH_DTYPE_FLOAT32,",
        "    .output_dtype = (uint8_t)BENCH_DTYPE_FLOAT32,",
        "    .reserved = {0u, 0u},",
        f"    .model_hash = {{{hash_init}}},",
        f'    .engine = "{ENGINE}",',
        "};",
        "",
    ]
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
    if "input" not in em.used:
        lines.append("    (void)in; /* the output does not depend on the input */")
    if "output" not in em.used:
        lines.append("    (void)out;")
    lines += ["", body, "    return 0;", "}", ""]
    return "\n".join(lines)


class NativeEngine:
    """Registry entry for bench's own engine (harness/engines/__init__.py)."""

    name = ENGINE
    dtypes = ("float32", "int16", "int8")
    schemes = {"int8": ("pot", "affine"), "int16": ("pot",)}

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: str,
                 quant: object = None):  # noqa: ANN201
        from harness.engines import GeneratedModel as Generated

        if dtype not in self.dtypes:
            raise EngineError(f"the native engine has no {dtype} kernels; use one of "
                              f"{', '.join(self.dtypes)}")
        if dtype != "float32":
            from harness.engines.native import integer as native_int

            if quant is None:
                raise EngineError(f"a {dtype} build needs a quantization config")
            q = native_int.generate_int(graph, out_dir, model_hash, dtype, quant)
            return Generated(
                sources=(q.model_c, *native_int.kernel_sources()),
                include_dirs=(Path(out_dir), *native_int.include_dirs()),
                input_bytes=q.input_bytes, output_bytes=q.output_bytes,
                arena_bytes=q.arena_bytes, input_dtype=dtype, output_dtype=dtype,
                input_quant=q.input_quant, output_quant=q.output_quant,
                input_layout="hwc" if len(graph.input_shape) > 1 else "chw",
                output_layout=q.output_layout,
                layers=tuple({k: li[k] for k in ("name", "op", "macs")} for li in q.layers),
                extra={"weight_bytes": q.weight_bytes, "layers": q.layers})
        gen = generate(graph, out_dir, model_hash)
        return Generated(
            sources=(gen.model_c, *kernel_sources()), include_dirs=(Path(out_dir),
                                                                   *include_dirs()),
            input_bytes=gen.input_bytes, output_bytes=gen.output_bytes,
            arena_bytes=gen.arena_bytes, input_dtype="float32", output_dtype="float32",
            layers=tuple({"name": li.name, "op": li.op, "macs": li.macs}
                         for li in gen.layers if li.kernel is not None),
            extra={"weight_bytes": gen.weight_bytes,
                   "layers": [dict(vars(li)) for li in gen.layers]})

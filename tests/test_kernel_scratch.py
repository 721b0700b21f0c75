"""Scratch (working-memory) sizes: the C kernels own the formulas
(BENCH_*_SCRATCH_BYTES and bench_*_scratch_bytes() in bench_qkernels.h);
the Python arena planner (harness.engines.native.integer, scratch_bytes) must agree.

Checked two ways: the macros and functions compiled for the host against
the planner over many layer shapes, and a generated model.c that refuses
to compile when the planner gives a layer less than its kernel needs.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hostc import GCC, WARN, needs_gcc, run_ok

from harness.engines.native import integer as native_int
from harness.engines.native.integer import generate, include_dirs, scratch_bytes, scratch_macro
from harness.model.ir import Layer
from harness.quant import QuantConfig, TensorQuant
from harness.quant.schemes import QLayer

pytestmark = [needs_gcc, pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")]

ZOO = Path(__file__).resolve().parent / "model_zoo.py"
DTYPES = ("int8", "int16")


def _qlayer(dtype: str, op: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
            weight_shape: tuple[int, ...] | None = None, **params: object) -> QLayer:
    weight = None if weight_shape is None else np.zeros(weight_shape, dtype=np.float32)
    layer = Layer(name=f"{op}", op=op, inputs=["x"], output="y", in_shapes=[in_shape],
                  out_shape=out_shape, params=dict(params), weight=weight)
    tq = TensorQuant(dtype, 1.0)
    return QLayer(layer=layer, in_q=[tq], out_q=tq)


def _conv(dtype: str, c_in: int, kernel: tuple[int, ...], stride: int, groups: int = 1,
          c_out: int = 6) -> QLayer:
    if groups != 1:
        c_out = c_in
    spatial = tuple(k * 2 + 5 for k in kernel)
    out = tuple((s - k) // stride + 1 for s, k in zip(spatial, kernel, strict=True))
    op = "conv1d" if len(kernel) == 1 else "conv2d"
    return _qlayer(dtype, op, (c_in, *spatial), (c_out, *out), (c_out, c_in // groups, *kernel),
                   kernel=kernel, stride=(stride,) * len(kernel), padding=(0,) * len(kernel),
                   groups=groups)


def _layers() -> list[QLayer]:
    """Every kernel that takes scratch over many shapes, and some that take none."""
    layers = []
    sizes = (1, 2, 3, 4, 5, 7)
    channels = (1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 64)
    for dtype in DTYPES:
        for (kh, kw), c_in in itertools.product(itertools.product(sizes, sizes), channels):
            layers.append(_conv(dtype, c_in, (kh, kw), stride=1 + (kh + kw + c_in) % 3))
        for k, c_in in itertools.product(range(1, 10), range(1, 20)):
            layers.append(_conv(dtype, c_in, (k,), stride=1 + (k + c_in) % 2))
        for n in (*range(1, 40), 63, 64, 65, 127, 128, 255, 300, 1024):
            layers.append(_qlayer(dtype, "linear", (n,), (10,), (10, n)))
        layers.append(_qlayer(dtype, "linear", (4, 3, 5), (7,), (7, 60)))  # flattened map
        for c in (*range(1, 20), 32, 64, 70, 256):
            layers.append(_qlayer(dtype, "global_avgpool", (c, 3, 5), (c,)))
        # No scratch: depthwise, grouped, pools, element-wise.
        layers.append(_conv(dtype, 8, (3, 3), stride=1, groups=8))
        layers.append(_conv(dtype, 8, (3,), stride=2, groups=4))
        for op in ("maxpool2d", "avgpool2d"):
            layers.append(_qlayer(dtype, op, (5, 8, 8), (5, 4, 4), kernel=(2, 2), stride=(2, 2),
                                  padding=(0, 0)))
        for op in ("add", "relu", "relu6"):
            layers.append(_qlayer(dtype, op, (5, 4, 4), (5, 4, 4)))
    return layers


def _function_call(q: QLayer) -> str:
    """The same size through the function form, from the kernel's own arguments."""
    layer, sfx = q.layer, {"int8": "s8", "int16": "s16"}[q.out_q.dtype]
    shape = tuple(layer.in_shapes[0])
    if layer.op == "linear":
        return f"bench_linear_{sfx}_scratch_bytes({int(np.prod(shape))})"
    c, h, w = (shape[0], 1, shape[1]) if len(shape) == 2 else shape
    dims = f"&(bench_dims){{.c = {c}, .h = {h}, .w = {w}}}"
    if layer.op == "global_avgpool":
        return f"bench_global_avgpool_{sfx}_scratch_bytes({dims})"
    k = tuple(layer.params["kernel"])
    kh, kw = (1, k[0]) if len(k) == 1 else k
    return (f"bench_conv_{sfx}_scratch_bytes(&(bench_window){{.kernel_h = {kh}, "
            f".kernel_w = {kw}, .stride_h = 1, .stride_w = 1, .pad_h = 0, .pad_w = 0}}, {dims})")


def test_c_scratch_sizes_match_the_planner(tmp_path: Path) -> None:
    assert GCC is not None
    layers = _layers()
    with_scratch = [q for q in layers if scratch_macro(q) is not None]
    # A kernel without a size macro takes no scratch, so the planner gives none.
    for q in layers:
        if scratch_macro(q) is None:
            assert scratch_bytes(q) == 0, (q.op, q.out_q.dtype)
    assert len(with_scratch) > 900
    # File-scope initializers: the macros must be constant expressions.
    src = tmp_path / "sizes.c"
    src.write_text(
        '#include <stdio.h>\n\n#include "bench_qkernels.h"\n\n'
        "static const int32_t from_macros[] = {\n"
        + "".join(f"    {scratch_macro(q)},\n" for q in with_scratch) + "};\n\n"
        "int main(void)\n{\n"
        + "".join(f'    printf("%d %d\\n", (int)from_macros[{i}], (int){_function_call(q)});\n'
                  for i, q in enumerate(with_scratch))
        + "    return 0;\n}\n")
    exe = tmp_path / "sizes"
    run_ok([GCC, *WARN, *(f"-I{d}" for d in include_dirs()), str(src), "-o", str(exe)])
    got = [tuple(map(int, line.split())) for line in run_ok([str(exe)]).stdout.splitlines()]
    assert len(got) == len(with_scratch)
    for q, (macro, function) in zip(with_scratch, got, strict=True):
        shape = (q.op, q.out_q.dtype, tuple(q.layer.in_shapes[0]), q.layer.params.get("kernel"))
        assert macro == function == scratch_bytes(q), shape


def _model_c(tmp_path: Path, dtype: str, wide: bool) -> Path:
    from harness.model.load import load_model
    from harness.model.lower import import_graph
    from harness.quant.calibrate import calibrate
    from harness.quant.schemes import quantize_graph

    module, shape = load_model(f"{ZOO}:adaptive_net")  # conv, 1x1 conv, global avg pool, linear
    graph = import_graph(module, shape, verify=False)
    x = np.random.default_rng(0).standard_normal((8, *graph.input_shape)).astype(np.float32)
    qgraph = quantize_graph(graph, QuantConfig("pot", calibrate(graph, x)), dtype)
    generate(qgraph, tmp_path, b"\0" * 8, wide=wide)
    return tmp_path / "model.c"


ARM_GCC = shutil.which("arm-none-eabi-gcc")
# As harness.toolchain compiles firmware (the board's -mcpu flags aside).
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-O2", *WARN]


def _compile(model_c: Path, cc: str | None = GCC,
             flags: list[str] = WARN) -> subprocess.CompletedProcess[str]:
    assert cc is not None
    return subprocess.run([cc, *flags, *(f"-I{d}" for d in include_dirs()),
                           f"-I{model_c.parent}", "-c", str(model_c), "-o",
                           str(model_c.with_suffix(".o"))], capture_output=True, text=True)


@pytest.mark.parametrize("dtype,wide", [("int8", False), ("int8", True), ("int16", False)])
def test_model_checks_its_plan_at_compile_time(dtype: str, wide: bool, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model_c = _model_c(tmp_path / "ok", dtype, wide)
    checks = [ln for ln in model_c.read_text().splitlines() if "BENCH_STATIC_ASSERT" in ln]
    # Two convs and the global pool; the int8 linear widens its input too.
    assert len(checks) == (4 if dtype == "int8" else 3)
    proc = _compile(model_c)
    assert proc.returncode == 0, proc.stderr
    # A planner that gives a layer 4 bytes less than its kernel needs: the
    # firmware must not build, and the error names the layer.
    real = native_int.scratch_bytes
    monkeypatch.setattr(native_int, "scratch_bytes",
                        lambda q: max(real(q) - 4, 0) if q.op == "global_avgpool" else real(q))
    short = _model_c(tmp_path / "short", dtype, wide)
    message = "layer 3 (gap): bench_global_avgpool_"
    proc = _compile(short)
    # (glibc turns C99's _Static_assert into a negative bit-field width: the
    # message is in the note that quotes the line.)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    if ARM_GCC is not None:  # the firmware's compiler and C library
        proc = _compile(short, ARM_GCC, ARM_FLAGS)
        assert proc.returncode != 0
        assert f'static assertion failed: "{message}' in proc.stderr, proc.stderr

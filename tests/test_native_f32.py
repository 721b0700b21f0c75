"""Native float32 engine: generated C compiled for the host and the M4, vs PyTorch."""

from __future__ import annotations

import hashlib
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hostc import GCC, WARN, compile_objects, needs_gcc, run_model, run_ok

from harness.engines.codegen.c import c_float
from harness.engines.codegen.plan import plan_memory
from harness.engines.native.float32 import generate, include_dirs, kernel_sources
from harness.errors import EngineError
from harness.model.ir import Graph, Layer, fuse_activations, numel
from harness.model.load import load_model
from harness.model.lower import import_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
EXAMPLES = HERE.parent / "examples"
SPECS = {
    **{name: f"{ZOO}:{name}" for name in
       ["conv1d_net", "conv2d_net", "residual_net", "mlp", "adaptive_net", "passthrough",
        "pool_odd_net"]},
    "har_cnn": f"{EXAMPLES / 'har_cnn.py'}:har_cnn_untrained",
    "digits_cnn": f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn_untrained",
}
ARM = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
       "-Wdouble-promotion"]
ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_arm = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed")


def _includes() -> list[str]:
    return [f"-I{d}" for d in include_dirs()]


_run = run_ok


@pytest.fixture(scope="session")
def host_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Kernels and the test main, compiled once for the host (per session)."""
    if GCC is None:
        pytest.skip("host gcc not installed")
    return compile_objects(kernel_sources(), include_dirs(), tmp_path_factory.mktemp("host_obj"))


@dataclass
class HostRun:
    header: dict[str, object]
    outputs: np.ndarray


def run_on_host(model_dir: Path, objs: list[Path], x: np.ndarray) -> HostRun:
    raw = run_model(model_dir, objs, include_dirs(), len(x),
                    np.ascontiguousarray(x, dtype="<f4").tobytes())
    in_b, out_b, arena_b, in_t, out_t = struct.unpack_from("<IIIBB", raw, 0)
    model_hash = raw[14:22]
    engine = raw[22:38].rstrip(b"\0").decode()
    outputs = np.frombuffer(raw[38:], dtype="<f4").reshape(len(x), out_b // 4)
    header = {"input_bytes": in_b, "output_bytes": out_b, "arena_bytes": arena_b,
              "input_dtype": in_t, "output_dtype": out_t, "model_hash": model_hash,
              "engine": engine}
    return HostRun(header, outputs)


def torch_outputs(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).reshape(len(x), -1).numpy()


@needs_gcc
@pytest.mark.parametrize("name", sorted(SPECS))
def test_generated_c_matches_torch(name: str, tmp_path: Path, host_objects: list[Path]) -> None:
    module, shape = load_model(SPECS[name])
    graph = import_graph(module, shape)
    model_hash = hashlib.sha256(name.encode()).digest()
    gen = generate(graph, tmp_path, model_hash)

    assert gen.files == [tmp_path / "model.c", tmp_path / "model_weights.h"]
    source = gen.model_c.read_text()
    assert "malloc" not in source and "bench_model_run(const void *input, void *output)" in source
    assert gen.weight_bytes == 4 * graph.params_count

    x = np.random.default_rng(7).standard_normal((20, *shape)).astype(np.float32)
    run = run_on_host(tmp_path, host_objects, x)
    assert run.header == {
        "input_bytes": 4 * numel(shape),
        "output_bytes": gen.output_bytes,
        "arena_bytes": gen.arena_bytes,
        "input_dtype": 0,
        "output_dtype": 0,
        "model_hash": model_hash[:8],
        "engine": "native",
    }
    want = torch_outputs(module, x)
    assert run.outputs.shape == want.shape
    assert np.abs(run.outputs - want).max() <= 1e-4


@needs_arm
@pytest.mark.parametrize("name", ["conv1d_net", "conv2d_net", "residual_net", "digits_cnn",
                                  "passthrough"])
def test_generated_c_compiles_for_cortex_m4(name: str, tmp_path: Path) -> None:
    module, shape = load_model(SPECS[name])
    generate(import_graph(module, shape), tmp_path, bytes(8))
    _run([ARM_GCC, *ARM, *WARN, *_includes(), f"-I{tmp_path}", "-c", str(tmp_path / "model.c"),
          "-o", str(tmp_path / "model.o")])


@needs_arm
def test_kernels_compile_for_cortex_m4(tmp_path: Path) -> None:
    for src in kernel_sources():
        _run([ARM_GCC, *ARM, *WARN, *_includes(), "-c", str(src), "-o",
              str(tmp_path / (src.stem + ".o"))])
    assert {p.name for p in kernel_sources()} >= {
        "conv1d_f32.c", "conv2d_f32.c", "linear_f32.c", "pool_f32.c", "relu_f32.c", "add_f32.c"
    }


KERNEL_ARGS_TEST = r"""
#include <stdio.h>
#include "bench_kernels.h"

int main(void)
{
    float in[2 * 4 * 4] = {0}, w[4 * 2 * 3 * 3] = {0}, out[64] = {0};
    bench_conv_params p = {.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 1,
                           .activation = BENCH_ACT_NONE};
    bench_dims in_d = {2, 4, 4}, w_d = {2, 3, 3}, out_d = {4, 4, 4}, bad_out = {4, 3, 4};
    int fails = 0;
    fails += bench_conv2d_f32(&p, &in_d, in, &w_d, w, NULL, &out_d, out) != BENCH_OK;
    fails += bench_conv2d_f32(&p, &in_d, in, &w_d, w, NULL, &bad_out, out) != BENCH_ARG_ERROR;
    p.groups = 3;
    fails += bench_conv2d_f32(&p, &in_d, in, &w_d, w, NULL, &out_d, out) != BENCH_ARG_ERROR;
    bench_pool_params pp = {.kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                            .pad_h = 0, .pad_w = 0, .count_include_pad = 1};
    bench_dims pool_out = {2, 2, 2};
    fails += bench_max_pool2d_f32(&pp, &in_d, in, &pool_out, out) != BENCH_OK;
    fails += bench_max_pool1d_f32(&pp, &in_d, in, &pool_out, out) != BENCH_ARG_ERROR;
    bench_linear_params lp = {.in_features = 0, .out_features = 2, .activation = BENCH_ACT_RELU};
    fails += bench_linear_f32(&lp, in, w, NULL, out) != BENCH_ARG_ERROR;
    fails += bench_add_f32((bench_activation)7, 4, in, in, out) != BENCH_ARG_ERROR;
    fails += bench_relu_f32(4, NULL, out) != BENCH_ARG_ERROR;
    printf("%d\n", fails);
    return fails;
}
"""


@needs_gcc
def test_kernels_reject_bad_arguments(tmp_path: Path) -> None:
    src = tmp_path / "args.c"
    src.write_text(KERNEL_ARGS_TEST)
    exe = tmp_path / "args"
    _run([GCC, "-O2", *WARN, *_includes(), str(src), *map(str, kernel_sources()), "-o", str(exe)])
    assert _run([str(exe)]).stdout.strip() == b"0"


def _check_plan(graph: Graph) -> None:
    g = fuse_activations(graph)
    plan = plan_memory(g)
    sizes = {r: numel(g.shape_of(r)) for r in plan.lifetimes}
    arena = {r: off for r, (kind, off) in plan.storage.items() if kind == "arena"}
    assert set(arena) == set(plan.lifetimes)
    for r, off in arena.items():
        assert 0 <= off and off + sizes[r] <= plan.arena_floats
    names = sorted(arena)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (s1, e1), (s2, e2) = plan.lifetimes[a], plan.lifetimes[b]
            if e1 < s2 or e2 < s1:
                continue  # never alive together: may share
            assert arena[a] + sizes[a] <= arena[b] or arena[b] + sizes[b] <= arena[a], (a, b)
    # The output is written in place into the caller's buffer, never the arena.
    assert plan.storage[plan.root[g.output]][0] in ("output", "input")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_memory_plan_never_overlaps_live_tensors(name: str) -> None:
    module, shape = load_model(SPECS[name])
    _check_plan(import_graph(module, shape, verify=False))


def test_memory_plan_reuses_and_runs_in_place() -> None:
    module, shape = load_model(SPECS["digits_cnn"])
    graph = fuse_activations(import_graph(module, shape, verify=False))
    plan = plan_memory(graph)
    naive = sum(numel(layer.out_shape) for layer in graph.layers)
    # Three 16x8x8 maps are alive around the residual add; far below the naive sum.
    assert plan.arena_floats <= 3 * 16 * 8 * 8 < naive
    add = next(layer for layer in graph.layers if layer.op == "add")
    assert plan.root[add.output] in add.inputs  # residual add runs in place
    flat = next(layer for layer in graph.layers if layer.op == "flatten")
    assert plan.root[flat.output] == plan.root[flat.inputs[0]]  # reshapes are free


def test_c_float_round_trips_bit_exactly() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.standard_normal(1000).astype(np.float32),
        np.array([0.0, -0.0, 1.0, -2.5, 1e-45, -1e-40, 3.4028235e38, 1.1754944e-38, 0.1],
                 dtype=np.float32),
    ])
    for v in values:
        text = c_float(v)
        assert text.endswith("f")
        back = np.float32(float.fromhex(text[:-1]))
        assert back.tobytes() == np.float32(v).tobytes(), text
    with pytest.raises(EngineError):
        c_float(float("nan"))


def test_generate_rejects_short_hash_and_unknown_op(tmp_path: Path) -> None:
    graph = Graph(input_shape=(4,), layers=[
        Layer("fc", "linear", ["input"], "fc", [(4,)], (2,), {"activation": None},
              np.ones((2, 4), np.float32), None),
    ], output="fc")
    with pytest.raises(EngineError, match="8 bytes"):
        generate(graph, tmp_path, b"abc")
    gen = generate(graph, tmp_path, bytes(range(8)))
    assert gen.arena_bytes == 0  # a single layer writes straight into the output
    assert "static float arena" not in gen.model_c.read_text()
    assert gen.layers[0].location == "output" and gen.layers[0].kernel == "bench_linear_f32"


def test_native_engine_registry_entry(tmp_path: Path) -> None:
    from harness.engines import get_engine

    graph = import_graph(*load_model(SPECS["mlp"]), verify=False)
    engine = get_engine("native")
    gen = engine.generate(graph, tmp_path, bytes(8), "float32")
    assert gen.sources[0] == tmp_path / "model.c"
    assert set(kernel_sources()) <= set(gen.sources)
    assert tmp_path in gen.include_dirs and gen.input_bytes == 4 * 20
    with pytest.raises(EngineError, match="quantization config"):
        engine.generate(graph, tmp_path, bytes(8), "int8")  # no ranges, no scheme
    with pytest.raises(EngineError, match="float64"):
        engine.generate(graph, tmp_path, bytes(8), "float64")

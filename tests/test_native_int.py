"""Native int8/int16 engine: generated C vs the numpy integer reference, bit for bit.

The host build runs the portable kernels; the Cortex-M4 build (DSP paths)
is checked on QEMU in test_quant_qemu.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import imported_graph
from hostc import GCC, compile_objects, needs_gcc, run_model

from harness.engines.native.integer import generate, include_dirs, kernel_sources
from harness.errors import ConfigError, EngineError, ModelError
from harness.model.ir import Graph
from harness.model.load import load_model
from harness.model.lower import import_graph
from harness.quant import QuantConfig
from harness.quant.calibrate import Calibration, calibrate
from harness.quant.reference import run_qgraph
from harness.quant.schemes import quantize_graph

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
EXAMPLES = HERE.parent / "examples"
SPECS = {
    **{name: f"{ZOO}:{name}" for name in
       ["conv1d_net", "conv2d_net", "residual_net", "mlp", "adaptive_net", "ds_net",
        "dw2d_odd_net", "dw2d_stride_net"]},
    "har_cnn": f"{EXAMPLES / 'har_cnn.py'}:har_cnn_untrained",
    "digits_cnn": f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn_untrained",
}
VARIANTS = [("int8", "pot"), ("int8", "affine"), ("int16", "pot")]
# Bit-exactness also covers the int8 "wide" weight layout.
BUILDS = [(d, s, False) for d, s in VARIANTS] + [("int8", "pot", True), ("int8", "affine", True)]


@pytest.fixture(scope="session")
def host_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if GCC is None:
        pytest.skip("host gcc not installed")
    return compile_objects(kernel_sources(), include_dirs(), tmp_path_factory.mktemp("host_q"))


def _graph(name: str) -> Graph:
    return imported_graph(SPECS[name], verify=False)  # imported once per session


def _inputs(graph: Graph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *graph.input_shape)).astype(np.float32)


def run_c_on_host(model_dir: Path, objs: list[Path], xq_hwc: np.ndarray,
                  dtype: str) -> np.ndarray:
    raw = run_model(model_dir, objs, include_dirs(), len(xq_hwc),
                    np.ascontiguousarray(xq_hwc).tobytes())
    return np.frombuffer(raw[38:], dtype=dtype).reshape(len(xq_hwc), -1)


def to_hwc(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


@needs_gcc
@pytest.mark.parametrize("dtype,scheme,wide", BUILDS)
@pytest.mark.parametrize("name", sorted(SPECS))
def test_c_matches_integer_reference_bit_for_bit(name: str, dtype: str, scheme: str,
                                                 wide: bool, tmp_path: Path,
                                                 host_objects: list[Path]) -> None:
    graph = _graph(name)
    cal = calibrate(graph, _inputs(graph, 64, 0), "minmax")
    qgraph = quantize_graph(graph, QuantConfig(scheme, cal), dtype)
    # Test inputs wider than the calibration set: saturation is exercised too.
    x = _inputs(graph, 24, 1) * 1.5
    xq = qgraph.input_q.quantize(x)
    model = generate(qgraph, tmp_path, b"\x01" * 8, wide=wide)
    got = run_c_on_host(tmp_path, host_objects, to_hwc(xq), dtype)
    want = run_qgraph(qgraph, xq)
    if model.output_layout == "hwc":
        shape = graph.output_shape
        got = np.moveaxis(got.reshape(len(x), *shape[1:], shape[0]), -1, 1).reshape(len(x), -1)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(want)) > 1, "outputs are all equal: the test would not see a wrong kernel"


@pytest.mark.parametrize("dtype,scheme", VARIANTS)
def test_quantized_outputs_track_float(dtype: str, scheme: str) -> None:
    from harness.model.reference import run_graph

    graph = _graph("residual_net")
    x = _inputs(graph, 100, 2)
    # Calibrated on the same inputs: this measures rounding, not clipping.
    cal = calibrate(graph, x, "minmax")
    qgraph = quantize_graph(graph, QuantConfig(scheme, cal), dtype)
    y = qgraph.output_q.dequantize(run_qgraph(qgraph, qgraph.input_q.quantize(x)))
    ref = run_graph(graph, x)
    rel = np.max(np.abs(y - ref)) / np.max(np.abs(ref))
    assert rel < (0.07 if dtype == "int8" else 0.002), rel


def test_pot_formats_and_multipliers() -> None:
    from harness.quant.schemes import affine_format, pot_format, quantize_multiplier

    assert pot_format(-1.0, 0.9, "int8").frac_bits == 6  # 127 / 1 -> 2**6
    assert pot_format(0.0, 3.0, "int16").frac_bits == 13
    a = affine_format(0.0, 6.0)
    assert a.zero_point == -128 and a.scale == pytest.approx(6 / 255)
    m, s = quantize_multiplier(0.75)
    assert m * 2.0 ** (s - 31) == pytest.approx(0.75) and 2**30 <= m < 2**31


def test_bad_calibration_and_overflow_are_named() -> None:
    graph = _graph("mlp")
    with pytest.raises(ConfigError, match="shape"):
        calibrate(graph, np.zeros((4, 3, 3), dtype=np.float32))
    cal = calibrate(graph, _inputs(graph, 16, 0))
    with pytest.raises(ConfigError, match="affine"):
        quantize_graph(graph, QuantConfig("affine", cal), "int16")
    # A bias far beyond the activations' range cannot sit in an int32 accumulator.
    graph.layers[0].bias = graph.layers[0].bias + 1e12
    huge = Calibration("minmax", 16, {**cal.ranges})
    with pytest.raises(ModelError, match=graph.layers[0].name):
        quantize_graph(graph, QuantConfig("pot", huge), "int8")


def test_passthrough_model_is_refused(tmp_path: Path) -> None:
    module, shape = load_model(f"{ZOO}:passthrough")
    graph = import_graph(module, shape, verify=False)
    cal = calibrate(graph, _inputs(graph, 8, 0))
    with pytest.raises(EngineError):
        generate(quantize_graph(graph, QuantConfig("pot", cal), "int8"), tmp_path, b"\0" * 8)


def test_conv_output_overlaps_its_dying_input() -> None:
    from harness.engines.codegen.plan import plan_memory
    from harness.engines.native.integer import conv_overlap, scratch_bytes
    from harness.model.ir import numel

    graph = _graph("har_cnn")
    qgraph = quantize_graph(graph, QuantConfig("pot", calibrate(graph, _inputs(graph, 8, 0))),
                            "int8")
    g = qgraph.graph
    size = {t: numel(g.shape_of(t)) for t in [g.input_name, *(la.output for la in g.layers)]}
    scratch = {i: scratch_bytes(q) for i, q in enumerate(qgraph.layers) if scratch_bytes(q)}
    overlap = {i: d for i, q in enumerate(qgraph.layers)
               if (d := conv_overlap(q, 1)) is not None}
    plain = plan_memory(g, size.__getitem__, scratch)
    lapped = plan_memory(g, size.__getitem__, scratch, overlap)
    assert lapped.arena_size < plain.arena_size
    # conv 16x64 -> 32x32 (k5 s2 p2): output must start 2 input pixels (32 bytes)
    # below the input, far less than a second 1 KB buffer.
    conv2 = qgraph.layers[1]
    assert conv2.op == "conv1d" and conv_overlap(conv2, 1) == 32
    kind, off_in = lapped.location(conv2.layer.inputs[0])
    kind2, off_out = lapped.location(conv2.layer.output)
    assert kind == kind2 == "arena" and off_in - off_out == 32

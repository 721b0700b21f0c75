"""Cortex-M4 DSP paths of the int8/int16 kernels, bit for bit on QEMU.

The host tests (test_native_int.py) check the portable C; here the same
generated models run on the emulated STM32L452 (SMLAD/SXTB16 inner loops,
SSAT/QADD requantization, the one-SMULL affine path, unaligned row reads)
and every raw integer the device returns is compared with
harness.quant.reference.run_qgraph. Inputs are wider than the calibration
set, so saturation is exercised too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from graphs import imported_graph

from harness.backends import resolve_board_backend
from harness.build.build import build_for
from harness.engines import get_engine
from harness.quant import QuantConfig
from harness.quant.calibrate import calibrate
from harness.quant.reference import run_qgraph
from harness.quant.schemes import quantize_graph
from harness.run.target import DeviceTarget

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not installed (make setup)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc not installed (make setup)"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning"),
]

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
EXAMPLES = HERE.parent / "examples"
# (dtype, scheme, weight layout): every DSP conv path and requantization.
BUILDS = [("int8", "pot", "packed"), ("int8", "pot", "wide"), ("int8", "affine", "packed"),
          ("int8", "affine", "wide"), ("int16", "pot", "packed")]
MODELS = {
    "conv1d_net": f"{ZOO}:conv1d_net",  # odd K, depthwise, grouped, ReLU6 (generic paths)
    "conv2d_net": f"{ZOO}:conv2d_net",  # C_in = 2 rows padded, stride 2, non-square
    "residual_net": f"{ZOO}:residual_net",
    "digits_cnn": f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn_untrained",  # C_in = 1, 3x3 borders
    # Depthwise (SIMD channel quads, clipped windows) and linear (two rows of
    # SMLAD) dominate; odd channel counts and widths hit the tails.
    "ds_net": f"{ZOO}:ds_net",
    "dw2d_odd_net": f"{ZOO}:dw2d_odd_net",
    "mlp": f"{ZOO}:mlp",  # linear straight from the input buffer, 16 -> 3
}
SAMPLES = 3


def _check(spec: str, dtype: str, scheme: str, weights: str, tmp_path: Path,
           samples: int = SAMPLES) -> None:
    graph = imported_graph(spec, verify=False)  # imported once per session
    rng = np.random.default_rng(0)
    cal = calibrate(graph, rng.standard_normal((32, *graph.input_shape)).astype(np.float32),
                    "minmax")
    quant = QuantConfig(scheme, cal, weights=weights)
    qgraph = quantize_graph(graph, quant, dtype)
    x = rng.standard_normal((samples, *graph.input_shape)).astype(np.float32) * 1.5
    want = run_qgraph(qgraph, qgraph.input_q.quantize(x))
    board, backend = resolve_board_backend("stm32l452", "qemu")
    fw = build_for(board, graph, get_engine("native"), dtype, backend.link, out_dir=tmp_path / "fw",
                   quant=quant)
    assert fw.output_layout == "chw"
    with DeviceTarget(backend, board, fw) as target:
        target.start()
        assert target.link is not None
        for i in range(samples):
            raw = target.link.infer(fw.encode_input(x[i])).output
            got = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
            np.testing.assert_array_equal(got, want[i], err_msg=f"sample {i}")
    assert len(np.unique(want)) > 1, "outputs are all equal: the test would not see a wrong kernel"


@pytest.mark.parametrize("dtype,scheme,weights", BUILDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_dsp_kernels_match_reference(name: str, dtype: str, scheme: str, weights: str,
                                     tmp_path: Path) -> None:
    if dtype == "int16" and weights == "wide":
        pytest.skip("int16 weights are int16 already")
    if weights == "wide" and name in ("ds_net", "dw2d_odd_net", "mlp"):
        pytest.skip("no dense conv: the weight layout changes nothing")
    _check(MODELS[name], dtype, scheme, weights, tmp_path)


@pytest.mark.parametrize("scheme,weights", [("pot", "packed"), ("pot", "wide"),
                                            ("affine", "packed")])
def test_resnet8_int8_matches_reference(scheme: str, weights: str, tmp_path: Path) -> None:
    _check(f"{EXAMPLES / 'resnet8.py'}:resnet8", "int8", scheme, weights, tmp_path, samples=2)

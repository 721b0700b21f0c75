"""Our int8 affine graphs exported to .tflite and run in the real TFLite
Micro interpreter (the tflite-micro package): outputs equal run_qgraph's
bit for bit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from graphs import imported_graph

from harness.engines.tflm.interpreter import run_tflm
from harness.errors import EngineError
from harness.export.tflite import export_tflite
from harness.quant import QuantConfig
from harness.quant.calibrate import calibrate
from harness.quant.reference import run_qgraph
from harness.quant.schemes import QGraph, quantize_graph

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated",
                             reason="the TFLite Micro engine needs: pip install tflite-micro")

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
SPECS = {
    **{name: f"{ZOO}:{name}" for name in ["conv1d_net", "conv2d_net", "residual_net", "mlp"]},
    "digits_cnn": f"{HERE.parent / 'examples' / 'digits_cnn.py'}:digits_cnn_untrained",
}


def _qgraph(name: str, scheme: str = "affine") -> tuple[QGraph, np.ndarray]:
    """The model quantized on random calibration data, and quantized test
    inputs wider than the calibration set (saturation is exercised too)."""
    graph = imported_graph(SPECS[name], verify=False)  # imported once per session
    shape = graph.input_shape
    rng = np.random.default_rng(0)
    cal = calibrate(graph, rng.standard_normal((64, *shape)).astype(np.float32), "minmax")
    qgraph = quantize_graph(graph, QuantConfig(scheme, cal), "int8")
    x = 1.5 * rng.standard_normal((24, *shape)).astype(np.float32)
    return qgraph, qgraph.input_q.quantize(x)


def _ops(model: bytes) -> set[str]:
    m = schema.ModelT.InitFromPackedBuf(model, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return {names[c.builtinCode] for c in m.operatorCodes}


@pytest.mark.parametrize("name", list(SPECS))
def test_tflm_outputs_equal_the_integer_reference(name: str) -> None:
    qgraph, xq = _qgraph(name)
    model = export_tflite(qgraph)
    run = run_tflm(model, qgraph, xq)
    ref = run_qgraph(qgraph, xq)
    assert run.outputs.shape == ref.shape
    assert len(np.unique(ref)) > 3  # the outputs carry information, not one saturated value
    np.testing.assert_array_equal(run.outputs, ref)
    assert run.arena_bytes is not None and 0 < run.arena_bytes < 64 * 1024


def test_export_uses_tflite_ops_and_layout() -> None:
    qgraph, _ = _qgraph("conv1d_net")
    model = export_tflite(qgraph)
    ops = _ops(model)
    # conv1d as 1xW CONV_2D, the depthwise one as DEPTHWISE_CONV_2D; the
    # pad-excluding average pool with non-SAME padding as sliced pools.
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
            "AVERAGE_POOL_2D", "PAD", "SLICE", "CONCATENATION", "RESHAPE"} <= ops
    # A padded max pool SAME cannot express: PADV2 with -128 first.
    assert "PADV2" in _ops(export_tflite(_qgraph("conv2d_net")[0]))
    m = schema.ModelT.InitFromPackedBuf(model, 0)
    sub = m.subgraphs[0]
    inp = sub.tensors[sub.inputs[0]]
    assert list(inp.shape) == [1, 1, 32, 3]  # (C, L) = (3, 32) as NHWC
    by_name = {t.name.decode(): t for t in sub.tensors}
    dw = by_name["features.3/weight"]
    assert list(dw.shape) == [1, 1, 3, 8] and dw.quantization.quantizedDimension == 3
    conv = by_name["features.0/weight"]
    assert list(conv.shape) == [8, 1, 5, 3] and len(conv.quantization.scale) == 8
    assert conv.quantization.quantizedDimension == 0
    assert list(conv.quantization.zeroPoint) == [0] * 8


def test_a_changed_bias_shows_in_the_comparison() -> None:
    """The comparison can fail: TFLM runs the file, not our QGraph."""
    qgraph, xq = _qgraph("mlp")
    model = export_tflite(qgraph)
    first = qgraph.layers[0]
    assert first.bias is not None
    bumped = replace(first, bias=first.bias + 1000)
    other = replace(qgraph, layers=[bumped, *qgraph.layers[1:]])
    assert not np.array_equal(run_tflm(model, qgraph, xq).outputs, run_qgraph(other, xq))


def test_multipliers_tflm_would_not_derive_are_refused() -> None:
    qgraph, _ = _qgraph("mlp")
    first = qgraph.layers[0]
    assert first.mult is not None
    off = replace(first, mult=first.mult + 7)
    with pytest.raises(EngineError, match=r"layer 'fc1', channel 0: TFLM would requantize"):
        export_tflite(replace(qgraph, layers=[off, *qgraph.layers[1:]]))


def test_only_int8_affine_graphs_export() -> None:
    qgraph, _ = _qgraph("mlp", scheme="pot")
    with pytest.raises(EngineError, match="--quant affine"):
        export_tflite(qgraph)

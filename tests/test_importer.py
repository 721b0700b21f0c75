"""Model import (file.py:factory and .pt2) -> IR, checked against PyTorch."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.errors import ModelError
from harness.model.ir import Graph, Layer, fuse_activations, simplify
from harness.model.load import load_model
from harness.model.lower import import_graph
from harness.model.reference import run_graph

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
EXAMPLES = HERE.parent / "examples"
# torch.export's pytree code warns about its own deprecated LeafSpec use.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")

MODELS = ["conv1d_net", "conv2d_net", "residual_net", "mlp", "adaptive_net", "passthrough"]


def torch_outputs(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    # One sample at a time: a .pt2 module is specialised to batch 1.
    with torch.no_grad():
        outs = [module(torch.from_numpy(x[i : i + 1])).reshape(1, -1) for i in range(len(x))]
    return torch.cat(outs).numpy()


def random_inputs(shape: tuple[int, ...], n: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def write_model(tmp_path: Path, body: str, name: str = "m.py") -> Path:
    path = tmp_path / name
    header = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
    path.write_text(header + textwrap.dedent(body))
    return path


# --------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize("name", MODELS)
def test_factory_model_matches_torch(name: str) -> None:
    module, shape = load_model(f"{ZOO}:{name}")
    graph = import_graph(module, shape)
    x = random_inputs(shape)
    want = torch_outputs(module, x)
    got = run_graph(graph, x)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5


@pytest.mark.parametrize("decompose", [False, True], ids=["export", "decomposed"])
@pytest.mark.parametrize("name", MODELS)
def test_pt2_model_matches_torch(name: str, decompose: bool, tmp_path: Path) -> None:
    module, shape = load_model(f"{ZOO}:{name}")
    ep = torch.export.export(module.eval(), (torch.zeros((1, *shape)),))
    if decompose:  # core ATen: convolution, addmm, *_with_indices, squeeze/unsqueeze
        ep = ep.run_decompositions()
    path = tmp_path / f"{name}.pt2"
    torch.export.save(ep, str(path))

    loaded, loaded_shape = load_model(str(path))
    assert loaded_shape == shape
    graph = import_graph(loaded, loaded_shape)
    x = random_inputs(shape, seed=1)
    assert np.abs(run_graph(graph, x) - torch_outputs(module, x)).max() <= 1e-5
    if not decompose:  # same layers and names as through the factory path
        direct = import_graph(module, shape)
        assert [(layer.name, layer.op) for layer in graph.layers] == [
            (layer.name, layer.op) for layer in direct.layers
        ]


def test_layer_names_ops_and_folding() -> None:
    module, shape = load_model(f"{ZOO}:conv2d_net")
    graph = import_graph(module, shape)
    ops = {layer.name: layer.op for layer in graph.layers}
    # BatchNorms are folded away, dropout removed, view becomes flatten.
    assert ops == {
        "conv1": "conv2d", "act1": "relu6", "dw": "conv2d", "relu": "relu",
        "grouped": "conv2d", "pool1": "maxpool2d", "pool2": "avgpool2d",
        "view": "flatten", "fc1": "linear", "relu_1": "relu", "fc2": "linear",
    }
    dw = graph.layers[2]
    assert dw.params["groups"] == 8 and dw.bias is not None  # BN gave it a bias
    grouped = graph.layers[4]
    assert grouped.params["kernel"] == (3, 1) and grouped.params["stride"] == (1, 2)
    assert grouped.params["padding"] == (1, 0) and grouped.params["groups"] == 4
    assert all(layer.weight is None or layer.weight.dtype == np.float32 for layer in graph.layers)
    bn_params = sum(
        p.numel() for m in module.modules()
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for p in m.parameters()
    )
    conv1_bias_missing = 0
    dw_bias_added = 8
    total = sum(p.numel() for p in module.parameters())
    assert graph.params_count == total - bn_params + dw_bias_added - conv1_bias_missing


def test_macs_and_json_summary() -> None:
    module, shape = load_model(f"{ZOO}:conv1d_net")
    graph = import_graph(module, shape)
    first = graph.layers[0]  # Conv1d(3, 8, 5, stride 2) -> (8, 16)
    assert first.macs == 8 * 16 * 3 * 5
    dw = graph.layers[2]  # depthwise: one input channel per output
    assert dw.macs == 8 * 16 * 1 * 3
    summary = graph.to_json()
    assert summary["input_shape"] == [3, 32] and summary["output_shape"] == [5]
    assert summary["macs"] == sum(layer["macs"] for layer in summary["layers"])
    assert {"name", "op", "out_shape", "macs", "params_count"} <= set(summary["layers"][0])
    import json

    json.dumps(summary)  # serialisable as is


def test_examples_import_and_sizes() -> None:
    har, har_shape = load_model(f"{EXAMPLES / 'har_cnn.py'}:har_cnn_untrained")
    assert har_shape == (9, 128)
    digits, digits_shape = load_model(f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn_untrained")
    assert digits_shape == (1, 8, 8)
    assert sum(p.numel() for p in digits.parameters()) < 20_000
    for module, shape, n_out in ((har, har_shape, 6), (digits, digits_shape, 10)):
        graph = import_graph(module, shape)
        assert graph.output_shape == (n_out,)
        x = random_inputs(shape, n=4)
        assert np.abs(run_graph(graph, x) - torch_outputs(module, x)).max() <= 1e-5
    digits_ops = [layer.op for layer in import_graph(digits, digits_shape).layers]
    assert "add" in digits_ops and "global_avgpool" in digits_ops
    # Deterministic: same seed, same weights.
    again, _ = load_model(f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn_untrained")
    assert all(torch.equal(a, b) for a, b in zip(digits.parameters(), again.parameters(),
                                                   strict=True))


def test_fuse_activations_and_simplify() -> None:
    module, shape = load_model(f"{ZOO}:residual_net")
    graph = import_graph(module, shape)
    fused = fuse_activations(graph)
    fused.validate()
    by_name = {layer.name: layer for layer in fused.layers}
    assert by_name["c1"].params["activation"] == "relu"  # conv1 -> bn -> relu
    assert by_name["add_2"].params["activation"] == "relu"  # add -> clamp(min=0)
    # c2 + x feeds two readers (hardtanh and c3): hardtanh must stay standalone.
    assert "hardtanh" in by_name and by_name["add"].params["activation"] is None
    assert graph.layers[0].params["activation"] is None  # input graph untouched
    x = random_inputs(shape)
    np.testing.assert_allclose(run_graph(fused, x), run_graph(graph, x), atol=1e-6)

    chain = Graph(
        input_shape=(2, 3),
        layers=[
            Layer("a", "reshape", ["input"], "a", [(2, 3)], (3, 2)),
            Layer("b", "reshape", ["a"], "b", [(3, 2)], (2, 3)),
            Layer("c", "flatten", ["b"], "c", [(2, 3)], (6,)),
        ],
        output="c",
    )
    simple = simplify(chain)
    assert [(layer.name, layer.inputs) for layer in simple.layers] == [("c", ["input"])]


def test_train_mode_model_is_evaluated(tmp_path: Path) -> None:
    path = write_model(tmp_path, """
        def make():
            torch.manual_seed(0)
            m = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.Dropout(0.9),
                              nn.Flatten(), nn.Linear(24, 2))
            m[1].running_var.fill_(2.0)
            m.input_shape = (2, 8)
            return m.train()
    """)
    module, shape = load_model(f"{path}:make")
    graph = import_graph(module, shape)
    assert [layer.op for layer in graph.layers] == ["conv1d", "flatten", "linear"]
    x = random_inputs(shape)
    assert np.abs(run_graph(graph, x) - torch_outputs(module.eval(), x)).max() <= 1e-5


def test_factory_attribute_and_sibling_import(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_model.py").write_text("WIDTH = 5\n")
    path = write_model(tmp_path, """
        from helpers_for_model import WIDTH

        def make():
            return nn.Sequential(nn.Linear(WIDTH, 3), nn.ReLU())

        make.input_shape = [WIDTH]
    """)
    module, shape = load_model(f"{path}:make")
    assert shape == (5,)
    graph = import_graph(module, shape)
    assert [layer.op for layer in graph.layers] == ["linear", "relu"]


# --------------------------------------------------------------------------- errors


UNSUPPORTED = {
    "lstm": ("""
        class M(nn.Module):
            input_shape = (5, 4)
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(4, 8, batch_first=True)
                self.fc = nn.Linear(8, 2)
            def forward(self, x):
                out, _ = self.rnn(x)
                return self.fc(out[:, -1])
    """, ["'rnn'", "LSTM", "layer 1 of", "supported:"]),
    "sigmoid": ("""
        class M(nn.Module):
            input_shape = (4,)
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2))
            def forward(self, x):
                return self.body(x)
    """, ["'body.1'", "Sigmoid", "layer 2 of 3", "Conv2d"]),
    "dilation": ("""
        class M(nn.Module):
            input_shape = (1, 8, 8)
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 2, 3, dilation=2)
            def forward(self, x):
                return torch.flatten(self.conv(x), 1)
    """, ["'conv'", "Conv2d", "dilation", "layer 1 of 2"]),
    "bn_not_after_conv": ("""
        class M(nn.Module):
            input_shape = (1, 6, 6)
            def __init__(self):
                super().__init__()
                self.f = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))
            def forward(self, x):
                return torch.flatten(self.f(x), 1)
    """, ["'f.2'", "BatchNorm2d", "folded", "layer 3 of 4"]),
    "ceil_mode": ("""
        class M(nn.Module):
            input_shape = (1, 5, 5)
            def __init__(self):
                super().__init__()
                self.pool = nn.MaxPool2d(2, ceil_mode=True)
            def forward(self, x):
                return torch.flatten(self.pool(x), 1)
    """, ["'pool'", "MaxPool2d", "ceil_mode"]),
    "reflect_padding": ("""
        class M(nn.Module):
            input_shape = (1, 6, 6)
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")
            def forward(self, x):
                return torch.flatten(self.conv(x), 1)
    """, ["'conv'", "reflect"]),
    "functional_softmax": ("""
        class M(nn.Module):
            input_shape = (4,)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
            def forward(self, x):
                return F.softmax(self.fc(x), dim=1)
    """, ["'softmax'", "aten.softmax", "layer 2 of 2"]),
    "two_outputs": ("""
        class M(nn.Module):
            input_shape = (4,)
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
            def forward(self, x):
                y = self.fc(x)
                return y, torch.relu(y)
    """, ["returns 2 values"]),
}


@pytest.mark.filterwarnings("ignore:The tensor attributes.*were assigned during export")
@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_layer_is_named(case: str, tmp_path: Path) -> None:
    body, expected = UNSUPPORTED[case]
    source = textwrap.dedent(body) + "\n\ndef make():\n    return M()\n"
    path = write_model(tmp_path, source)
    module, shape = load_model(f"{path}:make")
    with pytest.raises(ModelError) as info:
        import_graph(module, shape)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message


def test_shared_module_gets_unique_names(tmp_path: Path) -> None:
    path = write_model(tmp_path, """
        class M(nn.Module):
            input_shape = (4,)
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(4, 4)
                self.fc2 = nn.Linear(4, 2)
                self.act = nn.ReLU()
            def forward(self, x):
                return self.act(self.fc2(self.act(self.fc1(x))))

        def make():
            return M()
    """)
    graph = import_graph(*load_model(f"{path}:make"))
    assert [layer.name for layer in graph.layers] == ["fc1", "act", "fc2", "act#2"]


@pytest.mark.parametrize("batch", [3, "dynamic"])
def test_pt2_with_other_batch_sizes(batch: int | str, tmp_path: Path) -> None:
    module, shape = load_model(f"{ZOO}:conv2d_net")
    if batch == "dynamic":
        dims = ({0: torch.export.Dim("batch", min=2, max=64)},)
        ep = torch.export.export(module, (torch.zeros((2, *shape)),), dynamic_shapes=dims)
    else:
        ep = torch.export.export(module, (torch.zeros((batch, *shape)),))
    path = tmp_path / "m.pt2"
    torch.export.save(ep, str(path))
    loaded, loaded_shape = load_model(str(path))
    assert loaded_shape == shape
    graph = import_graph(loaded, loaded_shape)
    x = random_inputs(shape, n=3)
    assert np.abs(run_graph(graph, x) - torch_outputs(module, x)).max() <= 1e-5


def test_untraceable_model_is_reported(tmp_path: Path) -> None:
    path = write_model(tmp_path, """
        class M(nn.Module):
            input_shape = (4,)
            def forward(self, x):
                if x.sum() > 0:  # data-dependent control flow
                    return x
                return -x

        def make():
            return M()
    """)
    with pytest.raises(ModelError, match="torch.export could not trace M"):
        import_graph(*load_model(f"{path}:make"))


def test_unsupported_layer_in_pt2_is_named(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh()).eval()
    path = tmp_path / "tanh.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(path))
    module, shape = load_model(str(path))
    with pytest.raises(ModelError, match=r"'1' \(Tanh, aten.tanh\) at layer 2 of 2"):
        import_graph(module, shape)


def test_pt2_exported_in_train_mode_is_refused(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), torch.nn.BatchNorm1d(2)).train()
    path = tmp_path / "train.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 2, 8),)), str(path))
    module, shape = load_model(str(path))
    assert shape == (2, 8)
    with pytest.raises(ModelError, match="training mode"):
        import_graph(module, shape)


def test_load_errors(tmp_path: Path) -> None:
    path = write_model(tmp_path, """
        def no_shape():
            return nn.Linear(3, 2)

        def not_a_module():
            return 42

        def broken():
            raise RuntimeError("boom")
    """)
    with pytest.raises(ModelError, match="input_shape"):
        load_model(f"{path}:no_shape")
    with pytest.raises(ModelError, match="not a torch.nn.Module"):
        load_model(f"{path}:not_a_module")
    with pytest.raises(ModelError, match="boom"):
        load_model(f"{path}:broken")
    with pytest.raises(ModelError, match="no callable 'missing'"):
        load_model(f"{path}:missing")
    with pytest.raises(ModelError, match="not found"):
        load_model(f"{tmp_path / 'nope.py'}:make")
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "nope.pt2"))
    with pytest.raises(ModelError, match="file.py:factory"):
        load_model(str(path))
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="torch.export.load"):
        load_model(str(bad))

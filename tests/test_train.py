"""Training the examples (harness/train.py): seeded, cached by a hash of data,
architecture and recipe, and a tiny-epoch path (BENCH_TRAIN_EPOCHS) so tests
never spend minutes. The cache is the session's (conftest.session_model_cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import harness.train as train_mod
from harness.datasets import Dataset, load_dataset
from harness.errors import ConfigError
from harness.model.load import load_model
from harness.paths import ROOT
from harness.train import EPOCHS_VAR, Objective, Recipe, trained

EXAMPLES = ROOT / "examples"


def _tiny(_data: Dataset) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def _weights(m: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in m.parameters()]


def test_trained_once_then_read_from_the_cache(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    logs: list[str] = []
    recipe = Recipe(dataset="digits:train", epochs=2)
    first = trained("tiny", _tiny, recipe, cache=tmp_path, log=logs.append)
    assert len(logs) == 1 and "training tiny on digits:train (2 epochs" in logs[0]
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".pt")
    # trained: better than chance on the test split
    test = load_dataset("digits")
    assert train_mod.accuracy(first, test.x, test.y) > 0.5
    monkeypatch.setattr(train_mod, "train", lambda *_: pytest.fail("trained again"))
    again = trained("tiny", _tiny, recipe, cache=tmp_path, log=logs.append)
    assert len(logs) == 1
    for a, b in zip(_weights(first), _weights(again), strict=True):
        assert np.array_equal(a, b)


def test_key_follows_data_architecture_and_recipe() -> None:
    digits = load_dataset("digits:train")
    base = train_mod.cache_key(digits, _tiny(digits), Recipe("digits:train"))
    assert base == train_mod.cache_key(digits, _tiny(digits), Recipe("digits:train"))
    assert base != train_mod.cache_key(digits, _tiny(digits), Recipe("digits:train", lr=1e-3))
    assert base != train_mod.cache_key(load_dataset("digits"), _tiny(digits),
                                       Recipe("digits:train"))
    wider = nn.Sequential(nn.Flatten(), nn.Linear(64, 12))
    assert base != train_mod.cache_key(digits, wider, Recipe("digits:train"))


def test_training_is_seeded(tmp_path: Path) -> None:
    recipe = Recipe(dataset="digits:train", epochs=1)
    a = trained("tiny", _tiny, recipe, cache=tmp_path / "a", log=lambda _: None)
    b = trained("tiny", _tiny, recipe, cache=tmp_path / "b", log=lambda _: None)
    for x, y in zip(_weights(a), _weights(b), strict=True):
        assert np.array_equal(x, y)


def test_reconstruct_and_regress_objectives(tmp_path: Path) -> None:
    """An autoencoder learns its input, a denoiser the clean target: both beat
    doing nothing after a couple of epochs."""
    def ae(_d: Dataset) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 64))

    m = trained("ae", ae, Recipe("digits-anomaly:train", Objective.RECONSTRUCT, epochs=3),
                cache=tmp_path, log=lambda _: None)
    x = torch.from_numpy(load_dataset("digits-anomaly").x)
    with torch.no_grad():
        assert float(((m(x) - x) ** 2).mean()) < float((x ** 2).mean())
    den = load_dataset("digits-denoise")
    identity_mse = float(np.mean((den.x - den.y) ** 2))

    def conv(_d: Dataset) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3,
                                                                               padding=1))

    d = trained("den", conv, Recipe("digits-denoise:train", Objective.REGRESS, epochs=3),
                cache=tmp_path, log=lambda _: None)
    with torch.no_grad():
        out = d(torch.from_numpy(den.x)).numpy()
    assert float(np.mean((out - den.y) ** 2)) < identity_mse


@pytest.mark.slow  # one epoch of UCI-HAR is seconds, not milliseconds
@pytest.mark.parametrize("spec, dataset", [
    ("har_cnn.py:har_cnn", "uci-har"),
    ("digits_cnn.py:digits_cnn", "digits"),
    ("fsdd_cnn.py:fsdd_cnn", "fsdd"),
    ("fc_autoencoder.py:digits_autoencoder", "digits-anomaly"),
    ("digits_denoiser.py:digits_denoiser", "digits-denoise"),
])
def test_trained_examples_load_with_one_epoch(spec: str, dataset: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Each trained factory runs its real recipe on its real data, cut to
    one epoch (the full recipes' accuracies are measured in the README)."""
    monkeypatch.setenv(EPOCHS_VAR, "1")
    model, shape = load_model(f"{EXAMPLES / spec}")
    data = load_dataset(dataset)
    assert tuple(shape) == data.sample_shape
    with torch.no_grad():
        out = model(torch.from_numpy(data.x[:8]))
    assert out.shape[0] == 8 and torch.isfinite(out).all()
    if dataset in ("uci-har", "digits", "fsdd"):
        assert train_mod.accuracy(model, data.x, data.y) > 1.5 / data.classes  # > chance


def test_archive_models_need_the_archive(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.delenv("BENCH_DATA", raising=False)
    for spec in ("resnet8.py:resnet8_cifar10", "ds_cnn.py:ds_cnn_kws"):
        with pytest.raises(ConfigError, match="reads your copy of its archive: give --data-dir"):
            load_model(f"{EXAMPLES / spec}")
    monkeypatch.setenv(EPOCHS_VAR, "several")
    with pytest.raises(ConfigError, match="BENCH_TRAIN_EPOCHS must be a whole number"):
        load_model(f"{EXAMPLES / 'digits_cnn.py'}:digits_cnn")


@pytest.mark.slow
def test_resnet8_trains_from_the_users_cifar10(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With a CIFAR-10 copy on disk (here a tiny one in the published folder
    layout) the trained ResNet-8 factory trains on it and caches the weights."""
    from test_dataset_archives import cifar_batch

    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(cifar_batch(2, 0)[0])
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(cifar_batch(2, i)[0])
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(EPOCHS_VAR, "1")
    cache = tmp_path / "models"
    monkeypatch.setenv("BENCH_MODEL_CACHE", str(cache))
    model, shape = load_model(f"{EXAMPLES / 'resnet8.py'}:resnet8_cifar10")
    assert tuple(shape) == (3, 32, 32)
    untrained, _ = load_model(f"{EXAMPLES / 'resnet8.py'}:resnet8")
    assert not torch.equal(model.classifier.weight, untrained.classifier.weight)
    assert len(list(cache.glob("resnet8_cifar10-*.pt"))) == 1

"""The dataset registry: what each dataset declares, the --dataset forms, the
offline sets built from packages, and bench datasets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench

from harness.datasets import (
    DATASETS,
    Origin,
    calibration_spec,
    has_dataset,
    load_dataset,
    parse_spec,
    source,
)
from harness.datasets.cache import cached
from harness.errors import ConfigError
from harness.kinds import Task
from harness.run.quantize import calibration_dataset_for


def needs(name: str) -> None:
    ok, detail = source(name).available()
    if not ok:
        pytest.skip(f"{name}: {detail}")


def test_every_dataset_declares_what_it_is() -> None:
    for name in DATASETS:
        s = source(name)
        assert s.name == name and s.title and s.source and s.licence and s.licence_source
        assert s.task in Task and (s.classes > 1) == (s.task == Task.CLASSIFICATION)
        assert "test" in s.splits and s.sample_shape and all(n > 0 for n in s.sample_shape)
        assert (s.origin == Origin.ARCHIVE) == bool(s.looks_for), name
    # numbers mean what they say: the stand-ins say what they are
    assert "SYNTHETIC" in source("har-synth").title
    assert "SMOKE" in source("cifar10-smoke").title and source("cifar10-smoke").splits == {
        "test": 20}
    assert source("har-synth").origin == Origin.SYNTHETIC


def test_availability_is_answered_without_loading(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    import harness.datasets.uci_har as uci_har

    monkeypatch.setattr(uci_har, "build", lambda *_: pytest.fail("loaded the data"))
    for name in DATASETS:
        ok, detail = source(name).available(tmp_path)
        assert isinstance(ok, bool) and detail
    ok, detail = source("cifar10").available(None)
    assert not ok and "--data-dir" in detail
    ok, detail = source("cifar10").available(tmp_path / "nowhere")
    assert not ok and "does not exist" in detail


def test_dataset_specs() -> None:
    assert parse_spec("uci-har").split == "test"
    assert (parse_spec("uci-har:train").name, parse_spec("uci-har:train").split) == (
        "uci-har", "train")
    assert (parse_spec("digits-train").name, parse_spec("digits-train").split) == (
        "digits", "train")  # the form before NAME:SPLIT
    assert parse_spec("my/data.npz").file == Path("my/data.npz")
    assert has_dataset("har-synth-train") and has_dataset("fsdd:train")
    assert not has_dataset("fsdd:validation") and not has_dataset("imagenet")
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'.*uci-har"):
        parse_spec("imagenet")
    with pytest.raises(ConfigError, match="dataset digits has no split 'dev'; its splits: "
                                          "test, train"):
        load_dataset("digits:dev")


def test_calibration_uses_the_training_split() -> None:
    assert calibration_spec("digits") == calibration_dataset_for("digits") == "digits:train"
    assert calibration_spec("uci-har:test") == "uci-har:train"
    assert calibration_spec("cifar10-smoke") == "cifar10-smoke"  # no training split
    assert calibration_spec("fsdd:train") == "fsdd:train"
    assert calibration_spec("x.npz") == "x.npz"


def test_old_names_load_the_same_data() -> None:
    a, b = load_dataset("digits-train"), load_dataset("digits:train")
    assert a.hash == b.hash and a.name == b.name == "digits:train"
    assert load_dataset("digits").name == "digits" and len(load_dataset("digits")) == 360
    assert load_dataset("har-synth").task == Task.CLASSIFICATION


def test_uci_har_rebuilt_from_the_recordings() -> None:
    needs("uci-har")
    test, train = load_dataset("uci-har"), load_dataset("uci-har:train")
    assert test.sample_shape == train.sample_shape == (9, 128)
    assert (len(test), len(train)) == (2996, 7415) == (source("uci-har").splits["test"],
                                                       source("uci-har").splits["train"])
    # the moving classes have exactly the official per-class counts
    assert np.bincount(test.y).tolist()[:3] == [496, 471, 420]
    assert np.bincount(train.y).tolist()[:2] == [1226, 1073]
    # units and order: body_acc (g, gravity removed), body_gyro (rad/s), total_acc (g)
    body, gyro, total = test.x[:, 0:3], test.x[:, 3:6], test.x[:, 6:9]
    assert abs(float(body.mean())) < 0.01
    assert 0.9 < float(np.linalg.norm(total.mean(axis=2), axis=1).mean()) < 1.1
    assert 0.1 < float(np.abs(gyro).mean()) < 1.0
    assert np.isfinite(test.x).all()
    lying = test.x[test.y == 5]  # lying: gravity off the phone's x axis
    standing = test.x[test.y == 4]
    assert lying[:, 6].mean() < 0.5 < standing[:, 6].mean()


def test_a_built_dataset_loads_from_the_cache_in_well_under_a_second() -> None:
    needs("uci-har")
    load_dataset("uci-har:train")
    start = time.perf_counter()
    data = load_dataset("uci-har:train")
    assert time.perf_counter() - start < 0.5
    assert len(data) == 7415


def test_cache_key_and_atomic_write(tmp_path: Path) -> None:
    calls = []

    def build() -> tuple[np.ndarray, np.ndarray]:
        calls.append(1)
        return np.ones((2, 3), np.float32), np.arange(2)

    for _ in range(2):
        x, y = cached("t", ("a", "1"), build, root=tmp_path)
    assert len(calls) == 1 and x.shape == (2, 3) and y.tolist() == [0, 1]
    cached("t", ("a", "2"), build, root=tmp_path)  # another key: built again
    assert len(calls) == 2 and not list(tmp_path.glob("*.tmp"))


def test_fsdd_from_sequentias_mfccs() -> None:
    needs("fsdd")
    test, train = load_dataset("fsdd"), load_dataset("fsdd:train")
    assert test.sample_shape == (13, 27) and (len(test), len(train)) == (300, 2700)
    assert np.bincount(test.y).tolist() == [30] * 10
    assert test.hash == load_dataset("fsdd").hash  # the seeded split is fixed
    assert not set(map(bytes, test.x)) & set(map(bytes, train.x))  # disjoint


def test_cifar10_smoke_is_twenty_real_test_images() -> None:
    needs("cifar10-smoke")
    d = load_dataset("cifar10-smoke")
    assert d.sample_shape == (3, 32, 32) and len(d) == 20
    # the first 20 labels of CIFAR-10's test batch
    assert d.y.tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0 and d.x.max() > 0.9
    assert d.class_names[3] == "cat"


def test_bench_datasets_fits_80_columns(bench_main: Bench) -> None:
    p = bench_main("datasets")  # not a terminal: rich's 80 columns
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, p.stdout
    for name in DATASETS:
        assert any(f" {name} " in line for line in lines), name
    assert "SMOKE SET" in p.stdout and "SYNTHETIC" in p.stdout


def test_bench_datasets_json(bench_main: Bench, tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    p = bench_main("datasets", "--json", "--data-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    rows = {r["name"]: r for r in report["datasets"]}
    assert report["data_dir"] == str(tmp_path) and set(rows) == set(DATASETS)
    assert rows["cifar10"]["available"] and rows["cifar10"]["origin"] == "archive"
    assert not rows["gtsrb"]["available"] and "GT-final_test.csv" in rows["gtsrb"]["looks_for"]
    assert rows["uci-har"]["splits"] == {"test": 2996, "train": 7415}
    assert rows["fsdd"]["licence"] == "CC BY-SA 4.0" and rows["uci-har"]["task"] == "classification"

"""The main job end to end on the embedded default: train, export, measure."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from harness.datasets import load_dataset
from harness.paths import ROOT
from harness.train import accuracy, train_classifier

EXAMPLE = ROOT / "examples" / "digits_cnn.py"


def prepare_demo_model(folder: Path, epochs: int = 40) -> tuple[Path, float]:
    """Train examples/digits_cnn.py on the digits training split and save it
    with torch.export; reuse an earlier export when present."""
    return train_example(EXAMPLE, "digits_cnn", "digits", folder, epochs)


def train_example(example: Path, factory: str, dataset: str, folder: Path,
                  epochs: int) -> tuple[Path, float]:
    """Train ``example:factory`` on ``dataset``-train, export it to
    ``folder/<factory>.pt2`` and keep its PyTorch test accuracy beside it.
    An earlier export is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{factory}.pt2"
    meta = folder / f"{factory}.json"
    if out.exists() and meta.exists():
        return out, float(json.loads(meta.read_text())["pytorch_test_accuracy"])
    spec = importlib.util.spec_from_file_location(f"bench_example_{factory}", example)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    test = load_dataset(dataset)
    train = load_dataset(f"{dataset}-train")
    model = train_classifier(getattr(mod, factory)(), train.x, train.y, epochs=epochs)
    example_input = (torch.zeros(1, *train.sample_shape),)
    torch.export.save(torch.export.export(model, example_input), out)
    acc = accuracy(model, test.x, test.y)
    meta.write_text(json.dumps({"pytorch_test_accuracy": acc, "epochs": epochs,
                                "dataset": dataset}) + "\n")
    return out, acc

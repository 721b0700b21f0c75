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
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "digits_cnn.pt2"
    spec = importlib.util.spec_from_file_location("bench_example_digits", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    meta = folder / "digits_cnn.json"
    if out.exists() and meta.exists():
        return out, float(json.loads(meta.read_text())["pytorch_test_accuracy"])
    test = load_dataset("digits")
    train = load_dataset("digits-train")
    model = train_classifier(mod.digits_cnn(), train.x, train.y, epochs=epochs)
    example = (torch.zeros(1, *train.sample_shape),)
    torch.export.save(torch.export.export(model, example), out)
    acc = accuracy(model, test.x, test.y)
    meta.write_text(json.dumps({"pytorch_test_accuracy": acc, "epochs": epochs}) + "\n")
    return out, acc

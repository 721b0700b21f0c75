"""The main job end to end on the embedded default: train, export, measure."""

from __future__ import annotations

import importlib.util
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
    test = load_dataset("digits")
    if out.exists():
        ep = torch.export.load(out)
        return out, accuracy(ep.module(), test.x, test.y)
    train = load_dataset("digits-train")
    model = train_classifier(mod.digits_cnn(), train.x, train.y, epochs=epochs)
    example = (torch.zeros(1, *train.sample_shape),)
    torch.export.save(torch.export.export(model, example), out)
    return out, accuracy(model, test.x, test.y)

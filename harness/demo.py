"""The main job end to end on the embedded default: the trained example,
exported, then measured."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.datasets import load_dataset
from harness.model.load import load_model
from harness.paths import ROOT
from harness.train import accuracy

EXAMPLE = ROOT / "examples" / "digits_cnn.py"


def prepare_demo_model(folder: Path) -> tuple[Path, float]:
    """examples/digits_cnn.py:digits_cnn (trained on digits:train the first
    time, then read from the model cache: harness/train.py), exported."""
    return export_example(f"{EXAMPLE}:digits_cnn", "digits", folder)


def export_example(spec: str, dataset: str, folder: Path) -> tuple[Path, float]:
    """The trained model ``spec`` (``file.py:factory``) saved with
    torch.export as ``folder/<factory>.pt2``, with its PyTorch accuracy on
    ``dataset`` kept beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    name = spec.rpartition(":")[2]
    out, meta = folder / f"{name}.pt2", folder / f"{name}.json"
    model, shape = load_model(spec)
    test = load_dataset(dataset)
    torch.export.save(torch.export.export(model, (torch.zeros(1, *shape),)), out)
    acc = accuracy(model, test.x, test.y)
    meta.write_text(json.dumps({"pytorch_test_accuracy": acc, "dataset": dataset,
                                "model": spec}) + "\n")
    return out, acc

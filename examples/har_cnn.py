"""A small 1-D CNN for human activity recognition, trained on UCI-HAR.

Input: one window of UCI-HAR's 9 inertial channels (body acc x/y/z, body
gyro x/y/z, total acc x/y/z) x 128 samples (2.56 s at 50 Hz); output: 6
class logits (walking, upstairs, downstairs, sitting, standing, lying).

``har_cnn`` returns the model trained on ``uci-har:train`` (bench's
rebuild of UCI-HAR from the raw HAPT recordings, installed with bench):
trained once (seeded, about a minute of CPU), then read from the cache
(see harness/train.py). ``har_cnn_untrained`` is the same network with its
seeded initial weights (for layer and speed tests). Use as

    bench run --board stm32l452 --model examples/har_cnn.py:har_cnn --dataset uci-har
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, trained

RECIPE = Recipe(dataset="uci-har:train", epochs=30, lr=3e-3, batch=64, seed=0)


class HarCnn(nn.Module):
    input_shape = (9, 128)

    def __init__(self, in_channels: int = 9, n_classes: int = 6) -> None:
        super().__init__()
        self.input_shape = (in_channels, 128)
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, 16, kernel_size=5, stride=2, padding=2),  # -> (16, 64)
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2),  # -> (32, 32)
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.MaxPool1d(2),  # -> (32, 16)
            nn.Conv1d(32, 32, kernel_size=3, padding=1),  # -> (32, 16)
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


def har_cnn_untrained(in_channels: int = 9) -> HarCnn:
    """HarCnn with deterministic initial weights (not trained)."""
    torch.manual_seed(0)
    return HarCnn(in_channels)


def _build(_data: Dataset) -> HarCnn:
    return har_cnn_untrained()


def har_cnn() -> HarCnn:
    """HarCnn trained on uci-har's training split (cached after the first call)."""
    return trained("har_cnn", _build, RECIPE)

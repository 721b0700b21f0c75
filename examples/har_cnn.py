"""A small 1-D CNN for human activity recognition.

Input: one window of 6 inertial channels (3-axis accelerometer + 3-axis
gyroscope) x 128 samples (2.56 s at 50 Hz, the UCI-HAR layout); output: 6
class logits. Use as ``bench build --model examples/har_cnn.py:har_cnn``.
The factory returns an untrained model with a fixed seed; train it before
expecting accuracy.
"""

from __future__ import annotations

import torch
from torch import nn


class HarCnn(nn.Module):
    input_shape = (6, 128)

    def __init__(self, n_classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(6, 16, kernel_size=5, stride=2, padding=2),  # -> (16, 64)
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


def har_cnn() -> HarCnn:
    """Untrained HarCnn with deterministic initial weights."""
    torch.manual_seed(0)
    return HarCnn()

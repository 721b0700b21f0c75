"""DS-CNN (small), the MLPerf Tiny keyword-spotting reference model.

Input: 1 x 49 x 10 MFCCs (49 frames of 10 coefficients, one second of
audio, as the ``speech-commands`` dataset gives them); output: 12 logits
(MLPerf Tiny's KWS classes: silence, unknown and ten words). Layout as the
reference Keras model (MLCommons tiny, ``keras_model.py``, ``ds_cnn``):
a 10x4 stride-2 convolution with 64 filters, BatchNorm, ReLU; four blocks
of depthwise 3x3 + BatchNorm + ReLU, pointwise 1x1 64 + BatchNorm + ReLU;
average pooling over the whole 25x5 map; a 12-way linear layer. Dropout
layers of the reference are no-ops at inference and left out.

One difference: Keras' 'same' padding of the first convolution pads 4 rows
above and 5 below (1 column each side); PyTorch pads symmetrically, so it
is (5, 1) here: the same 25 x 5 output, shifted by one row.

``ds_cnn`` returns the untrained network (seeded weights, BatchNorm
statistics that are not the identity so folding is exercised): no Speech
Commands installs offline. ``ds_cnn_kws`` trains it on your copy of Speech
Commands v2 (``BENCH_DATA`` = the directory with ``speech_commands_v0.02/``,
see README "Datasets"; hours of CPU: 85,511 training clips) and caches the
weights (harness/train.py); without the archive it stops with one line.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, random_batchnorm, trained

RECIPE = Recipe(dataset="speech-commands:train", epochs=36, lr=5e-4, batch=100, seed=0)


def _dw_block(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels), nn.ReLU(),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels), nn.ReLU())


class DsCnn(nn.Module):
    input_shape = (1, 49, 10)

    def __init__(self, n_classes: int = 12, filters: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, filters, (10, 4), stride=2, padding=(5, 1)),  # -> (64, 25, 5)
            nn.BatchNorm2d(filters), nn.ReLU())
        self.blocks = nn.Sequential(*(_dw_block(filters) for _ in range(4)))
        self.pool = nn.AvgPool2d((25, 5))
        self.classifier = nn.Linear(filters, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))



def ds_cnn() -> DsCnn:
    """Untrained DS-CNN with deterministic weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    return random_batchnorm(DsCnn())


def _build(_data: Dataset) -> DsCnn:
    torch.manual_seed(0)
    return DsCnn()


def ds_cnn_kws() -> DsCnn:
    """DS-CNN trained on your Speech Commands v2 archive (BENCH_DATA), cached."""
    return trained("ds_cnn_kws", _build, RECIPE)

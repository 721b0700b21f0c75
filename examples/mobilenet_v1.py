"""MobileNetV1 with width 0.25, the MLPerf Tiny visual-wake-words model.

Input: one 3 x 96 x 96 RGB image; output: 2 logits (person / no person).
Layout as the reference Keras model (MLCommons tiny, ``vww_model.py``,
alpha 0.25): a 3x3 stride-2 convolution with 8 filters, then 13 blocks of
depthwise 3x3 + BatchNorm + ReLU and pointwise 1x1 + BatchNorm + ReLU
(filters 16, 32, 32, 64, 64, 128 x 6, 256, 256; stride 2 in blocks 2, 4,
6 and 12), global average pooling and a 2-way linear layer. PyTorch pads
the stride-2 layers symmetrically where Keras' 'same' pads bottom/right
only: the same output sizes.

In int8 bench's engine needs about 55 KB of activation arena (88 KB of RAM
with the runtime and stack), which fits the emulated STM32L452's 96 KB
SRAM1; in float32 the activations alone are four times that and do not fit
(the build stops with one line saying so).

``mobilenet_v1`` returns the untrained network (seeded weights, BatchNorm
statistics that are not the identity): bench has no Visual Wake Words
loader and no VWW data installs offline, so there is no trained variant;
its accuracy means nothing, its instructions, ROM and RAM are those of the
real model.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.train import random_batchnorm

# (output filters, stride) of the 13 depthwise-separable blocks, alpha 0.25
BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1),
          (128, 1), (128, 1), (128, 1), (256, 2), (256, 1))


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU())


class MobileNetV1(nn.Module):
    input_shape = (3, 96, 96)

    def __init__(self, n_classes: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(8), nn.ReLU())  # -> (8, 48, 48)
        layers, c = [], 8
        for c_out, stride in BLOCKS:
            layers.append(_block(c, c_out, stride))
            c = c_out
        self.blocks = nn.Sequential(*layers)  # -> (256, 3, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v1() -> MobileNetV1:
    """Untrained MobileNetV1 0.25 with deterministic weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    return random_batchnorm(MobileNetV1())

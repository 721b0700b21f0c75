"""ResNet-8 for 32x32 RGB images, the MLPerf Tiny image-classification model.

Input: one 3x32x32 image; output: 10 class logits. Layout as the MLPerf Tiny
reference (Keras) model: conv3x3 16 + BN + ReLU, then three residual stacks
of 16, 32 and 64 filters; the last two downsample by 2 (stride-2 first conv)
and carry a 1x1 stride-2 conv on the shortcut; global average pooling and a
linear layer. Use as ``bench run --model examples/resnet8.py:resnet8``.

``resnet8`` returns an untrained model with a fixed seed and BatchNorm
statistics that are not the identity (so folding is exercised): no
CIFAR-10 training set installs offline (``cifar10-smoke`` is 20 test
images), so its accuracy means nothing; its instructions, ROM and RAM are
those of the real model. ``resnet8_cifar10`` trains it on your copy of
CIFAR-10 (``BENCH_DATA`` = the directory with ``cifar-10-python.tar.gz`` or
``cifar-10-batches-py/``; see README "Datasets"; 50,000 images, hours of
CPU) and caches the weights (harness/train.py); without the archive it
stops with one line. Images are [0, 1] floats (bench's cifar10), not the
0..255 pixels MLPerf Tiny's reference was trained on.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, random_batchnorm, trained

RECIPE = Recipe(dataset="cifar10:train", epochs=30, lr=1e-3, batch=32, seed=0)


class Stack(nn.Module):
    """conv-bn-relu-conv-bn, plus the (projected) input, then relu."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride)
                         if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class ResNet8(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False),  # -> (16, 32, 32)
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        self.stack1 = Stack(16, 16, 1)  # -> (16, 32, 32)
        self.stack2 = Stack(16, 32, 2)  # -> (32, 16, 16)
        self.stack3 = Stack(32, 64, 2)  # -> (64, 8, 8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)



def resnet8() -> ResNet8:
    """Untrained ResNet8 with deterministic weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    return random_batchnorm(ResNet8())


def _build(_data: Dataset) -> ResNet8:
    torch.manual_seed(0)
    return ResNet8()


def resnet8_cifar10() -> ResNet8:
    """ResNet-8 trained on your CIFAR-10 archive (BENCH_DATA), cached."""
    return trained("resnet8_cifar10", _build, RECIPE)


def random_dataset(path: str, n: int = 64, seed: int = 0) -> None:
    """Write a .npz of ``n`` random images (x float32 N x 3 x 32 x 32, y int)
    for speed runs: the untrained model makes the labels meaningless."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, n)
    np.savez(path, x=x, y=y)


if __name__ == "__main__":
    import sys

    random_dataset(sys.argv[1] if len(sys.argv) > 1 else "resnet8_random.npz")

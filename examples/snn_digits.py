"""A convolutional spiking network for 8x8 digit images, as snnTorch users
write it: the network for ONE timestep (bench runs the T steps and resets
the neurons before every sample).

Input: one 1x8x8 grey image (scikit-learn's digits in [0, 1]) fed at every
step (direct encoding); output: the output layer's spikes, counted over
T = 8 steps (spike_count readout). Leaky neurons with beta = 1 - 2^-3 (a
shift on the integer builds). ``snn_digits`` returns it trained on
digits:train (surrogate gradients through the unrolled steps, seeded,
cached after the first call: harness/train.py).

    bench run --board stm32l452 --backend qemu --model examples/snn_digits.py:snn_digits \\
        --dataset digits
"""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, trained

TIMESTEPS = 8
BETA = 0.875  # 1 - 2**-3
RECIPE = Recipe(dataset="digits:train", epochs=30, lr=3e-3, batch=64, seed=0,
                timesteps=TIMESTEPS)


def snn_digits_untrained() -> nn.Module:
    """conv(16) - LIF - maxpool - conv(32) - LIF - maxpool - linear(10) - LIF."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), snn.Leaky(beta=BETA, init_hidden=True),  # 16x8x8
        nn.MaxPool2d(2),  # 16x4x4
        nn.Conv2d(16, 32, 3, padding=1), snn.Leaky(beta=BETA, init_hidden=True),  # 32x4x4
        nn.MaxPool2d(2), nn.Flatten(),  # 128
        nn.Linear(128, 10), snn.Leaky(beta=BETA, init_hidden=True, output=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = TIMESTEPS
    net.readout = "spike_count"
    return net


def _build(_data: Dataset) -> nn.Module:
    return snn_digits_untrained()


def snn_digits() -> nn.Module:
    """The network trained on digits' training split (cached after the first call)."""
    net = trained("snn_digits", _build, RECIPE)
    net.input_shape, net.timesteps, net.readout = (1, 8, 8), TIMESTEPS, "spike_count"
    return net

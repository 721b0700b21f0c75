"""A spiking network for spoken digits (FSDD MFCCs), as SpikingJelly users
write it: single-step layers and neurons, the network for ONE timestep
(bench runs the T steps and resets the neurons before every sample).

Input: one utterance as 13 MFCCs x 27 frames (the ``fsdd`` dataset), fed at
every step (direct encoding) after a frozen per-coefficient normalisation
(a depthwise 1x1 convolution holding the training split's mean and
standard deviation, as examples/fsdd_cnn.py); output: the output layer's
spikes counted over T = 6 steps. LIF neurons with tau = 2 (hard reset to
0, spike when v >= threshold: SpikingJelly's semantics), then IF output
neurons with a soft reset.

``snn_fsdd`` returns it trained on fsdd:train (surrogate gradients through
the unrolled steps, seeded, cached after the first call: harness/train.py).

    bench run --board stm32l452 --backend qemu --model examples/snn_fsdd.py:snn_fsdd \\
        --dataset fsdd
"""

from __future__ import annotations

import numpy as np
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn

from harness.datasets import Dataset
from harness.train import Recipe, trained

TIMESTEPS = 6
COEFFICIENTS, FRAMES = 13, 27
RECIPE = Recipe(dataset="fsdd:train", epochs=20, lr=3e-3, batch=64, seed=0,
                timesteps=TIMESTEPS)


def _net(mean: np.ndarray | None, std: np.ndarray | None) -> nn.Module:
    c = COEFFICIENTS
    norm = nn.Conv1d(c, c, 1, groups=c)  # (x - mean) / std, frozen
    with torch.no_grad():
        scale = torch.ones(c) if std is None else torch.tensor(1.0 / std, dtype=torch.float32)
        shift = torch.zeros(c) if mean is None else torch.tensor(-mean / std,
                                                                 dtype=torch.float32)
        norm.weight.copy_(scale.view(c, 1, 1))
        norm.bias.copy_(shift)
    norm.requires_grad_(False)
    net = nn.Sequential(
        norm,
        layer.Conv1d(c, 32, 3, padding=1), neuron.LIFNode(tau=2.0),  # 32 x 27
        layer.MaxPool1d(2),  # 32 x 13
        layer.Conv1d(32, 48, 3, padding=1), neuron.LIFNode(tau=2.0),  # 48 x 13
        layer.MaxPool1d(2), layer.Flatten(),  # 288
        layer.Linear(48 * 6, 10), neuron.IFNode(v_reset=None))
    net.input_shape = (COEFFICIENTS, FRAMES)
    net.timesteps = TIMESTEPS
    net.readout = "spike_count"
    return net


def snn_fsdd_untrained() -> nn.Module:
    torch.manual_seed(0)
    return _net(None, None)


def _build(data: Dataset) -> nn.Module:
    torch.manual_seed(0)
    return _net(data.x.mean(axis=(0, 2)), data.x.std(axis=(0, 2)))


def snn_fsdd() -> nn.Module:
    """The network trained on fsdd's training split (cached after the first call)."""
    net = trained("snn_fsdd", _build, RECIPE)
    net.input_shape, net.timesteps, net.readout = (COEFFICIENTS, FRAMES), TIMESTEPS, "spike_count"
    return net

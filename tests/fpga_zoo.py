"""Spiking networks the SNN core refuses, for tests/test_fpga_core.py."""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn


def avgpool() -> nn.Module:
    """Average pooling: a layer the core does not have."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10),
                        snn.Leaky(beta=0.9, init_hidden=True, output=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4
    return net


def too_wide() -> nn.Module:
    """64 -> 400 -> 10: 29,600 weights, more than the core's 16,384."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 400), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.Linear(400, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4
    return net

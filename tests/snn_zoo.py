"""Small spiking networks, written the way snnTorch and SpikingJelly users
write them, for the import and engine tests (one timestep each: bench runs
the T loop). Seeded: a factory gives the same weights every call."""

from __future__ import annotations

import snntorch as snn
import torch
from spikingjelly.activation_based import layer, neuron
from torch import nn


def snntorch_conv() -> nn.Module:
    """init_hidden style: neurons in a Sequential, the last with output=True."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 10),
                        snn.Leaky(beta=0.8, init_hidden=True, output=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = 8
    return net


class _Explicit(nn.Module):
    """Explicit-state style: each neuron returns (spk, mem); zero and
    delay-less resets."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=0.5, reset_mechanism="zero")
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(beta=0.7, reset_delay=False, threshold=0.5)
        self.input_shape = (1, 8, 8)
        self.timesteps = 6

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spk1, _mem1 = self.lif1(self.fc1(x.flatten(1)))
        return self.lif2(self.fc2(spk1))


def snntorch_explicit() -> nn.Module:
    torch.manual_seed(1)
    return _Explicit()


def spikingjelly_conv() -> nn.Module:
    """SpikingJelly's layer wrappers, LIF (hard reset) then IF (soft reset)."""
    torch.manual_seed(2)
    net = nn.Sequential(layer.Conv2d(1, 8, 3, padding=1), neuron.LIFNode(tau=2.0),
                        layer.MaxPool2d(2), layer.Flatten(), layer.Linear(128, 10),
                        neuron.IFNode(v_reset=None))
    net.input_shape = (1, 8, 8)
    net.timesteps = 5
    return net


def spikingjelly_readout() -> nn.Module:
    """A non-spiking last layer: read out as the mean output over T."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 20),
                        neuron.LIFNode(tau=3.0, decay_input=False, v_reset=-0.1),
                        nn.Linear(20, 10))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4
    return net


def no_timesteps() -> nn.Module:
    net = snntorch_conv()
    del net.timesteps
    return net


def synaptic() -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10),
                        snn.Synaptic(alpha=0.9, beta=0.8, init_hidden=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4
    return net


def multi_step() -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), neuron.LIFNode(step_mode="m"))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4
    return net


class _Loop(nn.Module):
    """The tutorials' forward, looping over the steps itself."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.lif = snn.Leaky(beta=0.9)
        self.input_shape = (1, 8, 8)
        self.timesteps = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], 10)
        for _ in range(4):
            spk, _ = self.lif(self.fc(x.flatten(1)))
            total = total + spk
        return total


def loops_itself() -> nn.Module:
    return _Loop()


class _Resets(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.lif = snn.Leaky(beta=0.9)
        self.input_shape = (1, 8, 8)
        self.timesteps = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem = self.lif.init_leaky()
        spk, mem = self.lif(self.fc(x.flatten(1)), mem)
        return spk


def resets_in_forward() -> nn.Module:
    return _Resets()


def wide_layer() -> nn.Module:
    """Over a million neurons: 4096 steps could overflow a 32-bit counter."""
    net = nn.Sequential(nn.Conv2d(1, 16400, 3, padding=1),
                        snn.Leaky(beta=0.9, init_hidden=True))
    net.input_shape = (1, 8, 8)
    net.timesteps = 4096
    return net

"""Small models covering every layer the importer supports.

Loaded by the tests through the ``file.py:factory`` path itself (never
imported as a module). Every factory seeds torch, gives BatchNorm layers
non-trivial statistics (so folding is really exercised) and carries an
``input_shape``.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn


def _randomize_bn(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n) * 0.2)
            m.running_var.copy_(torch.rand(n) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(n) + 0.5)
                m.bias.data.copy_(torch.randn(n) * 0.2)
    return model.eval()


class Conv1dNet(nn.Module):
    """Conv1d stride/padding/depthwise/grouped, BN1d, ReLU/ReLU6, all 1-D pools."""

    input_shape = (3, 32)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(3, 8, 5, stride=2, padding=2),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.Conv1d(8, 8, 3, padding=1, groups=8, bias=False),  # depthwise
            nn.ReLU6(),
            nn.Conv1d(8, 12, 3, padding="same", groups=4),  # grouped, string padding
            nn.MaxPool1d(2),
            nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),
            nn.AvgPool1d(2, stride=1, padding=1),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.head(torch.flatten(x, 1))


def conv1d_net() -> nn.Module:
    torch.manual_seed(1)
    return _randomize_bn(Conv1dNet())


class Conv2dNet(nn.Module):
    """Conv2d stride/padding/depthwise/grouped/non-square, BN2d, max/avg 2-D pools."""

    input_shape = (2, 16, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.grouped = nn.Conv2d(8, 12, (3, 1), stride=(1, 2), padding=(1, 0), groups=4)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(12 * 2 * 1, 16)
        self.bn3 = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))  # (8, 8, 6)
        x = F.relu(self.bn2(self.dw(x)))
        x = self.grouped(x)  # (12, 8, 3)
        x = self.pool2(self.pool1(x))  # (12, 4, 2) -> (12, 2, 1)
        x = x.view(x.size(0), -1)
        x = F.relu(self.bn3(self.fc1(x)))
        return self.fc2(self.drop(x))


def conv2d_net() -> nn.Module:
    torch.manual_seed(2)
    return _randomize_bn(Conv2dNet())


class ResidualNet(nn.Module):
    """Residual adds in three spellings, functional activations, mean pooling."""

    input_shape = (4, 6, 6)

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 4, 1)
        self.identity = nn.Identity()
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)  # count_include_pad=True
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.c1(x)))
        y = self.c2(y) + x
        z = torch.add(F.hardtanh(y, 0.0, 6.0), self.c3(y))
        z = operator.add(self.identity(z), self.avg(z))
        z = torch.clamp(z, min=0.0)
        z = z.mean(dim=(2, 3))
        return self.fc(z)


def residual_net() -> nn.Module:
    torch.manual_seed(3)
    return _randomize_bn(ResidualNet())


class Mlp(nn.Module):
    """Feature-vector input, Linear+BN1d folding, reshape, relu6 via clamp."""

    input_shape = (20,)

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.bn = nn.BatchNorm1d(32)
        self.fc2 = nn.Linear(32, 16, bias=False)
        self.fc3 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(self.bn(self.fc1(x)), 0.5, training=self.training)
        x = torch.clamp(x, 0.0, 6.0)
        x = torch.relu(self.fc2(x)).reshape(x.shape[0], 4, 4).flatten(1)
        return self.fc3(x)


def mlp() -> nn.Module:
    torch.manual_seed(4)
    return _randomize_bn(Mlp())


class AdaptiveNet(nn.Module):
    """AdaptiveAvgPool2d to 1 and to an evenly dividing size; relu on the output."""

    input_shape = (3, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.ada = nn.AdaptiveAvgPool2d((2, 4))
        self.conv2 = nn.Conv2d(6, 6, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6, 6)
        self.out_act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ada(F.relu(self.conv(x)))
        x = self.gap(self.conv2(x))
        return self.out_act(self.fc(self.flatten(x)))


def adaptive_net() -> nn.Module:
    torch.manual_seed(5)
    return AdaptiveNet().eval()


class Passthrough(nn.Module):
    """No compute at all: the output is the input, flattened."""

    input_shape = (2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


def passthrough() -> nn.Module:
    return Passthrough()


ZOO = ["conv1d_net", "conv2d_net", "residual_net", "mlp", "adaptive_net", "passthrough"]


def pool_odd_net() -> nn.Module:
    """2x2 max pools (the kernels' fast path) over odd heights and widths:
    the last row and column are dropped, as PyTorch drops them."""
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.MaxPool2d(2), nn.Flatten(1, 2), nn.MaxPool1d(2), nn.Flatten(),
                        nn.Linear(4 * 1, 3))
    net.input_shape = (3, 7, 9)  # -> (4, 3, 4) -> (4, 1, 2) -> (4, 2) -> (4, 1)
    return net


class DsNet(nn.Module):
    """Depthwise-separable 1-D net whose time goes to depthwise and linear
    layers: two depthwise convs (C = 24, borders, stride 2), a flatten into
    a big linear head, and an odd linear width (tail rows and values)."""

    input_shape = (24, 48)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(24, 24, 7, padding=3, groups=24),
            nn.BatchNorm1d(24),
            nn.ReLU(),
            nn.Conv1d(24, 24, 5, stride=2, padding=2, groups=24),
            nn.ReLU6(),
            nn.MaxPool1d(2),
        )
        self.fc1 = nn.Linear(24 * 12, 61)
        self.fc2 = nn.Linear(61, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


def ds_net() -> nn.Module:
    torch.manual_seed(3)
    return _randomize_bn(DsNet())


class Dw2dOddNet(nn.Module):
    """2-D depthwise with an odd channel count (C = 7: a SIMD quad plus a
    tail), 3x3 and 5x3 windows, padding and stride; max pool over 7
    channels; a global average pool; an odd linear input width."""

    input_shape = (7, 9, 10)

    def __init__(self) -> None:
        super().__init__()
        self.dw1 = nn.Conv2d(7, 7, 3, padding=1, groups=7)
        self.dw2 = nn.Conv2d(7, 7, (5, 3), stride=(2, 1), padding=(2, 0), groups=7, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2, padding=1)
        self.fc = nn.Linear(7 * 3 * 5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.dw2(torch.relu(self.dw1(x)))))
        return self.fc(torch.flatten(x, 1))


def dw2d_odd_net() -> nn.Module:
    torch.manual_seed(4)
    return Dw2dOddNet()


class Dw2dStrideNet(nn.Module):
    """2-D 3x3 depthwise with stride 2 in both dims (MobileNet's) and in one,
    padding on every side, C = 8 (two SIMD quads) then C = 6 (a quad and a
    tail), odd heights and widths: the quad path's clipped windows."""

    input_shape = (8, 11, 9)

    def __init__(self) -> None:
        super().__init__()
        self.dw1 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.pw = nn.Conv2d(8, 6, 1)
        self.dw2 = nn.Conv2d(6, 6, 3, stride=(1, 2), padding=1, groups=6)
        self.fc = nn.Linear(6 * 6 * 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.dw2(torch.clamp(self.pw(torch.relu(self.dw1(x))), 0, 6)))
        return self.fc(torch.flatten(x, 1))


def dw2d_stride_net() -> nn.Module:
    torch.manual_seed(5)
    return Dw2dStrideNet()

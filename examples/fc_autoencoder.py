"""The MLPerf Tiny anomaly-detection autoencoder, and a small one trained
on digits.

``fc_autoencoder``: MLPerf Tiny's ToyADMOS model (MLCommons tiny,
``keras_model.py``): 640 inputs (5 frames x 128 log-mel bins), four dense
layers of 128 with BatchNorm and ReLU, a bottleneck of 8 (BatchNorm,
ReLU), four dense layers of 128 (BatchNorm, ReLU) and a linear layer back
to 640. It is scored by the AUC of its reconstruction error. Untrained
(seeded weights, non-trivial BatchNorm statistics): no ToyADMOS installs
offline and bench has no ToyADMOS loader, so its AUC would mean nothing;
its instructions, ROM and RAM are those of the real model.

``digits_autoencoder``: the same architecture at the digits' size (64
pixels, hidden 32, bottleneck 8), trained on ``digits-anomaly:train`` (every
digit but the 8; seeded, 60 epochs, a few seconds of CPU, then cached: see
harness/train.py) and scored on ``digits-anomaly`` (the 8s are the
anomalies). A made-up task on real images, to exercise the anomaly path:

    bench run --board stm32l452 --model examples/fc_autoencoder.py:digits_autoencoder \\
        --dataset digits-anomaly
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Objective, Recipe, random_batchnorm, trained

DIGITS_RECIPE = Recipe(dataset="digits-anomaly:train", objective=Objective.RECONSTRUCT,
                       epochs=60, lr=3e-3, batch=64, seed=0)


class FcAutoencoder(nn.Module):
    def __init__(self, inputs: int = 640, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        self.input_shape = (inputs,)
        widths = [hidden] * 4 + [bottleneck] + [hidden] * 4
        layers: list[nn.Module] = []
        d = inputs
        for w in widths:
            layers += [nn.Linear(d, w), nn.BatchNorm1d(w), nn.ReLU()]
            d = w
        layers.append(nn.Linear(d, inputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def fc_autoencoder() -> FcAutoencoder:
    """MLPerf Tiny's 640-input autoencoder, untrained (deterministic weights)."""
    torch.manual_seed(0)
    return random_batchnorm(FcAutoencoder())


def _build_digits(_data: Dataset) -> FcAutoencoder:
    torch.manual_seed(0)
    return FcAutoencoder(inputs=64, hidden=32, bottleneck=8)


def digits_autoencoder() -> FcAutoencoder:
    """The autoencoder at 64 pixels, trained on digits without the 8s (cached)."""
    return trained("digits_autoencoder", _build_digits, DIGITS_RECIPE)

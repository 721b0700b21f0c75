"""A small convolutional denoiser for 8x8 digits (a made-up regression task).

Input: one noisy 1x8x8 image (``digits-denoise``: scikit-learn's digits
plus seeded Gaussian noise, sigma 0.25); output: the denoised 1x8x8 image,
scored by MSE and PSNR against the clean image. Residual, as DnCNN: three
3x3 convolutions estimate the noise and the output is the input plus that
correction.

``digits_denoiser`` returns it trained on ``digits-denoise:train`` (seeded,
40 epochs, MSE, a few seconds of CPU, then cached: see harness/train.py):

    bench run --board stm32l452 --model examples/digits_denoiser.py:digits_denoiser \\
        --dataset digits-denoise
"""

from __future__ import annotations

import torch
from torch import nn

from harness.datasets import Dataset
from harness.train import Objective, Recipe, trained

RECIPE = Recipe(dataset="digits-denoise:train", objective=Objective.REGRESS, epochs=40,
                lr=3e-3, batch=32, seed=0)


class DigitsDenoiser(nn.Module):
    input_shape = (1, 8, 8)

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _build(_data: Dataset) -> DigitsDenoiser:
    torch.manual_seed(0)
    return DigitsDenoiser()


def digits_denoiser() -> DigitsDenoiser:
    """DigitsDenoiser trained on digits-denoise's training split (cached)."""
    return trained("digits_denoiser", _build, RECIPE)

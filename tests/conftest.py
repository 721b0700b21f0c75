"""Shared fixtures: small models and datasets written the way users write them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

TINY_MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    def tiny():
        torch.manual_seed(0)
        m = nn.Sequential(
            nn.Conv1d(3, 4, 5, stride=2), nn.BatchNorm1d(4), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3))
        m.input_shape = (3, 32)
        return m.eval()
""")

@pytest.fixture
def tiny_model(tmp_path: Path) -> str:
    path = tmp_path / "tiny.py"
    path.write_text(TINY_MODEL)
    return f"{path}:tiny"


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.normal(size=(40, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=40))
    return path

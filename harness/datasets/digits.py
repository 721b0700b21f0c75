"""scikit-learn's handwritten digits: 1797 8x8 images, shipped with the package."""

from __future__ import annotations

import numpy as np

from harness.datasets.base import Dataset

TEST_FRACTION = 0.2
SEED = 0


def load_digits_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, stratified 80/20 split; pixels scaled to [0, 1]; N x 1 x 8 x 8."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, random_state=SEED,
                                              stratify=y)
    return (x_te, y_te) if split == "test" else (x_tr, y_tr)


def test() -> Dataset:
    x, y = load_digits_split("test")
    return Dataset(name="digits", x=x, y=y, classes=10)


def train() -> Dataset:
    x, y = load_digits_split("train")
    return Dataset(name="digits-train", x=x, y=y, classes=10)

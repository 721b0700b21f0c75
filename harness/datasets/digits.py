"""scikit-learn's handwritten digits: 1797 8x8 images, shipped with the package.

They are the test part of the UCI "Optical Recognition of Handwritten Digits"
set (E. Alpaydin, C. Kaynak, 1998: 32x32 bitmaps counted in 4x4 blocks, 0-16).
bench splits them 80/20, stratified and seeded; the original 3,823-image
training part is not in scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, always
from harness.kinds import Task

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


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    x, y = load_digits_split(split)
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=10,
                   class_names=tuple(str(d) for d in range(10)))


SOURCE = DatasetSource(
    name="digits",
    title="scikit-learn's 8x8 handwritten digits (1 x 8 x 8, [0, 1])",
    task=Task.CLASSIFICATION, classes=10, sample_shape=(1, 8, 8),
    splits={"test": 360, "train": 1437}, origin=Origin.PACKAGE,
    source="scikit-learn: sklearn.datasets.load_digits (a bench dependency)",
    licence="CC BY 4.0",
    licence_source="UCI ML Repository, dataset 80 (Optical Recognition of Handwritten "
    "Digits); the repository licenses its datasets CC BY 4.0 (its donation policy)",
    notes="scikit-learn's copy is UCI's 1,797-image test part; split 80/20 here, seeded",
    loader=load, availability=always("scikit-learn (installed with bench)"))

"""A made-up denoising task on real images: scikit-learn's digits with
seeded Gaussian noise added; the clean image is the target.

Regression sets are scored by MSE and PSNR against the clean target (as
image-denoising work, e.g. LEAT's, scores its networks). Each split is the
``digits`` split with noise of standard deviation SIGMA added (seeded, the
same on every load, not clipped); ``y`` holds the clean 1 x 8 x 8 images
in [0, 1] (PSNR peak 1). The noisy input itself scores about 12 dB. Not a
published benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, always
from harness.datasets.digits import SOURCE as DIGITS
from harness.datasets.digits import load_digits_split
from harness.kinds import Task

SIGMA = 0.25
SEEDS = {"test": 1, "train": 2}


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    clean, _ = load_digits_split(split)
    rng = np.random.default_rng(SEEDS[split])
    noisy = clean + rng.normal(0.0, SIGMA, clean.shape).astype(np.float32)
    return Dataset(name=SOURCE.split_name(split), x=noisy.astype(np.float32),
                   y=clean.astype(np.float32), classes=0, task=Task.REGRESSION, peak=1.0)


SOURCE = DatasetSource(
    name="digits-denoise",
    title=f"MADE-UP TASK on real images: digits + seeded Gaussian noise (sigma {SIGMA}), "
    f"target the clean image (1 x 8 x 8)",
    task=Task.REGRESSION, classes=0, sample_shape=(1, 8, 8),
    splits={"test": 360, "train": 1437}, origin=Origin.PACKAGE,
    source=DIGITS.source, licence=DIGITS.licence, licence_source=DIGITS.licence_source,
    notes=f"the digits split plus N(0, {SIGMA}^2) noise (seeded, unclipped); y = the clean "
    f"image; scored by MSE and PSNR (peak 1); not a published benchmark",
    loader=load, availability=always("scikit-learn (installed with bench)"))

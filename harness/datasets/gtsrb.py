"""GTSRB (German Traffic Sign Recognition Benchmark), from your copy of its archives.

Layout under ``--data-dir DIR`` (the archives extracted there):

- test: ``GTSRB/Final_Test/Images/NNNNN.ppm`` (GTSRB_Final_Test_Images.zip,
  12,630 images) and the ground truth ``GT-final_test.csv``
  (GTSRB_Final_Test_GT.zip) in DIR, ``DIR/GTSRB/`` or beside the images;
  the images archive's own ``GT-final_test.test.csv`` has no class ids.
- train: ``GTSRB/Final_Training/Images/000CC/GT-000CC.csv`` and its images,
  one folder per class (GTSRB_Final_Training_Images.zip, 39,209 images).

The CSVs are ``;``-separated with ``Filename`` and ``ClassId`` (43 classes).
Each image (15x15 to 250x250, a 10% border around the sign) is resized whole
to 32 x 32 (bilinear), channels first, float32 in [0, 1]; the ROI columns
are not used, so the border stays as published.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harness.datasets.base import (
    Dataset,
    DatasetSource,
    Origin,
    archive_status,
    first_existing,
    require_data_dir,
)
from harness.datasets.cache import cached, code_hash, files_key
from harness.errors import ConfigError
from harness.kinds import Task

NAME = "gtsrb"
CLASSES = 43
SIZE = 32
TEST_IMAGES = "GTSRB/Final_Test/Images"
TRAIN_IMAGES = "GTSRB/Final_Training/Images"
GROUND_TRUTH = "GT-final_test.csv"
LOOKS_FOR = f"'{TEST_IMAGES}/' with '{GROUND_TRUTH}' (test), '{TRAIN_IMAGES}/000CC/' (train)"


def find(data_dir: Path) -> Path | None:
    return first_existing(data_dir, [TEST_IMAGES, TRAIN_IMAGES])


def read_csv(path: Path) -> list[tuple[str, int]]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    if rows and ("Filename" not in rows[0] or "ClassId" not in rows[0]):
        raise ConfigError(f"{path} has no Filename;ClassId columns: not a GTSRB annotation "
                          f"file")
    try:
        return [(r["Filename"], int(r["ClassId"])) for r in rows]
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: a ClassId that is not a number ({e})") from e


def test_files(data_dir: Path) -> list[tuple[Path, int]]:
    images = data_dir / TEST_IMAGES
    if not images.is_dir():
        raise ConfigError(f"{images} is missing: extract GTSRB_Final_Test_Images.zip in "
                          f"{data_dir}")
    truth = first_existing(data_dir, [GROUND_TRUTH, f"GTSRB/{GROUND_TRUTH}",
                                      f"{TEST_IMAGES}/{GROUND_TRUTH}"])
    if truth is None:
        raise ConfigError(f"{data_dir / GROUND_TRUTH} is missing: the test labels come from "
                          f"GTSRB_Final_Test_GT.zip (GT-final_test.test.csv has no ClassId)")
    return [(images / name, label) for name, label in read_csv(truth)]


def train_files(data_dir: Path) -> list[tuple[Path, int]]:
    root = data_dir / TRAIN_IMAGES
    folders = sorted(p for p in root.glob("[0-9]" * 5) if p.is_dir()) if root.is_dir() else []
    if not folders:
        raise ConfigError(f"{root} has no class folders 00000..00042: extract "
                          f"GTSRB_Final_Training_Images.zip in {data_dir}")
    out = []
    for folder in folders:
        annotations = folder / f"GT-{folder.name}.csv"
        if not annotations.is_file():
            raise ConfigError(f"{annotations} is missing (each class folder has its CSV)")
        out += [(folder / name, label) for name, label in read_csv(annotations)]
    return out


def read_image(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise ConfigError(f"{path} is missing (named in the annotation CSV)")
    try:
        with Image.open(path) as im:
            small = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    except OSError as e:
        raise ConfigError(f"cannot read image {path}: {e}") from e
    return np.asarray(small, dtype=np.float32).transpose(2, 0, 1) / 255.0


def build(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    y = np.array([label for _, label in files], dtype=np.int64)
    if len(y) and (y.min() < 0 or y.max() >= CLASSES):
        raise ConfigError(f"GTSRB class ids must be 0-{CLASSES - 1}, found {y.min()}..{y.max()}")
    x = np.stack([read_image(p) for p, _ in files]) if files else \
        np.zeros((0, 3, SIZE, SIZE), np.float32)
    return x.astype(np.float32), y


def load(split: str, data_dir: Path | None) -> Dataset:
    root = require_data_dir(data_dir, NAME, LOOKS_FOR)
    files = test_files(root) if split == "test" else train_files(root)
    key = (str(root.resolve()), files_key(p for p, _ in files if p.exists()), split,
           code_hash(__name__))
    x, y = cached(f"{NAME}-{split}", key, lambda: build(files))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=CLASSES)


SOURCE = DatasetSource(
    name=NAME,
    title="GTSRB traffic signs, resized to 3 x 32 x 32 ([0, 1]), from your archives",
    task=Task.CLASSIFICATION, classes=CLASSES, sample_shape=(3, SIZE, SIZE),
    splits={"test": 12630, "train": 39209}, origin=Origin.ARCHIVE,
    source=f"{TEST_IMAGES}/*.ppm + {GROUND_TRUTH}; {TRAIN_IMAGES}/000CC/GT-000CC.csv",
    licence="none stated",
    licence_source="GTSRB archives' Readme files (benchmark.ini.rub.de): no licence; cite "
    "Stallkamp et al., Neural Networks 2012",
    notes="whole image (with its 10% border) resized to 32x32, bilinear",
    loader=load, availability=archive_status(NAME, LOOKS_FOR, find), looks_for=LOOKS_FOR)

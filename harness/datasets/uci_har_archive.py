"""The official UCI HAR Dataset, read from your copy of its archive.

Layout (the zip as UCI publishes it, or its extracted folder):

    UCI HAR Dataset/{train,test}/Inertial Signals/{body_acc,body_gyro,total_acc}_{x,y,z}_{split}.txt
    UCI HAR Dataset/{train,test}/y_{split}.txt

Under ``--data-dir DIR``: ``DIR/UCI HAR Dataset.zip``, ``DIR/UCI HAR Dataset/``,
or DIR itself being that folder. Each signal file has one 128-value window
per line; the 9 channels are stacked in the order ``uci-har`` uses (body_acc,
body_gyro, total_acc; x/y/z), so models move between the two. 2,947 test and
7,352 training windows; labels 1-6 become 0-5.
"""

from __future__ import annotations

import io
import zipfile
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
from harness.datasets.uci_har import CHANNELS, CLASSES, WINDOW
from harness.errors import ConfigError
from harness.kinds import Task

NAME = "uci-har-archive"
TOP = "UCI HAR Dataset"
LOOKS_FOR = f"'{TOP}.zip' or '{TOP}/' (the official UCI-HAR archive)"


def find(data_dir: Path) -> Path | None:
    if (data_dir / "test" / "y_test.txt").exists():
        return data_dir
    return first_existing(data_dir, [f"{TOP}.zip", TOP])


def members(split: str) -> list[str]:
    """Paths inside the dataset folder: the 9 signals, then the labels."""
    return [f"{split}/Inertial Signals/{c}_{split}.txt" for c in CHANNELS] + \
        [f"{split}/y_{split}.txt"]


def read_text(root: Path, member: str) -> str:
    """One file of the layout from a folder or the zip, or ConfigError naming it."""
    if root.suffix == ".zip":
        try:
            with zipfile.ZipFile(root) as z:
                names = set(z.namelist())
                inside = next((n for n in (f"{TOP}/{member}", member) if n in names), None)
                if inside is None:
                    raise ConfigError(f"{root} has no '{TOP}/{member}': not the UCI HAR "
                                      f"Dataset zip, or damaged")
                return z.read(inside).decode()
        except (zipfile.BadZipFile, OSError) as e:
            raise ConfigError(f"cannot read {root} as a zip: {e}") from e
    path = root / member
    if not path.is_file():
        raise ConfigError(f"{path} is missing: the UCI HAR Dataset layout has "
                          f"'{member}' in '{root}'")
    return path.read_text()


def parse(text: str, label: str, columns: int | None) -> np.ndarray:
    try:
        a = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ConfigError(f"{label} is not a table of numbers: {e}") from e
    if columns is not None and a.shape[1] != columns:
        raise ConfigError(f"{label} has {a.shape[1]} values per line, expected {columns}")
    return a


def build(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    *signals, labels = members(split)
    x = np.stack([parse(read_text(root, m), f"{root}/{m}", WINDOW) for m in signals], axis=1)
    y = parse(read_text(root, labels), f"{root}/{labels}", 1)[:, 0].astype(np.int64)
    if len(y) != len(x):
        raise ConfigError(f"{root}: {len(x)} windows but {len(y)} labels in y_{split}.txt")
    if len(y) and (y.min() < 1 or y.max() > len(CLASSES)):
        raise ConfigError(f"{root}/{labels}: labels must be 1-{len(CLASSES)}, found "
                          f"{y.min()}..{y.max()}")
    return x.astype(np.float32), y - 1


def load(split: str, data_dir: Path | None) -> Dataset:
    root = find(require_data_dir(data_dir, NAME, LOOKS_FOR))
    if root is None:
        raise ConfigError(f"no {LOOKS_FOR} in {data_dir}")
    inputs = [root] if root.suffix == ".zip" else [root / m for m in members(split)
                                                   if (root / m).exists()]
    key = (str(root.resolve()), files_key(inputs), split, code_hash(__name__))
    x, y = cached(f"{NAME}-{split}", key, lambda: build(root, split))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name=NAME,
    title="UCI-HAR, the official Inertial Signals (9 x 128), from your archive",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(len(CHANNELS), WINDOW),
    splits={"test": 2947, "train": 7352}, origin=Origin.ARCHIVE,
    source=f"{TOP}/{{train,test}}/Inertial Signals/*.txt and y_*.txt (zip or folder)",
    licence="CC BY 4.0",
    licence_source="UCI ML Repository, dataset 240; the 2012 README said 'any commercial "
    "use is prohibited'",
    loader=load, availability=archive_status(NAME, LOOKS_FOR, find), looks_for=LOOKS_FOR,
    class_names=CLASSES)

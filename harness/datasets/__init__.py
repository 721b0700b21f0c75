"""Datasets: a registry name (``digits``) or the user's own ``.npz``.

A dataset is test data as arrays: ``x`` in the model's input layout with the
batch first (N x C x L for Conv1d, N x C x H x W for Conv2d) and integer
labels ``y``. Loaders for downloaded archives read them from a local folder;
nothing is fetched at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ConfigError


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # float32, N x sample shape
    y: np.ndarray  # int64, N
    classes: int

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(repr(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x, dtype="<f4").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.y)

    def check_fits(self, input_shape: tuple[int, ...]) -> None:
        if self.sample_shape != tuple(input_shape):
            raise ConfigError(
                f"dataset {self.name} has samples of shape {self.sample_shape} but the model "
                f"takes {tuple(input_shape)} (x must be N x {' x '.join(map(str, input_shape))})")


def _digits(split: str) -> Callable[[], Dataset]:
    def load() -> Dataset:
        from harness.datasets.digits import load_digits_split

        x, y = load_digits_split(split)
        return Dataset(name="digits" if split == "test" else f"digits-{split}", x=x, y=y,
                       classes=10)

    return load


def _har_synth(split: str) -> Callable[[], Dataset]:
    def load() -> Dataset:
        from harness.datasets.har_synth import CLASSES, load_har_synth_split

        x, y = load_har_synth_split(split)
        return Dataset(name="har-synth" if split == "test" else f"har-synth-{split}", x=x,
                       y=y, classes=len(CLASSES))

    return load


DATASETS: dict[str, Callable[[], Dataset]] = {
    "digits": _digits("test"),
    "digits-train": _digits("train"),
    # Synthetic stand-in for UCI-HAR (6 x 128 IMU windows): see har_synth.py.
    "har-synth": _har_synth("test"),
    "har-synth-train": _har_synth("train"),
}


def load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise ConfigError(f"{path} lacks array(s) {', '.join(missing)}: a dataset .npz "
                                  f"holds x (N x sample shape) and y (N integer labels); "
                                  f"it has {', '.join(f.files) or 'nothing'}")
            x, y = f["x"], f["y"]
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read dataset {path}: {e}") from e
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ConfigError(f"{path}: x must be N x sample shape and y N labels "
                          f"(got x {x.shape}, y {y.shape})")
    if not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"{path}: y must hold integer class labels, not {y.dtype}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{path}: x holds NaN or infinite values")
    return Dataset(name=path.name, x=x.astype(np.float32), y=y.astype(np.int64),
                   classes=int(y.max()) + 1 if len(y) else 0)


def load_dataset(spec: str) -> Dataset:
    if spec in DATASETS:
        return DATASETS[spec]()
    path = Path(spec)
    if path.suffix == ".npz":
        if not path.exists():
            raise ConfigError(f"dataset file {path} does not exist")
        return load_npz(path)
    raise ConfigError(f"unknown dataset {spec!r}: give a .npz file with x and y, or one of "
                      f"{', '.join(DATASETS)}")

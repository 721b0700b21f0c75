"""Datasets: a registry name (``digits``) or the user's own ``.npz``.

A dataset is test data as arrays: ``x`` in the model's input layout with the
batch first (N x C x L for Conv1d, N x C x H x W for Conv2d) and integer
labels ``y``. Loaders for downloaded archives read them from a local folder;
nothing is fetched at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset
from harness.errors import ConfigError
from harness.registry import Registry

# name -> a function returning the Dataset. A dataset is one module (its
# loader functions) plus its lines here; "NAME-train" is NAME's training split,
# which int8/int16 builds calibrate on.
DATASETS: Registry[Callable[[], Dataset]] = Registry("dataset", {
    "digits": "harness.datasets.digits:test",
    "digits-train": "harness.datasets.digits:train",
    # Synthetic stand-in for UCI-HAR (6 x 128 IMU windows): see har_synth.py.
    "har-synth": "harness.datasets.har_synth:test",
    "har-synth-train": "harness.datasets.har_synth:train",
})


def has_dataset(name: str) -> bool:
    """Whether ``name`` is a registry dataset (not a file)."""
    return name in DATASETS


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
        return DATASETS.load(spec)()
    path = Path(spec)
    if path.suffix == ".npz":
        if not path.exists():
            raise ConfigError(f"dataset file {path} does not exist")
        return load_npz(path)
    raise ConfigError(f"unknown dataset {spec!r}: give a .npz file with x and y, or one of "
                      f"{', '.join(DATASETS)}")

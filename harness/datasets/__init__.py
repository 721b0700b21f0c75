"""Datasets: a registry name with a split (``uci-har:train``), or the user's own ``.npz``.

A dataset is data as arrays: ``x`` in the model's input layout with the
batch first (N x C x L for Conv1d, N x C x H x W for Conv2d) and ``y``,
what its task scores against (harness/metrics.py): integer labels for
classification, 1/0 anomalous/normal for anomaly detection, float targets
(N x target shape) for regression. Each registry dataset is one module whose ``SOURCE`` (a
``DatasetSource``) says what it is, where its data comes from, its licence
and its splits, plus its line in DATASETS. Data that installs offline comes
from Python packages; archive loaders read the user's copy of a published
archive from ``--data-dir`` (or ``BENCH_DATA``). Nothing is fetched.

``--dataset`` forms: ``NAME`` (its test split), ``NAME:SPLIT``, the older
``NAME-train``, or ``path/to/file.npz``.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

from harness.datasets.base import TEST, Dataset, DatasetSource, Origin
from harness.errors import ConfigError
from harness.kinds import Task
from harness.paths import data_dir_from_env
from harness.registry import Registry

__all__ = ["DATASETS", "Dataset", "DatasetSource", "Origin", "Spec", "calibration_spec",
           "has_dataset", "load_dataset", "load_npz", "parse_spec", "source"]

# name -> its module's SOURCE. Offline (package) sets first, then archive loaders.
DATASETS: Registry[DatasetSource] = Registry("dataset", {
    "digits": "harness.datasets.digits:SOURCE",
    "uci-har": "harness.datasets.uci_har:SOURCE",
    "fsdd": "harness.datasets.fsdd:SOURCE",
    "cifar10-smoke": "harness.datasets.cifar10_smoke:SOURCE",
    # SYNTHETIC stand-in for UCI-HAR (6 x 128 windows): see har_synth.py.
    "har-synth": "harness.datasets.har_synth:SOURCE",
    # Real images, made-up tasks (for the anomaly and regression metrics): see each file.
    "digits-anomaly": "harness.datasets.digits_anomaly:SOURCE",
    "digits-denoise": "harness.datasets.digits_denoise:SOURCE",
    # The user's copies of published archives (--data-dir DIR or BENCH_DATA).
    "uci-har-archive": "harness.datasets.uci_har_archive:SOURCE",
    "speech-commands": "harness.datasets.speech_commands:SOURCE",
    "gtsrb": "harness.datasets.gtsrb:SOURCE",
    "cifar10": "harness.datasets.cifar10:SOURCE",
    "fsdd-wav": "harness.datasets.fsdd_wav:SOURCE",
})


@dataclass(frozen=True)
class Spec:
    """A ``--dataset`` value understood: a registry split or a file."""

    name: str | None = None  # registry name
    split: str = TEST
    file: Path | None = None  # a .npz


def parse_spec(spec: str) -> Spec:
    """``NAME``, ``NAME:SPLIT``, ``NAME-train`` or a ``.npz`` path; ConfigError
    naming the known datasets (and their splits) otherwise."""
    if spec.endswith(".npz"):
        return Spec(file=Path(spec))
    name, sep, split = spec.partition(":")
    if sep and name in DATASETS:
        return Spec(name=name, split=split)
    if spec in DATASETS:
        return Spec(name=spec)
    base, dash, tail = spec.rpartition("-")
    if dash and base in DATASETS and tail in DATASETS.load(base).splits:
        return Spec(name=base, split=tail)  # digits-train: the form before NAME:SPLIT
    raise ConfigError(f"unknown dataset {spec!r}: give a .npz file with x and y, or one of "
                      f"{', '.join(DATASETS)} (NAME or NAME:SPLIT; see 'bench datasets')")


def has_dataset(spec: str) -> bool:
    """Whether ``spec`` names a registry dataset split (not a file)."""
    try:
        s = parse_spec(spec)
    except ConfigError:
        return False
    return s.name is not None and s.split in DATASETS.load(s.name).splits


def source(name: str) -> DatasetSource:
    return DATASETS.load(name)


def load_dataset(spec: str, data_dir: Path | None = None) -> Dataset:
    """The data ``spec`` names. Archive loaders read ``data_dir``, else
    ``$BENCH_DATA``."""
    s = parse_spec(spec)
    if s.file is not None:
        if not s.file.exists():
            raise ConfigError(f"dataset file {s.file} does not exist")
        return load_npz(s.file)
    assert s.name is not None
    return DATASETS.load(s.name).load(s.split, data_dir or data_dir_from_env())


def calibration_spec(spec: str) -> str:
    """The training split of a registry dataset when it has one: calibrating
    on the test set would tune the ranges to the data being scored."""
    try:
        s = parse_spec(spec)
    except ConfigError:
        return spec
    if s.name is None or s.split != TEST or "train" not in DATASETS.load(s.name).splits:
        return spec
    return f"{s.name}:train"


def load_npz(path: Path) -> Dataset:
    """A user's .npz: ``x`` and ``y``, and optionally ``task``
    (classification, anomaly or regression) and ``peak`` (PSNR peak).

    Without ``task``: integer labels are classification, a float ``y``
    with a shape per sample (N x ...) holds regression targets (e.g. the
    clean images of a denoising set). Anomaly labels are 1 = anomalous,
    0 = normal. ``x`` must be real numbers that fit float32 (the device's
    input type); ConfigError naming the file and what is wrong otherwise.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, NpzFile):  # a .npy under an .npz name
            raise ConfigError(f"{path} is a single .npy array, not an .npz: save x and y "
                              f"with numpy.savez(path, x=x, y=y)")
        with loaded as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise ConfigError(f"{path} lacks array(s) {', '.join(missing)}: a dataset .npz "
                                  f"holds x (N x sample shape) and y (N integer labels, or N "
                                  f"x target shape for regression); it has "
                                  f"{', '.join(f.files) or 'nothing'}")
            x, y = f["x"], f["y"]
            task_text = str(f["task"]) if "task" in f.files else None
            peak = float(f["peak"]) if "peak" in f.files else None
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise ConfigError(f"{path} is not a complete .npz file ({e}): is it truncated?") from e
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"cannot read dataset {path}: {e}") from e
    if task_text is not None and task_text not in {t.value for t in Task}:
        raise ConfigError(f"{path}: task {task_text!r} is not one of "
                          f"{', '.join(t.value for t in Task)}")
    floating = np.issubdtype(y.dtype, np.floating)
    task = Task(task_text) if task_text else (
        Task.REGRESSION if floating and y.ndim >= 2 else Task.CLASSIFICATION)
    if x.ndim < 2 or len(x) != len(y) or (task != Task.REGRESSION and y.ndim != 1):
        raise ConfigError(f"{path}: x must be N x sample shape and y N labels "
                          f"(or N x target shape for regression; got x {x.shape}, y {y.shape})")
    x32 = _real_float32(path, x)
    if task == Task.REGRESSION:
        if not (floating or np.issubdtype(y.dtype, np.integer)) or not np.all(np.isfinite(y)):
            raise ConfigError(f"{path}: regression targets y must be finite numbers")
        y = y.astype(np.float32)
        if peak is None:  # [0, 1] images: 1; else the targets' range
            lo, hi = (float(y.min()), float(y.max())) if y.size else (0.0, 1.0)
            peak = 1.0 if lo >= 0 and hi <= 1 else (hi - lo or 1.0)
        return Dataset(name=path.name, x=x32, y=y, classes=0, task=task, peak=peak)
    if not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"{path}: y must hold integer class labels, not {y.dtype}")
    if task == Task.ANOMALY:
        if not np.all(np.isin(y, (0, 1))):
            raise ConfigError(f"{path}: anomaly labels y must be 0 (normal) or 1 (anomalous)")
        return Dataset(name=path.name, x=x32, y=y.astype(np.int64), classes=0, task=task)
    if len(y) and y.min() < 0:
        raise ConfigError(f"{path}: y holds negative labels ({y.min()}); class labels are "
                          f"0, 1, 2, ...")
    return Dataset(name=path.name, x=x32, y=y.astype(np.int64),
                   classes=int(y.max()) + 1 if len(y) else 0, classes_from_labels=True)


def _real_float32(path: Path, x: np.ndarray) -> np.ndarray:
    """``x`` as the float32 the device takes, or ConfigError: strings,
    complex numbers (the imaginary part would be dropped silently), NaN, and
    finite float64 beyond float32's range (inf on the device)."""
    if np.issubdtype(x.dtype, np.complexfloating):
        raise ConfigError(f"{path}: x holds complex numbers ({x.dtype}); the device takes real "
                          f"inputs: give the real part, the magnitude, or both as channels")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ConfigError(f"{path}: x must hold numbers, not {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{path}: x holds NaN or infinite values")
    with np.errstate(over="ignore"):  # said below, as the error
        x32 = x.astype(np.float32)
    if not np.all(np.isfinite(x32)):
        raise ConfigError(f"{path}: x holds values beyond float32's range (largest magnitude "
                          f"{float(np.abs(x).max()):.3g}, float32 holds up to 3.4e+38): "
                          f"scale the data")
    return x32

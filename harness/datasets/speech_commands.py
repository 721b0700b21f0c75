"""Google Speech Commands v2 as MLPerf Tiny's keyword-spotting task, from your copy.

Twelve classes, in MLPerf Tiny's (and TensorFlow Datasets') order: down, go,
left, no, off, on, right, stop, up, yes, silence, unknown. Each 1 s, 16 kHz
clip becomes 49 x 10 MFCCs (30 ms windows every 20 ms, 40 mel bins, 10
coefficients: harness/datasets/audio.py ``kws_mfcc``), shaped 1 x 49 x 10
(the reference model's 49 x 10 x 1 input, channels first).

Layout under ``--data-dir DIR``:

- test: the companion test archive, ``speech_commands_test_set_v0.02/``
  (one folder per class, ``_silence_`` and ``_unknown_`` included; 4,890
  clips): the test set MLPerf Tiny scores on.
- train, validation: the main archive's folder ``speech_commands_v0.02/``
  (or DIR itself) with ``validation_list.txt`` and ``testing_list.txt``, as
  TensorFlow Datasets splits it for MLPerf Tiny: validation = the files in
  validation_list.txt; train = every other word clip not in either list (the
  25 other words are "unknown"); silence = 1 s pieces, every 0.5 s, of
  ``_background_noise_/*.wav`` (running_tap.wav for validation, the others
  for train). 85,511 and 10,102 clips with the v0.02 archive.

What differs from the reference: float64 features (TensorFlow computes in
float32, so values agree to about 1e-4, not bit for bit); the training-time
augmentation (background noise mixed into 80% of clips, volume 0.1) is not
applied: these are the clean features, for scoring and calibration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.audio import KWS_COEFFICIENTS, KWS_FRAMES, KWS_RATE, kws_mfcc, read_wav
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

NAME = "speech-commands"
WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
CLASSES = (*WORDS, "silence", "unknown")
TEST_FOLDER = "speech_commands_test_set_v0.02"
MAIN_FOLDER = "speech_commands_v0.02"
NOISE = "_background_noise_"
VALIDATION_NOISE = "running_tap.wav"  # TensorFlow Datasets' silence for validation
LOOKS_FOR = f"'{TEST_FOLDER}/' (test) and '{MAIN_FOLDER}/' with validation_list.txt (train)"

Clip = tuple[Path, int, int]  # wav file, label, start sample (silence pieces) or -1


def label_of(folder: str) -> int:
    if folder in WORDS:
        return WORDS.index(folder)
    return len(WORDS) if folder == SILENCE else len(WORDS) + 1


def main_folder(data_dir: Path) -> Path | None:
    return first_existing(data_dir, [f"{MAIN_FOLDER}/validation_list.txt",
                                     "validation_list.txt"])


def find(data_dir: Path) -> Path | None:
    return first_existing(data_dir, [TEST_FOLDER, f"{MAIN_FOLDER}/validation_list.txt",
                                     "validation_list.txt"])


def test_clips(data_dir: Path) -> list[Clip]:
    root = data_dir / TEST_FOLDER
    if not root.is_dir():
        raise ConfigError(f"{root} is missing: MLPerf Tiny's test set is the companion "
                          f"archive speech_commands_test_set_v0.02.tar.gz, extracted there")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    names = {p.name for p in folders}
    missing = [w for w in (*WORDS, SILENCE, UNKNOWN) if w not in names]
    if missing:
        raise ConfigError(f"{root} lacks the class folder(s) {', '.join(missing)}: not the "
                          f"12-class Speech Commands test set")
    return [(wav, label_of(f.name), -1) for f in folders if f.name in (*WORDS, SILENCE, UNKNOWN)
            for wav in sorted(f.glob("*.wav"))]


def read_list(path: Path) -> set[str]:
    try:
        return {line.strip() for line in path.read_text().splitlines() if line.strip()}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e


def noise_pieces(wav: Path, label: int) -> list[Clip]:
    rate, samples = read_wav(wav)
    if rate != KWS_RATE:
        raise ConfigError(f"{wav} is sampled at {rate} Hz, not {KWS_RATE}")
    return [(wav, label, start) for start in range(0, len(samples) - KWS_RATE, KWS_RATE // 2)]


def main_clips(data_dir: Path, split: str) -> list[Clip]:
    lists = main_folder(data_dir)
    if lists is None:
        raise ConfigError(f"no {MAIN_FOLDER}/validation_list.txt in {data_dir}: the train and "
                          f"validation splits read the main Speech Commands v0.02 archive")
    root = lists.parent
    testing = root / "testing_list.txt"
    if not testing.is_file():
        raise ConfigError(f"{testing} is missing (the main archive has it beside "
                          f"validation_list.txt)")
    validation = read_list(lists)
    held_out = validation | read_list(testing)
    clips: list[Clip] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != NOISE):
        label = label_of(folder.name) if folder.name in WORDS else len(WORDS) + 1
        for wav in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{wav.name}"
            if (rel in validation) if split == "validation" else (rel not in held_out):
                clips.append((wav, label, -1))
    noise = root / NOISE
    if not noise.is_dir():
        raise ConfigError(f"{noise} is missing: the silence class is cut from it")
    for wav in sorted(noise.glob("*.wav")):
        if (wav.name == VALIDATION_NOISE) == (split == "validation"):
            clips += noise_pieces(wav, len(WORDS))
    return clips


def build(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((len(clips), 1, KWS_FRAMES, KWS_COEFFICIENTS), dtype=np.float32)
    noise: dict[Path, np.ndarray] = {}
    for i, (wav, _, start) in enumerate(clips):
        if start >= 0:
            if wav not in noise:
                noise[wav] = read_wav(wav)[1]
            samples = noise[wav][start:start + KWS_RATE]
        else:
            rate, samples = read_wav(wav)
            if rate != KWS_RATE:
                raise ConfigError(f"{wav} is sampled at {rate} Hz, not {KWS_RATE}")
        x[i, 0] = kws_mfcc(samples)
    return x, np.array([label for _, label, _ in clips], dtype=np.int64)


def load(split: str, data_dir: Path | None) -> Dataset:
    root = require_data_dir(data_dir, NAME, LOOKS_FOR)
    clips = test_clips(root) if split == "test" else main_clips(root, split)
    key = (str(root.resolve()), files_key(sorted({wav for wav, _, _ in clips})), split,
           code_hash(__name__, "harness.datasets.audio"))
    x, y = cached(f"{NAME}-{split}", key, lambda: build(clips))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name=NAME,
    title="Speech Commands v2, MLPerf Tiny's 12-class KWS task, 1 x 49 x 10 MFCCs",
    task=Task.CLASSIFICATION, classes=len(CLASSES),
    sample_shape=(1, KWS_FRAMES, KWS_COEFFICIENTS),
    splits={"test": 4890, "train": 85511, "validation": 10102}, origin=Origin.ARCHIVE,
    source=f"{TEST_FOLDER}/<class>/*.wav; {MAIN_FOLDER}/<word>/*.wav, validation_list.txt, "
    f"testing_list.txt, {NOISE}/",
    licence="CC BY 4.0",
    licence_source="Speech Commands README (Warden 2018, arXiv:1804.03209)",
    notes="float64 MFCCs (the reference: float32 TensorFlow); no training augmentation",
    loader=load, availability=archive_status(NAME, LOOKS_FOR, find), looks_for=LOOKS_FOR,
    class_names=CLASSES)

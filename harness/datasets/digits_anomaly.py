"""A made-up anomaly-detection task on real images: scikit-learn's digits
with one digit held out as the "anomaly".

MLPerf Tiny scores anomaly detection (ToyADMOS machine sounds) with an
autoencoder trained on normal sounds only: the reconstruction error is the
anomaly score and the metric is its ROC AUC. No ToyADMOS installs offline,
so this set exercises the same path on data that does: the training split
holds the ``digits`` training images of every digit except HELD_OUT (all
labelled 0, normal); the test split holds all ``digits`` test images,
labelled 1 where the digit is HELD_OUT (35 of 360) and 0 otherwise.
Samples are the 64 pixels flattened (an FC autoencoder's input), in [0, 1].
It is not a published benchmark: its AUC says how well a model separates
an unseen digit, nothing about machine sounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.datasets.base import Dataset, DatasetSource, Origin, always
from harness.datasets.digits import SOURCE as DIGITS
from harness.datasets.digits import load_digits_split
from harness.kinds import Task

HELD_OUT = 8  # the "anomalous" digit


def load(split: str, _data_dir: Path | None = None) -> Dataset:
    x, digit = load_digits_split(split)
    if split == "train":
        keep = digit != HELD_OUT
        x, digit = x[keep], digit[keep]
    y = (digit == HELD_OUT).astype(np.int64)
    return Dataset(name=SOURCE.split_name(split), x=x.reshape(len(x), 64), y=y, classes=0,
                   task=Task.ANOMALY, class_names=("normal", "anomalous"))


SOURCE = DatasetSource(
    name="digits-anomaly",
    title=f"MADE-UP TASK on real images: digits, the digit {HELD_OUT} held out as the "
    f"anomaly (64 pixels, [0, 1])",
    task=Task.ANOMALY, classes=0, sample_shape=(64,),
    splits={"test": 360, "train": 1298}, origin=Origin.PACKAGE,
    source=DIGITS.source, licence=DIGITS.licence, licence_source=DIGITS.licence_source,
    notes=f"the digits split; training images of the digit {HELD_OUT} left out; test labels "
    f"1 = digit {HELD_OUT} (anomalous), 0 = other digits; scored by the AUC of the "
    f"reconstruction error, as MLPerf Tiny scores ToyADMOS; not a published benchmark",
    loader=load, availability=always("scikit-learn (installed with bench)"),
    class_names=("normal", "anomalous"))

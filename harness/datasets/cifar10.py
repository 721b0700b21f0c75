"""CIFAR-10, read from your copy of its python archive.

Layout: ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
under ``--data-dir DIR`` (or DIR being that folder), holding the pickled
batches ``test_batch`` (10,000 images) and ``data_batch_1`` .. ``_5``
(50,000), each a dict with ``data`` (N x 3072 uint8, channel planes) and
``labels``. The tarball's published md5 is checked when the file has the
published size (a truncated download fails to unpack instead). The
batches are Python pickles, as published: read only a copy you trust.

Samples are 3 x 32 x 32 float32 in [0, 1] (pixel / 255), as ``cifar10-smoke``;
MLPerf Tiny's ResNet-8 reference was trained on 0..255 pixels.
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
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
from harness.datasets.cifar10_smoke import CLASSES
from harness.errors import ConfigError
from harness.kinds import Task

NAME = "cifar10"
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
TARBALL_BYTES = 170498071
LOOKS_FOR = f"'{TARBALL}' or '{FOLDER}/'"
BATCHES = {"test": ("test_batch",), "train": tuple(f"data_batch_{i}" for i in range(1, 6))}


def find(data_dir: Path) -> Path | None:
    if (data_dir / "test_batch").exists():
        return data_dir
    return first_existing(data_dir, [FOLDER, TARBALL])


def check_tarball(path: Path, md5: str = TARBALL_MD5, size: int = TARBALL_BYTES) -> None:
    if path.stat().st_size != size:
        return  # not the published file's size: its md5 cannot match; unpacking judges it
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != md5:
        raise ConfigError(f"{path}: md5 {h.hexdigest()} is not the published {md5}: a "
                          f"damaged download; fetch {TARBALL} again")


def read_batch(raw: bytes, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(raw, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{label} is not a CIFAR-10 batch (a pickled dict with data and "
                          f"labels): {e}") from e
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ConfigError(f"{label}: data {data.shape} and {len(labels)} labels; a batch "
                          f"holds N x 3072 pixels and N labels")
    return data.reshape(-1, 3, 32, 32), labels


def batch_bytes(root: Path, names: tuple[str, ...]) -> list[tuple[str, bytes]]:
    if root.is_dir():
        out = []
        for n in names:
            p = root / n
            if not p.is_file():
                raise ConfigError(f"{p} is missing: the CIFAR-10 python layout has {n} in "
                                  f"{FOLDER}/")
            out.append((str(p), p.read_bytes()))
        return out
    check_tarball(root)
    try:
        with tarfile.open(root, "r:*") as tar:
            out = []
            for n in names:
                try:
                    f = tar.extractfile(f"{FOLDER}/{n}")
                except KeyError:
                    f = None
                if f is None:
                    raise ConfigError(f"{root} has no '{FOLDER}/{n}': not the CIFAR-10 "
                                      f"python archive")
                out.append((f"{root}:{FOLDER}/{n}", f.read()))
            return out
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ConfigError(f"cannot read {root} as a tar archive: {e}") from e


def build(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_batch(raw, label) for label, raw in batch_bytes(root, BATCHES[split])]
    x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    y = np.concatenate([p[1] for p in parts])
    if len(y) and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise ConfigError(f"{root}: labels must be 0-9, found {y.min()}..{y.max()}")
    return x, y


def load(split: str, data_dir: Path | None) -> Dataset:
    root = find(require_data_dir(data_dir, NAME, LOOKS_FOR))
    if root is None:
        raise ConfigError(f"no {LOOKS_FOR} in {data_dir}")
    inputs = [root] if root.is_file() else [root / n for n in BATCHES[split]
                                            if (root / n).exists()]
    key = (str(root.resolve()), files_key(inputs), split, code_hash(__name__))
    x, y = cached(f"{NAME}-{split}", key, lambda: build(root, split))
    return Dataset(name=SOURCE.split_name(split), x=x, y=y, classes=len(CLASSES),
                   class_names=CLASSES)


SOURCE = DatasetSource(
    name=NAME,
    title="CIFAR-10 (3 x 32 x 32, [0, 1]), from your copy of the python archive",
    task=Task.CLASSIFICATION, classes=len(CLASSES), sample_shape=(3, 32, 32),
    splits={"test": 10000, "train": 50000}, origin=Origin.ARCHIVE,
    source=f"{TARBALL} ({FOLDER}/test_batch, data_batch_1..5), or the folder",
    licence="none stated",
    licence_source="CIFAR-10 page (cs.toronto.edu/~kriz/cifar.html): no licence, asks for a "
    "citation of Krizhevsky 2009",
    loader=load, availability=archive_status(NAME, LOOKS_FOR, find), looks_for=LOOKS_FOR,
    class_names=CLASSES)

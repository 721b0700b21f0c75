"""Built datasets kept as arrays, so the second load is a file read.

A dataset built from a package (UCI-HAR windows from the raw recordings) or
from the user's archive (MFCCs of thousands of wav files) takes seconds to
minutes; its arrays are saved under ``dataset_cache_root()`` keyed by
everything the build depends on (the source's version or files, and the
builder's own code), so a changed input or builder builds anew.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from harness.paths import dataset_cache_root

Arrays = tuple[np.ndarray, np.ndarray]


def code_hash(*modules: str) -> str:
    """sha256 of the source files of ``modules`` (their ``__file__``): a
    change to a builder invalidates what it built."""
    import sys

    h = hashlib.sha256()
    for name in modules:
        h.update(Path(sys.modules[name].__file__ or "").read_bytes())
    return h.hexdigest()


def files_key(paths: Iterable[Path]) -> str:
    """A cheap fingerprint of input files: path, size and modification time
    (hashing gigabytes of audio on every load would cost more than the build)."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cached(name: str, key: Iterable[str], build: Callable[[], Arrays],
           root: Path | None = None) -> Arrays:
    """``build()``'s (x, y), read from the cache when ``key`` matches.

    Written atomically (a temporary file renamed), so parallel test workers
    or two bench processes never read half a file. A cache that cannot be
    written is skipped: the arrays are still returned.
    """
    digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:24]
    folder = root or dataset_cache_root()
    path = folder / f"{name}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["x"], f["y"]
        except (OSError, ValueError, KeyError):
            pass  # damaged: build again and replace it
    x, y = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, x=x, y=y)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only checkout: no cache, same arrays
    return x, y

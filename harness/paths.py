"""Where the project's own files live (the package runs from a checkout),
and where builds go."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
RESULTS = ROOT / "results"
DEFAULT_DB = RESULTS / "bench.db"
BUILD_DIR_VAR = "BENCH_BUILD_DIR"
DATA_DIR_VAR = "BENCH_DATA"  # where the user's dataset archives are (--data-dir)
DATA_CACHE_VAR = "BENCH_DATA_CACHE"


def build_root() -> Path:
    """Firmware build directories: ``$BENCH_BUILD_DIR``, else build/ in the checkout."""
    return Path(os.environ.get(BUILD_DIR_VAR) or ROOT / "build")


def data_dir_from_env() -> Path | None:
    """The user's dataset archives: ``$BENCH_DATA`` when set (``--data-dir`` wins)."""
    value = os.environ.get(DATA_DIR_VAR)
    return Path(value) if value else None


def dataset_cache_root() -> Path:
    """Datasets built from packages or archives, as arrays:
    ``$BENCH_DATA_CACHE``, else results/cache/datasets in the checkout."""
    return Path(os.environ.get(DATA_CACHE_VAR) or RESULTS / "cache" / "datasets")


MODEL_CACHE_VAR = "BENCH_MODEL_CACHE"


def model_cache_root() -> Path:
    """Trained example weights (harness/train.py): ``$BENCH_MODEL_CACHE``, else
    ``$XDG_CACHE_HOME/bench/models``, else ``~/.cache/bench/models``."""
    value = os.environ.get(MODEL_CACHE_VAR)
    if value:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bench" / "models"


def output_dir(path: Path, what: str) -> Path:
    """``path`` made (with its parents) as a directory bench can write in;
    ConfigError naming ``what`` it is for when it cannot be."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a directory: give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {what} {path}: {e.strerror or e}") from e
    if not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write {what} in {path}: it is read-only")
    return path


def output_file(path: Path, what: str) -> Path:
    """``path`` checked as a file bench may write (not a directory, in a
    folder that exists or can be made); writing it may still fail, which the
    caller reports with ``write_failed``."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory: give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot write {what} {path}: {e.strerror or e}") from e
    return path


def write_failed(path: Path, what: str, e: OSError) -> ConfigError:
    """The one line for a write that failed (read-only place, full disk)."""
    return ConfigError(f"cannot write {what} {path}: {e.strerror or e}")

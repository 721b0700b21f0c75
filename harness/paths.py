"""Where the project's own files live (the package runs from a checkout),
and where builds go."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
RESULTS = ROOT / "results"
DEFAULT_DB = RESULTS / "bench.db"
BUILD_DIR_VAR = "BENCH_BUILD_DIR"


def build_root() -> Path:
    """Firmware build directories: ``$BENCH_BUILD_DIR``, else build/ in the checkout."""
    return Path(os.environ.get(BUILD_DIR_VAR) or ROOT / "build")

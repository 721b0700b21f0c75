"""Where the project's own files live (the package runs from a checkout)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
RESULTS = ROOT / "results"
BUILD = ROOT / "build"
DEFAULT_DB = RESULTS / "bench.db"

"""``bench doctor``'s rows: what is installed, what is missing, how to get it.

Each part that needs something from outside bench (a backend its emulator,
an engine its peer package, a meter its vendor library) says so itself by
returning ``Check`` rows; harness/doctor.py collects them from the
registries.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # the version found, or how to get it
    required: bool = True


def package(name: str, required: bool = True, hint: str = "") -> Check:
    """A Python distribution, by its installed metadata (nothing is imported)."""
    try:
        return Check(f"python: {name}", True, importlib.metadata.version(name), required)
    except importlib.metadata.PackageNotFoundError:
        return Check(f"python: {name}", False, hint or f"pip install {name} (or 'make setup')",
                     required)


def output(cmd: list[str], timeout_s: float = 10.0) -> str:
    """What a command prints (stdout, else stderr), or "" when it cannot run."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (p.stdout or p.stderr).strip()

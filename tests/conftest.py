"""Shared fixtures: small models and datasets written the way users write them,
and a session-wide build directory."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.paths import BUILD_DIR_VAR

TINY_MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    def tiny():
        torch.manual_seed(0)
        m = nn.Sequential(
            nn.Conv1d(3, 4, 5, stride=2), nn.BatchNorm1d(4), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3))
        m.input_shape = (3, 32)
        return m.eval()
""")


@pytest.fixture(scope="session", autouse=True)
def session_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Builds go to a directory of this session, never the checkout's build/.

    Set in the environment, so bench subprocesses use it too. Builds with the
    same inputs are reused by build id, so it is also a cache across tests.
    Each xdist worker has its own (two processes never build into one
    directory at once); the QEMU plugin, built atomically, is shared.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    build = base / "build"
    build.mkdir(exist_ok=True)
    plugin = shared / "qemu-plugin"
    plugin.mkdir(exist_ok=True)
    if not (build / "qemu-plugin").exists():
        (build / "qemu-plugin").symlink_to(plugin, target_is_directory=True)
    old = os.environ.get(BUILD_DIR_VAR)
    os.environ[BUILD_DIR_VAR] = str(build)
    yield build
    if old is None:
        os.environ.pop(BUILD_DIR_VAR, None)
    else:
        os.environ[BUILD_DIR_VAR] = old


@pytest.fixture
def tiny_model(tmp_path: Path) -> str:
    path = tmp_path / "tiny.py"
    path.write_text(TINY_MODEL)
    return f"{path}:tiny"


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.normal(size=(40, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=40))
    return path

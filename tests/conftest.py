"""Shared fixtures: small models and datasets written the way users write them,
a session-wide build directory, and the command line called in-process."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.paths import BUILD_DIR_VAR, DATA_CACHE_VAR, MODEL_CACHE_VAR

# One torch thread per test process (and the bench processes tests start), set
# before torch is imported: the models here are tiny, and two workers each
# spinning two OpenMP threads on two cores made torch work several times
# slower (the demo's training: 13 s with one thread, 57 s with two, on a
# loaded machine). Set OMP_NUM_THREADS yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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

# Modules whose tests share an expensive module-scoped fixture (a store of
# measured runs, a sweep): under xdist one worker runs each of them whole, so
# the fixture is made once. Every other test is scheduled on its own.
ONE_WORKER = {"test_report.py", "test_report_sweep.py", "test_fpga_synth.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's load scheduling, except that each ONE_WORKER module is one unit
    of work. (xdist's own loadgroup does this by a mark, but it rewrites node
    ids, which pytest 9.2 no longer lets it do: pytest-xdist issue 1386.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if Path(module).name in ONE_WORKER else nodeid

    return Scheduler(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first (the order is otherwise kept): under xdist a
    long test started last leaves the other workers idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory of this session that every xdist worker shares."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def _environ(name: str, value: Path) -> Iterator[None]:
    """``name`` set to ``value`` for bench and its subprocesses, then restored."""
    old = os.environ.get(name)
    os.environ[name] = str(value)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


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
    verilator = shared / "verilator"  # Verilator builds: locked, shared by the workers
    verilator.mkdir(exist_ok=True)
    if not (build / "verilator").exists():
        (build / "verilator").symlink_to(verilator, target_is_directory=True)
    with _environ(BUILD_DIR_VAR, build):
        yield build


@pytest.fixture(scope="session", autouse=True)
def session_dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Datasets built from packages or archives are cached in a directory of
    this session (shared by the xdist workers: the cache writes atomically),
    never the checkout's results/."""
    cache = _shared_dir(tmp_path_factory, "datasets")
    with _environ(DATA_CACHE_VAR, cache):
        yield cache


@pytest.fixture(scope="session", autouse=True)
def session_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Trained example weights (harness/train.py) go to a directory of this
    session shared by the xdist workers, never the user's cache: a test that
    trains an example pays for it once per session, and only then."""
    cache = _shared_dir(tmp_path_factory, "models")
    with _environ(MODEL_CACHE_VAR, cache):
        yield cache


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


# -- the command line, in-process ---------------------------------------------------

# The warning filters a fresh `python -m harness.cli` has: the interpreter's
# and the libraries' imported so far, less the two pytest adds while it loads
# this file (DeprecationWarnings "always", which a process ignores). An
# in-process call shows the warnings a process would, as stderr lines.
PROCESS_WARNING_FILTERS = [
    f for f in warnings.filters
    if not (f[0] == "always" and f[2] in (DeprecationWarning, PendingDeprecationWarning)
            and f[1] is None and f[3] is None)]


def _pattern(field: object) -> str:
    """A warning filter's message or module as filterwarnings takes it."""
    return str(getattr(field, "pattern", field or ""))


Bench = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def bench_main(capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """``bench_main(*args, env=None, cwd=None)``: ``harness.cli.main(args)``
    in this process, returned as a CompletedProcess (returncode, stdout,
    stderr) -- what ``python -m harness.cli *args`` gives, without a torch
    import per call.

    As in a fresh process: the interpreter's own warning filters (a warning
    is a line on stderr, not a pytest record), log records nobody handles
    printed to stderr, argparse's exit taken as the exit code, and ``env``
    (a whole environment) and ``cwd`` applied for the call only. Any other
    exception escapes: the traceback a process would print fails the test.
    """
    from harness.cli import main

    def call(*args: str, env: dict[str, str] | None = None,
             cwd: Path | str | None = None) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        capfd.readouterr()  # what came before is not this call's output
        with monkeypatch.context() as mp, warnings.catch_warnings(record=True) as shown:
            if env is not None:
                for key in set(os.environ) - set(env):
                    mp.delenv(key)
                for key, value in env.items():
                    mp.setenv(key, value)
            if cwd is not None:
                mp.chdir(cwd)
            warnings.resetwarnings()
            for action, message, category, module, lineno in reversed(
                    PROCESS_WARNING_FILTERS):
                warnings.filterwarnings(action, _pattern(message), category, _pattern(module),
                                        lineno)
            # A record no handler takes goes to stderr (logging's last resort).
            last_resort = logging.lastResort
            if last_resort is not None:
                logging.getLogger().addHandler(last_resort)
            try:
                code = main(argv)
            except SystemExit as e:  # argparse: --help, usage errors
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            finally:
                if last_resort is not None:
                    logging.getLogger().removeHandler(last_resort)
                for w in shown:  # as the default showwarning prints them
                    sys.stderr.write(warnings.formatwarning(w.message, w.category, w.filename,
                                                            w.lineno, w.line))
                sys.stdout.flush()
                sys.stderr.flush()
        out, err = capfd.readouterr()
        return subprocess.CompletedProcess(["bench", *argv], code, out, err)

    return call

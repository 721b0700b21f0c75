"""Bad input: one clear line on stderr, a non-zero exit, nothing stored lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import emulator_test

from harness.store.schema import RunRecord
from harness.store.store import Store

BENCH = [sys.executable, "-m", "harness.cli"]
needs_tools = emulator_test  # QEMU and arm-none-eabi-gcc (make setup)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode != 0, p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: "), lines[0]
    return lines[0]


Fails = Callable[..., str]


@pytest.fixture
def fails(bench_main: Bench) -> Fails:
    """``fails(*args, env=None)``: bench run in-process must fail with one
    error line; returns the line."""
    return lambda *args, env=None: one_error_line(bench_main(*args, env=env))


def fails_in_a_process(*args: str, env: dict | None = None) -> str:
    """The same as a real ``python -m harness.cli`` process: no traceback
    escapes, whatever the process imports first."""
    p = subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=600, env=env)
    return one_error_line(p)


def run_args(model: str, data: str, *extra: str) -> list[str]:
    return ["run", "--board", "stm32l452", "--model", model, "--dataset", data, *extra]


def test_unknown_board(fails: Fails, tiny_model: str, tiny_data: Path) -> None:
    msg = fails("run", "--board", "stm32f999", "--model", tiny_model, "--dataset",
                str(tiny_data))
    assert "unknown board 'stm32f999'" in msg and "stm32l452" in msg


def test_unknown_backend(fails: Fails, tiny_model: str, tiny_data: Path) -> None:
    msg = fails(*run_args(tiny_model, str(tiny_data), "--backend", "bochs"))
    assert "unknown backend 'bochs'" in msg and "qemu" in msg


def test_missing_model_file(fails: Fails, tiny_data: Path, tmp_path: Path) -> None:
    msg = fails(*run_args(f"{tmp_path}/nope.py:net", str(tiny_data)))
    assert "nope.py" in msg


def test_missing_factory(fails: Fails, tiny_model: str, tiny_data: Path) -> None:
    path = tiny_model.split(":")[0]
    msg = fails(*run_args(f"{path}:nothing_here", str(tiny_data)))
    assert "nothing_here" in msg


@pytest.mark.slow  # a fresh process imports torch
def test_unsupported_layer(tmp_path: Path, tiny_data: Path) -> None:
    src = tmp_path / "gru.py"
    src.write_text(textwrap.dedent("""
        from torch import nn
        def net():
            m = nn.Sequential(nn.Conv1d(3, 4, 3), nn.Sigmoid(), nn.Flatten(),
                              nn.Linear(120, 3))
            m.input_shape = (3, 32)
            return m
    """))
    # In a real process: an error from deep inside torch.export, and no traceback.
    msg = fails_in_a_process(*run_args(f"{src}:net", str(tiny_data)))
    assert "igmoid" in msg and "layer 2" in msg


def test_dataset_shape_mismatch(fails: Fails, tiny_model: str, tmp_path: Path) -> None:
    path = tmp_path / "wrong.npz"
    np.savez(path, x=np.zeros((4, 6, 128), np.float32), y=np.zeros(4, np.int64))
    msg = fails(*run_args(tiny_model, str(path)))
    assert "(6, 128)" in msg and "(3, 32)" in msg


def test_npz_without_y(fails: Fails, tiny_model: str, tmp_path: Path) -> None:
    path = tmp_path / "noy.npz"
    np.savez(path, x=np.zeros((4, 3, 32), np.float32), labels=np.zeros(4))
    msg = fails(*run_args(tiny_model, str(path)))
    assert "lacks array(s) y" in msg


def test_unknown_dataset(fails: Fails, tiny_model: str) -> None:
    assert "unknown dataset 'imagenet'" in fails(*run_args(tiny_model, "imagenet"))


@needs_tools
def test_model_too_large_for_flash(fails: Fails, tmp_path: Path, tiny_data: Path) -> None:
    src = tmp_path / "big.py"
    src.write_text(textwrap.dedent("""
        from torch import nn
        def big():
            m = nn.Sequential(nn.Flatten(), nn.Linear(96, 1600), nn.ReLU(),
                              nn.Linear(1600, 3))
            m.input_shape = (3, 32)
            return m
    """).replace("nn.Linear(1600, 3)", "nn.Linear(1600, 160), nn.Linear(160, 3)"))
    # 96x1600 + 1600x160 floats = 1.6 MB of weights: three times the 512 KB flash.
    msg = fails(*run_args(f"{src}:big", str(tiny_data)))
    assert "does not fit stm32l452" in msg and "FLASH by" in msg


def env_with_only(tmp_path: Path, *tools: str) -> dict:
    """The environment with a PATH that holds just ``tools``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in tools:
        (bindir / tool).symlink_to(shutil.which(tool))
    return {**os.environ, "PATH": str(bindir)}


@needs_tools
def test_missing_qemu_says_how_to_install(tiny_model: str, tiny_data: Path,
                                          tmp_path: Path) -> None:
    env = env_with_only(tmp_path, "arm-none-eabi-gcc", "git")
    msg = fails_in_a_process(*run_args(tiny_model, str(tiny_data), "--db",
                                       str(tmp_path / "r.db")), env=env)
    assert "qemu-system-arm not found" in msg and "make setup" in msg


@needs_tools
def test_missing_compiler_says_how_to_install(fails: Fails, tiny_model: str, tiny_data: Path,
                                              tmp_path: Path) -> None:
    env = env_with_only(tmp_path, "qemu-system-arm")
    msg = fails(*run_args(tiny_model, str(tiny_data), "--db", str(tmp_path / "r.db")), env=env)
    assert "arm-none-eabi-gcc not found" in msg and "apt-get install gcc-arm-none-eabi" in msg


def test_unreadable_database_loses_nothing(fails: Fails, tiny_model: str, tiny_data: Path,
                                           tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Store(db) as store:
        run_id = store.create_run(RunRecord(board="stm32l452", backend="qemu", engine="native",
                                  dtype="float32", model="m", model_hash="h", dataset="d",
                                  dataset_hash="h", samples_planned=1))
    before = db.read_bytes()
    bad = tmp_path / "dir.db"
    bad.mkdir()
    msg = fails(*run_args(tiny_model, str(tiny_data), "--db", str(bad)))
    assert "cannot open results database" in msg
    assert db.read_bytes() == before
    with Store(db) as store:
        assert store.run_ids() == [run_id]


def test_resume_unknown_run(fails: Fails, tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    msg = fails(*run_args(tiny_model, str(tiny_data), "--resume", "42", "--db",
                          str(tmp_path / "r.db")))
    assert "no run 42" in msg


def test_export_unknown_run(fails: Fails, tmp_path: Path) -> None:
    Store(tmp_path / "r.db").close()
    assert "no run 9" in fails("export", "9", "-o", str(tmp_path / "o.npz"), "--db",
                               str(tmp_path / "r.db"))


@needs_tools
def test_int8_activation_overflow_names_the_layer(fails: Fails, tmp_path: Path,
                                                  tiny_data: Path) -> None:
    src = tmp_path / "wild.py"
    src.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        def wild():
            torch.manual_seed(0)
            m = nn.Sequential(nn.Flatten(), nn.Linear(96, 8), nn.ReLU(), nn.Linear(8, 3))
            with torch.no_grad():
                m[3].bias.fill_(1e12)  # logits far beyond what the accumulator can hold
            m.input_shape = (3, 32)
            return m.eval()
    """))
    msg = fails(*run_args(f"{src}:wild", str(tiny_data), "--dtype", "int8", "--quant", "pot"))
    assert "layer '3'" in msg and "overflow" in msg and "int8" in msg


@needs_tools
def test_calibration_set_of_the_wrong_shape(fails: Fails, tiny_model: str, tiny_data: Path,
                                            tmp_path: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros((8, 3, 16), dtype=np.float32), y=np.zeros(8, dtype=np.int64))
    msg = fails(*run_args(tiny_model, str(tiny_data), "--dtype", "int8",
                          "--calibration-data", str(other)))
    assert "calibration set" in msg and "(3, 16)" in msg


def test_quantization_options_that_do_not_apply(fails: Fails, tiny_model: str,
                                                tiny_data: Path) -> None:
    assert "affine" in fails(*run_args(tiny_model, str(tiny_data), "--dtype", "int16",
                                       "--quant", "affine"))
    assert "float32" in fails(*run_args(tiny_model, str(tiny_data), "--quant", "pot"))
    assert "--dataset" in fails("build", "--board", "stm32l452", "--model", tiny_model,
                                "--dtype", "int8")


@needs_tools
def test_int8_model_too_large_for_flash(fails: Fails, tmp_path: Path, tiny_data: Path) -> None:
    src = tmp_path / "big8.py"
    src.write_text(textwrap.dedent("""
        from torch import nn
        def big8():
            m = nn.Sequential(nn.Flatten(), nn.Linear(96, 6000), nn.ReLU(), nn.Linear(6000, 3))
            m.input_shape = (3, 32)
            return m.eval()
    """))
    # 96 x 6000 int8 weights + 6000 int32 biases: 600 KB, beyond the 512 KB of flash.
    msg = fails(*run_args(f"{src}:big8", str(tiny_data), "--dtype", "int8", "--quant", "pot",
                          "--calibrate", "8"))
    assert "does not fit stm32l452" in msg and "FLASH by" in msg


AUTOENCODER = textwrap.dedent("""
    import torch
    from torch import nn

    def ae():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(640, 8), nn.ReLU(), nn.Linear(8, 640))
        m.input_shape = (640,)
        return m.eval()

    def digits_ae():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Flatten(), nn.Linear(64, 64))
        m.input_shape = (1, 8, 8)
        return m.eval()
""")


def test_task_the_model_cannot_serve(fails: Fails, tmp_path: Path) -> None:
    """The issue's case: 640 outputs for a 10-class set; and an autoencoder
    on a registry classification set."""
    (tmp_path / "ae.py").write_text(AUTOENCODER)
    data = tmp_path / "ten.npz"
    np.savez(data, x=np.zeros((10, 640), np.float32), y=np.arange(10))
    msg = fails(*run_args(f"{tmp_path / 'ae.py'}:ae", str(data)))
    assert "ten.npz is a 10-class classification set but the model has 640 outputs" in msg
    assert "task='anomaly'" in msg
    msg = fails(*run_args(f"{tmp_path / 'ae.py'}:digits_ae", "digits"))
    assert "dataset digits is a 10-class classification set but the model has 64" in msg

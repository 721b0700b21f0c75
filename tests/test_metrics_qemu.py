"""Task metrics end to end on the emulated STM32L452: an anomaly and a
regression run stream real device outputs into a real store, and the
stored metric equals the one recomputed here from those outputs and the
dataset (scikit-learn's AUC, numpy's MSE/PSNR)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from hostc import needs_emulator
from sklearn.metrics import roc_auc_score

from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import Store

pytestmark = needs_emulator

MODELS = textwrap.dedent("""
    import torch
    from torch import nn

    def ae():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16))
        m.input_shape = (16,)
        return m.eval()

    def denoise():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
        m.input_shape = (1, 4, 4)
        return m.eval()
""")


@pytest.fixture
def models(tmp_path: Path) -> Path:
    (tmp_path / "m.py").write_text(MODELS)
    return tmp_path / "m.py"


def test_anomaly_auc_from_device_outputs(models: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    x = (rng.random((16, 16)) * (1 + 2 * labels[:, None])).astype(np.float32)
    np.savez(tmp_path / "ad.npz", x=x, y=labels, task="anomaly")
    s = run(RunRequest("stm32l452", "qemu", f"{models}:ae", str(tmp_path / "ad.npz")),
            tmp_path / "r.db")
    assert s.task == "anomaly" and s.metric == "AUC" and s.accuracy is None
    with Store(tmp_path / "r.db") as st:
        samples = st.samples(s.run_id)
    outputs = np.stack([smp.output for smp in samples])
    errors = np.mean((outputs.astype(np.float64) - x) ** 2, axis=1)
    assert s.auc == pytest.approx(roc_auc_score(labels, errors), abs=1e-12)
    assert s.auc > 0.5  # the scaled samples reconstruct worse
    assert [smp.predicted for smp in samples] == [-1] * 16


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_regression_psnr_from_device_outputs(models: Path, tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(1)
    clean = rng.random((10, 1, 4, 4)).astype(np.float32)
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    np.savez(tmp_path / "den.npz", x=noisy, y=clean)
    quant = QuantRequest(samples=10) if dtype == "int8" else QuantRequest()
    s = run(RunRequest("stm32l452", "qemu", f"{models}:denoise", str(tmp_path / "den.npz"),
                       dtype=dtype, quant=quant), tmp_path / "r.db")
    assert s.task == "regression" and s.metric == "PSNR" and s.psnr_peak == 1.0
    with Store(tmp_path / "r.db") as st:
        outputs = np.stack([smp.output for smp in st.samples(s.run_id)]).astype(np.float64)
    mse = np.mean((outputs.reshape(10, -1) - clean.reshape(10, -1)) ** 2, axis=1)
    assert s.mse == pytest.approx(float(mse.mean()), rel=1e-9)
    assert s.psnr_db == pytest.approx(float(np.mean(10 * np.log10(1 / mse))), rel=1e-9)
    if dtype == "int8":  # scored on the dequantized outputs, bit-exact with the reference
        assert s.max_abs_error == 0.0

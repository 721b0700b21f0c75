"""The four MLPerf Tiny reference architectures in examples/ on the emulated
STM32L452 with bench's engine: each imports, builds and runs two samples;
int8 outputs equal the integer reference bit for bit. ResNet-8 int8 is
checked in test_kernels_qemu.py. In float32 only DS-CNN fits the part: the
others' weights or activations exceed its flash or RAM, and the build says
so in one line (measured sizes in README "MLPerf Tiny models")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hostc import needs_emulator

from harness.errors import BenchError
from harness.paths import ROOT
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import RunSummary

pytestmark = [*needs_emulator, pytest.mark.slow]
EXAMPLES = ROOT / "examples"
SRAM1 = 96 * 1024  # the emulated layout's SRAM1, where .data + .bss live


def _npz(path: Path, shape: tuple[int, ...], classes: int, task: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((2, *shape)).astype(np.float32)
    y = np.array([0, 1]) if task else rng.integers(0, classes, 2)
    np.savez(path, x=x, y=y, **({"task": task} if task else {}))
    return path


def _run(spec: str, data: Path, dtype: str, db: Path) -> RunSummary:
    quant = QuantRequest(samples=2) if dtype != "float32" else QuantRequest()
    return run(RunRequest("stm32l452", "qemu", f"{EXAMPLES / spec}", str(data), dtype=dtype,
                          quant=quant), db)


@pytest.mark.parametrize("spec, shape, classes, task, dtypes", [
    ("ds_cnn.py:ds_cnn", (1, 49, 10), 12, None, ("float32", "int8")),
    ("mobilenet_v1.py:mobilenet_v1", (3, 96, 96), 2, None, ("int8",)),
    ("fc_autoencoder.py:fc_autoencoder", (640,), 0, "anomaly", ("int8",)),
])
def test_mlperf_model_runs(spec: str, shape: tuple[int, ...], classes: int, task: str | None,
                           dtypes: tuple[str, ...], tmp_path: Path) -> None:
    data = _npz(tmp_path / "d.npz", shape, classes, task)
    for dtype in dtypes:
        s = _run(spec, data, dtype, tmp_path / "r.db")
        assert s.status == "complete" and s.samples == 2
        assert s.count_kind == "instructions" and s.count_per_inference > 100_000
        assert s.ram_bytes is not None and s.ram_bytes <= SRAM1
        if dtype == "int8":
            assert s.max_abs_error == 0.0  # bit-exact with the integer reference
        else:
            assert s.max_abs_error < 1e-4
        assert s.metric == ("AUC" if task else "top-1")


@pytest.mark.parametrize("spec, shape, memory", [
    ("resnet8.py:resnet8", (3, 32, 32), "SRAM1"),
    ("mobilenet_v1.py:mobilenet_v1", (3, 96, 96), "FLASH"),
    ("fc_autoencoder.py:fc_autoencoder", (640,), "FLASH"),
])
def test_float32_that_does_not_fit_is_one_line(spec: str, shape: tuple[int, ...], memory: str,
                                               tmp_path: Path) -> None:
    data = _npz(tmp_path / "d.npz", shape, 2, "anomaly" if shape == (640,) else None)
    with pytest.raises(BenchError, match=rf"^model does not fit stm32l452 .*{memory} by "
                       r"[\d,]+ bytes"):
        _run(spec, data, "float32", tmp_path / "r.db")

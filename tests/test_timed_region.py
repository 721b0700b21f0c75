"""The timed region holds the inference and nothing else: no idle tick, no
UART interrupt.

On QEMU the STM32L452 firmware times with SysTick (DWT reads 0 there); on
silicon and Renode it takes the DWT path, where the 10 kHz idle tick used
to keep firing inside the timed region (+2,354 instructions per float32
inference on Renode). The test builds the firmware a second time with
BENCH_TEST_ASSUME_DWT, which makes QEMU take the DWT path, and compares
the exact instruction counts of bench's QEMU plugin between the region's
marks: an inference is the same instructions on both paths, so any handler
run inside the region shows as a difference. The model runs long enough
(several 100 us ticks of virtual time) for a running tick to be caught.

Real arm-none-eabi-gcc, real QEMU with bench's TCG plugin.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.backends import get_backend, get_board
from harness.backends.qemu_plugin import SOURCE_NAME
from harness.build.build import build
from harness.engines import get_engine
from harness.model.load import load_graph
from harness.run.target import DeviceTarget

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not installed (make setup)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc not installed (make setup)"),
]

# One 100 us idle tick is 100,000 instructions under -icount shift=0; this
# model takes about 2M, so a tick left running lands in it about 20 times.
MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    def conv():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Conv1d(8, 32, 9, padding=4), nn.ReLU(),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, 3))
        m.input_shape = (8, 128)
        return m.eval()
""")
TICK_INSNS = 100_000


def _counts(fw_dir: Path, graph: object, x: np.ndarray, cflags: tuple[str, ...]) -> list[int]:
    board, backend = get_board("stm32l452"), get_backend("qemu")
    fw = build(board, graph, get_engine("native"), "float32", fw_dir, link="uart",
               extra_cflags=cflags)
    counts = []
    with DeviceTarget(backend, board, fw) as t:
        t.start()
        assert t.link is not None and t.session is not None
        assert t.session.count_source == SOURCE_NAME
        for xi in x:
            t.link.infer(fw.encode_input(xi))
            exact = t.session.last_count()
            assert exact is not None
            counts.append(exact.total)
    return counts


def test_no_idle_tick_inside_the_timed_region(tmp_path: Path) -> None:
    model = tmp_path / "conv.py"
    model.write_text(MODEL)
    graph = load_graph(f"{model}:conv")
    x = np.random.default_rng(0).normal(size=(2, 8, 128)).astype(np.float32)
    systick_path = _counts(tmp_path / "systick", graph, x, ())
    dwt_path = _counts(tmp_path / "dwt", graph, x, ("-DBENCH_TEST_ASSUME_DWT",))
    assert min(systick_path) > 5 * TICK_INSNS, systick_path  # long enough to catch a tick
    assert dwt_path == systick_path

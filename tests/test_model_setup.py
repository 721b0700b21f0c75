"""The runtime's set-up hook on the emulated STM32L452 (real firmware, real
QEMU): a model's bench_model_setup() runs once at boot, outside every timed
region and below the stack high-water mark; the handshake carries the
arena bench_model_arena_bytes() reports, and a failed set-up makes every
inference an error instead of running an unprepared model. TFLM's glue
relies on all three (harness/engines/tflm/firmware.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.backends import get_backend, get_board
from harness.build.build import build
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.errors import ProtocolError
from harness.kinds import DType
from harness.model.ir import Graph
from harness.model.load import load_graph
from harness.quant import QuantConfig
from harness.run.target import DeviceTarget

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None
                                 or shutil.which("qemu-system-arm") is None,
                                 reason="arm-none-eabi-gcc and qemu-system-arm needed")]

SETUP_STACK = 3000  # bytes the set-up touches: more than an inference's whole stack

MODEL_C = """
#include <string.h>
#include "bench_model.h"
static volatile uint32_t sink;
static uint32_t ready;
int32_t bench_model_setup(void)
{
    volatile uint8_t big[%(stack)d];
    for (uint32_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)i;
    }
    for (uint32_t i = 0; i < 20000u; i++) {
        sink += i;
    }
    ready = 1u;
    return %(status)d;
}
uint32_t bench_model_arena_bytes(void)
{
    return 1234u;
}
int32_t bench_model_run(const void *in, void *out)
{
    float x;
    memcpy(&x, in, 4);
    x = x * 2.0f + (float)ready;
    memcpy(out, &x, 4);
    return 0;
}
"""


class SetupEngine(Engine):
    name = "native"
    capabilities = Capabilities(dtypes=(DType.FLOAT32,))

    def __init__(self, status: int) -> None:
        self.status = status

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        info = model_info_c(ModelInfo(engine="setup", input_bytes=4, output_bytes=4,
                                      arena_bytes=0, input_dtype=DType.FLOAT32,
                                      output_dtype=DType.FLOAT32, model_hash=model_hash))
        (out_dir / "model.c").write_text(
            MODEL_C % {"stack": SETUP_STACK, "status": self.status} + info)
        return GeneratedModel(sources=(out_dir / "model.c",), include_dirs=(), input_bytes=4,
                              output_bytes=4, arena_bytes=0, input_dtype=DType.FLOAT32,
                              output_dtype=DType.FLOAT32)


def _target(status: int, tiny_model: str, out: Path) -> DeviceTarget:
    board = get_board("stm32l452")
    fw = build(board, load_graph(tiny_model), SetupEngine(status), "float32", out)
    return DeviceTarget(get_backend("qemu"), board, fw)


def test_setup_runs_at_boot_outside_the_timed_region(tiny_model: str, tmp_path: Path) -> None:
    with _target(0, tiny_model, tmp_path / "fw") as t:
        t.start()
        assert t.info is not None and t.info.arena_bytes == 1234
        assert t.arena_bytes() == 1234  # what the run stores
        first, second = (t.infer(np.array([1.5], dtype=np.float32), i) for i in range(2))
    assert first.output[0] == second.output[0] == 4.0  # 1.5 * 2 + ready
    assert first.count is not None and second.count is not None
    # The set-up's 20,000-iteration loop is in neither sample's count.
    assert first.count.value == second.count.value < 1000
    # Nor its stack in the high-water mark.
    assert first.stack_bytes is not None and 0 < first.stack_bytes < SETUP_STACK


def test_a_failed_setup_fails_every_inference(tiny_model: str, tmp_path: Path) -> None:
    with _target(-1, tiny_model, tmp_path / "fw") as t:
        t.start()
        for i in range(2):
            with pytest.raises(ProtocolError, match="model failed"):
                t.infer(np.array([1.5], dtype=np.float32), i)

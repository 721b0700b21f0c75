"""The float32 kernels' Cortex-M4F paths (fused multiply-add tiles, the
width/stride-specialised 1-D convolutions) on the emulated STM32L452 against
PyTorch, and the HAR CNN's instruction count under a ceiling.

The host tests (test_native_f32.py) run the same C without VFMA; here the
firmware is built by the real arm-none-eabi-gcc and run on QEMU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from hostc import needs_emulator

from harness.backends import resolve_board_backend
from harness.build.build import build_for
from harness.engines import get_engine
from harness.model.load import load_model
from harness.model.lower import import_graph
from harness.run.target import DeviceTarget

pytestmark = needs_emulator

HERE = Path(__file__).resolve().parent
ZOO = HERE / "model_zoo.py"
EXAMPLES = HERE.parent / "examples"
# Qualia's generated float32 C for the HAR CNN runs 1,203,013 instructions per
# inference on this board (benchmarks/engines_m4.py); issue 17 asks for at
# most 0.8x. bench's tiles run about 482,000: the ceiling leaves room for
# compiler noise, not for losing the tiles (the plain loops ran 1,537,893).
HAR_CEILING = 600_000


def _device_outputs(spec: str, x: np.ndarray, tmp_path: Path) -> tuple[np.ndarray, list[int]]:
    module, shape = load_model(spec)
    graph = import_graph(module, shape)
    board, backend = resolve_board_backend("stm32l452", "qemu")
    fw = build_for(board, graph, get_engine("native"), "float32", backend.link,
                   out_dir=tmp_path / "fw")
    outs, counts = [], []
    with DeviceTarget(backend, board, fw) as target:
        target.start()
        assert target.link is not None and target.session is not None
        for xi in x:
            raw = target.link.infer(fw.encode_input(xi)).output
            outs.append(np.frombuffer(raw, dtype="<f4"))
            exact = target.session.last_count()
            if exact is not None:
                counts.append(exact.total)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy().reshape(len(x), -1)
    got = np.stack(outs)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, atol=1e-4 * scale, rtol=0)
    return got, counts


def test_conv1d_tiles_match_pytorch_on_the_device(tmp_path: Path) -> None:
    spec = f"{ZOO}:conv1d_net"  # odd widths, depthwise and grouped, ReLU6: every tile shape
    module, shape = load_model(spec)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    _device_outputs(spec, x, tmp_path)


def test_har_cnn_float32_matches_pytorch_under_its_instruction_ceiling(tmp_path: Path) -> None:
    spec = f"{EXAMPLES / 'har_cnn.py'}:har_cnn_untrained"  # k5s2 then k3s1, ReLU, max pool
    x = np.random.default_rng(1).standard_normal((2, 9, 128)).astype(np.float32)
    _, counts = _device_outputs(spec, x, tmp_path)
    assert counts, "no exact instruction count (the QEMU plugin did not load)"
    assert all(c <= HAR_CEILING for c in counts), counts

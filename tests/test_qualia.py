"""The qualia engine: Qualia-CodeGen's C under our runtime on the emulated
STM32L452. Real qualia-codegen-core, real arm-none-eabi-gcc, real QEMU."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Bench
from elftools.elf.elffile import ELFFile
from hostc import emulator_test
from torch import nn

from harness.engines.qualia.convert import frac_bits, generate_qualia
from harness.engines.qualia.modules import build_module, check_module
from harness.errors import EngineError
from harness.model.load import load_model
from harness.model.lower import import_graph
from harness.model.reference import run_graph
from harness.paths import ROOT
from harness.quant import QuantConfig
from harness.quant.calibrate import calibrate
from harness.run.execute import execute
from harness.run.prepare import prepare
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import Store

pytest.importorskip("qualia_codegen_core")
needs_tools = emulator_test  # QEMU and arm-none-eabi-gcc (make setup)
HAR = f"{ROOT / 'examples' / 'har_cnn.py'}:har_cnn_untrained"
DIGITS = f"{ROOT / 'examples' / 'digits_cnn.py'}:digits_cnn_untrained"


def graph_of(spec: str):  # noqa: ANN201
    return import_graph(*load_model(spec))


def graph_from(module: nn.Module, shape: tuple[int, ...]):  # noqa: ANN201
    return import_graph(module.eval(), shape)


# --------------------------------------------------------------------------- host side


def test_frac_bits_follow_qualias_rule() -> None:
    # qualia-core Quantizer.fractional_bits: bits - 1 + maxWeight(max|x|),
    # maxWeight(m) = -(floor(log2 m) + 1), and -1 for m = 0.
    def qualia(bits: int, m: float) -> int:
        return bits - 1 + (-1 if m == 0 else -(math.floor(math.log2(m)) + 1))

    rng = np.random.default_rng(0)
    for bits in (8, 16):
        for m in [0.0, 1.0, 0.99, 2.0, 127.0, 1e-3, *rng.uniform(0, 50, 200)]:
            q = frac_bits(bits, float(m))
            assert q == qualia(bits, float(m)), (bits, m)
            if m > 0:  # the largest value lands in the top half of the integer range
                assert 2 ** (bits - 2) <= m * 2.0 ** q < 2 ** (bits - 1)
    assert frac_bits(8, 1.0) == 6 and frac_bits(8, 0.75) == 7 and frac_bits(16, 3.0) == 13


@pytest.mark.parametrize("spec", [HAR, DIGITS])
def test_rebuilt_module_matches_reference(spec: str) -> None:
    graph = graph_of(spec)
    module = build_module(graph)
    x = np.random.default_rng(3).normal(size=(8, *graph.input_shape)).astype(np.float32)
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy().reshape(8, -1)
    np.testing.assert_allclose(got, run_graph(graph, x), atol=1e-5, rtol=0)
    assert check_module(graph, module) < 1e-5
    # Qualia reads its input shape channels-last.
    assert module.input_shape == (*graph.input_shape[1:], graph.input_shape[0])


@pytest.mark.parametrize(("module", "shape", "words"), [
    (nn.Sequential(nn.Conv1d(3, 4, 3), nn.MaxPool1d(2), nn.ReLU6(), nn.Flatten(),
                   nn.Linear(60, 2)), (3, 32), ("relu6", "maxpool1d", "'2'")),
    (nn.Sequential(nn.Conv2d(1, 2, (3, 1)), nn.Flatten(), nn.Linear(72, 2)), (1, 8, 6),
     ("square", "(3, 1)")),
    (nn.Sequential(nn.Conv1d(3, 4, 3), nn.MaxPool1d(2, padding=1), nn.Flatten(),
                   nn.Linear(64, 2)), (3, 32), ("padding", "maxpool1d")),
])
def test_unsupported_layers_are_named(module: nn.Module, shape: tuple[int, ...],
                                      words: tuple[str, ...], tmp_path: Path) -> None:
    graph = graph_from(module, shape)
    with pytest.raises(EngineError) as err:
        generate_qualia(graph, tmp_path, b"\0" * 8, "float32")
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_int_builds_need_pot_ranges(tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    graph = graph_of(tiny_model)
    cal = calibrate(graph, np.load(tiny_data)["x"][:20])
    with pytest.raises(EngineError, match="power-of-two"):
        generate_qualia(graph, tmp_path, b"\0" * 8, "int8", QuantConfig("affine", cal))
    with pytest.raises(EngineError, match="calibration"):
        generate_qualia(graph, tmp_path, b"\0" * 8, "int8", None)


def test_accumulator_headroom_for_int16(tmp_path: Path) -> None:
    """Inputs near 4 (q 13) and weights near 0.1 (q 18) would put 31
    fractional bits in a 32-bit accumulator: the weight format is lowered."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(6, 8, 5), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 12, 3))
    with torch.no_grad():
        m[0].weight.mul_(0.1 / m[0].weight.abs().max())
    graph = graph_from(m, (6, 16))
    x = np.random.default_rng(0).normal(size=(64, 6, 16)).astype(np.float32)
    cal = calibrate(graph, x)
    build = generate_qualia(graph, tmp_path, b"\0" * 8, "int16", QuantConfig("pot", cal))
    conv = build.formats["l0"]
    q_in = build.input_quant.frac_bits if build.input_quant else None
    assert q_in is not None and conv["headroom_capped"]
    assert q_in + conv["weights"] <= 31 - 1  # room for the sum's integer part
    assert conv["weights"] < frac_bits(16, 0.1)


# --------------------------------------------------------------------------- on the board


def _elf_union_bytes(elf: Path) -> int:
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return sum(s["st_size"] for s in symtab.iter_symbols()
                   if s.name.startswith("activations"))


def _run(model: str, data: str, dtype: str, tmp_path: Path, limit: int = 10):  # noqa: ANN202
    p = prepare(RunRequest("stm32l452", "qemu", model, data, engine="qualia", dtype=dtype,
                           limit=limit, quant=QuantRequest(samples=40)))
    summary = execute(p, tmp_path / "r.db")
    with Store(tmp_path / "r.db") as store:
        outputs = np.stack([s.output for s in store.samples(summary.run_id)])
    return p, summary, outputs


@needs_tools
def test_float32_equals_reference_on_qemu(tiny_model: str, tiny_data: Path,
                                          tmp_path: Path) -> None:
    p, s, outputs = _run(tiny_model, str(tiny_data), "float32", tmp_path)
    assert s.status == "complete" and s.engine == "qualia" and s.samples == 10
    want = run_graph(p.graph, np.load(tiny_data)["x"][:10])
    np.testing.assert_allclose(outputs, want, atol=1e-4, rtol=0)
    assert s.max_abs_error is not None and s.max_abs_error < 1e-4
    assert s.count_kind == "instructions" and s.count_per_inference > 1000
    fw = p.fw
    assert fw.input_layout == "hwc" and fw.input_quant is None
    # arena_bytes is exactly what Qualia's allocator reserved: its static unions.
    assert fw.arena_bytes == _elf_union_bytes(fw.elf) > 0
    log = (fw.dir / "build.log").read_text()
    assert "warning:" not in log and "-Wextra" in log
    model_c = (fw.dir / "qualia" / "model.c").read_text()
    # One mark per Qualia layer function (the ReLU is fused into the conv).
    assert [la["op"] for la in fw.layers] == ["conv1d", "global_avgpool", "flatten", "linear"]
    assert model_c.count("BENCH_LAYER_MARK();") == len(fw.layers)
    assert [la["macs"] for la in fw.layers] == [840, 0, 0, 12]


@needs_tools
@pytest.mark.parametrize("dtype", ["int16", "int8"])
def test_integer_outputs_within_quantization_steps(dtype: str, tiny_model: str,
                                                   tiny_data: Path, tmp_path: Path) -> None:
    p, s, outputs = _run(tiny_model, str(tiny_data), dtype, tmp_path)
    fw = p.fw
    assert fw.input_quant is not None and fw.output_quant is not None
    assert fw.input_quant.dtype == dtype and fw.input_quant.zero_point == 0
    assert fw.input_quant.scale == 2.0 ** -fw.input_quant.frac_bits
    x = np.load(tiny_data)["x"][:10]
    # The input format is Qualia's rule applied to our calibration range.
    lo, hi = calibrate(p.graph, np.load(tiny_data)["x"][:40]).range_of(p.graph.input_name)
    assert fw.input_quant.frac_bits == frac_bits(int(dtype[3:]), max(-lo, hi))
    want = run_graph(p.graph, x)
    err = np.abs(outputs - want).max()
    step = fw.output_quant.scale
    assert err <= 4 * step, (err, step)
    assert s.max_abs_error == pytest.approx(err, rel=1e-5)
    if dtype == "int16":
        assert err < 1e-3  # 16 bits really buy precision over 8
    assert fw.memory.rom_bytes < 20_000 and fw.input_bytes == 3 * 32 * int(dtype[3:]) // 8


@needs_tools
@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_residual_2d_cnn_on_digits(dtype: str, tmp_path: Path) -> None:
    """examples/digits_cnn.py: conv2d, the residual add, max pool, global
    average pool; one input channel, so channels-last is the same bytes."""
    p, s, outputs = _run(DIGITS, "digits", dtype, tmp_path, limit=6)
    assert s.status == "complete" and s.samples == 6
    from harness.datasets import load_dataset

    want = run_graph(p.graph, load_dataset("digits").x[:6])
    err = np.abs(outputs - want).max()
    if dtype == "float32":
        assert err < 1e-4
    else:
        assert p.fw.output_quant is not None
        assert err <= 8 * p.fw.output_quant.scale, (err, p.fw.output_quant.scale)
    assert [la["op"] for la in p.fw.layers] == [
        "conv2d", "conv2d", "conv2d", "add", "maxpool2d", "conv2d", "global_avgpool",
        "flatten", "linear"]


@needs_tools
def test_engine_errors_are_one_line(bench_main: Bench, tmp_path: Path, tiny_data: Path,
                                    tiny_model: str) -> None:
    src = tmp_path / "padded.py"
    src.write_text(textwrap.dedent("""
        from torch import nn
        def net():
            m = nn.Sequential(nn.Conv1d(3, 4, 3), nn.MaxPool1d(2, padding=1), nn.Flatten(),
                              nn.Linear(64, 3))
            m.input_shape = (3, 32)
            return m
    """))
    for args, words in (
            (["build", "--board", "stm32l452", "--model", f"{src}:net", "--engine", "qualia",
              "-o", str(tmp_path / "b")], ("padding", "layer '1'", "Qualia")),
            (["run", "--board", "stm32l452", "--model", tiny_model, "--dataset",
              str(tiny_data), "--engine", "qualia", "--dtype", "int8", "--quant", "affine",
              "--db", str(tmp_path / "r.db")], ("qualia", "affine"))):
        proc = bench_main(*args)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode != 0 and len(lines) == 1, proc.stderr
        assert lines[0].startswith("bench: error: ")
        assert all(w in lines[0] for w in words), lines[0]

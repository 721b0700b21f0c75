"""bench's SNN core (fpga/rtl) under Verilator: its parts on their own (the
UART, the FIFO, the neuron unit) and whole runs through ``bench run
--backend verilator``, output for output and spike for spike with the
integer reference (harness/quant/reference.py run_qsnn)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench

from harness.backends.verilator import verilate
from harness.build.firmware import Firmware
from harness.datasets import load_dataset
from harness.fpga.core import RTL_DIR, rtl_sources
from harness.model.load import load_graph
from harness.quant import QuantConfig
from harness.quant.calibrate import Calibration
from harness.quant.lif import RESETS, IntNeuron, int_step
from harness.quant.reference import run_qsnn, shift_round
from harness.quant.schemes import quantize_graph

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "fpga" / "sim"
ZOO = "tests/snn_zoo.py"
FPGA_ZOO = "tests/fpga_zoo.py"

needs_verilator = [pytest.mark.emulator,
                   pytest.mark.skipif(shutil.which("verilator") is None,
                                      reason="verilator not installed (make setup)")]


def verilator_test(fn):  # noqa: ANN001, ANN201 - a decorator
    for mark in needs_verilator:
        fn = mark(fn)
    return fn


def _rtl(*names: str) -> list[Path]:
    return [RTL_DIR / f"{n}.v" for n in names]


# --------------------------------------------------------------------------- the parts

@verilator_test
def test_rtl_is_lint_clean() -> None:
    """verilator --lint-only -Wall on the whole design: no warning."""
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "bench_snn_top",
                           *map(str, rtl_sources())], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


@verilator_test
def test_core_sized_for_a_model_is_lint_clean() -> None:
    """config_for's parameters (the memories a model needs, powers of two)
    give a design Verilator accepts without a warning."""
    from harness.fpga.core import TOP, config_for
    from harness.quant.calibrate import calibrate

    graph = load_graph(f"{ZOO}:snntorch_conv")
    qgraph = quantize_graph(graph, QuantConfig("pot", calibrate(
        graph, load_dataset("digits").x[:20])), "int8")
    cfg = config_for(qgraph)
    assert (cfg.parameters["WeightDepth"], cfg.parameters["PotDepth"]) == (2048, 1024)
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", TOP,
                           *cfg.args(), *map(str, rtl_sources())], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr, proc.stderr


@verilator_test
def test_uart_loopback() -> None:
    exe = verilate("uart_loop", [SIM / "uart_loop.v", *_rtl("snn_uart_tx", "snn_uart_rx")],
                   SIM / "tb_uart.cpp", {"ClksPerBit": 6}, ("-DTB_CLKS_PER_BIT=6",), "tb-uart")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok 300", proc.stdout


@verilator_test
def test_fifo_against_a_queue() -> None:
    exe = verilate("snn_fifo", _rtl("snn_fifo", "snn_ram"), SIM / "tb_fifo.cpp",
                   {"Width": 8, "Depth": 16}, ("-DTB_DEPTH=16",), "tb-fifo")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("ok "), proc.stdout


def _random_neuron(rng: np.random.Generator, lo: int, hi: int) -> IntNeuron:
    mode = int(rng.integers(0, 3))
    reset = int(rng.integers(0, 3))
    thr = int(rng.integers(1, hi // 2))
    v_reset = int(rng.integers(lo // 4, thr)) if reset == RESETS["zero"] else 0
    return IntNeuron(state_frac_bits=0, decay_mode=mode,
                     decay_shift=int(rng.integers(1, 16)) if mode == 1 else 0,
                     decay_mult=int(rng.integers(1, 2**15)) if mode == 2 else 0,
                     in_mult=int(rng.integers(1, 2**15)), in_shift=int(rng.integers(0, 34)),
                     offset=int(rng.integers(lo // 8, hi // 8)), threshold=thr,
                     v_reset=v_reset, v_init=v_reset, reset=reset,
                     fire_ge=int(rng.integers(0, 2)), pre_reset=int(rng.integers(0, 2)),
                     post_reset=int(rng.integers(0, 2)), lo=lo, hi=hi)


@verilator_test
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_neuron_unit_matches_the_reference(dtype: str) -> None:
    """snn_lif_unit (requantization + one IF/LIF step) on 3,000 random
    neurons, states and accumulators: equal to shift_round + int_step."""
    exe = verilate("snn_lif_unit", _rtl("snn_lif_unit"), SIM / "tb_lif.cpp", {}, (), "tb-lif")
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    rng = np.random.default_rng(7)
    lines, want = [], []
    for _ in range(3000):
        n = _random_neuron(rng, lo, hi)
        if rng.integers(0, 4) == 0:  # a left shift of the input, in the range the host admits
            n = replace(n, in_mult=int(rng.integers(1, 2**14)), in_shift=-int(rng.integers(1, 4)))
        acc = int(rng.integers(-2**31, 2**31))
        shift = int(rng.integers(-3, 32))
        v = int(rng.integers(lo, hi + 1))
        cur = int(np.clip(shift_round(np.array([acc]), shift)[0], lo, hi))
        s, h, _ = int_step(n, np.array([v]), np.array([cur]))
        want.append(f"{int(h[0])} {int(s[0])}")
        lines.append(" ".join(str(x) for x in (
            acc, shift, lo, hi, v, n.decay_mode, n.decay_shift, n.decay_mult, n.in_mult,
            n.in_shift, n.offset, n.threshold, n.v_reset, n.reset, n.fire_ge, n.pre_reset,
            n.post_reset, lo, hi)))
    proc = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, timeout=60, check=True)
    got = proc.stdout.splitlines()
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not bad, (f"{len(bad)} differ; first: {lines[bad[0]]} -> {got[bad[0]]}, "
                     f"want {want[bad[0]]}")


# --------------------------------------------------------------------------- whole runs

def _run_and_compare(bench_main: Bench, tmp_path: Path, model: str, dtype: str,
                     n: int = 6) -> dict:
    db = tmp_path / "r.db"
    r = bench_main("run", "--board", "icebreaker", "--backend", "verilator", "--model", model,
                   "--dataset", "digits", "--limit", str(n), "--dtype", dtype, "--calibrate",
                   "50", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["count_kind"], summary["timer_kind"]) == ("cycles", "core_cycles")
    assert summary["clock_hz"] == 12_000_000
    assert bench_main("export", str(summary["run_id"]), "-o", str(tmp_path / "e.npz"),
                      "--db", str(db)).returncode == 0
    fw = Firmware.load(Path(summary["firmware_dir"]))
    qgraph = quantize_graph(load_graph(model), QuantConfig("pot", Calibration.load(
        fw.dir / "calibration.json")), dtype)
    want_out, want_spikes = run_qsnn(qgraph, qgraph.input_q.quantize(load_dataset("digits").x[:n]))
    got = np.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(got["spikes"], want_spikes)
    np.testing.assert_array_equal(got["outputs"], qgraph.output_q.dequantize(want_out))
    assert want_spikes.sum() > 0  # the comparison has spikes to compare
    return summary


@verilator_test
def test_fully_connected_run_is_bit_exact(bench_main: Bench, tmp_path: Path) -> None:
    """Linear - LIF (zero reset) - linear - LIF (no reset delay), int16."""
    _run_and_compare(bench_main, tmp_path, f"{ZOO}:snntorch_explicit", "int16")


@verilator_test
def test_convolutional_run_is_bit_exact(bench_main: Bench, tmp_path: Path) -> None:
    """Conv - LIF - max pool - flatten - linear - LIF (snnTorch, subtract reset), int8."""
    summary = _run_and_compare(bench_main, tmp_path, f"{ZOO}:snntorch_conv", "int8")
    assert summary["count_min"] > 0 and summary["count_max"] > summary["count_min"]


# --------------------------------------------------------------------------- bad input

def _one_error_line(r) -> str:  # noqa: ANN001 - a CompletedProcess
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(("model", "message"), [
    (f"{FPGA_ZOO}:avgpool", "(avgpool2d): the SNN core has no avgpool2d layer"),
    (f"{FPGA_ZOO}:too_wide", "weights: 29,600 > 16,384 (over by 13,216)"),
    (f"{ZOO}:spikingjelly_readout", "readout"),
])
def test_models_the_core_cannot_run_are_refused(bench_main: Bench, tmp_path: Path, model: str,
                                                message: str) -> None:
    if shutil.which("verilator") is None:
        pytest.skip("verilator not installed: the backend refuses before the model")
    r = bench_main("run", "--board", "icebreaker", "--backend", "verilator", "--model", model,
                   "--dataset", "digits", "--limit", "2", "--dtype", "int8", "--calibrate", "20",
                   "--db", str(tmp_path / "r.db"))
    assert message in _one_error_line(r)


def test_verilator_missing_says_how_to_install(bench_main: Bench, tmp_path: Path) -> None:
    import os

    empty = tmp_path / "bin"
    empty.mkdir()
    r = bench_main("run", "--board", "icebreaker", "--backend", "verilator", "--model",
                   f"{ZOO}:snntorch_explicit", "--dataset", "digits", "--limit", "2", "--dtype",
                   "int8", "--db", str(tmp_path / "r.db"),
                   env={**os.environ, "PATH": str(empty)})
    line = _one_error_line(r)
    assert "verilator is not installed" in line and "apt-get install verilator" in line


def test_board_kinds_are_checked(tmp_path: Path) -> None:
    """An FPGA board has no MCU fields; an MCU board must have them."""
    from harness.boards import read_board
    from harness.errors import ConfigError

    folder = tmp_path / "fpga"
    folder.mkdir()
    (folder / "board.toml").write_text(
        'kind = "fpga"\ntitle = "t"\npart = "p"\nclock_hz = 1\nconsole = "c"\nbaud = 1\n'
        'backends = ["verilator"]\nrom_bytes = 1\n')
    with pytest.raises(ConfigError, match="'rom_bytes' is a microcontroller's"):
        read_board(folder)
    (folder / "board.toml").write_text(
        'title = "t"\npart = "p"\nclock_hz = 1\nconsole = "c"\nbaud = 1\nbackends = ["qemu"]\n')
    with pytest.raises(ConfigError, match="lacks 'core'"):
        read_board(folder)


@verilator_test
def test_half_the_input_events_take_fewer_cycles() -> None:
    """benchmarks/fpga_events.py's measurement on a few samples: halving an
    image's non-zero pixels lowers the spikes and the core's cycles."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fpga_events",
                                                  ROOT / "benchmarks" / "fpga_events.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["fpga_events"] = bench  # its dataclass looks itself up there
    spec.loader.exec_module(bench)
    full, half = bench.measure(f"{ZOO}:snntorch_conv", "int8", 4, calibrate=50)
    for a, b in zip(full, half, strict=True):
        assert b.input_events < a.input_events and b.cycles < a.cycles
    assert sum(b.cycles for b in half) < 0.9 * sum(a.cycles for a in full)

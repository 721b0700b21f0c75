"""The qualia engine on spiking graphs: LEAT's qualia-codegen-plugin-snn C,
host-compiled against a numpy model of its own fixed-point IF/LIF
arithmetic (bit for bit) and against bench's float reference; its refusals;
one run on the emulated STM32L452."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import GCC, HERE, emulator_test, needs_gcc, run_ok

from harness.engines import get_engine
from harness.engines.base import GeneratedModel
from harness.errors import EngineError
from harness.model.ir import Graph, Layer
from harness.model.load import load_graph
from harness.model.neuron import Neuron
from harness.model.reference import run_snn
from harness.model.snn_options import SnnOptions
from harness.quant import QuantConfig
from harness.quant.calibrate import calibrate

pytest.importorskip("qualia_codegen_plugin_snn")
ZOO = HERE / "snn_zoo.py"
# Qualia's C is compiled as the board build does (no -Wpedantic: its
# templates pass non-const arrays to const parameters; no -Werror: a
# one-layer model leaves one of its activation unions unused).
FLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"]


def _graph(name: str, **snn: object) -> Graph:
    return load_graph(f"{ZOO}:{name}", SnnOptions(**snn))  # type: ignore[arg-type]


def _host_run(gen: GeneratedModel, out: Path, x: np.ndarray) -> np.ndarray:
    """Compile what the engine generated with tests/host_main.c; outputs
    (raw integers or floats) for the channels-last samples ``x``."""
    assert GCC is not None
    objs = []
    for src in (*gen.sources, HERE / "host_main.c"):
        obj = out / f"{src.stem}.o"
        run_ok([GCC, *FLAGS, *(f"-I{d}" for d in gen.include_dirs), "-c", str(src), "-o",
                str(obj)])
        objs.append(str(obj))
    exe = out / "model_host"
    run_ok([GCC, "-o", str(exe), *objs])
    data = gen.input_quant.quantize(x) if gen.input_quant is not None else x
    blob = np.ascontiguousarray(data, dtype=np.dtype(gen.input_dtype.value)).tobytes()
    raw = subprocess.run([str(exe)], input=np.uint32(len(x)).tobytes() + blob,
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw[12 + 2 + 8 + 16:], dtype=gen.output_dtype.value).reshape(len(x), -1)


def _lif_graph(neuron: Neuron, n: int = 40, timesteps: int = 12) -> Graph:
    layer = Layer("lif", "lif", ["input"], "lif", [(n,)], (n,), {"neuron": neuron.params()},
                  state_shape=(n,))
    return Graph((n,), [layer], "lif", timesteps=timesteps, readout="spike_count")


# --------------------------------------------------------------------------- Qualia's arithmetic

def _scale(x: np.ndarray, s: int) -> np.ndarray:
    """number.h scale() with ROUND_MODE_NEAREST, in 64 bits."""
    return x << -s if s <= 0 else (x + (1 << (s - 1))) >> s


def _fixed(v: float, q: int, bits: int) -> int:
    """qualia-core Quantizer: floor(v * 2^q + 0.5), saturated."""
    return int(np.clip(np.floor(v * 2.0 ** q + 0.5), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1))


def qualia_lif_counts(neuron: Neuron, x_q: np.ndarray, q_in: int, q_v: int, bits: int,
                      timesteps: int) -> np.ndarray:
    """Spikes per neuron over T of the plugin's lif.cc/if.cc (a layer fed the
    same integer input every step), written from its template."""
    tmp_q = max(q_in, q_v)
    k = 1.0 - neuron.decay
    is_if = neuron.decay == 1.0 and neuron.gain == 1.0
    soft = neuron.reset == "subtract"
    thr = _scale(np.int64(_fixed(neuron.threshold, q_v, bits)), q_v - tmp_q)
    vr_q = _fixed(neuron.v_reset, q_v, bits)
    vr = _scale(np.int64(vr_q), q_v - tmp_q)
    rtau = _fixed(k, q_v, bits)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    pot = np.zeros(x_q.shape, np.int64)
    counts = np.zeros(x_q.shape, np.int64)
    for _ in range(timesteps):
        v = _scale(pot, q_v - tmp_q)
        xin = _scale(x_q.astype(np.int64), q_in - tmp_q)
        if is_if:
            h = v + xin
        else:
            d = v if soft else v - vr
            if neuron.gain != 1.0:  # decay_input
                h = v + _scale((xin - d) * rtau, tmp_q)
            else:
                h = v - _scale(d * rtau, tmp_q) + xin
        fired = h - thr >= 0
        counts += fired
        kept = np.clip(_scale(h - thr if soft else h, tmp_q - q_v), lo, hi)
        pot = np.where(fired, kept if soft else vr_q, np.clip(_scale(h, tmp_q - q_v), lo, hi))
    return counts


NEURONS = {
    "lif-hard": Neuron(decay=0.75, threshold=0.6, reset="zero", gain=0.25, fire="ge",
                       source="spikingjelly.LIFNode"),
    "lif-soft-no-decay-input": Neuron(decay=0.5, threshold=0.8, reset="subtract", gain=1.0,
                                      fire="ge", source="spikingjelly.LIFNode"),
    "if-soft": Neuron(decay=1.0, threshold=1.0, reset="subtract", fire="ge",
                      source="spikingjelly.IFNode"),
}


@needs_gcc
@pytest.mark.parametrize("dtype", ["int16", "int8"])
@pytest.mark.parametrize("name", list(NEURONS))
def test_integer_neurons_are_qualias_arithmetic(name: str, dtype: str, tmp_path: Path) -> None:
    neuron = NEURONS[name]
    graph = _lif_graph(neuron)
    x = (np.random.default_rng(1).standard_normal((30, 40)) * 0.8).astype(np.float32)
    quant = QuantConfig("pot", calibrate(graph, x))
    gen = get_engine("qualia").generate(graph, tmp_path, b"\0" * 8, dtype, quant)  # type: ignore[arg-type]
    got = _host_run(gen, tmp_path, x).astype(np.int64)
    fmt = gen.extra["formats"]["l0"]
    assert fmt["output"] == 0  # spikes counted as 1
    assert gen.input_quant is not None
    bits = int(dtype[3:])
    want = qualia_lif_counts(neuron, gen.input_quant.quantize(x).astype(np.int64),
                             gen.input_quant.frac_bits, fmt["potential"], bits, graph.timesteps)
    assert want.sum() > 100  # thresholds are crossed
    np.testing.assert_array_equal(got, want)
    # ... and that arithmetic is the neuron's, up to quantization.
    ref = run_snn(graph, x).outputs
    if dtype == "int16":
        assert np.mean(np.abs(got - ref) <= 1) > 0.9
    assert abs(int(got.sum()) - float(ref.sum())) <= 0.2 * float(ref.sum())


@needs_gcc
@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_conv_snn_agrees_with_the_float_reference(dtype: str, tmp_path: Path) -> None:
    """SpikingJelly conv -> LIF -> pool -> linear -> IF, T = 5: Qualia's C
    (host) against bench's float reference."""
    graph = _graph("spikingjelly_conv")
    x = np.random.default_rng(2).uniform(0, 4, (24, 1, 8, 8)).astype(np.float32)
    quant = QuantConfig("pot", calibrate(graph, x)) if dtype != "float32" else None
    gen = get_engine("qualia").generate(graph, tmp_path, b"\0" * 8, dtype, quant)  # type: ignore[arg-type]
    got = _host_run(gen, tmp_path, np.moveaxis(x, 1, -1)).astype(np.float32)
    if gen.output_quant is not None:
        got = got * gen.output_quant.scale
    want = run_snn(graph, x).outputs
    assert want.sum() > 20
    if dtype == "float32":
        np.testing.assert_array_equal(got, want)
    else:  # a few spikes move under 16-bit rounding
        assert np.abs(got - want).sum() <= 0.05 * want.sum()
    assert gen.note is not None and "no spike counters" in gen.note
    assert gen.extra["state_bytes"] == (8 * 8 * 8 + 10) * gen.input_dtype.itemsize


# --------------------------------------------------------------------------- refusals

def _with_neuron(graph: Graph, **changes: object) -> Graph:
    layers = []
    for layer in graph.layers:
        if layer.op == "lif":
            n = replace(Neuron.from_params(layer.params["neuron"]), **changes)  # type: ignore[arg-type]
            layer = replace(layer, params={"neuron": n.params()})
        layers.append(layer)
    return replace(graph, layers=layers)


@pytest.mark.parametrize(("make", "words"), [
    (lambda: _graph("snntorch_conv"), ("delayed reset", "snntorch.Leaky", "'1'")),
    (lambda: _graph("spikingjelly_readout"), ("rests at -0.1", "reset_pot")),
    (lambda: _graph("spikingjelly_conv", readout="membrane_last"), ("membrane_last",)),
    (lambda: replace(_with_neuron(_graph("spikingjelly_readout"), v_reset=0.0, v_init=0.0,
                                  offset=0.0), readout="spike_count"),
     ("spiking output layer",)),
    (lambda: _with_neuron(_graph("spikingjelly_conv"), reset="none"), ("without reset",)),
    (lambda: _with_neuron(_graph("spikingjelly_conv"), gain=0.3), ("gain 0.3",)),
])
def test_what_qualia_cannot_express_is_named(make, words: tuple[str, ...],  # noqa: ANN001
                                             tmp_path: Path) -> None:
    with pytest.raises(EngineError) as err:
        get_engine("qualia").generate(make(), tmp_path, b"\0" * 8, "float32")  # type: ignore[arg-type]
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_fire_on_greater_is_a_note(tmp_path: Path) -> None:
    graph = _with_neuron(_lif_graph(NEURONS["if-soft"]), fire="gt")
    gen = get_engine("qualia").generate(graph, tmp_path, b"\0" * 8, "float32")  # type: ignore[arg-type]
    assert gen.note is not None and "V > threshold" in gen.note


def test_doctor_names_the_plugin() -> None:
    names = [c.name for c in get_engine("qualia").checks()]
    assert "python: qualia-codegen-plugin-snn" in names


def test_refusal_is_one_line(bench_main: Bench, tmp_path: Path) -> None:
    proc = bench_main("build", "--board", "stm32l452", "--model", f"{ZOO}:snntorch_conv",
                      "--engine", "qualia", "-o", str(tmp_path / "b"))
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("bench: error: ") and "delayed reset" in lines[0]


# --------------------------------------------------------------------------- on the board

@emulator_test
def test_runs_on_qemu_without_spike_counts(tmp_path: Path) -> None:
    from harness.run.execute import execute
    from harness.run.prepare import prepare
    from harness.run.request import RunRequest
    from harness.store.store import Store

    p = prepare(RunRequest("stm32l452", "qemu", f"{ZOO}:spikingjelly_conv", "digits",
                           engine="qualia", limit=4))
    s = execute(p, tmp_path / "r.db")
    assert s.status == "complete" and s.samples == 4 and s.count_per_inference > 10_000
    assert s.max_abs_error == 0.0  # float32: the same spikes as bench's reference
    assert s.spikes_per_inference is None  # Qualia counts none; none are stored
    with Store(tmp_path / "r.db") as store:
        row = store.run_row(s.run_id)
        assert store.spike_counts(s.run_id) == {}
    assert row["spike_layers"] == "[]" and "no spike counters" in row["note"]
    assert p.fw is not None and p.fw.snn is not None and p.fw.snn["layers"] == []

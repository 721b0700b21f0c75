"""Spiking networks: each neuron's arithmetic against its library, the
import of one-timestep snnTorch/SpikingJelly networks, and the generated C
(host-compiled) against the numpy reference, spike for spike."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import snntorch as snn
import torch
from hostc import GCC, compile_objects, emulator_test, run_model
from spikingjelly.activation_based import neuron as sj

from harness.engines.native.float32 import generate, include_dirs, kernel_sources
from harness.errors import ModelError
from harness.model import neuron as nr
from harness.model.load import load_graph
from harness.model.reference import run_snn
from harness.model.snn import neuron_of
from harness.model.snn_kernels import candidates, choose, pick
from harness.model.snn_options import SnnOptions

ZOO = Path(__file__).resolve().parent / "snn_zoo.py"
T = 24


def _currents(shape: tuple[int, ...], seed: int) -> np.ndarray:
    # Large enough to cross the threshold often, sometimes twice over.
    return (np.random.default_rng(seed).standard_normal((T, *shape)) * 1.5).astype(np.float32)


def _library_steps(module: torch.nn.Module, currents: np.ndarray) -> np.ndarray:
    """Spikes per step from the library module itself, its state fresh."""
    out = []
    with torch.no_grad():
        for x in currents:
            y = module(torch.from_numpy(x))
            out.append((y[0] if isinstance(y, tuple) else y).numpy())
    return np.stack(out)


def _bench_steps(neuron: nr.Neuron, currents: np.ndarray) -> np.ndarray:
    v = nr.initial_state(neuron, currents.shape[1:])
    out = []
    for x in currents:
        s, v = nr.step(neuron, v, x)
        out.append(s)
    return np.stack(out)


SNNTORCH = [dict(reset_mechanism=m, reset_delay=d, init_hidden=h)
            for m in ("subtract", "zero", "none") for d in (True, False) for h in (True, False)]


@pytest.mark.parametrize("kw", SNNTORCH, ids=lambda kw: "-".join(str(v) for v in kw.values()))
def test_snntorch_leaky_step_for_step(kw: dict) -> None:
    module = snn.Leaky(beta=0.8, threshold=0.7, **kw)
    found = neuron_of(module, "lif")
    assert found is not None
    currents = _currents((3, 50), seed=1)
    want = _library_steps(module, currents)
    got = _bench_steps(found[0], currents)
    assert want.sum() > 100  # the test crosses thresholds
    np.testing.assert_array_equal(got, want)


SPIKINGJELLY = [("IFNode", dict(v_reset=0.0)), ("IFNode", dict(v_reset=None)),
                ("LIFNode", dict(tau=2.0)), ("LIFNode", dict(tau=2.0, v_reset=None)),
                ("LIFNode", dict(tau=4.0, decay_input=False, v_reset=-0.2)),
                ("LIFNode", dict(tau=3.0, decay_input=False, v_reset=None))]


@pytest.mark.parametrize("cls,kw", SPIKINGJELLY, ids=lambda v: str(v))
def test_spikingjelly_step_for_step(cls: str, kw: dict) -> None:
    module = getattr(sj, cls)(v_threshold=0.6, **kw)
    found = neuron_of(module, "node")
    assert found is not None
    currents = _currents((3, 50), seed=2)
    want = _library_steps(module, currents)
    got = _bench_steps(found[0], currents)
    assert want.sum() > 100
    # Charge arithmetic in another order (a*V + b*X + c against the library's
    # V + (X - (V - Vr)) / tau) may flip a crossing by one rounding.
    assert np.mean(got != want) < 1e-3


@pytest.mark.parametrize("name", ["snntorch_conv", "snntorch_explicit", "spikingjelly_conv",
                                  "spikingjelly_readout"])
def test_import_matches_library(name: str) -> None:
    """load_graph checks the import against the library itself
    (verify_import); here the reference's readout and spikes are also sane."""
    graph = load_graph(f"{ZOO}:{name}")
    assert graph.spiking and graph.timesteps > 1
    x = np.random.default_rng(0).standard_normal((4, *graph.sample_shape)).astype(np.float32)
    run = run_snn(graph, x)
    assert run.spikes.shape == (4, len(graph.spiking_layers()))
    assert run.spikes.sum() > 0
    if graph.readout == "spike_count":
        assert run.outputs.max() <= graph.timesteps
        np.testing.assert_array_equal(run.outputs.sum(axis=1), run.spikes[:, -1])


def test_layer_names_and_readouts() -> None:
    graph = load_graph(f"{ZOO}:spikingjelly_conv")
    assert [layer.name for layer in graph.layers] == ["0", "1", "2", "3", "4", "5"]
    assert graph.readout == "spike_count"
    assert load_graph(f"{ZOO}:spikingjelly_readout").readout == "output_mean"
    graph = load_graph(f"{ZOO}:snntorch_explicit", SnnOptions(timesteps=3,
                                                                  readout="membrane_last"))
    assert (graph.timesteps, graph.readout) == (3, "membrane_last")


def test_layers_before_the_first_neuron_run_once_per_sample(tmp_path: Path) -> None:
    """With direct encoding every step sees the same input, so the layers
    before the first neuron compute the same tensor T times: the engines run
    them once, before the steps. With one frame per step they cannot."""
    graph = load_graph(f"{ZOO}:snntorch_conv", SnnOptions(timesteps=4))
    assert graph.steady_prefix() == 1 and graph.layers[0].op == "conv2d"
    iterate = load_graph(f"{ZOO}:snntorch_conv", SnnOptions(timesteps=4, encoding="iterate"))
    assert iterate.steady_prefix() == 0
    source = generate(graph, tmp_path, b"\0" * 8).model_c.read_text()
    run = source[source.index("bench_model_run("):]
    loop = run.index("for (int32_t t = 0;")
    assert run.index("bench_conv2d") < loop < run.index("bench_lif")


def test_verify_import_catches_a_wrong_neuron(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard fails when the imported neuron means something else: here a
    subtract reset imported as no reset."""
    from harness.model import snn as snn_mod

    real = snn_mod._snntorch_neuron

    def wrong(m: torch.nn.Module, path: str) -> tuple[nr.Neuron, bool] | None:
        found = real(m, path)
        if found is None:
            return None
        neuron, returns = found
        return nr.Neuron(**{**neuron.params(), "reset": "none"}), returns

    monkeypatch.setattr(snn_mod, "_snntorch_neuron", wrong)
    with pytest.raises(ModelError, match="internal: .* spikes in bench's reference"):
        load_graph(f"{ZOO}:snntorch_conv")


@pytest.mark.parametrize("name,options,message", [
    ("synaptic", SnnOptions(), r"Synaptic is not supported; bench imports snn.Leaky"),
    ("multi_step", SnnOptions(), r"step_mode='m'.*single-step"),
    ("loops_itself", SnnOptions(), r"'lif' runs 4 times in forward\(\)"),
    ("resets_in_forward", SnnOptions(), r"resets 'lif' \(init_leaky/reset_mem\)"),
    ("no_timesteps", SnnOptions(), r"needs its number of timesteps"),
    ("spikingjelly_readout", SnnOptions(readout="spike_count"),
     r"readout spike_count needs the model's output to come from a spiking layer"),
])
def test_unsupported_spiking_models(name: str, options: SnnOptions, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_graph(f"{ZOO}:{name}", options)


def test_snn_flags_on_a_conventional_model() -> None:
    spec = f"{Path(__file__).resolve().parent / 'model_zoo.py'}:mlp"
    with pytest.raises(ModelError, match="--timesteps apply to spiking models"):
        load_graph(spec, SnnOptions(timesteps=4))


def test_bad_options() -> None:
    with pytest.raises(ModelError, match="--timesteps must be 1..4096"):
        SnnOptions(timesteps=0)
    with pytest.raises(ModelError, match="--readout 'max'"):
        SnnOptions(readout="max")


@pytest.fixture(scope="module")
def host_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if GCC is None:
        pytest.skip("host gcc not installed")
    return compile_objects(kernel_sources(), include_dirs(), tmp_path_factory.mktemp("snn_obj"))


@pytest.mark.parametrize("name,options", [
    ("snntorch_conv", SnnOptions()),
    ("snntorch_explicit", SnnOptions(readout="membrane_last")),
    ("spikingjelly_conv", SnnOptions()),
    ("spikingjelly_readout", SnnOptions()),
    ("snntorch_conv", SnnOptions(encoding="iterate", timesteps=3)),  # a frame per step
])
def test_generated_c_matches_reference(name: str, options: SnnOptions, tmp_path: Path,
                                       host_objects: list[Path]) -> None:
    """The host-compiled model: every spike count equal to the numpy
    reference's, outputs equal where the layers' float sums agree."""
    graph = load_graph(f"{ZOO}:{name}", options)
    gen = generate(graph, tmp_path, b"\1" * 8)
    n = 16
    x = np.random.default_rng(5).standard_normal((n, *graph.sample_shape)).astype(np.float32)
    raw = run_model(tmp_path, host_objects, include_dirs(), n,
                    np.ascontiguousarray(x, dtype="<f4").tobytes())
    out_b = struct.unpack_from("<I", raw, 4)[0]
    layers = len(graph.spiking_layers())
    body = np.frombuffer(raw[38:], dtype=np.uint8).reshape(n, out_b + 4 * layers)
    outputs = body[:, :out_b].copy().view("<f4")
    spikes = body[:, out_b:].copy().view("<u4").astype(np.int64)
    want = run_snn(graph, x)
    # Conv/linear sums run in another order than numpy's: a rare crossing flips.
    assert np.abs(spikes - want.spikes).sum() <= 0.01 * want.spikes.sum()
    same = (spikes == want.spikes).all(axis=1)
    assert same.mean() >= 0.9
    np.testing.assert_allclose(outputs[same], want.outputs[same], rtol=1e-4, atol=1e-4)
    assert gen.state_bytes == 4 * sum(int(np.prod(layer.out_shape))
                                      for layer in graph.spiking_layers())


@emulator_test
def test_run_on_qemu_counts_spikes_on_the_device(bench_main, tmp_path: Path) -> None:
    """bench run on the emulated board: the device's spike counters reach the
    store, the summary and bench export, and match the reference."""
    from harness.datasets import load_dataset

    db = tmp_path / "r.db"
    r = bench_main("run", "--board", "stm32l452", "--backend", "qemu", "--model",
                   f"{ZOO}:snntorch_conv", "--dataset", "digits", "--limit", "6",
                   "--timesteps", "4", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["timesteps"], summary["readout"], summary["status"]) == (
        4, "spike_count", "complete")
    assert [layer["name"] for layer in json.loads(summary["spike_layers"])] == ["1", "5"]
    assert json.loads(summary["spike_kernels"]) == {"4": "event"}  # auto: rates below 90 %
    # bench profile builds the run's graph again (T from the command line, the
    # kernels it chose) and measures it per layer and timestep
    r = bench_main("profile", str(summary["run_id"]), "--samples", "1", "--db", str(db),
                   "--json")
    assert r.returncode == 0, r.stderr
    layers = json.loads(r.stdout)["layers"]
    # the conv reads only the input (direct encoding): once per sample; then
    # lif, pool, linear, lif at each of the 4 steps
    assert len(layers) == 1 + 4 * 4
    assert layers[0]["name"] == "0 (once)" and layers[0]["op"] == "conv2d"
    assert layers[3]["name"] == "4 t=0" and layers[-1]["name"] == "5 t=3"
    r = bench_main("export", str(summary["run_id"]), "-o", str(tmp_path / "e.npz"),
                   "--db", str(db))
    assert r.returncode == 0, r.stderr
    exported = np.load(tmp_path / "e.npz")
    assert list(exported["spike_layers"]) == ["1", "5"]
    spikes = exported["spikes"]
    assert summary["spikes_per_inference"] == pytest.approx(spikes.sum(axis=1).mean())
    graph = load_graph(f"{ZOO}:snntorch_conv", SnnOptions(timesteps=4))
    want = run_snn(graph, load_dataset("digits").x[:6])
    assert spikes.shape == want.spikes.shape
    assert np.abs(spikes - want.spikes).sum() <= 0.01 * want.spikes.sum()
    # spike_count readout: the outputs are the output layer's spikes per class
    np.testing.assert_array_equal(exported["outputs"].sum(axis=1), spikes[:, -1])
    # activity from the device's counts: layer 1's spikes each reach one 2x2
    # max-pooled output, then the 10 outputs of the linear layer
    act = summary["activity"]
    assert act["Effective_ACs"] == pytest.approx(10 * spikes[:, 0].mean())
    assert act["Effective_MACs"] == 8 * 22 * 22 * 4  # conv 1->8, 3x3 pad 1 on 8x8, T=4
    assert act["ActivationSparsity"] == pytest.approx(
        1 - spikes.sum(axis=1).mean() / ((512 + 10) * 4))
    models = {e["model"]: e for e in summary["energy_models"]}
    assert set(models) == {"lemaire2022", "ac_mac"}
    assert all(e["kind"] == "estimate" for e in models.values())
    assert summary["energy_kind"] == "estimated"  # the board's own, from the datasheet


def test_event_kernels_go_where_the_input_is_spikes() -> None:
    """Through flatten and max pooling spikes stay spikes; the readout
    layer of spikingjelly_readout is fed by spikes too, its first is not."""
    conv = load_graph(f"{ZOO}:snntorch_conv")  # conv, lif, maxpool, flatten, linear, lif
    assert [layer.name for layer in candidates(conv)] == ["4"]
    readout = load_graph(f"{ZOO}:spikingjelly_readout")  # flatten, linear, lif, linear
    assert [layer.name for layer in candidates(readout)] == ["3"]
    assert choose(readout, "event").layers[3].params["spikes_in"] == "event"
    assert choose(readout, "dense").layers[3].params["spikes_in"] == "dense"
    assert "spikes_in" not in choose(readout, "event").layers[1].params
    x = np.random.default_rng(0).standard_normal((8, 1, 8, 8)).astype(np.float32)
    assert pick(readout, "auto", x).layers[3].params["spikes_in"] == "event"  # rates < 0.9
    assert pick(readout, "auto", None).layers[3].params["spikes_in"] == "dense"
    # integer builds have no event-driven kernels: auto is dense, event refused
    assert pick(readout, "auto", x, "int8").layers[3].params["spikes_in"] == "dense"
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="event-driven kernels are float32 only for now"):
        pick(readout, "event", x, "int16")


def test_event_kernel_is_bit_exact_with_dense(tmp_path: Path, host_objects: list[Path]) -> None:
    """Same additions in the same order: the same output bytes and spikes."""
    graph = load_graph(f"{ZOO}:spikingjelly_readout")
    x = np.random.default_rng(6).standard_normal((16, *graph.sample_shape)).astype(np.float32)
    raws = []
    for mode in ("dense", "event"):
        folder = tmp_path / mode
        generate(choose(graph, mode), folder, b"\1" * 8)
        raws.append(run_model(folder, host_objects, include_dirs(), len(x),
                              np.ascontiguousarray(x, dtype="<f4").tobytes()))
    assert b"bench_linear_events_f32" in (tmp_path / "event" / "model.c").read_bytes()
    assert raws[0] == raws[1]


# --------------------------------------------------------------------------- integers

@pytest.fixture(scope="module")
def host_q_objects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from harness.engines.native import integer

    if GCC is None:
        pytest.skip("host gcc not installed")
    return compile_objects(integer.kernel_sources(), integer.include_dirs(),
                           tmp_path_factory.mktemp("snn_q_obj"))


INT_CASES = [("snntorch_conv", SnnOptions()),  # subtract, delayed reset; spike_count
             ("snntorch_explicit", SnnOptions(readout="membrane_last")),  # zero; no delay
             ("spikingjelly_conv", SnnOptions()),  # LIF hard reset, IF soft reset
             ("spikingjelly_readout", SnnOptions()),  # offset (v_reset/tau); output_mean
             ("snntorch_conv", SnnOptions(encoding="iterate", timesteps=3))]


@pytest.mark.parametrize("dtype", ["int16", "int8"])
@pytest.mark.parametrize("name,options", INT_CASES,
                         ids=[f"{c[0]}-{c[1].encoding or 'direct'}" for c in INT_CASES])
def test_integer_c_matches_integer_reference(name: str, options: SnnOptions, dtype: str,
                                             tmp_path: Path, host_q_objects: list[Path]) -> None:
    """Every output and every spike count of every sample, bit for bit:
    the host-compiled C against harness/quant/reference.py."""
    from harness.engines.native import integer
    from harness.quant import QuantConfig
    from harness.quant.calibrate import calibrate
    from harness.quant.reference import run_qsnn
    from harness.quant.schemes import quantize_graph

    graph = load_graph(f"{ZOO}:{name}", options)
    rng = np.random.default_rng(7)
    cal = calibrate(graph, rng.standard_normal((32, *graph.sample_shape)).astype(np.float32))
    qgraph = quantize_graph(graph, QuantConfig("pot", cal), dtype)
    # Wider than the calibration set: the potentials saturate too.
    x = rng.standard_normal((12, *graph.sample_shape)).astype(np.float32) * 1.5
    xq = qgraph.input_q.quantize(x)
    want_out, want_spikes = run_qsnn(qgraph, xq)
    integer.generate(qgraph, tmp_path, b"\2" * 8)
    frame = 2 if graph.encoding == "iterate" else 1  # (N, [T,] C, H, W): channels last
    hwc = np.moveaxis(xq, frame, -1) if xq.ndim > frame + 1 else xq
    raw = run_model(tmp_path, host_q_objects, integer.include_dirs(), len(x),
                    np.ascontiguousarray(hwc).tobytes())
    out_b = struct.unpack_from("<I", raw, 4)[0]
    layers = len(graph.spiking_layers())
    body = np.frombuffer(raw[38:], dtype=np.uint8).reshape(len(x), out_b + 4 * layers)
    outputs = body[:, :out_b].copy().view(dtype)
    spikes = body[:, out_b:].copy().view("<u4").astype(np.int64)
    assert want_spikes.sum() > 0
    np.testing.assert_array_equal(spikes, want_spikes)
    if len(graph.output_shape) > 1 and graph.readout == "membrane_last":
        want_out = np.moveaxis(want_out.reshape(len(x), *graph.output_shape), 1, -1)
    np.testing.assert_array_equal(outputs.reshape(len(x), -1), want_out.reshape(len(x), -1))


def test_integer_neuron_follows_the_float_one() -> None:
    """With a fine state format the integer step fires where the float one
    does (rounding moves a rare crossing)."""
    from harness.quant.lif import int_step, quantize_neuron

    for kw in SNNTORCH[:4]:
        module = snn.Leaky(beta=0.75, threshold=0.7, **kw)
        neuron = neuron_of(module, "lif")[0]  # type: ignore[index]
        currents = _currents((4, 64), seed=3)
        want = _bench_steps(neuron, currents)
        p = quantize_neuron(neuron, "lif", in_frac_bits=10, state_frac_bits=10, lo=-32768,
                            hi=32767)
        assert p.decay_mode == 1 and p.decay_shift == 2  # 0.75 = 1 - 2**-2: a shift
        v = np.full(currents.shape[1:], p.v_init, dtype=np.int64)
        got = []
        for c in currents:
            s, v, _ = int_step(p, v, np.rint(c * 2**10).astype(np.int64))
            got.append(s)
        assert np.mean(np.stack(got) != want) < 0.01


def test_integer_spiking_builds_need_pot() -> None:
    from harness.errors import ConfigError
    from harness.quant import QuantConfig
    from harness.quant.calibrate import calibrate
    from harness.quant.schemes import quantize_graph

    graph = load_graph(f"{ZOO}:snntorch_conv")
    cal = calibrate(graph, np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ConfigError, match="spiking models quantize with the pot scheme"):
        quantize_graph(graph, QuantConfig("affine", cal), "int8")


@emulator_test
def test_int8_run_on_qemu_is_bit_exact(bench_main, tmp_path: Path) -> None:
    """int8 on the emulated Cortex-M4 (its DSP kernels): outputs and spike
    counts equal to the integer reference for every sample."""
    from harness.build.firmware import Firmware
    from harness.datasets import load_dataset
    from harness.quant import QuantConfig
    from harness.quant.calibrate import Calibration
    from harness.quant.reference import run_qsnn
    from harness.quant.schemes import quantize_graph

    db = tmp_path / "r.db"
    r = bench_main("run", "--board", "stm32l452", "--backend", "qemu", "--model",
                   f"{ZOO}:spikingjelly_conv", "--dataset", "digits", "--limit", "6",
                   "--dtype", "int8", "--calibrate", "50", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["quant_scheme"], summary["max_abs_error"]) == ("pot", 0.0)
    assert bench_main("export", str(summary["run_id"]), "-o", str(tmp_path / "e.npz"),
                      "--db", str(db)).returncode == 0
    fw = Firmware.load(Path(summary["firmware_dir"]))
    graph = load_graph(f"{ZOO}:spikingjelly_conv")
    qgraph = quantize_graph(graph, QuantConfig("pot", Calibration.load(
        fw.dir / "calibration.json")), "int8")
    _, want = run_qsnn(qgraph, qgraph.input_q.quantize(load_dataset("digits").x[:6]))
    np.testing.assert_array_equal(np.load(tmp_path / "e.npz")["spikes"], want)


def test_spike_counters_that_could_overflow_are_refused() -> None:
    with pytest.raises(ModelError, match="more than the device's 32-bit spike counter"):
        load_graph(f"{ZOO}:wide_layer")


def test_a_saturating_state_is_refused() -> None:
    """A potential that spends more than 1 % of its steps at the format's
    edge on the calibration set: refused, naming the layer and the range."""
    from harness.quant import QuantConfig
    from harness.quant.calibrate import calibrate
    from harness.quant.reference import check_accumulators
    from harness.quant.schemes import quantize_graph

    graph = load_graph(f"{ZOO}:snntorch_conv")
    x = np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)
    cal = calibrate(graph, x)
    qgraph = quantize_graph(graph, QuantConfig("pot", cal), "int8")
    check_accumulators(qgraph, x)  # calibrated on x: fits
    with pytest.raises(ModelError, match=r"layer '1': its potential saturates the int8 state "
                                         r"format \(range \[-16, 15.9\]\) in"):
        check_accumulators(qgraph, x * 40)


def test_sweep_files_take_the_kernel_axis(tmp_path: Path) -> None:
    """examples/sweep-snn.toml: 2 models x 3 dtypes x 2 kernel kinds, each
    entry's request carrying its kernels; sweeps without the axis keep
    their entries' keys (a resumed older sweep finds its runs)."""
    from harness.errors import ConfigError
    from harness.sweep import Entry, _request, load_plan

    plan = load_plan(Path(__file__).resolve().parents[1] / "examples" / "sweep-snn.toml")
    assert len(plan.entries) == 8  # event-driven kernels: float32 only
    assert {(e.dtype, e.snn_kernels) for e in plan.entries} == {
        ("float32", "dense"), ("float32", "event"), ("int16", "dense"), ("int8", "dense")}
    assert any("left out: event-driven kernels for int16, int8" in n for n in plan.notes)
    assert _request(plan.entries[0], 1, None).snn.kernels == plan.entries[0].snn_kernels
    old = Entry("stm32l452", "qemu", "m.py:f", "digits", "native", "int8", None, {})
    assert old.key == "94726f2a0b7c1763"  # as before the axis existed
    bad = tmp_path / "bad.toml"
    bad.write_text(plan_text := (Path(__file__).resolve().parents[1] / "examples" /
                                 "sweep-snn.toml").read_text().replace('"event"', '"sparse"'))
    assert "sparse" in plan_text
    with pytest.raises(ConfigError, match="'snn_kernels' takes dense, event, auto"):
        load_plan(bad)


def test_state_ranges_are_narrowed_only_where_the_readout_gets_closer() -> None:
    """Tuning a spiking layer's potential range (harness/quant/state_ranges.py):
    each narrowing kept brings the int8 readout closer to the float model
    on the calibration samples, the layer gains the fractional bits said,
    and no kept range saturates beyond the limit."""
    from harness.model.reference import STATE, run_graph
    from harness.quant import QuantConfig
    from harness.quant.calibrate import calibrate
    from harness.quant.reference import check_accumulators, run_qgraph
    from harness.quant.schemes import quantize_graph
    from harness.quant.state_ranges import MAX_NARROWING, tune_state_ranges

    graph = load_graph(f"{ZOO}:snntorch_conv")
    x = np.random.default_rng(3).standard_normal((48, 1, 8, 8)).astype(np.float32)
    cal = calibrate(graph, x)
    tuned, gained = tune_state_ranges(graph, cal, "int8", x)
    reference = run_graph(graph, x)

    def error(c):  # noqa: ANN001, ANN202
        q = quantize_graph(graph, QuantConfig("pot", c), "int8")
        check_accumulators(q, x)  # within the saturation limit
        return float(np.mean(np.abs(q.output_q.dequantize(run_qgraph(q, q.input_q.quantize(x)))
                                    - reference))), q

    before, q0 = error(cal)
    after, q1 = error(tuned)
    assert gained, "this network's hidden potentials have rare extremes: a layer should gain"
    assert after < before
    bits0 = {q.name: q.neuron.state_frac_bits for q in q0.layers if q.neuron is not None}
    bits1 = {q.name: q.neuron.state_frac_bits for q in q1.layers if q.neuron is not None}
    assert {n: bits1[n] - bits0[n] for n in bits0 if bits1[n] != bits0[n]} == gained
    assert all(1 <= b <= MAX_NARROWING for b in gained.values())
    for name, bits in gained.items():  # only the state ranges move, by a power of two
        lo, hi = cal.ranges[name + STATE]
        assert tuned.ranges[name + STATE] == (lo / 2**bits, hi / 2**bits)
    assert {k: v for k, v in tuned.ranges.items() if not k.endswith(STATE)} == \
        {k: v for k, v in cal.ranges.items() if not k.endswith(STATE)}


def _random_int_neurons(rng: np.random.Generator, bits: int, n: int) -> list:
    """IntNeurons over every branch of the C kernel: leak none/shift/Q15,
    input shifts right, left and past 30 bits (the 64-bit fallback), input
    gains past the 32-bit bound (fallback too), every reset, > and >=,
    pre/post reset timing."""
    from harness.quant.lif import IntNeuron

    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    out = []
    for k in range(n):
        mode = k % 3
        in_shift = int(rng.choice([-3, -1, 0, 1, 5, 14, 20, 35]))
        in_mult = int(rng.choice([0, 1, 3, 12345, 32767]))
        out.append(IntNeuron(
            state_frac_bits=0, decay_mode=mode, decay_shift=int(rng.integers(1, 8)),
            decay_mult=int(rng.integers(0, 2**15)), in_mult=in_mult, in_shift=in_shift,
            offset=int(rng.integers(lo // 8, hi // 8)), threshold=int(rng.integers(1, hi)),
            v_reset=int(rng.integers(lo // 2, hi // 2)), v_init=0, reset=k % 3 if k % 7 else 2,
            fire_ge=int(rng.integers(0, 2)), pre_reset=(k // 3) % 2, post_reset=(k // 6) % 2,
            lo=lo, hi=hi))
    return out


@pytest.mark.parametrize("bits", [8, 16])
def test_integer_neuron_kernel_matches_int_step(bits: int, tmp_path: Path) -> None:
    """firmware/kernels/q/lif_q.c, 32-bit fast loops and 64-bit fallback,
    against harness/quant/lif.py int_step: every potential and spike of
    every step, for 48 neurons x 6 steps of random currents per parameter set."""
    from harness.engines.native import integer
    from harness.quant.lif import int_step

    if GCC is None:
        pytest.skip("host gcc not installed")
    from hostc import WARN, run_ok

    exe = tmp_path / "lif_driver"
    src = [s for s in integer.kernel_sources() if s.name == "lif_q.c"]
    run_ok([GCC, "-O2", *WARN, *(f"-I{d}" for d in integer.include_dirs()), *map(str, src),
            str(Path(__file__).resolve().parent / "lif_driver.c"), "-o", str(exe)])
    rng = np.random.default_rng(bits)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    neurons, size, steps = _random_int_neurons(rng, bits, 60), 48, 6
    words: list[int] = [len(neurons)]
    want: list[int] = []
    for p in neurons:
        fields = list(p.c_fields().values())
        v = rng.integers(lo, hi + 1, size)
        currents = rng.integers(lo, hi + 1, (steps, size))
        words += [*fields, bits, size, steps, *v.tolist(), *currents.ravel().tolist()]
        count = 0
        for t in range(steps):
            s, v, _ = int_step(p, v, currents[t])
            want += [*v.tolist(), *s.tolist()]
            count += int(s.sum())
        want.append(count)
    out = run_ok([str(exe)], input=np.array(words, dtype="<i4").tobytes()).stdout
    np.testing.assert_array_equal(np.frombuffer(out, dtype="<i4"), np.array(want))

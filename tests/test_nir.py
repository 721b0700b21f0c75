"""NIR graphs (.nir): bench's import run for T steps against snnTorch's own
``import_from_nir`` running the same file (and, for an exported snnTorch
net, against the net itself); the refusals; the generated C on the host and
one short run on the emulated board."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Callable
from pathlib import Path

import nir
import nirtorch  # what snnTorch's import_from_nir runs on
import numpy as np
import pytest
import snntorch as snn
import torch
from hostc import GCC, compile_objects, emulator_test, run_model
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import _nir_to_snntorch_module, import_from_nir

from harness.engines.native.float32 import generate, include_dirs, kernel_sources
from harness.errors import ModelError
from harness.model.ir import Graph
from harness.model.load import load_graph
from harness.model.reference import run_snn
from harness.model.snn_options import SnnOptions

T = 12
DT = 1e-4
# snnTorch 1.0.0's export_to_nir calls nirtorch's deprecated extract_nir_graph.
_EXPORT_WARNS = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph:DeprecationWarning")


def _write(tmp_path: Path, graph: nir.NIRGraph, name: str = "net.nir") -> Path:
    path = tmp_path / name
    nir.write(str(path), graph)
    return path


def _f32(a: np.ndarray | list) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _lif(shape: tuple[int, ...], tau: float = 1e-3, r: float | None = None,
         thr: float = 1.0) -> nir.LIF:
    """Per-neuron arrays (as snnTorch writes them), all equal."""
    r = tau / DT if r is None else r  # r = tau/dt: the input enters unscaled
    return nir.LIF(tau=np.full(shape, tau, np.float32), r=np.full(shape, r, np.float32),
                   v_leak=np.zeros(shape, np.float32), v_threshold=np.full(shape, thr, np.float32),
                   v_reset=np.zeros(shape, np.float32))


def _dense(rng: np.random.Generator, n_out: int, n_in: int, gain: float = 1.0) -> nir.Affine:
    return nir.Affine(weight=_f32(rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)),
                      bias=_f32(rng.standard_normal(n_out) * 0.1))


def _run_torch(module: torch.nn.Module, x: np.ndarray, timesteps: int,
               readout: str = "spike_count") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A nirtorch GraphModule or an snnTorch net run for T steps from rest:
    (readout, spikes summed over T per snnTorch neuron, by node name)."""
    neurons = {name: m for name, m in module.named_modules() if isinstance(m, snn.Leaky)}
    counts: dict[str, np.ndarray] = {}

    def hook(name: str) -> Callable:
        def count(_m: torch.nn.Module, _i: object, out: object) -> None:
            spk = out[0] if isinstance(out, tuple) else out
            total = spk.detach().reshape(spk.shape[0], -1).sum(dim=1).numpy()
            counts[name] = counts.get(name, 0) + total
        return count

    handles = [m.register_forward_hook(hook(name)) for name, m in neurons.items()]
    for m in neurons.values():
        m.reset_mem()
    xt = torch.from_numpy(x)
    acc = None
    try:
        with torch.no_grad():
            for _ in range(timesteps):
                out = module(xt)
                out = out[0] if isinstance(out, tuple) else out  # nirtorch adds its state
                out = out.reshape(out.shape[0], -1)
                acc = out.clone() if acc is None or readout == "membrane_last" else acc + out
    finally:
        for h in handles:
            h.remove()
    assert acc is not None
    if readout == "output_mean":
        acc = acc / timesteps
    return acc.numpy(), counts


def _batched_flatten(node: nir.Flatten) -> torch.nn.Flatten:
    # NIR counts Flatten's dims without the batch (nir.ir.utils.calc_flatten_output,
    # and snnTorch's export subtracts one); snnTorch's import passes them to
    # torch.nn.Flatten unchanged, which then flattens the batch too.
    return torch.nn.Flatten(*(d + 1 if d >= 0 else d for d in (node.start_dim, node.end_dim)))


# snnTorch's import_from_nir (snntorch/import_nir.py) with Flatten's dims fixed.
_SNNTORCH_MAP = {
    **{cls: lambda n: _nir_to_snntorch_module(n, init_hidden=True)
       for cls in (nir.Affine, nir.Linear, nir.Conv2d, nir.AvgPool2d, nir.LIF)},
    nir.Flatten: _batched_flatten,
}


def _snntorch_import(path: Path, node_map: dict | None = None) -> torch.nn.Module:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints as it goes
        if node_map is None:
            return import_from_nir(nir.read(str(path)))
        return nirtorch.nir_to_torch(nir.read(str(path)), node_map)


def _agree(graph: Graph, x: np.ndarray, want_out: np.ndarray,
           want_spikes: dict[str, np.ndarray]) -> None:
    """Spike for spike per layer and the outputs, within float rounding (the
    tolerance harness/model/snn.py's verify_import allows)."""
    got = run_snn(graph, x)
    names = [layer.name for layer in graph.spiking_layers()]
    assert sorted(want_spikes) == sorted(names)
    for k, name in enumerate(names):
        want = want_spikes[name]
        assert want.sum() > 0, f"{name} never fires: the comparison would be empty"
        assert np.abs(got.spikes[:, k] - want).sum() <= 0.01 * want.sum(), name
    scale = max(1.0, float(np.abs(want_out).max()))
    off = np.abs(got.outputs - want_out) > 1e-3 * scale
    assert off.mean() <= 0.05


def _inputs(shape: tuple[int, ...], n: int = 8, seed: int = 1, gain: float = 2.0) -> np.ndarray:
    return _f32(np.random.default_rng(seed).standard_normal((n, *shape)) * gain)


# --------------------------------------------------------------------------- against snnTorch

@_EXPORT_WARNS
def test_snntorch_export_round_trip(tmp_path: Path) -> None:
    """An snnTorch net written by export_to_nir: bench's import agrees with the
    net itself and with snnTorch's import_from_nir of the file."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 16),
        snn.Leaky(beta=torch.full((16,), 0.9), threshold=torch.full((16,), 1.0),
                  init_hidden=True, reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(16, 4),
        snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.full((4,), 0.5), init_hidden=True,
                  reset_mechanism="zero", reset_delay=False))
    path = _write(tmp_path, export_to_nir(net, torch.randn(1, 10), ignore_dims=[0]))
    graph = load_graph(str(path), SnnOptions(timesteps=T))
    assert [(layer.name, layer.op) for layer in graph.layers] == [
        ("0", "linear"), ("1", "lif"), ("2", "linear"), ("3", "lif")]
    assert graph.readout == "spike_count"
    x = _inputs((10,))
    _agree(graph, x, *_run_torch(_snntorch_import(path), x, T))
    _agree(graph, x, *_run_torch(net, x, T))


def test_conv_graph_against_snntorch_import(tmp_path: Path) -> None:
    """Conv2d, SumPool2d (nirtorch's map in snnTorch's import), AvgPool2d,
    Flatten, Affine and LIFs whose r*dt/tau is not 1 (snnTorch then scales
    the threshold; bench the input: the same spikes)."""
    rng = np.random.default_rng(3)
    w1 = _f32(rng.standard_normal((4, 1, 3, 3)) * 0.6)
    w2 = _f32(rng.standard_normal((6, 4, 3, 3)) * 0.4)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv1": nir.Conv2d(input_shape=(8, 8), weight=w1, stride=1, padding=1, dilation=1,
                            groups=1, bias=_f32(np.full(4, 0.1))),
        "lif1": _lif((4, 8, 8), tau=2e-3, r=10.0),  # r*dt/tau = 0.5
        "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                             padding=np.array([0, 0])),
        "conv2": nir.Conv2d(input_shape=(4, 4), weight=w2, stride=1, padding=0, dilation=1,
                            groups=1, bias=_f32(np.zeros(6))),
        "lif2": _lif((6, 2, 2), tau=5e-4, thr=0.8),
        "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                             padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([6, 1, 1])}, start_dim=0, end_dim=-1),
        "fc": _dense(rng, 5, 6, gain=3.0),
        "lif3": _lif((5,), thr=0.3),
        "output": nir.Output(output_type=np.array([5])),
    }, edges=[("input", "conv1"), ("conv1", "lif1"), ("lif1", "sum"), ("sum", "conv2"),
              ("conv2", "lif2"), ("lif2", "avg"), ("avg", "flat"), ("flat", "fc"),
              ("fc", "lif3"), ("lif3", "output")])
    path = _write(tmp_path, g)
    graph = load_graph(str(path), SnnOptions(timesteps=T))
    ops = [layer.op for layer in graph.layers]
    assert ops == ["conv2d", "lif", "avgpool2d", "conv2d", "lif", "avgpool2d", "flatten",
                   "linear", "lif"]
    x = _inputs((1, 8, 8))
    _agree(graph, x, *_run_torch(_snntorch_import(path, _SNNTORCH_MAP), x, T))


def test_conv1d_and_residual_add_against_snntorch_import(tmp_path: Path) -> None:
    """Conv1d (nirtorch's map) and two edges into one node (summed: an add)."""
    rng = np.random.default_rng(4)
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type=np.array([2, 12])),
        "conv": nir.Conv1d(input_shape=12, weight=_f32(rng.standard_normal((3, 2, 3))),
                           stride=1, padding=1, dilation=1, groups=1, bias=_f32(np.zeros(3))),
        "lif0": _lif((3, 12)),
        "flat": nir.Flatten(input_type={"input": np.array([3, 12])}, start_dim=0, end_dim=-1),
        "a": _dense(rng, 8, 36, gain=2.0),
        "lif1": _lif((8,)),
        "b": _dense(rng, 8, 8, gain=2.0),
        "skip": _dense(rng, 8, 8, gain=2.0),
        "lif2": _lif((8,), thr=0.5),
        "out": nir.Output(output_type=np.array([8])),
    }, edges=[("in", "conv"), ("conv", "lif0"), ("lif0", "flat"), ("flat", "a"), ("a", "lif1"),
              ("lif1", "b"), ("lif1", "skip"), ("b", "lif2"), ("skip", "lif2"),
              ("lif2", "out")])
    path = _write(tmp_path, g)
    graph = load_graph(str(path), SnnOptions(timesteps=T))
    assert [layer.op for layer in graph.layers].count("add") == 1
    x = _inputs((2, 12))
    _agree(graph, x, *_run_torch(_snntorch_import(path, _SNNTORCH_MAP), x, T))


class _Membrane(torch.nn.Module):
    """NIR LI as snnTorch would run it: a Leaky that never resets, its
    membrane the output, the input scaled by r*dt/tau (snnTorch's import has
    no LI, and its IF mapping keeps beta = 0.9)."""

    def __init__(self, beta: float, scale: float) -> None:
        super().__init__()
        self.leaky = snn.Leaky(beta=beta, threshold=1e9, reset_mechanism="none",
                               init_hidden=True, output=True)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _spk, mem = self.leaky(x * self.scale)
        return mem


def _if_li_graph(rng: np.random.Generator) -> nir.NIRGraph:
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([6])),
        "fc1": _dense(rng, 10, 6, gain=2.0),
        "if1": nir.IF(r=np.full(10, 1 / DT, np.float32), v_threshold=np.full(10, 1.0, np.float32)),
        "fc2": _dense(rng, 3, 10, gain=2.0),
        "li": nir.LI(tau=np.full(3, 2e-3), r=np.full(3, 4.0), v_leak=np.zeros(3)),
        "output": nir.Output(output_type=np.array([3])),
    }, edges=[("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "li"), ("li", "output")])


@pytest.mark.parametrize("readout", ["output_mean", "membrane_last"])
def test_if_and_li_readout_against_snntorch_neurons(tmp_path: Path, readout: str) -> None:
    """IF (v += r dt I) and a leaky-integrator readout, against snnTorch's Leaky
    doing the same (beta 1 with a zero reset; beta = 1 - dt/tau, no reset)."""
    path = _write(tmp_path, _if_li_graph(np.random.default_rng(5)))
    graph = load_graph(str(path), SnnOptions(timesteps=T, readout=readout))
    assert [layer.op for layer in graph.layers] == ["linear", "lif", "linear", "li"]
    assert graph.readout == readout
    node_map = {
        nir.Affine: _nir_to_snntorch_module,  # nirtorch's own Affine map drops the bias
        nir.IF: lambda n: snn.Leaky(beta=1.0, threshold=float(n.v_threshold[0]),
                                    reset_mechanism="zero", reset_delay=False, init_hidden=True),
        nir.LI: lambda n: _Membrane(1 - DT / float(n.tau[0]), float(n.r[0] * DT / n.tau[0])),
    }
    x = _inputs((6,))
    want_out, want_spikes = _run_torch(_snntorch_import(path, node_map), x, T, readout)
    want_spikes.pop("li.leaky")  # the readout's never-firing Leaky is not a spiking layer
    _agree(graph, x, want_out, want_spikes)


def test_threshold_node(tmp_path: Path) -> None:
    """Threshold: a stateless step, z = I > threshold, counted as spikes."""
    g = _chain(_affine4(), nir.Threshold(threshold=np.full(4, 0.5, np.float32)))
    graph = load_graph(str(_write(tmp_path, g)), SnnOptions(timesteps=3))
    x = _f32([[0.4, 0.6, 0.5, 2.0]])
    got = run_snn(graph, x)
    np.testing.assert_array_equal(got.outputs, [[0, 3, 0, 3]])
    assert got.spikes.tolist() == [[6]]


def test_dt_sets_the_euler_step(tmp_path: Path) -> None:
    path = _write(tmp_path, _if_li_graph(np.random.default_rng(5)))
    for dt in (1e-4, 5e-4):
        graph = load_graph(str(path), SnnOptions(timesteps=2, dt=dt))
        neuron = graph.layers[1].params["neuron"]
        li = graph.layers[3].params["integrator"]
        assert neuron["gain"] == pytest.approx(dt / DT)  # r = 1/DT
        assert li["decay"] == pytest.approx(1 - dt / 2e-3)
        assert li["gain"] == pytest.approx(4.0 * dt / 2e-3)


# --------------------------------------------------------------------------- refusals

def _chain(*nodes: nir.NIRNode) -> nir.NIRGraph:
    """input -> nodes (named after their class: affine, lif, ...) -> output, of 4 values."""
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([4])), *nodes,
                                  nir.Output(output_type=np.array([4])), type_check=False)


def _affine4() -> nir.Affine:
    return nir.Affine(weight=_f32(np.eye(4)), bias=_f32(np.zeros(4)))


@pytest.mark.parametrize("make,options,message", [
    (lambda: _chain(_affine4(), _lif((4,))), SnnOptions(),
     r"net.nir: a NIR graph carries no number of timesteps: pass --timesteps T"),
    (lambda: _chain(_affine4(), nir.LIF(tau=_f32([1e-3, 1e-3, 2e-3, 1e-3]), r=np.ones(4),
                                        v_leak=np.zeros(4), v_threshold=np.ones(4))),
     SnnOptions(timesteps=2),
     r"node 'lif' \(LIF\): per-neuron parameters are not supported yet \(tau differs"),
    (lambda: _chain(_affine4(), nir.CubaLIF(tau_syn=np.ones(4), tau_mem=np.ones(4),
                                            r=np.ones(4), v_leak=np.zeros(4),
                                            v_threshold=np.ones(4))),
     SnnOptions(timesteps=2), r"node 'cubalif' \(CubaLIF\): not supported; bench imports"),
    (lambda: _chain(_affine4(), _lif((4,), tau=5e-5)), SnnOptions(timesteps=2),
     r"dt = 0.0001 s is longer than tau = 5e-05 s"),
    (lambda: _chain(_affine4(), _lif((4,))), SnnOptions(timesteps=2, readout="membrane_last",
                                                        encoding="direct", dt=1e-4), None),
    (lambda: _chain(_affine4(), nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4))),
     SnnOptions(timesteps=2, readout="spike_count"),
     r"comes from li: use --readout output_mean or membrane_last"),
    (lambda: _chain(nir.Affine(weight=_f32(np.ones((4, 8))), bias=_f32(np.zeros(4)))),
     SnnOptions(timesteps=2), r"node 'affine' \(Affine\): weight \(4, 8\) applied to shape"),
])
def test_refused_graphs(tmp_path: Path, make: Callable[[], nir.NIRGraph], options: SnnOptions,
                        message: str | None) -> None:
    path = _write(tmp_path, make())
    if message is None:  # the control: the same chain imports
        assert load_graph(str(path), options).readout == "membrane_last"
        return
    with pytest.raises(ModelError, match=message):
        load_graph(str(path), options)


def test_recurrent_edges_are_refused(tmp_path: Path) -> None:
    g = _chain(_affine4(), _lif((4,)))
    g.nodes["rec"] = _affine4()
    g.edges += [("lif", "rec"), ("rec", "affine")]
    with pytest.raises(ModelError, match=r"recurrent edges \(a cycle through 'affine', 'lif', "
                       r"'rec'\) are not supported"):
        load_graph(str(_write(tmp_path, g)), SnnOptions(timesteps=2))


@_EXPORT_WARNS
def test_snntorch_recurrent_export_is_refused(tmp_path: Path) -> None:
    """snnTorch's RLeaky export: a LIF and its recurrent weights in a cycle."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 4),
                              snn.RLeaky(beta=0.9, linear_features=4, init_hidden=True))
    with contextlib.redirect_stdout(io.StringIO()):
        g = export_to_nir(net, torch.randn(1, 4), ignore_dims=[0])
    with pytest.raises(ModelError, match=r"recurrent edges \(a cycle through '1.lif', '1.w_rec'\)"):
        load_graph(str(_write(tmp_path, g)), SnnOptions(timesteps=2))


def test_dt_is_for_nir_only(tmp_path: Path) -> None:
    spec = f"{Path(__file__).resolve().parent / 'snn_zoo.py'}:snntorch_conv"
    with pytest.raises(ModelError, match=r"--dt discretises a NIR graph.*\.nir models only"):
        load_graph(spec, SnnOptions(dt=1e-3))
    with pytest.raises(ModelError, match="--dt must be a positive number"):
        SnnOptions(dt=0.0)


def test_cli_without_timesteps_is_one_error_line(tmp_path: Path, bench_main) -> None:
    path = _write(tmp_path, _chain(_affine4(), _lif((4,))))
    r = bench_main("build", "--board", "stm32l452", "--model", str(path), "-o",
                   str(tmp_path / "b"))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert lines[0] == ("bench: error: net.nir: a NIR graph carries no number of timesteps: "
                        "pass --timesteps T")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    r = bench_main("build", "--board", "stm32l452", "--model", str(bad), "--timesteps", "2",
                   "-o", str(tmp_path / "b"))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: cannot read bad.nir"), r.stderr


# --------------------------------------------------------------------------- generated C

@pytest.mark.skipif(GCC is None, reason="host gcc not installed")
def test_generated_c_matches_reference(tmp_path: Path) -> None:
    """The IF + leaky-integrator graph compiled for the host (the li kernel):
    spike counts equal to the reference's, outputs within rounding."""
    path = _write(tmp_path, _if_li_graph(np.random.default_rng(5)))
    graph = load_graph(str(path), SnnOptions(timesteps=T, readout="membrane_last"))
    out_dir = tmp_path / "gen"
    gen = generate(graph, out_dir, b"\2" * 8)
    objs = compile_objects(kernel_sources(), include_dirs(), tmp_path)
    n = 16
    x = _inputs((6,), n=n, seed=9)
    raw = run_model(out_dir, objs, include_dirs(), n, x.astype("<f4").tobytes())
    out_b = struct.unpack_from("<I", raw, 4)[0]
    body = np.frombuffer(raw[38:], dtype=np.uint8).reshape(n, out_b + 4)
    outputs = body[:, :out_b].copy().view("<f4")
    spikes = body[:, out_b:].copy().view("<u4").astype(np.int64)
    want = run_snn(graph, x)
    assert want.spikes.sum() > 0
    same = (spikes == want.spikes).all(axis=1)
    assert same.mean() >= 0.9
    np.testing.assert_allclose(outputs[same], want.outputs[same], rtol=1e-4, atol=1e-4)
    assert gen.state_bytes == 4 * (10 + 3)  # the IF's and the integrator's potentials


@pytest.mark.skipif(GCC is None, reason="host gcc not installed")
@pytest.mark.parametrize("dtype", ["int16", "int8"])
@pytest.mark.parametrize("readout", ["output_mean", "membrane_last"])
def test_integer_li_readout_is_bit_exact(tmp_path: Path, readout: str, dtype: str) -> None:
    """The leaky-integrator readout on integers: the host-compiled C equals
    the integer reference in every output and spike count, and in int16 the
    readout stays near the float model's (the potential is the output, in
    the state's format)."""
    from harness.engines.native import integer
    from harness.quant import QuantConfig
    from harness.quant.calibrate import calibrate
    from harness.quant.reference import run_qsnn
    from harness.quant.schemes import quantize_graph

    path = _write(tmp_path, _if_li_graph(np.random.default_rng(5)))
    graph = load_graph(str(path), SnnOptions(timesteps=T, readout=readout))
    # inputs small enough for the IF's potential to fit int8 with its threshold
    cal = calibrate(graph, _inputs((6,), n=64, seed=3, gain=0.5))
    qgraph = quantize_graph(graph, QuantConfig("pot", cal), dtype)
    x = _inputs((6,), n=16, seed=9, gain=0.5)
    xq = qgraph.input_q.quantize(x)
    want_out, want_spikes = run_qsnn(qgraph, xq)
    out_dir = tmp_path / "gen"
    integer.generate(qgraph, out_dir, b"\2" * 8)
    objs = compile_objects(integer.kernel_sources(), integer.include_dirs(), tmp_path)
    raw = run_model(out_dir, objs, integer.include_dirs(), len(x), xq.tobytes())
    out_b = struct.unpack_from("<I", raw, 4)[0]
    body = np.frombuffer(raw[38:], dtype=np.uint8).reshape(len(x), out_b + 4)
    assert want_spikes.sum() > 0
    np.testing.assert_array_equal(body[:, out_b:].copy().view("<u4"), want_spikes)
    np.testing.assert_array_equal(body[:, :out_b].copy().view(dtype), want_out)
    if dtype == "int16":  # (in int8 the IF layer's spike times move, and the readout)
        out_q = qgraph.readout_q or qgraph.tensors[graph.output]
        real = (want_out.astype(np.float64) - out_q.zero_point) * out_q.scale
        float_out = run_snn(graph, x).outputs
        assert np.abs(real - float_out).max() <= 0.05 * np.abs(float_out).max()


@emulator_test
def test_run_nir_on_qemu(bench_main, tmp_path: Path) -> None:
    """bench run with a .nir on the emulated board: complete, spike counts as
    the reference's."""
    from harness.datasets import load_dataset

    rng = np.random.default_rng(7)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "flat": nir.Flatten(input_type={"input": np.array([1, 8, 8])}, start_dim=0, end_dim=-1),
        "fc1": _dense(rng, 16, 64, gain=0.5),
        "lif1": _lif((16,), thr=0.5),
        "fc2": _dense(rng, 10, 16, gain=3.0),
        "lif2": _lif((10,), thr=0.5),
        "output": nir.Output(output_type=np.array([10])),
    }, edges=[("input", "flat"), ("flat", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"),
              ("fc2", "lif2"), ("lif2", "output")])
    path = _write(tmp_path, g)
    db = tmp_path / "r.db"
    r = bench_main("run", "--board", "stm32l452", "--backend", "qemu", "--model", str(path),
                   "--dataset", "digits", "--limit", "4", "--timesteps", "4", "--dt", "2e-4",
                   "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["timesteps"], summary["readout"], summary["status"]) == (
        4, "spike_count", "complete")
    r = bench_main("export", str(summary["run_id"]), "-o", str(tmp_path / "e.npz"),
                   "--db", str(db))
    assert r.returncode == 0, r.stderr
    spikes = np.load(tmp_path / "e.npz")["spikes"]
    graph = load_graph(str(path), SnnOptions(timesteps=4, dt=2e-4))
    want = run_snn(graph, load_dataset("digits").x[:4])
    assert want.spikes.sum() > 0
    assert np.abs(spikes - want.spikes).sum() <= 0.01 * want.spikes.sum()
    # a profile rebuilds the graph from what the run stored (T and dt came
    # from the command line: a .nir carries neither)
    assert summary["dt"] == 2e-4
    r = bench_main("profile", str(summary["run_id"]), "--samples", "1", "--db", str(db),
                   "--json")
    assert r.returncode == 0, r.stderr
    # fc1 reads only the input: once per sample; lif1, fc2, lif2 per step
    assert [layer["name"].split(" ")[1] for layer in json.loads(r.stdout)["layers"]] == [
        "(once)", *[f"t={t}" for t in range(4) for _ in range(3)]]

"""Activity and cost of spiking runs: fan-outs from the geometry, NeuroBench's
figures from spike counts, and the two energy models, on small graphs whose
numbers are worked out by hand here (and a conv/pool fan-out checked
against torch's own autograd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from snn_graphs import conv, flatten, graph, lif, linear, mlp, pool

from harness.model import fanout
from harness.model.ir import Graph, Layer
from harness.snn_energy import ac_mac, lemaire2022
from harness.snn_metrics import activity, parse_layers

# -- fan-out ------------------------------------------------------------------------------


def test_linear_fanout_is_the_nonzero_weights_of_each_input_column() -> None:
    spiking = fanout.spike_layers(mlp())
    assert [(s.name, s.neurons, s.leak) for s in spiking] == [("s0", 4, True), ("s1", 3, False)]
    assert spiking[0].synapses == {"fc1": 11}  # 3 outputs x 4 inputs, one weight zero
    assert spiking[1].synapses == {}  # the output layer reaches nothing
    fc0, fc1 = fanout.synaptic_layers(mlp())
    assert (fc0.spiking_input, fc0.target, fc0.connections, fc0.effective) == (False, "s0",
                                                                               16, 16)
    assert (fc1.spiking_input, fc1.target, fc1.connections, fc1.effective) == (True, "s1", 12, 11)


def strided_conv() -> Graph:
    """spikes (2,5,5) -> conv 2->3, 3x3, stride 2, padding 1 -> (3,3,3)."""
    w = np.ones((3, 2, 3, 3), np.float32)
    w[0, 1, 0, 0] = 0.0  # output channel 0, input channel 1, top-left tap
    c = conv("c1", "s0", (2, 5, 5), w, stride=(2, 2), pad=(1, 1))
    return graph((2, 5, 5), lif("s0", "input", (2, 5, 5)), c, lif("s1", "c1", c.out_shape))


def test_conv_fanout_counts_padding_and_stride_per_position() -> None:
    """Along one axis (5 inputs, 3 outputs, stride 2, pad 1), tap k reaches
    input 2o - 1 + k: tap 0 -> {1, 3}, tap 1 -> {0, 2, 4}, tap 2 -> {1, 3}
    (5 is past the end). Inputs 0, 2, 4 are under 1 tap, 1 and 3 under 2."""
    g = strided_conv()
    c = g.layers[1]
    per_axis = np.array([1, 2, 1, 2, 1])
    want = np.stack([3 * np.outer(per_axis, per_axis)] * 2)  # x 3 output channels
    # the zero weight: tap (0, 0) of input channel 1 lands on rows/cols 1 and 3
    for y in (1, 3):
        for x in (1, 3):
            want[1, y, x] -= 1
    np.testing.assert_array_equal(fanout.input_fanout(c), want)
    assert want[0, 0, 0] == 3  # a corner: the centre tap only (Qualia: ceil(3/2)^2 x 3 = 12)
    (layer,) = fanout.synaptic_layers(g)
    assert (layer.connections, layer.effective, layer.macs) == (7 * 7 * 2 * 3, 290, 27 * 18)
    assert fanout.spike_layers(g)[0].synapses == {"c1": 290}


def test_pooling_passes_spikes_on_to_the_next_weighted_layer() -> None:
    """Non-overlapping max pooling: one pooled output per spike, so 5
    synapses each; overlapping 3x3/1/pad 1 average pooling on 4x4: inputs
    sit in [2, 3, 3, 2] windows per axis, 100 windows in all, 5 each."""
    for op, k, s, p, windows in (("maxpool2d", 2, 2, 0, 16), ("avgpool2d", 3, 1, 1, 100)):
        pl = pool("p", op, "s0", (1, 4, 4), k, s, p)
        fl = flatten("f", "p", pl.out_shape)
        g = graph((1, 4, 4), lif("s0", "input", (1, 4, 4)), pl, fl,
                  linear("fc", "f", np.ones((5, fl.out_shape[0]))), lif("s1", "fc", (5,)))
        assert fanout.spike_layers(g)[0].synapses == {"fc": windows * 5}, op
        assert fanout.synaptic_layers(g)[0].spiking_input


def test_add_and_global_pool_reach_the_layer_behind_them() -> None:
    """Two spiking layers summed, then global average pooling, then 2 -> 4:
    every neuron of either layer reaches the 4 outputs of its channel."""
    a, b = lif("a", "input", (2, 3, 3)), lif("b", "input", (2, 3, 3))
    add = Layer("sum", "add", ["a", "b"], "sum", [(2, 3, 3)] * 2, (2, 3, 3), {"activation": None})
    gp = Layer("gp", "global_avgpool", ["sum"], "gp", [(2, 3, 3)], (2,))
    g = graph((2, 3, 3), a, b, add, gp, linear("fc", "gp", np.ones((4, 2))), lif("s", "fc", (4,)))
    assert [s.synapses for s in fanout.spike_layers(g)] == [{"fc": 72}, {"fc": 72}, {}]


def test_conv_and_pool_fanouts_agree_with_torch_autograd() -> None:
    """The fan-out of an input position is d/dx of the summed layer output
    with binarised weights (conv) or window sums (pool): torch computes it."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 2, 3, 4)).astype(np.float32)
    w[rng.random(w.shape) < 0.3] = 0.0
    c = conv("c", "input", (4, 9, 11), w, stride=(2, 3), pad=(1, 2), groups=2)
    x = torch.zeros((1, 4, 9, 11), requires_grad=True)
    torch.nn.functional.conv2d(x, torch.from_numpy((w != 0).astype(np.float32)), stride=(2, 3),
                               padding=(1, 2), groups=2).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(fanout.input_fanout(c), x.grad[0].numpy().astype(np.int64))
    pl = pool("p", "maxpool2d", "input", (3, 7, 7), 3, 2, 1)
    after = rng.integers(0, 9, size=pl.out_shape)
    x = torch.zeros((1, 3, 7, 7), requires_grad=True)
    window_sums = torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=True) * 9
    (window_sums[0] * torch.from_numpy(after).float()).sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(fanout._through(pl, after, 0),
                                  x.grad[0].numpy().round().astype(np.int64))


# -- activity -----------------------------------------------------------------------------


def test_activity_of_hand_counted_spikes() -> None:
    g = mlp()
    spiking, synaptic = fanout.spike_layers(g), fanout.synaptic_layers(g)
    a = activity(spiking, synaptic, [10.0, 2.0], timesteps=5)
    assert [x.spike_rate for x in a.layers] == pytest.approx([10 / 20, 2 / 15])
    assert a.ActivationSparsity == pytest.approx(1 - 12 / 35)
    assert a.Effective_ACs == pytest.approx(10 * 11 / 4)  # each s0 spike: 11/4 synapses
    assert a.Effective_MACs == 16 * 5  # fc0 reads the sample at every step
    assert a.Dense == (16 + 12) * 5
    assert a.MembraneUpdates == (4 + 3) * 5
    assert [c.input_events for c in a.synaptic] == [4 * 5, 10]
    assert [c.output_spikes for c in a.synaptic] == [10, 2]
    assert a.layers[0].synaptic_operations == pytest.approx(27.5)


def test_stored_records_round_trip_and_old_runs_have_none() -> None:
    g = mlp()
    stored = fanout.to_json(fanout.spike_layers(g)), fanout.to_json(fanout.synaptic_layers(g))
    assert parse_layers(*stored) == (fanout.spike_layers(g), fanout.synaptic_layers(g))
    assert parse_layers([{"name": "s0", "neurons": 4}], None) is None  # before fan-outs
    with pytest.raises(ValueError, match="1 spike counts for 2 spiking layers"):
        activity(fanout.spike_layers(g), fanout.synaptic_layers(g), [1.0], 5)


# -- energy models ------------------------------------------------------------------------


def ram(n: int, bits: int = 32) -> float:
    return 1.09e-5 * n * bits + 13.2


def test_lemaire2022_by_hand() -> None:
    """float32: 32-bit add 0.1 pJ, mult 3.1 pJ (MAC 3.2). fc0 is Qualia's
    hybrid layer (dense input once), fc1 takes 10 spikes of s0 (27.5 ACs)
    and charges the IF layer s1 (no leak) which fires 2."""
    g = mlp()
    spiking, synaptic = fanout.spike_layers(g), fanout.synaptic_layers(g)
    a = activity(spiking, synaptic, [10.0, 2.0], timesteps=5)
    fc0 = (16 * 3.2 + 4 * 0.1 + 4 * 3.1 + 10 * 0.1  # MACs, bias once, leak once, resets
           + 4 * 4 * 0.1                             # addressing: theta x N_out
           + 2 * (16 * 5 + 4 * 5) * ram(4)           # potentials read and written, 5 steps
           + 16 * ram(16) + 4 * 5 * ram(4)           # weights, biases
           + (4 + 10) * 13.2)                        # input values and output spikes
    fc1 = ((27.5 + 5 * 3 + 2) * 0.1                  # ACs, bias per step, resets; no leak
           + 10 * 3 * 0.1
           + 2 * (27.5 + 3 * 5) * ram(3)
           + 27.5 * ram(12) + 3 * 5 * ram(3)
           + (10 + 2) * 13.2)
    ann = (16 * 3.2 + 4 * 0.1 + 16 * 0.1 + 16 * ram(16) + 4 * ram(4) + 4 * ram(4) + 4 * ram(4)
           + 12 * 3.2 + 3 * 0.1 + 12 * 0.1 + 12 * ram(12) + 3 * ram(3) + 4 * ram(4) + 3 * ram(3))
    e = lemaire2022(spiking, synaptic, a, "float32")
    assert (e.model, e.kind) == ("lemaire2022", "estimate")
    assert e.snn_uj == pytest.approx((fc0 + fc1) * 1e-6)
    assert e.ann_uj == pytest.approx(ann * 1e-6)
    # int8: Horowitz's 8-bit figures and 8-bit memories
    e8 = lemaire2022(spiking, synaptic, a, "int8")
    fc1_8 = ((27.5 + 15 + 2) * 0.03 + 10 * 3 * 0.03 + 2 * 42.5 * ram(3, 8)
             + 27.5 * ram(12, 8) + 15 * ram(3, 8) + 12 * 13.2)
    fc0_8 = (16 * 0.23 + 4 * 0.03 + 4 * 0.2 + 10 * 0.03 + 16 * 0.03 + 2 * 100 * ram(4, 8)
             + 16 * ram(16, 8) + 20 * ram(4, 8) + 14 * 13.2)
    assert e8.snn_uj == pytest.approx((fc0_8 + fc1_8) * 1e-6)


def test_ac_mac_model_by_hand() -> None:
    g = mlp()
    spiking, synaptic = fanout.spike_layers(g), fanout.synaptic_layers(g)
    e = ac_mac(synaptic, activity(spiking, synaptic, [10.0, 2.0], timesteps=5))
    assert e.snn_uj == pytest.approx((0.9 * 27.5 + 4.6 * 80) * 1e-6)
    assert e.ann_uj == pytest.approx(4.6 * 28 * 1e-6)
    assert "pJ/AC" in e.label and e.kind == "estimate"

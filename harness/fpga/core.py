"""The SNN core's side of a model: which quantized spiking networks it can
express, the Verilog parameters that size it (``CoreConfig``), and the
model-load image (layer descriptors, weights, biases, configuration) that
docs/fpga-protocol.md specifies.

What the core runs: a chain of stages, each a conv2d (stride 1, no groups,
no dilation) or a linear layer followed by one IF/LIF neuron layer, then
optionally a max pool on the spikes (kernel = stride, a power of two, no
padding) and flattens; direct encoding (the frame every step), spike_count
readout from the last neuron layer, the pot integer scheme (int8, int16).
Anything else is refused with one line naming it.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import BuildError, ModelError
from harness.model.ir import numel
from harness.paths import ROOT
from harness.quant.schemes import QGraph, QLayer

TOP = "bench_snn_top"
RTL_DIR = ROOT / "fpga" / "rtl"
DESC_WORDS = 64  # descriptor stride per layer, in 32-bit words (35 used)
DTYPE_CODES = {"int16": 1, "int8": 2}  # docs/protocol.md's dtype codes
REGION_CONFIG, REGION_DESC, REGION_WEIGHTS, REGION_BIAS = 0, 1, 2, 3

# The reference configuration: what one iCE40 UP5K bitstream holds (4 SPRAM
# blocks of 16K x 16: weights, potentials, and two for 32-bit accumulators;
# the rest in EBR block RAM). Every model that fits it runs on the same
# bitstream, configured over the link.
REFERENCE: dict[str, int] = {
    "ClockHz": 12_000_000, "ClksPerBit": 104, "MaxPayload": 1024, "MaxLayers": 8,
    "WeightDepth": 16384, "BiasDepth": 512, "PotDepth": 16384, "AccDepth": 16384,
    "InDepth": 256, "EvDepth": 512, "MaxOutputs": 16, "RxDepth": 2048, "TxDepth": 512,
}
# What each depth holds, for refusals.
_WHAT = {"MaxLayers": "layers", "WeightDepth": "weights", "BiasDepth": "biases (one per "
         "output channel)", "PotDepth": "membrane potentials (all neurons)",
         "AccDepth": "accumulators (the largest layer's neurons)",
         "InDepth": "input values", "EvDepth": "events of one layer's step (its pooled neurons)",
         "MaxOutputs": "outputs"}


def rtl_sources() -> list[Path]:
    """The core's Verilog, one module per file."""
    return sorted(RTL_DIR.glob("*.v"))


def rtl_digest() -> str:
    h = hashlib.sha256()
    for p in rtl_sources():
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class CoreConfig:
    """The Verilog parameters of bench_snn_top for one build."""

    parameters: dict[str, int]

    def args(self, flag: str = "-G") -> list[str]:
        """As tool arguments, e.g. ``-GWeightDepth=16384`` (Verilator) or
        ``chparam`` pairs for yosys."""
        return [f"{flag}{k}={v}" for k, v in sorted(self.parameters.items())]


@dataclass(frozen=True)
class Stage:
    """One layer of the core: a synaptic layer, its neurons, its pooling."""

    name: str  # the neuron layer's (its spikes are counted under this name)
    desc: tuple[int, ...]  # the descriptor words (docs/fpga-protocol.md)
    weights: np.ndarray  # int16, in the core's order
    biases: np.ndarray  # int32, one per output channel
    neurons: int
    pooled: int  # events it can send to the next stage in one step


@dataclass(frozen=True)
class CoreModel:
    """A quantized SNN as the core runs it."""

    dtype: str
    timesteps: int
    n_in: int
    n_out: int
    stages: tuple[Stage, ...] = field(default=())

    def needs(self) -> dict[str, int]:
        """How much of each sized memory the model takes."""
        return {
            "MaxLayers": len(self.stages),
            "WeightDepth": sum(len(s.weights) for s in self.stages),
            "BiasDepth": sum(len(s.biases) for s in self.stages),
            "PotDepth": sum(s.neurons for s in self.stages),
            "AccDepth": max(s.neurons for s in self.stages),
            "InDepth": self.n_in,
            "EvDepth": max([s.pooled for s in self.stages[:-1]], default=1),
            "MaxOutputs": self.n_out,
        }

    @property
    def input_bytes(self) -> int:
        return self.n_in * (1 if self.dtype == "int8" else 2)


def _pow2(n: int, floor: int = 2) -> int:
    return max(floor, 1 << max(0, math.ceil(math.log2(max(n, 1)))))


def size_core(model: CoreModel, base: dict[str, int] | None = None) -> CoreConfig:
    """The smallest core for ``model`` (power-of-two depths), refused with
    the memory that overflows and by how much when it exceeds what an
    iCE40 UP5K bitstream of bench's core holds (REFERENCE)."""
    check_fits(model, REFERENCE)
    params = dict(base or REFERENCE)
    for key, n in model.needs().items():
        params[key] = min(REFERENCE[key], _pow2(n))
    params["MaxPayload"] = max(64, model.input_bytes, 512)
    return CoreConfig(params)


def check_fits(model: CoreModel, params: dict[str, int]) -> None:
    """BuildError naming every memory of the core ``model`` overflows."""
    over = []
    for key, n in model.needs().items():
        if n > params[key]:
            over.append(f"{_WHAT[key]}: {n:,} > {params[key]:,} (over by {n - params[key]:,})")
    if model.input_bytes > params["MaxPayload"]:
        over.append(f"input frame: {model.input_bytes:,} bytes > the {params['MaxPayload']:,} "
                    "a frame may carry")
    if over:
        raise BuildError("model does not fit the SNN core's memories: " + "; ".join(over))


# --------------------------------------------------------------------------- the mapping

def _refuse(q: QLayer, why: str) -> ModelError:
    return ModelError(f"layer {q.name!r} ({q.op}): {why}")


def _check_range(q: QLayer, what: str, value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise _refuse(q, f"{what} {value} is outside what the core holds ([{lo}, {hi}])")
    return int(value)


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 1:
        return shape[0], 1, 1
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise ModelError(f"the SNN core takes (C, H, W) or (N,) tensors, not {shape}")


def core_model(qgraph: QGraph) -> CoreModel:
    """The model as the core runs it; ModelError naming what it lacks."""
    graph = qgraph.graph
    if qgraph.scheme != "pot":
        raise ModelError(f"the SNN core computes the pot scheme, not {qgraph.scheme}")
    if graph.encoding != "direct":
        raise ModelError(f"encoding {graph.encoding}: the SNN core takes one frame fed at "
                         "every step (direct encoding)")
    if graph.readout != "spike_count":
        raise ModelError(f"readout {graph.readout}: the SNN core returns the output layer's "
                         "spike counts (--readout spike_count)")
    shape = _chw(tuple(graph.input_shape))  # of the tensor the next synaptic layer reads
    stages: list[Stage] = []
    syn: QLayer | None = None
    lif: QLayer | None = None
    pool = 0
    pbase = wbase = bbase = 0

    def close() -> None:
        nonlocal syn, lif, pool, pbase, wbase, bbase, shape
        assert syn is not None and lif is not None
        stage = _stage(syn, lif, pool, shape, pbase, wbase, bbase)
        stages.append(stage)
        pbase += stage.neurons
        wbase += len(stage.weights)
        bbase += len(stage.biases)
        c, h, w = _chw(tuple(lif.layer.out_shape))
        shape = (c, h >> pool, w >> pool)
        syn, lif, pool = None, None, 0

    for q in qgraph.layers:
        op = q.op
        if op in ("conv2d", "linear"):
            if syn is not None and lif is None:
                raise _refuse(syn, "the SNN core needs a spiking neuron layer after each "
                              "conv2d/linear layer")
            if lif is not None:
                close()
            syn = q
        elif op == "lif":
            if syn is None or lif is not None:
                raise _refuse(q, "the SNN core's neurons follow a conv2d or linear layer")
            lif = q
        elif op == "maxpool2d":
            if lif is None or pool:
                raise _refuse(q, "the SNN core pools spikes right after a neuron layer")
            p = q.layer.params
            k, s = tuple(p["kernel"]), tuple(p["stride"])
            if k != s or k[0] != k[1] or k[0] not in (2, 4, 8) or any(p["padding"]):
                raise _refuse(q, f"the SNN core pools with kernel = stride = 2, 4 or 8 and no "
                              f"padding, not kernel {k} stride {s} padding {p['padding']}")
            c, h, w = _chw(tuple(lif.layer.out_shape))
            if h % k[0] or w % k[0]:
                raise _refuse(q, f"{h}x{w} is not a whole number of {k[0]}x{k[0]} windows")
            pool = int(math.log2(k[0]))
        elif op in ("flatten", "reshape"):
            if len(q.layer.out_shape) != 1:
                raise _refuse(q, "the SNN core flattens to (N,) only")
        else:
            raise _refuse(q, f"the SNN core has no {op} layer; it runs conv2d (stride 1) or "
                          "linear layers each followed by IF/LIF neurons, max pooling of "
                          "spikes and flatten")
    if syn is None or lif is None:
        raise ModelError("the SNN core needs the model to end in a spiking neuron layer")
    if pool:
        raise ModelError(f"layer {lif.name!r}: the SNN core's last neuron layer is the output; "
                         "it cannot be pooled")
    out_tensor = lif.layer.output
    close()
    last = stages[-1]
    if out_tensor != graph.output:
        raise ModelError("the SNN core's output is its last neuron layer's spikes")
    stages[-1] = Stage(last.name, (last.desc[0] | 2, *last.desc[1:]), last.weights,
                       last.biases, last.neurons, last.pooled)
    if numel(graph.output_shape) != last.neurons:
        raise ModelError("the SNN core's output is its last neuron layer's spikes")
    if not 1 <= graph.timesteps <= 0xFFFF:
        raise ModelError(f"{graph.timesteps} timesteps: the SNN core counts up to 65535")
    return CoreModel(dtype=qgraph.dtype, timesteps=graph.timesteps,
                     n_in=numel(graph.input_shape), n_out=last.neurons, stages=tuple(stages))


def _stage(syn: QLayer, lif: QLayer, pool: int, shape: tuple[int, int, int], pbase: int,
           wbase: int, bbase: int) -> Stage:
    assert syn.weight is not None and syn.bias is not None and syn.shift is not None
    n = lif.neuron
    assert n is not None
    if syn.mult is not None or syn.input_offset or syn.output_offset:
        raise _refuse(syn, "the SNN core computes the pot scheme (no zero points or "
                      "multipliers)")
    shifts = np.unique(syn.shift)
    if len(shifts) != 1:
        raise _refuse(syn, "the SNN core requantizes with one shift per layer")
    c_in, h_in, w_in = shape
    out = _chw(tuple(syn.layer.out_shape))
    if syn.op == "linear":
        linear = True
        kh = kw = 1
        ph = pw = 0
        if syn.weight.shape[1] != c_in * h_in * w_in:
            raise _refuse(syn, f"weight {syn.weight.shape} does not match its input {shape}")
        # the core's order: input index major, output minor (a column per input event)
        weights = syn.weight.astype(np.int64).T.reshape(-1)
        stride = out[0]
    else:
        linear = False
        p = syn.layer.params
        if tuple(p["stride"]) != (1, 1) or int(p["groups"]) != 1 or \
                tuple(p.get("dilation", (1, 1))) != (1, 1):
            raise _refuse(syn, f"the SNN core convolves with stride 1, groups 1, dilation 1 "
                          f"(not stride {tuple(p['stride'])}, groups {p['groups']})")
        kh, kw = (int(k) for k in p["kernel"])
        ph, pw = (int(k) for k in p["padding"])
        if ph >= kh or pw >= kw:
            raise _refuse(syn, f"padding {ph, pw} of a {kh}x{kw} kernel is more than the "
                          "SNN core takes (less than the kernel)")
        # (Cout, Cin, kh, kw) -> (Cin, kh, kw, Cout): an event's weights are consecutive
        weights = np.transpose(syn.weight.astype(np.int64), (1, 2, 3, 0)).reshape(-1)
        stride = kh * kw * out[0]
    _check_range(syn, "input channels" if not linear else "inputs", c_in, 1, 1023)
    _check_range(syn, "output channels", out[0], 1, 1023)
    for what, v in (("height", out[1]), ("width", out[2]), ("input height", h_in),
                    ("input width", w_in)):
        _check_range(syn, what, v, 1, 255)
    for what, v in (("kernel", kh), ("kernel", kw)):
        _check_range(syn, what, v, 1, 15)
    # The neuron unit computes in 36 bits (fpga/rtl/snn_lif_unit.v): these keep
    # every intermediate of the 64-bit reference inside them.
    shift = _check_range(syn, "requantization shift", int(shifts[0]), -3, 31)
    _check_range(lif, "input shift", n.in_shift, -3, 33)
    _check_range(lif, "input multiplier", n.in_mult, 0, 0xFFFF)
    most = max(abs(syn.act_min), abs(syn.act_max)) * n.in_mult << max(0, -n.in_shift)
    if most >= 2**33:
        raise _refuse(lif, f"its scaled input current reaches {most:.3g}, beyond the 2**33 "
                      "the SNN core's neuron unit holds")
    _check_range(lif, "decay multiplier", n.decay_mult, 0, 0xFFFF)
    _check_range(lif, "decay shift", n.decay_shift, 0, 31)
    neurons = out[0] * out[1] * out[2]
    _check_range(syn, "neurons", neurons, 1, 0xFFFF)
    _check_range(syn, "weights per input", stride, 1, 0xFFFF)
    bias = syn.bias.astype(np.int64)
    desc = (int(linear), c_in, h_in, w_in, out[0], out[1], out[2], kh, kw, ph, pw, pool,
            wbase, bbase, pbase, shift, syn.act_min, syn.act_max, n.decay_mode, n.decay_shift,
            n.decay_mult, n.in_mult, n.in_shift, n.offset, n.threshold, n.v_reset, n.v_init,
            n.reset, n.fire_ge, n.pre_reset, n.post_reset, h_in * w_in, out[1] * out[2],
            stride, neurons)
    return Stage(name=lif.name, desc=tuple(int(d) for d in desc), weights=weights,
                 biases=bias, neurons=neurons, pooled=neurons >> (2 * pool))


# --------------------------------------------------------------------------- the load image

def _words(values: np.ndarray | list[int] | tuple[int, ...], fmt: str) -> bytes:
    mask = (1 << (8 * struct.calcsize(fmt))) - 1
    return b"".join(struct.pack("<" + fmt.upper(), int(v) & mask) for v in values)


def load_payloads(model: CoreModel, model_hash: bytes, build_id: bytes,
                  max_payload: int = 512) -> list[bytes]:
    """The LOAD messages' payloads, in the order a host sends them: the
    configuration's first word (unloads), descriptors, weights, biases, then
    the whole configuration (which makes the model live)."""
    descs: list[int] = []
    for stage in model.stages:
        descs += [*stage.desc, *([0] * (DESC_WORDS - len(stage.desc)))]
    weights = np.concatenate([s.weights for s in model.stages])
    biases = np.concatenate([s.biases for s in model.stages])
    config = [len(model.stages), model.timesteps, DTYPE_CODES[model.dtype], model.n_in,
              model.n_out, *struct.unpack("<II", model_hash[:8]),
              *struct.unpack("<II", build_id[:8])]
    out = [_chunk(REGION_CONFIG, 0, [0], "i")]
    for region, values, fmt in ((REGION_DESC, descs, "i"), (REGION_WEIGHTS, weights, "h"),
                                (REGION_BIAS, biases, "i")):
        per = (max_payload - 8) // struct.calcsize(fmt)
        for start in range(0, len(values), per):
            out.append(_chunk(region, start, values[start:start + per], fmt))
    out.append(_chunk(REGION_CONFIG, 0, config, "i"))
    return out


def _chunk(region: int, start: int, values: np.ndarray | list[int], fmt: str) -> bytes:
    return struct.pack("<BBHI", region, 0, len(values), start) + _words(values, fmt)


def config_for(qgraph: QGraph) -> CoreConfig:
    """The core sized for a quantized SNN (what synthesis builds for it);
    ModelError or BuildError naming what it cannot express or hold."""
    return size_core(core_model(qgraph))

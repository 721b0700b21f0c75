"""Spiking networks from snnTorch and SpikingJelly: the network for ONE
timestep, as users write it, lowered like any other model with its neurons
as single graph nodes; bench, not the model, runs the T-step loop.

How: every neuron module is swapped (on a copy of the model) for a marker
whose forward calls the custom op ``bench::neuron(x, index)``, so
``torch.export`` keeps one node per neuron and the ATen lowering
(aten_ops.py) turns it into a ``lif`` layer carrying the neuron's
parameters (neuron.py). The import is then checked against the library's
own modules, run for T steps on a random input (``verify_against_library``).

T, the readout and the encoding come from attributes of the module (or the
factory): ``timesteps``, ``readout``, ``encoding``; the command line
overrides them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from harness.errors import ModelError
from harness.model.ir import SPIKING, STATEFUL, Graph, numel
from harness.model.neuron import Neuron
from harness.model.snn_options import SnnOptions

# --------------------------------------------------------------------------- the custom ops

@torch.library.custom_op("bench::neuron", mutates_args=())
def _neuron_op(x: torch.Tensor, index: int) -> torch.Tensor:
    # Only traced, never run for numbers: bench's reference runs the neuron.
    return (x > 0).to(x.dtype)


@_neuron_op.register_fake
def _(x: torch.Tensor, index: int) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("bench::membrane", mutates_args=())
def _membrane_op(x: torch.Tensor, index: int) -> torch.Tensor:
    return x.clone()


@_membrane_op.register_fake
def _(x: torch.Tensor, index: int) -> torch.Tensor:
    return torch.empty_like(x)


class _Marker(torch.nn.Module):
    """Stands in for neuron ``index`` while the model is exported."""

    def __init__(self, index: int, path: str, returns_membrane: bool) -> None:
        super().__init__()
        self.index, self.path, self.returns_membrane = index, path, returns_membrane

    def forward(self, x: torch.Tensor, mem: Any = None) -> Any:
        if mem is not None:
            raise ModelError(
                f"{self.path!r} is given a membrane potential: pass only the input current "
                "(bench keeps the state and resets it before every sample)")
        spk = _neuron_op(x, self.index)
        if self.returns_membrane:
            return spk, _membrane_op(spk, self.index)
        return spk

    # snnTorch's explicit-state style calls these in forward(): that resets
    # the state every step, which a one-timestep network must not do.
    def _resets(self) -> Any:
        raise ModelError(f"forward() resets {self.path!r} (init_leaky/reset_mem): give bench the "
                         "network for one timestep without the reset; bench resets the state "
                         "before every sample")

    init_leaky = reset_mem = reset = _resets


# --------------------------------------------------------------------------- libraries

def _library(module: torch.nn.Module) -> str | None:
    for cls in type(module).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in ("snntorch", "spikingjelly"):
            return root
    return None


def _scalar(value: Any, what: str, path: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ModelError(f"{path!r}: a {what} per neuron ({value.numel()} values) is not "
                             "supported yet; use one value per layer")
        value = value.detach().reshape(()).item()
    try:
        out = float(value)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path!r}: {what} {value!r} is not a number") from e
    if not np.isfinite(out):
        raise ModelError(f"{path!r}: {what} is {out}")
    return out


def _snntorch_neuron(m: torch.nn.Module, path: str) -> tuple[Neuron, bool] | None:
    import snntorch

    name = type(m).__name__
    if type(m) is not snntorch.Leaky:
        if isinstance(m, snntorch.SpikingNeuron):
            raise ModelError(f"{path!r} ({name}): snnTorch's {name} is not supported; bench "
                             "imports snn.Leaky (recurrent and synaptic neurons are not)")
        return None
    if getattr(m, "inhibition", False):
        raise ModelError(f"{path!r} (Leaky): inhibition=True is not supported")
    if getattr(m, "state_quant", False):
        raise ModelError(f"{path!r} (Leaky): state_quant is not supported (bench quantizes "
                         "the state itself: --dtype int16/int8)")
    graded = _scalar(m.graded_spikes_factor, "graded_spikes_factor", path)
    if graded != 1.0:
        raise ModelError(f"{path!r} (Leaky): graded spikes ({graded}) are not supported")
    reset = {0: "subtract", 1: "zero", 2: "none"}[int(m.reset_mechanism_val)]
    beta = min(max(_scalar(m.beta, "beta", path), 0.0), 1.0)  # Leaky clamps it too
    neuron = Neuron(decay=beta, threshold=_scalar(m.threshold, "threshold", path), reset=reset,
                    fire="gt", pre_reset=True, post_reset=not m.reset_delay,
                    source="snntorch.Leaky")
    # (spk, mem) unless init_hidden without output=True
    returns_membrane = bool(m.output) or not bool(m.init_hidden)
    return neuron, returns_membrane


def _spikingjelly_neuron(m: torch.nn.Module, path: str) -> tuple[Neuron, bool] | None:
    from spikingjelly.activation_based import neuron as sj

    name = type(m).__name__
    if type(m) not in (sj.IFNode, sj.LIFNode):
        if isinstance(m, sj.BaseNode):
            raise ModelError(f"{path!r} ({name}): SpikingJelly's {name} is not supported; "
                             "bench imports IFNode and LIFNode")
        return None
    if getattr(m, "step_mode", "s") != "s":
        raise ModelError(f"{path!r} ({name}): step_mode={m.step_mode!r}; give bench the "
                         "single-step network (step_mode='s'): bench runs the timesteps")
    threshold = _scalar(m.v_threshold, "v_threshold", path)
    v_reset = None if m.v_reset is None else _scalar(m.v_reset, "v_reset", path)
    reset = "subtract" if v_reset is None else "zero"
    vr = 0.0 if v_reset is None else v_reset
    if type(m) is sj.IFNode:
        decay, gain, offset = 1.0, 1.0, 0.0
    else:
        tau = _scalar(m.tau, "tau", path)
        decay = 1.0 - 1.0 / tau
        gain = 1.0 / tau if m.decay_input else 1.0
        offset = vr / tau
    neuron = Neuron(decay=decay, threshold=threshold, reset=reset, gain=gain, offset=offset,
                    v_reset=vr, v_init=vr, fire="ge", pre_reset=False, post_reset=True,
                    source=f"spikingjelly.{name}")
    return neuron, False


def neuron_of(module: torch.nn.Module, path: str) -> tuple[Neuron, bool] | None:
    """The neuron a library module is, and whether it returns (spikes,
    membrane); None for a module that is not a neuron."""
    lib = _library(module)
    if lib == "snntorch":
        return _snntorch_neuron(module, path)
    if lib == "spikingjelly":
        return _spikingjelly_neuron(module, path)
    return None


# --------------------------------------------------------------------------- the swap

@dataclass
class Swapped:
    """A copy of the user's model with markers for neurons."""

    module: torch.nn.Module
    neurons: list[Neuron]
    paths: list[str]


def find_neurons(model: torch.nn.Module) -> list[tuple[str, Neuron, bool]]:
    out = []
    for path, m in model.named_modules():
        found = neuron_of(m, path or type(m).__name__)
        if found is not None:
            out.append((path, *found))
    return out


def swap_neurons(model: torch.nn.Module) -> Swapped | None:
    """The model with every neuron replaced by a marker; None if it has none."""
    found = find_neurons(model)
    if not found:
        return None
    clone = copy.deepcopy(model)
    for index, (path, _neuron, returns_membrane) in enumerate(found):
        parent_path, _, attr = path.rpartition(".")
        parent = clone.get_submodule(parent_path) if parent_path else clone
        setattr(parent, attr, _Marker(index, path, returns_membrane))
    return Swapped(clone, [n for _, n, _ in found], [p for p, _, _ in found])


def spec_of(model: torch.nn.Module, options: SnnOptions) -> tuple[int, str | None, str]:
    """(timesteps, readout or None for the default, encoding) for a spiking model:
    the command line's, else the module's attributes."""
    def attr(name: str) -> Any:
        return getattr(model, name, None)

    timesteps = options.timesteps if options.timesteps is not None else attr("timesteps")
    if timesteps is None:
        raise ModelError("a spiking model needs its number of timesteps: set a 'timesteps' "
                         "attribute on the module (or the factory), or pass --timesteps")
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)):
        raise ModelError(f"timesteps must be an integer, got {timesteps!r}")
    readout = options.readout or attr("readout")
    encoding = options.encoding or attr("encoding") or "direct"
    checked = SnnOptions(int(timesteps), readout, encoding)  # validates
    return int(timesteps), checked.readout, str(checked.encoding)


# --------------------------------------------------------------------------- checking

def reset_library_state(model: torch.nn.Module) -> None:
    """Zero every neuron's state, as the libraries' own reset helpers do."""
    for m in model.modules():
        lib = _library(m)
        if lib == "snntorch" and hasattr(m, "reset_mem"):
            m.reset_mem()
        elif lib == "spikingjelly" and hasattr(m, "reset"):
            m.reset()


def run_library(model: torch.nn.Module, x: np.ndarray, timesteps: int, encoding: str,
                readout: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The user's model run by its own library for T steps on a batch:
    (readout outputs (N, n_out), spikes summed over T per neuron path (N,))."""
    paths = {id(m): p for p, m in model.named_modules()}
    counts: dict[str, torch.Tensor] = {}

    def hook(m: torch.nn.Module, _inp: Any, out: Any) -> None:
        spk = out[0] if isinstance(out, tuple) else out
        key = paths[id(m)]
        total = spk.detach().reshape(spk.shape[0], -1).sum(dim=1)
        counts[key] = counts.get(key, 0) + total

    handles = [m.register_forward_hook(hook) for p, m in model.named_modules()
               if neuron_of(m, p) is not None]
    model.eval()
    reset_library_state(model)
    acc: torch.Tensor | None = None
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    try:
        with torch.no_grad():
            for t in range(timesteps):
                step_in = xt[:, t] if encoding == "iterate" else xt
                out = model(step_in)
                first = out[0] if isinstance(out, (tuple, list)) else out
                first = first.reshape(first.shape[0], -1)
                if readout == "membrane_last":
                    mem = out[1] if isinstance(out, (tuple, list)) and len(out) > 1 else None
                    if mem is None:
                        raise ModelError("membrane_last readout: the model does not return "
                                         "its output layer's membrane")
                    acc = mem.reshape(mem.shape[0], -1).clone()
                else:
                    acc = first.clone() if acc is None else acc + first
    finally:
        for h in handles:
            h.remove()
        reset_library_state(model)
    assert acc is not None
    if readout == "output_mean":
        acc = acc / timesteps
    return acc.numpy().astype(np.float32), {k: v.numpy() for k, v in counts.items()}


def with_timesteps(graph: Graph, timesteps: int, readout: str | None, encoding: str) -> Graph:
    """The imported one-step graph with its T loop described; the readout
    defaults to spike_count when the output comes from neurons, else
    output_mean."""
    producer = next((layer for layer in graph.layers if layer.output == graph.output), None)
    op = producer.op if producer is not None else None
    if readout is None:
        readout = "spike_count" if op in SPIKING else "output_mean"
    for layer in graph.spiking_layers():
        most = numel(layer.out_shape) * timesteps
        if most > MAX_COUNT:
            raise ModelError(f"{layer.name!r}: {numel(layer.out_shape):,} neurons x {timesteps} "
                             f"timesteps may fire {most:,} spikes, more than the device's 32-bit "
                             "spike counter holds; use fewer timesteps")
    # A leaky integrator (li) readout has a potential but no spikes.
    if (readout == "spike_count" and op not in SPIKING) or \
            (readout == "membrane_last" and op not in STATEFUL):
        what = op or "the input"
        fits = "output_mean or membrane_last" if op in STATEFUL else "output_mean"
        raise ModelError(f"readout {readout} needs the model's output to come from a spiking "
                         f"layer; it comes from {what}: use --readout {fits}")
    return replace(graph, timesteps=timesteps, readout=readout, encoding=encoding)


MAX_COUNT = 2**32 - 1  # a spike counter on the device is a uint32


# Float sums in another order flip a rare threshold crossing: this much disagreement
# between the library and bench's reference on random inputs is a rounding matter.
_SPIKE_TOLERANCE = 0.01


def verify_import(model: torch.nn.Module, graph: Graph, samples: int = 4) -> None:
    """Run the user's model with its own library and bench's reference for
    T steps on a random input and insist they agree, spike for spike within
    rounding (a guard against a neuron imported with the wrong meaning)."""
    from harness.model.reference import run_snn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, *graph.sample_shape)).astype(np.float32)
    readout = "spike_count" if graph.readout == "membrane_last" else str(graph.readout)
    want_out, want_spikes = run_library(model, x, graph.timesteps, graph.encoding, readout)
    got = run_snn(graph, x)
    for k, layer in enumerate(graph.spiking_layers()):
        want = want_spikes.get(layer.name)
        if want is None:
            continue
        have = got.spikes[:, k]
        allowed = _SPIKE_TOLERANCE * max(float(want.sum()), float(np.prod(layer.out_shape)))
        if float(np.abs(have - want).sum()) > allowed:
            raise ModelError(f"internal: {layer.name!r} ({layer.params['neuron']['source']}) "
                             f"fires {int(have.sum())} spikes in bench's reference and "
                             f"{int(want.sum())} in its library on the same input")
    if graph.readout != "membrane_last":
        scale = max(1.0, float(np.abs(want_out).max(initial=0.0)))
        off = np.abs(got.outputs - want_out) > 1e-3 * scale
        if off.mean() > _SPIKE_TOLERANCE * 5:
            raise ModelError(f"internal: the imported spiking model's outputs disagree with its "
                             f"library on {off.mean():.1%} of values")

"""Spiking graphs through LEAT's SNN code generator
(``qualia-codegen-plugin-snn`` 2.6.0, on top of qualia-codegen-core): what
it can express, its fixed-point formats, and bench's wrapper that runs its
one-timestep ``qualia_net()`` T times.

What Qualia generates: the one-timestep network, every layer dense every
step (a spiking layer's output is a tensor of 0 and 1.0 in its output
format, read by the next conv/linear like any activation); each IF/LIF
layer keeps its potential in a static array (``<layer>_potent``) in the
node's "weights" format, which threshold, reset value and 1/tau share; a
``reset()`` zeroes every potential. The T-step loop and the readout are
the application's (the plugin's examples/ run ``qualia_net`` T times and
average the outputs): here that is bench's wrapper (``wrapper_source``).

Readouts: ``output_mean`` is Qualia's own (the outputs summed over T, then
divided by T; an integer mean truncates, as Qualia's example's division
does). ``spike_count`` sums the output layer's spikes without the division
(the last layer's spikes are 1 in a format of 0 fractional bits), T times
Qualia's mean. ``membrane_last`` is refused: nothing outside Qualia's
layer files can read a potential. Encoding ``iterate`` is Qualia's
``timestep_mode='iterate'``: step t reads frame t of the sample.

Formats (int16/int8, Qualia's rule ``formats.frac_bits`` on bench's
calibration ranges): a spiking layer's potential format covers the
calibrated potential before the spike (``<layer>#state``), the threshold,
the reset value and 1/tau. Qualia's LIF multiplies by 1/tau and shifts by
max(input format, potential format), which is only right when the input
has no more fractional bits than the potential: the input's format is
lowered to the potential's where needed (``formats[...]["lowered_for"]``).

No spike counters: Qualia's code has none, and bench adds none to it (that
would change the cost being measured). A run with this engine stores no
spikes; its note says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.engines.qualia.formats import frac_bits
from harness.engines.qualia.neurons import qualia_neuron
from harness.errors import EngineError, ToolMissingError
from harness.kinds import DType
from harness.model.ir import Graph, numel
from harness.model.reference import STATE

if TYPE_CHECKING:
    from harness.engines.qualia.modules import Step
    from harness.quant import QuantConfig

PLUGIN = "qualia-codegen-plugin-snn"
_CTYPE = {DType.FLOAT32: "float", DType.INT16: "int16_t", DType.INT8: "int8_t"}
_WIDTH = {DType.FLOAT32: 32, DType.INT16: 16, DType.INT8: 8}
# Rebuilt SpikingJelly module vs bench's reference on random inputs: a
# threshold crossing may flip under another summation order, no more.
_AGREE = 0.99


def import_plugin() -> tuple[Any, Any]:
    """(TorchModelGraph, Converter) of the SNN plugin, or ToolMissingError."""
    try:
        import tabulate  # noqa: F401  (qualia-codegen-core prints its fx table with it)
        from qualia_codegen_plugin_snn import Converter
        from qualia_codegen_plugin_snn.graph import TorchModelGraph
    except ImportError as e:
        raise ToolMissingError(
            f"the qualia engine runs spiking models with {PLUGIN} 2.6.0 ({e}): .venv/bin/pip "
            f"install --no-deps {PLUGIN}==2.6.0 (it needs spikingjelly, qualia-codegen-core)") \
            from e
    return TorchModelGraph, Converter


def spiking_notes(graph: Graph, dtype: str) -> list[str]:
    """Refuse what the Qualia SNN engine cannot run; the differences it
    accepts, for the run's note."""
    notes = [f"{PLUGIN}: the whole network runs densely every timestep; no spike counters on "
             f"the device (Qualia has none), so the run stores no spikes"]
    out_layer = next((la for la in graph.layers if la.output == graph.output), None)
    if graph.readout == "membrane_last":
        raise EngineError("readout membrane_last cannot be expressed with Qualia's SNN code: "
                          "its potentials are private to its layer files; use output_mean or "
                          "spike_count")
    if graph.readout == "spike_count":
        if out_layer is None or out_layer.op != "lif":
            raise EngineError("readout spike_count needs a spiking output layer in the qualia "
                              "engine (Qualia reads the last layer out as its mean over T)")
        width = _WIDTH[DType(dtype)]
        if dtype != DType.FLOAT32 and graph.timesteps > 2 ** (width - 1) - 1:
            raise EngineError(f"{graph.timesteps} timesteps: a {dtype} spike count of the output "
                              f"layer would overflow (at most {2 ** (width - 1) - 1})")
        notes.append("readout spike_count: the output spikes summed over T (Qualia's example "
                     "averages them: the same ranking)")
    elif dtype != DType.FLOAT32:
        notes.append("readout output_mean: the integer sum over T divided by T, truncated as "
                     "Qualia's example does")
    notes += [n for la in graph.spiking_layers() if (n := qualia_neuron(la).note)]
    return notes


def check_snn_module(graph: Graph, module: Any, samples: int = 4) -> float:  # noqa: ANN401
    """Fraction of output values where the rebuilt SpikingJelly module, run T
    steps, agrees with bench's reference; EngineError below ``_AGREE``."""
    import torch
    from spikingjelly.activation_based import functional

    from harness.model.reference import run_snn

    x = np.random.default_rng(0).normal(size=(samples, *graph.sample_shape)).astype(np.float32)
    want = run_snn(graph, x).outputs
    acc = np.zeros_like(want)
    functional.reset_net(module)
    with torch.no_grad():
        for t in range(graph.timesteps):
            frame = x[:, t] if graph.encoding == "iterate" else x
            acc += module(torch.from_numpy(frame)).reshape(samples, -1).numpy()
    functional.reset_net(module)
    if graph.readout == "output_mean":
        acc /= np.float32(graph.timesteps)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    agree = float(np.mean(np.abs(acc - want) <= 1e-3 * scale))
    if agree < _AGREE:
        raise EngineError(f"the SpikingJelly model rebuilt for Qualia agrees with the graph on "
                          f"{agree:.1%} of outputs: please report this model")
    return agree


def snn_formats(graph: Graph, steps: list[Step], dtype: str, quant: QuantConfig
                ) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """(potential format per spiking node, output formats set apart from
    Qualia's rule, why) for an integer build; see the module doc."""
    width = _WIDTH[DType(dtype)]
    cal = quant.calibration
    module_of = {s.output: s.module for s in steps}
    module_of[graph.input_name] = "input"  # Qualia's TInputLayer
    range_of = {s.module: s.range_of for s in steps}
    range_of["input"] = graph.input_name

    def rule(module: str) -> int:
        lo, hi = cal.range_of(range_of[module])
        return frac_bits(width, max(abs(lo), abs(hi)))

    potential: dict[str, int] = {}
    output: dict[str, int] = {}
    why: dict[str, str] = {}
    for s in steps:
        if s.layer.op != "lif":
            continue
        qn = qualia_neuron(s.layer)
        lo, hi = cal.range_of(s.layer.name + STATE)
        m = max(abs(lo), abs(hi), abs(qn.threshold), abs(qn.v_reset or 0.0),
                qn.reciprocal_tau if qn.kind == "lif" else 0.0)
        q_v = frac_bits(width, m)
        potential[s.module] = q_v
        if s.output == graph.output and graph.readout == "spike_count":
            output[s.module] = 0  # spikes are 1: counts add up exactly
            why[s.module] = "spike_count readout: spikes as 1"
        src = module_of[s.inputs[0]]
        if qn.kind == "lif" and output.get(src, rule(src)) > q_v:
            output[src] = q_v
            why[src] = f"lowered to {s.module}'s potential format for Qualia's LIF leak"
    return potential, output, why


def wrapper_source(graph: Graph, dtype: str, hash8: bytes, model_name: str, input_bytes: int,
                   output_bytes: int, arena_bytes: int) -> str:
    """bench_model_run(): Qualia's reset(), then T calls of its one-step
    network and the readout (see the module doc)."""
    ctype = _CTYPE[DType(dtype)]
    t_steps, n_out = graph.timesteps, numel(graph.output_shape)
    frame = numel(graph.input_shape)
    at = f"in + t * {frame}" if graph.encoding == "iterate" else "in"
    is_float = dtype == DType.FLOAT32
    width = _WIDTH[DType(dtype)]
    lines = [
        f"/* Generated by bench (engine: qualia, spiking, {dtype}). Do not edit. */",
        f"/* Runs Qualia-CodeGen's one-timestep {model_name}() (qualia/model.c, generated by "
        f"{PLUGIN}) {t_steps} times per sample, as Qualia's SNN example application does: "
        f"reset() first, {graph.encoding} encoding, readout {graph.readout}. Inputs are "
        f"channels-last (manifest input_layout \"hwc\"), sent so by the host. */",
        "#include <stdint.h>", "", '#include "bench_model.h"', "",
        "/* Qualia's number.h: its float scale() helpers ignore two parameters. */",
        "#pragma GCC diagnostic push", '#pragma GCC diagnostic ignored "-Wunused-parameter"',
        '#include "model.h"', "#pragma GCC diagnostic pop", "",
        model_info_c(ModelInfo(engine="qualia", input_bytes=input_bytes,
                               output_bytes=output_bytes, arena_bytes=arena_bytes,
                               input_dtype=DType(dtype), output_dtype=DType(dtype),
                               model_hash=hash8)),
        "/* One timestep's output of the network. */",
        "static output_t step_out;",
    ]
    if not is_float:
        lines += ["/* The readout's sum over the timesteps. */",
                  f"static int32_t acc[{n_out}];"]
    acc = "out" if is_float else "acc"
    lines += [
        "", "int32_t bench_model_run(const void *input, void *output)", "{",
        f"    const {ctype} *in = (const {ctype} *)input;",
        f"    {ctype} *out = ({ctype} *)output;",
        f"    const {ctype} *y = (const {ctype} *)(const void *)step_out;",
        "    reset(); /* Qualia's: every potential to 0 */",
        f"    for (int32_t i = 0; i < {n_out}; i++) {{", f"        {acc}[i] = 0;", "    }",
        f"    for (int32_t t = 0; t < {t_steps}; t++) {{",
        *([] if graph.encoding == "iterate" else ["        (void)t;"]),
        f"        {model_name}(*(const input_t *)(const void *)({at}), step_out);",
        f"        for (int32_t i = 0; i < {n_out}; i++) {{",
        f"            {acc}[i] += y[i];", "        }", "    }",
    ]
    if is_float and graph.readout == "output_mean":
        lines += [f"    for (int32_t i = 0; i < {n_out}; i++) {{",
                  f"        out[i] = out[i] / {t_steps};", "    }"]
    elif not is_float:
        lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
        value = f"acc[i] / {t_steps}" if graph.readout == "output_mean" else "acc[i]"
        lines += [f"    for (int32_t i = 0; i < {n_out}; i++) {{",
                  f"        int32_t v = {value};",
                  f"        out[i] = ({ctype})(v < {lo} ? {lo} : (v > {hi} ? {hi} : v));",
                  "    }"]
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)

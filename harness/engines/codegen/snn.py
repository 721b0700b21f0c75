"""The body of ``bench_model_run()`` for a spiking graph, the same for every
dtype: reset the potentials and spike counters, run the one-step graph T
times, read the steps out into the caller's buffer.

The generator gives the pieces that depend on the dtype: how a state array
is set to its resting value and how the readout accumulator becomes the
output (float: the buffer itself, integers: an int32 array, rounded and
saturated at the end).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.model.ir import Graph, numel


@dataclass(frozen=True)
class StateArray:
    """A stateful layer's potentials (lif, li), in execution order: its C
    array, size and resting value (a C literal)."""

    name: str
    size: int
    rest: str


@dataclass(frozen=True)
class Readout:
    """How the steps' outputs make the sample's output, in the generator's C."""

    acc: str  # the accumulator's C name ("out" when the output buffer is it)
    zero: str  # its zero literal
    # Statements after the loop (each with {i}, the element index, as a
    # loop variable): output_mean, spike_count, membrane_last.
    mean: str
    count: str
    membrane: str  # {state} is the output layer's state array


def declarations(states: list[StateArray], ctype: str, spike_layers: int) -> list[str]:
    """File-scope arrays: the potentials and the spike counters."""
    lines = []
    if states:
        lines += ["/* Membrane potentials, kept between timesteps, reset before every sample. */",
                  *(f"static {ctype} {s.name}[{s.size}];" for s in states)]
    if spike_layers:
        lines += ["/* Spikes per spiking layer, summed over the sample's timesteps. */",
                  f"static uint32_t spike_counts[{spike_layers}];"]
    return [*lines, ""] if lines else []


def run_body(graph: Graph, states: list[StateArray], step: str, y: str, readout: Readout,
             input_ctype: str, reads_input: bool, once: str = "") -> list[str]:
    """bench_model_run()'s statements after its declarations. ``step`` is the
    one-step graph's code (reading ``x_t`` for iterate encoding), ``y`` the
    graph output's buffer, ``once`` the code of the graph's steady prefix
    (Graph.steady_prefix), run before the steps."""
    n_out = numel(graph.output_shape)
    lines = [] if reads_input else ["    (void)in; /* the output does not depend on the input */"]
    lines += ["    /* A sample starts from rest. */"]
    for s in states:
        lines += [f"    for (int32_t i = 0; i < {s.size}; i++) {{",
                  f"        {s.name}[i] = {s.rest};", "    }"]
    spike_layers = len(graph.spiking_layers())
    if spike_layers:
        lines += [f"    for (int32_t k = 0; k < {spike_layers}; k++) {{",
                  "        spike_counts[k] = 0u;", "    }"]
    if graph.readout != "membrane_last":
        lines += [f"    for (int32_t i = 0; i < {n_out}; i++) {{",
                  f"        {readout.acc}[i] = {readout.zero};", "    }"]
    if once:
        lines += ["    /* The layers before the first neuron read only the input, the same",
                  "     * at every step (direct encoding): run once per sample. */", once]
    lines += [f"    for (int32_t t = 0; t < {graph.timesteps}; t++) {{"]
    if graph.encoding == "iterate":
        lines += [f"        const {input_ctype} *x_t = in + t * {numel(graph.input_shape)}; "
                  "/* this step's frame */"]
    else:
        lines += ["        (void)t;"]
    lines += ["    " + ln if ln else ln for ln in step.splitlines()]
    if graph.readout != "membrane_last":
        lines += [f"        for (int32_t i = 0; i < {n_out}; i++) {{",
                  f"            {readout.acc}[i] += ({y})[i];", "        }"]
    lines += ["    }"]
    if graph.readout == "membrane_last":
        state = next(s.name for s, layer in zip(states, graph.stateful_layers(), strict=True)
                     if layer.output == graph.output)
        finish = readout.membrane.format(i="i", state=state)
    else:
        finish = (readout.mean if graph.readout == "output_mean" else readout.count).format(i="i")
    if finish:
        lines += [f"    for (int32_t i = 0; i < {n_out}; i++) {{", f"        {finish}", "    }"]
    return lines

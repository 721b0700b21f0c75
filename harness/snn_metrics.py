"""Activity and cost of a spiking run, from the device's spike counts and
the graph's records (harness/model/fanout.py), with NeuroBench's names.

Per inference (a sample's T steps), with S_l the spikes layer l fired
(counted on the device, averaged over the samples), N_l its neurons and T
the timesteps:

- spike rate of l = S_l / (N_l x T);
- ActivationSparsity = 1 - sum S_l / sum (N_l x T), over all spiking
  layers, timesteps and samples (NeuroBench's definition: the share of
  neuron outputs that are zero);
- SynapticOperations:
  Effective_ACs = sum over weighted layers fed by spikes of sum_l S_l x
  synapses(l -> layer) / N_l (each spike times its fan-out);
  Effective_MACs = for weighted layers fed by non-spikes (the sample, or a
  non-spiking layer), their nonzero-weight synapses x T: every input value
  counted as nonzero, since the store keeps no input statistics (an upper
  bound; NeuroBench leaves zero inputs out);
  Dense = every weighted layer's connections x T (zeros included);
- MembraneUpdates = sum N_l x T: the device updates every potential every
  step (NeuroBench counts only the potentials that changed).

The fan-out per spike is a layer's mean over its neurons: the device counts
spikes per layer, not per neuron, so it is exact when spikes fall on border
and inner neurons alike (and always for linear layers without zero weights).
Everything here is linear in the counts, so the figures of the mean counts
are the means of the per-sample figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.model.fanout import SpikeLayer, SynapticLayer


@dataclass(frozen=True)
class LayerActivity:
    """One spiking layer per inference."""

    name: str
    neurons: int
    spikes: float
    spike_rate: float  # spikes / (neurons x T)
    synaptic_operations: float  # its spikes x their fan-out (accumulates)
    membrane_updates: int  # neurons x T


@dataclass(frozen=True)
class LayerCost:
    """One weighted layer per inference."""

    name: str
    input_events: float  # spikes arriving (spiking input), else inputs x T
    effective_acs: float
    effective_macs: float
    dense: int  # connections x T
    output_spikes: float  # spikes of the layer it charges (0 if none)


@dataclass(frozen=True)
class SnnActivity:
    """A spiking run's activity and operation counts per inference."""

    timesteps: int
    layers: tuple[LayerActivity, ...]
    synaptic: tuple[LayerCost, ...]
    spikes_per_inference: float
    ActivationSparsity: float  # noqa: N815  (NeuroBench's names)
    Effective_ACs: float  # noqa: N815
    Effective_MACs: float  # noqa: N815
    Dense: int  # noqa: N815
    MembraneUpdates: int  # noqa: N815

    @property
    def spike_rate(self) -> float:
        """All spiking layers together: 1 - ActivationSparsity."""
        return 1.0 - self.ActivationSparsity


def parse_layers(spike_layers: list[dict[str, Any]], synaptic: list[dict[str, Any]] | None
                 ) -> tuple[list[SpikeLayer], list[SynapticLayer]] | None:
    """The stored records; None for runs stored before fan-outs were kept."""
    if synaptic is None or any("synapses" not in layer for layer in spike_layers):
        return None
    return ([SpikeLayer(**layer) for layer in spike_layers],
            [SynapticLayer(**layer) for layer in synaptic])


def activity(spiking: list[SpikeLayer], synaptic: list[SynapticLayer], spikes: list[float],
             timesteps: int) -> SnnActivity:
    """The figures of one inference whose layers fired ``spikes`` (in the
    order of ``spiking``, the device's counters)."""
    if len(spikes) != len(spiking):
        raise ValueError(f"{len(spikes)} spike counts for {len(spiking)} spiking layers")
    fired = {layer.name: s for layer, s in zip(spiking, spikes, strict=True)}
    layers = tuple(LayerActivity(
        name=layer.name, neurons=layer.neurons, spikes=s,
        spike_rate=s / (layer.neurons * timesteps),
        synaptic_operations=s * layer.fanout, membrane_updates=layer.neurons * timesteps)
        for layer, s in zip(spiking, spikes, strict=True))
    costs = []
    for w in synaptic:
        if w.spiking_input:
            sources = [layer for layer in spiking if w.name in layer.synapses]
            events = sum(fired[layer.name] for layer in sources)
            acs = sum(fired[layer.name] * layer.synapses[w.name] / layer.neurons
                      for layer in sources)
            macs = 0.0
        else:
            events = float(w.in_neurons * timesteps)
            acs, macs = 0.0, float(w.effective * timesteps)
        costs.append(LayerCost(name=w.name, input_events=events, effective_acs=acs,
                               effective_macs=macs, dense=w.connections * timesteps,
                               output_spikes=fired.get(w.target, 0.0) if w.target else 0.0))
    total = sum(spikes)
    steps = sum(layer.neurons for layer in spiking) * timesteps
    return SnnActivity(
        timesteps=timesteps, layers=layers, synaptic=tuple(costs), spikes_per_inference=total,
        ActivationSparsity=1.0 - total / steps if steps else 0.0,
        Effective_ACs=sum(c.effective_acs for c in costs),
        Effective_MACs=sum(c.effective_macs for c in costs),
        Dense=sum(c.dense for c in costs),
        MembraneUpdates=sum(layer.membrane_updates for layer in layers))

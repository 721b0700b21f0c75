"""Published energy models of a spiking network and its ANN counterpart:
estimates from operation counts, never measurements, each labelled with
its model. The board's own energy (measured with a meter, or estimated
from the datasheet) is elsewhere and never mixed with these.

Two models:

``lemaire2022``: Lemaire et al., "An Analytical Estimation of Spiking
Neural Networks Energy Efficiency", ICONIP 2022 (arXiv 2210.13107), as
Qualia implements it (qualia-plugin-snn, postprocessing/
EnergyEstimationMetric.py). Per weighted layer: synaptic and neuron
operations (Horowitz, ISSCC 2014, 45 nm: 32-bit add 0.1 pJ, multiply 3.1
pJ; 8-bit 0.03 / 0.2 pJ, used for 8-bit memories as Qualia does, 32-bit
values otherwise), address computation, and SRAM reads/writes of
potentials, weights, biases and input/output events, each access costing
1.09e-5 pJ x (elements x bits) + 13.2 pJ (Qualia's fit to Horowitz's 8 KB,
32 KB and 1 MB SRAM figures), with the memory width the run's dtype (32, 16
or 8 bits) and event FIFOs of size 0, Qualia's defaults. Where bench
differs from Qualia:

- the spikes reaching a layer and their accumulates come from the device's
  counts and the exact fan-out (harness/model/fanout.py), not theta x
  C_out x ceil(k/s)^2 (accumulates) and theta x C_out x k^2 (weight and
  potential accesses): the same away from borders at stride 1;
- a layer whose input is not spikes (the sample) is costed as Qualia's
  "hybrid" layer (the input processed once, as MACs, bias and leak once;
  potential accesses over T steps) with every input value counted as
  nonzero (Qualia measures the input's nonzero share; bench stores none);
- the addressing of a linear layer is theta x N_out (the paper's Eq. 17.2;
  Qualia's code multiplies the per-step input rate, not theta, by N_out);
- pooling merges no spikes (an upper bound after max pooling); residual
  adds are not costed (Qualia's SNN branch costs them 0).
The ANN counterpart is the same weighted layers run once, densely (Qualia's
formal-network formulas: MACs with padding taps, bias adds, input reads
per MAC for convolutions).

``ac_mac``: the common comparison E_SNN = 0.9 pJ x ACs + 4.6 pJ x MACs,
E_ANN = 4.6 pJ x MACs (Horowitz 45 nm, 32-bit float add 0.9 pJ and
multiply + add 4.6 pJ): synaptic operations only, no memory, no neuron
updates.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.model.fanout import SpikeLayer, SynapticLayer
from harness.snn_metrics import LayerCost, SnnActivity

PJ_PER_UJ = 1e6
# Horowitz, ISSCC 2014, 45 nm, pJ per operation (Qualia's energy_values)
HOROWITZ_INT: dict[int, dict[str, float]] = {8: {"add": 0.03, "mul": 0.2},
                                             32: {"add": 0.1, "mul": 3.1}}
E_AC_PJ = 0.9  # 32-bit float add
E_MAC_PJ = 4.6  # 32-bit float multiply (3.7) + add (0.9)
DTYPE_BITS = {"float32": 32, "int16": 16, "int8": 8}


@dataclass(frozen=True)
class EnergyEstimate:
    """One model's estimate per inference, for the SNN and its ANN counterpart."""

    model: str  # lemaire2022 | ac_mac
    label: str  # what reports print beside it
    snn_uj: float
    ann_uj: float
    basis: str
    kind: str = "estimate"  # never a measurement


@dataclass(frozen=True)
class _Parts:
    """Energy of one layer in pJ, by Qualia's components."""

    ops: float = 0.0
    addr: float = 0.0
    mem_pot: float = 0.0
    mem_weights: float = 0.0
    mem_bias: float = 0.0
    mem_io: float = 0.0

    @property
    def total(self) -> float:
        return self.ops + self.addr + self.mem_pot + self.mem_weights + self.mem_bias \
            + self.mem_io


class Lemaire2022:
    """Lemaire et al. ICONIP 2022 per weighted layer (see the module doc)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        ops = HOROWITZ_INT[8] if bits == 8 else HOROWITZ_INT[32]
        self.add, self.mul = ops["add"], ops["mul"]
        self.mac = self.add + self.mul

    def ram(self, elements: int) -> float:
        """pJ per access of a memory holding ``elements`` values."""
        return 1.09e-5 * elements * self.bits + 13.2

    def snn_layer(self, w: SynapticLayer, c: LayerCost, leak: bool, t: int) -> _Parts:
        n, k = w.neurons, w.kernel_area
        bias = w.neurons * t * self.ram(w.bias) if w.bias else 0.0
        if not w.spiking_input and w.target is None:
            return self.ann_layer(w)  # neither spikes in nor a neuron out: a formal layer
        if w.spiking_input:
            theta, acs = c.input_events, c.effective_acs
            ops = (t * n if leak else 0) * self.mac + (acs + t * n + c.output_spikes) * self.add
            events_read, synapse_steps = theta, acs
        else:  # Qualia's "hybrid" layer: the dense input processed once
            theta, acs = float(w.in_neurons), float(w.effective)
            ops = acs * self.mac + n * self.add + (n * self.mul if leak else 0) \
                + c.output_spikes * self.add
            events_read, synapse_steps = theta, acs * t
        if w.op == "linear":
            addr = theta * n * self.add
        else:
            addr = 2 * theta * self.mac + theta * k * self.add
        return _Parts(ops=ops, addr=addr,
                      mem_pot=2 * (synapse_steps + n * t) * self.ram(n),
                      mem_weights=acs * self.ram(w.weights), mem_bias=bias,
                      mem_io=(events_read + c.output_spikes) * self.ram(0))

    def ann_layer(self, w: SynapticLayer) -> _Parts:
        n = w.neurons
        if w.op == "linear":
            addr = w.in_neurons * n * self.add
            reads = w.in_neurons * self.ram(w.in_neurons)
        else:
            addr = (w.in_neurons + n + w.out_channels * w.kernel_area) * self.add
            reads = w.macs * self.ram(w.in_neurons)
        return _Parts(ops=w.macs * self.mac + n * self.add, addr=addr,
                      mem_weights=w.macs * self.ram(w.weights),
                      mem_bias=n * self.ram(w.bias) if w.bias else 0.0,
                      mem_io=reads + n * self.ram(n))


def lemaire2022(spiking: list[SpikeLayer], synaptic: list[SynapticLayer], act: SnnActivity,
                dtype: str) -> EnergyEstimate:
    bits = DTYPE_BITS.get(dtype, 32)
    m = Lemaire2022(bits)
    leaks = {layer.name: layer.leak for layer in spiking}
    snn = sum(m.snn_layer(w, c, leaks.get(w.target or "", False), act.timesteps).total
              for w, c in zip(synaptic, act.synaptic, strict=True))
    ann = sum(m.ann_layer(w).total for w in synaptic)
    return EnergyEstimate(
        model="lemaire2022", label="Lemaire 2022, 45 nm", snn_uj=snn / PJ_PER_UJ,
        ann_uj=ann / PJ_PER_UJ,
        basis=f"Lemaire et al. ICONIP 2022 as Qualia's EnergyEstimationMetric: {bits}-bit "
              f"memories, add {m.add} pJ, mult {m.mul} pJ (Horowitz 45 nm), SRAM 1.09e-5 x "
              f"size x bits + 13.2 pJ per access; device spike counts x exact fan-out")


def ac_mac(synaptic: list[SynapticLayer], act: SnnActivity) -> EnergyEstimate:
    snn = E_AC_PJ * act.Effective_ACs + E_MAC_PJ * act.Effective_MACs
    ann = E_MAC_PJ * sum(w.macs for w in synaptic)
    return EnergyEstimate(
        model="ac_mac", label=f"{E_AC_PJ} pJ/AC, {E_MAC_PJ} pJ/MAC", snn_uj=snn / PJ_PER_UJ,
        ann_uj=ann / PJ_PER_UJ,
        basis=f"{E_AC_PJ} pJ x Effective_ACs + {E_MAC_PJ} pJ x Effective_MACs; ANN "
              f"{E_MAC_PJ} pJ x MACs (Horowitz 45 nm float32 add / multiply-add); synaptic "
              f"operations only")


def estimates(spiking: list[SpikeLayer], synaptic: list[SynapticLayer], act: SnnActivity,
              dtype: str) -> tuple[EnergyEstimate, ...]:
    return (lemaire2022(spiking, synaptic, act, dtype), ac_mac(synaptic, act))

"""Energy of one inference on the FPGA without a meter: an estimate from
the SNN core's own counts, always labelled estimated and never stored as a
measurement (a meter on the board's core rail, ``--meter``, measures).

    energy = cycles x (static + clock-tree energy per cycle)    the part
           + accumulates x E_add + membrane updates x (E_mac + E_add)
           + memory reads and writes x E_access(block RAM)       the events

The per-cycle part is measured iCE40UP5K silicon: tinyvision-ai's
ice40_power (iCE40 UltraPlus breakout board, Joulescope JS110 on the 1.219 V
core rail): a configured design with its clock halted draws 92.1 uA; a small
design clocked at 12 MHz draws 613.5 uA, so the clock costs
(613.5 - 92.1) uA x 1.219 V / 12 MHz = 53.0 pJ per cycle, and static power is
92.1 uA x 1.219 V = 112 uW while the inference lasts (cycles / f_clk).

The event part has no published iCE40 figure per operation, so it reuses
the 45 nm model bench's SNN energy estimate already names
(harness/snn_energy.py, Lemaire et al. ICONIP 2022 after Horowitz ISSCC
2014): an add of the core's width, a multiply-add for the leak, and one
access of a 4 Kbit block RAM (EBR) at 1.09e-5 pJ x 4096 bits + 13.2 pJ.
An ASIC's figures are a floor for an FPGA's logic; the per-cycle term,
which dominates on the iCE40, is the measured one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.errors import ConfigError
from harness.fpga.facts import fpga_board
from harness.kinds import EnergyKind
from harness.snn_energy import HOROWITZ_INT, Lemaire2022
from harness.snn_metrics import SnnActivity
from harness.store.store import RunSummary

PJ_PER_UJ = 1e6
CORE_V = 1.219  # the core rail as measured
STATIC_UA = 92.1  # configured, clock halted
CLOCKED_12MHZ_UA = 613.5  # external 12 MHz clock, 32 logic cells
E_CYCLE_PJ = (CLOCKED_12MHZ_UA - STATIC_UA) * CORE_V / 12.0  # uA x V / MHz = pJ
EBR_BITS = 4096
SOURCE = ("iCE40UP5K core rail measured by tinyvision-ai-inc/ice40_power (Joulescope, "
          "1.219 V): 92.1 uA static, 613.5 uA at 12 MHz; events: Horowitz 45 nm ops and "
          "Lemaire 2022's SRAM fit (harness/snn_energy.py)")


@dataclass(frozen=True)
class CoreEvents:
    """What the core did in one inference, by its own counters."""

    cycles: int
    accumulates: int  # weight added into a membrane potential (synaptic operations)
    membrane_updates: int  # neuron x timestep leak / threshold / reset steps
    memory_reads: int  # block RAM words read: weights, potentials, event FIFOs
    memory_writes: int  # block RAM words written

    def __post_init__(self) -> None:
        for name in ("cycles", "accumulates", "membrane_updates", "memory_reads",
                     "memory_writes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"core event count {name} is negative")


@dataclass(frozen=True)
class FpgaEnergy:
    """One inference's estimate, in parts, and how it was made."""

    energy_uj: float
    parts_uj: dict[str, float]  # static, clock, accumulates, membrane_updates, memory
    basis: str
    kind: str = EnergyKind.ESTIMATED  # never a measurement


def estimate(events: CoreEvents, clock_hz: float, bits: int = 8) -> FpgaEnergy:
    """The estimate for ``events`` at ``clock_hz`` with ``bits``-wide weights
    and potentials (8 for int8, 16 for int16)."""
    if clock_hz <= 0:
        raise ConfigError(f"clock {clock_hz!r} Hz: must be positive")
    ops = HOROWITZ_INT[8] if bits <= 8 else HOROWITZ_INT[32]
    add, mac = ops["add"], ops["add"] + ops["mul"]
    ebr = Lemaire2022(bits).ram(EBR_BITS // bits)
    seconds = events.cycles / clock_hz
    parts_pj = {
        "static": STATIC_UA * CORE_V * seconds * 1e6,  # uA x V x s = uJ; as pJ
        "clock": events.cycles * E_CYCLE_PJ,
        "accumulates": events.accumulates * add,
        "membrane_updates": events.membrane_updates * (mac + add),
        "memory": (events.memory_reads + events.memory_writes) * ebr,
    }
    parts = {k: v / PJ_PER_UJ for k, v in parts_pj.items()}
    return FpgaEnergy(
        energy_uj=sum(parts.values()), parts_uj=parts,
        basis=(f"{EnergyKind.ESTIMATED}: cycles x {E_CYCLE_PJ:.1f} pJ + {STATIC_UA} uA x "
               f"{CORE_V} V x cycles / {clock_hz / 1e6:g} MHz + accumulates x {add} pJ + "
               f"membrane updates x {mac + add:g} pJ + block RAM accesses x {ebr:.2f} pJ "
               f"({bits}-bit; {SOURCE})"))


# Memory words each operation of bench's core touches (fpga/rtl/snn_engine.v's
# datapath): a synapse reads its weight and read-modify-writes its
# accumulator; a neuron update reads its accumulator, bias and potential and
# writes its potential and the cleared accumulator; an event is written into
# a FIFO and read out of it.
SYNAPSE_RW = (2, 1)
UPDATE_RW = (3, 2)
EVENT_RW = (1, 1)


def core_events(cycles: int, act: SnnActivity) -> CoreEvents:
    """The core's events for one inference from its cycle count and the
    run's activity (the device's spike counts x the exact fan-out,
    harness/snn_metrics.py): accumulates = Effective_ACs + Effective_MACs,
    membrane updates = MembraneUpdates, events = each synaptic layer's input
    events as snn_metrics counts them (the first layer's: its inputs x T, an
    upper bound on the non-zero values the core lists), memory traffic per
    SYNAPSE_RW, UPDATE_RW and EVENT_RW."""
    synapses = round(act.Effective_ACs + act.Effective_MACs)
    events = round(sum(c.input_events for c in act.synaptic))
    updates = act.MembraneUpdates
    return CoreEvents(
        cycles=cycles, accumulates=synapses, membrane_updates=updates,
        memory_reads=synapses * SYNAPSE_RW[0] + updates * UPDATE_RW[0] + events * EVENT_RW[0],
        memory_writes=synapses * SYNAPSE_RW[1] + updates * UPDATE_RW[1]
        + events * EVENT_RW[1])


def with_estimate(s: RunSummary) -> RunSummary:
    """An FPGA run without a meter, with this estimate as its energy (labelled
    estimated, its basis saying how); every other run as it is. Computed when
    the run is shown, from its median cycle count and its activity, so the
    store keeps only what was measured."""
    board = fpga_board(s.board)
    # bench's core on a board it synthesises for (the model's figures are the
    # iCE40UP5K's), whether or not a synthesis of it exists yet
    if (board is None or not board.facts.synthesise or s.energy_uj is not None
            or s.activity is None or not s.count_per_inference or not s.clock_hz):
        return s
    bits = 8 if s.dtype == "int8" else 16
    e = estimate(core_events(s.count_per_inference, s.activity), s.clock_hz, bits)
    return replace(s, energy_uj=e.energy_uj, energy_min_uj=e.energy_uj,
                   energy_max_uj=e.energy_uj, energy_kind=e.kind,
                   energy_basis=f"{e.basis}; at the run's median cycles and mean activity")

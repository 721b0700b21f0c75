"""Spiking runs in reports: a second table per group (T, spikes, rates,
NeuroBench's operation counts, the energy models' estimates), the CSV
columns that carry the same, and the note that says what they mean.
Groups without spiking runs get none of it."""

from __future__ import annotations

from harness.report.compare import Comparison, Group, Row
from harness.store.store import RunSummary

SNN_HEAD = ("run", "engine / dtype", "T", "accuracy %", "spikes / inference", "spike rate %",
            "ActivationSparsity", "SynOps (Effective_ACs)", "Effective_MACs", "Dense",
            "MembraneUpdates")
# model key -> column head; the figures are estimates of a model, never measured
ENERGY_MODELS = {"lemaire2022": "Lemaire 2022, 45 nm", "ac_mac": "0.9 pJ/AC, 4.6 pJ/MAC"}
SNN_COLUMNS = ("timesteps", "spikes_per_inference", "spike_rate", "activation_sparsity",
               "effective_acs", "effective_macs", "dense_synops", "membrane_updates",
               *(f"energy_{m}_{net}_uj" for m in ENERGY_MODELS for net in ("snn", "ann")))


def spiking(s: RunSummary) -> bool:
    return s.timesteps is not None


def snn_rows(g: Group) -> list[Row]:
    return [r for r in g.rows if spiking(r.s)]


def snn_head() -> list[str]:
    return [*SNN_HEAD, *(f"energy SNN / ANN (uJ, {label}: estimate)"
                         for label in ENERGY_MODELS.values())]


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def snn_cells(row: Row) -> list[str]:
    s = row.s
    a = s.activity
    acc = None if s.accuracy is None else 100 * s.accuracy
    rate = None if a is None else 100 * a.spike_rate
    energy = {e.model: e for e in s.energy_models or ()}
    return [str(s.run_id), f"{s.engine} / {s.dtype}", str(s.timesteps), _f(acc, ".2f"),
            _f(s.spikes_per_inference, ",.1f"), _f(rate, ".2f"),
            _f(a and a.ActivationSparsity, ".4f"), _f(a and a.Effective_ACs, ",.0f"),
            _f(a and a.Effective_MACs, ",.0f"), _f(a and a.Dense, ","),
            _f(a and a.MembraneUpdates, ","),
            *(f"{energy[m].snn_uj:.4g} / {energy[m].ann_uj:.4g}" if m in energy else "-"
              for m in ENERGY_MODELS)]


def snn_csv(s: RunSummary) -> dict[str, object]:
    """The SNN_COLUMNS of one run (empty for conventional runs)."""
    if not spiking(s):
        return {}
    a = s.activity
    out: dict[str, object] = {"timesteps": s.timesteps,
                              "spikes_per_inference": s.spikes_per_inference}
    if a is not None:
        out.update(spike_rate=round(a.spike_rate, 6),
                   activation_sparsity=round(a.ActivationSparsity, 6),
                   effective_acs=round(a.Effective_ACs, 3),
                   effective_macs=round(a.Effective_MACs, 3), dense_synops=a.Dense,
                   membrane_updates=a.MembraneUpdates)
    for e in s.energy_models or ():
        out[f"energy_{e.model}_snn_uj"] = e.snn_uj
        out[f"energy_{e.model}_ann_uj"] = e.ann_uj
    return out


def any_spiking(c: Comparison) -> bool:
    return any(spiking(r.s) for g in c.groups for r in g.rows)


SNN_TABLE_TITLE = ("Spiking runs, per inference (T timesteps): spikes counted on the device; "
                   "operation counts and energy models computed from them, estimates, not "
                   "measurements")


def snn_note() -> str:
    return ("Spiking runs: spike rate = spikes / (neurons x T) over all spiking layers, "
            "ActivationSparsity = 1 - spike rate (NeuroBench); SynOps (Effective_ACs) = each "
            "spike counted on the device times its exact fan-out into the next weighted "
            "layers (through pooling and flatten), Effective_MACs = weighted layers fed by "
            "non-spikes (every input value counted), Dense = every connection at every step, "
            "MembraneUpdates = neurons x T. Energy models are published estimates from these "
            "counts, never measured and never in the energy column: Lemaire et al. ICONIP "
            "2022 as Qualia's EnergyEstimationMetric implements it (Horowitz 45 nm "
            "operations and SRAM accesses), and 0.9 pJ per AC / 4.6 pJ per MAC; each beside "
            "its ANN counterpart (the same weighted layers run once, densely).")

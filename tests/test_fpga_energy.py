"""The FPGA energy estimate from the core's event counts (harness/fpga/energy.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.commands.show import summary_rows
from harness.errors import ConfigError
from harness.fpga.energy import CoreEvents, core_events, estimate, with_estimate
from harness.report.compare import compare
from harness.report.render import render
from harness.snn_metrics import LayerCost, SnnActivity
from harness.store.schema import RunRecord, Sample
from harness.store.store import RunSummary, Store


def test_a_clock_only_second_at_12_mhz_is_the_measured_core_current() -> None:
    # 12 M cycles at 12 MHz with no events: the measured design's 613.5 uA on
    # the 1.219 V rail for one second, static and clock together.
    e = estimate(CoreEvents(12_000_000, 0, 0, 0, 0), 12_000_000)
    assert e.energy_uj == pytest.approx(613.5 * 1.219, rel=1e-9)
    assert e.parts_uj["static"] == pytest.approx(92.1 * 1.219, rel=1e-9)
    assert e.parts_uj["accumulates"] == e.parts_uj["memory"] == 0
    # the same cycles at twice the clock: same clock energy, half the static
    fast = estimate(CoreEvents(12_000_000, 0, 0, 0, 0), 24_000_000)
    assert fast.parts_uj["clock"] == pytest.approx(e.parts_uj["clock"])
    assert fast.parts_uj["static"] == pytest.approx(e.parts_uj["static"] / 2)


def test_the_events_are_costed_by_the_named_45nm_model() -> None:
    e = estimate(CoreEvents(0, 1000, 100, 300, 200), 12_000_000, bits=8)
    assert e.parts_uj["accumulates"] == pytest.approx(1000 * 0.03e-6)
    assert e.parts_uj["membrane_updates"] == pytest.approx(100 * (0.03 + 0.2 + 0.03) * 1e-6)
    # a 4 Kbit EBR access: 1.09e-5 pJ x 4096 bits + 13.2 pJ
    assert e.parts_uj["memory"] == pytest.approx(500 * (1.09e-5 * 4096 + 13.2) * 1e-6)
    wide = estimate(CoreEvents(0, 1000, 100, 300, 200), 12_000_000, bits=16)
    assert wide.parts_uj["accumulates"] > e.parts_uj["accumulates"]


def test_fewer_events_cost_less_and_the_label_says_estimated() -> None:
    full = estimate(CoreEvents(40_000, 12_000, 2_000, 16_000, 4_000), 12_000_000)
    half = estimate(CoreEvents(25_000, 6_000, 2_000, 8_000, 4_000), 12_000_000)
    assert half.energy_uj < full.energy_uj
    assert full.kind == "estimated" and full.basis.startswith("estimated: ")
    assert "tinyvision-ai-inc/ice40_power" in full.basis and "Horowitz 45 nm" in full.basis


def test_impossible_counts_and_clocks_are_refused() -> None:
    with pytest.raises(ConfigError, match="accumulates is negative"):
        CoreEvents(10, -1, 0, 0, 0)
    with pytest.raises(ConfigError, match="must be positive"):
        estimate(CoreEvents(10, 0, 0, 0, 0), 0)


def test_the_cores_events_follow_the_runs_activity() -> None:
    act = SnnActivity(
        timesteps=4, layers=(),
        synaptic=(LayerCost("fc1", input_events=256.0, effective_acs=0.0,
                            effective_macs=8192.0, dense=8192, output_spikes=40.0),
                  LayerCost("fc2", input_events=40.0, effective_acs=400.0, effective_macs=0.0,
                            dense=5120, output_spikes=7.0)),
        spikes_per_inference=47.0, ActivationSparsity=0.9, Effective_ACs=400.0,
        Effective_MACs=8192.0, Dense=13312, MembraneUpdates=4 * (32 + 10))
    ev = core_events(21_000, act)
    assert (ev.cycles, ev.accumulates, ev.membrane_updates) == (21_000, 8592, 168)
    # a synapse: 2 reads 1 write; an update: 3 reads 2 writes; an event: 1 and 1
    assert ev.memory_reads == 8592 * 2 + 168 * 3 + 296
    assert ev.memory_writes == 8592 + 168 * 2 + 296
    half = core_events(15_000, replace(act, Effective_ACs=200.0))
    assert estimate(half, 12e6).energy_uj < estimate(ev, 12e6).energy_uj


def _stored(tmp_path: Path, **fields: object) -> RunSummary:
    with Store(tmp_path / "r.db") as st:
        run_id = st.create_run(RunRecord(
            board="icebreaker", backend="verilator", engine="native", dtype="int8",
            model="snn.py:f", model_hash="ab" * 32, dataset="digits", dataset_hash="cd" * 32,
            samples_planned=1, count_kind="cycles", clock_hz=12_000_000, **fields))
        st.add_sample(run_id, Sample(idx=0, label=1, predicted=1, count=21_000,
                                     raw_count=21_000, stack_bytes=0, max_abs_error=0.0,
                                     output=np.zeros(10, np.float32)))
        st.finish_run(run_id, "complete")
        return st.summary(run_id)


def test_an_fpga_run_without_a_meter_is_shown_with_the_estimate_labelled(
        tmp_path: Path) -> None:
    act = SnnActivity(
        timesteps=4, layers=(), synaptic=(LayerCost("fc1", 256.0, 0.0, 8192.0, 8192, 40.0),),
        spikes_per_inference=40.0, ActivationSparsity=0.7, Effective_ACs=0.0,
        Effective_MACs=8192.0, Dense=8192, MembraneUpdates=128)
    fpga = replace(_stored(tmp_path, fpga_part="up5k", fpga_luts=3000, fpga_ffs=1500,
                           fpga_bram=20, fpga_spram=4, fpga_dsp=2, fmax_hz=30_000_000),
                   activity=act)
    shown = with_estimate(fpga)
    want = estimate(core_events(21_000, act), 12_000_000, bits=8)
    assert shown.energy_uj == pytest.approx(want.energy_uj)
    assert shown.energy_kind == "estimated" and "ice40_power" in (shown.energy_basis or "")
    md = render(compare([shown]), "md")
    assert f"{want.energy_uj:,.3f} (estimated)" in md
    rows = dict(summary_rows(fpga))  # bench's run summary computes it the same way
    assert rows["energy (estimated)"].startswith(f"{want.energy_uj:,.3f} uJ per inference")
    # a measured run, or a microcontroller's, is left as stored
    measured = replace(fpga, energy_uj=5.0, energy_kind="measured")
    assert with_estimate(measured) is measured
    mcu = replace(fpga, board="stm32l452")
    assert with_estimate(mcu) is mcu
    # the core's run before any synthesis of it (none fits the UP5K yet): estimated as well
    unsynthesised = replace(fpga, fpga_part=None, fpga_luts=None, fmax_hz=None)
    assert with_estimate(unsynthesised).energy_uj == pytest.approx(want.energy_uj)

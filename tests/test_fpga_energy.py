"""The FPGA energy estimate from the core's event counts (harness/fpga/energy.py)."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.fpga.energy import CoreEvents, estimate


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

"""Energy per inference from a trace: windows from the trigger pin's edges
(rising = the timed region starts, falling = it ends), energy = the
integral of V*I over each window.

Each edge lies somewhere between two samples; it is placed half a sample
before the first sample on its new level, so a window of n samples spans
n sample periods, and the trapezoid rule runs over the samples inside,
extended by half a period at each end with the edge samples' power.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from harness.errors import MeterError
from harness.power.meter import Trace

# Below this many samples per window the edges' half-sample uncertainty alone
# can exceed 1% of the window's energy.
MIN_SAMPLES_PER_WINDOW = 100


@dataclass(frozen=True)
class Window:
    start: int  # first sample with the pin high
    stop: int  # first sample with the pin low again
    t_start_s: float
    t_stop_s: float
    energy_j: float

    @property
    def duration_s(self) -> float:
        return self.t_stop_s - self.t_start_s

    @property
    def energy_uj(self) -> float:
        return self.energy_j * 1e6


@dataclass(frozen=True)
class EnergyReport:
    windows: tuple[Window, ...]
    dropped_partial: int  # windows cut by the start or end of the trace

    @property
    def energies_uj(self) -> list[float]:
        return [w.energy_uj for w in self.windows]

    @property
    def median_uj(self) -> float:
        return statistics.median(self.energies_uj)

    @property
    def min_uj(self) -> float:
        return min(self.energies_uj)

    @property
    def max_uj(self) -> float:
        return max(self.energies_uj)

    @property
    def spread_pct(self) -> float:
        """(max - min) / median, in percent."""
        return 100 * (self.max_uj - self.min_uj) / self.median_uj if self.median_uj else 0.0


def edges(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first sample after each rising and each falling edge."""
    if trace.trigger is None:
        raise MeterError(f"trace from {trace.meter} has no trigger channel: wire the board's "
                         f"trigger pin to the meter's trigger input")
    t = trace.trigger.astype(np.int8)
    d = np.diff(t)
    return np.flatnonzero(d == 1) + 1, np.flatnonzero(d == -1) + 1


def find_windows(trace: Trace) -> tuple[list[tuple[int, int]], int]:
    """(start, stop) sample indices of each complete window, and how many
    partial ones (pin already high at the first sample, or still high at
    the last) were left out."""
    rising, falling = edges(trace)
    if len(rising) == 0 and len(falling) == 0 and trace.windows_from != "trigger pin":
        raise MeterError(f"no windows found in {trace.duration_s:.3g} s of trace from "
                         f"{trace.meter} (windows from {trace.windows_from}): check the board "
                         f"ran inferences while the meter recorded, or set the threshold")
    if len(rising) == 0 and len(falling) == 0:
        level = "high" if trace.trigger is not None and trace.trigger.any() else "low"
        raise MeterError(f"trace from {trace.meter} has no trigger edges (the pin stayed "
                         f"{level} for {trace.duration_s:.3g} s): check the trigger wiring and "
                         f"that the firmware ran inferences while the meter recorded")
    out: list[tuple[int, int]] = []
    dropped = 0
    fi = 0
    for r in rising:
        while fi < len(falling) and falling[fi] <= r:
            fi += 1
        if fi == len(falling):
            dropped += 1  # still high when the trace ends
            break
        out.append((int(r), int(falling[fi])))
        fi += 1
    if len(falling) and (len(rising) == 0 or falling[0] < rising[0]):
        dropped += 1  # high from the first sample
    return out, dropped


def _check_window(trace: Trace, k: int, s: int, e: int) -> None:
    n = e - s
    if n < MIN_SAMPLES_PER_WINDOW:
        dur = n / trace.sample_rate
        need = MIN_SAMPLES_PER_WINDOW / dur
        raise MeterError(f"sample rate {trace.sample_rate:g} Hz is too low for the "
                         f"{dur * 1e6:.1f} us window {k}: it has {n} samples; at least "
                         f"{need:,.0f} Hz is needed ({MIN_SAMPLES_PER_WINDOW} samples per window)")
    cur = trace.current_a[s:e]
    bad = ~np.isfinite(cur)
    if trace.range_a is not None:
        bad |= np.abs(cur) >= trace.range_a * (1 - 1e-6)
    if bad.any():
        i = s + int(np.flatnonzero(bad)[0])
        scale = f" ({trace.range_a:g} A full scale)" if trace.range_a is not None else ""
        raise MeterError(f"current is clipped at the meter's range limit{scale} in window {k} "
                         f"at t = {trace.time_s[i]:.6f} s: the range is saturated; choose a "
                         f"higher current range")


def window_energy(trace: Trace, s: int, e: int) -> float:
    """Joules between the edges before samples s and e (see module notes)."""
    dt = 1.0 / trace.sample_rate
    p = trace.current_a[s:e] * trace.voltage_v[s:e]
    inner = float(np.trapezoid(p, dx=dt)) if len(p) > 1 else 0.0
    return inner + dt / 2 * float(p[0] + p[-1])


def energy_per_window(trace: Trace) -> EnergyReport:
    spans, dropped = find_windows(trace)
    if not spans:
        raise MeterError(f"trace from {trace.meter} has no complete trigger window (only "
                         f"{dropped} cut by the trace's start or end): record longer")
    t = trace.time_s
    dt = 1.0 / trace.sample_rate
    windows = []
    for k, (s, e) in enumerate(spans):
        _check_window(trace, k, s, e)
        windows.append(Window(s, e, float(t[s] - dt / 2), float(t[e] - dt / 2),
                              window_energy(trace, s, e)))
    return EnergyReport(tuple(windows), dropped)


def match_samples(report: EnergyReport, samples: list[int]) -> dict[int, float]:
    """Sample index -> energy (uJ), windows taken in order."""
    if len(report.windows) != len(samples):
        hint = ("the capture ended before the run did: record longer"
                if len(report.windows) < len(samples) else
                "something else raised the trigger pin, or a sample was retried")
        raise MeterError(f"the trace has {len(report.windows)} inference windows but the run "
                         f"streamed {len(samples)} samples: {hint}")
    return {i: w.energy_uj for i, w in zip(samples, report.windows, strict=True)}

"""Record a trace from a meter, save it (Parquet) with its plot (PNG), and
measure the energy of each inference window in it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, MeterError
from harness.power.energy import EnergyReport, energy_per_window
from harness.power.meter import Trace, open_meter
from harness.power.plot import trace_png


@dataclass(frozen=True)
class Capture:
    trace: Trace
    trace_file: Path
    plot_file: Path
    report: EnergyReport | None
    error: MeterError | None  # why there is no report


def plot_path(trace_file: Path) -> Path:
    return trace_file.with_suffix(".png")


def save(trace: Trace, path: Path, title: str | None = None) -> Capture:
    """Write the trace and its plot; the energy report, or the reason there
    is none (the files are written either way)."""
    trace.save(path)
    try:
        report: EnergyReport | None = energy_per_window(trace)
        error = None
    except MeterError as e:
        report, error = None, e
    png = trace_png(trace, report, plot_path(path), title)
    return Capture(trace, path, png, report, error)


def capture(uri: str, duration: float, out: Path, rate: float | None = None,
            tick: Callable[[float, float], None] | None = None) -> Capture:
    """Record ``duration`` seconds; ``tick(elapsed, duration)`` reports progress."""
    if duration <= 0:
        raise ConfigError(f"--duration must be positive, got {duration:g}")
    if out.suffix != ".parquet":
        raise ConfigError(f"trace file {out} must end in .parquet")
    with open_meter(uri) as meter:
        meter.configure(rate, duration)
        meter.start()
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < duration:
            if tick:
                tick(elapsed, duration)
            time.sleep(min(0.1, duration - elapsed))
        if tick:
            tick(duration, duration)
        meter.stop()
        trace = meter.read()
    if len(trace) == 0:
        raise MeterError(f"{uri} returned no samples")
    return save(trace, out)

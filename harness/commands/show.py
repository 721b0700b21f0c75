"""How commands show things: the two consoles, a stored run's summary table,
and a progress bar around a run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.backends import BACKENDS
from harness.boards import board_note
from harness.fpga.energy import with_estimate
from harness.kinds import HOST_BACKEND, CountKind
from harness.report.compare import (
    estimated_latency_us,
    latency_estimate_us,
    reference_name,
    timing_label,
)
from harness.snn_metrics import SnnActivity
from harness.store.store import RunSummary

if TYPE_CHECKING:  # the run package imports torch: only when a run is made
    from harness.run.request import RunRequest

out = Console()
err = Console(stderr=True)


def kb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:.1f} KB"


def title(backend: str) -> str:
    """A backend as users know it ("QEMU"); stored names bench lacks, as stored."""
    return BACKENDS.load(backend).title if backend in BACKENDS else backend


def metric_row(s: RunSummary) -> tuple[str, str]:
    """The run's task metric (harness/metrics.py), named: accuracy (top-1, and
    top-k when asked), AUC of the reconstruction error, or PSNR and MSE."""
    if s.metric == "AUC":
        mse = "" if s.mse is None else f" (mean reconstruction MSE {s.mse:.4g})"
        return ("AUC (anomaly)", "-" if s.auc is None else f"{s.auc:.4f}{mse}")
    if s.metric == "PSNR":
        return ("PSNR (regression)", "-" if s.psnr_db is None else
                f"{s.psnr_db:.2f} dB (MSE {s.mse:.4g} vs the target)")
    if s.accuracy is None:
        return ("accuracy", "-")
    text = f"{100 * s.accuracy:.2f} %"
    if s.top_k and s.top_k_accuracy is not None:
        text += f" top-1, {100 * s.top_k_accuracy:.2f} % top-{s.top_k}"
    return ("accuracy", text)


def summary_rows(s: RunSummary) -> list[tuple[str, str]]:
    s = with_estimate(s)  # an FPGA run without a meter: the core's energy model
    count = "-" if s.count_per_inference is None else f"{s.count_per_inference:,} {s.count_kind}"
    if s.count_min is not None and s.count_min != s.count_max:
        count += f" (min {s.count_min:,}, max {s.count_max:,})"
    rows = [
        ("run", f"{s.run_id} ({s.status})"),
        ("board / backend", f"{s.board} / {s.backend}"
         + (f" ({note})" if (note := board_note(s.board)) else "")),
        ("engine / dtype", f"{s.engine} / {s.dtype}"
         + (f" ({s.quant_scheme} quantization)" if s.quant_scheme else "")),
        ("samples", f"{s.samples} of {s.samples_planned}"),
        metric_row(s),
        ("per inference", count),
    ]
    if s.timesteps is not None:
        rows.append(("spiking", f"T = {s.timesteps} timesteps, {s.readout} readout, "
                     f"{s.encoding} encoding"))
    if s.spikes_per_inference is not None and s.spike_rates and s.layer_spikes:
        rows.append(("spikes per inference", f"{s.spikes_per_inference:,.1f} (counted on "
                     f"the device)"))
        rows.append(("spike rate per layer", ", ".join(
            f"{name} {s.layer_spikes[name]:,.1f} ({100 * rate:.1f} %)"
            for name, rate in s.spike_rates.items())))
    if s.activity is not None:
        rows += activity_rows(s.activity)
    est = estimated_latency_us(s)
    if est is not None and s.estimated_cycles_per_inference is not None:
        rows.append(("cycles (estimated)", f"{s.estimated_cycles_per_inference:,} per inference, "
                     f"{timing_label(s)}"))
        rows.append((f"latency {timing_label(s)}", f"{est:,.0f} us at {s.clock_hz / 1e6:g} MHz "
                     f"(not a measurement)"))
    elif s.count_kind == CountKind.INSTRUCTIONS and s.count_per_inference and s.clock_hz:
        rows.append(("latency estimate", f"{latency_estimate_us(s):,.0f} us at CPI 1, "
                     f"{s.clock_hz / 1e6:g} MHz (estimate: {title(s.backend)} has no cycle "
                     f"model)"))
    elif s.count_kind == CountKind.CYCLES and s.count_per_inference and s.clock_hz:
        rows.append(("latency", f"{latency_estimate_us(s):,.0f} us at "
                     f"{s.clock_hz / 1e6:g} MHz (measured cycles)"))
    if s.fpga_luts is not None:  # an FPGA run: the design's resources, no ROM/RAM
        rows += [
            (f"FPGA logic ({s.fpga_part})", f"{s.fpga_luts:,} LUT4, {s.fpga_ffs or 0:,} "
             f"flip-flops"),
            ("FPGA memories", f"{s.fpga_bram or 0} block RAM (EBR), {s.fpga_spram or 0} SPRAM, "
             f"{s.fpga_dsp or 0} DSP"),
            ("Fmax (place and route)", "-" if s.fmax_hz is None else f"{s.fmax_hz / 1e6:,.2f} "
             f"MHz"),
        ]
        if s.fmax_hz and s.count_kind == CountKind.CYCLES and s.count_per_inference:
            # The core's measured cycles at the clock place and route says it can take.
            rows.append(("latency at Fmax", f"{s.count_per_inference / s.fmax_hz * 1e6:,.0f} us "
                         f"(measured cycles / {s.fmax_hz / 1e6:,.2f} MHz)"))
    elif s.count_kind == CountKind.CYCLES and s.timer_kind == "core_cycles":
        # bench's SNN core, not yet synthesised: what the model takes of its memories
        rows += [
            ("core memories: weights, biases, descriptors", kb(s.rom_bytes)),
            ("core memories: potentials, accumulators", kb(s.ram_bytes)),
        ]
    else:
        rows += [
            ("ROM", kb(s.rom_bytes)),
            ("RAM (static)", f"{kb(s.ram_bytes)} (arena {kb(s.arena_bytes)})"),
        ]
    rows += [
        ("stack (measured)", kb(s.stack_bytes)),
        (f"max |{'output' if s.backend == HOST_BACKEND else 'device'} - {reference_name(s)}|",
         ("-" if s.max_abs_error is None else f"{s.max_abs_error:.2e}")
         + (" (finite samples only)" if s.nonfinite_samples else "")),
    ]
    if s.nonfinite_samples:
        rows.append(("NaN/inf outputs", f"{s.nonfinite_samples} of {s.samples} samples: stored "
                     f"and flagged, counted as wrong, no prediction"))
    if s.energy_uj is not None:
        spread = ("" if s.energy_min_uj == s.energy_max_uj else
                  f" (min {s.energy_min_uj:,.3f}, max {s.energy_max_uj:,.3f})")
        rows.append((f"energy ({s.energy_kind})", f"{s.energy_uj:,.3f} uJ per inference"
                     f"{spread}"))
        if s.energy_basis:
            rows.append(("energy basis", s.energy_basis))
    for e in s.energy_models or ():
        rows.append((f"energy model ({e.label})", f"SNN {e.snn_uj:,.4g} uJ, ANN counterpart "
                     f"{e.ann_uj:,.4g} uJ per inference ({e.kind}, not the board's)"))
    if s.trace_file:
        rows.append(("power trace", s.trace_file))
    return rows


def activity_rows(a: SnnActivity) -> list[tuple[str, str]]:
    """NeuroBench's figures of a spiking run, per inference."""
    return [
        ("ActivationSparsity", f"{a.ActivationSparsity:.4f} (1 - spikes / (neurons x T))"),
        ("SynapticOperations", f"Effective_ACs {a.Effective_ACs:,.0f}, Effective_MACs "
         f"{a.Effective_MACs:,.0f}, Dense {a.Dense:,} (ACs: device spikes x fan-out; "
         "MACs: layers fed by non-spikes, every step)"),
        ("SynOps per layer", "; ".join(
            f"{c.name}: {c.effective_acs:,.0f} ACs" if c.effective_acs or not c.effective_macs
            else f"{c.name}: {c.effective_macs:,.0f} MACs" for c in a.synaptic)),
        ("MembraneUpdates", f"{a.MembraneUpdates:,} (neurons x T)"),
    ]


def print_summary(s: RunSummary) -> None:
    t = Table(show_header=False, title=f"{s.model} on {s.dataset}")
    t.add_column(style="bold")
    t.add_column()
    for k, v in summary_rows(s):
        t.add_row(k, v)
    out.print(t)


def run_with_progress(req: RunRequest, db: Path) -> RunSummary:
    """Prepare (a spinner), then stream with a bar of samples and their rate."""
    from harness.run.execute import execute
    from harness.run.prepare import prepare

    with err.status("checking inputs and building firmware ..."):
        prepared = prepare(req)
    if prepared.note:
        err.print(f"bench: note: {prepared.note}", soft_wrap=True)
    cal = prepared.calibration
    if cal and cal.get("dataset") == req.dataset and req.quant.ranges is None:
        err.print(f"bench: note: calibrated on the first {cal['samples']} samples of "
                  f"{req.dataset} itself (it has no -train split); pass --calibration-data "
                  f"to keep calibration and test data apart", soft_wrap=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err,
                  disable=not err.is_terminal) as bar:
        task = bar.add_task(f"{req.board}/{req.backend}", total=prepared.n, rate="")
        started = time.monotonic()
        first: list[int] = []

        def progress(done: int, total: int) -> None:
            if not first:
                first.append(done)
            elapsed = time.monotonic() - started
            rate = (done - first[0]) / elapsed if elapsed > 0 else 0.0
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f} samples/s")

        return execute(prepared, db, progress=progress)

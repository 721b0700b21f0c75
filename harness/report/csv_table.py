"""The report as CSV: one row per run, then one per published figure."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from pathlib import Path

from harness.kinds import HOST_BACKEND, IMPORTED_BACKEND, CountKind
from harness.metrics import task_of
from harness.report.cells import accuracy_pct, latency_us
from harness.report.compare import Comparison, Row, estimated_latency_us
from harness.report.published import Published
from harness.report.snn import SNN_COLUMNS, any_spiking, snn_csv
from harness.store.store import RunSummary

COLUMNS = ("run", "status", "board", "backend", "engine", "dtype", "quant_scheme", "model",
           "dataset",
           "samples", "accuracy_pct", "count_per_inference", "count_kind",
           "latency_estimate_us", "rom_bytes", "ram_bytes", "arena_bytes", "stack_bytes",
           # added with the comparison report; the columns above keep their meaning
           "kind", "latency_cpi", "clock_hz", "baseline_engine", "baseline_run", "count_ratio",
           "rom_ratio", "ram_ratio", "stack_ratio", "accuracy_delta_pp", "source",
           "published_metric", "published_value", "published_unit",
           # added with power meters: median energy per inference and how it was obtained
           "energy_uj", "energy_kind",
           # added with tasks: the dataset's task and its metric (harness/metrics.py)
           "task", "metric", "metric_value", "metric_delta", "top_k", "top_k_accuracy_pct",
           "auc", "mse", "psnr_db",
           # samples whose outputs were NaN/inf: stored, never counted as predictions
           "nonfinite_samples",
           # FPGA runs: the synthesised design's resources and Fmax (no ROM/RAM)
           "fpga_part", "fpga_luts", "fpga_ffs", "fpga_bram", "fpga_spram", "fpga_dsp",
           "fmax_hz",
           # an emulator's cycle estimate (runs.timing_model) and the latency from it
           "estimated_cycles_per_inference", "timing_model", "latency_estimated_us")
# Columns that are a stored run's own fields, as the store has them.
STORED = tuple(c for c in COLUMNS if c in {f.name for f in fields(RunSummary)})


def _r4(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _csv_measured(row: Row, c: Comparison) -> dict[str, object]:
    s, r = row.s, row.ratios
    return {
        **{col: getattr(s, col) for col in STORED},
        "run": s.run_id, "accuracy_pct": accuracy_pct(s),
        "latency_estimated_us": None if estimated_latency_us(s) is None
        else round(estimated_latency_us(s), 1),  # type: ignore[arg-type]
        "latency_estimate_us": latency_us(s, c.cpi)
        if s.count_kind == CountKind.INSTRUCTIONS else None,
        "kind": _kind(s),
        "latency_cpi": c.cpi if s.count_kind == CountKind.INSTRUCTIONS else None,
        "baseline_engine": c.baseline if r else None,
        "baseline_run": r and r.baseline_run, "count_ratio": _r4(r and r.count),
        "rom_ratio": _r4(r and r.rom), "ram_ratio": _r4(r and r.ram),
        "stack_ratio": _r4(r and r.stack), "accuracy_delta_pp": r and r.accuracy_pp,
        "source": s.imported_from or f"{s.backend} run",
        "energy_uj": None if s.energy_uj is None else round(s.energy_uj, 6),
        "energy_kind": s.energy_kind if s.energy_uj is not None else None,
        "task": task_of(s.task).value, "metric_value": _r6(s.metric_value),
        "metric_delta": _r6(r and r.metric_delta),
        "top_k_accuracy_pct": None if s.top_k_accuracy is None
        else round(100 * s.top_k_accuracy, 2),
        "auc": _r6(s.auc), "mse": _r6(s.mse), "psnr_db": _r6(s.psnr_db), **snn_csv(s)}


def _r6(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _kind(s: RunSummary) -> str:
    """measured (on a board or emulator), host (an engine's host interpreter:
    accuracy and arena only) or imported (a vendor tool's report)."""
    return {HOST_BACKEND: "host interpreter", IMPORTED_BACKEND: "imported"}.get(s.backend,
                                                                                "measured")


def _csv_published(p: Published) -> list[dict[str, object]]:
    return [{"kind": "published", "status": p.kind, "board": p.target, "engine": p.engine,
             "dtype": p.dtype, "model": p.model, "source": f"{p.source}; {p.file}",
             "published_metric": f.metric, "published_value": f.value,
             "published_unit": f.unit} for f in p.figures]


def render(c: Comparison, output: Path | None = None) -> str:
    """Measured rows first (one per run), then one row per published figure.
    Spiking runs add SNN_COLUMNS at the end (only when the report has one)."""
    buf = io.StringIO()
    columns = COLUMNS + SNN_COLUMNS if any_spiking(c) else COLUMNS
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    w.writeheader()
    for g in c.groups:
        for r in g.rows:
            w.writerow({k: "" if v is None else v for k, v in _csv_measured(r, c).items()})
    seen: set[int] = set()
    for p in [*(p for g in c.groups for p in g.published), *c.other_published]:
        if id(p) not in seen:
            seen.add(id(p))
            for d in _csv_published(p):
                w.writerow({k: "" if v is None else v for k, v in d.items()})
    return buf.getvalue()

"""Tables of stored runs. Measured numbers only; estimates say so."""

from __future__ import annotations

import csv
import io

from harness.store import RunSummary

COLUMNS = ("run", "status", "board", "backend", "engine", "dtype", "quant_scheme", "model",
           "dataset",
           "samples", "accuracy_pct", "count_per_inference", "count_kind",
           "latency_estimate_us", "rom_bytes", "ram_bytes", "arena_bytes", "stack_bytes")


def latency_estimate_us(s: RunSummary, cpi: float = 1.0) -> float | None:
    """Instructions x CPI / f_clk. An estimate: QEMU has no cycle model."""
    if s.count_per_inference is None or not s.clock_hz:
        return None
    if s.count_kind == "cycles":
        return s.count_per_inference / s.clock_hz * 1e6
    return s.count_per_inference * cpi / s.clock_hz * 1e6


def _row(s: RunSummary) -> dict[str, object]:
    lat = latency_estimate_us(s) if s.count_kind == "instructions" else None
    return {
        "run": s.run_id, "status": s.status, "board": s.board, "backend": s.backend,
        "engine": s.engine, "dtype": s.dtype, "quant_scheme": s.quant_scheme, "model": s.model,
        "dataset": s.dataset,
        "samples": s.samples,
        "accuracy_pct": None if s.accuracy is None else round(100 * s.accuracy, 2),
        "count_per_inference": s.count_per_inference, "count_kind": s.count_kind,
        "latency_estimate_us": None if lat is None else round(lat, 1),
        "rom_bytes": s.rom_bytes, "ram_bytes": s.ram_bytes, "arena_bytes": s.arena_bytes,
        "stack_bytes": s.stack_bytes,
    }


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def render(summaries: list[RunSummary], fmt: str) -> str:
    rows = [_row(s) for s in summaries]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
        return buf.getvalue()
    head = ["run", "status", "board / backend", "engine / dtype", "model", "dataset",
            "samples", "accuracy %", "per inference", "latency est. (us)", "ROM", "RAM",
            "arena", "stack"]
    lines = ["# bench results", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        per = "-" if r["count_per_inference"] is None else \
            f"{_cell(r['count_per_inference'])} {r['count_kind']}"
        lines.append("| " + " | ".join([
            _cell(r["run"]), _cell(r["status"]), f"{r['board']} / {r['backend']}",
            f"{r['engine']} / {r['dtype']}" + (f" ({r['quant_scheme']})" if r["quant_scheme"]
                                               else ""),
            f"`{r['model']}`", _cell(r["dataset"]),
            _cell(r["samples"]), _cell(r["accuracy_pct"]), per, _cell(r["latency_estimate_us"]),
            _cell(r["rom_bytes"]), _cell(r["ram_bytes"]), _cell(r["arena_bytes"]),
            _cell(r["stack_bytes"])]) + " |")
    lines += ["", "Counts on QEMU are executed instructions (QEMU has no cycle model); "
              "the latency column is an estimate at CPI 1 and the board's clock, not a "
              "measurement. ROM/RAM come from the ELF sections; stack is the measured "
              "high-water mark.", ""]
    return "\n".join(lines)


def reference_name(s: RunSummary) -> str:
    """What a run's outputs were checked against (harness/runner.host_reference)."""
    if s.engine == "native" and s.dtype != "float32":
        return "integer reference (bit-exact)"
    return "float reference"

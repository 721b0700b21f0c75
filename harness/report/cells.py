"""Table cells and notes shared by the markdown, html and latex reports."""

from __future__ import annotations

from harness.boards import board_note
from harness.kinds import HOST_BACKEND, IMPORTED_BACKEND, CountKind
from harness.report.compare import (
    DEFAULT_BASELINE,
    Comparison,
    Ratios,
    Row,
    estimated_latency_us,
    latency_estimate_us,
    timing_label,
)
from harness.report.published import Published
from harness.report.snn import any_spiking, snn_note
from harness.store.store import RunSummary


def _int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _x(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,}"


def accuracy_pct(s: RunSummary) -> float | None:
    return None if s.accuracy is None else round(100 * s.accuracy, 2)


def latency_us(s: RunSummary, cpi: float) -> float | None:
    lat = latency_estimate_us(s, cpi)
    return None if lat is None else round(lat, 1)


def _latency_cell(s: RunSummary, cpi: float) -> str:
    est = estimated_latency_us(s)
    if est is not None:  # a timing model's estimate beats instructions at a CPI
        return f"{est:,.1f} ({timing_label(s)})"
    lat = latency_us(s, cpi)
    if lat is None:
        return "-"
    return f"{lat:,.1f}" + (" (measured cycles)" if s.count_kind == CountKind.CYCLES else "")


def _cpi_text(cpi: float) -> str:
    return f"CPI {cpi:g}"


MEASURED_HEAD = ("run", "status", "board / backend", "engine / dtype", "samples", "metric",
                 "per inference", "latency est. (us, {cpi})", "energy / inference (uJ)", "ROM",
                 "RAM", "arena", "stack",
                 "count vs base", "ROM vs base", "RAM vs base", "stack vs base",
                 "metric vs base")
PUBLISHED_HEAD = ("published", "source", "board", "engine / dtype", "model", "figures (unit)",
                  "file")


def _energy_cell(s: RunSummary) -> str:
    """Median energy per inference, labelled measured (a meter's trigger
    windows) or estimated (datasheet current x time)."""
    if s.energy_uj is None:
        return "-"
    return f"{s.energy_uj:,.3f} ({s.energy_kind or 'estimated'})"


def _engine_dtype(s: RunSummary) -> str:
    return f"{s.engine} / {s.dtype}" + (f" ({s.quant_scheme})" if s.quant_scheme else "")


def measured_cells(row: Row, cpi: float) -> list[str]:
    s, r = row.s, row.ratios
    per = "-" if s.count_per_inference is None else f"{s.count_per_inference:,} {s.count_kind}"
    note = board_note(s.board)
    return [str(s.run_id), s.status, f"{s.board} / {s.backend}" + (f" ({note})" if note else ""),
            _engine_dtype(s),
            _int(s.samples), s.metric_text, per, _latency_cell(s, cpi),
            _energy_cell(s),
            *_memory_cells(s), _int(s.arena_bytes), _int(s.stack_bytes),
            _x(r and r.count), _x(r and r.rom), _x(r and r.ram), _x(r and r.stack),
            metric_delta_text(s, r)]


def _memory_cells(s: RunSummary) -> tuple[str, str]:
    """ROM and RAM; an FPGA run has none and shows its design's resources
    there instead, labelled: logic (LUTs, flip-flops) and memories (block
    RAM, SPRAM) with its DSPs."""
    if s.fpga_luts is None:
        return _int(s.rom_bytes), _int(s.ram_bytes)
    return (f"FPGA {s.fpga_part or ''}: {s.fpga_luts:,} LUT4, {_int(s.fpga_ffs)} FF",
            f"FPGA: {_int(s.fpga_bram)} EBR, {_int(s.fpga_spram)} SPRAM, {_int(s.fpga_dsp)} DSP")


def metric_delta_text(s: RunSummary, r: Ratios | None) -> str:
    """The headline metric against the baseline run's: top-1 in points, AUC
    as a difference, PSNR in dB."""
    if r is None or r.metric_delta is None:
        return "-"
    if s.metric == "AUC":
        return f"{r.metric_delta:+.4f} AUC"
    if s.metric == "PSNR":
        return f"{r.metric_delta:+.2f} dB"
    return f"{r.metric_delta:+.2f} pp"


def _figures_text(p: Published) -> str:
    return "; ".join(f"{f.metric} {_num(f.value)} {f.unit}" for f in p.figures)


def published_cells(p: Published) -> list[str]:
    return ["published: " + p.kind, p.source, p.target,
            f"{p.engine} / {p.dtype or '-'}", p.model, _figures_text(p), p.file]


def measured_head(cpi: float) -> list[str]:
    return [h.format(cpi=_cpi_text(cpi)) for h in MEASURED_HEAD]


def notes(c: Comparison) -> list[str]:
    base = (f"Ratios (x) are run / baseline, the baseline being the newest complete "
            f"`{c.baseline}` run on the same board, backend, model (graph hash), dataset and "
            f"dtype; metric vs base is the difference of the task's metric (top-1 in "
            f"percentage points, AUC, PSNR in dB; only between runs of the same number of "
            f"samples); '-' where there is no such run."
            if c.baseline else
            f"No `{DEFAULT_BASELINE}` runs stored, so no ratios: pick a baseline with "
            f"--baseline ENGINE.")
    lines = [
        "Metric: the dataset's task scored on the host from the stored outputs: "
        "classification = top-1 accuracy (top-k where the run asked for it); anomaly = ROC "
        "AUC of the reconstruction error (mean squared error of the outputs against the "
        "inputs), as MLPerf Tiny scores ToyADMOS; regression = PSNR (mean over samples, "
        "peak as the dataset states) and MSE against the target.",
        "Counts on QEMU are executed instructions, exact and repeatable; QEMU has no cycle "
        f"model, so the latency column is an estimate at {_cpi_text(c.cpi)} and the board's "
        "clock (instructions x CPI / f_clk), not a measurement. ROM/RAM come from the ELF "
        "sections, the same way for every engine; stack is the measured high-water mark. "
        "FPGA runs have no ROM/RAM: those cells hold the synthesised design's LUT4s and "
        "flip-flops (yosys) and its block RAMs (EBR), SPRAMs and DSPs (nextpnr).",
        "Where a QEMU run has a cycle estimate, the latency column shows it instead: "
        "estimated cycles / f_clk, labelled with its timing model (e.g. cortex-m4 v1: "
        "per-instruction-class cycles of the Cortex-M4 TRM, the board's flash accelerator "
        "assumed to hide its wait states; firmware/qemu-plugin/cm4_timing.h); an estimate, "
        "not a measurement. `bench fidelity` measures its error against a board run.",
        "Energy per inference is the median over samples, labelled: measured = the integral "
        "of V*I between the board's trigger-pin edges in a power meter's trace; estimated = "
        "count x CPI / f_clk x the datasheet run current at that clock x supply voltage (the "
        "board file names the datasheet), not a measurement.",
        base]
    backends = {r.s.backend for g in c.groups for r in g.rows}
    if HOST_BACKEND in backends:
        lines.append("Backend `host`: the engine ran in its own interpreter on this computer "
                     "(TFLite Micro's, from the tflite-micro package): accuracy, arena bytes "
                     "and the distance to bench's integer reference only; no count, ROM, RAM "
                     "or stack, since nothing was built for the board.")
    if IMPORTED_BACKEND in backends:
        lines.append("Backend `imported`: figures read from a vendor tool's own report "
                     "(STM32Cube.AI / ST Edge AI c_info.json and validate report, via "
                     "'bench import-cubeai'); its cycles were measured by that tool on a real "
                     "board, its ROM is weights plus the runtime library's kernels as the tool "
                     "states them. Not measured by bench; ratios against it compare different "
                     "methods.")
    if any_spiking(c):
        lines.append(snn_note())
    if c.with_published:
        lines.append("Published figures are other people's numbers in their own units (ms on "
                     "silicon, pass/fail ceilings), listed with their source beside the runs of "
                     "the same part or network; they are not measured here, not in any ratio "
                     "and not on the plots. Sources: references/README.md.")
    return lines

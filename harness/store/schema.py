"""The results database's tables, each spelled once as a record type.

``RunRecord`` is a row of ``runs`` as a run is created; the store adds the
row's id, status and times. The CREATE TABLE text, the columns an older
database gains on open, and what ``create_run``/``update_run`` accept are
all derived from it, and ``RunSummary`` extends it with what the samples
say. A new figure is one new field here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


def column(sql: str, note: str = "", default: Any = None) -> Any:  # noqa: ANN401
    """A dataclass field that is also a table column."""
    return field(default=default, metadata={"sql": sql, "note": note})


def required(sql: str, note: str = "", null: bool = False) -> Any:  # noqa: ANN401
    """A field every record gives; NOT NULL in SQL unless ``null``."""
    return field(metadata={"sql": sql if null else sql + " NOT NULL", "note": note})


@dataclass(frozen=True)
class RunRecord:
    """One run: what was measured, where, with what, and its run-level figures."""

    board: str = required("TEXT")
    backend: str = required("TEXT", "qemu | renode | probe | ambiq-uart | host | imported")
    engine: str = required("TEXT")
    dtype: str = required("TEXT")
    model: str = required("TEXT", "what the user passed")
    model_hash: str = required("TEXT", "sha256 of the imported graph")
    dataset: str = required("TEXT")
    dataset_hash: str = required("TEXT", "sha256 of the x and y arrays")
    samples_planned: int = required("INTEGER")
    git_commit: str | None = column("TEXT")
    compiler: str | None = column("TEXT")
    cflags: str | None = column("TEXT")
    build_id: str | None = column("TEXT")
    clock_hz: int | None = column("INTEGER")
    count_kind: str | None = column("TEXT", "cycles | instructions")
    timer_kind: str | None = column("TEXT", "what counted: dwt_cycles | systick | tcg_plugin")
    rom_bytes: int | None = column("INTEGER")
    ram_bytes: int | None = column("INTEGER")
    arena_bytes: int | None = column("INTEGER")
    stack_reserved_bytes: int | None = column("INTEGER")
    input_shape: str | None = column("TEXT", "JSON list, without the batch")
    n_outputs: int | None = column("INTEGER")
    firmware_dir: str | None = column("TEXT")
    note: str | None = column("TEXT")
    quant_scheme: str | None = column("TEXT", "pot | affine for int8/int16 runs")
    calibration: str | None = column("TEXT", "JSON: method, samples, dataset of the ranges")
    per_layer: int | None = column("INTEGER", "1: built with -DBENCH_PER_LAYER")
    sweep_key: str | None = column("TEXT", "<sweep_id>:<entry key>: made by bench sweep")
    imported_from: str | None = column("TEXT", "a vendor report this row was read from")
    metrics: str | None = column("TEXT", "JSON: run-level figures of an imported row")
    energy_kind: str | None = column("TEXT", "samples.energy_uj is: measured | estimated")
    energy_basis: str | None = column("TEXT", "the meter, or how the estimate was made")
    trace_file: str | None = column("TEXT", "the power trace (Parquet) of a measured run")
    meter: str | None = column("TEXT", "--meter URI the run was measured with")
    reference: str | None = column("TEXT", "outputs compared with: integer | float")
    timesteps: int | None = column("INTEGER", "spiking models: steps per sample")
    readout: str | None = column("TEXT", "spiking: spike_count | output_mean | membrane_last")
    encoding: str | None = column("TEXT", "spiking: direct | iterate")
    spike_layers: str | None = column("TEXT", "spiking: JSON [{name, neurons, leak, synapses}], "
                                      "counter order (harness/model/fanout.py SpikeLayer)")
    synaptic_layers: str | None = column("TEXT", "spiking: JSON, the conv/linear layers' "
                                         "geometry (harness/model/fanout.py SynapticLayer)")
    spike_kernels: str | None = column("TEXT", "spiking: JSON {layer: event | dense}, the "
                                       "kernel of each layer fed with spikes")
    dt: float | None = column("REAL", "NIR graphs: --dt, the Euler step in seconds (NULL: "
                              "the default)")
    task: str | None = column("TEXT", "the dataset's: classification | anomaly | regression "
                              "(NULL: classification, stored before tasks)")
    top_k: int | None = column("INTEGER", "classification: the k of the top-k accuracy asked for")
    psnr_peak: float | None = column("REAL", "regression: the peak value of the PSNR")
    link: str | None = column("TEXT", "the firmware's host link: uart | semihost")
    # FPGA runs: the synthesised design's resources, the counterpart of ROM/RAM
    fpga_part: str | None = column("TEXT", "FPGA runs: the part synthesised for (e.g. up5k)")
    fpga_luts: int | None = column("INTEGER", "FPGA runs: LUT4s of the synthesised design")
    fpga_ffs: int | None = column("INTEGER", "FPGA runs: flip-flops")
    fpga_bram: int | None = column("INTEGER", "FPGA runs: block RAMs (iCE40 EBR, 4 Kbit)")
    fpga_spram: int | None = column("INTEGER", "FPGA runs: single-port RAMs (iCE40 256 Kbit)")
    fpga_dsp: int | None = column("INTEGER", "FPGA runs: DSP blocks (iCE40 MAC16)")
    fmax_hz: int | None = column("INTEGER", "FPGA runs: the slowest clock's Fmax after place "
                                 "and route (nextpnr)")
    timing_model: str | None = column("TEXT", "what samples.estimated_cycles were estimated "
                                      "with, e.g. 'cortex-m4 v1' (QEMU plugin); NULL: none")
    worker: str | None = column("TEXT", "bench sweep --cluster: the Dask worker that measured "
                                "it (the last one, when a run was continued)")


# Columns the store itself keeps for every run, before the record's.
RUN_HEAD = (
    ("run_id", "INTEGER PRIMARY KEY AUTOINCREMENT", ""),
    ("created_at", "TEXT NOT NULL", ""),
    ("finished_at", "TEXT", ""),
    ("status", "TEXT NOT NULL", "running | complete | incomplete"),
)


@dataclass(frozen=True)
class Sample:
    """One finished inference (table ``samples``, plus its ``layer_counts``)."""

    idx: int = required("INTEGER", "position in the dataset")
    label: int = required("INTEGER", "class; anomaly: 1 anomalous, 0 normal; regression: -1")
    predicted: int = required("INTEGER", "argmax of the outputs; -1 where the task has no "
                              "classes or the outputs are not finite (NaN/inf)")
    count: int = required("INTEGER", "in the run's count_kind; 0 when that is NULL")
    raw_count: int = required("INTEGER", "as the device sent it (timer ticks or cycles)")
    stack_bytes: int = required("INTEGER", "stack high-water mark after this inference")
    max_abs_error: float | None = required("REAL", "vs the run's reference", null=True)
    output: np.ndarray = required("BLOB", "all outputs, float32 little endian, dequantized")
    # per-layer instructions, in manifest order (--per-layer): table layer_counts
    layers: tuple[int, ...] = field(default=(), metadata={"sql": None})
    # spikes per spiking layer, summed over the timesteps: table spike_counts
    spikes: tuple[int, ...] = field(default=(), metadata={"sql": None})
    energy_uj: float | None = column("REAL", "per inference; runs.energy_kind says which")
    score: float | None = column("REAL", "anomaly: reconstruction MSE (output vs input); "
                                 "regression: MSE vs the target; NULL for classification")
    nonfinite_outputs: int | None = column(
        "INTEGER", "how many outputs were NaN or inf: the sample is stored, no prediction")
    estimated_cycles: int | None = column(
        "INTEGER", "an emulator's cycle estimate of the inference (runs.timing_model); "
        "an estimate, never a measurement")
    # per-layer cycle estimates beside ``layers``: layer_counts.estimated_cycles
    layer_cycles: tuple[int, ...] = field(default=(), metadata={"sql": None})


SAMPLE_HEAD = (("run_id", "INTEGER NOT NULL REFERENCES runs(run_id)", ""),)
RUN_FIELDS = tuple(f.name for f in fields(RunRecord))


def record_columns(record: type) -> list[tuple[str, str, str]]:
    """(name, SQL type, note) of a record's fields that are columns."""
    return [(f.name, f.metadata["sql"], f.metadata["note"]) for f in fields(record)
            if f.metadata.get("sql")]


def _table(name: str, columns: list[tuple[str, str, str]], tail: tuple[str, ...] = ()) -> str:
    items = [(f"{col} {sql}", note) for col, sql, note in columns] + [(t, "") for t in tail]
    lines = [f"    {text}{',' if i < len(items) - 1 else ''}" + (f"  -- {note}" if note else "")
             for i, (text, note) in enumerate(items)]
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + "\n".join(lines) + "\n);\n"


SCHEMA = (
    _table("runs", [*RUN_HEAD, *record_columns(RunRecord)])
    + _table("samples", [*SAMPLE_HEAD, *record_columns(Sample)], ("PRIMARY KEY (run_id, idx)",))
    + """CREATE TABLE IF NOT EXISTS layer_counts (   -- --per-layer runs (QEMU TCG plugin)
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    idx INTEGER NOT NULL,               -- the sample's position in the dataset
    layer INTEGER NOT NULL,             -- position in the firmware manifest's "layers"
    count INTEGER NOT NULL,             -- instructions from the previous mark to this layer's
    estimated_cycles INTEGER,           -- their cycles as runs.timing_model estimates them
    PRIMARY KEY (run_id, idx, layer)
);
CREATE TABLE IF NOT EXISTS spike_counts (   -- spiking models: counted on the device
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    idx INTEGER NOT NULL,               -- the sample's position in the dataset
    layer INTEGER NOT NULL,             -- position in runs.spike_layers
    spikes INTEGER NOT NULL,            -- spikes the layer fired, summed over the timesteps
    PRIMARY KEY (run_id, idx, layer)
);
CREATE TABLE IF NOT EXISTS sweeps (     -- bench sweep: one row per sweep file run
    sweep_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    spec_hash TEXT NOT NULL,            -- sha256 of the plan: what --resume matches
    spec TEXT NOT NULL,                 -- the plan as JSON
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL                -- running | complete | incomplete
);
""")

# What an older database lacks is added on open: every nullable column of
# the records (the NOT NULL ones have been there from the first schema).
ADDABLE: dict[str, list[tuple[str, str]]] = {
    "runs": [(n, sql) for n, sql, _ in record_columns(RunRecord) if "NOT NULL" not in sql],
    "samples": [(n, sql) for n, sql, _ in record_columns(Sample) if "NOT NULL" not in sql],
    "layer_counts": [("estimated_cycles", "INTEGER")],
}

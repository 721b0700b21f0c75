"""Results store: SQLite, one row per run and one per finished sample.

Every sample is committed as it arrives, so a crash loses at most the sample
in flight and ``bench run --resume RUN_ID`` continues where the run stopped.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,               -- running | complete | incomplete
    board TEXT NOT NULL,
    backend TEXT NOT NULL,
    engine TEXT NOT NULL,
    dtype TEXT NOT NULL,
    model TEXT NOT NULL,                -- what the user passed
    model_hash TEXT NOT NULL,           -- sha256 of the imported graph
    dataset TEXT NOT NULL,
    dataset_hash TEXT NOT NULL,         -- sha256 of the x and y arrays
    samples_planned INTEGER NOT NULL,
    git_commit TEXT,
    compiler TEXT,
    cflags TEXT,
    build_id TEXT,
    clock_hz INTEGER,
    count_kind TEXT,                    -- cycles | instructions
    timer_kind TEXT,                    -- what the device counted: dwt_cycles | systick
    rom_bytes INTEGER,
    ram_bytes INTEGER,
    arena_bytes INTEGER,
    stack_reserved_bytes INTEGER,
    input_shape TEXT,
    n_outputs INTEGER,
    firmware_dir TEXT,
    note TEXT,
    quant_scheme TEXT,                  -- pot | affine for int8/int16 runs
    calibration TEXT,                   -- JSON: method, samples, dataset the ranges came from
    per_layer INTEGER,                  -- 1: built with -DBENCH_PER_LAYER, layer_counts kept
    sweep_key TEXT,                     -- "<sweep_id>:<entry key>": made by bench sweep
    imported_from TEXT,                 -- a vendor report this row was read from (no samples)
    metrics TEXT,                       -- JSON: run-level figures of an imported row
    energy_kind TEXT,                   -- samples.energy_uj is: measured | estimated
    energy_basis TEXT,                  -- the meter, or how the estimate was made
    trace_file TEXT,                    -- the power trace (Parquet) of a measured run
    meter TEXT                          -- --meter URI the run was measured with
);
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    idx INTEGER NOT NULL,               -- position in the dataset
    label INTEGER NOT NULL,
    predicted INTEGER NOT NULL,
    count INTEGER NOT NULL,             -- in the run's count_kind; 0 when that is NULL (host runs)
    raw_count INTEGER NOT NULL,         -- as the device sent it (timer ticks or cycles)
    stack_bytes INTEGER NOT NULL,       -- stack high-water mark after this inference
    max_abs_error REAL,                 -- vs the host float reference
    output BLOB NOT NULL,               -- all outputs, float32 little endian, dequantized
    energy_uj REAL,                     -- per inference; runs.energy_kind says measured/estimated
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS layer_counts (   -- --per-layer runs (QEMU TCG plugin)
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    idx INTEGER NOT NULL,               -- the sample's position in the dataset
    layer INTEGER NOT NULL,             -- position in the firmware manifest's "layers"
    count INTEGER NOT NULL,             -- instructions from the previous mark to this layer's
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
"""

RUN_FIELDS = ("board", "backend", "engine", "dtype", "model", "model_hash", "dataset",
              "dataset_hash", "samples_planned", "git_commit", "compiler", "cflags", "build_id",
              "clock_hz", "count_kind", "timer_kind", "rom_bytes", "ram_bytes", "arena_bytes",
              "stack_reserved_bytes", "input_shape", "n_outputs", "firmware_dir", "note",
              "quant_scheme", "calibration", "per_layer", "sweep_key", "imported_from", "metrics",
              "energy_kind", "energy_basis", "trace_file", "meter")
# Columns added after the first schema: (table, column, type). Older
# databases get them on open, so stored results stay readable.
MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("runs", "quant_scheme", "TEXT"),
    ("runs", "calibration", "TEXT"),
    ("runs", "per_layer", "INTEGER"),
    ("runs", "sweep_key", "TEXT"),
    ("runs", "imported_from", "TEXT"),
    ("runs", "metrics", "TEXT"),
    ("runs", "energy_kind", "TEXT"),
    ("runs", "energy_basis", "TEXT"),
    ("runs", "trace_file", "TEXT"),
    ("runs", "meter", "TEXT"),
    ("samples", "energy_uj", "REAL"),
)


@dataclass(frozen=True)
class Sample:
    idx: int
    label: int
    predicted: int
    count: int
    raw_count: int
    stack_bytes: int
    max_abs_error: float | None
    output: np.ndarray
    layers: tuple[int, ...] = ()  # per-layer instructions, in manifest order (--per-layer)
    energy_uj: float | None = None  # per inference; the run's energy_kind says which kind


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    status: str
    board: str
    backend: str
    engine: str
    dtype: str
    model: str
    dataset: str
    samples: int
    samples_planned: int
    accuracy: float | None
    count_per_inference: int | None  # median
    count_min: int | None
    count_max: int | None
    count_kind: str | None
    clock_hz: int | None
    rom_bytes: int | None
    ram_bytes: int | None
    arena_bytes: int | None
    stack_bytes: int | None  # measured high-water mark
    max_abs_error: float | None
    created_at: str
    model_hash: str
    dataset_hash: str
    git_commit: str | None
    compiler: str | None
    quant_scheme: str | None = None
    imported_from: str | None = None  # an imported row: the report it was read from
    energy_uj: float | None = None  # median per inference
    energy_min_uj: float | None = None
    energy_max_uj: float | None = None
    energy_kind: str | None = None  # measured | estimated
    energy_basis: str | None = None
    trace_file: str | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open results database {path}: {e}") from e

    def _migrate(self) -> None:
        for table, column, kind in MIGRATIONS:
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                with self._db:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, args: tuple) -> sqlite3.Cursor:
        try:
            with self._db:
                return self._db.execute(sql, args)
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {e}") from e

    # -- runs -------------------------------------------------------------------

    def create_run(self, **fields: object) -> int:
        unknown = set(fields) - set(RUN_FIELDS)
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        cols = ["created_at", "status", *fields]
        vals = [_now(), "running", *fields.values()]
        cur = self._write(f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                          f"({', '.join('?' * len(cols))})", tuple(vals))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update_run(self, run_id: int, **fields: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"UPDATE runs SET {sets} WHERE run_id = ?", (*fields.values(), run_id))

    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None:
        self._write("UPDATE runs SET status = ?, finished_at = ?, note = COALESCE(?, note) "
                    "WHERE run_id = ?", (status, _now(), note, run_id))

    def run_row(self, run_id: int) -> dict:
        cur = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        row = cur.fetchone()
        if row is None:
            raise ConfigError(f"no run {run_id} in {self.path}")
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def run_ids(self) -> list[int]:
        return [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY run_id")]

    # -- sweeps -----------------------------------------------------------------

    def create_sweep(self, name: str, spec_hash: str, spec: str) -> int:
        cur = self._write("INSERT INTO sweeps (name, spec_hash, spec, created_at, status) "
                          "VALUES (?, ?, ?, ?, 'running')", (name, spec_hash, spec, _now()))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def latest_sweep(self, spec_hash: str) -> int | None:
        row = self._db.execute("SELECT max(sweep_id) FROM sweeps WHERE spec_hash = ?",
                               (spec_hash,)).fetchone()
        return row[0] if row else None

    def finish_sweep(self, sweep_id: int, status: str) -> None:
        self._write("UPDATE sweeps SET status = ?, finished_at = ? WHERE sweep_id = ?",
                    (status, _now(), sweep_id))

    def sweep_runs(self, sweep_id: int) -> dict[str, tuple[int, str]]:
        """Entry key -> (newest run id, its status) for a sweep's runs."""
        rows = self._db.execute(
            "SELECT sweep_key, run_id, status FROM runs WHERE sweep_key LIKE ? "
            "ORDER BY run_id", (f"{sweep_id}:%",))
        return {key.split(":", 1)[1]: (run_id, status) for key, run_id, status in rows}

    # -- samples ----------------------------------------------------------------

    def add_sample(self, run_id: int, s: Sample) -> None:
        # One transaction: a sample is never stored without its layer counts.
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO samples (run_id, idx, label, predicted, count, raw_count,"
                    " stack_bytes, max_abs_error, output, energy_uj)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, s.idx, s.label, s.predicted, s.count, s.raw_count, s.stack_bytes,
                     s.max_abs_error, s.output.astype("<f4").tobytes(), s.energy_uj))
                self._db.executemany(
                    "INSERT INTO layer_counts (run_id, idx, layer, count) VALUES (?, ?, ?, ?)",
                    [(run_id, s.idx, i, c) for i, c in enumerate(s.layers)])
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {e}") from e

    def set_energy(self, run_id: int, energy_uj: dict[int, float], **run: object) -> None:
        """Per-sample energy and the run's energy fields, in one transaction."""
        try:
            with self._db:
                self._db.executemany("UPDATE samples SET energy_uj = ? WHERE run_id = ? AND "
                                     "idx = ?", [(e, run_id, i) for i, e in energy_uj.items()])
                if run:
                    sets = ", ".join(f"{k} = ?" for k in run)
                    self._db.execute(f"UPDATE runs SET {sets} WHERE run_id = ?",
                                     (*run.values(), run_id))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to {self.path}: {e}") from e

    def layer_counts(self, run_id: int) -> dict[int, list[int]]:
        """Sample index -> per-layer instructions, for samples that have them."""
        out: dict[int, list[int]] = {}
        for idx, count in self._db.execute(
                "SELECT idx, count FROM layer_counts WHERE run_id = ? ORDER BY idx, layer",
                (run_id,)):
            out.setdefault(idx, []).append(count)
        return out

    def done_indices(self, run_id: int) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM samples WHERE run_id = ?",
                                               (run_id,))}

    def samples(self, run_id: int) -> list[Sample]:
        rows = self._db.execute(
            "SELECT idx, label, predicted, count, raw_count, stack_bytes, max_abs_error, output"
            " FROM samples WHERE run_id = ? ORDER BY idx", (run_id,))
        return [Sample(idx, label, pred, count, raw, stack, err, np.frombuffer(out, "<f4"))
                for idx, label, pred, count, raw, stack, err, out in rows]

    # -- summaries --------------------------------------------------------------

    def summary(self, run_id: int) -> RunSummary:
        run = self.run_row(run_id)
        rows = self._db.execute(
            "SELECT label = predicted, count, stack_bytes, max_abs_error, energy_uj FROM samples "
            "WHERE run_id = ?", (run_id,)).fetchall()
        # Host runs (count_kind NULL) measured no count and no stack.
        counted = run["count_kind"] is not None
        counts = [r[1] for r in rows] if counted else []
        energy = [r[4] for r in rows if r[4] is not None]
        errors = [r[3] for r in rows if r[3] is not None]
        if run.get("imported_from"):
            return self._imported_summary(run)
        return RunSummary(
            run_id=run_id, status=run["status"], board=run["board"], backend=run["backend"],
            engine=run["engine"], dtype=run["dtype"], model=run["model"],
            dataset=run["dataset"], samples=len(rows), samples_planned=run["samples_planned"],
            accuracy=sum(r[0] for r in rows) / len(rows) if rows else None,
            count_per_inference=int(statistics.median(counts)) if counts else None,
            count_min=min(counts) if counts else None, count_max=max(counts) if counts else None,
            count_kind=run["count_kind"], clock_hz=run["clock_hz"], rom_bytes=run["rom_bytes"],
            ram_bytes=run["ram_bytes"], arena_bytes=run["arena_bytes"],
            stack_bytes=max((r[2] for r in rows), default=None) if counted else None,
            max_abs_error=max(errors) if errors else None, created_at=run["created_at"],
            model_hash=run["model_hash"], dataset_hash=run["dataset_hash"],
            git_commit=run["git_commit"], compiler=run["compiler"],
            quant_scheme=run.get("quant_scheme"),
            energy_uj=statistics.median(energy) if energy else None,
            energy_min_uj=min(energy) if energy else None,
            energy_max_uj=max(energy) if energy else None,
            energy_kind=run.get("energy_kind") if energy else None,
            energy_basis=run.get("energy_basis") if energy else None,
            trace_file=run.get("trace_file"))

    def _imported_summary(self, run: dict) -> RunSummary:
        """A row read from a vendor report: its figures are run-level."""
        m = json.loads(run["metrics"] or "{}")
        count = m.get("count_per_inference")
        return RunSummary(
            run_id=run["run_id"], status=run["status"], board=run["board"],
            backend=run["backend"], engine=run["engine"], dtype=run["dtype"],
            model=run["model"], dataset=run["dataset"], samples=m.get("samples") or 0,
            samples_planned=run["samples_planned"], accuracy=m.get("accuracy"),
            count_per_inference=count, count_min=count, count_max=count,
            count_kind=run["count_kind"], clock_hz=run["clock_hz"], rom_bytes=run["rom_bytes"],
            ram_bytes=run["ram_bytes"], arena_bytes=run["arena_bytes"], stack_bytes=None,
            max_abs_error=None, created_at=run["created_at"], model_hash=run["model_hash"],
            dataset_hash=run["dataset_hash"], git_commit=run["git_commit"],
            compiler=run["compiler"], quant_scheme=run.get("quant_scheme"),
            imported_from=run["imported_from"])

    def summaries(self) -> list[RunSummary]:
        return [self.summary(r) for r in self.run_ids()]


def input_shape_text(shape: tuple[int, ...]) -> str:
    return json.dumps(list(shape))

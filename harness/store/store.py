"""Results store: SQLite, one row per run and one per finished sample.

Every sample is committed as it arrives, so a crash loses at most the sample
in flight and ``bench run --resume RUN_ID`` continues where the run stopped.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np

from harness.errors import ConfigError, StoreError
from harness.kinds import RunStatus, Task
from harness.metrics import Score, score_run, task_of
from harness.snn_energy import EnergyEstimate, estimates
from harness.snn_metrics import SnnActivity, activity, parse_layers
from harness.store.schema import ADDABLE, RUN_FIELDS, SCHEMA, RunRecord, Sample


@dataclass(frozen=True)
class RunSummary(RunRecord):
    """A stored run: its record, its row's id, status and times, and what
    its samples say (medians, extremes, accuracy)."""

    run_id: int = 0
    status: str = RunStatus.RUNNING
    created_at: str = ""
    finished_at: str | None = None
    samples: int = 0  # finished samples stored
    accuracy: float | None = None  # top-1, classification runs only
    metric: str | None = None  # the task's headline metric: top-1 | AUC | PSNR
    metric_value: float | None = None  # top-1 as a fraction, AUC in [0, 1], PSNR in dB
    metric_text: str = "-"  # e.g. "top-1 97.22 % (top-5 99.72 %)", "AUC 0.962"
    top_k_accuracy: float | None = None  # with top_k
    auc: float | None = None  # anomaly
    mse: float | None = None  # anomaly (reconstruction), regression (vs the target)
    psnr_db: float | None = None  # regression: mean of the samples' PSNR
    count_per_inference: int | None = None  # median
    count_min: int | None = None
    count_max: int | None = None
    # Median of the emulator's cycle estimates (record.timing_model names the model).
    estimated_cycles_per_inference: int | None = None
    stack_bytes: int | None = None  # measured high-water mark
    max_abs_error: float | None = None  # over the samples whose outputs are finite
    nonfinite_samples: int = 0  # samples with NaN/inf outputs: stored, never a prediction
    energy_uj: float | None = None  # median per inference
    energy_min_uj: float | None = None
    energy_max_uj: float | None = None
    # Spiking runs: mean spikes per inference, in all and per spiking layer,
    # and each layer's spike rate: spikes / (neurons x timesteps).
    spikes_per_inference: float | None = None
    layer_spikes: dict[str, float] | None = None
    spike_rates: dict[str, float] | None = None
    # ... and, recomputed from those counts and the stored fan-outs,
    # NeuroBench's activity and operation counts, and the published energy
    # models' estimates (labelled; never the board's energy).
    activity: SnnActivity | None = None
    energy_models: tuple[EnergyEstimate, ...] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


WAL_LIMIT_BYTES = 1 << 20


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """The results database. ``readonly``: for commands that only read
    (report, export): the file must exist (nothing is created) and is never
    written, so it can sit on a read-only disk or in a folder of another user."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self._locks: int | None = None  # the run lock file, once a run is held
        if readonly:
            self._db = _open_readonly(path)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # After each checkpoint the WAL file is cut back to this size:
            # a long run does not keep megabytes of it on disk.
            self._db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            self._db.executescript(SCHEMA)
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open results database {path}: {e}") from e

    def _migrate(self) -> None:
        """Older databases gain the columns added since they were made."""
        for table, columns in ADDABLE.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns:
                if column not in have:
                    with self._db:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()
        if self._locks is not None:
            os.close(self._locks)  # releases the runs held
            self._locks = None

    def hold_run(self, run_id: int) -> None:
        """Hold ``run_id`` while this store is open: another bench process
        that wants it (a second --resume of it) is refused, instead of both
        storing the same samples. A byte-range lock at offset ``run_id`` of
        a file beside the database: the kernel drops it when this process
        ends, however it ends, so no stale lock outlives a killed run.
        (POSIX locks belong to the process: one process holds a run once.)"""
        lock_path = self.path.with_name(self.path.name + "-runlock")
        try:
            if self._locks is None:
                self._locks = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.lockf(self._locks, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, run_id)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EAGAIN):
                raise ConfigError(f"run {run_id} in {self.path} is being measured by another "
                                  f"bench process right now: let it finish, or stop it, "
                                  f"before resuming it") from e
            raise StoreError(f"cannot lock run {run_id} ({lock_path}): "
                             f"{e.strerror or e}") from e

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, args: tuple) -> sqlite3.Cursor:
        try:
            with self._db:
                return self._db.execute(sql, args)
        except sqlite3.Error as e:
            raise self._write_failed(e) from e

    def _write_failed(self, e: sqlite3.Error) -> StoreError:
        """A write failed (a full disk, most often) and was rolled back.
        Checkpoint the WAL into the database and truncate it: the space it
        held is then free for the small write that marks the run incomplete."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return StoreError(f"cannot write to {self.path}: {e}")

    # -- runs -------------------------------------------------------------------

    def create_run(self, record: RunRecord) -> int:
        fields = asdict(record)
        cols = ["created_at", "status", *fields]
        vals = [_now(), RunStatus.RUNNING, *fields.values()]
        cur = self._write(f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                          f"({', '.join('?' * len(cols))})", tuple(vals))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update_run(self, run_id: int, **fields: object) -> None:
        unknown = set(fields) - {*RUN_FIELDS, "status"}
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
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

    def newest_sweep(self) -> int | None:
        """The id of the last sweep made in this store, of any plan."""
        return self._db.execute("SELECT max(sweep_id) FROM sweeps").fetchone()[0]

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
                    " stack_bytes, max_abs_error, output, energy_uj, score, nonfinite_outputs,"
                    " estimated_cycles) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, s.idx, s.label, s.predicted, s.count, s.raw_count, s.stack_bytes,
                     s.max_abs_error, s.output.astype("<f4").tobytes(), s.energy_uj, s.score,
                     s.nonfinite_outputs, s.estimated_cycles))
                cycles = s.layer_cycles if len(s.layer_cycles) == len(s.layers) else ()
                self._db.executemany(
                    "INSERT INTO layer_counts (run_id, idx, layer, count, estimated_cycles) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(run_id, s.idx, i, c, cycles[i] if cycles else None)
                     for i, c in enumerate(s.layers)])
                self._db.executemany(
                    "INSERT INTO spike_counts (run_id, idx, layer, spikes) VALUES (?, ?, ?, ?)",
                    [(run_id, s.idx, i, c) for i, c in enumerate(s.spikes)])
        except sqlite3.Error as e:
            raise self._write_failed(e) from e

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
            raise self._write_failed(e) from e

    # -- rows as they are, for another store (bench sweep --cluster) --------------

    SAMPLE_TABLES = ("samples", "layer_counts", "spike_counts")

    def sample_rows(self, run_id: int, after: set[int] | None = None) -> dict[str, list[dict]]:
        """A run's rows in each sample table, as stored (column -> value), less
        the samples whose index is in ``after``; every column, so a copy
        loses nothing a newer schema adds."""
        skip = after or set()
        out: dict[str, list[dict]] = {}
        for table in self.SAMPLE_TABLES:
            cur = self._db.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY idx",
                                   (run_id,))
            names = [d[0] for d in cur.description]
            out[table] = [row for row in (dict(zip(names, r, strict=True)) for r in cur)
                          if row["idx"] not in skip]
        return out

    def copy_sample_rows(self, run_id: int, rows: dict[str, list[dict]]) -> int:
        """Store rows read by ``sample_rows`` (of another store) under
        ``run_id``, in one transaction; a sample already here is kept as it
        is, so rows sent twice are stored once. Returns the samples added."""
        have = self.done_indices(run_id)
        new = {r["idx"] for r in rows.get("samples", ()) if r["idx"] not in have}
        try:
            with self._db:
                for table in self.SAMPLE_TABLES:
                    cols = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                    for row in rows.get(table, ()):
                        if row["idx"] not in new:
                            continue
                        row = {k: v for k, v in row.items() if k in cols} | {"run_id": run_id}
                        self._db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                                         f"({', '.join('?' * len(row))})", tuple(row.values()))
        except sqlite3.Error as e:
            raise self._write_failed(e) from e
        return len(new)

    def layer_counts(self, run_id: int) -> dict[int, list[int]]:
        """Sample index -> per-layer instructions, for samples that have them."""
        out: dict[int, list[int]] = {}
        for idx, count in self._db.execute(
                "SELECT idx, count FROM layer_counts WHERE run_id = ? ORDER BY idx, layer",
                (run_id,)):
            out.setdefault(idx, []).append(count)
        return out

    def layer_cycles(self, run_id: int) -> dict[int, list[int]]:
        """Sample index -> per-layer estimated cycles, for samples that have them."""
        out: dict[int, list[int]] = {}
        for idx, cycles in self._db.execute(
                "SELECT idx, estimated_cycles FROM layer_counts WHERE run_id = ? AND "
                "estimated_cycles IS NOT NULL ORDER BY idx, layer", (run_id,)):
            out.setdefault(idx, []).append(cycles)
        return out

    def spike_counts(self, run_id: int) -> dict[int, list[int]]:
        """Sample index -> spikes per spiking layer (runs.spike_layers order)."""
        out: dict[int, list[int]] = {}
        for idx, spikes in self._db.execute(
                "SELECT idx, spikes FROM spike_counts WHERE run_id = ? ORDER BY idx, layer",
                (run_id,)):
            out.setdefault(idx, []).append(spikes)
        return out

    def _spiking(self, run: dict) -> dict:
        """The spike figures of a spiking run's summary (nothing for others)."""
        if not run.get("spike_layers"):
            return {}
        layers = json.loads(run["spike_layers"])
        per_sample = list(self.spike_counts(run["run_id"]).values())
        if not per_sample:
            return {}
        n = len(per_sample)
        means = [sum(s[k] for s in per_sample) / n for k in range(len(layers))]
        steps = run.get("timesteps") or 1
        out: dict = {
            "spikes_per_inference": sum(means),
            "layer_spikes": {layer["name"]: m for layer, m in zip(layers, means, strict=True)},
            "spike_rates": {layer["name"]: m / (layer["neurons"] * steps)
                            for layer, m in zip(layers, means, strict=True)}}
        records = parse_layers(layers, json.loads(run["synaptic_layers"])
                               if run.get("synaptic_layers") else None)
        if records is not None:  # runs stored before fan-outs were kept have none
            act = activity(*records, means, steps)
            out.update(activity=act, energy_models=estimates(*records, act, run["dtype"]))
        return out

    def done_indices(self, run_id: int) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM samples WHERE run_id = ?",
                                               (run_id,))}

    def samples(self, run_id: int) -> list[Sample]:
        rows = self._db.execute(
            "SELECT idx, label, predicted, count, raw_count, stack_bytes, max_abs_error, output,"
            " score, nonfinite_outputs, estimated_cycles FROM samples WHERE run_id = ? "
            "ORDER BY idx", (run_id,))
        spikes = self.spike_counts(run_id)
        return [Sample(idx=idx, label=label, predicted=pred, count=count, raw_count=raw,
                       stack_bytes=stack, max_abs_error=err, output=np.frombuffer(out, "<f4"),
                       score=score, nonfinite_outputs=bad, spikes=tuple(spikes.get(idx, ())),
                       estimated_cycles=est)
                for idx, label, pred, count, raw, stack, err, out, score, bad, est in rows]

    # -- summaries --------------------------------------------------------------

    def summary(self, run_id: int) -> RunSummary:
        run = self.run_row(run_id)
        record = {k: run.get(k) for k in RUN_FIELDS}
        head = {k: run[k] for k in ("run_id", "status", "created_at", "finished_at")}
        if run.get("imported_from"):
            # A row read from a vendor report: its figures are run-level.
            m = json.loads(run["metrics"] or "{}")
            count = m.get("count_per_inference")
            acc = m.get("accuracy")
            return RunSummary(**record, **head, samples=m.get("samples") or 0,
                              accuracy=acc, metric="top-1", metric_value=acc,
                              metric_text=Score(Task.CLASSIFICATION, "top-1", acc).text(),
                              count_per_inference=count,
                              count_min=count, count_max=count)
        task = task_of(run.get("task"))
        top_k = run.get("top_k")
        rows = self._db.execute(
            "SELECT label, count, stack_bytes, max_abs_error, energy_uj, predicted, score, "
            "COALESCE(nonfinite_outputs, 0), estimated_cycles" + (", output" if top_k else "")
            + " FROM samples WHERE run_id = ? ORDER BY idx", (run_id,)).fetchall()
        # Host runs (count_kind NULL) measured no count and no stack.
        counted = run["count_kind"] is not None
        counts = [r[1] for r in rows] if counted else []
        energy = [r[4] for r in rows if r[4] is not None]
        estimated = [r[8] for r in rows if r[8] is not None]
        errors = [r[3] for r in rows if r[3] is not None]
        if not energy:  # the run's energy fields describe energy it does not have
            record.update(energy_kind=None, energy_basis=None)
        # The task's metric, recomputed from the stored samples (metrics.py).
        score = score_run(task, np.array([r[0] for r in rows], dtype=np.int64),
                          np.array([r[5] for r in rows], dtype=np.int64),
                          [np.frombuffer(r[9], "<f4") for r in rows] if top_k else [],
                          [r[6] for r in rows], top_k=top_k, peak=run.get("psnr_peak"))
        return RunSummary(
            **record, **head, samples=len(rows),
            accuracy=score.value if task == Task.CLASSIFICATION else None,
            metric=score.metric, metric_value=score.value, metric_text=score.text(),
            top_k_accuracy=score.top_k_accuracy, auc=score.auc, mse=score.mse,
            psnr_db=score.psnr_db,
            count_per_inference=int(statistics.median(counts)) if counts else None,
            count_min=min(counts) if counts else None, count_max=max(counts) if counts else None,
            estimated_cycles_per_inference=int(statistics.median(estimated)) if estimated
            else None,
            stack_bytes=max((r[2] for r in rows), default=None) if counted else None,
            max_abs_error=max(errors) if errors else None,
            nonfinite_samples=sum(1 for r in rows if r[7]),
            energy_uj=statistics.median(energy) if energy else None,
            energy_min_uj=min(energy) if energy else None,
            energy_max_uj=max(energy) if energy else None, **self._spiking(run))

    def summaries(self) -> list[RunSummary]:
        return [self.summary(r) for r in self.run_ids()]


def _open_readonly(path: Path) -> sqlite3.Connection:
    """``path`` opened for reading only (SQLite's ``mode=ro``). A WAL
    database whose folder cannot be written (a read-only disk) cannot get
    the shared-memory file even a reader needs: it is then opened
    ``immutable``, which it is, as far as anyone here can change it."""
    if not path.is_file():
        raise StoreError(f"no results database at {path}: give --db the file that 'bench run' "
                         f"or 'bench sweep' wrote")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    for extra in ("", "&immutable=1"):
        try:
            db = sqlite3.connect(uri + extra, uri=True, timeout=30)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open results database {path}: {e}") from e
        try:
            db.execute("SELECT count(*) FROM runs").fetchone()
            return db
        except sqlite3.OperationalError as e:
            db.close()
            if "no such table" in str(e):
                raise StoreError(f"{path} is not a bench results database (no runs table)") from e
            error = e
        except sqlite3.DatabaseError as e:  # not a database at all
            db.close()
            raise StoreError(f"{path} is not a bench results database: {e}") from e
    raise StoreError(f"cannot read results database {path}: {error}")


def input_shape_text(shape: tuple[int, ...]) -> str:
    return json.dumps(list(shape))

"""Results store: SQLite, one row per run and one per finished sample.

Every sample is committed as it arrives, so a crash loses at most the sample
in flight and ``bench run --resume RUN_ID`` continues where the run stopped.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.errors import ConfigError, StoreError
from harness.kinds import RunStatus, Task
from harness.metrics import Score, score_run, task_of
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
    stack_bytes: int | None = None  # measured high-water mark
    max_abs_error: float | None = None
    energy_uj: float | None = None  # median per inference
    energy_min_uj: float | None = None
    energy_max_uj: float | None = None
    # Spiking runs: mean spikes per inference, in all and per spiking layer,
    # and each layer's spike rate: spikes / (neurons x timesteps).
    spikes_per_inference: float | None = None
    layer_spikes: dict[str, float] | None = None
    spike_rates: dict[str, float] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


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
        """Older databases gain the columns added since they were made."""
        for table, columns in ADDABLE.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns:
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
                    " stack_bytes, max_abs_error, output, energy_uj, score)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, s.idx, s.label, s.predicted, s.count, s.raw_count, s.stack_bytes,
                     s.max_abs_error, s.output.astype("<f4").tobytes(), s.energy_uj, s.score))
                self._db.executemany(
                    "INSERT INTO layer_counts (run_id, idx, layer, count) VALUES (?, ?, ?, ?)",
                    [(run_id, s.idx, i, c) for i, c in enumerate(s.layers)])
                self._db.executemany(
                    "INSERT INTO spike_counts (run_id, idx, layer, spikes) VALUES (?, ?, ?, ?)",
                    [(run_id, s.idx, i, c) for i, c in enumerate(s.spikes)])
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
        return {
            "spikes_per_inference": sum(means),
            "layer_spikes": {layer["name"]: m for layer, m in zip(layers, means, strict=True)},
            "spike_rates": {layer["name"]: m / (layer["neurons"] * steps)
                            for layer, m in zip(layers, means, strict=True)}}

    def done_indices(self, run_id: int) -> set[int]:
        return {r[0] for r in self._db.execute("SELECT idx FROM samples WHERE run_id = ?",
                                               (run_id,))}

    def samples(self, run_id: int) -> list[Sample]:
        rows = self._db.execute(
            "SELECT idx, label, predicted, count, raw_count, stack_bytes, max_abs_error, output,"
            " score FROM samples WHERE run_id = ? ORDER BY idx", (run_id,))
        spikes = self.spike_counts(run_id)
        return [Sample(idx=idx, label=label, predicted=pred, count=count, raw_count=raw,
                       stack_bytes=stack, max_abs_error=err, output=np.frombuffer(out, "<f4"),
                       score=score, spikes=tuple(spikes.get(idx, ())))
                for idx, label, pred, count, raw, stack, err, out, score in rows]

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
            "SELECT label, count, stack_bytes, max_abs_error, energy_uj, predicted, score"
            + (", output" if top_k else "") + " FROM samples WHERE run_id = ? ORDER BY idx",
            (run_id,)).fetchall()
        # Host runs (count_kind NULL) measured no count and no stack.
        counted = run["count_kind"] is not None
        counts = [r[1] for r in rows] if counted else []
        energy = [r[4] for r in rows if r[4] is not None]
        errors = [r[3] for r in rows if r[3] is not None]
        if not energy:  # the run's energy fields describe energy it does not have
            record.update(energy_kind=None, energy_basis=None)
        # The task's metric, recomputed from the stored samples (metrics.py).
        score = score_run(task, np.array([r[0] for r in rows], dtype=np.int64),
                          np.array([r[5] for r in rows], dtype=np.int64),
                          [np.frombuffer(r[7], "<f4") for r in rows] if top_k else [],
                          [r[6] for r in rows], top_k=top_k, peak=run.get("psnr_peak"))
        return RunSummary(
            **record, **head, samples=len(rows),
            accuracy=score.value if task == Task.CLASSIFICATION else None,
            metric=score.metric, metric_value=score.value, metric_text=score.text(),
            top_k_accuracy=score.top_k_accuracy, auc=score.auc, mse=score.mse,
            psnr_db=score.psnr_db,
            count_per_inference=int(statistics.median(counts)) if counts else None,
            count_min=min(counts) if counts else None, count_max=max(counts) if counts else None,
            stack_bytes=max((r[2] for r in rows), default=None) if counted else None,
            max_abs_error=max(errors) if errors else None,
            energy_uj=statistics.median(energy) if energy else None,
            energy_min_uj=min(energy) if energy else None,
            energy_max_uj=max(energy) if energy else None, **self._spiking(run))

    def summaries(self) -> list[RunSummary]:
        return [self.summary(r) for r in self.run_ids()]


def input_shape_text(shape: tuple[int, ...]) -> str:
    return json.dumps(list(shape))

"""bench export: a run's device outputs and labels as .npz, to compare with PyTorch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands import Command
from harness.commands.options import add_db
from harness.commands.show import out
from harness.errors import ConfigError
from harness.paths import output_file, write_failed
from harness.store.store import Store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", type=int)
    p.add_argument("-o", "--output", type=Path, required=True)
    add_db(p)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    output_file(args.output, "export")
    with Store(args.db, readonly=True) as store:
        row = store.run_row(args.run_id)
        samples = store.samples(args.run_id)
    if not samples:
        raise ConfigError(f"run {args.run_id} has no finished samples to export")
    run = {k: row[k] for k in ("run_id", "board", "backend", "engine", "dtype", "model",
                               "model_hash", "dataset", "dataset_hash", "status", "task",
                               "top_k")}
    spiking = {}
    if row.get("spike_layers"):
        # samples x spiking layers, summed over each sample's timesteps
        spiking = {"spikes": np.array([s.spikes for s in samples], dtype=np.int64),
                   "spike_layers": np.array([layer["name"] for layer
                                             in json.loads(row["spike_layers"])]),
                   "timesteps": np.array(row["timesteps"])}
    # Written under a temporary name, then renamed: the file is exactly the
    # one named (numpy.savez would add .npz to a bare name) and a failed
    # write leaves no half file, nor truncates an older export.
    part = args.output.with_name(args.output.name + ".part")
    try:
        with part.open("wb") as fh:
            np.savez(fh, **spiking,
                     outputs=np.stack([s.output for s in samples]).astype(np.float32),
                     labels=np.array([s.label for s in samples], dtype=np.int64),
                     predicted=np.array([s.predicted for s in samples], dtype=np.int64),
                     index=np.array([s.idx for s in samples], dtype=np.int64),
                     counts=np.array([s.count for s in samples], dtype=np.int64),
                     # anomaly: reconstruction MSE; regression: MSE vs the target; NaN
                     # otherwise
                     scores=np.array([np.nan if s.score is None else s.score
                                      for s in samples], dtype=np.float64),
                     count_kind=np.array(row["count_kind"] or ""),
                     run=np.array(json.dumps(run)))
        part.replace(args.output)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise write_failed(args.output, "export", e) from e
    out.print(f"wrote {len(samples)} samples of run {args.run_id} to {args.output}")
    return 0


COMMAND = Command("export", "write a run's device outputs and labels to .npz", add_arguments,
                  run)

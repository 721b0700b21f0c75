"""``bench import-cubeai``: the reports of a user's own STM32Cube.AI / ST Edge
AI run (read by harness/engines/stm32cubeai.py) stored as one imported row
(backend ``imported``): its figures at run level, no samples, the files'
paths, so reports can put it beside bench's own runs of the same model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from harness import kinds
from harness.boards import Board
from harness.engines.stm32cubeai import (
    TOOL,
    StmCubeAiEngine,
    find_reports,
    read_c_info,
    read_validation,
    series,
)
from harness.errors import ConfigError
from harness.kinds import IMPORTED_BACKEND, CountKind, DType, RunStatus
from harness.store.schema import RunRecord
from harness.store.store import Store


def import_report(report: Path, board: Board, db: Path, model: str | None = None,
                  dataset: str | None = None, dtype: str = DType.INT8,
                  data_dir: Path | None = None) -> int:
    """Store one stedgeai run's figures as an imported row; returns its run id.

    With ``model`` (and ``dataset``) the row carries the same graph (and
    data) hash as bench's own runs of them, so reports put it in their group
    and rate it against the baseline; without, it stands alone under the
    report's model name.
    """
    info_file, validate_file = find_reports(report)
    info = read_c_info(info_file)
    want = series(board)
    if info.series and not info.series.lower().startswith(want[:7]):
        raise ConfigError(f"{info_file} was generated for {info.series}, not {board.name} "
                          f"({board.part}): pass the --board it was made for")
    val = read_validation(validate_file) if validate_file else None
    dtype = kinds.dtype(dtype)
    if model is not None:
        from harness.model.ir import graph_hash
        from harness.model.load import load_graph  # torch: only to match bench's own runs

        model_name, model_hash = model, graph_hash(load_graph(model)).hex()
    else:
        model_name = info.model_name
        model_hash = hashlib.sha256(info_file.read_bytes()).hexdigest()
    dataset_name, dataset_hash = "-", ""
    if dataset is not None:
        from harness.datasets import load_dataset

        dataset_name, dataset_hash = dataset, load_dataset(dataset, data_dir).hash
    cycles = val.cycles if val else None
    if cycles is None and val and val.duration_ms is not None:
        clock = val.clock_hz or board.clock_hz
        cycles = int(round(val.duration_ms * 1e-3 * clock))
    metrics = {"macc": info.macc, "weights_bytes": info.weights_bytes,
               "activations_bytes": info.activations_bytes, "io_bytes": list(info.io_bytes),
               "kernel_flash_bytes": info.kernel_flash_bytes,
               "kernel_ram_bytes": info.kernel_ram_bytes, "count_per_inference": cycles,
               "accuracy": val.accuracy if val else None,
               "samples": val.samples if val and val.accuracy is not None else None,
               "duration_ms": val.duration_ms if val else None,
               "validate_clock_hz": val.clock_hz if val else None,
               "rom_is": "weights + kernel_flash" if info.kernel_flash_bytes is not None
               else "weights only (the report has no kernel_flash)"}
    files = str(info_file) + (f"; {validate_file}" if validate_file else "")
    with Store(db) as store:
        run_id = store.create_run(RunRecord(
            board=board.name, backend=IMPORTED_BACKEND, engine=StmCubeAiEngine.name, dtype=dtype,
            model=model_name, model_hash=model_hash, dataset=dataset_name,
            dataset_hash=dataset_hash, samples_planned=metrics["samples"] or 0,
            compiler=f"{TOOL} {info.tool_version}",
            clock_hz=(val.clock_hz if val and val.clock_hz else board.clock_hz),
            count_kind=CountKind.CYCLES if cycles is not None else None, timer_kind="imported",
            rom_bytes=info.rom_bytes, ram_bytes=info.ram_bytes,
            arena_bytes=info.activations_bytes, imported_from=files,
            metrics=json.dumps(metrics), note=f"imported from {files}"))
        store.finish_run(run_id, RunStatus.COMPLETE)
    return run_id

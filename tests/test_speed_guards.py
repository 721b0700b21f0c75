"""The commands that only look (help, boards, doctor, report) start fast:
they must not import torch (about 2 s, and most of bench's memory). Each runs
as a real process, which reports the modules it ended up with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.store.schema import RunRecord
from harness.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "qualia_codegen_core", "tflite_micro")
# bench's own entry point, then the heavy modules it imported, written to a file
# (stdout and stderr stay the command's own).
PROBE = textwrap.dedent("""
    import json, os, sys
    from harness.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
    with open(os.environ["BENCH_PROBE_OUT"], "w") as f:
        json.dump(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r}), f)
    sys.exit(code)
""").format(heavy=set(HEAVY))


def heavy_imports(tmp_path: Path, *args: str) -> list[str]:
    out = tmp_path / "modules.json"
    p = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env={**os.environ, "BENCH_PROBE_OUT": str(out)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip(), "the command printed nothing"
    return json.loads(out.read_text())


def one_run_db(path: Path) -> Path:
    with Store(path) as store:
        store.create_run(RunRecord(board="stm32l452", backend="qemu", engine="native",
                                   dtype="float32", model="m.py:f", model_hash="h",
                                   dataset="digits", dataset_hash="h", samples_planned=1))
    return path


@pytest.mark.parametrize("args", [("--help",), ("boards",), ("boards", "--json"), ("doctor",),
                                  ("datasets",), ("datasets", "--json"),
                                  ("report", "--db", "{empty}"),
                                  ("report", "--db", "{one}", "--format", "csv")],
                         ids=["help", "boards", "boards-json", "doctor", "datasets",
                              "datasets-json", "report-empty",
                              "report-csv"])
def test_looking_commands_do_not_import_torch(tmp_path: Path, args: tuple[str, ...]) -> None:
    empty = tmp_path / "empty.db"
    Store(empty).close()
    one = one_run_db(tmp_path / "one.db")
    argv = [a.format(empty=empty, one=one) for a in args]
    heavy = heavy_imports(tmp_path, *argv)
    assert heavy == [], (
        f"bench {' '.join(argv)} imported {', '.join(heavy)}; find the chain with: "
        f"python -X importtime -m harness.cli {' '.join(argv)} 2>&1 | grep -i torch")

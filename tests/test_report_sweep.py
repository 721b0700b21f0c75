"""One report with every peer, from a real sweep on the emulator.

A sweep file measures the tiny model with native, qualia and tflm (float32
and int8; tflm is int8 only and runs in TFLite Micro's host interpreter), an
STM32Cube.AI report of the same model is imported, and the Markdown and CSV
reports must show exactly the store's numbers for all of them, in one table.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, Bench
from hostc import needs_emulator
from test_peers import VALIDATE_V2, c_info

from harness.store.store import RunSummary, Store

pytestmark = needs_emulator  # one xdist worker runs this module (conftest.ONE_WORKER)
pytest.importorskip("tflite_micro", reason="tflite-micro (Linux x86-64 only)")
ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, "-m", "harness.cli"]


def bench_process(*args: str) -> subprocess.CompletedProcess:
    """A real ``python -m harness.cli`` process (the module's one sweep)."""
    p = subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert p.returncode == 0, f"bench {' '.join(args)}: {p.stderr}"
    return p


@pytest.fixture
def bench(bench_main: Bench) -> Bench:
    """``bench(*args)``: in-process (conftest.bench_main); a failure fails."""
    def call(*args: str) -> subprocess.CompletedProcess:
        p = bench_main(*args, cwd=ROOT)
        assert p.returncode == 0, f"bench {' '.join(args)}: {p.stderr}"
        return p
    return call


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str],
                                                                          RunSummary]]:
    d = tmp_path_factory.mktemp("sweep-report")
    (d / "tiny.py").write_text(TINY_MODEL)
    rng = np.random.default_rng(11)
    np.savez(d / "tiny.npz", x=rng.normal(size=(24, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=24))
    (d / "sweep.toml").write_text("""
name = "peers"
limit = 12
engines = ["native", "qualia", "tflm"]
dtypes = ["float32", "int8"]
[[target]]
board = "stm32l452"
backend = "qemu"
[[model]]
model = "tiny.py:tiny"
dataset = "tiny.npz"
[quant]
scheme = "pot"
calibrate = 24
""")
    db = d / "r.db"
    p = bench_process("sweep", str(d / "sweep.toml"), "--db", str(db), "--workers", "2")
    assert "tflm has no float32 build" in p.stderr
    assert "tflm int8 has no 'pot' scheme: it uses affine" in p.stderr
    st_out = d / "st_ai_output"
    st_out.mkdir()
    (st_out / "network_c_info.json").write_text(json.dumps(c_info()))
    (st_out / "network_validate_report.txt").write_text(VALIDATE_V2)
    bench_process("import-cubeai", str(st_out), "--board", "stm32l452", "--model",
          f"{d / 'tiny.py'}:tiny", "--dataset", str(d / "tiny.npz"), "--db", str(db))
    with Store(db) as st:
        runs = {(s.engine, s.dtype): s for s in st.summaries()}
    assert set(runs) == {("native", "float32"), ("native", "int8"), ("qualia", "float32"),
                         ("qualia", "int8"), ("tflm", "int8"), ("stm32cubeai", "int8")}
    assert all(s.status == "complete" for s in runs.values())
    return db, runs


def test_csv_has_every_peer_with_the_stores_numbers(bench: Bench, swept: tuple[Path, dict]) -> None:
    db, runs = swept
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(
        bench("report", "--db", str(db), "--format", "csv").stdout))}
    assert len({r["model"] for r in rows.values()}) == 1  # one model, every engine
    for s in runs.values():
        r = rows[str(s.run_id)]
        assert r["engine"] == s.engine and r["backend"] == s.backend
        for col in ("rom_bytes", "ram_bytes", "arena_bytes", "stack_bytes",
                    "count_per_inference"):
            want = getattr(s, col)
            assert r[col] == ("" if want is None else str(want)), (s.engine, col)
        assert r["accuracy_pct"] == str(round(100 * s.accuracy, 2))
    tflm, cube = runs["tflm", "int8"], runs["stm32cubeai", "int8"]
    n8 = runs["native", "int8"]
    assert rows[str(tflm.run_id)]["kind"] == "host interpreter"
    assert rows[str(tflm.run_id)]["baseline_run"] == str(n8.run_id)  # across backends
    assert rows[str(tflm.run_id)]["count_ratio"] == ""  # it has no count
    assert rows[str(cube.run_id)]["kind"] == "imported"
    assert rows[str(cube.run_id)]["count_kind"] == "cycles"
    assert rows[str(cube.run_id)]["source"].endswith("network_validate_report.txt")
    # cycles on silicon are not instructions on QEMU; vendor ROM is not a firmware's
    assert rows[str(cube.run_id)]["count_ratio"] == "" == rows[str(cube.run_id)]["rom_ratio"]
    q8 = runs["qualia", "int8"]
    assert float(rows[str(q8.run_id)]["count_ratio"]) == round(
        q8.count_per_inference / n8.count_per_inference, 4)


def test_markdown_has_every_peer_in_one_table(bench: Bench, swept: tuple[Path, dict]) -> None:
    db, runs = swept
    text = bench("report", "--db", str(db)).stdout
    tables = [i for i, ln in enumerate(text.splitlines()) if ln.startswith("| run |")]
    lines = text.splitlines()
    tiny_rows = {}
    for start in tables:
        for row in lines[start + 2:]:
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip("|").split("|")]
            tiny_rows[cells[0]] = cells
    ours = [s for s in runs.values() if s.engine != "stm32cubeai"]
    for s in ours:
        cells = tiny_rows[str(s.run_id)]
        assert f"{s.engine} / {s.dtype} ({s.quant_scheme})" in cells or \
            f"{s.engine} / {s.dtype}" in cells
        assert f"top-1 {100 * s.accuracy:.2f} %" in cells
    tflm = tiny_rows[str(runs["tflm", "int8"].run_id)]
    assert "stm32l452 / host" in tflm and f"{runs['tflm', 'int8'].arena_bytes:,}" in tflm
    cube = tiny_rows[str(runs["stm32cubeai", "int8"].run_id)]
    assert "stm32l452 / imported" in cube and "20,960 cycles" in cube
    assert "Backend `host`" in text and "Backend `imported`" in text
    # native, qualia, tflm and stm32cubeai share one group: the same graph hash
    native_table = next(i for i in tables if any(
        lines[j].startswith(f"| {runs['native', 'int8'].run_id} |")
        for j in range(i + 2, i + 12) if j < len(lines)))
    block = "\n".join(lines[native_table:native_table + 10])
    for e in ("native", "qualia", "tflm", "stm32cubeai"):
        assert f"| {e} / " in block, e


def test_cpi_scales_estimates_only(bench: Bench, swept: tuple[Path, dict]) -> None:
    db, runs = swept
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(
        bench("report", "--db", str(db), "--format", "csv", "--cpi", "1.5").stdout))}
    n8, cube = runs["native", "int8"], runs["stm32cubeai", "int8"]
    assert float(rows[str(n8.run_id)]["latency_estimate_us"]) == round(
        n8.count_per_inference * 1.5 / n8.clock_hz * 1e6, 1)
    assert rows[str(n8.run_id)]["latency_cpi"] == "1.5"
    # measured cycles are not an estimate: no CPI, no estimate column
    assert rows[str(cube.run_id)]["latency_cpi"] == "" == rows[str(cube.run_id)][
        "latency_estimate_us"]
    md = bench("report", "--db", str(db), "--cpi", "1.5").stdout
    assert "latency est. (us, CPI 1.5)" in md
    assert f"{cube.count_per_inference / cube.clock_hz * 1e6:,.1f} (measured cycles)" in md

"""bench report from real runs on the emulated STM32L452 (no fixtures of results).

Three runs of the tiny model (native float32, native int8, qualia int8) are
measured once into a temporary store; every format must show the store's
numbers, ratios must be run / baseline for the same dtype, and published
figures must be marked and kept out of the ratios.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, Bench
from hostc import needs_emulator

from harness.report.compare import pareto_front
from harness.run.execute import run
from harness.run.request import QuantRequest, RunRequest
from harness.store.store import RunSummary, Store

pytestmark = needs_emulator  # one xdist worker runs this module (conftest.ONE_WORKER)
RUNS = (("native", "float32"), ("native", "int8"), ("qualia", "int8"))


@pytest.fixture
def bench(bench_main: Bench) -> Bench:
    """``bench(*args, check=True)``: in-process (conftest.bench_main); with
    ``check``, a failure raises."""
    def call(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = bench_main(*args)
        if check and p.returncode != 0:
            raise AssertionError(f"bench {' '.join(args)} failed: {p.stderr}")
        return p
    return call


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str],
                                                                         RunSummary]]:
    d = tmp_path_factory.mktemp("report")
    (d / "tiny.py").write_text(TINY_MODEL)
    rng = np.random.default_rng(2)
    np.savez(d / "tiny.npz", x=rng.normal(size=(24, 3, 32)).astype(np.float32),
             y=rng.integers(0, 3, size=24))
    db = d / "r.db"
    runs = {}
    for engine, dtype in RUNS:
        quant = QuantRequest(scheme="pot", samples=24) if dtype != "float32" else QuantRequest()
        runs[engine, dtype] = run(RunRequest("stm32l452", "qemu", f"{d / 'tiny.py'}:tiny",
                                             str(d / "tiny.npz"), engine=engine, dtype=dtype,
                                             limit=12, quant=quant), db)
    with Store(db) as st:  # what the report must show: the store's summaries
        runs = {k: st.summary(s.run_id) for k, s in runs.items()}
    assert all(s.status == "complete" and s.samples == 12 for s in runs.values())
    return db, runs


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def md_rows(text: str) -> dict[str, dict[str, str]]:
    """Measured table rows of a Markdown report, by run id, cells by header."""
    lines = text.splitlines()
    out: dict[str, dict[str, str]] = {}
    for i, line in enumerate(lines):
        if line.startswith("| run |"):
            head = [c.strip() for c in line.strip("|").split("|")]
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip("|").split("|")]
                out[cells[0]] = dict(zip(head, cells, strict=True))
    return out


def test_csv_equals_store_and_ratios(bench: Bench, store: tuple[Path, dict]) -> None:
    db, runs = store
    rows = {r["run"]: r for r in csv_rows(bench("report", "--db", str(db), "--format",
                                                "csv").stdout)}
    assert set(rows) == {str(s.run_id) for s in runs.values()}
    for s in runs.values():
        r = rows[str(s.run_id)]
        assert r["kind"] == "measured" and r["engine"] == s.engine and r["dtype"] == s.dtype
        assert int(r["count_per_inference"]) == s.count_per_inference
        assert r["count_kind"] == "instructions" and float(r["latency_cpi"]) == 1.0
        assert float(r["latency_estimate_us"]) == round(
            s.count_per_inference / s.clock_hz * 1e6, 1)
        assert float(r["accuracy_pct"]) == round(100 * s.accuracy, 2)
        for col in ("rom_bytes", "ram_bytes", "arena_bytes", "stack_bytes"):
            assert int(r[col]) == getattr(s, col), col
        base = runs["native", s.dtype]
        assert r["baseline_engine"] == "native" and r["baseline_run"] == str(base.run_id)
        assert float(r["count_ratio"]) == round(s.count_per_inference /
                                                base.count_per_inference, 4)
        assert float(r["rom_ratio"]) == round(s.rom_bytes / base.rom_bytes, 4)
        assert float(r["ram_ratio"]) == round(s.ram_bytes / base.ram_bytes, 4)
        assert float(r["stack_ratio"]) == round(s.stack_bytes / base.stack_bytes, 4)
    # the engines really differ, so a ratio of 1 everywhere would be caught
    q, n = runs["qualia", "int8"], runs["native", "int8"]
    assert q.count_per_inference != n.count_per_inference


def test_markdown_equals_store(bench: Bench, store: tuple[Path, dict], tmp_path: Path) -> None:
    db, runs = store
    out = tmp_path / "rep.md"
    bench("report", "--db", str(db), "-o", str(out))
    text = out.read_text()
    rows = md_rows(text)
    assert "latency est. (us, CPI 1)" in text and "not a measurement" in text
    for s in runs.values():
        r = rows[str(s.run_id)]
        base = runs["native", s.dtype]
        assert r["per inference"] == f"{s.count_per_inference:,} instructions"
        assert r["metric"] == f"top-1 {100 * s.accuracy:.2f} %"
        assert r["ROM"] == f"{s.rom_bytes:,}" and r["RAM"] == f"{s.ram_bytes:,}"
        assert r["stack"] == f"{s.stack_bytes:,}"
        assert r["count vs base"] == f"{s.count_per_inference / base.count_per_inference:.2f}x"
        assert r["ROM vs base"] == f"{s.rom_bytes / base.rom_bytes:.2f}x"
    # grouped per model/dataset: one table, float32 before int8, baseline first in a dtype
    order = list(rows)
    assert order == [str(runs[k].run_id) for k in RUNS]
    # the plots are PNGs beside the file, linked from it
    pngs = sorted(tmp_path.glob("rep-*.png"))
    assert len(pngs) == 2
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({p.name})" in text


def test_baseline_engine_changes_the_ratios(bench: Bench, store: tuple[Path, dict]) -> None:
    db, runs = store
    rows = {r["run"]: r for r in csv_rows(bench("report", "--db", str(db), "--format", "csv",
                                                "--baseline", "qualia").stdout)}
    n8, q8, n32 = runs["native", "int8"], runs["qualia", "int8"], runs["native", "float32"]
    assert float(rows[str(n8.run_id)]["count_ratio"]) == round(
        n8.count_per_inference / q8.count_per_inference, 4)
    assert rows[str(n8.run_id)]["baseline_run"] == str(q8.run_id)
    # no qualia float32 run: no ratio rather than one against another dtype
    assert rows[str(n32.run_id)]["count_ratio"] == "" == rows[str(n32.run_id)]["baseline_run"]


def test_html_is_one_self_contained_file(bench: Bench, store: tuple[Path, dict],
                                         tmp_path: Path) -> None:
    db, runs = store
    out = tmp_path / "rep.html"
    bench("report", "--db", str(db), "--format", "html", "-o", str(out), "--published")
    text = out.read_text()
    assert list(tmp_path.iterdir()) == [out]
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text, re.I)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs), refs[:3]
    assert "<link" not in text and "@import" not in text and "url(" not in text
    for r in refs:
        assert base64.b64decode(r.split(",", 1)[1])[:4] == b"\x89PNG"
    assert len(refs) == 2  # Pareto front and memory bars of the one group
    for s in runs.values():
        assert f"<td class=\"n\">{s.count_per_inference:,} instructions</td>" in text
        assert f"<td class=\"n\">{s.rom_bytes:,}</td>" in text
    assert '<tr class="published">' in text and "Qualia end-to-end test ceilings" in text


def test_latex_booktabs_per_group(bench: Bench, store: tuple[Path, dict]) -> None:
    db, runs = store
    text = bench("report", "--db", str(db), "--format", "latex").stdout
    assert text.count("\\begin{tabular}") == 1 == text.count("\\bottomrule")
    assert "\\toprule" in text and "\\midrule" in text
    assert "metric" in text and "top-1" in text
    body = text[text.index("\\begin{tabular}"):text.index("\\end{tabular}")]
    assert not re.search(r"(?<!\\)[_%#$]", body), "unescaped LaTeX special character"
    for s in runs.values():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{s.run_id} & "))
        cells = [c.strip() for c in line.removesuffix("\\\\").split("&")]
        assert f"{s.count_per_inference:,} instructions" in cells
        assert f"{s.rom_bytes:,}" in cells and f"top-1 {100 * s.accuracy:.2f} \\%" in cells


def test_published_rows_are_marked_and_never_in_ratios(bench: Bench,
                                                       store: tuple[Path, dict]) -> None:
    db, runs = store
    plain = csv_rows(bench("report", "--db", str(db), "--format", "csv").stdout)
    rows = csv_rows(bench("report", "--db", str(db), "--format", "csv", "--published").stdout)
    measured = [r for r in rows if r["kind"] == "measured"]
    published = [r for r in rows if r["kind"] == "published"]
    assert measured == plain  # the same measured rows, ratios untouched
    assert not any(r["kind"] == "published" for r in plain)
    mlperf = [r for r in published if r["source"].startswith("MLPerf Tiny")]
    assert mlperf and all(r["published_unit"].startswith(("ms on silicon", "uJ"))
                          for r in mlperf)
    for r in published:
        assert r["source"] and r["published_unit"] and r["published_value"]
        for col in ("run", "count_per_inference", "count_ratio", "rom_ratio", "baseline_run",
                    "latency_estimate_us", "accuracy_pct"):
            assert r[col] == "", (col, r)
    # Markdown: every published row says so, in its own table after the measured one
    md = bench("report", "--db", str(db), "--published").stdout
    pub_lines = [ln for ln in md.splitlines() if "references/" in ln and ln.startswith("|")]
    assert pub_lines and all(ln.startswith("| published: ") for ln in pub_lines)
    assert md_rows(md).keys() == {str(s.run_id) for s in runs.values()}


def test_unknown_baseline_is_one_error_line(bench: Bench, store: tuple[Path, dict]) -> None:
    db, _ = store
    p = bench("report", "--db", str(db), "--baseline", "tflm", check=False)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: ") and "'tflm'" in lines[0]
    assert "native, qualia" in lines[0]


def test_pareto_front() -> None:
    # (count, accuracy): c is beaten by a (fewer instructions, higher accuracy)
    pts = [(100.0, 90.0), (50.0, 80.0), (120.0, 85.0), (200.0, 95.0), (50.0, 70.0)]
    assert pareto_front(pts) == [1, 0, 3]

"""End to end on the emulated STM32L452: build, load QEMU, stream, store, resume.

Real arm-none-eabi-gcc builds, real QEMU, real SQLite; no doubles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Bench
from hostc import needs_emulator

from harness.errors import BackendError
from harness.model.load import load_model
from harness.model.lower import import_graph
from harness.run.execute import run
from harness.run.request import RunRequest
from harness.store.store import Store

pytestmark = needs_emulator
BENCH = [sys.executable, "-m", "harness.cli"]


def bench_process(*args: str) -> subprocess.CompletedProcess:
    """A real ``python -m harness.cli`` process, as a user runs it."""
    p = subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed: {p.stderr}")
    return p


@pytest.fixture
def bench(bench_main: Bench) -> Bench:
    """``bench(*args)``: in-process (conftest.bench_main); a failure raises."""
    def call(*args: str) -> subprocess.CompletedProcess:
        p = bench_main(*args)
        if p.returncode != 0:
            raise AssertionError(f"bench {' '.join(args)} failed: {p.stderr}")
        return p
    return call


def test_run_json_matches_pytorch(bench: Bench, tiny_model: str, tiny_data: Path,
                                  tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    p = bench("run", "--board", "stm32l452", "--backend", "qemu", "--model", tiny_model,
              "--dataset", str(tiny_data), "--limit", "25", "--json", "--db", str(db))
    res = json.loads(p.stdout)
    for key in ("run_id", "board", "backend", "engine", "dtype", "samples", "accuracy",
                "count_per_inference", "count_kind", "rom_bytes", "ram_bytes", "stack_bytes"):
        assert key in res, key
    assert res["samples"] == 25 and res["status"] == "complete"
    assert res["count_kind"] == "instructions"
    assert res["count_per_inference"] > 100
    assert 0 < res["stack_bytes"] < 16384
    assert 1000 < res["rom_bytes"] < 524288

    out = tmp_path / "out.npz"
    bench("export", str(res["run_id"]), "-o", str(out), "--db", str(db))
    exported = np.load(out)
    module, shape = load_model(tiny_model)
    data = np.load(tiny_data)
    with torch.no_grad():
        expect = module(torch.from_numpy(data["x"][:25])).numpy()
    assert exported["outputs"].shape == (25, 3)
    np.testing.assert_allclose(exported["outputs"], expect, atol=1e-4, rtol=0)
    assert list(exported["labels"]) == list(data["y"][:25])


def test_counts_identical_across_runs(tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    a = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=5), db)
    b = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=5), db)
    with Store(db) as store:
        ca = [s.raw_count for s in store.samples(a.run_id)]
        cb = [s.raw_count for s in store.samples(b.run_id)]
    assert ca == cb


def _kill_qemu_children() -> int:
    pids = subprocess.run(["pgrep", "-P", str(os.getpid()), "qemu-system-arm"],
                          capture_output=True, text=True).stdout.split()
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    return len(pids)


def test_emulator_death_marks_incomplete_and_resume_finishes(
        tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if done == 7 and not killed:
            killed.append(_kill_qemu_children())

    req = RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=15, max_restarts=0)
    with pytest.raises(BackendError, match="incomplete.*--resume") as e:
        run(req, db, progress=progress)
    # What is true of the emulator at that moment, however soon after the kill.
    assert "QEMU was killed by SIGKILL (not running)" in str(e.value)
    assert killed == [1]
    with Store(db) as store:
        run_id = store.run_ids()[-1]
        assert store.run_row(run_id)["status"] == "incomplete"
        assert sorted(store.done_indices(run_id)) == list(range(7))

    done = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=15,
                          resume=run_id), db)
    assert done.status == "complete" and done.samples == 15
    with Store(db) as store:
        assert [s.idx for s in store.samples(run_id)] == list(range(15))


def test_emulator_death_is_survived_by_a_restart(
        tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if done == 3 and not killed:
            killed.append(_kill_qemu_children())

    s = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=8),
            tmp_path / "r.db", progress=progress)
    assert killed == [1] and s.status == "complete" and s.samples == 8


def test_report_lists_runs(bench: Bench, tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    s = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=4), db)
    md = bench("report", "--db", str(db)).stdout
    assert f"| {s.run_id} | complete | stm32l452 / qemu | native / float32 |" in md
    assert f"{s.count_per_inference:,} instructions" in md
    csv = bench("report", "--db", str(db), "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("run,status,board")
    row = dict(zip(csv[0].split(","), csv[1].split(","), strict=True))
    assert row["count_per_inference"] == str(s.count_per_inference)
    assert row["quant_scheme"] == ""  # float32: no quantization


def test_flash_loads_emulator_and_handshakes(bench: Bench, tiny_model: str, tmp_path: Path) -> None:
    out = tmp_path / "fw"
    bench("build", "--board", "stm32l452", "--model", tiny_model, "-o", str(out))
    p = bench("flash", "--board", "stm32l452", "--backend", "qemu", "--firmware", str(out))
    assert "handshake ok" in p.stdout


def test_uart_link_runs_on_the_emulated_usart(tiny_model: str, tiny_data: Path,
                                              tmp_path: Path) -> None:
    """The Nucleo's path: protocol over USART2 (interrupt receive, WFI idle),
    here on QEMU's second -serial. Same counts as the semihosting link."""
    from harness.backends import get_backend, get_board
    from harness.build.build import build_for
    from harness.engines import get_engine
    from harness.run.target import DeviceTarget

    board, backend = get_board("stm32l452"), get_backend("qemu")
    graph = import_graph(*load_model(tiny_model))
    x = np.load(tiny_data)["x"][:3]
    counts = {}
    for link in ("uart", "semihost"):
        fw = build_for(board, graph, get_engine("native"), "float32", link, tmp_path / link)
        with DeviceTarget(backend, board, fw) as t:
            t.start()
            info = t.info
            assert info is not None
            assert info.board == "stm32l452" and info.timer_kind == "systick"
            assert t.link is not None
            counts[link] = [t.link.infer(xi.astype("<f4").tobytes()).count for xi in x]
    assert counts["uart"] == counts["semihost"]


def test_firmware_of_another_build_is_refused(tiny_model: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from harness.backends import get_backend, get_board
    from harness.build.build import build_for
    from harness.engines import get_engine
    from harness.errors import ProtocolError
    from harness.run.target import DeviceTarget

    board = get_board("stm32l452")
    fw = build_for(board, import_graph(*load_model(tiny_model)), get_engine("native"), "float32",
                   "semihost", tmp_path / "fw")
    with pytest.raises(ProtocolError, match="expected 00000000"):
        with DeviceTarget(get_backend("qemu"), board, replace(fw, build_id="0" * 16)) as t:
            t.start()


def test_graph_input_shape_from_pt2(tmp_path: Path, tiny_model: str) -> None:
    module, shape = load_model(tiny_model)
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(module, (torch.zeros(1, *shape),)), path)
    g = import_graph(*load_model(str(path)))
    assert tuple(g.input_shape) == (3, 32)


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """The README's main job: train, export .pt2, build, measure on QEMU."""
    db = tmp_path / "demo.db"
    p = bench_process("demo", "--db", str(db), "--limit", "40")
    assert "accuracy" in p.stdout and "instructions" in p.stdout
    with Store(db) as store:
        s = store.summary(store.run_ids()[-1])
    assert s.status == "complete" and s.samples == 40
    assert s.accuracy is not None and s.accuracy > 0.9
    assert s.max_abs_error is not None and s.max_abs_error < 1e-4


def test_nonfinite_outputs_are_stored_flagged_never_predictions(
        bench: Bench, tmp_path: Path) -> None:
    """Logits that overflow float32 on the device: each such sample is
    stored with its outputs, flagged, predicts nothing (counted wrong) and
    stays out of the error figure, and the summary and report say how many."""
    src = tmp_path / "wide.py"
    src.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        def wide():
            torch.manual_seed(0)
            m = nn.Sequential(nn.Flatten(), nn.Linear(96, 3))
            with torch.no_grad():
                m[1].weight[0].fill_(1e10)
            m.input_shape = (3, 32)
            return m.eval()
    """))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 3, 32)).astype(np.float32)
    x[:4] *= 1e29  # 1e29 x 1e10 is past float32's 3.4e38: inf on the device
    data = tmp_path / "big.npz"
    np.savez(data, x=x, y=rng.integers(0, 3, size=12))
    db = tmp_path / "r.db"
    res = json.loads(bench("run", "--board", "stm32l452", "--model", f"{src}:wide", "--dataset",
                           str(data), "--db", str(db), "--json").stdout)
    with Store(db) as store:
        samples = store.samples(res["run_id"])
    bad = [s for s in samples if not np.all(np.isfinite(s.output))]
    good = [s for s in samples if np.all(np.isfinite(s.output))]
    assert {s.idx for s in bad} == {0, 1, 2, 3} and len(good) == 8
    assert all(s.predicted == -1 and s.nonfinite_outputs and s.max_abs_error is None
               for s in bad)
    assert all(s.predicted >= 0 and s.nonfinite_outputs == 0 for s in good)
    assert res["nonfinite_samples"] == 4 and res["samples"] == 12
    correct = sum(s.predicted == s.label for s in good)
    assert res["accuracy"] == pytest.approx(correct / 12)
    assert res["max_abs_error"] == pytest.approx(max(s.max_abs_error for s in good))
    shown = bench("report", "--db", str(db), "--format", "csv").stdout.splitlines()
    row = dict(zip(shown[0].split(","), shown[1].split(","), strict=True))
    assert row["nonfinite_samples"] == "4"

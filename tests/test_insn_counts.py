"""Exact instruction counts from bench's QEMU TCG plugin, per inference and
per layer, and `bench profile`.

Real host gcc (the plugin), real arm-none-eabi-gcc (the firmware), real
QEMU and SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Bench

from harness.backends.qemu_plugin import SOURCE_NAME, build_plugin
from harness.build.firmware import Firmware
from harness.run.execute import run
from harness.run.request import RunRequest
from harness.store.schema import RunRecord
from harness.store.store import Store

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None,
                       reason="qemu-system-arm not installed (make setup)"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                       reason="arm-none-eabi-gcc not installed (make setup)"),
    pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                       reason="no host C compiler for the QEMU plugin"),
]
INSNS_PER_TICK = 12.5  # 1e9 / 80 MHz under -icount shift=0


@pytest.fixture
def bench(bench_main: Bench) -> Bench:
    """bench's command line, in-process (conftest.bench_main)."""
    return bench_main


def test_plugin_builds_without_warnings(tmp_path: Path) -> None:
    so = build_plugin(tmp_path)  # raises on any compiler output (-Wall -Wextra)
    assert so.is_file() and so.parent == tmp_path
    assert build_plugin(tmp_path) == so  # cached by source hash: no second build
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True,
                             text=True, check=True).stdout
    assert "qemu_plugin_install" in symbols and "qemu_plugin_version" in symbols


def test_exact_counts_identical_and_within_a_tick_of_systick(
        tiny_model: str, tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    a = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=6), db)
    b = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=6), db)
    with Store(db) as store:
        assert store.run_row(a.run_id)["timer_kind"] == SOURCE_NAME
        assert store.run_row(a.run_id)["count_kind"] == "instructions"
        sa, sb = store.samples(a.run_id), store.samples(b.run_id)
    assert [s.count for s in sa] == [s.count for s in sb]
    # raw_count keeps the device's SysTick ticks: the two counters must agree
    # to within one tick (12.5 instructions) plus the few instructions that
    # lie between the timer's start/stop and the markers.
    for s in sa:
        assert abs(s.count - s.raw_count * INSNS_PER_TICK) <= 13 + 10, (s.count, s.raw_count)
    # ...and the plugin is a counter of its own, not the tick count rescaled.
    # A float model's count is the same every sample, and it can fall exactly
    # on the rescaled tick count (3,838 = round(307 x 12.5) today): then a
    # per-layer build (its marker calls add instructions) must show it.
    if all(s.count == round(s.raw_count * INSNS_PER_TICK) for s in sa):
        c = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=3,
                           per_layer=True), db)
        with Store(db) as store:
            sa = store.samples(c.run_id)
    assert any(s.count != round(s.raw_count * INSNS_PER_TICK) for s in sa)


def test_per_layer_counts_sum_to_the_total(tiny_model: str, tiny_data: Path,
                                           tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    s = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=4,
                       per_layer=True), db)
    with Store(db) as store:
        row = store.run_row(s.run_id)
        layers = store.layer_counts(s.run_id)
        totals = {x.idx: x.count for x in store.samples(s.run_id)}
    fw = Firmware.load(Path(row["firmware_dir"]))
    assert row["per_layer"] == 1 and "-DBENCH_PER_LAYER" in fw.cflags
    assert [la["op"] for la in fw.layers] == ["conv1d", "global_avgpool", "linear"]
    assert sorted(layers) == list(range(4))
    for idx, counts in layers.items():
        assert len(counts) == len(fw.layers) and all(c > 0 for c in counts)
        # What lies outside the layers: the start marker's return, the call into
        # bench_model_run and its epilogue; a few instructions per layer at most.
        assert 0 <= totals[idx] - sum(counts) <= 4 * len(counts), (totals[idx], counts)


def test_profile_names_every_layer_stored_and_measured(bench: Bench, tiny_model: str,
                                                       tiny_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    per_layer = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=3,
                               per_layer=True), db)
    plain = run(RunRequest("stm32l452", "qemu", tiny_model, str(tiny_data), limit=3), db)

    p = bench("profile", str(per_layer.run_id), "--db", str(db))
    assert p.returncode == 0, p.stderr
    with Store(db) as store:
        fw = Firmware.load(Path(store.run_row(per_layer.run_id)["firmware_dir"]))
    for i, layer in enumerate(fw.layers):
        line = next(ln for ln in p.stdout.splitlines() if f" {layer['op']} " in ln)
        assert str(i) in line and layer["name"] in line
    assert "total" in p.stdout and "stored per-layer counts" in p.stdout

    # The plain run has no per-layer counts: profiled on a fresh per-layer build.
    p = bench("profile", str(plain.run_id), "--db", str(db), "--json")
    assert p.returncode == 0, p.stderr
    prof = json.loads(p.stdout)
    assert prof["source"] == "measured" and prof["samples"] == 3
    assert [la["op"] for la in prof["layers"]] == [la["op"] for la in fw.layers]
    assert prof["outside_layers"] >= 0
    assert sum(la["instructions"] for la in prof["layers"]) + prof["outside_layers"] == \
        prof["total"]
    conv = prof["layers"][0]
    assert conv["macs"] == 840 and conv["macs_per_instruction"] == pytest.approx(
        840 / conv["instructions"])
    with Store(db) as store:  # the stored run is left as it was
        assert store.layer_counts(plain.run_id) == {}
        assert len(store.samples(plain.run_id)) == 3


def _one_error_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), p.stderr
    return lines[0]


def test_profile_bad_run_id_is_one_error_line(bench: Bench, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    Store(db).close()
    assert "no run 42" in _one_error_line(bench("profile", "42", "--db", str(db)))


def test_profile_missing_firmware_dir_is_one_error_line(bench: Bench, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Store(db) as store:
        run_id = store.create_run(RunRecord(board="stm32l452", backend="qemu", engine="native",
                                  dtype="float32", model="m.py:f", model_hash="h",
                                  dataset="digits", dataset_hash="h", samples_planned=1,
                                  firmware_dir=str(tmp_path / "gone")))
    msg = _one_error_line(bench("profile", str(run_id), "--db", str(db)))
    assert "firmware directory" in msg and "gone" in msg


def test_plugin_that_fails_to_load_falls_back_to_systick(bench: Bench, tiny_model: str,
                                                         tiny_data: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_plugin.so"
    bogus.write_text("not an ELF\n")
    env = {**os.environ, "BENCH_QEMU_PLUGIN": str(bogus)}
    db = tmp_path / "r.db"
    p = bench("run", "--board", "stm32l452", "--model", tiny_model, "--dataset",
              str(tiny_data), "--limit", "3", "--json", "--db", str(db), env=env)
    assert p.returncode == 0, p.stderr
    warnings = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("bench: warning: "), p.stderr
    assert "SysTick" in warnings[0]
    with Store(db) as store:
        run_id = json.loads(p.stdout)["run_id"]
        assert store.run_row(run_id)["timer_kind"] == "systick"
        for s in store.samples(run_id):
            assert s.count == round(s.raw_count * INSNS_PER_TICK)


def test_per_layer_without_the_plugin_is_one_error_line(bench: Bench, tiny_model: str,
                                                        tiny_data: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_QEMU_PLUGIN": "0"}
    p = bench("run", "--board", "stm32l452", "--model", tiny_model, "--dataset",
              str(tiny_data), "--per-layer", "--db", str(tmp_path / "r.db"), env=env)
    assert "--per-layer needs exact instruction counts" in _one_error_line(p)


def test_both_qemu_links_count_the_same_instructions(tiny_model: str, tiny_data: Path,
                                                      tmp_path: Path) -> None:
    """The plugin loads on the USART-over-TCP path too (QEMU must not hold
    its start-up for the socket) and counts exactly what the pty path counts."""
    import numpy as np

    from harness.backends import get_backend, get_board
    from harness.build.build import build_for
    from harness.engines import get_engine
    from harness.model.load import load_graph
    from harness.run.target import DeviceTarget

    board, backend = get_board("stm32l452"), get_backend("qemu")
    graph = load_graph(tiny_model)
    x = np.load(tiny_data)["x"][:3]
    counts = {}
    for link in ("uart", "semihost"):
        fw = build_for(board, graph, get_engine("native"), "float32", link, tmp_path / link)
        with DeviceTarget(backend, board, fw) as t:
            t.start()
            assert t.link is not None and t.session is not None
            assert t.session.count_source == SOURCE_NAME
            got = []
            for xi in x:
                t.link.infer(fw.encode_input(xi))
                exact = t.session.last_count()
                assert exact is not None
                got.append(exact.total)
            counts[link] = got
    assert counts["uart"] == counts["semihost"]

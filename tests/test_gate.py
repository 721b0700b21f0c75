"""bench baseline export and bench check, the regression gate: an unchanged
model passes with identical counts, a model that gains a layer fails on
count and names the layer, a budget that does not parse is one line.
Real builds, real QEMU with bench's TCG plugin (--per-layer), real SQLite."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import Bench
from hostc import emulator_test

from harness.gate import Allowance, parse_budget
from harness.store.store import Store

ROOT = Path(__file__).resolve().parents[1]

NET = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, extra: bool) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 4, 5, stride=2)
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool1d(1)
            self.flat = nn.Flatten()
            self.extra = nn.Linear(4, 4) if extra else None
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = self.flat(self.pool(self.relu(self.conv(x))))
            if self.extra is not None:
                x = self.extra(x)
            return self.fc(x)

    def net():
        torch.manual_seed(0)
        m = Net(EXTRA)
        m.input_shape = (3, 32)
        return m.eval()
""")


def _model(folder: Path, extra: bool) -> str:
    """The same file name and factory in two folders: the gate matches runs
    by model name, as a repository's model at two commits."""
    folder.mkdir()
    (folder / "net.py").write_text(NET.replace("EXTRA", str(extra)))
    return f"{folder / 'net.py'}:net"


@emulator_test
def test_gate_passes_an_unchanged_model_and_names_an_added_layer(bench_main: Bench,
                                                                 tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(4, 3, 32)).astype(np.float32), y=rng.integers(0, 3, 4))
    db = tmp_path / "r.db"
    runs = {}
    for name, model in (("base", _model(tmp_path / "v1", False)),
                        ("same", _model(tmp_path / "v1b", False)),
                        ("plus", _model(tmp_path / "v2", True))):
        p = bench_main("run", "--board", "stm32l452", "--model", model, "--dataset", str(data),
                       "--limit", "2", "--per-layer", "--db", str(db), "--json", cwd=ROOT)
        assert p.returncode == 0, p.stderr
        runs[name] = json.loads(p.stdout)["run_id"]

    baseline = tmp_path / "baseline.json"
    p = bench_main("baseline", "export", str(runs["base"]), "-o", str(baseline), "--db", str(db))
    assert p.returncode == 0, p.stderr
    entry, = json.loads(baseline.read_text())["runs"]
    assert entry["model"] == "net.py:net" and entry["count_kind"] == "instructions"
    assert set(entry["layers"]) == {"conv (conv1d)", "pool (global_avgpool)", "fc (linear)"}

    same = bench_main("check", "--baseline", str(baseline), "--run", str(runs["same"]),
                      "--db", str(db))
    assert same.returncode == 0, same.stderr
    assert "0 moved, 0 over budget" in same.stdout  # emulator counts are exact

    plus = bench_main("check", "--baseline", str(baseline), "--run", str(runs["plus"]),
                      "--db", str(db))
    assert plus.returncode == 1, plus.stderr
    line, = [ln for ln in plus.stderr.splitlines() if ln.strip()]
    assert line.startswith("bench: check failed, over budget: count of layer "
                           "'extra (linear)'"), line
    assert "new" in line and "budget +0" in line
    # a budget wide enough for the total still fails on the new layer
    wide = bench_main("check", "--baseline", str(runs["base"]), "--run", str(runs["plus"]),
                      "--db", str(db), "--budget", "count=+50%,rom=+1KB,ram=+1KB,"
                      "accuracy=-100pt,energy=+50%")
    assert wide.returncode == 1
    assert "count of layer 'extra (linear)'" in wide.stderr and "1 over budget" in wide.stdout


@pytest.mark.parametrize("budget,expect", [
    ("count=lots", "count=lots is not a number"),
    ("speed=+1%", "'speed=+1%' is not METRIC=CHANGE"),
    ("rom=+1pt", "rom=+1pt is not a number with one of the units"),
    ("accuracy=+0.5pt", "accuracy's budget is a drop (-)"),
    ("count", "'count' is not METRIC=CHANGE"),
])
def test_a_budget_that_does_not_parse_is_one_line(bench_main: Bench, tmp_path: Path,
                                                  budget: str, expect: str) -> None:
    p = bench_main("check", "--baseline", str(tmp_path / "b.json"), "--run", "1", "--db",
                   str(tmp_path / "none.db"), "--budget", budget)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: --budget ") and expect in lines[0], lines[0]


def test_budget_units() -> None:
    b = parse_budget("count=+2%,rom=+1KB,ram=+0,accuracy=-0.5pt,energy=+3%")
    assert b.given["rom"] == Allowance(1024, False, "+1KB")
    assert b.given["count"].limit(1000) == pytest.approx(20)
    assert b.given["accuracy"].limit(90) == pytest.approx(0.5)
    assert b.allowance("count", "cycles") == b.given["count"]
    assert parse_budget(None).allowance("count", "cycles").limit(1000) == pytest.approx(20)
    assert parse_budget(None).allowance("count", "instructions").limit(1000) == 0


def test_bad_baseline_and_run_references_are_one_line(bench_main: Bench,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text("{}")
    db = tmp_path / "r.db"
    Store(db).close()  # an empty results database
    for args, expect in ((["--baseline", str(bad), "--run", "1"], "is not a bench baseline"),
                         (["--baseline", "sweep:x", "--run", "1"], "sweep:ID or sweep:last")):
        p = bench_main("check", *args, "--db", str(db))
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(lines) == 1, p.stderr
        assert expect in lines[0], lines[0]

"""The bad-input battery (issue 12): every kind of bad input a user can give,
through the real command line. Each must end with a non-zero exit, exactly
one ``bench: error:`` line on stderr, no traceback, and the results database
(holding a finished run) byte for byte as it was.

Each case is one test id, so ``pytest --co -q tests/test_bad_input.py``
counts the bad inputs tried, and a run of this file the ones handled.
Almost all fail before any build; the few that need the cross compiler are
marked ``emulator``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL, Bench

from harness.kinds import DType, RunStatus
from harness.store.schema import RunRecord, Sample
from harness.store.store import Store

BENCH = [sys.executable, "-m", "harness.cli"]
ROOT = Path(__file__).resolve().parents[1]
N = 12  # samples in the good data set


@dataclass
class Files:
    """A scratch directory of good and bad inputs, and a store with a run."""

    dir: Path
    db: Path
    model: str  # a good model, file.py:factory (3 x 32 in, 3 classes out)
    data: Path  # a good data set for it

    def path(self, name: str) -> Path:
        return self.dir / name

    def npz(self, name: str, **arrays: np.ndarray) -> Path:
        p = self.dir / name
        np.savez(p, **arrays)
        return p

    def write(self, name: str, text: str | bytes) -> Path:
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text))
        return p

    def model_file(self, name: str, source: str) -> str:
        """file.py:net for a model file holding ``source``."""
        return f"{self.write(name + '.py', source)}:net"

    def read_only(self) -> Path:
        """A directory nobody may write in: a read-only one, or for root (whom
        permissions do not stop) /sys."""
        ro = self.dir / "read-only"
        ro.mkdir(exist_ok=True)
        ro.chmod(0o555)
        if not os.access(ro, os.W_OK):
            return ro
        try:
            with open("/sys/bench-write-probe", "w"):
                pass
        except OSError:
            return Path("/sys")
        pytest.skip("no unwritable directory here")

    def store_bytes(self) -> dict[str, bytes]:
        """The database and any write-ahead log with something in it. A
        reader of a WAL database leaves an empty -wal and the -shm index
        (SQLite's, derived from the rest): no stored byte is in them."""
        return {p.name: p.read_bytes() for p in sorted(self.dir.glob(self.db.name + "*"))
                if not p.name.endswith("-shm") and not (p.name.endswith("-wal")
                                                        and p.stat().st_size == 0)}


BINARY = bytes(range(256)) * 8  # not UTF-8, not JSON, not TOML, not a zip


@pytest.fixture
def files(tmp_path: Path) -> Files:
    (tmp_path / "tiny.py").write_text(TINY_MODEL)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, 3, 32)).astype(np.float32)
    y = rng.integers(0, 3, size=N)
    data = tmp_path / "good.npz"
    np.savez(data, x=x, y=y)
    db = tmp_path / "r.db"
    with Store(db) as store:  # a finished run with its samples: what must not change
        run_id = store.create_run(RunRecord(
            board="stm32l452", backend="qemu", engine="native", dtype="float32", model="m",
            model_hash="h", dataset="good.npz", dataset_hash="h", samples_planned=2))
        for i in range(2):
            store.add_sample(run_id, Sample(idx=i, label=1, predicted=1, count=100 + i,
                                            raw_count=100 + i, stack_bytes=64, max_abs_error=0.0,
                                            output=np.array([0.1, 0.8, 0.1], np.float32)))
        store.finish_run(run_id, RunStatus.COMPLETE)
    return Files(tmp_path, db, f"{tmp_path / 'tiny.py'}:tiny", data)


@dataclass(frozen=True)
class Case:
    """One bad input: the command line it makes and what its line must say."""

    args: Callable[[Files], list[str]]
    says: tuple[str, ...]  # all in the error line (case-insensitive)
    process: bool = False  # in a real process: the point is what reaches stderr
    marks: tuple = ()


def run_on(files: Files, data: str | Path, *extra: str, model: str | None = None) -> list[str]:
    return ["run", "--board", "stm32l452", "--model", model or files.model, "--dataset",
            str(data), "--db", str(files.db), *extra]


def build_on(files: Files, *extra: str, model: str | None = None) -> list[str]:
    return ["build", "--board", "stm32l452", "--model", model or files.model, *extra]


X = np.random.default_rng(2).normal(size=(N, 3, 32))
Y = np.arange(N) % 3


def _truncated_npz(f: Files) -> list[str]:
    whole = f.data.read_bytes()
    return run_on(f, f.write("cut.npz", whole[:len(whole) // 2]))


def _npy_named_npz(f: Files) -> list[str]:
    np.save(f.path("arr.npy"), X)
    f.path("arr.npy").rename(f.path("arr.npz"))
    return run_on(f, f.path("arr.npz"))


def _zip_of(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


def _sweep(f: Files, dtypes: str, scheme: str | None = None, limit: str = "4",
           calibrate: str = "8", weights: str | None = None,
           model: str = "tiny.py:tiny") -> list[str]:
    quant = f"scheme = {scheme}\n" if scheme else ""
    quant += f"weights = {weights}\n" if weights else ""
    path = f.write("sweep.toml", f"""
        name = "bad"
        limit = {limit}
        engines = ["native"]
        {dtypes}

        [[target]]
        board = "stm32l452"
        backend = "qemu"

        [[model]]
        model = "{model}"
        dataset = "good.npz"

        [quant]
        calibrate = {calibrate}
        """ + quant)
    return ["sweep", str(path), "--db", str(f.db), "--workers", "1"]


def _c_info(weights: int = 6144, io: list[int] | None = None, macc: int = 99) -> dict:
    """An ST Edge AI c_info file (JSON schema 2.0, as tests/test_peers.py writes it)."""
    return {
        "json_schema_version": "2.0",
        "environment": {
            "generated_model": {"name": "network"},
            "tools": [{"version": {"major": 2, "minor": 1, "micro": 0},
                       "input_model": {"name": "tiny_int8.tflite", "type": "tflite"}}]},
        "graphs": [{"nodes": [{"name": "conv_0", "id": 0, "macc": 5376},
                              {"name": "dense_2", "id": 2, "macc": macc}]}],
        "memory_footprint": {"weights": weights, "activations": 1408, "io": io or [96, 3],
                             "series": "stm32l4", "kernel_ram": 1892, "kernel_flash": 9120},
    }


VALIDATE = """ST Edge AI Core v2.1.0-20194
ST.AI Profiling results v2.0 - "network"
nb sample(s)   :   12
duration       :   0.262 ms by sample (0.261/0.263/0.001)
CPU cycles     :   20960

Output              acc       rmse          mae           l2r
TARGET c-model #1   41.67%    0.120089211   0.025269194   0.245565161
"""


def _cubeai(f: Files, info: dict, validate: str | None = None) -> list[str]:
    out = f.dir / "st_ai_output"
    f.write("st_ai_output/network_c_info.json", json.dumps(info))
    if validate is not None:
        f.write("st_ai_output/network_validate_report.txt", validate)
    return ["import-cubeai", str(out), "--board", "stm32l452", "--db", str(f.db)]


def _pt2_bytes() -> bytes:
    """A real torch.export archive of a tiny model."""
    import io

    import torch

    buf = io.BytesIO()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(96, 3))
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, 32),)), buf)
    return buf.getvalue()


CASES: dict[str, Case] = {
    # -- data files ---------------------------------------------------------------
    "npz truncated": Case(_truncated_npz, ("cut.npz", "not a complete .npz")),
    "npy renamed npz": Case(_npy_named_npz, ("arr.npz", "single .npy array")),
    "x holds strings": Case(lambda f: run_on(f, f.npz("s.npz", x=X.astype(str), y=Y)),
                            ("s.npz", "x must hold numbers")),
    "x complex": Case(lambda f: run_on(f, f.npz("c.npz", x=X + 1j, y=Y)),
                      ("c.npz", "complex")),
    "x overflows float32": Case(lambda f: run_on(f, f.npz("big.npz", x=X * 1e48, y=Y)),
                                ("big.npz", "float32", "e+48")),
    "negative labels": Case(lambda f: run_on(f, f.npz("neg.npz", x=X, y=Y - 1)),
                            ("neg.npz", "negative")),
    "labels beyond the model's classes": Case(
        lambda f: run_on(f, f.npz("lab.npz", x=X, y=Y + 5)),
        ("lab.npz", "8-class", "3 outputs")),
    "registry classes differ from the outputs": Case(
        lambda f: run_on(f, "digits", model=f.model_file("m640", """
            from torch import nn
            def net():
                m = nn.Sequential(nn.Flatten(), nn.Linear(64, 640))
                m.input_shape = (1, 8, 8)
                return m
            """)), ("digits", "10-class", "640 outputs")),
    # -- files of the wrong kind ---------------------------------------------------
    "binary file as --ranges": Case(
        lambda f: run_on(f, f.data, "--dtype", "int8", "--ranges",
                         str(f.write("ranges.json", BINARY))),
        ("ranges.json", "calibration", "not text")),
    "--ranges with a NaN range": Case(
        lambda f: run_on(f, f.data, "--dtype", "int8", "--ranges", str(f.write(
            "nan.json", '{"method": "minmax", "samples": 8, "ranges": {"input": [NaN, 1.0]}}'))),
        ("nan.json", "'input'", "finite")),
    "binary file as sweep TOML": Case(
        lambda f: ["sweep", str(f.write("sweep.toml", BINARY)), "--db", str(f.db)],
        ("sweep.toml", "not text")),
    "binary file as c_info": Case(
        lambda f: ["import-cubeai", str(f.write("st/network_c_info.json", BINARY)), "--board",
                   "stm32l452", "--db", str(f.db)],
        ("network_c_info.json", "not text")),
    "binary file as .pt2": Case(
        lambda f: build_on(f, model=str(f.write("model.pt2", BINARY))),
        ("model.pt2", "not a zip file")),
    "truncated .pt2": Case(
        lambda f: build_on(f, model=str(f.write("cut.pt2", _pt2_bytes()[:3000]))),
        ("cut.pt2", "not a zip file")),
    "zip that is not a .pt2 (real process: no torch log lines)": Case(
        lambda f: build_on(f, model=str(_zip_of(f.path("junk.pt2"), {"hello.txt": "hi"}))),
        ("junk.pt2", "not in a subdirectory"), process=True, marks=(pytest.mark.slow,)),
    "model file calls sys.exit": Case(
        lambda f: run_on(f, f.data, model=f.model_file("exits", """
            import sys
            sys.exit("no GPU found")
            def net(): pass
            """)), ("exits.py", "sys.exit", "no GPU found")),
    "factory calls sys.exit": Case(
        lambda f: run_on(f, f.data, model=f.model_file("exits2", """
            import sys
            def net():
                sys.exit(3)
            """)), ("net()", "sys.exit", "3")),
    # -- output paths ---------------------------------------------------------------
    "build -o an existing file": Case(
        lambda f: build_on(f, "-o", str(f.write("fw", "a file"))), ("fw", "not a directory")),
    "build -o in a read-only place": Case(
        lambda f: build_on(f, "-o", str(f.read_only() / "fw")), ("cannot create", "fw")),
    "report -o a directory": Case(
        lambda f: ["report", "--db", str(f.db), "-o", str(f.dir)], ("is a directory",)),
    "report -o in a read-only place": Case(
        lambda f: ["report", "--db", str(f.db), "-o", str(f.read_only() / "rep.md")],
        ("cannot write", "rep.md")),
    "export -o a directory": Case(
        lambda f: ["export", "1", "--db", str(f.db), "-o", str(f.dir)], ("is a directory",)),
    "export -o in a read-only place": Case(
        lambda f: ["export", "1", "--db", str(f.db), "-o", str(f.read_only() / "out.npz")],
        ("cannot write", "out.npz")),
    # -- sweep files ----------------------------------------------------------------
    "sweep dtype int4": Case(lambda f: _sweep(f, 'dtypes = ["int4"]'), ("int4", "int8")),
    "sweep unknown [quant] scheme": Case(
        lambda f: _sweep(f, 'dtypes = ["int8"]', scheme='"pot2"'), ("pot2", "affine")),
    "sweep limit = true": Case(lambda f: _sweep(f, 'dtypes = ["float32"]', limit="true"),
                               ("limit", "positive integer")),
    "sweep [quant] calibrate = 0": Case(
        lambda f: _sweep(f, 'dtypes = ["int8"]', calibrate="0"), ("calibrate", "positive")),
    "sweep [quant] weights unknown": Case(
        lambda f: _sweep(f, 'dtypes = ["int8"]', weights='"narrow"'), ("narrow", "packed")),
    # -- report and import ------------------------------------------------------------
    "report --cpi inf": Case(lambda f: ["report", "--db", str(f.db), "--cpi", "inf"],
                             ("--cpi", "inf")),
    "report --cpi nan": Case(lambda f: ["report", "--db", str(f.db), "--cpi", "nan"],
                             ("--cpi", "nan")),
    "c_info with negative weights": Case(
        lambda f: _cubeai(f, _c_info(weights=-6144)), ("network_c_info.json", "weights", "-6144")),
    "c_info with a negative io size": Case(
        lambda f: _cubeai(f, _c_info(io=[96, -3])), ("network_c_info.json", "io", "-3")),
    "c_info with a negative macc": Case(
        lambda f: _cubeai(f, _c_info(macc=-99)), ("network_c_info.json", "macc", "-99")),
    "validate report with accuracy 4167 %": Case(
        lambda f: _cubeai(f, _c_info(), VALIDATE.replace("41.67%", "4167.00%")),
        ("network_validate_report.txt", "accuracy", "4167")),
    "validate report with 0 samples": Case(
        lambda f: _cubeai(f, _c_info(), VALIDATE.replace(":   12", ":   0")),
        ("network_validate_report.txt", "sample")),
    # -- builds that cannot work -----------------------------------------------------------
    "semihosting firmware for the Apollo3": Case(
        lambda f: ["build", "--board", "apollo3", "--model", f.model, "--link", "semihost"],
        ("semihost", "ambiq-uart")),
    "semihosting firmware for a probe": Case(
        lambda f: build_on(f, "--backend", "probe", "--link", "semihost"), ("semihost", "probe")),
    "model far too large for the flash (51 MB of weights)": Case(
        lambda f: build_on(f, model=f.model_file("huge", """
            from torch import nn
            def net():
                m = nn.Sequential(nn.Flatten(), nn.Linear(96, 140_000))
                m.input_shape = (3, 32)
                return m
            """)), ("does not fit stm32l452", "FLASH by", "54,320,000", "nothing was built")),
    "activations far beyond the RAM": Case(
        lambda f: build_on(f, model=f.model_file("wide", """
            from torch import nn
            def net():
                m = nn.Sequential(nn.Conv2d(3, 64, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(64, 2))
                m.input_shape = (3, 128, 128)
                return m
            """)), ("does not fit stm32l452", "RAM by", "4,064,256", "nothing was built")),
    # -- handled on main already: kept here so they stay handled ----------------------
    "dataset file missing": Case(lambda f: run_on(f, f.path("nope.npz")), ("does not exist",)),
    "x holds NaN": Case(lambda f: run_on(f, f.npz("nan.npz", x=X * np.nan, y=Y)), ("NaN",)),
    "y holds floats": Case(lambda f: run_on(f, f.npz("fy.npz", x=X, y=Y + 0.5)),
                           ("integer class labels",)),
    "x of the wrong sample shape": Case(
        lambda f: run_on(f, f.npz("shape.npz", x=np.zeros((4, 6, 128)), y=Y[:4])),
        ("(6, 128)", "(3, 32)")),
    "empty data set": Case(
        lambda f: run_on(f, f.npz("empty.npz", x=np.zeros((0, 3, 32)), y=np.zeros(0, int))),
        ("no samples",)),
    "--limit 0": Case(lambda f: run_on(f, f.data, "--limit", "0"), ("no samples",)),
    "--limit -3": Case(lambda f: run_on(f, f.data, "--limit", "-3"), ("no samples",)),
    "--calibrate 0": Case(lambda f: run_on(f, f.data, "--dtype", "int8", "--calibrate", "0"),
                          ("calibrat",)),
    "--ranges missing": Case(
        lambda f: run_on(f, f.data, "--dtype", "int8", "--ranges", str(f.path("no.json"))),
        ("no.json",)),
    "unknown engine": Case(lambda f: run_on(f, f.data, "--engine", "onnx"), ("onnx",)),
    "input_shape that is not a shape": Case(
        lambda f: run_on(f, f.data, model=f.model_file("shape", """
            from torch import nn
            def net():
                m = nn.Linear(3, 2)
                m.input_shape = "big"
                return m
            """)), ("input_shape",)),
    "factory returns no module": Case(
        lambda f: run_on(f, f.data, model=f.model_file("none", "def net():\n    return 42\n")),
        ("not a torch.nn.Module",)),
    "sweep model file missing": Case(
        lambda f: _sweep(f, 'dtypes = ["float32"]', model="gone.py:net"),
        ("gone.py", "does not exist")),
    "sweep --workers 0": Case(lambda f: [*_sweep(f, 'dtypes = ["float32"]'), "--workers", "0"],
                              ("--workers",)),
    "report without a database": Case(
        lambda f: ["report", "--db", str(f.path("none.db"))], ("no results database",)),
    "export of an unknown run": Case(
        lambda f: ["export", "9", "--db", str(f.db), "-o", str(f.path("o.npz"))], ("no run 9",)),
    "import-cubeai of a missing folder": Case(
        lambda f: ["import-cubeai", str(f.path("st")), "--board", "stm32l452", "--db",
                   str(f.db)], ("does not exist",)),
    "c_info for another series": Case(
        lambda f: _cubeai(f, {**_c_info(), "memory_footprint": {
            **_c_info()["memory_footprint"], "series": "stm32h7"}}), ("stm32h7",)),
    "data dir missing": Case(
        lambda f: run_on(f, "uci-har-archive", "--data-dir", str(f.path("nope"))),
        ("nope", "does not exist")),
}


def refused(p: subprocess.CompletedProcess) -> str:
    """The one error line of a refused command."""
    assert p.returncode != 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("bench: error: "), lines[0]
    return lines[0]


def _params() -> list:
    return [pytest.param(name, case, id=name.replace(" ", "-"), marks=case.marks)
            for name, case in CASES.items()]


@pytest.mark.parametrize("name, case", _params())
def test_bad_input_is_one_clear_line(name: str, case: Case, files: Files,
                                     bench_main: Bench) -> None:
    before = files.store_bytes()
    args = case.args(files)
    if case.process:
        # this checkout's harness, whatever the environment has installed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        p = subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=600,
                           env=env, cwd=files.dir)
    else:
        p = bench_main(*args, cwd=files.dir)
    line = refused(p)
    for word in case.says:
        assert word.lower() in line.lower(), f"{word!r} not in: {line}"
    assert files.store_bytes() == before, "the results database changed"
    with Store(files.db) as store:
        assert store.run_ids() == [1] and len(store.samples(1)) == 2


def test_export_writes_the_file_it_names(files: Files, bench_main: Bench) -> None:
    """numpy.savez adds .npz to a bare name: the export said it wrote 'out'
    and wrote 'out.npz'."""
    out = files.path("out")
    p = bench_main("export", "1", "--db", str(files.db), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert str(out) in p.stdout and out.is_file() and not files.path("out.npz").exists()
    with np.load(out) as f:
        assert f["counts"].tolist() == [100, 101]


@pytest.mark.parametrize("factory, dtypes", [
    ("digits_cnn.py:digits_cnn_untrained", tuple(DType)),
    ("har_cnn.py:har_cnn_untrained", tuple(DType)),
    ("resnet8.py:resnet8", tuple(DType)),  # float32: the linker refuses it (SRAM1)
    ("ds_cnn.py:ds_cnn", tuple(DType)),
    ("mobilenet_v1.py:mobilenet_v1", (DType.INT16, DType.INT8)),  # float32: 824 KB weights
])
def test_the_fit_check_passes_models_that_fit(factory: str, dtypes: tuple[DType, ...]) -> None:
    """The check before a build uses lower bounds: the example models (the
    MLPerf Tiny ones included) pass it in every dtype they may fit in."""
    from harness.backends import get_board
    from harness.build.fit import check_fits
    from harness.model.load import load_graph

    graph = load_graph(str(ROOT / "examples" / factory))
    for dtype in dtypes:
        check_fits(get_board("stm32l452"), graph, dtype)

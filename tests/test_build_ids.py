"""The build id names everything the compiler read: a header in a subfolder
of an include directory (as TFLM's and CMSIS-NN's are) changes it, and
objects of sources from outside bench are reused between builds from the
object cache, by their flags, content and headers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.backends import get_board
from harness.build.build import OBJECT_CACHE, build
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.kinds import DType
from harness.model.ir import Graph
from harness.model.load import load_graph
from harness.paths import BUILD_DIR_VAR
from harness.quant import QuantConfig

pytestmark = [pytest.mark.emulator,  # firmware builds: the slow tier
              pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                                 reason="arm-none-eabi-gcc needed (make setup)")]


class HeaderEngine(Engine):
    """A model whose output comes from a header two folders down, plus a
    kernel source outside bench's tree (``vendor``), as a peer's are."""

    name = "native"  # build() asks only for what Engine declares
    capabilities = Capabilities(dtypes=(DType.FLOAT32,))

    def __init__(self, vendor: Path) -> None:
        self.vendor = vendor

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        info = model_info_c(ModelInfo(engine="hdr", input_bytes=4, output_bytes=4,
                                      arena_bytes=0, input_dtype=DType.FLOAT32,
                                      output_dtype=DType.FLOAT32, model_hash=model_hash))
        (out_dir / "model.c").write_text(
            '#include <string.h>\n#include "bench_model.h"\n#include "lib/deep/value.h"\n'
            "float vendor_scale(float x);\n" + info +
            "int32_t bench_model_run(const void *in, void *out)\n{\n"
            "    float x;\n    memcpy(&x, in, 4);\n    x = vendor_scale(x) + VALUE;\n"
            "    memcpy(out, &x, 4);\n    return 0;\n}\n")
        return GeneratedModel(sources=(out_dir / "model.c", self.vendor / "src/scale.c"),
                              include_dirs=(self.vendor / "include",), input_bytes=4,
                              output_bytes=4, arena_bytes=0, input_dtype=DType.FLOAT32,
                              output_dtype=DType.FLOAT32)


@pytest.fixture
def graph(tiny_model: str) -> Graph:
    return load_graph(tiny_model)


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(BUILD_DIR_VAR, str(tmp_path / "build"))
    v = tmp_path / "vendor"
    (v / "include/lib/deep").mkdir(parents=True)
    (v / "include/lib/deep/value.h").write_text("#define VALUE 1.0f\n")
    (v / "include/lib/deep/factor.h").write_text("#define FACTOR 2.0f\n")
    (v / "src").mkdir()
    (v / "src/scale.c").write_text('#include "lib/deep/factor.h"\n'
                                   "float vendor_scale(float x);\n"
                                   "float vendor_scale(float x) { return x * FACTOR; }\n")
    return v


def test_a_header_in_a_subfolder_changes_the_build(vendor: Path, graph: Graph,
                                                   tmp_path: Path) -> None:
    board, engine = get_board("stm32l452"), HeaderEngine(vendor)
    first = build(board, graph, engine, "float32", tmp_path / "fw")
    assert build(board, graph, engine, "float32", tmp_path / "fw").build_id == first.build_id
    # The generated model's header, then the vendor source's: each is a new build.
    (vendor / "include/lib/deep/value.h").write_text("#define VALUE 3.0f\n")
    second = build(board, graph, engine, "float32", tmp_path / "fw")
    assert second.build_id != first.build_id
    (vendor / "include/lib/deep/factor.h").write_text("#define FACTOR 5.0f\n")
    third = build(board, graph, engine, "float32", tmp_path / "fw")
    assert len({first.build_id, second.build_id, third.build_id}) == 3
    log = (tmp_path / "fw" / "build.log").read_text()
    assert "scale.c: from the object cache" not in log  # its header changed: compiled again


def test_objects_from_outside_bench_come_from_the_cache(vendor: Path, graph: Graph,
                                                      tmp_path: Path) -> None:
    board, engine = get_board("stm32l452"), HeaderEngine(vendor)
    build(board, graph, engine, "float32", tmp_path / "a")
    assert list((tmp_path / "build" / OBJECT_CACHE).rglob("*.o"))
    b = build(board, graph, engine, "float32", tmp_path / "b")
    log = (tmp_path / "b" / "build.log").read_text()
    assert "scale.c: from the object cache" in log
    assert "model.c: from the object cache" not in log  # bench's own: always compiled
    assert b.elf.stat().st_size > 0

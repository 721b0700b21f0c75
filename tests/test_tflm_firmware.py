"""TFLite Micro firmware at the seams CI can reach (no tflite-micro tree
there): the generated glue compiles against a stand-in of TFLM's headers
(tests/tflm_standin) with the firmware's C++ flags, the tree and its
third-party headers are found or named when missing, a CMSIS-NN build is
its own variant, and the arena the device reports is what a run stores."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends import get_backend, get_board
from harness.build import toolchain
from harness.build.build import _Compiler
from harness.build.firmware import Firmware
from harness.build.memory import MemoryReport
from harness.engines import get_engine
from harness.engines.tflm import firmware
from harness.engines.tflm.engine import TflmEngine
from harness.errors import ConfigError, ToolMissingError
from harness.link import DeviceInfo
from harness.profile import summarize
from harness.run.target import DeviceTarget

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "tflm_standin"
RUNTIME = HERE.parent / "firmware" / "runtime"
M4 = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
HASH = bytes(range(8))


def _cxx() -> str:
    exe = shutil.which(toolchain.CXX)
    if exe is None or not toolchain.has_cxx_library(exe):
        pytest.skip(f"{toolchain.CXX_HINT} (make setup)")
    return exe


def _tree(root: Path, cmsis: bool = False, leave_out: str = "") -> dict[str, str]:
    """A directory laid out as a tflite-micro checkout after TFLM's downloads
    (only the files find_tree looks for), as the environment names it."""
    (root / "tensorflow/lite/micro").mkdir(parents=True)
    (root / "tensorflow/lite/micro/micro_interpreter.h").write_text("")
    for name, (_, proof, _) in firmware.THIRD_PARTY.items():
        if name != leave_out:
            f = root / firmware.DOWNLOADS / name / proof
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("")
    env = {firmware.ROOT_VAR: str(root)}
    if cmsis:
        nn = root.parent / "CMSIS-NN"
        (nn / "Include").mkdir(parents=True)
        (nn / "Include/arm_nnfunctions.h").write_text("")
        env[firmware.CMSIS_NN_VAR] = str(nn)
    return env


@pytest.mark.parametrize("ops", [
    ["CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "PAD", "RESHAPE"],  # HAR CNN
    sorted(firmware.OPS),  # every operator the glue registers
])
def test_glue_compiles_against_tflm_headers(ops: list[str], tmp_path: Path) -> None:
    cxx = _cxx()
    src = tmp_path / "model.cc"
    src.write_text(firmware.glue(bytes(range(40)), ops, HASH, 4096, 12, 6, "tflm+cmsis-nn"))
    r = subprocess.run([cxx, *M4, *toolchain.CXXFLAGS, "-Werror", f"-I{RUNTIME}",
                        f"-I{STANDIN}", "-c", str(src), "-o", str(tmp_path / "model.o")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    text = src.read_text()
    # int8-only kernels where TFLM has them; the generic registration elsewhere.
    assert ("r->AddConv2D(tflite::Register_CONV_2D_INT8());" in text) == ("CONV_2D" in ops)
    assert "r->AddReshape();" in text
    # Set-up outside the timed region, the arena TFLM used for the handshake,
    # and no path into newlib's allocating abort().
    for needed in ('extern "C" int32_t bench_model_setup(void)', "arena_used_bytes()",
                   'extern "C" void abort(void)', '"tflm+cmsis-nn", /* engine */'):
        assert needed in text


def test_glue_without_its_kernel_header_fails_to_compile(tmp_path: Path) -> None:
    """The stand-in can fail: an int8 registration needs its kernel's header."""
    cxx = _cxx()
    src = tmp_path / "model.cc"
    src.write_text(firmware.glue(bytes(8), ["CONV_2D"], HASH, 256, 4, 2).replace(
        '#include "tensorflow/lite/micro/kernels/conv.h"', ""))
    r = subprocess.run([cxx, *M4, *toolchain.CXXFLAGS, f"-I{RUNTIME}", f"-I{STANDIN}",
                        "-fsyntax-only", str(src)], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "Register_CONV_2D_INT8" in r.stderr


def test_an_operator_without_registration_is_named() -> None:
    with pytest.raises(ConfigError, match="no registration for LSTM"):
        firmware.glue(bytes(8), ["CONV_2D", "LSTM"], HASH, 256, 4, 2)


def test_cxx_sources_get_cxx_flags_and_c_sources_c_flags(tmp_path: Path) -> None:
    flags = ((*M4, *toolchain.CFLAGS), (*M4, *toolchain.CXXFLAGS))
    c = _Compiler("arm-none-eabi-gcc", flags, flags, tmp_path)
    if shutil.which(toolchain.CXX) is None:
        pytest.skip("arm-none-eabi-g++ needed")
    cc_argv = c._argv(tmp_path / "micro_interpreter.cc", ["-DX"])
    c_argv = c._argv(tmp_path / "arm_convolve_s8.c", ["-DX"])
    assert cc_argv[0].endswith("arm-none-eabi-g++") and c_argv[0] == "arm-none-eabi-gcc"
    for flag in ("-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics",
                 "-fno-unwind-tables", "-fno-use-cxa-atexit"):
        assert flag in cc_argv and flag not in c_argv
    assert "-std=c99" in c_argv and "-std=c99" not in cc_argv
    assert cc_argv[-1] == c_argv[-1] == "-DX"


def test_tree_third_party_and_variant(tmp_path: Path) -> None:
    env = _tree(tmp_path / "tflite-micro", cmsis=True)
    tree = firmware.find_tree(env)
    assert tree.variant == "tflm+cmsis-nn"
    dirs = tree.include_dirs()
    assert tree.third_party["flatbuffers"] in dirs and tree.third_party["flatbuffers"].name == \
        "include"
    assert tree.cmsis_nn is not None and tree.cmsis_nn / "Include" in dirs
    assert "-DCMSIS_NN" in tree.defines() and "-DTF_LITE_STRIP_ERROR_STRINGS" in tree.defines()
    del env[firmware.CMSIS_NN_VAR]
    reference = firmware.find_tree(env)
    assert reference.variant == "tflm" and "-DCMSIS_NN" not in reference.defines()


def test_cmsis_nn_sources_are_its_integer_ones(tmp_path: Path) -> None:
    env = _tree(tmp_path / "tflite-micro", cmsis=True)
    root = Path(env[firmware.ROOT_VAR])
    for rel in firmware.CORE_SOURCES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    kernels = root / firmware.KERNELS
    for name in ("conv.cc", "conv_common.cc", "reshape.cc", "reshape_common.cc",
                 "cmsis_nn/conv.cc", "pooling.cc"):
        (kernels / name).parent.mkdir(parents=True, exist_ok=True)
        (kernels / name).write_text("")
    (kernels / "cmsis_nn/conv.cc").write_text("  return arm_convolve_wrapper_s8(&ctx);\n")
    nn = Path(env[firmware.CMSIS_NN_VAR]) / "Source"
    for name, text in {
        "ConvolutionFunctions/arm_convolve_wrapper_s8.c":
            "arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx)\n"
            "{\n    return arm_convolve_s8(ctx);\n}\n",
        "ConvolutionFunctions/arm_convolve_s8.c":
            "arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx)\n{\n"
            "    arm_nn_mat_mult_nt_t_s8(ctx);\n    arm_convolve_f32(ctx);\n}\n",
        "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c":
            "int8_t *arm_nn_mat_mult_nt_t_s8(const void *x)\n{\n    return 0;\n}\n",
        "ConvolutionFunctions/arm_convolve_f32.c":
            "arm_cmsis_nn_status arm_convolve_f32(const void *x)\n{\n}\n",
        "ConvolutionFunctions/arm_convolve_s16.c":
            "arm_cmsis_nn_status arm_convolve_s16(const void *x)\n{\n}\n",
        "NNSupportFunctions/arm_nntables.c": "const int16_t sigmoid_table_uint16[256];\n",
        "PoolingFunctions/arm_max_pool_s8.c":
            "arm_cmsis_nn_status arm_max_pool_s8(const void *x)\n{\n}\n",
    }.items():
        (nn / name).parent.mkdir(parents=True, exist_ok=True)
        (nn / name).write_text(text)
    found = firmware.tflm_sources(firmware.find_tree(env), ["CONV_2D", "RESHAPE"])
    rel = {str(p.relative_to(p.parents[1])) for p in found if "kernels" in p.parts}
    assert {"cmsis_nn/conv.cc", "kernels/conv_common.cc", "kernels/reshape.cc"} <= rel
    assert "kernels/conv.cc" not in rel and "kernels/pooling.cc" not in rel  # only what is used
    # What conv calls, and what that calls, and the tables: no float, no
    # function nothing calls.
    assert sorted(p.name for p in found if p.suffix == ".c") == [
        "arm_convolve_s8.c", "arm_convolve_wrapper_s8.c", "arm_nn_mat_mult_nt_t_s8.c",
        "arm_nntables.c"]
    assert not any("test" in p.name for p in found)


@pytest.mark.parametrize(("leave_out", "message"), [
    ("flatbuffers", r"TFLM needs flatbuffers .*set TFLM_FLATBUFFERS"),
    ("gemmlowp", r"TFLM needs gemmlowp .*third_party_downloads"),
    ("ruy", r"TFLM needs ruy"),
])
def test_a_missing_third_party_tree_is_named(tmp_path: Path, leave_out: str,
                                             message: str) -> None:
    env = _tree(tmp_path / "tflite-micro", leave_out=leave_out)
    with pytest.raises(ToolMissingError, match=message):
        firmware.find_tree(env)
    # Where the user keeps it instead: its own variable.
    elsewhere = tmp_path / leave_out
    var, proof, _ = firmware.THIRD_PARTY[leave_out]
    (elsewhere / proof).parent.mkdir(parents=True)
    (elsewhere / proof).write_text("")
    assert firmware.find_tree({**env, var: str(elsewhere)}).third_party[leave_out].is_dir()


def test_missing_trees_are_named(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match="set TFLM_ROOT="):
        firmware.find_tree({})
    with pytest.raises(ToolMissingError, match="is not a tflite-micro source tree"):
        firmware.find_tree({firmware.ROOT_VAR: str(tmp_path)})
    env = _tree(tmp_path / "tflite-micro")
    with pytest.raises(ToolMissingError, match="is not a CMSIS-NN tree"):
        firmware.find_tree({**env, firmware.CMSIS_NN_VAR: str(tmp_path)})


def test_the_missing_cxx_library_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A g++ that cannot find <cstddef> (gcc-arm-none-eabi without
    libstdc++-arm-none-eabi-newlib) is refused with the package to install."""
    fake = tmp_path / toolchain.CXX
    fake.write_text("#!/bin/sh\necho 'fatal error: cstddef: No such file or directory' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    toolchain.has_cxx_library.cache_clear()
    try:
        with pytest.raises(ToolMissingError, match="libstdc\\+\\+-arm-none-eabi-newlib"):
            toolchain.cxx_compiler()
    finally:
        toolchain.has_cxx_library.cache_clear()


def test_engine_variant_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(firmware.CMSIS_NN_VAR, raising=False)
    monkeypatch.setenv(firmware.ROOT_VAR, "/somewhere")
    assert TflmEngine().variant() == "tflm"
    monkeypatch.setenv(firmware.CMSIS_NN_VAR, "/elsewhere")
    assert TflmEngine().variant() == "tflm+cmsis-nn"
    monkeypatch.delenv(firmware.ROOT_VAR)
    assert TflmEngine().variant() == "tflm"  # the host interpreter has no CMSIS-NN
    # A stored variant still finds its engine (bench profile, reports).
    assert isinstance(get_engine("tflm+cmsis-nn"), TflmEngine)


def _device_target(planned: int, reported: int, tmp_path: Path) -> DeviceTarget:
    memory = MemoryReport(rom_bytes=1, ram_bytes=1, stack_reserved_bytes=1, sections={})
    fw = Firmware(dir=tmp_path, elf=tmp_path / "firmware.elf", build_id="00", board="stm32l452",
                  engine="tflm", dtype="int8", link="uart", model_hash="00", input_bytes=4,
                  output_bytes=2, arena_bytes=planned, input_dtype="int8",
                  output_dtype="int8", input_shape=(4,), n_outputs=2, compiler="gcc",
                  cflags=(), memory=memory)
    target = DeviceTarget(get_backend("qemu"), get_board("stm32l452"), fw)  # not started
    target.info = DeviceInfo(**{**_INFO, "arena_bytes": reported})
    return target


_INFO = dict(protocol_version=1, input_dtype="int8", output_dtype="int8", clock_hz=1,
             timer_kind="none", input_bytes=4, output_bytes=2, arena_bytes=0,
             stack_size_bytes=1, max_payload=64, model_hash="00", build_id="00",
             board="stm32l452", engine="tflm", stack_bytes=0)


def test_the_arena_stored_is_what_the_device_reported(tmp_path: Path) -> None:
    """TFLM's arena on the Cortex-M (reported in the handshake) is smaller
    than the host interpreter's the build reserved: the run stores the
    device's; a build whose device reports its plan stores nothing new."""
    assert _device_target(5584, 3712, tmp_path).arena_bytes() == 3712
    assert _device_target(5584, 5584, tmp_path).arena_bytes() is None


def test_the_arena_a_target_reported_is_what_the_next_build_reserves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 9 of the TFLM issue: a build reserves the host interpreter's
    figure until a target has reported what it used; then the engine keeps
    that figure (per model file, tree and variant) and a rebuild reserves
    exactly it, 16-byte aligned. A report that saves nothing asks for no
    rebuild; another variant or model file has its own figure."""
    env = _tree(tmp_path / "tflite-micro")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(firmware.CMSIS_NN_VAR, raising=False)
    monkeypatch.setenv("BENCH_BUILD_DIR", str(tmp_path / "build"))
    tree, measured = firmware.find_tree(), tmp_path / "build" / "tflm-arena"
    build = tmp_path / "fw"
    build.mkdir()
    (build / "model.tflite").write_bytes(b"TFL3 model one")
    engine = TflmEngine()
    assert engine.capabilities.arena_on_target
    assert engine.arena_reported(build, 6400, 5284)  # 5,296 reserved next time: rebuild
    assert firmware.arena_estimate(b"TFL3 model one", None, tree, measured) == (5296, "target")
    assert not engine.arena_reported(build, 5296, 5284)  # already exact: no rebuild
    assert not engine.arena_reported(build, 6400, 0)  # the device reported nothing
    cmsis = firmware.find_tree({**env, **_tree(tmp_path / "b" / "tflite-micro", cmsis=True)})
    other = firmware._measured_file(b"TFL3 model one", cmsis, measured)
    assert other != firmware._measured_file(b"TFL3 model one", tree, measured)
    assert not other.exists()
    assert not firmware._measured_file(b"TFL3 model two", tree, measured).exists()


def test_a_profile_without_marked_layers_keeps_the_models_macs(tmp_path: Path) -> None:
    """TFLM marks no layers: the profile has no per-layer rows, its total
    carries the model's MACs (not a sum over no layers)."""
    fw = _device_target(0, 0, tmp_path).fw
    p = summarize(7, "measured", fw, [1000, 1200, 1100], [[], [], []], model_macs=5500)
    assert p.layers == [] and p.total == 1100 and p.macs == 5500
    assert p.outside_layers == 1100

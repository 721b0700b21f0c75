"""The tflm engine: TensorFlow Lite Micro as a peer, int8 only.

Our int8 affine QGraph is written as a ``.tflite`` file (harness/tflm.py:
no TensorFlow converter) and run two ways:

- Host (always available with the ``tflite-micro`` package): TFLM's own
  interpreter, built for the host, runs every sample. A run stores
  accuracy, TFLM's arena bytes and each output's distance to our integer
  reference (0 means TFLM computed the same bits as our engine); it has no
  instruction or cycle count and no ROM/RAM (nothing was built for a
  board), and is stored with backend ``host``.
- Firmware (``TFLM_ROOT`` points at a tflite-micro source tree, optionally
  with CMSIS-NN under ``TFLM_CMSIS_NN``): the model becomes a ``const``
  array, ``model.cc`` implements bench_model.h with a
  MicroMutableOpResolver of the ops the file uses, and the build compiles
  it with TFLM's sources for the board, under our runtime and protocol.
  No TFLM source tree exists on the machine this was written on, so this
  path is kept thin: it lists the sources, writes the glue and lets the
  compiler say what is missing. See ``TFLM_SOURCES``. The interpreter is
  set up inside the first bench_model_run() (our startup runs no C++
  constructors), so the first sample's count includes AllocateTensors();
  the run's median is unaffected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.engines import GeneratedModel
from harness.errors import ConfigError, ToolMissingError
from harness.model.ir import Graph, numel
from harness.quant import QuantConfig
from harness.quant.schemes import QGraph

# What the firmware build compiles from TFLM_ROOT (relative paths; globbed).
# The kernels are the reference ones; with TFLM_CMSIS_NN the CMSIS-NN
# optimized kernels replace them as TFLM's own Makefile does for
# OPTIMIZED_KERNEL_DIR=cmsis_nn.
TFLM_SOURCES = (
    "tensorflow/lite/micro/*.cc",
    "tensorflow/lite/micro/arena_allocator/*.cc",
    "tensorflow/lite/micro/memory_planner/*.cc",
    "tensorflow/lite/micro/tflite_bridge/*.cc",
    "tensorflow/lite/micro/kernels/*.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/core/api/*.cc",
    "tensorflow/lite/kernels/internal/*.cc",
    "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
)
TFLM_INCLUDES = (".", "third_party/flatbuffers/include", "third_party/gemmlowp",
                 "third_party/ruy")
ROOT_VAR = "TFLM_ROOT"

# TFLite builtin operator -> MicroMutableOpResolver method.
_RESOLVER = {"CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
             "FULLY_CONNECTED": "AddFullyConnected", "MAX_POOL_2D": "AddMaxPool2D",
             "AVERAGE_POOL_2D": "AddAveragePool2D", "RESHAPE": "AddReshape",
             "TRANSPOSE": "AddTranspose", "ADD": "AddAdd", "PAD": "AddPad",
             "PADV2": "AddPadV2", "STRIDED_SLICE": "AddStridedSlice",
             "CONCATENATION": "AddConcatenation", "MEAN": "AddMean", "RELU": "AddRelu",
             "RELU6": "AddRelu6", "SLICE": "AddSlice"}


@dataclass
class HostModel:
    """A model the engine runs on the host instead of on a board."""

    qgraph: QGraph
    tflite: bytes
    file: Path
    version: str

    def interpreter(self):  # noqa: ANN201 - TflmInterpreter, imported lazily
        from harness.export.tflite import TflmInterpreter

        return TflmInterpreter(self.tflite, self.qgraph)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        return self.qgraph.input_q.quantize(x)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        return self.qgraph.output_q.dequantize(y)


def tflm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tflite-micro {version('tflite-micro')}"
    except PackageNotFoundError:
        return "tflite-micro (not installed)"


class TflmEngine:
    name = "tflm"
    dtypes = ("int8",)
    schemes = {"int8": ("affine",)}  # TFLite's int8 scheme: per-channel affine

    def host_reason(self) -> str | None:
        """Why runs go to the host interpreter (None: firmware can be built)."""
        if os.environ.get(ROOT_VAR):
            return None
        return (f"{ROOT_VAR} is not set, so TFLite Micro runs in its host interpreter: "
                f"accuracy and arena bytes only, no device counts or ROM/RAM")

    def host_model(self, graph: Graph, out_dir: Path, dtype: str,
                   quant: QuantConfig | None) -> HostModel:
        qgraph = self._qgraph(graph, dtype, quant)
        from harness.export.tflite import export_tflite

        data = export_tflite(qgraph)
        out_dir.mkdir(parents=True, exist_ok=True)
        file = out_dir / "model.tflite"
        file.write_bytes(data)
        return HostModel(qgraph, data, file, tflm_version())

    def _qgraph(self, graph: Graph, dtype: str, quant: QuantConfig | None) -> QGraph:
        from harness.quant.schemes import quantize_graph

        if dtype != "int8" or quant is None:
            raise ConfigError(f"engine tflm supports int8 only (TFLite's affine scheme), "
                              f"not {dtype}")
        if quant.scheme != "affine":
            raise ConfigError(f"engine tflm has only the affine scheme, not {quant.scheme!r}")
        return quantize_graph(graph, quant, dtype)

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: str,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        root = os.environ.get(ROOT_VAR)
        if not root:
            raise ToolMissingError(f"TFLM firmware needs a tflite-micro source tree: set "
                                   f"{ROOT_VAR}=/path/to/tflite-micro (bench run without it "
                                   f"measures TFLM in its host interpreter)")
        tree = Path(root)
        if not (tree / "tensorflow/lite/micro/micro_interpreter.h").exists():
            raise ToolMissingError(f"{ROOT_VAR}={root} is not a tflite-micro source tree "
                                   f"(no tensorflow/lite/micro/micro_interpreter.h)")
        qgraph = self._qgraph(graph, dtype, quant)
        from harness.export.tflite import export_tflite

        data = export_tflite(qgraph)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.tflite").write_bytes(data)
        ops = _operators(data)
        sources = _tflm_sources(tree, os.environ.get("TFLM_CMSIS_NN"))
        arena = _arena_estimate(data, qgraph)
        n_in, n_out = numel(graph.input_shape), numel(graph.output_shape)
        (out_dir / "model.cc").write_text(_glue(data, ops, model_hash, arena, n_in, n_out))
        return GeneratedModel(
            sources=(out_dir / "model.cc", *sources),
            include_dirs=tuple(tree / d for d in TFLM_INCLUDES),
            input_bytes=n_in, output_bytes=n_out, arena_bytes=arena,
            input_dtype="int8", output_dtype="int8",
            defines=("-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON"),
            input_quant=qgraph.input_q, output_quant=qgraph.output_q,
            input_layout="hwc", output_layout="hwc",
            extra={"tflm_root": str(tree), "operators": ops})


def _operators(tflite: bytes) -> list[str]:
    from harness.export.tflite import _schema

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(tflite, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    return sorted({names[c.builtinCode] for c in model.operatorCodes})


def _tflm_sources(tree: Path, cmsis_nn: str | None) -> list[Path]:
    found: list[Path] = []
    for pattern in TFLM_SOURCES:
        found += sorted(p for p in tree.glob(pattern) if not p.name.endswith("_test.cc"))
    if cmsis_nn:
        cmsis = sorted((tree / "tensorflow/lite/micro/kernels/cmsis_nn").glob("*.cc"))
        replaced = {p.name for p in cmsis}
        found = [p for p in found if p.name not in replaced or "cmsis_nn" in p.parts] + cmsis
        found += sorted(Path(cmsis_nn).glob("Source/*/*.c"))
    if not found:
        raise ToolMissingError(f"no TFLM sources found under {tree}")
    return found


def _arena_estimate(tflite: bytes, qgraph: QGraph) -> int:
    """The arena the firmware reserves: what the host interpreter recorded for
    the same file, plus TFLM's per-target alignment slack."""
    from harness.export.tflite import TflmInterpreter

    recorded = TflmInterpreter(tflite, qgraph).arena_bytes()
    if recorded is None:
        raise ToolMissingError("TFLM did not report its arena use for this model")
    return (recorded + 1024 + 15) // 16 * 16


def _glue(tflite: bytes, ops: list[str], model_hash: bytes, arena: int, n_in: int,
          n_out: int) -> str:
    missing = [op for op in ops if op not in _RESOLVER]
    if missing:
        raise ConfigError(f"no MicroMutableOpResolver entry for {', '.join(missing)}")
    body = ",".join(f"0x{b:02x}" if i % 16 else f"\n    0x{b:02x}" for i, b in enumerate(tflite))
    adds = "\n".join(f"    resolver.{_RESOLVER[op]}();" for op in ops)
    hash_bytes = ", ".join(f"0x{b:02x}" for b in model_hash[:8])
    return f"""// Generated by bench (harness/engines/tflm.py): TFLite Micro under bench's runtime.
#include <stdint.h>
#include <string.h>

#include "bench_model.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

alignas(16) static const uint8_t model_tflite[{len(tflite)}] = {{{body}
}};
alignas(16) static uint8_t tensor_arena[{arena}];
static tflite::MicroMutableOpResolver<{len(ops)}> resolver;
static tflite::MicroInterpreter *interpreter;

extern "C" const bench_model_info_t bench_model_info = {{
    {n_in}u, {n_out}u, {arena}u, BENCH_DTYPE_INT8, BENCH_DTYPE_INT8, {{0, 0}},
    {{{hash_bytes}}}, "tflm",
}};

// Our startup code runs no C++ constructors, so the interpreter is set up on
// the first call: the first sample's count includes AllocateTensors().
static int32_t setup(void) {{
{adds}
    static tflite::MicroInterpreter interp(tflite::GetModel(model_tflite), resolver,
                                           tensor_arena, sizeof tensor_arena);
    interpreter = &interp;
    return interpreter->AllocateTensors() == kTfLiteOk ? 0 : -1;
}}

extern "C" int32_t bench_model_run(const void *input, void *output) {{
    if (interpreter == nullptr && setup() != 0) {{
        return -1;
    }}
    memcpy(interpreter->input(0)->data.int8, input, interpreter->input(0)->bytes);
    if (interpreter->Invoke() != kTfLiteOk) {{
        return -1;
    }}
    memcpy(output, interpreter->output(0)->data.int8, interpreter->output(0)->bytes);
    return 0;
}}

// model hash {model_hash.hex()}
"""

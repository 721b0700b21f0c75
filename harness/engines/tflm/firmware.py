"""TFLite Micro firmware: the model as a ``const`` array, ``model.cc``
implementing bench_model.h with a MicroMutableOpResolver of the operators the
file uses, and the TFLM sources (from the user's ``TFLM_ROOT``, with
CMSIS-NN from ``TFLM_CMSIS_NN``) the build compiles for the board.

Built as TFLM's own Makefile builds a release (``BUILD_TYPE=release``): no
logging, error strings stripped, only the kernels the model's operators
need, and TFLM's third-party headers (flatbuffers, gemmlowp, ruy) found
where its Makefile downloads them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.engines.tflm.interpreter import TflmInterpreter
from harness.errors import ConfigError, ToolMissingError
from harness.export.tflite import schema
from harness.kinds import DType
from harness.quant.schemes import QGraph

ROOT_VAR = "TFLM_ROOT"
CMSIS_NN_VAR = "TFLM_CMSIS_NN"
# Where TFLM's Makefile puts what it downloads (tools/make/*_download.sh),
# relative to TFLM_ROOT; each may be overridden by its variable.
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
THIRD_PARTY = {  # name -> (variable, header that proves it, include dir inside)
    "flatbuffers": ("TFLM_FLATBUFFERS", "include/flatbuffers/flatbuffers.h", "include"),
    "gemmlowp": ("TFLM_GEMMLOWP", "fixedpoint/fixedpoint.h", "."),
    "ruy": ("TFLM_RUY", "ruy/profiler/instrumentation.h", "."),
}

# The interpreter and what every model needs, relative to TFLM_ROOT. Test
# helpers, the recording allocator, the profiler and the platform files
# (debug_log, micro_time, system_setup) are left out: a release build with
# stripped error strings never calls them.
CORE_SOURCES = (
    "tensorflow/lite/micro/flatbuffer_utils.cc",
    "tensorflow/lite/micro/memory_helpers.cc",
    "tensorflow/lite/micro/micro_allocation_info.cc",
    "tensorflow/lite/micro/micro_allocator.cc",
    "tensorflow/lite/micro/micro_context.cc",
    "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_interpreter_context.cc",
    "tensorflow/lite/micro/micro_interpreter_graph.cc",
    "tensorflow/lite/micro/micro_log.cc",
    "tensorflow/lite/micro/micro_op_resolver.cc",
    "tensorflow/lite/micro/micro_resource_variable.cc",
    "tensorflow/lite/micro/micro_utils.cc",
    "tensorflow/lite/micro/arena_allocator/non_persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/persistent_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.cc",
    "tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/linear_memory_planner.cc",
    "tensorflow/lite/micro/memory_planner/non_persistent_buffer_planner_shim.cc",
    "tensorflow/lite/micro/tflite_bridge/flatbuffer_conversions_bridge.cc",
    "tensorflow/lite/micro/tflite_bridge/micro_error_reporter.cc",
    "tensorflow/lite/micro/kernels/kernel_util.cc",
    "tensorflow/lite/micro/kernels/micro_tensor_utils.cc",
    "tensorflow/lite/core/c/common.cc",
    "tensorflow/lite/core/api/flatbuffer_conversions.cc",
    "tensorflow/lite/core/api/tensor_utils.cc",
    "tensorflow/lite/kernels/internal/common.cc",
    "tensorflow/lite/kernels/internal/portable_tensor_utils.cc",
    "tensorflow/lite/kernels/internal/quantization_util.cc",
    "tensorflow/lite/kernels/internal/runtime_shape.cc",
    "tensorflow/lite/kernels/internal/tensor_ctypes.cc",
    "tensorflow/lite/kernels/internal/tensor_utils.cc",
    "tensorflow/lite/kernels/kernel_util.cc",
    "tensorflow/compiler/mlir/lite/schema/schema_utils.cc",
)
KERNELS = "tensorflow/lite/micro/kernels"
DEFINES = ("-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DNDEBUG",
           "-DTF_LITE_STRIP_ERROR_STRINGS")
CMSIS_NN_DEFINES = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")


@dataclass(frozen=True)
class Op:
    """How the glue registers one TFLite builtin and which kernel files
    (``KERNELS``/<stem>.cc and <stem>_common.cc) implement it."""

    method: str  # MicroMutableOpResolver::Add...
    stem: str
    int8: str | None = None  # the int8-only registration, where TFLM has one
    header: str | None = None  # declares int8 (under kernels/)


OPS = {
    "CONV_2D": Op("AddConv2D", "conv", "Register_CONV_2D_INT8", "conv.h"),
    "DEPTHWISE_CONV_2D": Op("AddDepthwiseConv2D", "depthwise_conv",
                            "Register_DEPTHWISE_CONV_2D_INT8", "depthwise_conv.h"),
    "FULLY_CONNECTED": Op("AddFullyConnected", "fully_connected",
                          "Register_FULLY_CONNECTED_INT8", "fully_connected.h"),
    "MAX_POOL_2D": Op("AddMaxPool2D", "pooling", "Register_MAX_POOL_2D_INT8", "pooling.h"),
    "AVERAGE_POOL_2D": Op("AddAveragePool2D", "pooling", "Register_AVERAGE_POOL_2D_INT8",
                          "pooling.h"),
    "ADD": Op("AddAdd", "add", "Register_ADD_INT8", "add.h"),
    "MUL": Op("AddMul", "mul", "Register_MUL_INT8", "mul.h"),
    "PAD": Op("AddPad", "pad", "Register_PAD_INT8", "pad.h"),
    "PADV2": Op("AddPadV2", "pad"),
    "TRANSPOSE": Op("AddTranspose", "transpose", "Register_TRANSPOSE_INT8", "transpose.h"),
    "SOFTMAX": Op("AddSoftmax", "softmax", "Register_SOFTMAX_INT8", "softmax.h"),
    "RESHAPE": Op("AddReshape", "reshape"),
    "STRIDED_SLICE": Op("AddStridedSlice", "strided_slice"),
    "SLICE": Op("AddSlice", "slice"),
    "CONCATENATION": Op("AddConcatenation", "concatenation"),
    "MEAN": Op("AddMean", "reduce"),
    "RELU": Op("AddRelu", "activations"),
    "RELU6": Op("AddRelu6", "activations"),
}


@dataclass(frozen=True)
class TflmTree:
    """A tflite-micro source tree and what its build needs beside it."""

    root: Path
    third_party: dict[str, Path]  # name -> include dir
    cmsis_nn: Path | None = None

    @property
    def variant(self) -> str:
        """The engine's name in the store and reports: a CMSIS-NN build is
        other firmware than a reference one."""
        return "tflm+cmsis-nn" if self.cmsis_nn is not None else "tflm"

    def include_dirs(self) -> tuple[Path, ...]:
        dirs = [self.root, *self.third_party.values()]
        if self.cmsis_nn is not None:
            # TFLM's cmsis_nn kernels include "Include/arm_nnfunctions.h",
            # CMSIS-NN's own sources "arm_nnfunctions.h".
            dirs += [self.cmsis_nn, self.cmsis_nn / "Include"]
        return tuple(dirs)

    def defines(self) -> tuple[str, ...]:
        return DEFINES + (CMSIS_NN_DEFINES if self.cmsis_nn is not None else ())


def find_tree(env: dict[str, str] | os._Environ[str] = os.environ) -> TflmTree:
    """The tree ``TFLM_ROOT`` names, its third-party headers (each from its
    own variable, else TFLM's downloads folder) and CMSIS-NN when
    ``TFLM_CMSIS_NN`` is set; ToolMissingError naming what is missing."""
    root = env.get(ROOT_VAR)
    if not root:
        raise ToolMissingError(f"TFLM firmware needs a tflite-micro source tree: set "
                               f"{ROOT_VAR}=/path/to/tflite-micro (bench run without it "
                               f"measures TFLM in its host interpreter)")
    tree = Path(root).expanduser().resolve()
    if not (tree / "tensorflow/lite/micro/micro_interpreter.h").is_file():
        raise ToolMissingError(f"{ROOT_VAR}={root} is not a tflite-micro source tree "
                               f"(no tensorflow/lite/micro/micro_interpreter.h)")
    third: dict[str, Path] = {}
    for name, (var, proof, inc) in THIRD_PARTY.items():
        where = Path(env[var]).expanduser() if env.get(var) else tree / DOWNLOADS / name
        if not (where / proof).is_file():
            raise ToolMissingError(
                f"TFLM needs {name} and it is not in {where} (no {proof}): run TFLM's "
                f"download once (cd {tree} && make -f tensorflow/lite/micro/tools/make/"
                f"Makefile third_party_downloads) or set {var} to a {name} checkout")
        third[name] = (where / inc).resolve()
    cmsis: Path | None = None
    if env.get(CMSIS_NN_VAR):
        cmsis = Path(env[CMSIS_NN_VAR]).expanduser().resolve()
        if not (cmsis / "Include/arm_nnfunctions.h").is_file():
            raise ToolMissingError(f"{CMSIS_NN_VAR}={env[CMSIS_NN_VAR]} is not a CMSIS-NN "
                                   f"tree (no Include/arm_nnfunctions.h)")
    return TflmTree(tree, third, cmsis)


def operators(tflite: bytes) -> list[str]:
    s = schema()
    model = s.ModelT.InitFromPackedBuf(tflite, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    return sorted({names[c.builtinCode] for c in model.operatorCodes})


def _unknown(ops: list[str]) -> None:
    missing = [op for op in ops if op not in OPS]
    if missing:
        raise ConfigError(f"bench's TFLM glue has no registration for {', '.join(missing)}")


def tflm_sources(tree: TflmTree, ops: list[str]) -> list[Path]:
    """The interpreter plus the kernels ``ops`` need (CMSIS-NN's version of a
    kernel where it has one, and CMSIS-NN's integer sources)."""
    _unknown(ops)
    found = [tree.root / s for s in CORE_SOURCES]
    kernels = tree.root / KERNELS
    for stem in sorted({OPS[op].stem for op in ops}):
        for name in (f"{stem}.cc", f"{stem}_common.cc"):
            optimized = kernels / "cmsis_nn" / name
            if tree.cmsis_nn is not None and optimized.is_file():
                found.append(optimized)
            elif (kernels / name).is_file():
                found.append(kernels / name)
    missing = [p for p in found if not p.is_file()]
    if missing:
        raise ToolMissingError(f"{tree.root} lacks {missing[0].relative_to(tree.root)}: a "
                               f"tflite-micro tree of another layout than bench knows")
    if tree.cmsis_nn is not None:
        found += cmsis_nn_sources(tree.cmsis_nn, [p for p in found if "cmsis_nn" in p.parts])
    return found


_CALL = re.compile(r"\b(arm_\w+)\s*\(")
_DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(arm_\w+)\s*\(", re.MULTILINE)


def cmsis_nn_sources(cmsis_nn: Path, kernels: list[Path]) -> list[Path]:
    """The CMSIS-NN sources ``kernels`` (TFLM's cmsis_nn/*.cc) reach: every
    function they call, then every function those call, found by where each
    is defined (a definition starts its line; a call never does in CMSIS-NN's
    style), plus the shared tables. Integer sources only, as TFLM's
    cmsis_nn.inc builds it (ARM_NN_ENABLE_F16/F32=0). Over-approximates
    (calls in other architectures' branches), never misses a callee."""
    defined: dict[str, Path] = {}
    texts: dict[Path, str] = {}
    for p in sorted((cmsis_nn / "Source").rglob("*.c")):
        if p.name.endswith(("_f16.c", "_f32.c", "_flt.c")):
            continue
        texts[p] = p.read_text(errors="replace")
        for name in _DEFINITION.findall(texts[p]):
            defined.setdefault(name, p)
    tables = cmsis_nn / "Source/NNSupportFunctions/arm_nntables.c"
    todo = [k.read_text(errors="replace") for k in kernels]
    chosen: set[Path] = {tables} if tables in texts else set()
    while todo:
        for name in _CALL.findall(todo.pop()):
            p = defined.get(name)
            if p is not None and p not in chosen:
                chosen.add(p)
                todo.append(texts[p])
    return sorted(chosen)


def _aligned(n: int) -> int:
    return (n + 15) // 16 * 16  # TFLM's arena alignment


def _measured_file(tflite: bytes, tree: TflmTree, measured_dir: Path) -> Path:
    """Where a target's report of this model's arena is kept: per model file,
    TFLM tree and kernel variant (CMSIS-NN's kernels keep scratch buffers)."""
    key = hashlib.sha256(tflite + str(tree.root).encode() + tree.variant.encode())
    return measured_dir / f"{key.hexdigest()[:24]}.json"


def record_target_arena(tflite: bytes, tree: TflmTree, measured_dir: Path,
                        used_bytes: int) -> None:
    """Keep what a Cortex-M target reported using (arena_used_bytes()), for
    the next build of the same model to reserve exactly that."""
    measured_dir.mkdir(parents=True, exist_ok=True)
    _measured_file(tflite, tree, measured_dir).write_text(json.dumps({"used_bytes": used_bytes}))


def arena_estimate(tflite: bytes, qgraph: QGraph, tree: TflmTree | None = None,
                   measured_dir: Path | None = None) -> tuple[int, str]:
    """The arena the firmware reserves and where the figure comes from: what
    a Cortex-M target reported using for the same model, tree and variant
    when one has; else what the host interpreter recorded (64-bit pointers:
    at least what the Cortex-M needs). Rounded to 16 bytes."""
    if tree is not None and measured_dir is not None:
        try:
            used = int(json.loads(_measured_file(tflite, tree, measured_dir).read_text())
                       ["used_bytes"])
            if used > 0:
                return _aligned(used), "target"
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not measured yet (or unreadable): the host's figure
    recorded = TflmInterpreter(tflite, qgraph).arena_bytes()
    if recorded is None:
        raise ToolMissingError("TFLM did not report its arena use for this model")
    return _aligned(recorded), "host"


def _registration(op: Op) -> str:
    """The int8-only kernel where TFLM has one (the generic registration also
    links the int4 and int16 kernels), else the default argument."""
    return f"tflite::{op.int8}()" if op.int8 else ""


def glue(tflite: bytes, ops: list[str], model_hash: bytes, arena: int, n_in: int,
         n_out: int, variant: str = "tflm") -> str:
    _unknown(ops)
    body = ",".join(f"0x{b:02x}" if i % 16 else f"\n    0x{b:02x}" for i, b in enumerate(tflite))
    headers = sorted({OPS[op].header for op in ops if OPS[op].header})
    includes = "\n".join(f'#include "{KERNELS}/{h}"' for h in headers)
    adds = "\n".join(f"    r->{OPS[op].method}({_registration(OPS[op])});" for op in ops)
    info = model_info_c(ModelInfo(engine=variant, input_bytes=n_in, output_bytes=n_out,
                                  arena_bytes=arena, input_dtype=DType.INT8,
                                  output_dtype=DType.INT8, model_hash=model_hash), cxx=True)
    return f"""// Generated by bench (engine {variant}): TFLite Micro under bench's runtime.
#include <new>
#include <stdint.h>
#include <string.h>

#include "bench_model.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
{includes}

using Resolver = tflite::MicroMutableOpResolver<{len(ops)}>;

alignas(16) static const uint8_t model_tflite[{len(tflite)}] = {{{body}
}};
alignas(16) static uint8_t tensor_arena[{arena}];
// bench's startup runs no C++ constructors (no .init_array): the resolver
// and interpreter are built in place here, in bench_model_setup().
alignas(Resolver) static uint8_t resolver_mem[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) static uint8_t interpreter_mem[sizeof(tflite::MicroInterpreter)];
static tflite::MicroInterpreter *interpreter;  // set only once its tensors are allocated

{info}
// Called once at boot, before the first handshake and outside every timed
// region: the first sample's count holds one inference, not the set-up.
extern "C" int32_t bench_model_setup(void) {{
    Resolver *r = new (resolver_mem) Resolver();
{adds}
    tflite::MicroInterpreter *interp = new (interpreter_mem) tflite::MicroInterpreter(
        tflite::GetModel(model_tflite), *r, tensor_arena, sizeof tensor_arena);
    if (interp->AllocateTensors() != kTfLiteOk) {{
        return -1;
    }}
    interpreter = interp;
    return 0;
}}

// What TFLM used of the arena on this target, for the handshake.
extern "C" uint32_t bench_model_arena_bytes(void) {{
    return interpreter == nullptr ? 0u : (uint32_t)interpreter->arena_used_bytes();
}}

extern "C" int32_t bench_model_run(const void *input, void *output) {{
    if (interpreter == nullptr) {{
        return -1;
    }}
    memcpy(interpreter->input(0)->data.int8, input, interpreter->input(0)->bytes);
    if (interpreter->Invoke() != kTfLiteOk) {{
        return -1;
    }}
    memcpy(output, interpreter->output(0)->data.int8, interpreter->output(0)->bytes);
    return 0;
}}

// TFLITE_ABORT calls abort(); newlib's raises a signal, which pulls in
// malloc, and bench's firmware has no heap. Stop here instead: the host
// sees a silent device and says so.
extern "C" void abort(void) {{
    for (;;) {{
    }}
}}

// model hash {model_hash.hex()}
"""

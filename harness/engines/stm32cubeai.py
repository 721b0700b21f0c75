"""The stm32cubeai engine: ST's STM32Cube.AI / ST Edge AI Core as a peer.

Two ways in:

- ``stedgeai`` on PATH (or ``STEDGEAI_CORE_DIR`` set): ``generate()``
  writes our int8 graph as a ``.tflite`` file (harness/export/tflite.py), runs
  ``stedgeai generate --target stm32`` on it and builds the generated
  ``network.c`` / ``network_data.c`` with ST's prebuilt Cortex-M4 network
  runtime library (our STM32 boards are M4s) under our runtime, board
  support and protocol: ``model.c`` here
  implements bench_model.h with the documented ``ai_network_*`` API
  (create_and_init, inputs_get/outputs_get, run). ST's tool cannot be
  installed on the machine this was written on (licence click-through), so
  the path is kept thin and untested beyond its error messages.
- ``bench import-cubeai REPORT`` (harness/imports/cubeai.py): the files a
  user's own ``stedgeai`` run left behind, read here, go into the store as
  imported rows (backend
  ``imported``): ``<name>_c_info.json`` (JSON schema 2.0: memory
  footprint, MACC per node) and, when present beside it,
  ``<name>_validate_report.txt`` (on-target cycles or duration, accuracy).
  Imported rows carry their figures at run level (no samples) and their
  file's path; reports mark them as imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.boards import Board
from harness.checks import Check
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.codegen.c import ModelInfo, model_info_c
from harness.errors import ConfigError, EngineError, ToolMissingError
from harness.export.tflite import export_tflite
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph, numel
from harness.quant import QuantConfig
from harness.quant.schemes import quantize_graph

TOOL = "stedgeai"
ROOT_VAR = "STEDGEAI_CORE_DIR"
# Where an ST Edge AI Core install keeps the network runtime (documented
# layout; the library name carries the runtime version).
RUNTIME_INC = "Middlewares/ST/AI/Inc"
RUNTIME_LIB = "Middlewares/ST/AI/Lib/GCC/ARMCortexM4"


def series(board: Board) -> str:
    """ST's --target name for a board: stm32l4 for an STM32L452RE."""
    part = board.part.lower()
    if not part.startswith("stm32"):
        raise ConfigError(f"STM32Cube.AI targets STM32 parts; board {board.name} is a "
                          f"{board.part}")
    return part[:7]


def find_tool() -> Path | None:
    root = os.environ.get(ROOT_VAR)
    if root and (Path(root) / "Utilities/linux/stedgeai").exists():
        return Path(root) / "Utilities/linux/stedgeai"
    found = shutil.which(TOOL)
    return Path(found) if found else None


class StmCubeAiEngine(Engine):
    name = "stm32cubeai"
    capabilities = Capabilities(
        dtypes=(DType.INT8,),
        schemes={DType.INT8: (Scheme.AFFINE,)})  # the .tflite it is given is TFLite's int8

    def checks(self) -> list[Check]:
        tool = find_tool()
        return [Check("stedgeai (stm32cubeai firmware)", tool is not None,
                      str(tool) if tool else f"not on PATH and no {ROOT_VAR}: import its "
                      f"reports with 'bench import-cubeai'", required=False)]

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        tool = find_tool()
        if tool is None:
            raise ToolMissingError(f"the stm32cubeai engine needs ST's {TOOL} on PATH (or "
                                   f"{ROOT_VAR}); without it, import its reports with "
                                   f"'bench import-cubeai REPORT'")
        if dtype != DType.INT8 or quant is None or quant.scheme != Scheme.AFFINE:
            raise ConfigError("engine stm32cubeai builds int8 models with the affine scheme")

        qgraph = quantize_graph(graph, quant, dtype)
        out_dir.mkdir(parents=True, exist_ok=True)
        model = out_dir / "model.tflite"
        model.write_bytes(export_tflite(qgraph))
        gen_dir = out_dir / "stedgeai"
        cmd = [str(tool), "generate", "--model", str(model), "--target", "stm32",
               "--name", "network", "--output", str(gen_dir),
               "--workspace", str(out_dir / "stedgeai-ws")]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        (out_dir / "stedgeai.log").write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EngineError(f"{TOOL} generate failed: {last[0]} (log: "
                              f"{out_dir / 'stedgeai.log'})")
        root = tool.parent.parent.parent
        libs = sorted((root / RUNTIME_LIB).glob("NetworkRuntime*_CM4_GCC.a"))
        if not libs:
            raise ToolMissingError(f"no network runtime library under {root / RUNTIME_LIB}")
        info = read_c_info(next(gen_dir.glob("*_c_info.json")))
        n_in, n_out = numel(graph.input_shape), numel(graph.output_shape)
        (out_dir / "model.c").write_text(_glue(model_hash, n_in, n_out, info.activations_bytes))
        return GeneratedModel(
            sources=(out_dir / "model.c", gen_dir / "network.c", gen_dir / "network_data.c"),
            include_dirs=(gen_dir, root / RUNTIME_INC), input_bytes=n_in, output_bytes=n_out,
            arena_bytes=info.activations_bytes, input_dtype=DType.INT8, output_dtype=DType.INT8,
            libraries=(libs[-1],), input_quant=qgraph.input_q, output_quant=qgraph.output_q,
            input_layout=Layout.HWC, output_layout=Layout.HWC,
            extra={"stedgeai": info.tool_version})


def _glue(model_hash: bytes, n_in: int, n_out: int, activations: int) -> str:
    info = model_info_c(ModelInfo(engine="stm32cubeai", input_bytes=n_in, output_bytes=n_out,
                                  arena_bytes=activations, input_dtype=DType.INT8,
                                  output_dtype=DType.INT8, model_hash=model_hash))
    return f"""/* Generated by bench (harness/engines/stm32cubeai.py): ST's network, our runtime. */
#include <stdint.h>

#include "bench_model.h"
#include "network.h"
#include "network_data.h"

{info}
AI_ALIGNED(32) static ai_u8 activations[AI_NETWORK_DATA_ACTIVATIONS_SIZE];
static ai_handle network = AI_HANDLE_NULL;

/* Set up on the first call (our startup has no init hook for models): the
 * first sample's count includes it. */
int32_t bench_model_run(const void *input, void *output)
{{
    if (network == AI_HANDLE_NULL) {{
        const ai_handle acts[] = {{activations}};
        if (ai_network_create_and_init(&network, acts, NULL).type != AI_ERROR_NONE) {{
            return -1;
        }}
    }}
    ai_buffer *in = ai_network_inputs_get(network, NULL);
    ai_buffer *out = ai_network_outputs_get(network, NULL);
    in[0].data = AI_HANDLE_PTR(input);
    out[0].data = AI_HANDLE_PTR(output);
    return ai_network_run(network, in, out) == 1 ? 0 : -1;
}}
"""


# -- reading a stedgeai run's files ------------------------------------------------


@dataclass(frozen=True)
class CubeAiInfo:
    """What ``<name>_c_info.json`` (schema 2.0) says about a generated network."""

    file: Path
    c_name: str
    model_name: str
    tool_version: str
    series: str | None
    macc: int
    weights_bytes: int
    activations_bytes: int
    io_bytes: tuple[int, ...]
    kernel_flash_bytes: int | None  # the runtime library's share, when the report has it
    kernel_ram_bytes: int | None

    @property
    def rom_bytes(self) -> int:
        return self.weights_bytes + (self.kernel_flash_bytes or 0)

    @property
    def ram_bytes(self) -> int:
        return self.activations_bytes + (self.kernel_ram_bytes or 0)


@dataclass(frozen=True)
class CubeAiValidation:
    """On-target figures from ``<name>_validate_report.txt``."""

    file: Path
    samples: int | None
    duration_ms: float | None
    cycles: int | None
    clock_hz: int | None
    accuracy: float | None  # 0..1


def _version(v: object) -> str:
    if isinstance(v, dict):
        return ".".join(str(v.get(k, 0)) for k in ("major", "minor", "micro"))
    return str(v)


def read_c_info(path: Path) -> CubeAiInfo:
    try:
        d = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not text ({e.reason} at byte {e.start}): an ST Edge AI "
                          f"c_info file is JSON") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not JSON: {e}") from e
    if not isinstance(d, dict) or d.get("json_schema_version") != "2.0":
        got = d.get("json_schema_version") if isinstance(d, dict) else None
        raise ConfigError(f"{path} is not an ST Edge AI c_info file of JSON schema 2.0 "
                          f"(json_schema_version {got!r})")
    try:
        mem = d["memory_footprint"]
        tool = d["environment"]["tools"][0]
        nodes = d["graphs"][0]["nodes"]
        kernel_flash = mem.get("kernel_flash")
        kernel_ram = mem.get("kernel_ram")
        # Only plausible figures are stored: a negative size or MACC count is
        # a damaged or hand-edited file, not a measurement.
        sizes = {f"memory_footprint.{k}": mem.get(k) for k in ("weights", "activations",
                                                                "kernel_flash", "kernel_ram")}
        sizes |= {f"memory_footprint.io[{i}]": v for i, v in enumerate(mem.get("io", ()))}
        sizes |= {f"graphs[0].nodes[{i}].macc": n["macc"] for i, n in enumerate(nodes)}
        for field_name, value in sizes.items():
            if value is not None and float(value) < 0:
                raise ConfigError(f"{path}: {field_name} is {value}: it cannot be negative "
                                  f"(a damaged or edited report?); nothing was stored")
        return CubeAiInfo(
            file=Path(path), c_name=d["environment"]["generated_model"]["name"],
            model_name=tool["input_model"]["name"], tool_version=_version(tool["version"]),
            series=mem.get("series"), macc=sum(int(n["macc"]) for n in nodes),
            weights_bytes=int(mem["weights"]), activations_bytes=int(mem["activations"]),
            io_bytes=tuple(int(v) for v in mem.get("io", ())),
            kernel_flash_bytes=None if kernel_flash is None else int(kernel_flash),
            kernel_ram_bytes=None if kernel_ram is None else int(kernel_ram))
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ConfigError(f"{path} lacks {e} where an ST Edge AI c_info file has it") from e


_NUM = r"([\d,]+(?:\.\d+)?)"


def _number(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text, re.MULTILINE)
    return None if m is None else float(m.group(1).replace(",", ""))


def read_validation(path: Path) -> CubeAiValidation:
    """The on-target part of a validate report: ST's two formats (the older
    'duration : X ms (average)' + 'CPU cycles', and 'ST.AI Profiling
    results v2.0' with 'duration : X ms by sample')."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    duration = _number(rf"^\s*duration\s*:\s*{_NUM}\s*ms", text)
    cycles = _number(rf"^\s*CPU cycles\s*:\s*{_NUM}", text)
    samples = _number(rf"^\s*nb sample\(s\)\s*:\s*{_NUM}", text)
    mhz = _number(r"@\s*(\d+)(?:/\d+)?\s*MHz", text)
    cpm = _number(rf"^\s*cycles/MACC\s*:\s*{_NUM}", text)
    macc = _number(r"\bmacc\s*:\s*([\d,]+)", text)
    if cycles is None and cpm is not None and macc is not None:
        cycles = cpm * macc
    acc = None
    m = re.search(r"^\s*TARGET c-model #1\s+([\d.]+)%", text, re.MULTILINE)
    if m:
        acc = float(m.group(1)) / 100
    if duration is None and cycles is None and acc is None:
        raise ConfigError(f"{path} has no on-target duration, cycles or accuracy: is it a "
                          f"'stedgeai validate --mode target' report?")
    # (the patterns take no sign, so nothing read here is negative)
    for field_name, bad, why in (
            ("accuracy", acc is not None and acc > 1, f"{m and m.group(1)}% is over 100%"),
            ("nb sample(s)", samples is not None and samples < 1, f"{samples} samples"),
            ("clock", mhz is not None and mhz <= 0, f"{mhz} MHz")):
        if bad:
            raise ConfigError(f"{path}: {field_name} is not plausible ({why}); nothing was "
                              f"stored")
    return CubeAiValidation(file=Path(path), samples=None if samples is None else int(samples),
                            duration_ms=duration, cycles=None if cycles is None else
                            int(round(cycles)), clock_hz=None if mhz is None else
                            int(mhz * 1e6), accuracy=acc)


def find_reports(report: Path) -> tuple[Path, Path | None]:
    """The c_info file and, when there is one beside it, the validate report."""
    report = Path(report)
    if report.is_dir():
        infos = sorted(report.glob("*_c_info.json"))
        if not infos:
            raise ConfigError(f"no *_c_info.json in {report}: point at a stedgeai output "
                              f"folder or the file itself")
        info = infos[0]
    elif report.exists():
        info = report
    else:
        raise ConfigError(f"{report} does not exist")
    stem = info.name.removesuffix("_c_info.json")
    validate = info.parent / f"{stem}_validate_report.txt"
    return info, validate if validate.exists() else None

"""The tflm engine: TensorFlow Lite Micro as a peer, int8 only.

Our int8 affine QGraph is written as a ``.tflite`` file
(harness/export/tflite.py: no TensorFlow converter) and run two ways:

- Host (always available with the ``tflite-micro`` package): TFLM's own
  interpreter, built for the host, runs every sample (interpreter.py). A run
  stores accuracy, TFLM's arena bytes and each output's distance to our
  integer reference (0 means TFLM computed the same bits as our engine); it
  has no instruction or cycle count and no ROM/RAM (nothing was built for a
  board), and is stored with backend ``host``.
- Firmware (``TFLM_ROOT`` points at a tflite-micro source tree, optionally
  with CMSIS-NN under ``TFLM_CMSIS_NN``): firmware.py writes the glue and
  lists the TFLM sources the model's operators need; the build compiles them
  for the board under our runtime and protocol. The interpreter is set up at
  boot, outside the timed region, and the handshake carries the arena bytes
  TFLM used on the target. A CMSIS-NN build is stored as ``tflm+cmsis-nn``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from harness.checks import Check, package
from harness.engines.base import Capabilities, Engine, GeneratedModel, HostInterpreter, HostModel
from harness.engines.tflm import firmware
from harness.engines.tflm.interpreter import TflmInterpreter
from harness.errors import ConfigError, ToolMissingError
from harness.export.tflite import export_tflite
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph, numel
from harness.paths import build_root
from harness.quant import QuantConfig
from harness.quant.schemes import QGraph, quantize_graph

ARENA_DIR = "tflm-arena"  # under build/: what targets reported using, per model

ROOT_VAR = firmware.ROOT_VAR


class TflmHostInterpreter(HostInterpreter):
    def __init__(self, tflite: bytes, qgraph: QGraph) -> None:
        self.qgraph = qgraph
        self.interp = TflmInterpreter(tflite, qgraph)

    def infer(self, x: np.ndarray) -> np.ndarray:
        q = self.qgraph.input_q.quantize(np.asarray(x)[None])[0]
        out = self.qgraph.output_q.dequantize(self.interp.invoke(q))
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def arena_bytes(self) -> int | None:
        return self.interp.arena_bytes()


@dataclass
class TflmHostModel(HostModel):
    qgraph: QGraph
    tflite: bytes
    file: Path
    version: str

    def open(self) -> HostInterpreter:
        return TflmHostInterpreter(self.tflite, self.qgraph)


def tflm_version() -> str:
    try:
        return f"tflite-micro {version('tflite-micro')}"
    except PackageNotFoundError:
        return "tflite-micro (not installed)"


# PyTorch pads symmetrically; where TFLite's SAME padding differs (stride 2,
# even kernels), the export writes explicit PAD operators, whose outputs TFLM
# keeps in its arena.
PAD_NOTE = ("PyTorch's padding exported as explicit PAD operators where TFLite's SAME "
            "padding differs (exact arithmetic; TFLM's arena holds the padded tensors)")


class TflmEngine(Engine):
    name = "tflm"
    capabilities = Capabilities(
        dtypes=(DType.INT8,),
        schemes={DType.INT8: (Scheme.AFFINE,)},  # TFLite's int8 scheme: per-channel affine
        integer_reference=True,  # our affine arithmetic is TFLM's, bit for bit
        host_interpreter=True,
        arena_on_target=True)

    def host_reason(self) -> str | None:
        if os.environ.get(ROOT_VAR):
            return None
        return (f"{ROOT_VAR} is not set, so TFLite Micro runs in its host interpreter: "
                f"accuracy and arena bytes only, no device counts or ROM/RAM")

    def host_model(self, graph: Graph, out_dir: Path, dtype: DType,
                   quant: QuantConfig | None) -> HostModel:
        qgraph = self._qgraph(graph, dtype, quant)
        data = export_tflite(qgraph)
        out_dir.mkdir(parents=True, exist_ok=True)
        file = out_dir / "model.tflite"
        file.write_bytes(data)
        return TflmHostModel(qgraph, data, file, tflm_version())

    def _qgraph(self, graph: Graph, dtype: DType, quant: QuantConfig | None) -> QGraph:
        if dtype != DType.INT8 or quant is None:
            raise ConfigError(f"engine tflm supports int8 only (TFLite's affine scheme), "
                              f"not {dtype}")
        if quant.scheme != Scheme.AFFINE:
            raise ConfigError(f"engine tflm has only the affine scheme, not {quant.scheme!r}")
        return quantize_graph(graph, quant, dtype)

    def variant(self) -> str:
        if os.environ.get(ROOT_VAR) and os.environ.get(firmware.CMSIS_NN_VAR):
            return "tflm+cmsis-nn"
        return self.name

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        tree = firmware.find_tree()
        qgraph = self._qgraph(graph, dtype, quant)
        data = export_tflite(qgraph)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.tflite").write_bytes(data)
        ops = firmware.operators(data)
        sources = firmware.tflm_sources(tree, ops)
        arena, source = firmware.arena_estimate(data, qgraph, tree, build_root() / ARENA_DIR)
        n_in, n_out = numel(graph.input_shape), numel(graph.output_shape)
        (out_dir / "model.cc").write_text(firmware.glue(data, ops, model_hash, arena, n_in,
                                                        n_out, tree.variant))
        return GeneratedModel(
            sources=(out_dir / "model.cc", *sources),
            include_dirs=tree.include_dirs(),
            input_bytes=n_in, output_bytes=n_out, arena_bytes=arena,
            input_dtype=DType.INT8, output_dtype=DType.INT8,
            defines=tree.defines(),
            input_quant=qgraph.input_q, output_quant=qgraph.output_q,
            input_layout=Layout.HWC, output_layout=Layout.HWC,
            extra={"tflm_root": str(tree.root), "operators": ops, "arena_from": source},
            note=PAD_NOTE if "PAD" in ops or "PADV2" in ops else None)

    def arena_reported(self, out_dir: Path, planned_bytes: int, used_bytes: int) -> bool:
        # TFLM allocates inside the arena at run time: the host interpreter's
        # figure (64-bit pointers) is 1-2 KB more than a Cortex-M uses.
        tflite = out_dir / "model.tflite"
        if used_bytes <= 0 or not tflite.is_file():
            return False
        firmware.record_target_arena(tflite.read_bytes(), firmware.find_tree(),
                                     build_root() / ARENA_DIR, used_bytes)
        return (used_bytes + 15) // 16 * 16 < planned_bytes

    def checks(self) -> list[Check]:
        rows = [package("tflite-micro", required=False,
                        hint="--engine tflm (host interpreter): pip install -e '.[tflm]' "
                        "(Linux x86-64 only)")]
        root = os.environ.get(ROOT_VAR)
        if not root:
            return [*rows, Check(f"{ROOT_VAR} (tflm firmware)", False,
                                 "unset: --engine tflm runs in the host interpreter",
                                 required=False)]
        try:
            tree = firmware.find_tree()
            rows.append(Check(f"{ROOT_VAR} (tflm firmware)", True,
                              f"{tree.root}; {tree.variant}" + "".join(
                                  f", {k} {v}" for k, v in tree.third_party.items())))
        except ToolMissingError as e:
            rows.append(Check(f"{ROOT_VAR} (tflm firmware)", False, str(e), required=False))
        return rows

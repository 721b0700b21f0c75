"""Qualia-CodeGen as a peer engine in the registry."""

from __future__ import annotations

from pathlib import Path

from harness.checks import Check, package
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.qualia.convert import ENGINE, LONG_WIDTH, generate_qualia, qualia_version
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph
from harness.paths import FIRMWARE
from harness.quant import QuantConfig


class QualiaEngine(Engine):
    """LEAT's Qualia-CodeGen, under bench's runtime, board code and flags."""

    name = ENGINE
    capabilities = Capabilities(
        dtypes=(DType.FLOAT32, DType.INT16, DType.INT8),
        schemes={DType.INT8: (Scheme.POT,), DType.INT16: (Scheme.POT,)})

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        b = generate_qualia(graph, out_dir, model_hash, dtype, quant)
        return GeneratedModel(
            sources=(b.wrapper_c, b.unit_c),
            include_dirs=(b.qualia_dir, b.qualia_dir / "include", FIRMWARE / "runtime"),
            input_bytes=b.input_bytes, output_bytes=b.output_bytes, arena_bytes=b.arena_bytes,
            input_dtype=DType(dtype), output_dtype=DType(dtype), input_layout=Layout.HWC,
            output_layout=Layout.HWC, input_quant=b.input_quant, output_quant=b.output_quant,
            layers=tuple({"name": li.ir_name, "op": li.op, "macs": li.macs} for li in b.layers),
            extra={"qualia_version": qualia_version(), "long_width": LONG_WIDTH[dtype],
                   "pool_bytes": b.pool_bytes,
                   "scratch_bytes": b.scratch_bytes,
                   "formats": b.formats, "layers": [dict(vars(li)) for li in b.layers]})

    def checks(self) -> list[Check]:
        return [package("qualia-codegen-core", required=False,
                        hint="peer engine for --engine qualia: pip install "
                        "qualia-codegen-core==2.6.0 tabulate (or 'make setup')")]

"""Qualia-CodeGen as a peer engine in the registry."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness.checks import Check, package
from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.qualia.convert import ENGINE, LONG_WIDTH, generate_qualia, qualia_version
from harness.engines.qualia.snn import PLUGIN
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph
from harness.paths import FIRMWARE
from harness.quant import QuantConfig


class QualiaEngine(Engine):
    """LEAT's Qualia-CodeGen, under bench's runtime, board code and flags."""

    name = ENGINE
    capabilities = Capabilities(
        dtypes=(DType.FLOAT32, DType.INT16, DType.INT8),
        schemes={DType.INT8: (Scheme.POT,), DType.INT16: (Scheme.POT,)},
        spiking=True)  # IF/LIF through qualia-codegen-plugin-snn; no spike counters

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        b = generate_qualia(graph, out_dir, model_hash, dtype, quant)
        return GeneratedModel(
            sources=(b.wrapper_c, b.unit_c),
            include_dirs=(b.qualia_dir, b.qualia_dir / "include", FIRMWARE / "runtime"),
            input_bytes=b.input_bytes, output_bytes=b.output_bytes, arena_bytes=b.arena_bytes,
            input_dtype=DType(dtype), output_dtype=DType(dtype), input_layout=Layout.HWC,
            output_layout=Layout.HWC, input_quant=b.input_quant, output_quant=b.output_quant,
            layers=_marked(graph, [{"name": li.ir_name, "op": li.op, "macs": li.macs}
                                   for li in b.layers]),
            extra={"qualia_version": qualia_version(), "long_width": LONG_WIDTH[dtype],
                   "pool_bytes": b.pool_bytes,
                   "scratch_bytes": b.scratch_bytes,
                   "formats": b.formats, "layers": [dict(vars(li)) for li in b.layers],
                   **({"plugin_version": snn_plugin_version(), "state_bytes": b.state_bytes,
                       "readout_bytes": b.readout_bytes} if graph.spiking else {})},
            note="; ".join(b.notes) or None)

    def checks(self) -> list[Check]:
        return [package("qualia-codegen-core", required=False,
                        hint="peer engine for --engine qualia: pip install "
                        "qualia-codegen-core==2.6.0 tabulate (or 'make setup')"),
                package(PLUGIN, required=False,
                        hint="spiking models with --engine qualia: pip install --no-deps "
                        f"{PLUGIN}==2.6.0 (or 'make setup')")]


def _marked(graph: Graph, coded: list[dict]) -> tuple[dict, ...]:
    """What each BENCH_LAYER_MARK() of one inference refers to: a spiking
    model's wrapper runs Qualia's network T times ("t" says which step)."""
    if not graph.spiking:
        return tuple(coded)
    return tuple({**li, "t": t} for t in range(graph.timesteps) for li in coded)


def snn_plugin_version() -> str:
    try:
        return version(PLUGIN)
    except PackageNotFoundError:
        return "unknown"

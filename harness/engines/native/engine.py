"""bench's own engine in the registry: float32 (float32.py) and int8/int16
(integer.py), with its integer builds bit-exact with harness/quant/reference.py."""

from __future__ import annotations

from pathlib import Path

from harness.engines.base import Capabilities, Engine, GeneratedModel
from harness.engines.native import float32, integer
from harness.errors import EngineError
from harness.kinds import DType, Layout, Scheme
from harness.model.ir import Graph
from harness.quant import QuantConfig


class NativeEngine(Engine):
    name = "native"
    capabilities = Capabilities(
        dtypes=(DType.FLOAT32, DType.INT16, DType.INT8),
        schemes={DType.INT8: (Scheme.POT, Scheme.AFFINE), DType.INT16: (Scheme.POT,)},
        integer_reference=True, spiking=True, spike_counters=True)

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        if dtype not in self.capabilities.dtypes:
            raise EngineError(f"the native engine has no {dtype} kernels; use one of "
                              f"{', '.join(self.capabilities.dtypes)}")
        if dtype != DType.FLOAT32:
            if quant is None:
                raise EngineError(f"a {dtype} build needs a quantization config")
            q = integer.generate_int(graph, out_dir, model_hash, dtype, quant)
            return GeneratedModel(
                sources=(q.model_c, *integer.kernel_sources()),
                include_dirs=(Path(out_dir), *integer.include_dirs()),
                input_bytes=q.input_bytes, output_bytes=q.output_bytes,
                arena_bytes=q.arena_bytes, input_dtype=DType(dtype), output_dtype=DType(dtype),
                input_quant=q.input_quant, output_quant=q.output_quant,
                input_layout=Layout.HWC if len(graph.input_shape) > 1 else Layout.CHW,
                output_layout=q.output_layout,
                layers=_marked_layers(graph, [{k: li[k] for k in ("name", "op", "macs")}
                                              | {"once": li.get("once", False)}
                                              for li in q.layers]),
                defines=(f"-DBENCH_SPIKE_LAYERS={len(graph.spiking_layers())}u",)
                if graph.spiking else (),
                extra={"weight_bytes": q.weight_bytes, "layers": q.layers})
        gen = float32.generate(graph, out_dir, model_hash)
        spiking = graph.spiking_layers()
        return GeneratedModel(
            sources=(gen.model_c, *float32.kernel_sources()),
            include_dirs=(Path(out_dir), *float32.include_dirs()),
            input_bytes=gen.input_bytes, output_bytes=gen.output_bytes,
            arena_bytes=gen.arena_bytes, input_dtype=DType.FLOAT32, output_dtype=DType.FLOAT32,
            layers=_marked_layers(graph, [{"name": li.name, "op": li.op, "macs": li.macs,
                                           "once": li.once}
                                          for li in gen.layers if li.kernel is not None]),
            defines=(f"-DBENCH_SPIKE_LAYERS={len(spiking)}u",) if spiking else (),
            extra={"weight_bytes": gen.weight_bytes, "state_bytes": gen.state_bytes,
                   "layers": [dict(vars(li)) for li in gen.layers]})


def _marked_layers(graph: Graph, coded: list[dict]) -> tuple[dict, ...]:
    """What each BENCH_LAYER_MARK() of one inference refers to: every layer
    with code, once per timestep for a spiking model (the step loop marks
    each layer T times; "t" says which step) except its steady prefix, run
    once before the loop ("once": true)."""
    plain = [{k: v for k, v in li.items() if k != "once"} for li in coded]
    if not graph.spiking:
        return tuple(plain)
    once = [{**p, "once": True} for p, li in zip(plain, coded, strict=True) if li["once"]]
    steps = [p for p, li in zip(plain, coded, strict=True) if not li["once"]]
    return (*once, *({**li, "t": t} for t in range(graph.timesteps) for li in steps))

"""Inference engines: code generators that turn the graph IR into C.

One file per engine plus one entry in ENGINES. Each engine writes C that
implements firmware/runtime/bench_model.h; the build compiles it with the
same runtime, board support and flags as every other engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.errors import ConfigError
from harness.model.ir import Graph
from harness.quant import QuantConfig, TensorQuant


@dataclass(frozen=True)
class GeneratedModel:
    """What an engine wrote, and the sizes the runtime must be built for."""

    sources: tuple[Path, ...]  # C files to compile (generated + the engine's kernels)
    include_dirs: tuple[Path, ...]
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    input_dtype: str
    output_dtype: str
    defines: tuple[str, ...] = ()
    libraries: tuple[Path, ...] = ()  # prebuilt archives to link (a vendor runtime)
    # Integer inputs/outputs: how the host quantizes inputs and reads outputs.
    input_quant: TensorQuant | None = None
    output_quant: TensorQuant | None = None
    # Buffer order the firmware reads/writes: "chw" as the IR, or "hwc"
    # (channels last): the host transposes inputs and outputs to match.
    input_layout: str = "chw"
    output_layout: str = "chw"
    # One entry per profiled layer, in the order the firmware marks them
    # (BENCH_LAYER_MARK): {"name", "op", "macs"}.
    layers: tuple[dict, ...] = ()
    extra: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str
    dtypes: tuple[str, ...]
    schemes: dict[str, tuple[str, ...]]  # integer dtype -> quantization schemes it has

    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: str,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        """Write C for ``graph`` into ``out_dir``; ``quant`` is given for
        integer dtypes (scheme + calibration ranges)."""
        ...


def host_reason(engine: Engine) -> str | None:
    """Why this engine's runs go to a host interpreter instead of a board
    (e.g. tflm without a TFLM source tree); None when it builds firmware."""
    reason = getattr(engine, "host_reason", None)
    return reason() if reason is not None else None


def _engines() -> dict[str, Engine]:
    from harness.engines.native.float32 import NativeEngine
    from harness.engines.qualia import QualiaEngine
    from harness.engines.stm32cubeai import StmCubeAiEngine
    from harness.engines.tflm.engine import TflmEngine

    return {"native": NativeEngine(), "qualia": QualiaEngine(), "tflm": TflmEngine(),
            "stm32cubeai": StmCubeAiEngine()}


def engine_names() -> list[str]:
    return list(_engines())


def get_engine(name: str) -> Engine:
    engines = _engines()
    if name not in engines:
        raise ConfigError(f"unknown engine {name!r}; known engines: {', '.join(engines)}")
    return engines[name]

"""Inference engines: code generators that turn the graph IR into C.

One module per engine plus one line in ENGINES. Each engine writes C that
implements firmware/runtime/bench_model.h; the build compiles it with the
same runtime, board support and flags as every other engine. What an engine
can do is declared on the engine (harness/engines/base.py), so nothing
outside this registry compares engine names.
"""

from __future__ import annotations

from harness.engines.base import Engine
from harness.registry import Registry

ENGINES: Registry[type[Engine]] = Registry("engine", {
    "native": "harness.engines.native.engine:NativeEngine",
    "qualia": "harness.engines.qualia.engine:QualiaEngine",
    "tflm": "harness.engines.tflm.engine:TflmEngine",
    "stm32cubeai": "harness.engines.stm32cubeai:StmCubeAiEngine",
})


def get_engine(name: str) -> Engine:
    """The engine ``name`` names; a stored variant (``tflm+cmsis-nn``) names
    its engine before the ``+``."""
    return ENGINES.load(name.partition("+")[0])()


def engine_names() -> list[str]:
    return ENGINES.names()

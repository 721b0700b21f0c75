"""What an engine is: a code generator that turns the graph IR into C (or,
for a peer without a board build, a model for its host interpreter), and
what it declares it can do.

An engine is one module plus one line in ENGINES (harness/engines/__init__.py).
Everything else asks the engine object, never its name: which dtypes and
schemes it has, whether its integer outputs must equal bench's integer
reference bit for bit, whether a run goes to a host interpreter instead of
a board.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from harness.checks import Check
from harness.errors import ConfigError, EngineError
from harness.kinds import DType, Layout, Reference, Scheme
from harness.model.ir import Graph
from harness.quant import QuantConfig, TensorQuant


@dataclass(frozen=True)
class Capabilities:
    dtypes: tuple[DType, ...]
    schemes: Mapping[DType, tuple[Scheme, ...]] = field(default_factory=dict)  # integer dtypes
    # Its integer builds compute exactly what harness/quant/reference.py
    # computes, so every output is checked against that, bit for bit;
    # otherwise outputs are compared with the float model.
    integer_reference: bool = False
    host_interpreter: bool = False  # can run samples in an interpreter on this computer
    spiking: bool = False  # generates spiking models (lif layers)
    # Its spiking models count every spiking layer's spikes on the device
    # (bench_model_info.spike_counts); a peer without counters stores none.
    spike_counters: bool = False
    # It plans its activation memory on the host with a figure the target
    # beats (TFLM): a run first asks the target what it used, then rebuilds
    # with exactly that (Engine.arena_reported).
    arena_on_target: bool = False


@dataclass(frozen=True)
class GeneratedModel:
    """What an engine wrote, and the sizes the runtime must be built for."""

    sources: tuple[Path, ...]  # C/C++ files to compile (generated + the engine's kernels)
    include_dirs: tuple[Path, ...]
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    input_dtype: DType
    output_dtype: DType
    defines: tuple[str, ...] = ()
    libraries: tuple[Path, ...] = ()  # prebuilt archives to link (a vendor runtime)
    # Integer inputs/outputs: how the host quantizes inputs and reads outputs.
    input_quant: TensorQuant | None = None
    output_quant: TensorQuant | None = None
    # Buffer order the firmware reads/writes; for HWC the host transposes.
    input_layout: Layout = Layout.CHW
    output_layout: Layout = Layout.CHW
    # One entry per profiled layer, in the order the firmware marks them
    # (BENCH_LAYER_MARK): {"name", "op", "macs"}.
    layers: tuple[dict, ...] = ()
    extra: dict = field(default_factory=dict)
    # What the user should know about this build (e.g. a peer computing a
    # spiking model with other semantics than its library's); the run's note.
    note: str | None = None


class HostInterpreter(ABC):
    """A model loaded in an engine's own interpreter on this computer."""

    @abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray:
        """One float sample in the IR's layout -> its float32 outputs."""

    @abstractmethod
    def arena_bytes(self) -> int | None:
        """Activation memory the interpreter used, when it says."""


class HostModel(ABC):
    """A model an engine runs on the host instead of on a board."""

    file: Path  # what the interpreter loads
    version: str  # the interpreter and its version, stored as the run's "compiler"

    @abstractmethod
    def open(self) -> HostInterpreter: ...


class Engine(ABC):
    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def check_dtype(self, dtype: str) -> DType:
        """``dtype`` as a DType, or ConfigError when this engine lacks it."""
        if dtype not in self.capabilities.dtypes:
            raise ConfigError(f"engine {self.name} does not support dtype {dtype}; it "
                              f"supports: {', '.join(self.capabilities.dtypes)}")
        return DType(dtype)

    def schemes(self, dtype: str) -> tuple[Scheme, ...]:
        return self.capabilities.schemes.get(dtype, ())  # type: ignore[call-overload]

    def reference(self, dtype: str) -> Reference:
        """What this engine's outputs are compared with, as the store says it."""
        exact = self.capabilities.integer_reference and dtype != DType.FLOAT32
        return Reference.INTEGER if exact else Reference.FLOAT

    @abstractmethod
    def generate(self, graph: Graph, out_dir: Path, model_hash: bytes, dtype: DType,
                 quant: QuantConfig | None = None) -> GeneratedModel:
        """Write C for ``graph`` into ``out_dir``; ``quant`` (scheme and
        calibration ranges) is given for integer dtypes."""

    def variant(self) -> str:
        """The name its firmware and runs are stored under: the engine's, or
        a variant of it the environment chose (e.g. ``tflm+cmsis-nn``)."""
        return self.name

    def arena_reported(self, out_dir: Path, planned_bytes: int, used_bytes: int) -> bool:
        """The target ran the firmware in ``out_dir`` and reported using
        ``used_bytes`` of the ``planned_bytes`` arena it reserves: True when
        a rebuild would reserve less (the engine kept the figure for it).
        Engines that plan their own memory reserve what they use: False."""
        return False

    def host_reason(self) -> str | None:
        """Why this engine's runs go to its host interpreter instead of a
        board (e.g. tflm without a TFLM source tree); None when it builds
        firmware."""
        return None

    def host_model(self, graph: Graph, out_dir: Path, dtype: DType,
                   quant: QuantConfig | None) -> HostModel:
        raise EngineError(f"engine {self.name} has no host interpreter")

    def checks(self) -> list[Check]:
        """bench doctor's rows for what this engine needs from outside bench."""
        return []

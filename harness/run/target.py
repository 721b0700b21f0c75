"""Targets: where a run's samples are inferred, behind one contract.

A ``Target`` takes one sample and gives back its outputs and, where the
target counts, what one inference cost. ``DeviceTarget`` is firmware on a
backend (an emulator or a board) reached over the device link;
``HostTarget`` is an engine's own interpreter on this computer (TFLM's).
The run's streaming loop (stream.py) serves both the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from harness.backends.base import Backend, Count, InsnCount, Session
from harness.boards import Board
from harness.build.build import is_per_layer
from harness.build.firmware import Firmware
from harness.engines.base import HostInterpreter, HostModel
from harness.errors import BackendError, BenchError, ProtocolError
from harness.kinds import HOST_BACKEND, CountKind
from harness.link import DeviceInfo, DeviceSilent, Link, LinkLost


@dataclass(frozen=True)
class Result:
    """One inference as the store keeps it."""

    output: np.ndarray  # float32, dequantized, in the graph's order
    count: Count | None  # None: this target counts nothing
    layers: tuple[int, ...] = ()  # per-layer instructions (per-layer builds)
    stack_bytes: int | None = None  # measured high-water mark, where measured
    spikes: tuple[int, ...] = ()  # spiking models: per spiking layer, summed over timesteps
    # An emulator's cycle estimate (timing model ``timing_model``) of the
    # inference and, in per-layer builds, of each layer; None / () elsewhere.
    estimated_cycles: int | None = None
    layer_cycles: tuple[int, ...] = ()
    timing_model: str | None = None


class TargetLost(BenchError):
    """The target stopped answering; ``why`` says what state it was left in."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Target(ABC):
    backend: str  # stored as the run's backend
    timer_kind: str | None = None  # what counts, once started

    @abstractmethod
    def start(self) -> None:
        """Get ready for the first sample (or again, after TargetLost)."""

    @abstractmethod
    def infer(self, x: np.ndarray, index: int) -> Result:
        """One sample (float, the graph's layout); TargetLost when the target
        stops answering, so the loop may restart it."""

    def arena_bytes(self) -> int | None:
        """Activation memory the target reports after the run (host
        interpreters), None when the build already said."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release what start() took; safe to call twice."""

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_device(info: DeviceInfo, fw: Firmware) -> None:
    """Refuse a device that runs other firmware than the one built."""
    if info.build_id != fw.build_id:
        raise ProtocolError(f"device runs firmware build {info.build_id}, expected {fw.build_id} "
                            f"(board {info.board}, engine {info.engine}): flash the right "
                            f"firmware")
    if info.model_hash != fw.model_hash[:16]:
        raise ProtocolError(f"device model hash {info.model_hash} differs from the model's "
                            f"{fw.model_hash[:16]}")
    if info.input_bytes != fw.input_bytes or info.output_bytes != fw.output_bytes:
        raise ProtocolError("device tensor sizes differ from the build's manifest")
    if info.input_dtype != fw.input_dtype or info.output_dtype != fw.output_dtype:
        raise ProtocolError(f"device tensors are {info.input_dtype} in, {info.output_dtype} out; "
                            f"the build's are {fw.input_dtype}, {fw.output_dtype}")


class DeviceTarget(Target):
    """Firmware on a backend: a session (emulator process or board) and the
    device link to it, restartable."""

    def __init__(self, backend: Backend, board: Board, fw: Firmware) -> None:
        self.backend_impl, self.board, self.fw = backend, board, fw
        self.backend = backend.name
        self.session: Session | None = None
        self.link: Link | None = None
        self.info: DeviceInfo | None = None

    def start(self) -> None:
        self.close()
        self.session = self.backend_impl.start(self.board, self.fw.elf, self.fw.link)
        try:
            self.link = Link(self.session.url, baudrate=self.session.baudrate,
                             max_payload=max(self.fw.input_bytes, 64))
            self.info = self.link.hello()
        except (DeviceSilent, LinkLost) as e:
            why = self.session.why_dead()
            self.close()
            raise BackendError(f"no handshake from {self.board.name} on {self.backend}: "
                               f"{why}") from e
        except BenchError:
            self.close()
            raise
        check_device(self.info, self.fw)
        counts = self.session.count_source or self.info.timer_kind
        if self.timer_kind is not None and counts != self.timer_kind:
            # A restart that counts differently would mix two units in one run.
            self.close()
            raise BackendError(f"{self.backend} restarted counting {counts}, not "
                               f"{self.timer_kind} as before: a run never mixes count sources")
        self.timer_kind = counts

    def infer(self, x: np.ndarray, index: int) -> Result:
        assert self.link is not None and self.session is not None, "start() first"
        try:
            res = self.link.infer(self.fw.encode_input(x))
        except (DeviceSilent, LinkLost) as e:
            raise TargetLost(self.session.why_dead()) from e
        exact = self.session.last_count()
        count, layers = self._count(exact, res.count, res.timer_kind, index)
        # The link checked the size against the handshake, the handshake
        # against the build: the outputs decode whole.
        if len(res.spikes) != len(self.fw.spike_layers):
            raise ProtocolError(f"device returned {len(res.spikes)} spike counts, the build has "
                                f"{len(self.fw.spike_layers)} spiking layers", frame=index)
        estimated = exact.estimated_cycles if exact is not None else None
        return Result(self.fw.decode_output(res.output), count, layers, res.stack_bytes,
                      res.spikes, estimated_cycles=estimated,
                      layer_cycles=exact.layer_cycles if estimated is not None and layers else (),
                      timing_model=exact.timing_model if estimated is not None else None)

    def arena_bytes(self) -> int | None:
        """The arena the device reported using (TFLM's on the target), when
        it differs from the build's plan."""
        if self.info is None or self.info.arena_bytes == self.fw.arena_bytes:
            return None
        return self.info.arena_bytes

    def _count(self, exact: InsnCount | None, raw: int, timer_kind: str,
               index: int) -> tuple[Count, tuple[int, ...]]:
        """The emulator's exact count when the session has one (raw stays the
        device's timer reading), else the device timer's; and per-layer counts."""
        assert self.session is not None
        per_layer = is_per_layer(self.fw)
        if exact is None and per_layer:
            raise BackendError(f"{self.backend} gave no per-layer counts (the instruction "
                               f"counter did not load; see the warning above)")
        if exact is None:
            return self.backend_impl.count(self.board, raw, timer_kind), ()
        if per_layer and len(exact.layers) != len(self.fw.layers):
            raise ProtocolError(f"firmware marked {len(exact.layers)} layers, its manifest "
                                f"lists {len(self.fw.layers)}: the engine must call "
                                f"BENCH_LAYER_MARK() once after each listed layer",
                                frame=index)
        return Count(value=exact.total, kind=CountKind.INSTRUCTIONS, raw=raw), exact.layers

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.session is not None:
            self.session.close()
            self.session = None


class HostTarget(Target):
    """An engine's interpreter on this computer: outputs only, no count, no
    stack; the interpreter's arena is read after the run."""

    backend = HOST_BACKEND
    timer_kind = "none"

    def __init__(self, model: HostModel) -> None:
        self.model = model
        self.interp: HostInterpreter | None = None

    def start(self) -> None:
        if self.interp is None:
            self.interp = self.model.open()

    def infer(self, x: np.ndarray, index: int) -> Result:
        assert self.interp is not None, "start() first"
        return Result(self.interp.infer(x), None)

    def arena_bytes(self) -> int | None:
        return None if self.interp is None else self.interp.arena_bytes()

    def close(self) -> None:
        self.interp = None

"""What every backend provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from harness.boards import Board


@dataclass(frozen=True)
class Count:
    """A timed-region reading turned into its unit."""

    value: int
    kind: str  # "cycles" (hardware) or "instructions" (emulator)
    raw: int  # what the device sent (ticks or cycles)


@dataclass(frozen=True)
class InsnCount:
    """Exact instructions of one inference, counted by the emulator itself
    between the firmware's region markers (bench_mark_start/stop)."""

    seq: int  # inferences counted since the target started, from 1
    total: int
    layers: tuple[int, ...] = ()  # one per bench_mark_layer, in order; () unless per-layer


class Session(ABC):
    """A running target: firmware loaded, console reachable at ``url``."""

    url: str
    baudrate: int | None = None  # a real board's UART speed; None for sockets and ptys
    # What counts instructions besides the firmware's own timer, e.g.
    # "tcg_plugin"; None when only the device's reading exists.
    count_source: str | None = None

    def last_count(self) -> InsnCount | None:
        """The emulator's exact count for the inference whose reply just
        arrived, or None when this session has no such counter."""
        return None

    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def why_dead(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    name: str
    description: str
    link: str = "uart"  # the firmware link it loads by default (firmware/runtime/link_*.c)

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and a hint when it cannot."""

    @abstractmethod
    def supports(self, board: Board) -> bool: ...

    @abstractmethod
    def start(self, board: Board, elf: Path, link: str) -> Session:
        """Load ``elf``, built for ``link``, and return a session; the caller
        closes it."""

    @abstractmethod
    def count(self, board: Board, raw: int, timer_kind: str) -> Count:
        """Turn a device timer reading into cycles or instructions."""

    def exact_counter(self) -> tuple[bool, str]:
        """Whether sessions will count instructions themselves
        (Session.last_count), and why not when they cannot."""
        return False, f"backend {self.name} has no instruction counter of its own"

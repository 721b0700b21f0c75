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


class Session(ABC):
    """A running target: firmware loaded, console reachable at ``url``."""

    url: str

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

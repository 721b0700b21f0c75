"""What every backend provides.

A backend is where firmware runs: an emulator (QEMU, Renode) or a real board
behind a probe or a bootloader. It is one module plus one line in BACKENDS
(harness/backends/__init__.py), and it owns everything about itself:

- its table in board.toml (``[qemu]``, ``[probe]``, ...), declared as the
  dataclass ``Facts`` and read only through ``facts(board)``;
- whether it is an emulator, and the link its firmware uses by default;
- its rows in ``bench doctor`` (``checks()``);
- how ``bench flash`` programs a real board with it (``flash()``);
- what a device timer reading means on it (``count()``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.boards import Board, parse_section
from harness.checks import Check
from harness.errors import ConfigError
from harness.kinds import CountKind, LinkKind
from harness.link import DeviceInfo


@dataclass(frozen=True)
class Count:
    """A timed-region reading turned into its unit."""

    value: int
    kind: CountKind  # cycles (hardware) or instructions (emulator)
    raw: int  # what the device sent (ticks or cycles)


@dataclass(frozen=True)
class InsnCount:
    """Exact instructions of one inference, counted by the emulator itself
    between the firmware's region markers (bench_mark_start/stop)."""

    seq: int  # inferences counted since the target started, from 1
    total: int
    layers: tuple[int, ...] = ()  # one per bench_mark_layer, in order; () unless per-layer
    # The emulator's cycle estimate of the same instructions, and its model
    # (e.g. "cortex-m4 v1"); None where it makes none.
    estimated_cycles: int | None = None
    layer_cycles: tuple[int, ...] = ()
    timing_model: str | None = None


@dataclass(frozen=True)
class Options:
    """How to reach a real board, from the command line or the environment.
    Each backend uses what applies to it and refuses the rest."""

    probe: str | None = None  # a debug probe's unique id (or a unique prefix)
    port: str | None = None  # the board's serial port
    boot_entry: str | None = None  # how a bootloader is entered: button | lines


@dataclass(frozen=True)
class Flashed:
    """What ``bench flash`` did on a real board."""

    backend: str
    elf: Path
    port: str  # where the firmware's link now is
    info: DeviceInfo  # its handshake
    detail: str  # what the flasher did, for one line of output


FlashProgress = Callable[[float], None]  # 0.0 .. 1.0


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
    name: ClassVar[str]  # the --backend name and this backend's board.toml table
    title: ClassVar[str]  # as users know it, in messages: "QEMU", "SWD probe (pyOCD)"
    description: ClassVar[str]
    emulator: ClassVar[bool] = False  # runs firmware on this computer (no board)
    link: ClassVar[LinkKind] = LinkKind.UART  # the firmware link it loads by default
    # Every link it can carry. Semihosting needs a debugger or an emulator to
    # answer the core's BKPT 0xAB: on a bare board that firmware faults.
    links: ClassVar[tuple[LinkKind, ...]] = (LinkKind.UART,)
    # Its board.toml table as a dataclass; None when it needs no board facts.
    Facts: ClassVar[type | None] = None

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        used = self.options_used()
        given = [k for k, v in vars(self.options).items() if v is not None and k not in used]
        if given:
            flags = " and ".join(f"--{k.replace('_', '-')}" for k in given)
            raise ConfigError(f"{flags} {'does' if len(given) == 1 else 'do'} not apply to "
                              f"--backend {self.name}")

    def check_link(self, link: str | None) -> LinkKind:
        """The link firmware for this backend is built with: ``link``, or the
        backend's default; one it cannot carry is refused."""
        if link is None:
            return self.link
        if link not in self.links:
            why = (" (Arm semihosting needs an emulator or a debugger: a free-running core "
                   "faults on its BKPT)" if link == LinkKind.SEMIHOST else "")
            raise ConfigError(f"backend {self.name} carries the {' or '.join(self.links)} link, "
                              f"not {link}{why}")
        return LinkKind(link)

    def options_used(self) -> tuple[str, ...]:
        """Which Options fields this backend takes."""
        return ()

    # -- board facts ---------------------------------------------------------------

    def facts(self, board: Board) -> Any:  # noqa: ANN401 - the backend's Facts
        """The board's table for this backend, parsed and checked."""
        if self.Facts is None:
            raise ConfigError(f"backend {self.name} keeps no board facts")
        table = board.sections.get(self.name)
        if table is None:
            raise ConfigError(f"board {board.name} has no [{self.name}] table in {board.file}")
        return parse_section(self.Facts, table, f"{board.file} [{self.name}]")

    def supports(self, board: Board) -> bool:
        """Whether ``board`` can run here: listed in its backends, with this
        backend's table where it needs one."""
        return self.name in board.backends and (self.Facts is None
                                                or self.name in board.sections)

    # -- what it needs ----------------------------------------------------------------

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and a hint when it cannot."""

    def checks(self, boards: Sequence[Board] = ()) -> list[Check]:
        """bench doctor's rows for this backend and the ``boards`` it runs
        (default: available())."""
        ok, why = self.available()
        return [Check(f"{self.name}: {self.title}", ok, why, required=False)]

    # -- running ----------------------------------------------------------------------

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

    def flash(self, board: Board, elf: Path, progress: FlashProgress | None = None
              ) -> tuple[Session, str]:
        """Program a real board with ``elf`` (checked to fit) and return a
        session on its serial port and one line saying what was done."""
        raise ConfigError(f"backend {self.name} does not flash real boards")

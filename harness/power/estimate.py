"""Energy per inference without a meter, from the board's datasheet figures.

    energy = time x run current x supply voltage
    time   = cycles / f_clk            (cycles measured on a real board, or estimated
                                        by the emulator's timing model: QEMU)
           = instructions x CPI / f_clk (instruction counts without a timing model, e.g.
                                        Renode: CPI from the board file)

The run current is the datasheet's run-mode figure in uA/MHz, so it scales
with the clock and f_clk cancels: energy = count x CPI x uA/MHz x V. Always
labelled "estimated": it ignores what the code does (flash vs RAM, FPU,
peripherals), which a meter does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.boards import Board, parse_section
from harness.errors import ConfigError
from harness.kinds import CountKind, EnergyKind

LABEL = EnergyKind.ESTIMATED


@dataclass(frozen=True)
class PowerFacts:
    """A board file's [power] table."""

    run_ua_per_mhz: float  # datasheet run-mode current per MHz
    supply_v: float
    cpi: float = 1.0  # cycles per instruction assumed for instruction counts
    source: str = ""  # the datasheet and table the figure comes from


def power_facts(board: Board) -> PowerFacts | None:
    """The board file's [power] table, or None when it has none."""
    raw = board.sections.get("power")
    if raw is None:
        return None
    return parse_section(PowerFacts, raw, f"{board.file} [power]")


def estimate_uj(count: int, count_kind: str, facts: PowerFacts) -> float:
    """Estimated energy of one inference in microjoules."""
    if count_kind == CountKind.CYCLES:
        cycles = float(count)
    elif count_kind == CountKind.INSTRUCTIONS:
        cycles = count * facts.cpi
    else:
        raise ConfigError(f"cannot estimate energy from a {count_kind!r} count")
    # cycles / f_clk[Hz] x (uA/MHz x f_clk[MHz]) x V = cycles x uA/MHz x V x 1e-12 J
    return cycles * facts.run_ua_per_mhz * facts.supply_v * 1e-6


def basis(board: Board, facts: PowerFacts, count_kind: str,
          timing_model: str | None = None) -> str:
    """One line saying how the estimate was made (``timing_model``: from the
    cycles that model estimated)."""
    if timing_model is not None:
        what = f"cycles estimated (timing model {timing_model})"
    else:
        what = count_kind + (f" x CPI {facts.cpi:g}" if count_kind == CountKind.INSTRUCTIONS
                             else "")
    return (f"{LABEL}: {what} / {board.clock_hz / 1e6:g} MHz x "
            f"{facts.run_ua_per_mhz:g} uA/MHz x {facts.supply_v:g} V ({facts.source})")

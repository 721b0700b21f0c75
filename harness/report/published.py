"""Published figures (references/*.csv): shown beside measured runs, never mixed in.

A published figure is someone else's number in someone else's unit (ms on
silicon, a pass/fail ceiling). Each file has a spec here saying which column
is which metric, in which unit, on which board; the file's own ``#`` lines
are kept as its description. Nothing here is comparable to an emulator's
instruction count, so the report never puts these in a ratio or on a plot.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.paths import ROOT

REFERENCES = ROOT / "references"


@dataclass(frozen=True)
class Figure:
    metric: str  # "latency", "energy", "max avg time", "max ROM"
    value: float
    unit: str  # said in full: "ms on silicon", "bytes, pass/fail ceiling"


@dataclass(frozen=True)
class Published:
    source: str  # who published it, and where
    file: str  # references/<name>.csv
    target: str  # the board as the source names it, with its clock
    part: str | None  # our board folder for the same MCU, if we have one
    engine: str
    dtype: str | None
    model: str
    kind: str  # "measured on silicon" | "pass/fail ceiling (not a measurement)"
    figures: tuple[Figure, ...]

    def matches(self, board: str, model: str) -> bool:
        """Same MCU as one of our boards, or the same network as our model."""
        return self.part == board or _key(self.model) in _key(model)


def _key(text: str) -> str:
    """'ResNet-8 (ic)' -> 'resnet8': the name before any parenthesis, letters and digits."""
    return re.sub(r"[^a-z0-9]", "", text.split("(")[0].lower())


def _num(row: dict[str, str], col: str, path: Path) -> float:
    try:
        return float(row[col])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: column {col!r} is missing or not a number in {row}") from e


def _mlperf(row: dict[str, str], path: Path) -> Published:
    return Published(
        source=f"MLPerf Tiny {row['round']}, {row['submitter']} (mlcommons/tiny results tables)",
        file=f"references/{path.name}", target="NUCLEO-L4R5ZI (STM32L4R5, 120 MHz)", part=None,
        engine=row["engine"], dtype=None, model=f"{row['model']} ({row['benchmark']})",
        kind="measured on silicon",
        figures=(Figure("latency", _num(row, "latency_ms", path), "ms on silicon at 120 MHz"),
                 Figure("energy", _num(row, "energy_uj", path), "uJ per inference on silicon")))


_QUALIA_TARGETS = {"nucleo-l452re": ("Nucleo-L452RE-P (STM32L452RE, 80 MHz)", "stm32l452"),
                   "sparkfun-edge": ("SparkFun Edge (Apollo3)", None)}


def _qualia(row: dict[str, str], path: Path) -> Published:
    target, part = _QUALIA_TARGETS.get(row["target"], (row["target"], None))
    return Published(
        source="Qualia end-to-end test ceilings", file=f"references/{path.name}",
        target=target, part=part, engine=row["engine"], dtype=row["dtype"],
        model="UCI-HAR ResNetv1 (8 filters)", kind="pass/fail ceiling (not a measurement)",
        figures=(Figure("max avg time", _num(row, "max_avg_time_ms", path),
                        "ms ceiling, timed on the device"),
                 Figure("max ROM", _num(row, "max_rom_bytes", path), "bytes ceiling")))


SPECS: dict[str, Callable[[dict[str, str], Path], Published]] = {
    "mlperf_tiny_l4r5zi.csv": _mlperf,
    "qualia_ceilings.csv": _qualia,
}


def load(folder: Path = REFERENCES) -> list[Published]:
    """Every row of every known reference file, in file order."""
    out: list[Published] = []
    for path in sorted(folder.glob("*.csv")):
        spec = SPECS.get(path.name)
        if spec is None:
            raise ConfigError(f"{path} has no spec in harness/published.py: say which column is "
                              f"which metric and unit before it can be shown")
        try:
            lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
        except OSError as e:
            raise ConfigError(f"cannot read published figures {path}: {e}") from e
        out += [spec(row, path) for row in csv.DictReader(lines)]
    return out

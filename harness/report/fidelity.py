"""How far an emulator's cycle estimate is from a board's measured cycles.

``bench fidelity RUN_ON_BOARD RUN_ON_EMULATOR``: the first run was measured
on a real board (DWT cycles: count kind ``cycles``), the second on QEMU with
a cycle estimate (``samples.estimated_cycles``, ``runs.timing_model``), both
of the same model, engine, dtype, scheme and board. Samples are matched by
their dataset index; per inference and, where both runs stored per-layer
counts, per layer, the medians are compared: error = estimated / measured - 1.
The timing model's target is within 15 % per inference.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.kinds import CountKind
from harness.store.store import Store

TARGET = 0.15  # the timing model's target error per inference
SAME = ("board", "model_hash", "engine", "dtype", "quant_scheme")


@dataclass(frozen=True)
class LayerFidelity:
    index: int
    name: str
    op: str
    measured: int  # median cycles on the board
    estimated: int  # median of the emulator's estimate
    error: float  # estimated / measured - 1


@dataclass(frozen=True)
class Fidelity:
    board_run: int
    emulator_run: int
    timing_model: str
    samples: int  # matched by dataset index
    measured: int  # median cycles per inference
    estimated: int
    error: float
    target: float
    layers: tuple[LayerFidelity, ...]

    @property
    def within_target(self) -> bool:
        return abs(self.error) <= self.target


def _median(values: list[int]) -> int:
    return int(statistics.median(values))


def _layer_names(firmware_dir: str | None, n: int) -> list[tuple[str, str]]:
    """(name, op) of each marked layer, from the emulator run's firmware manifest."""
    if firmware_dir:
        from harness.build.firmware import Firmware

        try:
            layers = Firmware.load(Path(firmware_dir)).layers
        except (OSError, ValueError, KeyError, ConfigError):
            layers = ()
        if len(layers) == n:
            return [(str(la.get("name", i)), str(la.get("op", "-")))
                    for i, la in enumerate(layers)]
    return [(f"layer {i}", "-") for i in range(n)]


def compare(store: Store, board_run: int, emulator_run: int) -> Fidelity:
    b, e = store.run_row(board_run), store.run_row(emulator_run)
    if b["count_kind"] != CountKind.CYCLES:
        raise ConfigError(f"run {board_run} counted {b['count_kind'] or 'nothing'}, not measured "
                          f"cycles: the first run must come from a real board "
                          f"(bench run --backend probe)")
    if not e.get("timing_model"):
        raise ConfigError(f"run {emulator_run} has no cycle estimate (made on {e['backend']}, "
                          f"without the QEMU plugin, or before estimates were stored): run the "
                          f"same model on QEMU again")
    for key in SAME:
        if b[key] != e[key]:
            raise ConfigError(f"runs {board_run} and {emulator_run} are not the same build: "
                              f"{key} {b[key]!r} vs {e[key]!r}")
    measured = {s.idx: s.count for s in store.samples(board_run)}
    estimated = {s.idx: s.estimated_cycles for s in store.samples(emulator_run)
                 if s.estimated_cycles is not None}
    both = sorted(set(measured) & set(estimated))
    if not both:
        raise ConfigError(f"runs {board_run} and {emulator_run} have no sample in common "
                          f"(matched by dataset index)")
    m = _median([measured[i] for i in both])
    est = _median([estimated[i] for i in both])
    if m <= 0:
        raise ConfigError(f"run {board_run} measured {m} cycles per inference")
    layers: list[LayerFidelity] = []
    board_layers = store.layer_counts(board_run)
    emu_layers = store.layer_cycles(emulator_run)
    common = [i for i in both if i in board_layers and i in emu_layers
              and len(board_layers[i]) == len(emu_layers[i])]
    if common:
        n = len(board_layers[common[0]])
        names = _layer_names(e.get("firmware_dir"), n)
        for k in range(n):
            lm = _median([board_layers[i][k] for i in common])
            le = _median([emu_layers[i][k] for i in common])
            layers.append(LayerFidelity(k, names[k][0], names[k][1], lm, le,
                                        le / lm - 1 if lm else float("inf")))
    return Fidelity(board_run, emulator_run, e["timing_model"], len(both), m, est, est / m - 1,
                    TARGET, tuple(layers))

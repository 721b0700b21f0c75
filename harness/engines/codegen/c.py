"""C text every engine writes the same way: the ``bench_model_info`` record
(firmware/runtime/bench_model.h), const arrays for flash, literals, and the
body of ``bench_model_run()`` as kernel calls with status checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import EngineError
from harness.kinds import DType

DTYPE_ENUM = {DType.FLOAT32: "BENCH_DTYPE_FLOAT32", DType.INT16: "BENCH_DTYPE_INT16",
              DType.INT8: "BENCH_DTYPE_INT8"}
CTYPE = {DType.FLOAT32: "float", DType.INT16: "int16_t", DType.INT8: "int8_t"}


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime tells the host about the model (the handshake)."""

    engine: str
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    input_dtype: DType
    output_dtype: DType
    model_hash: bytes  # the graph's sha256; the first 8 bytes go on the wire
    spike_layers: int = 0  # spiking layers whose spike counts the model keeps (spike_counts[])

    def __post_init__(self) -> None:
        if len(self.model_hash) < 8:
            raise EngineError(f"model hash needs at least 8 bytes, got {len(self.model_hash)}")
        if max(self.input_bytes, self.output_bytes, self.arena_bytes) >= 2**31:
            raise EngineError("model too large for 32-bit sizes")
        if len(self.engine.encode()) > 15:
            raise EngineError(f"engine name {self.engine!r} is longer than the handshake's "
                              f"15 characters")


def model_info_c(info: ModelInfo, cxx: bool = False) -> str:
    """The definition of ``bench_model_info``. Positional, so C and C++
    (which has no designated initializers before C++20) both take it."""
    hash_init = ", ".join(f"0x{b:02x}" for b in info.model_hash[:8])
    return "\n".join([
        ('extern "C" ' if cxx else "") + "const bench_model_info_t bench_model_info = {",
        f"    {info.input_bytes}u, /* input_bytes */",
        f"    {info.output_bytes}u, /* output_bytes */",
        f"    {info.arena_bytes}u, /* arena_bytes */",
        f"    (uint8_t){DTYPE_ENUM[info.input_dtype]}, /* input_dtype */",
        f"    (uint8_t){DTYPE_ENUM[info.output_dtype]}, /* output_dtype */",
        f"    {info.spike_layers}u, /* spike_layers */",
        f"    {{{hash_init}}}, /* model_hash */",
        f'    "{info.engine}", /* engine */',
        f"    {'spike_counts' if info.spike_layers else '0'}, /* spike_counts */",
        "};",
        "",
    ])


def c_float(value: float) -> str:
    """A C float literal that reads back bit-exactly (hex float, C99)."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise EngineError(f"non-finite weight value {v}")
    text = v.hex()  # e.g. '0x1.5555560000000p-2': exact for any float32
    mantissa, exp = text.split("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exp}f"


def c_array(name: str, ctype: str, items: Iterable[str], per_line: int,
            aligned: bool = False) -> str:
    """``static const`` array (flash) of literal items."""
    values = list(items)
    rows = [", ".join(values[i:i + per_line]) for i in range(0, len(values), per_line)]
    attr = " __attribute__((aligned(4)))" if aligned else ""
    return (f"static const {ctype} {name}[{len(values)}]{attr} = {{\n    "
            + ",\n    ".join(rows) + "\n};\n")


def comment(text: str) -> str:
    """Text safe inside a C comment."""
    return text.replace("*/", "* /")


@dataclass
class WrittenModel:
    """The files a C generator wrote and the sizes they were written for."""

    model_c: Path
    weights_h: Path
    arena_bytes: int
    input_bytes: int
    output_bytes: int
    weight_bytes: int


@dataclass
class CModel:
    """A generated model.c in the making: ``bench_model_run()``'s statements
    (``body``), the file-scope declarations they use, and the const arrays
    for model_weights.h."""

    decls: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    weight_bytes: int = 0

    def call(self, expr: str) -> None:
        """One kernel call: stop on its status, then mark the layer's end
        (a call only in -DBENCH_PER_LAYER builds; one per manifest layer)."""
        self.body += [f"    st = {expr};", "    if (st != BENCH_OK) {",
                       "        return (int32_t)st;", "    }", "    BENCH_LAYER_MARK();"]


def weights_header(header: str, note: str, arrays: list[str]) -> str:
    """model_weights.h: the const arrays, included by model.c only."""
    return (header + f"/* {note} */\n"
            + "#ifndef BENCH_MODEL_WEIGHTS_H\n#define BENCH_MODEL_WEIGHTS_H\n\n"
            + "\n".join(arrays) + "\n#endif /* BENCH_MODEL_WEIGHTS_H */\n")

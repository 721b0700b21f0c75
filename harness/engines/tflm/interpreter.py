"""TFLite Micro's own interpreter, built for the host (the ``tflite-micro``
package), running a model exported by harness/export/tflite.py: samples go
in one at a time and come out as bench's integer reference orders them, so
the two are compared bit for bit."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import EngineError, ToolMissingError
from harness.export.tflite import INSTALL_HINT, nhwc_shape
from harness.quant.schemes import QGraph


@dataclass
class TflmRun:
    outputs: np.ndarray  # (N, n_out) int8
    arena_bytes: int | None  # TFLM's recorded arena use, when it printed it


@contextlib.contextmanager
def _capture_fd2() -> Any:
    """Capture what C++ writes to stderr (file descriptor 2)."""
    buf = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            yield buf
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            buf.write(tmp.read().decode(errors="replace"))


_ARENA_RE = re.compile(r"\[RecordingMicroAllocator\] Arena allocation total (\d+) bytes")


class TflmInterpreter:
    """One exported model loaded in TFLM's host interpreter: samples go in one
    at a time (a run stores each as it finishes)."""

    def __init__(self, model: bytes, qgraph: QGraph, arena_size: int | None = None) -> None:
        try:
            from tflite_micro import runtime
        except ImportError as e:
            raise ToolMissingError(f"the TFLite Micro interpreter needs the tflite-micro "
                                   f"package ({INSTALL_HINT}): {e}") from e
        try:
            self._interp = runtime.Interpreter.from_bytes(
                model, arena_size=arena_size or max(len(model) * 10, 1 << 16))
        except RuntimeError as e:
            raise EngineError(f"TFLM refused the exported model: {e}") from e
        self._in_shape = nhwc_shape(qgraph.graph.input_shape)
        self._out_shape = qgraph.graph.output_shape

    def invoke(self, sample: np.ndarray) -> np.ndarray:
        """One quantized input, channels first as the IR; the int8 outputs in
        run_qgraph's order."""
        x = np.asarray(sample, dtype=np.int8)[None]
        if x.ndim > 2:
            x = np.moveaxis(x, 1, -1).reshape(self._in_shape)  # channels last
        self._interp.set_input(np.ascontiguousarray(x, dtype=np.int8), 0)
        self._interp.invoke()
        y = np.asarray(self._interp.get_output(0))
        out_shape = self._out_shape
        if len(out_shape) > 1:  # NHWC back to the IR's channels-first order
            y = np.moveaxis(y.reshape(*out_shape[1:], out_shape[0]), -1, 0)
        return y.reshape(-1).astype(np.int8)

    def arena_bytes(self) -> int | None:
        """What TFLM's recording allocator says the arena holds, when it says."""
        with _capture_fd2() as err:
            self._interp.print_allocations()
        m = _ARENA_RE.search(err.getvalue())
        return int(m.group(1)) if m else None


def run_tflm(model: bytes, qgraph: QGraph, xq: np.ndarray,
             arena_size: int | None = None) -> TflmRun:
    """Run quantized inputs ``xq`` (N, *input_shape), channels first, one by
    one through the TFLM interpreter; return outputs as run_qgraph's
    (N, n_out) and the arena bytes TFLM recorded."""
    interp = TflmInterpreter(model, qgraph, arena_size)
    outs = [interp.invoke(sample) for sample in np.asarray(xq, dtype=np.int8)]
    return TflmRun(outputs=np.stack(outs), arena_bytes=interp.arena_bytes())

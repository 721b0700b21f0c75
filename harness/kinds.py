"""The domain's words, each spelled once.

String enums: a member equals its text (``DType.INT8 == "int8"``), so values
read from the command line, a board file, a manifest or the store compare
with them directly, and JSON and SQLite store the text.
"""

from __future__ import annotations

from enum import StrEnum

from harness.errors import ConfigError


class DType(StrEnum):
    """Element type of a build's tensors (weights, activations, the wire)."""

    FLOAT32 = "float32"
    INT16 = "int16"
    INT8 = "int8"

    @property
    def itemsize(self) -> int:
        return {"float32": 4, "int16": 2, "int8": 1}[self.value]

    @property
    def is_integer(self) -> bool:
        return self is not DType.FLOAT32


class Scheme(StrEnum):
    """How float tensors map to integers (harness/quant/schemes.py)."""

    POT = "pot"  # per-tensor power-of-two fixed point (MicroAI/Qualia)
    AFFINE = "affine"  # per-channel scales and zero points (TFLite)


class WeightLayout(StrEnum):
    """int8 conv weights in flash."""

    PACKED = "packed"  # int8, unpacked with SXTB16
    WIDE = "wide"  # stored as int16: a faster inner loop for twice the flash


class Layout(StrEnum):
    """Order of a tensor's elements in a device buffer."""

    CHW = "chw"  # channels first, as the IR
    HWC = "hwc"  # channels last: the host transposes


class LinkKind(StrEnum):
    """The firmware's host link (firmware/runtime/link_<name>.c)."""

    UART = "uart"  # the board's console UART: real boards, Renode, QEMU (slow)
    SEMIHOST = "semihost"  # Arm semihosting on QEMU's stdin/stdout (fast)


class CountKind(StrEnum):
    """What a count per inference is."""

    CYCLES = "cycles"  # core clock cycles, measured on silicon
    INSTRUCTIONS = "instructions"  # executed instructions, on an emulator


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"


class EnergyKind(StrEnum):
    MEASURED = "measured"  # a meter's trace between the trigger pin's edges
    ESTIMATED = "estimated"  # datasheet current x time, a model


class Task(StrEnum):
    """What a dataset's labels are, and so how a run is scored."""

    CLASSIFICATION = "classification"  # integer class labels: top-1 (top-k)
    ANOMALY = "anomaly"  # normal/anomalous labels: AUC of a score such as reconstruction error
    REGRESSION = "regression"  # a target tensor per sample: MSE, PSNR


class Reference(StrEnum):
    """What a run's outputs were compared with."""

    INTEGER = "integer"  # the bit-exact integer reference (harness/quant/reference.py)
    FLOAT = "float"  # the float model (harness/model/reference.py)


# Runs stored with no backend of their own: an engine's interpreter on this
# computer, and figures read from a vendor tool's report.
HOST_BACKEND = "host"
IMPORTED_BACKEND = "imported"


def dtype(text: str) -> DType:
    """A DType from user text, with the known ones in the error."""
    try:
        return DType(text)
    except ValueError:
        raise ConfigError(f"unknown dtype {text!r}; known: "
                          f"{', '.join(d.value for d in DType)}") from None

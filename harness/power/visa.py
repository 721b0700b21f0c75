"""One SCPI instrument over VISA (pyvisa, pyvisa-py by default): what every
SCPI meter needs before its own command set, with each failure one
MeterError naming the instrument and the command."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.checks import Check, package
from harness.errors import MeterError

OVERLOAD = 9.9e37  # SCPI's reading for an overloaded (saturated) input


class VisaInstrument:
    def __init__(self, uri: str, address: str, backend: str = "@py",
                 timeout_s: float = 10.0) -> None:
        self.uri, self.address, self.backend, self.timeout_s = uri, address, backend, timeout_s
        self._rm: Any = None
        self._inst: Any = None
        self.idn = ""

    def open(self, scheme: str, models: tuple[str, ...], what: str) -> str:
        """Connect, read *IDN?, check it names one of ``models``, clear the
        error queue; returns the identity."""
        try:
            import pyvisa
        except ImportError as e:
            raise MeterError(f"{scheme}:// meters need pyvisa and pyvisa-py: pip install "
                             f"pyvisa pyvisa-py") from e
        try:
            self._rm = pyvisa.ResourceManager(self.backend)
            self._inst = self._rm.open_resource(self.address, read_termination="\n",
                                                write_termination="\n",
                                                timeout=int(1000 * self.timeout_s))
        except (pyvisa.errors.VisaIOError, OSError, ValueError) as e:
            self.close()
            raise MeterError(f"meter {self.address} not found ({e}): check the VISA resource "
                             f"string and that the instrument is on") from e
        try:
            idn = self.query("*IDN?")
        except MeterError as e:
            raise MeterError(f"meter {self.address} not found: {e.__cause__ or e}") from e
        if not any(m in idn.upper() for m in models):
            raise MeterError(f"{self.address} is {idn!r}, not a {what}")
        self.idn = idn
        self.write("*CLS")
        return idn

    def _io(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import pyvisa

        if self._inst is None:
            raise MeterError(f"{self.uri} is not open")
        try:
            return fn(*args, **kwargs)
        except (pyvisa.errors.VisaIOError, OSError, ValueError, EOFError) as e:
            raise MeterError(f"{self.uri}: {what} failed: {e}") from e

    def write(self, cmd: str) -> None:
        self._io(cmd, lambda: self._inst.write(cmd))

    def _timeout(self, wait_s: float) -> None:
        """The usual timeout plus ``wait_s``: a reply that waits for a record."""
        self._io("setting the timeout", setattr, self._inst, "timeout",
                 int(1000 * (self.timeout_s + wait_s)))

    def query(self, cmd: str, wait_s: float = 0.0) -> str:
        self._timeout(wait_s)
        return str(self._io(cmd, lambda: self._inst.query(cmd))).strip()

    def query_block(self, cmd: str, datatype: str, wait_s: float = 0.0) -> np.ndarray:
        """An IEEE 488.2 definite-length block of big-endian numbers ("f"
        float32, "d" float64)."""
        self._timeout(wait_s)
        data = self._io(cmd, lambda: self._inst.query_binary_values(
            cmd, datatype=datatype, is_big_endian=True, container=np.array))
        return np.asarray(data, dtype=np.float64)

    def check_errors(self, after: str) -> None:
        """Read the whole SCPI error queue; any entry is one MeterError."""
        errors = []
        for _ in range(20):
            reply = self.query("SYST:ERR?")
            if reply.split(",", 1)[0].strip() in ("0", "+0"):
                break
            errors.append(reply)
        if errors:
            raise MeterError(f"{self.uri} answered an error after {after}: {errors[0]}"
                             + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))

    def close(self) -> None:
        for obj in (self._inst, self._rm):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing a dead link must not mask the cause
                    pass
        self._inst = self._rm = None


def visa_checks() -> list[Check]:
    """What visa:// and dmm:// meters need: pyvisa and a backend for it."""
    return [package("pyvisa", required=False,
                    hint="visa:// and dmm:// meters (Keysight): pip install pyvisa pyvisa-py"),
            package("pyvisa-py", required=False,
                    hint="VISA backend for visa:// without a vendor library: pip install "
                    "pyvisa-py")]

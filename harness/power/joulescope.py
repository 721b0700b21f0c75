"""Joulescope (JS110/JS220) through the ``joulescope`` package (optional:
pip install 'bench[joulescope]').

Thin and untested here: no Joulescope exists on this machine and the
package talks to USB only. It follows the package's documented v1 API:
``joulescope.scan_require_one(config='auto')`` opens the one instrument,
``parameter_set('sampling_frequency', hz)`` sets the rate and
``read(contiguous_duration=s, out_format='samples_get', fields=[...])``
returns current, voltage and the general-purpose input the board's trigger
pin is wired to (IN0, field ``current_lsb`` on the JS110).

URI: joulescope://?input=0
"""

from __future__ import annotations

import threading

import numpy as np

from harness.checks import Check, package
from harness.errors import ConfigError, MeterError
from harness.power.meter import Meter, Trace

DEFAULT_RATE = 100_000.0
FIELD = {"0": "current_lsb", "1": "voltage_lsb"}  # JS110 GPI0/1 ride in the LSBs


class JoulescopeMeter(Meter):
    name = "joulescope"

    @classmethod
    def checks(cls) -> list[Check]:
        return [package("joulescope", required=False,
                        hint="joulescope:// meters: pip install joulescope")]

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        super().__init__(uri, address, options)
        self.check_options(("input",))
        self.field = FIELD.get(self.option("input", "0"))
        if self.field is None:
            raise ConfigError(f"joulescope input is 0 or 1, not {self.option('input', '0')!r}")
        self._js = None
        self._duration = 1.0
        self._rate = DEFAULT_RATE
        self._data: dict | None = None
        self._thread: threading.Thread | None = None
        self._failure: str | None = None

    def open(self) -> None:
        try:
            import joulescope
        except ImportError as e:
            raise MeterError("joulescope:// needs the joulescope package: pip install "
                             "joulescope (or bench[joulescope])") from e
        try:
            self._js = joulescope.scan_require_one(config="auto")
            self._js.open()
        except Exception as e:  # noqa: BLE001 - the package raises its own kinds
            raise MeterError(f"no Joulescope found: {e}") from e

    def configure(self, sample_rate: float | None, duration: float | None) -> float:
        if duration is None:
            raise ConfigError("the Joulescope records a fixed length here: give a duration")
        self._rate, self._duration = sample_rate or DEFAULT_RATE, duration
        try:
            self._js.parameter_set("sampling_frequency", int(self._rate))  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001
            raise MeterError(f"Joulescope refused {self._rate:g} Hz: {e}") from e
        return self._rate

    def _capture(self) -> None:
        try:
            self._data = self._js.read(contiguous_duration=self._duration,  # type: ignore[union-attr]
                                       out_format="samples_get",
                                       fields=["current", "voltage", self.field])
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self._failure = f"Joulescope read failed: {e}"

    def start(self) -> None:
        # The package's read() blocks for the whole duration: run it aside.
        self._data, self._failure = None, None
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Wait for the fixed-length capture to end."""
        if self._thread is not None:
            self._thread.join(self._duration + 30)
        if self._failure:
            raise MeterError(self._failure)

    def read(self) -> Trace:
        if self._data is None:
            raise MeterError("Joulescope: nothing captured")
        sig = self._data["signals"]
        return Trace(sample_rate=self._rate, current_a=np.asarray(sig["current"]["value"]),
                     voltage_v=np.asarray(sig["voltage"]["value"]),
                     trigger=np.asarray(sig[self.field]["value"]).astype(bool), meter=self.uri)

    def close(self) -> None:
        if self._js is not None:
            try:
                self._js.close()
            except Exception:  # noqa: BLE001
                pass
            self._js = None

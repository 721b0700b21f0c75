"""The Meter interface, the Trace record and the URI registry.

A meter is one file under harness/power/ plus one entry in METERS. A URI's
scheme picks the meter; the rest is the meter's own address:

    visa://TCPIP::192.168.1.5::5025::SOCKET     Keysight N6705 (SCPI, pyvisa)
    dmm://TCPIP::192.168.1.6::5025::SOCKET      Keysight 34465A/34470A digitizing (SCPI, pyvisa)
    joulescope://                               the one Joulescope connected
    ppk2:///dev/ttyACM1                         Nordic PPK2 (serial wire protocol)
    lpm01a:///dev/ttyACM2                       ST X-NUCLEO-LPM01A (serial text protocol)

Options go in the query string (``ppk2:///dev/ttyACM1?trigger=D3&voltage_mv=1800``);
each meter documents its own.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from harness.checks import Check
from harness.errors import ConfigError, MeterError
from harness.registry import Registry

# URI scheme -> meter; modules are imported only when their meter is used,
# so a vendor package (pyvisa, joulescope) is needed only by its own meter.
METERS: Registry[type[Meter]] = Registry("meter", {
    "visa": "harness.power.scpi:N6705Meter",
    "dmm": "harness.power.scpi_digitize:TruevoltMeter",
    "lpm01a": "harness.power.lpm01a:Lpm01aMeter",
    "ppk2": "harness.power.ppk2:Ppk2Meter",
    "joulescope": "harness.power.joulescope:JoulescopeMeter",
})
TRACE_VERSION = 1


@dataclass
class Trace:
    """Samples at a uniform rate from one meter.

    ``current_a`` and ``voltage_v`` have one value per sample; ``trigger`` is
    the DUT's timed-region pin as seen by the meter (True = high) or None when
    the meter recorded none. A sample the meter marked as out of range is
    ``inf`` in ``current_a``; ``range_a`` is the full scale of the range used
    (None when unknown), so samples at it are clipped too.

    ``windows_from`` says where ``trigger`` came from (the DUT's pin, or a
    meter's stand-in for it such as the current level) and ``voltage_from``
    whether ``voltage_v`` was measured or assumed; both go into the run's
    energy basis.
    """

    sample_rate: float  # Hz
    current_a: np.ndarray
    voltage_v: np.ndarray
    trigger: np.ndarray | None
    meter: str  # the URI it came from
    t0: float = 0.0  # s, time of the first sample
    range_a: float | None = None
    windows_from: str = "trigger pin"
    voltage_from: str = "measured"
    units: dict[str, str] = field(default_factory=lambda: {
        "time": "s", "current": "A", "voltage": "V", "trigger": "bool"})

    def __post_init__(self) -> None:
        self.current_a = np.asarray(self.current_a, dtype=np.float64)
        self.voltage_v = np.asarray(self.voltage_v, dtype=np.float64)
        if self.voltage_v.shape == ():
            self.voltage_v = np.full(self.current_a.shape, float(self.voltage_v))
        if self.trigger is not None:
            self.trigger = np.asarray(self.trigger, dtype=bool)
        n = len(self.current_a)
        if len(self.voltage_v) != n or (self.trigger is not None and len(self.trigger) != n):
            raise MeterError(f"trace from {self.meter}: current, voltage and trigger have "
                             f"different lengths")

    def __len__(self) -> int:
        return len(self.current_a)

    @property
    def time_s(self) -> np.ndarray:
        return self.t0 + np.arange(len(self), dtype=np.float64) / self.sample_rate

    @property
    def duration_s(self) -> float:
        return len(self) / self.sample_rate

    def save(self, path: Path) -> Path:
        """Parquet, one row per sample; meter, rate, range and units in the
        file's metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {"time_s": self.time_s, "current_a": self.current_a,
                "voltage_v": self.voltage_v}
        if self.trigger is not None:
            cols["trigger"] = self.trigger
        meta = {"meter": self.meter, "sample_rate_hz": self.sample_rate, "t0_s": self.t0,
                "range_a": self.range_a, "units": self.units, "version": TRACE_VERSION,
                "windows_from": self.windows_from, "voltage_from": self.voltage_from}
        table = pa.table(cols).replace_schema_metadata({"bench": json.dumps(meta)})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
        except OSError as e:
            raise ConfigError(f"cannot write trace {path}: {e}") from e
        return path

    @classmethod
    def load(cls, path: Path) -> Trace:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[b"bench"])
        except (OSError, KeyError, ValueError) as e:
            raise ConfigError(f"{path} is not a bench trace file: {e}") from e
        trig = table.column("trigger").to_numpy() if "trigger" in table.column_names else None
        return cls(sample_rate=meta["sample_rate_hz"], current_a=table.column("current_a")
                   .to_numpy(), voltage_v=table.column("voltage_v").to_numpy(), trigger=trig,
                   meter=meta["meter"], t0=meta["t0_s"], range_a=meta["range_a"],
                   units=meta["units"],
                   windows_from=meta.get("windows_from", "trigger pin"),
                   voltage_from=meta.get("voltage_from", "measured"))


class Meter(ABC):
    """One power meter. Use as a context manager (open on enter, close on exit):

        with open_meter("ppk2:///dev/ttyACM1") as m:
            m.configure(sample_rate=None, duration=2.0)
            m.start(); ...; m.stop()
            trace = m.read()

    ``configure`` returns the sample rate the meter will really use.
    ``duration`` None means "until stop()" for streaming meters; a meter
    that records a fixed length (the N6705) picks its longest record.
    """

    name: str = "meter"
    # The board file's [power] supply_v, set by `bench run` before open(): a
    # meter that measures current only (a DMM) assumes it; others ignore it.
    board_supply_v: float | None = None

    def __init__(self, uri: str, address: str, options: dict[str, str]) -> None:
        self.uri, self.address, self.options = uri, address, options

    @classmethod
    def checks(cls) -> list[Check]:
        """bench doctor's rows for what this meter needs from outside bench."""
        return []

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def configure(self, sample_rate: float | None, duration: float | None) -> float: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def read(self) -> Trace: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Meter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def option(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def float_option(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError as e:
            raise ConfigError(f"meter option {key}={raw!r} in {self.uri} is not a number") from e

    def check_options(self, known: tuple[str, ...]) -> None:
        unknown = sorted(set(self.options) - set(known))
        if unknown:
            raise ConfigError(f"{self.name} has no option {unknown[0]!r} (in {self.uri}); "
                              f"its options: {', '.join(known) or 'none'}")


def parse_uri(uri: str) -> tuple[str, str, dict[str, str]]:
    """'ppk2:///dev/ttyACM1?trigger=D3' -> ('ppk2', '/dev/ttyACM1', {'trigger': 'D3'})."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise ConfigError(f"meter {uri!r} is not a URI: use one of "
                          f"{', '.join(s + '://...' for s in METERS)}")
    address, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as e:
        raise ConfigError(f"meter options in {uri!r} are not key=value pairs") from e
    return scheme.lower(), address, options


def meter_class(scheme: str) -> type[Meter]:
    if scheme not in METERS:
        raise ConfigError(f"unknown meter {scheme + '://'!r}; known: "
                          f"{', '.join(s + '://' for s in METERS)}")
    return METERS.load(scheme)


def open_meter(uri: str) -> Meter:
    """The meter for a URI, not opened yet (enter it with ``with``)."""
    scheme, address, options = parse_uri(uri)
    return meter_class(scheme)(uri, address, options)

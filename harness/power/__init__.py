"""Power and energy: meters (one file each), traces, energy per inference,
and the datasheet estimate when there is no meter."""

from harness.power.meter import METERS, Meter, Trace, open_meter, parse_uri

__all__ = ["METERS", "Meter", "Trace", "open_meter", "parse_uri"]

"""Serial ports on this host (pyserial's list_ports), for doctor and for
boards flashed over a plain USB-serial adapter."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

from harness.errors import ConfigError

# USB-serial bridges SparkFun pairs with its boards (Serial Basic, FTDI Basic).
ADAPTER_VENDORS = {0x1A86: "WCH CH340", 0x0403: "FTDI", 0x10C4: "Silicon Labs CP210x"}


@dataclass(frozen=True)
class SerialPort:
    device: str
    description: str
    serial_number: str | None
    vid: int | None
    pid: int | None

    def line(self) -> str:
        usb = f" [{self.vid:04x}:{self.pid:04x}]" if self.vid is not None and self.pid else ""
        return f"{self.device}  {self.description}{usb}"


def serial_ports() -> list[SerialPort]:
    return [SerialPort(p.device, p.description or "", p.serial_number, p.vid, p.pid)
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


def adapter_port(explicit: str | None) -> str:
    """``explicit``, or the only USB-serial adapter attached."""
    if explicit:
        return explicit
    ports = serial_ports()
    adapters = [p for p in ports if p.vid in ADAPTER_VENDORS]
    if len(adapters) == 1:
        return adapters[0].device
    seen = ", ".join(p.device for p in ports) or "none"
    what = ("several USB-serial adapters" if adapters else
            "no USB-serial adapter (CH340, FTDI, CP210x)")
    raise ConfigError(f"{what} found: pass --port (serial ports here: {seen})")

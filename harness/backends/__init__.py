"""Backends: where firmware runs (an emulator, a probe-attached board, ...).

One file per backend plus one entry in BACKENDS. A backend loads an ELF and
hands back a pyserial URL that reaches the firmware's console, and says what
the firmware's timer counts mean there.
"""

from __future__ import annotations

from harness.backends.ambiq_uart import AmbiqUartBackend
from harness.backends.base import Backend, Session
from harness.backends.probe import ProbeBackend
from harness.backends.qemu import QemuBackend
from harness.backends.renode import RenodeBackend
from harness.errors import ConfigError

BACKENDS: dict[str, type[Backend]] = {
    "qemu": QemuBackend,
    "renode": RenodeBackend,
    "probe": ProbeBackend,
    "ambiq-uart": AmbiqUartBackend,
}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    return BACKENDS[name]()


__all__ = ["BACKENDS", "Backend", "Session", "get_backend"]

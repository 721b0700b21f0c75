"""A pty whose master side a simulator drives from its own threads.

The master is non-blocking and polled, and close() joins every thread
before it closes the descriptors: a thread still writing to a closed
descriptor number could otherwise write into the next pty that reuses it.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable


class PtyDevice:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wlock = threading.Lock()

    def spawn(self, fn: Callable[[], None]) -> None:
        t = threading.Thread(target=fn, daemon=True)
        self._threads.append(t)
        t.start()

    def read(self, n: int = 4096) -> bytes | None:
        """Bytes from the host, b'' when none yet, None once stopped."""
        while not self.stopped.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    return os.read(self.master, n)
                except BlockingIOError:
                    continue
                except OSError:
                    return None
        return None

    def write(self, data: bytes) -> bool:
        """Send all of data; False once stopped (or the host side is gone)."""
        with self._wlock:
            view = memoryview(data)
            while view and not self.stopped.is_set():
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    select.select([], [self.master], [], 0.05)
                except OSError:
                    return False
            return not view

    def close(self) -> None:
        self.stopped.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

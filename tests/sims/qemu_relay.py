"""A stand-in for qemu-system-arm that runs the real one and sits on its
device link, to test bench against a link that misbehaves.

Put on PATH as ``qemu-system-arm`` (``install()`` writes the shim); bench
starts it as it starts QEMU. Every command line without ``-kernel``
(``--version``, ``-M help``) is the real QEMU's. With ``-kernel`` it starts
the real QEMU on a link of its own and relays bytes between bench and it:

- semihosting (QEMU's stdin/stdout): bench's pty on our stdin/stdout, a pty
  of ours on the real QEMU's;
- the console UART (``-serial tcp:127.0.0.1:PORT,...``): we listen on PORT,
  the real QEMU on another port we connect to.

The relay reads each direction frame by frame (the bench protocol's own
framing) and, when told, damages every Nth frame, cycling through FAULTS
per direction: a flipped bit in each field (and the length's top bit, which
makes it longer than any buffer), a byte dropped or doubled, the
frame dropped, doubled, delayed a little or a lot, noise before it (a fake
sync and header among it), or cut short. It can also stand for a QEMU that
dies while starting or during the handshake. Configured by environment
(stdlib only: this runs outside bench's venv as well):

  BENCH_RELAY_QEMU        the real qemu-system-arm
  BENCH_RELAY_STATE       a directory: launch counter, faults.log
  BENCH_RELAY_FAULT_EVERY damage every Nth frame of each direction (0: none)
  BENCH_RELAY_SEED        which bits and bytes (default 0)
  BENCH_RELAY_KILL_AT_START  launches (1, 2, ...) that die of SIGKILL at once
  BENCH_RELAY_KILL_ON_HELLO  launches whose QEMU dies of SIGKILL when the first
                          HELLO from the host passes

Each launch's real QEMU is listed in ``pids`` ("LAUNCH PID"); when it dies
of a signal the relay dies of the same one, as QEMU itself would have.

faults.log gets one line per fault ("h2d length 12 ...": direction, kind,
frame number) as it is made, and "frames h2d N" / "frames d2h N" when the
relay ends without SIGKILL.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

SYNC = b"\xa5\x5a"
HELLO = 0x01
FAULTS = ("sync", "type", "seq", "length", "length_high", "payload", "crc", "drop_byte",
          "dup_byte", "drop_frame", "dup_frame", "delay", "stall", "noise", "truncate")
SHORT_DELAY_S = 0.05  # well inside the host's wait for a reply
STALL_S = 0.8  # longer than the host's first wait: it resends
PR_SET_PDEATHSIG = 1


def install(bin_dir: Path, real_qemu: str, python: str = sys.executable) -> Path:
    """Write ``bin_dir/qemu-system-arm`` running this file; returns it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "qemu-system-arm"
    shim.write_text(f'#!/bin/sh\nBENCH_RELAY_QEMU="${{BENCH_RELAY_QEMU:-{real_qemu}}}" '
                    f'exec "{python}" -S "{Path(__file__).resolve()}" "$@"\n')
    shim.chmod(0o755)
    return shim


def qemu_pid(state: Path, launch: int) -> int | None:
    """The real QEMU of one launch, once it is started."""
    pids = state / "pids"
    for line in pids.read_text().splitlines() if pids.exists() else []:
        n, pid = line.split()
        if int(n) == launch:
            return int(pid)
    return None


def read_log(state: Path) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(direction, kind) of each fault made, and frames relayed per direction."""
    faults: list[tuple[str, str]] = []
    frames = {"h2d": 0, "d2h": 0}
    log = state / "faults.log"
    for line in log.read_text().splitlines() if log.exists() else []:
        parts = line.split()
        if parts[0] == "frames":
            frames[parts[1]] += int(parts[2])
        else:
            faults.append((parts[0], parts[1]))
    return faults, frames


def _launches(state: Path) -> int:
    """This launch's number, counted across processes."""
    with open(state / "launches", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n = int(f.read() or 0) + 1
        f.seek(0)
        f.truncate()
        f.write(str(n))
    return n


def _numbers(var: str) -> set[int]:
    return {int(v) for v in os.environ.get(var, "").split(",") if v.strip()}


def _die_with_us() -> None:
    """In the real QEMU before exec: SIGKILL when this relay dies."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Faults:
    """Which frame gets which fault; every fault logged as it is made."""

    def __init__(self, every: int, seed: int, log: Path) -> None:
        self.every = every
        self.rng = random.Random(seed)
        self.log = log
        self.frames = {"h2d": 0, "d2h": 0}
        self.made = {"h2d": 0, "d2h": 0}
        self.lock = threading.Lock()

    def apply(self, direction: str, frame: bytes, write: Callable[[bytes], None]) -> None:
        with self.lock:
            self.frames[direction] += 1
            n = self.frames[direction]
            if not self.every or n % self.every:
                kind = None
            else:
                kind = FAULTS[self.made[direction] % len(FAULTS)]
                self.made[direction] += 1
                rng = random.Random(self.rng.random())
                with self.log.open("a") as f:
                    f.write(f"{direction} {kind} {n} type=0x{frame[2]:02x}\n")
        if kind is None:
            write(frame)
            return
        self._damage(kind, bytearray(frame), rng, write)

    @staticmethod
    def _damage(kind: str, f: bytearray, rng: random.Random,
                write: Callable[[bytes], None]) -> None:
        def flip(lo: int, hi: int) -> None:  # one bit of bytes lo..hi-1
            f[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)

        end = len(f)
        if kind in ("sync", "type", "seq", "length", "payload", "crc"):
            lo, hi = {"sync": (0, 2), "type": (2, 4), "seq": (4, 6), "length": (6, 8),
                      "payload": (8, end - 4) if end > 12 else (end - 4, end),
                      "crc": (end - 4, end)}[kind]
            flip(lo, hi)
            write(bytes(f))
        elif kind == "length_high":  # beyond any buffer: the receiver cannot check the CRC
            f[7] ^= 0x80
            write(bytes(f))
        elif kind == "drop_byte":
            del f[rng.randrange(end)]
            write(bytes(f))
        elif kind == "dup_byte":
            at = rng.randrange(end)
            f.insert(at, f[at])
            write(bytes(f))
        elif kind == "drop_frame":
            pass
        elif kind == "dup_frame":
            write(bytes(f) + bytes(f))
        elif kind in ("delay", "stall"):
            time.sleep(SHORT_DELAY_S if kind == "delay" else STALL_S)
            write(bytes(f))
        elif kind == "noise":
            # Garbage with a fake frame start in it: its length swallows the real frame.
            fake = SYNC + struct.pack("<BBHH", 0x82, 0, rng.randrange(1 << 16),
                                      rng.randrange(8, 64))
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(4, 24)))
            write(junk + fake + bytes(f))
        elif kind == "truncate":
            write(bytes(f[:rng.randrange(1, end)]))


def pump(read: Callable[[], bytes], write: Callable[[bytes], None], direction: str,
         faults: Faults, on_frame: Callable[[bytes], None] = lambda f: None) -> None:
    """Relay one direction until its source ends, frame by frame."""
    buf = bytearray()
    while True:
        try:
            data = read()
        except OSError:
            return
        if not data:
            return
        buf += data
        while True:
            at = buf.find(SYNC)
            if at < 0:
                keep = 1 if buf.endswith(SYNC[:1]) else 0
                if len(buf) > keep:
                    write(bytes(buf[:len(buf) - keep]))  # not a frame (the host's filler)
                    del buf[:len(buf) - keep]
                break
            if at:
                write(bytes(buf[:at]))
                del buf[:at]
            if len(buf) < 8:
                break
            (length,) = struct.unpack_from("<H", buf, 6)
            end = 8 + length + 4
            if len(buf) < end:
                break
            frame = bytes(buf[:end])
            del buf[:end]
            on_frame(frame)
            faults.apply(direction, frame, write)


def _writer(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            view = view[n:]
    return write


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str]) -> int:
    real = os.environ["BENCH_RELAY_QEMU"]
    if "-kernel" not in argv:
        os.execv(real, [real, *argv])
    state = Path(os.environ["BENCH_RELAY_STATE"])
    launch = _launches(state)
    if launch in _numbers("BENCH_RELAY_KILL_AT_START"):
        os.kill(os.getpid(), signal.SIGKILL)
    faults = Faults(int(os.environ.get("BENCH_RELAY_FAULT_EVERY", "0")),
                    int(os.environ.get("BENCH_RELAY_SEED", "0")) * 1000 + launch,
                    state / "faults.log")
    kill_on_hello = launch in _numbers("BENCH_RELAY_KILL_ON_HELLO")

    args = list(argv)
    uart_port = None
    for i, a in enumerate(args):
        if a.startswith("tcp:127.0.0.1:"):
            port_text, rest = a[len("tcp:127.0.0.1:"):].split(",", 1)
            uart_port = int(port_text)
            inner = _free_port()
            args[i] = f"tcp:127.0.0.1:{inner},{rest}"
    qemu: subprocess.Popen | None = None

    def stop(code: int) -> None:
        if qemu is not None and qemu.poll() is None:
            qemu.kill()
            qemu.wait()
        with (state / "faults.log").open("a") as f:
            for direction, n in faults.frames.items():
                f.write(f"frames {direction} {n}\n")
        os._exit(code)

    signal.signal(signal.SIGTERM, lambda *_: stop(0))

    def started(proc: subprocess.Popen) -> subprocess.Popen:
        with (state / "pids").open("a") as f:
            f.write(f"{launch} {proc.pid}\n")
        return proc

    def hello_seen(frame: bytes) -> None:
        if kill_on_hello and frame[2] == HELLO and qemu is not None:
            qemu.kill()

    if uart_port is None:  # semihosting on stdin/stdout
        master, slave = os.openpty()
        tty.setraw(slave)
        qemu = started(subprocess.Popen([real, *args], stdin=master, stdout=master,
                                        preexec_fn=_die_with_us))
        os.close(master)
        host_read = lambda: os.read(0, 4096)  # noqa: E731
        host_write = _writer(1)
        dev_read = lambda: os.read(slave, 4096)  # noqa: E731
        dev_write = _writer(slave)
    else:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", uart_port))
        listener.listen(1)
        qemu = started(subprocess.Popen([real, *args], stdin=subprocess.DEVNULL,
                                        preexec_fn=_die_with_us))
        dev = socket.socket()
        deadline = time.monotonic() + 20
        while True:
            try:
                dev.connect(("127.0.0.1", inner))
                break
            except OSError:
                if qemu.poll() is not None or time.monotonic() > deadline:
                    stop(1)
                dev.close()
                dev = socket.socket()
                time.sleep(0.01)
        dev.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host, _ = listener.accept()
        host.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host_read = lambda: host.recv(4096)  # noqa: E731
        host_write = host.sendall
        dev_read = lambda: dev.recv(4096)  # noqa: E731
        dev_write = dev.sendall

    def safe(write: Callable[[bytes], None]) -> Callable[[bytes], None]:
        def w(data: bytes) -> None:
            try:
                write(data)
            except OSError:
                pass
        return w

    threading.Thread(target=pump, args=(dev_read, safe(host_write), "d2h", faults),
                     daemon=True).start()
    to_device = threading.Thread(target=pump, args=(host_read, safe(dev_write), "h2d", faults,
                                                    hello_seen), daemon=True)
    to_device.start()
    while qemu.poll() is None and to_device.is_alive():
        time.sleep(0.02)
    code = qemu.poll()
    if code is None:  # bench closed its end: end QEMU with it
        stop(0)
    if code < 0:  # die as QEMU died, so bench sees what a user would
        qemu = None
        with (state / "faults.log").open("a") as f:
            for direction, n in faults.frames.items():
                f.write(f"frames {direction} {n}\n")
        os.kill(os.getpid(), -code)
    stop(code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

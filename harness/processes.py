"""Signals and child processes: a polite stop (SIGTERM, SIGHUP) is taken as
Ctrl-C, and no process bench starts outlives it.

A process killed outright (SIGKILL) runs no cleanup, so children cannot be
ended by their parent's ``finally``: on Linux each child asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), which holds on every
exit path. Elsewhere that request is a no-op and a parent's cleanup is all
there is.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or a stop signal taken as it. ``str()`` says what to do next
    (how to resume); ``signum`` gives the exit code 128 + signum."""

    def __init__(self, message: str = "", signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent_pid: int) -> None:
    """In a child: SIGKILL when the parent dies; exit now if it already has
    (it may die between our fork and this call)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def dies_with_us() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child (an emulator) is
    killed when this process, or rather the thread that starts it, ends.
    prctl is looked up here, before the fork: the child only calls it."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A handler that does nothing. (Not SIG_IGN: a signal that arrived
    before the switch would then raise OSError "ignored due to race".)"""


def _raise_once(signum: int, _frame: FrameType | None) -> None:
    """The first stop signal raises Interrupted where the program is; later
    ones are ignored, so the cleanup it starts (marking a run incomplete)
    is not itself interrupted. SIGKILL still ends everything."""
    for s in STOP_SIGNALS:
        signal.signal(s, _ignore)
    raise Interrupted("", signum)


def interrupt_on_stop_signals() -> dict[int, object]:
    """From now on SIGINT, SIGTERM and SIGHUP raise Interrupted (once); a
    signal ignored already (``nohup``, a background job) stays ignored.
    Returns the handlers replaced. Main thread only."""
    old = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in old.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, _raise_once)
    return old


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """interrupt_on_stop_signals() while inside. Outside the main thread
    signals cannot be handled: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = interrupt_on_stop_signals()
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if callable(handler) or isinstance(handler, int)
                          else signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(proc: subprocess.Popen, grace_s: float) -> None:
    """End a child started in a process group of its own
    (``start_new_session=True``) and everything in that group: a launcher
    script that starts the real program without ``exec`` (Renode's) leaves
    the program running when only the script is signalled. SIGTERM to the
    group, then SIGKILL to whatever is left after ``grace_s``."""
    pgid = proc.pid  # the group's id is its leader's pid, ours
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)  # reap the leader, so the group can empty
            if not _group_alive(pgid):
                return
            if time.monotonic() > deadline:
                break
    # Still "alive" after SIGKILL: zombies that their new parent reaps.

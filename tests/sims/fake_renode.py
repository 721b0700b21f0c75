"""A stand-in for Renode where Renode is not installed (CI): what the
backend relies on, not an emulator.

Run by a launcher shell script that, like Renode's own ``renode`` launcher
(the .deb's and a source build's), starts it *without* ``exec``: signalling
the launcher alone leaves this process running.

``--version`` prints a banner in Renode's form with FAKE_RENODE_VERSION.
Otherwise it takes Renode's command line (``--console``, the script last),
writes what it saw to FAKE_RENODE_REPORT (JSON: pid, pgid, whether stdin is
a pipe, argv) and behaves as FAKE_RENODE_MODE says:

- ``ok``: makes the pty the script's ``CreateUartPtyTerminal`` line names
  and, like Renode's console monitor, quits at the end of its stdin;
- ``stubborn``: the same, but ignores SIGTERM and the end of its stdin;
- ``crash``: prints what Renode 1.16.1 printed when it failed (an error
  amid .NET stack traces, renode-1.16-crash.log) and exits 1;
- ``script-error``: prints what Renode 1.16.1 printed for a session script
  that failed (renode-1.16-script-error.log) and waits at its prompt, as
  Renode's console monitor does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import sys
import time
from pathlib import Path

# What Renode 1.16.1 printed when a platform script of ours failed at run time.
CRASH = Path(__file__).with_name("renode-1.16-crash.log")
# What it printed, staying at its prompt, when the session script failed (an
# ELF it could not load); {script} stands for the script's path.
SCRIPT_ERROR = Path(__file__).with_name("renode-1.16-script-error.log")


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"Renode v{os.environ.get('FAKE_RENODE_VERSION', '1.16.1.33786')}")
        print("  build: -202612031846")
        return 0
    mode = os.environ.get("FAKE_RENODE_MODE", "ok")
    report = {"pid": os.getpid(), "pgid": os.getpgid(0), "argv": args,
              "stdin_is_pipe": stat.S_ISFIFO(os.fstat(0).st_mode)}
    with open(os.environ["FAKE_RENODE_REPORT"], "w") as f:
        json.dump(report, f)
    if mode == "crash":
        sys.stdout.write(CRASH.read_text())
        return 1
    if mode == "script-error":
        sys.stdout.write(SCRIPT_ERROR.read_text().replace("{script}", args[-1]))
        sys.stdout.flush()
        sys.stdin.buffer.read()
        return 0
    script = open(args[-1]).read()
    link = re.search(r'CreateUartPtyTerminal "\w+" "([^"]+)"', script).group(1)
    master, slave = os.openpty()
    os.symlink(os.ttyname(slave), link)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)
    sys.stdin.buffer.read()  # Renode's console monitor quits at the end of its input
    os.unlink(link)
    return 0


if __name__ == "__main__":
    sys.exit(main())

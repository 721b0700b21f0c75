"""What bench needs, what is here, and how to get what is missing."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import dataclass

from harness.backends.qemu import QemuBackend
from harness.toolchain import CC, INSTALL_HINT


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _package(name: str, required: bool = True, hint: str = "") -> Check:
    try:
        return Check(f"python: {name}", True, importlib.metadata.version(name), required)
    except importlib.metadata.PackageNotFoundError:
        return Check(f"python: {name}", False, hint or f"pip install {name} (or 'make setup')",
                     required)


def _run(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (p.stdout or p.stderr).strip()


def _meters() -> list[Check]:
    """What each power meter (bench run --meter, bench power capture) needs."""
    out = [_package("pyarrow", hint="power traces: pip install pyarrow (or 'make setup')"),
           _package("pyvisa", required=False,
                    hint="visa:// meters (Keysight N6705): pip install pyvisa pyvisa-py"),
           _package("pyvisa-py", required=False,
                    hint="VISA backend for visa:// without a vendor library: pip install "
                    "pyvisa-py"),
           _package("joulescope", required=False,
                    hint="joulescope:// meters: pip install joulescope")]
    try:
        from serial.tools.list_ports import comports

        ports = [p.device for p in comports() if p.vid is not None]  # USB ones
    except ImportError:
        ports = []
    out.append(Check("USB serial ports (ppk2://, lpm01a://)", bool(ports), ", ".join(ports) or
                     "none seen: plug the PPK2 / LPM01A in (power meters are optional)",
                     required=False))
    return out


def checks() -> list[Check]:
    out = [Check("python", sys.version_info >= (3, 11), sys.version.split()[0])]
    for pkg in ("torch", "numpy", "pyserial", "pyelftools", "scikit-learn", "rich"):
        out.append(_package(pkg))
    cc = shutil.which(CC)
    out.append(Check(CC, cc is not None,
                     _run([CC, "--version"]).splitlines()[0] if cc else INSTALL_HINT))
    if cc:
        libc = _run([CC, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                     "-mfpu=fpv4-sp-d16", "--specs=nano.specs", "-print-file-name=libc_nano.a"])
        out.append(Check("newlib (nano)", "/" in libc, libc if "/" in libc else
                         "apt-get install libnewlib-arm-none-eabi"))
    ok, why = QemuBackend().available()
    out.append(Check("qemu-system-arm (>= 9, STM32L4 board)", ok, why))
    if ok:
        machines = _run(["qemu-system-arm", "-M", "help"])
        out.append(Check("QEMU machine b-l475e-iot01a", "b-l475e-iot01a" in machines,
                         "present" if "b-l475e-iot01a" in machines else
                         "this QEMU lacks it: install QEMU 10 from bookworm-backports"))
    host_cc = shutil.which("gcc")
    out.append(Check("gcc (host, kernel tests)", host_cc is not None,
                     _run(["gcc", "-dumpfullversion"]) if host_cc else "apt-get install gcc",
                     required=False))
    ok, why = QemuBackend().exact_counter()  # builds the plugin if needed
    out.append(Check("QEMU plugin (exact instruction counts)", ok,
                     why if ok else f"{why}; runs fall back to SysTick counts", required=False))
    out.append(_package("qualia-codegen-core", required=False,
                        hint="peer engine for --engine qualia: pip install "
                        "qualia-codegen-core==2.6.0 tabulate (or 'make setup')"))
    out.append(_package("pyocd", required=False,
                        hint="real boards over SWD: pip install pyocd (not built into bench yet)"))
    out += _meters()
    renode = shutil.which("renode")
    out.append(Check("renode", renode is not None, renode or
                     "Renode emulator: install from its release packages (not available here)",
                     required=False))
    return out

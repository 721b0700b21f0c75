"""What bench needs, what is here, and how to get what is missing."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import dataclass

from harness.backends.qemu import QemuBackend
from harness.backends.renode import RenodeBackend
from harness.build.toolchain import CC, INSTALL_HINT


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
    out += _peer_checks()
    out.append(_package("pyocd", required=False,
                        hint="real boards over SWD: pip install 'pyocd>=0.36' (or 'make setup')"))
    out += real_board_checks()
    out += _meters()
    ok, why = RenodeBackend().available()
    out.append(Check("renode (--backend renode)", ok, why, required=False))
    return out


def _peer_checks() -> list[Check]:
    """The peer engines' own tools: none is needed for bench's own engine."""
    import os

    from harness.engines.stm32cubeai import ROOT_VAR, find_tool

    out = [_package("tflite-micro", required=False,
                    hint="--engine tflm (host interpreter): pip install -e '.[tflm]' "
                    "(Linux x86-64 only)")]
    root = os.environ.get("TFLM_ROOT")
    out.append(Check("TFLM_ROOT (tflm firmware)", bool(root), root or
                     "unset: --engine tflm runs in the host interpreter", required=False))
    tool = find_tool()
    out.append(Check("stedgeai (stm32cubeai firmware)", tool is not None, str(tool) if tool else
                     f"not on PATH and no {ROOT_VAR}: import its reports with "
                     f"'bench import-cubeai'", required=False))
    return out


def real_board_checks() -> list[Check]:
    """Debug probes (pyOCD) and serial ports (pyserial) attached now."""
    from harness.errors import BenchError
    from harness.flash.ports import serial_ports
    from harness.flash.pyocd_flash import list_probes

    out = []
    try:
        probes = list_probes()
        out.append(Check("debug probes (pyOCD)", bool(probes), "; ".join(
            p.line() for p in probes) or "none attached: plug in the board's ST-LINK / DAPLink "
            "USB (Linux: install the probe's udev rules); 'bench flash --probe ID' picks one",
            required=False))
    except BenchError as e:
        out.append(Check("debug probes (pyOCD)", False, str(e), required=False))
    ports = serial_ports()
    usb = [p for p in ports if p.vid is not None]
    # Built-in UARTs without a device behind them (/dev/ttyS0 "n/a") are noise here.
    others = [p.device for p in ports if p.vid is None and p.description != "n/a"]
    listing = [p.line() for p in usb] + [f"{d} (not USB)" for d in others]
    out.append(Check("serial ports (USB)", bool(usb), "; ".join(listing) or
                     "none: plug in the board (Nucleo: its ST-LINK USB; SparkFun Edge: a 3.3 V "
                     "USB-serial adapter) or a meter (PPK2, LPM01A); Linux users need the "
                     "dialout group",
                     required=False))
    return out

"""bench doctor: what bench needs, what is here, and how to get what is missing.

The general rows are here; each backend, engine and meter adds its own
(``checks()`` on each), so a new part brings its checks with it.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from rich.table import Table

from harness.backends import BACKENDS, all_boards, get_backend
from harness.build.toolchain import CC, CXX, CXX_HINT, INSTALL_HINT, has_cxx_library
from harness.checks import Check, output, package
from harness.commands import Command
from harness.commands.show import out
from harness.engines import ENGINES, get_engine
from harness.fpga.synth import checks as fpga_checks
from harness.power.meter import METERS


def checks() -> list[Check]:
    rows = [Check("python", sys.version_info >= (3, 11), sys.version.split()[0])]
    for pkg in ("torch", "numpy", "pyserial", "pyelftools", "scikit-learn", "rich"):
        rows.append(package(pkg))
    cc = shutil.which(CC)
    rows.append(Check(CC, cc is not None,
                      output([CC, "--version"]).splitlines()[0] if cc else INSTALL_HINT))
    if cc:
        libc = output([CC, "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                       "-mfpu=fpv4-sp-d16", "--specs=nano.specs", "-print-file-name=libc_nano.a"])
        rows.append(Check("newlib (nano)", "/" in libc, libc if "/" in libc else
                          "apt-get install libnewlib-arm-none-eabi"))
    cxx = shutil.which(CXX)
    rows.append(Check(f"{CXX} C++ library (tflm firmware)",
                      cxx is not None and has_cxx_library(cxx),
                      "<cstddef> found" if cxx and has_cxx_library(cxx) else CXX_HINT,
                      required=False))
    host_cc = shutil.which("gcc")
    rows.append(Check("gcc (host, kernel tests)", host_cc is not None,
                      output(["gcc", "-dumpfullversion"]) if host_cc else "apt-get install gcc",
                      required=False))
    boards = list(all_boards().values())
    for name in BACKENDS:
        backend = get_backend(name)
        rows += backend.checks([b for b in boards if backend.supports(b)])
    for name in ENGINES:
        rows += get_engine(name).checks()
    rows += fpga_checks()
    rows.append(package("pyarrow", hint="power traces: pip install pyarrow (or 'make setup')"))
    # Spiking models' libraries: needed only for models that use them.
    for pkg, hint in (("snntorch", "pip install snntorch==1.0.0"),
                      ("spikingjelly", "pip install --no-deps spikingjelly==2.0.0 (its declared "
                       "torchvision/torchaudio would replace the CPU torch)"),
                      ("nir", "pip install nir==1.0.8 h5py")):
        rows.append(package(pkg, required=False, hint=f"spiking models: {hint}"))
    for scheme in METERS:
        rows += METERS.load(scheme).checks()
    # Parts that need the same thing (two meters one package, two backends the
    # serial ports) list it once.
    seen: set[str] = set()
    return [c for c in rows if not (c.name in seen or seen.add(c.name))]


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    t = Table(title="bench doctor")
    for col in ("what", "status", "detail / how to get it"):
        t.add_column(col)
    missing_required = 0
    for c in checks():
        status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required
                                              else "[yellow]optional[/]")
        missing_required += (not c.ok) and c.required
        t.add_row(c.name, status, c.detail)
    out.print(t)
    return 1 if missing_required else 0


COMMAND = Command("doctor", "what is installed, what is missing, how to get it", add_arguments,
                  run)

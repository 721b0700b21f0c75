"""Synthesis for an FPGA with the open flow Debian ships: yosys
(synth_<family> -json), nextpnr-<family> (place and route, --report) and
icepack (the bitstream). Its resource report is the FPGA's counterpart of
an ELF's ROM/RAM.

A synthesis directory holds the yosys script and log, the netlist, the
nextpnr log and report, the bitstream and synthesis.json (key, resources,
step times). A directory whose synthesis.json has the same key (sources,
parameters, part, pins, clock, tool versions) is reused as it is.

A design that does not fit is refused twice over: from yosys's cell counts
before place and route (LUTs, flip-flops, EBR, SPRAM, DSP, I/O against the
part), and from nextpnr's own utilisation table when packing needs more
logic cells than the LUT count showed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from harness.checks import Check
from harness.errors import BuildError, ConfigError, ToolMissingError
from harness.fpga.part import FpgaPart, get_part
from harness.paths import build_root, output_dir

INSTALL_HINT = ("install them with 'make setup' (apt-get install yosys nextpnr-ice40 "
                "fpga-icestorm)")
ICE40_PREAMBLE = bytes.fromhex("7eaa997e")
SYNTHESIS_FILE = "synthesis.json"
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# nextpnr's "Device utilisation" rows: "ICESTORM_RAM:   128/   30   426%"
_UTIL_ROW = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)
# nextpnr's resource names -> ours (the report's "utilization" keys)
_NEXTPNR = {"ICESTORM_LC": "logic_cells", "ICESTORM_RAM": "bram_blocks",
            "ICESTORM_SPRAM": "spram_blocks", "ICESTORM_DSP": "dsp_blocks", "SB_IO": "io"}
# What each resource is called where a person reads it.
WORDS = {"luts": "LUTs (LUT4)", "ffs": "flip-flops", "logic_cells": "logic cells (LUT4 + FF)",
         "bram_blocks": "block RAM (EBR, 4 Kbit)", "spram_blocks": "SPRAM (256 Kbit)",
         "dsp_blocks": "DSP (MAC16)", "io": "I/O pins"}


@dataclass(frozen=True)
class FpgaResources:
    """What a design uses of its part after place and route, and how fast
    it may be clocked. ``luts``/``ffs`` come from the synthesised netlist
    (yosys's SB_LUT4 and SB_DFF* cells), the rest from nextpnr's report."""

    part: FpgaPart
    luts: int
    ffs: int
    logic_cells: int
    bram_blocks: int
    spram_blocks: int
    dsp_blocks: int
    io: int
    fmax_hz: int | None  # the slowest clock's, as place and route achieved it
    fmax_by_clock: dict[str, float] = field(default_factory=dict)  # clock net -> Hz
    constraint_hz: int | None = None  # the clock the design was placed for

    def rows(self) -> list[tuple[str, int, int]]:
        """(resource, used, the part's limit), in report order."""
        limits = self.part.limits()
        return [(WORDS[k], getattr(self, k), limits[k]) for k in
                ("luts", "ffs", "logic_cells", "bram_blocks", "spram_blocks", "dsp_blocks", "io")]

    def overflows(self) -> list[str]:
        return _overflows({k: getattr(self, k) for k in self.part.limits()}, self.part)

    def run_fields(self) -> dict[str, object]:
        """The figures as the results store's runs columns (RunRecord)."""
        return {"fpga_part": self.part.key, "fpga_luts": self.luts, "fpga_ffs": self.ffs,
                "fpga_bram": self.bram_blocks, "fpga_spram": self.spram_blocks,
                "fpga_dsp": self.dsp_blocks, "fmax_hz": self.fmax_hz}

    def as_json(self) -> dict:
        d = asdict(self)
        d["part"] = self.part.key
        return d

    @classmethod
    def from_json(cls, d: dict) -> FpgaResources:
        return cls(**{**d, "part": get_part(d["part"])})


@dataclass(frozen=True)
class Synthesis:
    """A synthesised design: its resources and its bitstream."""

    dir: Path
    key: str
    top: str
    parameters: dict[str, int]
    resources: FpgaResources
    bitstream: Path
    seconds: dict[str, float]  # wall time of each step on the machine that ran it
    tools: tuple[str, ...]
    reused: bool = False


def tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise ToolMissingError(f"{name} not found; {INSTALL_HINT}")
    return exe


def _first_line(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return ((p.stdout or p.stderr).strip().splitlines() or ["?"])[0]


@cache
def tool_versions(family: str) -> tuple[str, ...]:
    """The versions of the tools that decide the netlist and its placement
    (icepack only packs the placed design and has no version switch)."""
    return (_first_line([tool("yosys"), "-V"]), _first_line([tool(f"nextpnr-{family}"),
                                                              "--version"]))


def synthesis_key(sources: list[Path], top: str, parameters: dict[str, int], part: FpgaPart,
                  pcf: Path | None, clock_hz: int | None) -> str:
    h = hashlib.sha256()
    for p in sorted(sources, key=lambda p: p.name):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(repr((top, sorted(parameters.items()), part, clock_hz,
                   tool_versions(part.family))).encode())
    if pcf is not None:
        h.update(pcf.read_bytes())
    return h.hexdigest()


def synthesis_dir(part: FpgaPart, top: str, key: str) -> Path:
    """Where a synthesis lives by default: under build_root(), named by its key."""
    return build_root() / f"fpga-{part.key}-{top}-{key[:12]}"


def stored_synthesis(sources: list[Path], top: str, parameters: dict[str, int],
                     part: FpgaPart, pcf: Path | None = None,
                     clock_hz: int | None = None) -> Synthesis | None:
    """The synthesis of exactly this design in its default directory, when
    one was made (by 'bench build'), without running the flow: what a run
    on that design stores as its resources (FpgaResources.run_fields)."""
    sources = [s.resolve() for s in sources]
    key = synthesis_key(sources, top, parameters, part, pcf, clock_hz)
    return _reuse(synthesis_dir(part, top, key), key)


def synthesise(sources: list[Path], top: str, parameters: dict[str, int], part: FpgaPart,
               out_dir: Path, pcf: Path | None = None,
               clock_hz: int | None = None) -> Synthesis:
    """yosys -> nextpnr -> icepack for ``top`` with its Verilog ``parameters``
    set; reuse ``out_dir`` when nothing changed. ``pcf`` pins the top's ports
    (without one nextpnr places them anywhere); ``clock_hz`` is the clock
    the design must meet (nextpnr --freq)."""
    if not sources:
        raise ConfigError("no Verilog sources to synthesise")
    sources = [s.resolve() for s in sources]  # the tools run in out_dir
    pcf = pcf.resolve() if pcf is not None else None
    for s in sources:
        if not s.is_file():
            raise ConfigError(f"Verilog source {s} does not exist")
    for name, value in parameters.items():
        if not _PARAM.match(name) or isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"Verilog parameter {name}={value!r}: a name and an integer")
    for exe in ("yosys", f"nextpnr-{part.family}", "icepack"):
        tool(exe)
    key = synthesis_key(sources, top, parameters, part, pcf, clock_hz)
    output_dir(out_dir, "synthesis directory")
    done = _reuse(out_dir, key)
    if done is not None:
        return done

    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    cells, ports = _yosys(sources, top, parameters, part, out_dir)
    seconds["yosys"] = round(time.monotonic() - t0, 2)
    early = _overflows({"luts": cells.get("SB_LUT4", 0),
                        "ffs": sum(n for t, n in cells.items() if t.startswith("SB_DFF")),
                        "bram_blocks": cells.get("SB_RAM40_4K", 0),
                        "spram_blocks": cells.get("SB_SPRAM256KA", 0),
                        "dsp_blocks": cells.get("SB_MAC16", 0), "io": ports}, part)
    if early:
        raise BuildError(f"{top} does not fit the {part.name}: {'; '.join(early)} (yosys "
                         f"cell counts, before place and route; log: {out_dir / 'yosys.log'})")
    t0 = time.monotonic()
    report = _nextpnr(part, out_dir, pcf, clock_hz, top)
    seconds["nextpnr"] = round(time.monotonic() - t0, 2)
    resources = parse_report(report, cells, part)
    t0 = time.monotonic()
    bitstream = _icepack(out_dir)
    seconds["icepack"] = round(time.monotonic() - t0, 2)

    syn = Synthesis(dir=out_dir, key=key, top=top, parameters=dict(parameters),
                    resources=resources, bitstream=bitstream, seconds=seconds,
                    tools=tool_versions(part.family))
    (out_dir / SYNTHESIS_FILE).write_text(json.dumps({
        "key": key, "top": top, "parameters": syn.parameters, "resources": resources.as_json(),
        "bitstream": bitstream.name, "seconds": seconds, "tools": list(syn.tools)}, indent=2)
        + "\n")
    return syn


def _reuse(out_dir: Path, key: str) -> Synthesis | None:
    path = out_dir / SYNTHESIS_FILE
    try:
        d = json.loads(path.read_text())
        if d["key"] != key or not (out_dir / d["bitstream"]).is_file():
            return None
        return Synthesis(dir=out_dir, key=key, top=d["top"], parameters=d["parameters"],
                         resources=FpgaResources.from_json(d["resources"]),
                         bitstream=out_dir / d["bitstream"], seconds=d["seconds"],
                         tools=tuple(d["tools"]), reused=True)
    except (OSError, ValueError, KeyError, TypeError, ConfigError):
        return None


def _yosys(sources: list[Path], top: str, parameters: dict[str, int], part: FpgaPart,
           out_dir: Path) -> tuple[dict[str, int], int]:
    """Synthesise; the cell counts by type and the top's port bits."""
    script = [f"read_verilog -sv {json.dumps(str(s))}" for s in sources]
    if parameters:
        sets = " ".join(f"-set {k} {v}" for k, v in sorted(parameters.items()))
        script.append(f"chparam {sets} {top}")
    script += [f"synth_{part.family} {' '.join(part.synth_options)} -top {top} "
               f"-json synth.json",
               "tee -q -o stat.json stat -json"]
    (out_dir / "synth.ys").write_text("\n".join(script) + "\n")
    log = out_dir / "yosys.log"
    log.unlink(missing_ok=True)
    _run_in([tool("yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], out_dir, log, "yosys")
    stat = json.loads((out_dir / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    netlist = json.loads((out_dir / "synth.json").read_text())
    ports = sum(len(p["bits"]) for p in netlist["modules"][top]["ports"].values())
    return {str(k): int(v) for k, v in cells.items()}, ports


def _run_in(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    if p.returncode != 0:
        text = (log.read_text(errors="replace") if log.exists() else "") + p.stdout + p.stderr
        first = next((ln.strip() for ln in text.splitlines() if "ERROR" in ln),
                     text.strip()[-300:])
        raise BuildError(f"{what} failed: {first} (log: {log})")


def _nextpnr(part: FpgaPart, out_dir: Path, pcf: Path | None, clock_hz: int | None,
             top: str) -> dict:
    log = out_dir / "nextpnr.log"
    log.unlink(missing_ok=True)
    cmd = [tool(f"nextpnr-{part.family}"), part.device_flag, "--package", part.package,
           "--json", "synth.json", "--asc", "design.asc", "--report", "report.json",
           "-q", "-l", "nextpnr.log"]
    cmd += ["--pcf", str(pcf)] if pcf is not None else ["--pcf-allow-unconstrained"]
    if clock_hz:
        cmd += ["--freq", f"{clock_hz / 1e6:g}"]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=out_dir)
    if p.returncode != 0:
        text = (log.read_text(errors="replace") if log.exists() else "") + p.stderr
        over = _overflows({_NEXTPNR[name]: int(used)
                           for name, used, _ in _UTIL_ROW.findall(text) if name in _NEXTPNR},
                          part)
        if over:
            raise BuildError(f"{top} does not fit the {part.name}: {'; '.join(over)} (nextpnr, "
                             f"log: {log})")
        first = next((ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")),
                     text.strip()[-300:])
        raise BuildError(f"place and route (nextpnr-{part.family}) failed: {first} "
                         f"(log: {log})")
    return json.loads((out_dir / "report.json").read_text())


def _icepack(out_dir: Path) -> Path:
    bitstream = out_dir / "bitstream.bin"
    _run_in([tool("icepack"), "design.asc", "bitstream.bin"], out_dir, out_dir / "icepack.log",
            "icepack")
    check_ice40_bitstream(bitstream)
    return bitstream


def check_ice40_bitstream(path: Path) -> None:
    """An iCE40 bitstream: optional comment (0xFF 0x00 ... 0x00 0xFF), then
    the sync word 0x7EAA997E."""
    try:
        head = path.read_bytes()[:4096]
    except OSError as e:
        raise ConfigError(f"bitstream {path} is unreadable: {e.strerror or e}") from e
    start = 0
    if head[:2] == b"\xff\x00":
        end = head.find(b"\x00\xff", 2)
        start = end + 2 if end >= 0 else len(head)
    while start < len(head) and head[start] == 0xFF:  # padding before the sync word
        start += 1
    if head[start:start + 4] != ICE40_PREAMBLE:
        raise ConfigError(f"{path} is not an iCE40 bitstream (no 0x7EAA997E sync word at its "
                          f"start): give the .bin icepack writes")


def parse_report(report: dict, cells: dict[str, int], part: FpgaPart) -> FpgaResources:
    """nextpnr's --report JSON (utilization, fmax) plus yosys's cell counts."""
    try:
        util = {_NEXTPNR[k]: int(v["used"]) for k, v in report["utilization"].items()
                if k in _NEXTPNR}
        fmax = {clk: float(v["achieved"]) * 1e6 for clk, v in report.get("fmax", {}).items()}
        constraint = [float(v["constraint"]) * 1e6 for v in report.get("fmax", {}).values()]
    except (KeyError, TypeError, ValueError) as e:
        raise BuildError(f"nextpnr's report is not in the expected form ({e})") from e
    missing = sorted(set(_NEXTPNR.values()) - set(util))
    if missing:
        raise BuildError(f"nextpnr's report lacks {', '.join(missing)}")
    return FpgaResources(
        part=part, luts=cells.get("SB_LUT4", 0),
        ffs=sum(n for t, n in cells.items() if t.startswith("SB_DFF")),
        logic_cells=util["logic_cells"], bram_blocks=util["bram_blocks"],
        spram_blocks=util["spram_blocks"], dsp_blocks=util["dsp_blocks"],
        io=util["io"],
        fmax_hz=int(min(fmax.values())) if fmax else None, fmax_by_clock=fmax,
        # nextpnr states the target as a period in ps: back to whole kHz
        constraint_hz=round(min(constraint) / 1e3) * 1000 if constraint else None)


def _overflows(used: dict[str, int], part: FpgaPart) -> list[str]:
    limits = part.limits()
    return [f"{WORDS[k]} {n:,} of {limits[k]:,} ({n - limits[k]:,} too many)"
            for k, n in used.items() if k in limits and n > limits[k]]


def checks() -> list[Check]:
    """bench doctor's rows for the FPGA flow (needed only for FPGA boards)."""
    rows = []
    for exe, package in (("yosys", "yosys"), ("nextpnr-ice40", "nextpnr-ice40"),
                         ("icepack", "fpga-icestorm"), ("openFPGALoader", "openfpgaloader")):
        found = shutil.which(exe)
        version = "" if found is None or exe == "icepack" else _first_line(
            [found, "--version" if exe == "nextpnr-ice40" else "-V"])
        rows.append(Check(f"{exe} (FPGA boards)", found is not None,
                          (version or found or "") if found else f"apt-get install {package} (or "
                          f"'make setup')", required=False))
    return rows

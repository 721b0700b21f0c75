"""Firmware build: generated model + kernels + runtime + board support -> ELF.

A build directory holds everything needed to reproduce and load the
firmware: the generated C, firmware.elf, a map file and manifest.json (build
id, model hash, compiler and flags, memory report). A directory whose
manifest already has the same build id is reused as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.boards import Board
from harness.build import toolchain
from harness.build.firmware import Firmware
from harness.build.fit import check_fits
from harness.build.memory import memory_report
from harness.engines.base import Engine, GeneratedModel
from harness.errors import BuildError, ConfigError
from harness.kinds import DType, LinkKind, WeightLayout
from harness.model.ir import Graph, graph_hash
from harness.paths import BOARDS, FIRMWARE, ROOT, build_root, output_dir
from harness.quant import QuantConfig

RUNTIME_SOURCES = ("main.c", "crc32.c", "bench_marks.c")
LINKS = tuple(LinkKind)  # firmware/runtime/link_<name>.c
PER_LAYER_CFLAGS = ("-DBENCH_PER_LAYER",)  # BENCH_LAYER_MARK() becomes a marker call
OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


def _sources_digest(paths: list[Path]) -> bytes:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name).encode())
        h.update(p.read_bytes())
    return h.digest()


def build(board: Board, graph: Graph, engine: Engine, dtype: str, out_dir: Path,
          link: str = LinkKind.UART, extra_cflags: tuple[str, ...] = (),
          quant: QuantConfig | None = None) -> Firmware:
    """Generate, compile and link; reuse ``out_dir`` when nothing changed.

    ``quant`` (scheme + calibration) is required for int8/int16; its ranges
    are saved as ``calibration.json`` beside the firmware.
    """
    if link not in LINKS:
        raise ConfigError(f"unknown link {link!r}; known: {', '.join(LINKS)}")
    dtype = engine.check_dtype(dtype)
    check_fits(board, graph, dtype)  # before minutes of gcc on a weights header
    cc = toolchain.compiler()
    model_hash = graph_hash(graph)
    output_dir(out_dir, "build directory")
    if dtype.is_integer and quant is None:
        raise ConfigError(f"a {dtype} build needs calibration ranges and a scheme")
    gen: GeneratedModel = engine.generate(graph, out_dir, model_hash[:8], dtype,
                                          quant if dtype.is_integer else None)
    if quant is not None and dtype.is_integer:
        quant.calibration.save(out_dir / "calibration.json")

    runtime = [FIRMWARE / "runtime" / s for s in (*RUNTIME_SOURCES, f"link_{link}.c")]
    sources = [*runtime, *board.sources, *gen.sources]
    includes = [FIRMWARE / "runtime", board.folder, *gen.include_dirs]
    cflags = (*board.cflags, *toolchain.CFLAGS, *extra_cflags)
    identity = hashlib.sha256()
    # Headers too: a generated weights header or a kernel's inline code
    # changes the firmware as much as a .c file does; so do the kernel
    # bodies the .c files include (*.inc).
    headers = sorted({h for d in includes for pattern in ("*.h", "*.inc")
                      for h in Path(d).glob(pattern)})
    identity.update(_sources_digest([*sources, *headers, board.linker_script]))
    identity.update(repr((board.name, engine.name, str(dtype), str(link), cflags, toolchain.LDFLAGS,
                          toolchain.compiler_version(), gen.defines)).encode())
    build_id = identity.digest()[:8]

    manifest_path = out_dir / "manifest.json"
    elf = out_dir / "firmware.elf"
    if manifest_path.exists() and elf.exists():
        try:
            old = Firmware.load(out_dir)
            # Older builds lack the per-component memory split: redo them.
            if old.build_id == build_id.hex() and old.memory.components:
                return old
        except (ConfigError, TypeError, KeyError):
            pass

    defines = [
        f"-DBENCH_MAX_PAYLOAD={max(gen.input_bytes, 64)}u",
        f"-DBENCH_OUTPUT_BYTES={gen.output_bytes}u",
        f"-DBENCH_BUILD_ID=0x{int.from_bytes(build_id, 'little'):016x}ull",
        *gen.defines,
    ]
    objects = _compile(cc, [*cflags, *defines, *(f"-I{d}" for d in includes)], sources,
                       out_dir)
    cmd = [cc, *cflags, *map(str, objects), "-T", str(board.linker_script), *toolchain.LDFLAGS,
           f"-Wl,-Map={out_dir / 'firmware.map'}", *map(str, gen.libraries), "-lm", "-o",
           str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with (out_dir / "build.log").open("a") as log:
        log.write(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
    if proc.returncode != 0:
        elf.unlink(missing_ok=True)
        over = OVERFLOW.findall(proc.stderr)
        if over:
            what = ", ".join(f"{region} by {int(n):,} bytes" for region, n in over)
            raise BuildError(f"model does not fit {board.name} ({board.part}: "
                             f"{board.rom_bytes // 1024} KB flash, {board.ram_bytes // 1024} KB "
                             f"RAM): {what} too large")
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr[-300:])
        raise BuildError(f"firmware build failed: {first.strip()} (full log: "
                         f"{out_dir / 'build.log'})")
    components = {obj.name: _component(src, out_dir) for obj, src in zip(objects, sources,
                                                                          strict=True)}

    fw = Firmware(
        dir=out_dir, elf=elf, build_id=build_id.hex(), board=board.name, engine=engine.name,
        dtype=dtype, link=link, model_hash=model_hash.hex(), input_bytes=gen.input_bytes,
        output_bytes=gen.output_bytes, arena_bytes=gen.arena_bytes,
        input_dtype=gen.input_dtype, output_dtype=gen.output_dtype,
        input_shape=tuple(graph.sample_shape),
        n_outputs=gen.output_bytes // gen.output_dtype.itemsize,
        compiler=toolchain.compiler_version(), cflags=cflags,
        memory=memory_report(elf, out_dir / "firmware.map", components),
        quant_scheme=quant.scheme if quant is not None and dtype.is_integer else None,
        input_quant=gen.input_quant, output_quant=gen.output_quant, layers=tuple(gen.layers),
        input_layout=gen.input_layout, output_layout=gen.output_layout,
        output_shape=tuple(graph.output_shape),
        snn=_snn_manifest(graph, engine.capabilities.spike_counters), note=gen.note)
    manifest_path.write_text(json.dumps(fw.manifest(), indent=2) + "\n")
    return fw


def _snn_manifest(graph: Graph, counted: bool) -> dict | None:
    """T, readout, encoding, and the layers whose spikes the device counts
    (none when the engine has no counters)."""
    if not graph.spiking:
        return None
    return {"timesteps": graph.timesteps, "readout": graph.readout, "encoding": graph.encoding,
            "layers": graph.spike_layer_table() if counted else []}


def _compile(cc: str, flags: list[str], sources: list[Path], out_dir: Path) -> list[Path]:
    """One object per source (so the link map can say which part of the
    firmware each byte belongs to), compiled in parallel."""
    obj_dir = out_dir / "obj"
    obj_dir.mkdir(exist_ok=True)
    objects = [obj_dir / f"{i:02d}_{src.stem}.o" for i, src in enumerate(sources)]

    def one(pair: tuple[Path, Path]) -> subprocess.CompletedProcess:
        src, obj = pair
        return subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)],
                              capture_output=True, text=True, check=False)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(one, zip(sources, objects, strict=True)))
    log = "".join(f"{' '.join(r.args)}\n{r.stdout}{r.stderr}" for r in results)
    (out_dir / "build.log").write_text(log + "\n")
    for src, r in zip(sources, results, strict=True):
        if r.returncode != 0:
            first = next((ln for ln in r.stderr.splitlines() if "error" in ln),
                         r.stderr[-300:])
            raise BuildError(f"firmware build failed in {src.name}: {first.strip()} (full "
                             f"log: {out_dir / 'build.log'})")
    return objects


def _component(source: Path, out_dir: Path) -> str:
    """Which part of the firmware a source is: the generated model, the
    engine's kernels, or the runtime every engine shares."""
    if source.is_relative_to(out_dir):
        return "model"
    if source.is_relative_to(FIRMWARE / "runtime") or source.is_relative_to(BOARDS):
        return "runtime"
    return "kernels"


def build_for(board: Board, graph: Graph, engine: Engine, dtype: str, link: str,
              out_dir: Path | None = None, quant: QuantConfig | None = None,
              per_layer: bool = False) -> Firmware:
    """``build`` into a directory named by what makes the firmware (under
    build_root() unless ``out_dir``); ``per_layer`` adds the layer markers."""
    scheme = ""
    if quant is not None and dtype != DType.FLOAT32:
        # Other ranges make other firmware: keep each in its own directory so
        # a stored run's firmware_dir stays the firmware it measured.
        ranges = json.dumps(quant.calibration.ranges, sort_keys=True).encode()
        scheme = (f"-{quant.scheme}" + ("-wide" if quant.weights == WeightLayout.WIDE else "")
                  + f"-r{hashlib.sha256(ranges).hexdigest()[:6]}")
    layers = "-per-layer" if per_layer else ""
    name = (f"{board.name}-{link}-{engine.name}-{dtype}{scheme}{layers}-"
            f"{graph_hash(graph).hex()[:12]}")
    return build(board, graph, engine, dtype, out_dir or build_root() / name, link=link,
                 quant=quant, extra_cflags=PER_LAYER_CFLAGS if per_layer else ())


def is_per_layer(fw: Firmware) -> bool:
    """Whether ``fw`` was built with the per-layer markers."""
    return PER_LAYER_CFLAGS[0] in fw.cflags

"""Firmware build: generated model + kernels + runtime + board support -> ELF.

A build directory holds everything needed to reproduce and load the
firmware: the generated C, firmware.elf, a map file and manifest.json (build
id, model hash, compiler and flags, memory report). A directory whose
manifest already has the same build id is reused as it is.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
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
INPUTS = "inputs.json"  # the headers the last build read, for the reuse check
OBJECT_CACHE = "objcache"  # under build_root(): objects of sources outside bench
OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


def _sources_digest(paths: list[Path]) -> bytes:
    h = hashlib.sha256()
    for p in sorted(set(paths)):
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name).encode())
        h.update(p.read_bytes())
    return h.digest()


def _identity(settings: bytes, files: list[Path]) -> bytes:
    """The build id: the settings and the content of every file the build
    read (sources, the linker script and each header the compiler opened,
    as its dependency output lists them)."""
    return hashlib.sha256(settings + _sources_digest(files)).digest()[:8]


def _reusable(out_dir: Path, settings: bytes, files: list[Path]) -> Firmware | None:
    """The firmware already in ``out_dir`` when every file its last build
    read is unchanged."""
    try:
        old = Firmware.load(out_dir)
        read = [Path(p) for p in json.loads((out_dir / INPUTS).read_text())]
        if not old.elf.exists() or not old.memory.components:  # older builds lack the split
            return None
        if old.build_id == _identity(settings, [*files, *read]).hex():
            return old
    except (ConfigError, TypeError, KeyError, OSError, ValueError):
        pass
    return None


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
    # One build per directory at a time: runs of one model in parallel (sweep
    # or Dask workers on one machine) wait, then reuse it instead of linking
    # over each other's objects.
    with (out_dir / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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
        cxx = any(toolchain.is_cxx(s) for s in sources)
        cxxflags = (*board.cflags, *toolchain.CXXFLAGS, *extra_cflags) if cxx else ()
        # Sources from outside bench know nothing of bench's own switches
        # (-DBENCH_PER_LAYER): without them their cached objects serve both.
        plain = (tuple(f for f in cflags if f not in extra_cflags),
                 tuple(f for f in cxxflags if f not in extra_cflags))
        variant = engine.variant()
        # Not the include directories: the build directory is one of them for
        # some engines, and the headers read are hashed by content below.
        settings = repr((board.name, variant, str(dtype), str(link), cflags, cxxflags,
                         toolchain.LDFLAGS, toolchain.compiler_version(), gen.defines)).encode()
        fixed = [*sources, board.linker_script]
        old = _reusable(out_dir, settings, fixed)
        if old is not None:
            return old

        common = [*gen.defines, *(f"-I{d}" for d in includes)]
        ours = [f"-DBENCH_MAX_PAYLOAD={max(gen.input_bytes, 64)}u",
                f"-DBENCH_OUTPUT_BYTES={gen.output_bytes}u"]
        compiler = _Compiler(cc, (cflags, cxxflags), plain, out_dir)
        main_c = runtime[0]
        # Everything but main.c first: the build id (main.c's one define) hashes
        # every header they read. Sources from outside bench (a TFLM tree) get
        # no bench define, so their objects are shared between builds.
        jobs = [(i, src, common if _external(src, out_dir) else [*ours, *common],
                 _external(src, out_dir)) for i, src in enumerate(sources) if src != main_c]
        objects: dict[int, Path] = {}
        headers: set[Path] = set()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for i, obj, deps in pool.map(lambda j: (j[0], *compiler.compile(*j)), jobs):
                objects[i] = obj
                headers.update(deps)
        headers.update(compiler.dependencies(main_c, [*ours, *common]))
        build_id = _identity(settings, [*fixed, *headers])
        index = sources.index(main_c)
        define = f"-DBENCH_BUILD_ID=0x{int.from_bytes(build_id, 'little'):016x}ull"
        objects[index], _ = compiler.compile(index, main_c, [*ours, define, *common], False)
        compiler.write_log()
        objects_list = [objects[i] for i in range(len(sources))]
        (out_dir / INPUTS).write_text(json.dumps(sorted(str(h) for h in headers), indent=0) + "\n")

        elf = out_dir / "firmware.elf"
        manifest_path = out_dir / "manifest.json"
        linker = toolchain.cxx_compiler() if cxx else cc
        cmd = [linker, *cflags, *map(str, objects_list), "-T", str(board.linker_script),
               *toolchain.LDFLAGS, f"-Wl,-Map={out_dir / 'firmware.map'}", *map(str, gen.libraries),
               "-lm", "-o", str(elf)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        with (out_dir / "build.log").open("a") as log:
            log.write(" ".join(cmd) + "\n\n" + proc.stdout + proc.stderr)
        if proc.returncode != 0:
            elf.unlink(missing_ok=True)
            over = OVERFLOW.findall(proc.stderr)
            if over:
                what = ", ".join(f"{region} by {int(n):,} bytes" for region, n in over)
                raise BuildError(f"model does not fit {board.name} ({board.part}: "
                                 f"{board.rom_bytes // 1024} KB flash, "
                                 f"{board.ram_bytes // 1024} KB RAM): {what} too large")
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln),
                         proc.stderr[-300:])
            raise BuildError(f"firmware build failed: {first.strip()} (full log: "
                             f"{out_dir / 'build.log'})")
        components = {obj.name: _component(src, out_dir) for obj, src in zip(objects_list, sources,
                                                                              strict=True)}

        fw = Firmware(
            dir=out_dir, elf=elf, build_id=build_id.hex(), board=board.name, engine=variant,
            dtype=dtype, link=link, model_hash=model_hash.hex(), input_bytes=gen.input_bytes,
            output_bytes=gen.output_bytes, arena_bytes=gen.arena_bytes,
            input_dtype=gen.input_dtype, output_dtype=gen.output_dtype,
            input_shape=tuple(graph.sample_shape),
            n_outputs=gen.output_bytes // gen.output_dtype.itemsize,
            compiler=toolchain.compiler_version(), cflags=cflags, cxxflags=cxxflags,
            memory=memory_report(elf, out_dir / "firmware.map", components),
            quant_scheme=quant.scheme if quant is not None and dtype.is_integer else None,
            input_quant=gen.input_quant, output_quant=gen.output_quant, layers=tuple(gen.layers),
            input_layout=gen.input_layout, output_layout=gen.output_layout,
            output_shape=tuple(graph.output_shape),
            snn=_snn_manifest(graph, engine.capabilities.spike_counters), note=gen.note,
            arena_from=gen.extra.get("arena_from"))
        manifest_path.write_text(json.dumps(fw.manifest(), indent=2) + "\n")
        return fw


def _snn_manifest(graph: Graph, counted: bool) -> dict | None:
    """T, readout, encoding, and the layers whose spikes the device counts
    (none when the engine has no counters)."""
    if not graph.spiking:
        return None
    return {"timesteps": graph.timesteps, "readout": graph.readout, "encoding": graph.encoding,
            "layers": graph.spike_layer_table() if counted else []}


def _external(source: Path, out_dir: Path) -> bool:
    """A source from outside bench and its build (a user's TFLM tree)."""
    return not source.is_relative_to(ROOT) and not source.is_relative_to(out_dir)


def _make_deps(text: str) -> list[Path]:
    """The files a gcc dependency file (-MMD) lists after its target."""
    files = text.replace("\\\n", " ").partition(":")[2].split()
    return [Path(f) for f in files]


class _Compiler:
    """One object per source (so the link map can say which part of the
    firmware each byte belongs to), each with the headers it read; objects
    of external sources come from a cache keyed by the compiler, flags and
    source, valid while every header they read is unchanged."""

    def __init__(self, cc: str, flags: tuple[tuple[str, ...], tuple[str, ...]],
                 external: tuple[tuple[str, ...], tuple[str, ...]], out_dir: Path) -> None:
        """``flags`` and ``external`` are (C, C++) flags for bench's sources
        and for those from outside it."""
        self.cc, self.flags, self.external, self.out_dir = cc, flags, external, out_dir
        self.obj_dir = out_dir / "obj"
        self.obj_dir.mkdir(exist_ok=True)
        self.cache = build_root() / OBJECT_CACHE
        self.log: dict[int, str] = {}

    def _argv(self, src: Path, flags: list[str], external: bool = False) -> list[str]:
        c, cxx = self.external if external else self.flags
        if toolchain.is_cxx(src):
            return [toolchain.cxx_compiler(), *cxx, *flags]
        return [self.cc, *c, *flags]

    def compile(self, index: int, src: Path, flags: list[str],
                cached: bool) -> tuple[Path, list[Path]]:
        obj = self.obj_dir / f"{index:02d}_{src.stem}.o"
        argv = self._argv(src, flags, cached)
        key = hashlib.sha256(repr((toolchain.compiler_version(), argv, str(src))).encode()
                             + src.read_bytes()).hexdigest()
        entry = self.cache / key[:2] / key
        if cached:
            hit = _cache_lookup(entry)
            if hit is not None:
                shutil.copyfile(entry.with_suffix(".o"), obj)
                self.log[index] = f"# {src}: from the object cache\n"
                return obj, hit
        dep = obj.with_suffix(".d")
        r = subprocess.run([*argv, "-MMD", "-MF", str(dep), "-c", str(src), "-o", str(obj)],
                           capture_output=True, text=True, check=False)
        self.log[index] = f"{' '.join(r.args)}\n{r.stdout}{r.stderr}"
        if r.returncode != 0:
            self.write_log()
            first = next((ln for ln in r.stderr.splitlines() if "error" in ln),
                         r.stderr[-300:])
            raise BuildError(f"firmware build failed in {src.name}: {first.strip()} (full "
                             f"log: {self.out_dir / 'build.log'})")
        deps = [d for d in _make_deps(dep.read_text()) if d.resolve() != src.resolve()]
        if cached:
            _cache_store(entry, obj, deps)
        return obj, deps

    def dependencies(self, src: Path, flags: list[str]) -> list[Path]:
        """The headers ``src`` reads (the preprocessor only)."""
        r = subprocess.run([*self._argv(src, flags), "-MM", str(src)], capture_output=True,
                           text=True, check=False)
        if r.returncode != 0:
            raise BuildError(f"firmware build failed in {src.name}: {r.stderr.strip()[-300:]}")
        return [d for d in _make_deps(r.stdout) if d.resolve() != src.resolve()]

    def write_log(self) -> None:
        (self.out_dir / "build.log").write_text("".join(self.log[i] for i in sorted(self.log))
                                                + "\n")


def _cache_lookup(entry: Path) -> list[Path] | None:
    """The headers a cached object read, when they all still hold what they
    held then; None on a miss."""
    try:
        recorded = json.loads(entry.with_suffix(".json").read_text())
        if not entry.with_suffix(".o").exists():
            return None
        for path, digest in recorded.items():
            if hashlib.sha256(Path(path).read_bytes()).hexdigest() != digest:
                return None
    except (OSError, ValueError, AttributeError):
        return None
    return [Path(p) for p in recorded]


def _cache_store(entry: Path, obj: Path, deps: list[Path]) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    digests = {str(d.resolve()): hashlib.sha256(d.read_bytes()).hexdigest() for d in deps}
    tmp = entry.with_name(f"{entry.name}.{os.getpid()}.{threading.get_ident()}")
    # Object first, then its record: a reader never sees a record without it.
    shutil.copyfile(obj, tmp)
    os.replace(tmp, entry.with_suffix(".o"))
    tmp.write_text(json.dumps(digests))
    os.replace(tmp, entry.with_suffix(".json"))


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
    name = (f"{board.name}-{link}-{engine.variant()}-{dtype}{scheme}{layers}-"
            f"{graph_hash(graph).hex()[:12]}")
    return build(board, graph, engine, dtype, out_dir or build_root() / name, link=link,
                 quant=quant, extra_cflags=PER_LAYER_CFLAGS if per_layer else ())


def is_per_layer(fw: Firmware) -> bool:
    """Whether ``fw`` was built with the per-layer markers."""
    return PER_LAYER_CFLAGS[0] in fw.cflags

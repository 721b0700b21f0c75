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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.boards import Board
from harness.build import toolchain
from harness.build.memory import MemoryReport, memory_report
from harness.engines import GeneratedModel, get_engine
from harness.errors import BuildError, ConfigError
from harness.model.ir import Graph
from harness.paths import BOARDS, FIRMWARE, ROOT
from harness.quant import QuantConfig, TensorQuant

RUNTIME_SOURCES = ("main.c", "crc32.c", "bench_marks.c")
LINKS = ("uart", "semihost")  # firmware/runtime/link_<name>.c
OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")


@dataclass(frozen=True)
class Firmware:
    dir: Path
    elf: Path
    build_id: str
    board: str
    engine: str
    dtype: str
    link: str
    model_hash: str
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    input_dtype: str
    output_dtype: str
    input_shape: tuple[int, ...]
    n_outputs: int
    compiler: str
    cflags: tuple[str, ...]
    memory: MemoryReport
    quant_scheme: str | None = None  # "pot" | "affine" for integer builds
    input_quant: TensorQuant | None = None
    output_quant: TensorQuant | None = None
    layers: tuple[dict, ...] = field(default=())  # what BENCH_LAYER_MARK i refers to
    input_layout: str = "chw"  # "hwc": channels last, the host transposes
    output_layout: str = "chw"
    output_shape: tuple[int, ...] = ()

    def manifest(self) -> dict:
        d = asdict(self)
        d["dir"] = str(self.dir)
        d["elf"] = str(self.elf)
        return d

    def encode_input(self, x: object) -> bytes:
        """One sample as the firmware expects it: float32, or quantized."""
        import numpy as np

        x = np.asarray(x, dtype=np.float32)
        if self.input_layout == "hwc" and x.ndim > 1:
            x = np.moveaxis(x, 0, -1)
        if self.input_quant is None:
            return np.ascontiguousarray(x, dtype="<f4").tobytes()
        return np.ascontiguousarray(self.input_quant.quantize(x)).astype(
            "<" + np.dtype(self.input_quant.dtype).str[1:]).tobytes()

    def decode_output(self, payload: bytes) -> object:
        """The output bytes as float32 values (dequantized for integer builds)."""
        import numpy as np

        if self.output_quant is None:
            y = np.frombuffer(payload, dtype="<f4").astype(np.float32)
        else:
            q = np.frombuffer(payload, dtype=np.dtype(self.output_quant.dtype).newbyteorder("<"))
            y = self.output_quant.dequantize(q)
        if self.output_layout == "hwc" and len(self.output_shape) > 1:
            shape = self.output_shape
            y = np.moveaxis(y.reshape((*shape[1:], shape[0])), -1, 0).reshape(-1)
        return y

    @staticmethod
    def load(path: Path) -> Firmware:
        """From a build directory or an ELF inside one."""
        folder = path.parent if path.suffix == ".elf" else path
        try:
            d = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{folder} is not a bench build directory (no readable "
                              f"manifest.json): {e}") from e
        d["dir"] = folder
        d["elf"] = folder / "firmware.elf"
        d["memory"] = MemoryReport(**d["memory"])
        d["cflags"] = tuple(d["cflags"])
        d["input_shape"] = tuple(d["input_shape"])
        for key in ("input_quant", "output_quant"):
            if d.get(key) is not None:
                d[key] = TensorQuant(**d[key])
        d["layers"] = tuple(d.get("layers", ()))
        d["output_shape"] = tuple(d.get("output_shape", ()))
        try:
            return Firmware(**d)
        except TypeError as e:
            raise ConfigError(f"{folder}/manifest.json is from another bench version ({e}); "
                              f"rebuild") from e


def graph_hash(graph: Graph) -> bytes:
    """sha256 of what the model computes: structure, shapes, parameters."""
    h = hashlib.sha256()
    h.update(repr(tuple(graph.input_shape)).encode())
    for layer in graph.layers:
        h.update(repr((layer.name, layer.op, tuple(layer.inputs), layer.output,
                       tuple(layer.out_shape), sorted(layer.params.items()))).encode())
        for arr in (layer.weight, layer.bias):
            if arr is not None:
                h.update(arr.astype("<f4").tobytes())
    return h.digest()


def _sources_digest(paths: list[Path]) -> bytes:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name).encode())
        h.update(p.read_bytes())
    return h.digest()


def build(board: Board, graph: Graph, engine_name: str, dtype: str, out_dir: Path,
          link: str = "uart", extra_cflags: tuple[str, ...] = (),
          quant: QuantConfig | None = None) -> Firmware:
    """Generate, compile and link; reuse ``out_dir`` when nothing changed.

    ``quant`` (scheme + calibration) is required for int8/int16; its ranges
    are saved as ``calibration.json`` beside the firmware.
    """
    if link not in LINKS:
        raise ConfigError(f"unknown link {link!r}; known: {', '.join(LINKS)}")
    engine = get_engine(engine_name)
    if dtype not in engine.dtypes:
        raise ConfigError(f"engine {engine_name} does not support dtype {dtype}; "
                          f"it supports: {', '.join(engine.dtypes)}")
    cc = toolchain.compiler()
    model_hash = graph_hash(graph)
    out_dir.mkdir(parents=True, exist_ok=True)
    if dtype != "float32" and quant is None:
        raise ConfigError(f"a {dtype} build needs calibration ranges and a scheme")
    gen: GeneratedModel = engine.generate(graph, out_dir, model_hash[:8], dtype,
                                          quant if dtype != "float32" else None)
    if quant is not None and dtype != "float32":
        quant.calibration.save(out_dir / "calibration.json")

    runtime = [FIRMWARE / "runtime" / s for s in (*RUNTIME_SOURCES, f"link_{link}.c")]
    sources = [*runtime, *board.sources, *gen.sources]
    includes = [FIRMWARE / "runtime", board.folder, *gen.include_dirs]
    cflags = (*board.cflags, *toolchain.CFLAGS, *extra_cflags)
    identity = hashlib.sha256()
    # Headers too: a generated weights header or a kernel's inline code
    # changes the firmware as much as a .c file does.
    headers = sorted({h for d in includes for h in Path(d).glob("*.h")})
    identity.update(_sources_digest([*sources, *headers, board.linker_script]))
    identity.update(repr((board.name, engine_name, dtype, link, cflags, toolchain.LDFLAGS,
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
        dir=out_dir, elf=elf, build_id=build_id.hex(), board=board.name, engine=engine_name,
        dtype=dtype, link=link, model_hash=model_hash.hex(), input_bytes=gen.input_bytes,
        output_bytes=gen.output_bytes, arena_bytes=gen.arena_bytes,
        input_dtype=gen.input_dtype, output_dtype=gen.output_dtype,
        input_shape=tuple(graph.input_shape), n_outputs=gen.output_bytes // _itemsize(
            gen.output_dtype), compiler=toolchain.compiler_version(), cflags=cflags,
        memory=memory_report(elf, out_dir / "firmware.map", components),
        quant_scheme=quant.scheme if quant is not None and dtype != "float32" else None,
        input_quant=gen.input_quant, output_quant=gen.output_quant, layers=tuple(gen.layers),
        input_layout=gen.input_layout, output_layout=gen.output_layout,
        output_shape=tuple(graph.output_shape))
    manifest_path.write_text(json.dumps(fw.manifest(), indent=2) + "\n")
    return fw


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


def _itemsize(dtype: str) -> int:
    return {"float32": 4, "int16": 2, "int8": 1}[dtype]

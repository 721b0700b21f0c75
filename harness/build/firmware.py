"""The Firmware record: what a build directory holds, as its manifest.json
says it, and how the host talks to it (input encoding, output decoding)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from harness.build.memory import MemoryReport
from harness.errors import ConfigError
from harness.kinds import Layout
from harness.quant import TensorQuant


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
    input_layout: Layout = Layout.CHW  # HWC: channels last, the host transposes
    output_layout: Layout = Layout.CHW
    output_shape: tuple[int, ...] = ()
    # Spiking models: timesteps, readout, encoding and "layers", the spiking
    # layers in the order of the device's spike counters ({"name", "neurons"}).
    snn: dict | None = None
    note: str | None = None  # the engine's note on this build (GeneratedModel.note)
    cxxflags: tuple[str, ...] = ()  # C++ sources' flags, when the build had any
    # Where arena_bytes came from when the engine could not plan it exactly:
    # "host" (its host interpreter's figure) or "target" (what a target reported)
    arena_from: str | None = None

    @property
    def spike_layers(self) -> list[str]:
        return [layer["name"] for layer in self.snn["layers"]] if self.snn else []

    def manifest(self) -> dict:
        d = asdict(self)
        d["dir"] = str(self.dir)
        d["elf"] = str(self.elf)
        return d

    def encode_input(self, x: object) -> bytes:
        """One sample as the firmware expects it: float32, or quantized."""
        x = np.asarray(x, dtype=np.float32)
        # One frame per timestep: each frame is laid out, not the T axis.
        frames = 1 if self.snn and self.snn.get("encoding") == "iterate" else 0
        if self.input_layout == Layout.HWC and x.ndim > 1 + frames:
            x = np.moveaxis(x, frames, -1)
        if self.input_quant is None:
            return np.ascontiguousarray(x, dtype="<f4").tobytes()
        return np.ascontiguousarray(self.input_quant.quantize(x)).astype(
            "<" + np.dtype(self.input_quant.dtype).str[1:]).tobytes()

    def decode_output(self, payload: bytes) -> np.ndarray:
        """The output bytes as float32 values (dequantized for integer builds)."""
        if self.output_quant is None:
            y = np.frombuffer(payload, dtype="<f4").astype(np.float32)
        else:
            q = np.frombuffer(payload, dtype=np.dtype(self.output_quant.dtype).newbyteorder("<"))
            y = self.output_quant.dequantize(q)
        if self.output_layout == Layout.HWC and len(self.output_shape) > 1:
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
        d["cxxflags"] = tuple(d.get("cxxflags", ()))
        d["input_shape"] = tuple(d["input_shape"])
        for key in ("input_quant", "output_quant"):
            if d.get(key) is not None:
                d[key] = TensorQuant(**d[key])
        d["layers"] = tuple(d.get("layers", ()))
        d["output_shape"] = tuple(d.get("output_shape", ()))
        for key in ("input_layout", "output_layout"):
            d[key] = Layout(d.get(key, Layout.CHW))
        try:
            return Firmware(**d)
        except TypeError as e:
            raise ConfigError(f"{folder}/manifest.json is from another bench version ({e}); "
                              f"rebuild") from e

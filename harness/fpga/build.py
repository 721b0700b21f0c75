"""A run's "firmware" on the SNN core: no code is compiled; the model is
quantized, mapped onto the core (core.py) and written as its load image.
The build directory holds manifest.json (the Firmware record, as for
microcontroller builds) and model.load, the LOAD payloads the backend sends
after it starts the core. The build id covers the RTL, the core's
parameters and the load image: the core echoes it in its handshake, so the
host knows the model it loaded is the one it built."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from harness.boards import Board
from harness.build.firmware import Firmware
from harness.build.memory import MemoryReport
from harness.errors import ConfigError
from harness.fpga.core import REFERENCE, check_fits, core_model, load_payloads, rtl_digest
from harness.kinds import DType
from harness.model.ir import Graph, graph_hash
from harness.paths import build_root, output_dir
from harness.quant import QuantConfig
from harness.quant.schemes import quantize_graph

LOAD_FILE = "model.load"
ENGINE = "snn-core"


def build_core(board: Board, graph: Graph, dtype: DType, quant: QuantConfig | None,
               out_dir: Path | None = None) -> Firmware:
    """Map ``graph`` onto the reference core and write its load image."""
    if dtype not in (DType.INT8, DType.INT16):
        raise ConfigError(f"the SNN core computes on integers: use --dtype int8 or int16, "
                          f"not {dtype}")
    if not graph.spiking:
        raise ConfigError(f"board {board.name} runs spiking networks only (bench's SNN core)")
    assert quant is not None
    qgraph = quantize_graph(graph, quant, dtype)
    model = core_model(qgraph)
    check_fits(model, REFERENCE)
    model_hash = graph_hash(graph)
    image = load_payloads(model, model_hash[:8], bytes(8))  # build id patched below
    identity = hashlib.sha256()
    identity.update(rtl_digest().encode())
    identity.update(json.dumps(REFERENCE, sort_keys=True).encode())
    for payload in image:
        identity.update(payload)
    build_id = identity.digest()[:8]
    image = load_payloads(model, model_hash[:8], build_id)
    ranges = json.dumps(quant.calibration.ranges, sort_keys=True).encode()
    name = (f"{board.name}-{ENGINE}-{dtype}-r{hashlib.sha256(ranges).hexdigest()[:6]}-"
            f"{model_hash.hex()[:12]}")
    out = out_dir or build_root() / name
    output_dir(out, "build directory")
    load = out / LOAD_FILE
    load.write_bytes(b"".join(struct.pack("<H", len(p)) + p for p in image))
    quant.calibration.save(out / "calibration.json")
    weights = sum(len(s.weights) for s in model.stages)
    biases = sum(len(s.biases) for s in model.stages)
    state = sum(s.neurons for s in model.stages)
    acc = max(s.neurons for s in model.stages)
    # The core's memories as the model uses them: weights 16-bit words,
    # biases and descriptors 32-bit (the "ROM"); potentials 16-bit and the
    # largest layer's 32-bit accumulators (the "RAM").
    rom = 2 * weights + 4 * biases + 4 * 64 * len(model.stages)
    ram = 2 * state + 4 * acc
    memory = MemoryReport(rom_bytes=rom, ram_bytes=ram, stack_reserved_bytes=0,
                          sections={"weights": 2 * weights, "biases": 4 * biases,
                                    "descriptors": 4 * 64 * len(model.stages),
                                    "potentials": 2 * state, "accumulators": 4 * acc})
    fw = Firmware(
        dir=out, elf=load, build_id=build_id.hex(), board=board.name, engine=ENGINE,
        dtype=dtype, link="uart", model_hash=model_hash.hex(), input_bytes=model.input_bytes,
        output_bytes=model.n_out * dtype.itemsize, arena_bytes=ram, input_dtype=dtype,
        output_dtype=dtype, input_shape=tuple(graph.sample_shape), n_outputs=model.n_out,
        compiler=f"bench_snn_top rtl {rtl_digest()[:12]}", cflags=(), memory=memory,
        quant_scheme=qgraph.scheme, input_quant=qgraph.input_q, output_quant=qgraph.output_q,
        output_shape=tuple(graph.output_shape),
        snn={"timesteps": graph.timesteps, "readout": graph.readout,
             "encoding": graph.encoding, "layers": graph.spike_layer_table()},
        note="bench's SNN core (fpga/rtl), cycles of the RTL")
    (out / "manifest.json").write_text(json.dumps(fw.manifest(), indent=2) + "\n")
    return fw


def read_load(path: Path) -> list[bytes]:
    """The LOAD payloads of a build's model.load."""
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from("<H", data, i)
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out

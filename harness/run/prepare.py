"""Everything a run checks and builds before it touches the store: the
board and backend, the engine (looked up once), the model, the data, the
quantization, and the firmware or the engine's host model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.backends import resolve_board_backend
from harness.backends.base import Backend
from harness.boards import Board
from harness.build.build import build_for
from harness.build.firmware import Firmware
from harness.build.fit import check_fits
from harness.datasets import Dataset, load_dataset
from harness.engines import get_engine
from harness.engines.base import Engine, HostModel
from harness.errors import ConfigError, ToolMissingError
from harness.fpga.build import build_core
from harness.kinds import DType
from harness.link import MAX_FRAME_PAYLOAD
from harness.metrics import check_task, check_top_k
from harness.model import snn_kernels
from harness.model.ir import Graph, graph_hash, numel
from harness.model.load import load_graph
from harness.paths import build_root
from harness.quant import QuantConfig
from harness.run.quantize import quant_for
from harness.run.request import RunRequest
from harness.run.target import DeviceTarget, HostTarget, Target


@dataclass(frozen=True)
class Prepared:
    """Everything checked and built; only the measurement is left."""

    req: RunRequest
    board: Board
    backend: Backend
    engine: Engine
    dtype: DType
    graph: Graph
    data: Dataset
    n: int  # samples planned
    fw: Firmware | None  # None: the engine runs on the host (see host)
    host: HostModel | None = None  # the engine's host interpreter, e.g. tflm without TFLM_ROOT
    calibration: dict | None = None  # recorded with the run
    quant: QuantConfig | None = None
    note: str | None = None  # why the run is a host run, or the engine's note on the build

    def target(self) -> Target:
        if self.host is not None:
            return HostTarget(self.host)
        assert self.fw is not None
        return DeviceTarget(self.backend, self.board, self.fw)


def _arena_as_used(board: Board, backend: Backend, engine: Engine, fw: Firmware,
                   rebuild: Callable[[], Firmware]) -> Firmware:
    """Start the firmware once for its handshake, which carries the arena
    the engine used on the target; when that is less than the build
    reserved, rebuild reserving exactly that (the engine keeps the figure,
    so later builds of the model start from it)."""
    with DeviceTarget(backend, board, fw) as probe:
        probe.start()
        used = probe.info.arena_bytes if probe.info is not None else 0
    if not engine.arena_reported(fw.dir, fw.arena_bytes, used):
        return fw
    return rebuild()


def prepare(req: RunRequest) -> Prepared:
    """Check every input and build the firmware: all the ways a run can fail
    before it touches the store."""
    board, backend = resolve_board_backend(req.board, req.backend)
    engine = get_engine(req.engine)
    on_host = engine.host_reason()
    if on_host is not None:
        if req.per_layer or req.meter is not None:
            flag = "--per-layer" if req.per_layer else "--meter"
            raise ConfigError(f"{flag} needs firmware on a target; {on_host}")
    else:
        link = backend.check_link(req.link)
        ok, why = backend.available()
        if not ok:
            raise ToolMissingError(why)
        if req.per_layer:
            ok, why = backend.exact_counter()
            if not ok:
                raise ToolMissingError(f"--per-layer needs exact instruction counts: {why}")
    graph = load_graph(req.model, req.snn)
    if graph.spiking and not engine.capabilities.spiking:
        raise ConfigError(f"the {engine.name} engine does not run spiking models; use "
                          "--engine native")
    data = load_dataset(req.dataset, req.data_dir)
    data.check_fits(graph.sample_shape)
    check_task(data.task, data.name, data.classes, numel(graph.output_shape),
               numel(graph.input_shape),
               numel(data.target_shape) if data.target_shape is not None else None,
               classes_known=not data.classes_from_labels)
    check_top_k(data.task, req.top_k, numel(graph.output_shape))
    if graph.spiking:
        graph = snn_kernels.pick(graph, req.snn.kernels or "auto", data.x, req.dtype)
    if req.meter is not None and req.resume is not None:
        raise ConfigError("--meter cannot be combined with --resume: a run's energy comes from "
                          "one trace; start a new run")
    n = len(data) if req.limit is None else min(req.limit, len(data))
    if n <= 0:
        raise ConfigError(f"dataset {data.name} has no samples to run (limit {req.limit})")
    dtype = engine.check_dtype(req.dtype)
    if on_host is None and board.kind == "mcu":
        check_fits(board, graph, dtype)  # before calibrating a model that cannot fit
    quant, record = quant_for(graph, engine, dtype, req.dataset, req.quant, req.data_dir)
    if on_host is not None:
        out = build_root() / f"host-{engine.name}-{dtype}-{graph_hash(graph).hex()[:12]}"
        host = engine.host_model(graph, out, dtype, quant)
        return Prepared(req, board, backend, engine, dtype, graph, data, n, None, host, record,
                        quant, on_host)
    if board.kind == "fpga":  # no firmware: the model is loaded into bench's SNN core
        fw = build_core(board, graph, dtype, quant)
    else:
        fw = build_for(board, graph, engine, dtype, link, quant=quant,
                       per_layer=req.per_layer)
        if engine.capabilities.arena_on_target and fw.arena_from == "host":
            fw = _arena_as_used(board, backend, engine, fw, lambda: build_for(
                board, graph, engine, dtype, link, quant=quant, per_layer=req.per_layer))
    if fw.input_bytes > MAX_FRAME_PAYLOAD:
        # The input could never be sent: bench's frames carry a 16-bit length.
        raise ConfigError(f"one {dtype} input of this model is {fw.input_bytes:,} bytes; bench's "
                          f"device protocol carries at most {MAX_FRAME_PAYLOAD:,} a frame: "
                          f"run it in int8 or int16 instead (nothing was run)")
    return Prepared(req, board, backend, engine, dtype, graph, data, n, fw, None, record, quant,
                    fw.note)

"""What a user asks of one run (the run command's options, a sweep entry)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.kinds import DType, WeightLayout
from harness.model.snn_options import SnnOptions
from harness.quant.calibrate import DEFAULT_SAMPLES

MAX_RESTARTS = 1  # a target that goes silent is restarted this often before the run stops


@dataclass(frozen=True)
class QuantRequest:
    """How an int8/int16 build gets its ranges and scheme (CLI --quant ...)."""

    scheme: str | None = None  # "pot" | "affine"; None: the more accurate on calibration
    samples: int = DEFAULT_SAMPLES
    method: str = "minmax"
    data: str | None = None  # dataset; default: the run dataset's -train split, else itself
    ranges: Path | None = None  # a saved calibration.json to reuse instead
    weights: str = WeightLayout.PACKED  # int8 conv weight layout: "packed" | "wide"


@dataclass(frozen=True)
class RunRequest:
    board: str
    backend: str
    model: str
    dataset: str
    engine: str = "native"
    dtype: str = DType.FLOAT32
    limit: int | None = None
    resume: int | None = None
    max_restarts: int = MAX_RESTARTS
    quant: QuantRequest = QuantRequest()
    per_layer: bool = False  # -DBENCH_PER_LAYER build, per-layer instructions stored
    sweep_key: str | None = None  # set by bench sweep: which entry of which sweep
    meter: str | None = None  # power meter URI: measure energy per inference
    meter_rate: float | None = None  # Hz; None: the meter's default
    meter_duration: float | None = None  # s; None: until the run ends (or the meter's longest)
    data_dir: Path | None = None  # the user's dataset archives; None: $BENCH_DATA
    snn: SnnOptions = SnnOptions()  # spiking models: --timesteps/--readout/--encoding
    top_k: int | None = None  # classification: also store the top-k accuracy

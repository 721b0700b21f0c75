"""Command-line options more than one command takes."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.engines import ENGINES
from harness.kinds import DType, Scheme, WeightLayout
from harness.model.snn_options import DEFAULT_DT, ENCODINGS, KERNELS, READOUTS, SnnOptions
from harness.paths import DEFAULT_DB
from harness.quant.calibrate import DEFAULT_SAMPLES, METHODS
from harness.run.request import QuantRequest

METER_HELP = ("power meter URI: visa://RESOURCE (Keysight N6705), dmm://RESOURCE?supply_v=V "
              "(Keysight 34465A/34470A digitizing; windows from the current level), "
              "ppk2:///dev/ttyACM1, lpm01a:///dev/ttyACM2, joulescope://")


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"results database "
                   f"(default: {DEFAULT_DB.relative_to(DEFAULT_DB.parents[1])})")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="where your dataset archives are, for the archive loaders "
                   "(default: $BENCH_DATA; see 'bench datasets')")


def add_model(p: argparse.ArgumentParser) -> None:
    """--board, --model, --engine, --dtype and the quantization options."""
    p.add_argument("--board", required=True, help="board name (see 'bench boards')")
    p.add_argument("--model", required=True,
                   help="a .pt2 file (torch.export) or path/to/file.py:factory")
    p.add_argument("--engine", default="native",
                   help=f"inference engine ({', '.join(ENGINES)}; default: native, bench's "
                   "own): qualia is LEAT's Qualia-CodeGen; tflm (int8) runs in TFLite Micro's "
                   "host interpreter unless TFLM_ROOT names a tflite-micro tree; stm32cubeai "
                   "(int8) needs ST's stedgeai, else see 'bench import-cubeai'")
    p.add_argument("--dtype", default=DType.FLOAT32, choices=list(DType),
                   help="data type (default: float32)")
    q = p.add_argument_group("quantization (int8/int16)")
    q.add_argument("--quant", choices=list(Scheme),
                   help="pot: per-layer power-of-two fixed point (shifts); affine: per-channel "
                   "int8 with zero points (TFLite arithmetic); default: the more accurate on "
                   "the calibration set")
    q.add_argument("--calibrate", type=int, default=DEFAULT_SAMPLES, metavar="N",
                   help=f"calibration samples (default: {DEFAULT_SAMPLES})")
    q.add_argument("--calibration-method", choices=list(METHODS), default="minmax",
                   help="how ranges are taken (default: minmax)")
    q.add_argument("--calibration-data", metavar="DATASET",
                   help="dataset to calibrate on (default: the dataset's training split "
                   "NAME:train if the registry has one, else the dataset itself)")
    q.add_argument("--weight-layout", choices=list(WeightLayout), default=WeightLayout.PACKED,
                   help="int8 conv weights in flash: packed (int8, smallest, default) or wide "
                   "(stored as int16: fastest inner loop, twice the weight flash)")
    q.add_argument("--ranges", type=Path, metavar="FILE",
                   help="reuse a saved calibration.json (from a build directory) instead of "
                   "calibrating")
    s = p.add_argument_group("spiking models (override the model's own attributes)")
    s.add_argument("--timesteps", type=int, metavar="T",
                   help="timesteps per sample (bench runs the one-step network T times, the "
                   "state reset before every sample)")
    s.add_argument("--readout", choices=READOUTS,
                   help="spike_count: output spikes summed over T (default when the output "
                   "layer spikes); output_mean: mean output over T (default otherwise); "
                   "membrane_last: the output layer's potential after the last step")
    s.add_argument("--encoding", choices=ENCODINGS,
                   help="direct: the sample is fed at every step (default); iterate: the "
                   "sample has a leading T axis, one frame per step")
    s.add_argument("--snn-kernels", choices=KERNELS,
                   help="layers fed with spikes: dense kernels, event-driven ones (only the "
                   "active inputs visited), or auto (default: event-driven where the input's "
                   "spike rate on the first samples of the dataset is below the measured "
                   "crossover)")
    s.add_argument("--dt", type=float, metavar="SECONDS",
                   help="NIR graphs (.nir): the Euler step that discretises the continuous-time "
                   f"neurons (default {DEFAULT_DT:g} s, as snnTorch's NIR import)")


def snn_options(args: argparse.Namespace) -> SnnOptions:
    return SnnOptions(timesteps=args.timesteps, readout=args.readout, encoding=args.encoding,
                      kernels=args.snn_kernels, dt=args.dt)


def quant_request(args: argparse.Namespace) -> QuantRequest:
    return QuantRequest(scheme=args.quant, samples=args.calibrate,
                        method=args.calibration_method, data=args.calibration_data,
                        ranges=args.ranges, weights=args.weight_layout)

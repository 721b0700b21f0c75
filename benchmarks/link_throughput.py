"""Link + inference throughput on the emulated STM32L452, with its ceiling.

Runs the HAR-like 1-D CNN (examples/har_cnn.py, 6x128 float32 windows) over N
random windows once the firmware is built, and in the same QEMU session
measures the bare link with PING frames of the same size (echoed back): the
peer that bounds what any firmware could reach over this link. Prints samples/s,
host overhead per sample, the ratio to the link's ceiling and whether two runs
gave identical instruction counts.

    .venv/bin/python benchmarks/link_throughput.py [--samples 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.backends import get_backend, get_board
from harness.link import Link
from harness.paths import ROOT
from harness.run.execute import execute
from harness.run.prepare import prepare
from harness.run.request import RunRequest
from harness.run.target import DeviceTarget
from harness.store.store import Store

MODEL = f"{ROOT / 'examples' / 'har_cnn.py'}:har_cnn"
TARGET_SAMPLES_PER_S = 200.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-link-"))
    rng = np.random.default_rng(0)
    data = tmp / "har.npz"
    np.savez(data, x=rng.normal(size=(args.samples, 6, 128)).astype(np.float32),
             y=rng.integers(0, 6, size=args.samples))
    db = tmp / "bench.db"
    req = RunRequest("stm32l452", "qemu", MODEL, str(data))
    prepared = prepare(req)  # import + build, not timed

    # Peer: the bare link, PING frames as large as one input, same emulator.
    board, backend = get_board("stm32l452"), get_backend("qemu")
    payload = bytes(prepared.fw.input_bytes)
    with DeviceTarget(backend, board, prepared.fw) as t:
        t.start()
        assert t.link is not None
        n_ping = min(50, args.samples)
        t0 = time.perf_counter()
        for _ in range(n_ping):
            t.link.ping(payload)
        ping_s = (time.perf_counter() - t0) / n_ping

    # Time spent waiting on the device (request written -> reply parsed) vs the rest.
    in_link = [0.0]
    real_infer = Link.infer

    def timed_infer(self: Link, tensor: bytes):  # noqa: ANN202
        t = time.perf_counter()
        try:
            return real_infer(self, tensor)
        finally:
            in_link[0] += time.perf_counter() - t

    Link.infer = timed_infer  # type: ignore[method-assign]
    t0 = time.perf_counter()
    first = execute(prepared, db)
    run_s = time.perf_counter() - t0
    Link.infer = real_infer  # type: ignore[method-assign]
    second = execute(prepared, db)
    with Store(db) as store:
        a = [s.raw_count for s in store.samples(first.run_id)]
        b = [s.raw_count for s in store.samples(second.run_id)]

    rate = first.samples / run_s
    per_sample = run_s / first.samples
    print(f"model {MODEL}, {prepared.fw.input_bytes} input bytes per sample")
    print(f"link ceiling (PING, same size): {1 / ping_s:8.1f} round trips/s "
          f"({prepared.fw.input_bytes / ping_s / 1024:.1f} KB/s host->device)")
    print(f"run (link + inference + store):  {rate:8.1f} samples/s over {first.samples}")
    print(f"ratio run / link ceiling:        {ping_s / per_sample:8.2f}")
    print(f"in the link (send, emulated inference, reply): "
          f"{1000 * in_link[0] / first.samples:.2f} ms per sample")
    print(f"host overhead (reference check, store commit, start-up): "
          f"{1000 * (run_s - in_link[0]) / first.samples:.2f} ms per sample")
    print(f"instructions per inference: median {first.count_per_inference:,}; "
          f"identical in two runs: {a == b}")
    print(f"target {TARGET_SAMPLES_PER_S:.0f} samples/s: "
          f"{'met' if rate >= TARGET_SAMPLES_PER_S else 'NOT met'}")


if __name__ == "__main__":
    main()

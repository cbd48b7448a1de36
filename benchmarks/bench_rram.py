"""RRAM fast-path benchmark: images per second of :func:`hwsim.rram.run_rram` (kernel ``rram_chip_run``).

Run with ``.venv/bin/python benchmarks/bench_rram.py [repeats]``. A random
784-512-10 network on the ``rram`` preset (every non-ideality on, read noise
included), one chip instance, 400 rate-coded images at T = 16 with a mean input
spike probability of about 0.13, two threads. Prints the best of ``repeats``
timed runs (compilation and the read-noise draw are excluded: the first run
warms both), and the total synaptic operations and cycles, which must not
change between versions of the code.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hwsim.config import load_chip_config
from hwsim.encoding import encode
from hwsim.rram import program_chip, run_rram
from hwsim.testing import random_network
from mapping import map_network


def main(argv: list[str]) -> int:
    repeats = int(argv[0]) if argv else 5
    chip = load_chip_config("rram")
    rng = np.random.default_rng(0)
    net = random_network(rng, [784, 512, 10], chip.core, weight_range=(-60, 60), threshold=200)
    rchip = program_chip(map_network(net, chip), 3)
    rasters = encode(rng.random((400, 784)) * 0.26, 16, "rate", 0, 0)
    run_rram(rchip, rasters, threads=2)  # compiles the kernels and caches this batch's read noise
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run_rram(rchip, rasters, threads=2)
        best = min(best, time.perf_counter() - t0)
    print(f"rram: {len(rasters) / best:.1f} images/s (best of {repeats}: {best:.3f} s), "
          f"synaptic_ops {int(res.counter('synaptic_ops').sum())}, cycles {int(res.timestep_cycles.sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Measure RTL co-simulation speed (simulated clock cycles per wall-clock second).

Usage::

    .venv/bin/python tests/rtl/cosim_speed.py                 # Icarus and Verilator
    .venv/bin/python tests/rtl/cosim_speed.py --sim verilator --timesteps 50

Workload: a random 784-256-10 network mapped on ``default_28nm`` (two cores,
1024 x 256 x 16 lanes), rate-like inputs with spike probability 0.2, run
core by core on ``snn_multicore`` exactly as ``make sim`` does, and checked
against the golden model (a speed number for a wrong simulation is worthless).
Prints a markdown table: total cycles/s (weight loading included) and
cycles/s after loading (timesteps: spikes in, INTEGRATE, UPDATE, readout).
Never part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compare_with_golden, run_case  # noqa: E402
from hwsim.config import load_chip_config  # noqa: E402
from hwsim.testing import random_network, random_raster  # noqa: E402
from mapping import map_network  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", nargs="+", default=["icarus", "verilator"], choices=["icarus", "verilator"])
    parser.add_argument("--timesteps", type=int, default=20, help="timesteps to simulate (default 20)")
    parser.add_argument("--p", type=float, default=0.2, help="input spike probability (default 0.2)")
    args = parser.parse_args(argv)

    chip = load_chip_config("default_28nm")
    rng = np.random.default_rng(2017)
    net = random_network(rng, (784, 256, 10), chip.core)
    program = map_network(net, chip, "row_major")
    rasters = random_raster(rng, 1, args.timesteps, 784, args.p)

    rows = []
    for sim in args.sim:
        os.environ["SIM"] = sim
        rtl = run_case(f"speed_T{args.timesteps}", toplevel="snn_multicore", test_module="test_snn_multicore",
                       program=program, rasters=rasters)
        compare_with_golden(program, rasters, rtl)
        rows.append((sim, rtl))
    print()
    print("| simulator | cycles (total) | wall s | cycles/s | cycles after loading | wall s | cycles/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sim, r in rows:
        print(f"| {sim} | {r.sim_cycles} | {r.wall_seconds:.2f} | {r.cycles_per_second:,.0f} "
              f"| {r.run_cycles} | {r.run_seconds:.2f} | {r.run_cycles_per_second:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

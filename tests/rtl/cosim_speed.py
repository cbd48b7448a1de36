"""Measure RTL co-simulation speed (simulated clock cycles per wall-clock second).

Usage::

    .venv/bin/python tests/rtl/cosim_speed.py                 # Icarus and Verilator, both testbench paths
    .venv/bin/python tests/rtl/cosim_speed.py --sim verilator --timesteps 50 --path wrapper

Workload: a random 784-256-10 network mapped on ``default_28nm`` (two cores,
1024 x 256 x 16 lanes), rate-like inputs with spike probability 0.2, run
core by core on ``snn_multicore`` as ``make sim`` does, and checked against
the golden model (a speed number for a wrong simulation is worthless). Two
testbench paths: ``wrapper`` (the simulation-only wrapper
``tests/rtl/harness/hdl/tb_snn_multicore.v`` drives every cycle, cocotb awaits
once per command; ``test_snn_multicore_fast.py``) and ``cocotb`` (cocotb
drives every testbench cycle; ``test_snn_multicore.py``). Prints a markdown
table: total cycles/s (weight loading included) and cycles/s after loading
(timesteps: spikes in, INTEGRATE, UPDATE, readout), for the wrapper also the
simulator process' CPU seconds after loading (less dependent on other load on
the machine than wall-clock time), and returns the rows
(``measure``) for ``benchmarks/bench_cosim.py``.
Never part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import RtlRun, compare_with_golden, run_case  # noqa: E402
from hwsim.config import load_chip_config  # noqa: E402
from hwsim.testing import random_network, random_raster  # noqa: E402
from mapping import map_network  # noqa: E402

__all__ = ["PATHS", "measure", "main"]

# Testbench path -> (top level, cocotb test module, cocotb test).
PATHS = {
    "wrapper": ("tb_snn_multicore", "test_snn_multicore_fast", "cosim_network_fast"),
    "cocotb": ("snn_multicore", "test_snn_multicore", "cosim_network"),
}


def measure(sims: list[str], paths: list[str], timesteps: int = 20, p: float = 0.2) -> list[tuple[str, str, RtlRun]]:
    """Co-simulate the workload on every simulator and path, check each run against the golden model.

    Returns ``(simulator, path, RtlRun)`` per run. Raises ``AssertionError`` on any mismatch.
    """
    chip = load_chip_config("default_28nm")
    rng = np.random.default_rng(2017)
    net = random_network(rng, (784, 256, 10), chip.core)
    program = map_network(net, chip, "row_major")
    rasters = random_raster(rng, 1, timesteps, 784, p)

    rows = []
    for sim in sims:
        os.environ["SIM"] = sim
        for path in paths:
            top, module, testcase = PATHS[path]
            rtl = run_case(f"speed_{path}_T{timesteps}", toplevel=top, test_module=module, program=program,
                           rasters=rasters, testcase=testcase)
            compare_with_golden(program, rasters, rtl)
            rows.append((sim, path, rtl))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", nargs="+", default=["icarus", "verilator"], choices=["icarus", "verilator"])
    parser.add_argument("--path", nargs="+", default=list(PATHS), choices=list(PATHS),
                        help="testbench paths (default: both)")
    parser.add_argument("--timesteps", type=int, default=20, help="timesteps to simulate (default 20)")
    parser.add_argument("--p", type=float, default=0.2, help="input spike probability (default 0.2)")
    args = parser.parse_args(argv)

    rows = measure(args.sim, args.path, args.timesteps, args.p)
    print()
    print("| simulator | testbench | cycles (total) | wall s | cycles/s | cycles after loading | wall s | cycles/s "
          "| CPU s after loading | cycles per CPU s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for sim, path, r in rows:
        cpu = float(r.extra["run_cpu_seconds"]) if "run_cpu_seconds" in r.extra else float("nan")
        per_cpu = f"{r.run_cycles / cpu:,.0f}" if cpu > 0 else "-"
        print(f"| {sim} | {path} | {r.sim_cycles} | {r.wall_seconds:.2f} | {r.cycles_per_second:,.0f} "
              f"| {r.run_cycles} | {r.run_seconds:.2f} | {r.run_cycles_per_second:,.0f} | {cpu:.2f} | {per_cpu} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

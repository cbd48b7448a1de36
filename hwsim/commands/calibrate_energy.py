"""Calibrate the 28 nm table to Yin et al. (BioCAS 2017): 51.4 and 773 nJ/image on MNIST.

A maintainer's command, not a ``hwsim`` subcommand: it maps and simulates
networks, so it lives with the commands, not in the pricing layer
(:mod:`hwsim.energy`, which only turns counters into energy).

Run ``python -m hwsim.commands.calibrate_energy`` to simulate the two documented
workloads (:data:`WORKLOADS`) on the default chip, print the model's energy
per image with and without the table's fitted factor, and the factor a fresh
fit gives. ``--write`` stores a fresh fit in the table file.

The fit has exactly one free parameter, ``global_scale``, which multiplies
every entry of the table. It minimises the squared log error over the two
points: ``log k = mean(log(target / model))``. What the two workloads are,
and which of their parts are assumptions, is written in ``docs/energy.md`` §4.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass

import numpy as np

from hwsim.config import ChipConfig, load_chip_config
from hwsim.energy.model import EnergyReport, estimate
from hwsim.energy.table import EnergyTable, load_table
from hwsim.energy.workloads import Workload
from hwsim.program import ChipProgram
from hwsim.writers import atomic_write_bytes
from hwsim.result import RunResult

__all__ = ["WORKLOADS", "CalibrationPoint", "run_workload", "calibrate", "fit_scale", "TOLERANCE", "add_arguments",
           "run", "main"]

#: Allowed relative error of each calibrated point.
TOLERANCE = 0.05

# Yin et al. BioCAS 2017 (28 nm version): the published range is all that is
# known (papers.md §1.6); which configuration gives which end is NOT known.
WORKLOADS = (
    Workload(
        name="yin-low",
        sizes=(784, 256, 256, 10),
        rates=(0.10, 0.10, 0.10),
        timesteps=1,
        integration="discontinuous",
        encoding="rate",
        n_images=50,
        seed=1,
        target_nj=51.4,
        rationale="smallest plausible design point: a 2-hidden-layer MLP of 256 neurons, one timestep "
        "(Yin et al. report high accuracy already at 1-2 timesteps)",
    ),
    Workload(
        name="yin-high",
        sizes=(784, 1024, 1024, 10),
        rates=(0.10, 0.10, 0.10),
        timesteps=3,
        integration="discontinuous",
        encoding="rate",
        n_images=50,
        seed=1,
        target_nj=773.0,
        rationale="the seed network of the authors' code (784-1024-1024-10, DC mode) with three timesteps",
    ),
)


@dataclass(frozen=True)
class CalibrationPoint:
    """One workload's model energy against its published target."""

    workload: Workload
    report: EnergyReport
    raw_nj: float  # energy per image with global_scale = 1

    @property
    def target_nj(self) -> float:
        return self.workload.target_nj

    def calibrated_nj(self, scale: float) -> float:
        return self.raw_nj * scale

    def error(self, scale: float) -> float:
        """Relative error of the calibrated energy against the target."""
        return self.calibrated_nj(scale) / self.target_nj - 1.0


def _simulate(program: ChipProgram, rasters: np.ndarray) -> RunResult:
    """Run with the engine; the golden model gives the same counters (chip-spec), only slower."""
    try:
        from hwsim.chip import Chip
    except ImportError:
        from hwsim.golden import simulate

        print("hwsim.commands.calibrate_energy: engine not available, using the (slow) golden model", file=sys.stderr)
        return simulate(program, rasters)
    return Chip.from_program(program).run(rasters)


def run_workload(workload: Workload, chip: ChipConfig, table: EnergyTable) -> CalibrationPoint:
    """Build, map and simulate one workload; return its energy with the table unscaled."""
    from mapping import map_network

    network = workload.network(chip.core)
    # Row-major placement, given as an explicit list so the calibration does not
    # move when the mapper's default placement heuristic changes.
    n_parts = sum(-(-layer.n_out // chip.core.neurons) for layer in network.layers)
    program = map_network(network, chip, list(range(n_parts)))
    result = _simulate(program, workload.rasters())
    raw = estimate(result, program, table.with_scale(1.0))
    return CalibrationPoint(workload=workload, report=raw, raw_nj=raw.energy_nj_per_image)


def fit_scale(points: list[CalibrationPoint]) -> float:
    """The one global factor minimising the squared log error over the points."""
    return float(math.exp(np.mean([math.log(p.target_nj / p.raw_nj) for p in points])))


def calibrate(chip: ChipConfig | str = "default_28nm",
              table: EnergyTable | str = "28nm") -> tuple[list[CalibrationPoint], float]:
    """Simulate :data:`WORKLOADS`; return the points and the freshly fitted factor."""
    chip = load_chip_config(chip) if isinstance(chip, str) else chip
    table = load_table(table)
    points = [run_workload(w, chip, table) for w in WORKLOADS]
    return points, fit_scale(points)


def _write_scale(table: EnergyTable, scale: float) -> None:
    text = open(table.path, encoding="utf-8").read()
    new, n = re.subn(r"(?m)^global_scale\s*=\s*[0-9.eE+-]+", f"global_scale = {scale:.4g}", text)
    if n != 1:
        raise SystemExit(f"{table.path}: expected one 'global_scale = ...' line, found {n}")
    atomic_write_bytes(table.path, new.encode())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", default="28nm", help="energy table name or .toml path (default 28nm)")
    parser.add_argument("--chip", default="default_28nm", help="chip preset or .toml (default default_28nm)")
    parser.add_argument("--write", action="store_true", help="store the fitted factor in the table file")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwsim.commands.calibrate_energy",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Print the calibration table; with ``--write`` store a fresh fit. Exit status 1 if a point misses 5 %."""
    table = load_table(args.table)
    points, fitted = calibrate(args.chip, table)
    stored = table.global_scale
    print(f"table {table.name} v{table.version}: stored global_scale = {stored:.4g}, fresh fit = {fitted:.4g}")
    print()
    print("| workload | network | T | mode | coding | SOPs/image | model nJ (scale 1) | calibrated nJ | "
          "target nJ | error | pJ/SOP |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for p in points:
        w = p.workload
        err = p.error(stored)
        ok &= abs(err) <= TOLERANCE
        pj = p.report.pj_per_sop * stored if p.report.pj_per_sop else float("nan")
        print(
            f"| {w.name} | {'-'.join(map(str, w.sizes))} | {w.timesteps} | {w.integration} | {w.encoding} | "
            f"{p.report.sops_per_image:.0f} | {p.raw_nj:.1f} | {p.calibrated_nj(stored):.1f} | "
            f"{w.target_nj:g} | {100 * err:+.1f}% | {pj:.2f} |"
        )
    print()
    if args.write:
        _write_scale(table, fitted)
        print(f"wrote global_scale = {fitted:.4g} to {table.path}")
        return 0
    print("within +/-5% with the stored factor" if ok else "NOT within +/-5% with the stored factor")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Placement cost of row-major, greedy and annealed placement on two example networks.

Run ``python -m mapping.example [-o DIR]``. The networks are random (seeded)
chip-integer networks; the rates come from a calibration run of
:func:`hwsim.network.simulate_network` on seeded Bernoulli input rasters, so
the numbers are reproducible. With ``-o`` the reports of the annealed
mappings are written to ``DIR/<example>/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hwsim.config import load_chip_config
from hwsim.testing import random_network, random_raster
from mapping.mapper import plan

__all__ = ["EXAMPLES", "example_costs", "main"]

#: name -> (chip preset, mesh override, layer sizes, input spike probability, threshold in units of w_max).
#: Thresholds are chosen so that hidden layers fire at roughly 5-15 % per timestep.
EXAMPLES = {
    "seed_784-1024-1024-10_on_default_28nm": ("default_28nm", None, [784, 1024, 1024, 10], 0.2, 8),
    "deep_30-60-64-40-50-10_on_small_4x4": ("small", (4, 4), [30, 60, 64, 40, 50, 10], 0.3, 2),
}


def _setup(name: str):
    preset, mesh, sizes, p, th = EXAMPLES[name]
    chip = load_chip_config(preset)
    if mesh:
        chip = chip.replace(mesh_rows=mesh[0], mesh_cols=mesh[1])
    rng = np.random.default_rng(2017)
    w = chip.core.w_max
    net = random_network(rng, sizes, chip.core, weight_range=(-w, w), threshold=w * th)
    net.metadata["name"] = name
    rasters = random_raster(rng, 4, 8, sizes[0], p)
    return chip, net, rasters


def example_costs(name: str, seed: int = 0) -> dict:
    """Cost (packet-hops per timestep) of each placement method for one example."""
    chip, net, rasters = _setup(name)
    return {m: plan(net, chip, m, rates=rasters, seed=seed).placement.cost for m in ("row_major", "greedy", "anneal")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--outdir", default=None, help="write the annealed mapping reports here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| example | row-major | greedy | anneal | anneal vs row-major |")
    print("|---|---:|---:|---:|---:|")
    for name in EXAMPLES:
        c = example_costs(name, args.seed)
        print(
            f"| {name} | {c['row_major']:.1f} | {c['greedy']:.1f} | {c['anneal']:.1f} | "
            f"{100 * (c['row_major'] - c['anneal']) / c['row_major']:.1f} % less |"
        )
        if args.outdir:
            from mapping.summary import write_outputs

            chip, net, rasters = _setup(name)
            write_outputs(plan(net, chip, "anneal", rates=rasters, seed=args.seed), Path(args.outdir) / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

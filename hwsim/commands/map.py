"""``hwsim map``: place a trained network or NIR graph onto a chip and write a chip program.

Writes, into the output folder, ``program.npz`` (the chip program, loadable
by hwsim and the RTL testbench), ``mapping.json`` (every number),
``mapping.md`` (the same as tables) and ``mesh.png`` (the mesh with layers
and link traffic); each file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hwsim.errors import InputError

__all__ = ["add_arguments", "run", "parse_rates"]

HELP = "place a trained network or NIR graph onto a chip and write a chip program"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", metavar="NET", help="trained network file (.npz) or NIR graph (.nir)")
    parser.add_argument("--chip", default="default_28nm", help="chip preset name or TOML file (default: %(default)s)")
    parser.add_argument(
        "--placement",
        choices=("anneal", "greedy", "row_major"),
        default="anneal",
        help="placement method (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="annealing seed (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=None, help="annealing steps (default: 800 per core part)")
    parser.add_argument(
        "--rates",
        default="auto",
        help="spike rates for the traffic cost: 'auto' (calibrate on the network's dataset if it names one "
        "and it loads offline, else 'uniform'), 'uniform' (every neuron spikes every timestep, an upper "
        "bound), 'dataset[:N]' (calibrate on N test images, default 32), a comma list of spike "
        "probabilities 'input,layer0,...', or a .npy binary raster (T, n_in) or (B, T, n_in)",
    )
    parser.add_argument(
        "--dt",
        type=float,
        default=None,
        help="NIR only: time step in seconds (default: graph metadata 'dt', else 1e-4 as snnTorch exports)",
    )
    parser.add_argument(
        "--reset",
        choices=("zero", "subtract"),
        default=None,
        help="NIR only: reset mode of spiking layers (default: node metadata, else zero)",
    )
    parser.add_argument("-o", "--outdir", default="program", help="output folder (default: %(default)s)")
    parser.add_argument("--no-figure", action="store_true", help="do not draw mesh.png")


def _dataset_raster(network, count: int):
    """Encoded test images of the dataset the network was trained on, or None with a reason."""
    meta = network.metadata
    name = meta.get("dataset")
    if not name:
        return None, "the network names no dataset"
    try:
        from hwsim.datasets import load_dataset
        from hwsim.encoding import encode

        ds = load_dataset(str(name))
    except (ImportError, InputError, OSError) as exc:
        return None, f"dataset {name!r} not available ({exc})"
    x = ds.x_test[:count]
    if x.shape[1] != network.n_inputs:
        return None, f"dataset {name!r} has {x.shape[1]} pixels, the network {network.n_inputs} inputs"
    timesteps = int(meta.get("timesteps", 16))
    return encode(x, timesteps, str(meta.get("encoding", "rate")), seed=0), f"{count} {name} test images"


def parse_rates(text: str, network):
    """The ``rates`` argument of :func:`mapping.map_network` for a ``--rates`` value, plus a note."""
    if text == "uniform":
        return None, "uniform"
    if text == "auto" or text.startswith("dataset"):
        count = 32
        if ":" in text:
            try:
                count = int(text.split(":", 1)[1])
            except ValueError:
                raise InputError(f"--rates {text!r}: expected dataset:N with an integer N") from None
        raster, why = _dataset_raster(network, count)
        if raster is None:
            if text == "auto":
                return None, f"uniform ({why})"
            raise InputError(f"--rates {text!r}: {why}")
        return raster, why
    if text.endswith(".npy"):
        path = Path(text)
        if not path.exists():
            raise InputError(f"--rates {text!r}: no such file")
        return np.load(path, allow_pickle=False), f"raster {path.name}"
    try:
        return [float(v) for v in text.split(",")], "user estimate"
    except ValueError:
        raise InputError(
            f"--rates {text!r}: expected auto, uniform, dataset[:N], a .npy raster or comma-separated numbers"
        ) from None


def run(args: argparse.Namespace) -> int:
    from mapping import plan
    from mapping.mapper import as_chip, as_network
    from mapping.report import build_report, render_markdown, write_outputs

    chip = as_chip(args.chip)
    network = as_network(args.net, chip, dt_s=args.dt, reset=args.reset)
    rates, note = parse_rates(args.rates, network)
    mapped = plan(network, chip, args.placement, rates=rates, seed=args.seed, iterations=args.iterations)
    paths = write_outputs(mapped, args.outdir, figure=not args.no_figure)
    sys.stdout.write(render_markdown(build_report(mapped)))
    print(f"\nrates: {note}")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0

"""``hwsim map``: place a trained network or NIR graph onto a chip and write a chip program.

Writes, into the output folder, ``program.npz`` (the chip program, loadable
by hwsim and the RTL testbench), ``mapping.json`` (every number),
``mapping.md`` (the same as tables, printed too; for conv networks with a table
of the tiles, receptive-field axons and partial-sum cores per layer) and
``mesh.png`` (the mesh with layers and link traffic), computed by :mod:`mapping.summary`. The folder is replaced
as a whole (:func:`hwsim.outdir.atomic_outdir`): an existing folder only if it
holds an earlier ``mapping.json``, and it is left as it was if the run fails.
"""

from __future__ import annotations

import argparse
import sys

from hwsim.commands.common import check_input_file, check_int, check_name_or_file, check_seed, input_paths
from hwsim.commands.run import add_noc_argument, with_noc
from hwsim.limits import MAX_ITERATIONS

__all__ = ["add_arguments", "run", "parse_rates", "MAPPING_FILE"]

MAPPING_FILE = "mapping.json"  # marks a folder written by 'hwsim map': only such a folder is replaced


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mapping.mapper import RATES_HELP

    parser.add_argument("net", metavar="NET", help="trained network file (.npz) or NIR graph (.nir)")
    parser.add_argument("--chip", default="default_28nm", help="chip preset name or TOML file (default: %(default)s)")
    add_noc_argument(parser)
    parser.add_argument(
        "--placement",
        choices=("anneal", "greedy", "row_major"),
        default="anneal",
        help="placement method (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="annealing seed (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"annealing steps, 1..{MAX_ITERATIONS} (default: 800 per core part)")
    parser.add_argument("--rates", default="auto", help="spike rates for the traffic cost: " + RATES_HELP)
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
    parser.add_argument("-o", "--outdir", default="program",
                        help="output folder, replaced as a whole (default: %(default)s)")
    parser.add_argument("--no-figure", action="store_true", help="do not draw mesh.png")


def parse_rates(text: str, network):
    """The ``rates`` argument of :func:`mapping.map_network` for a ``--rates`` value, plus a note
    (:func:`mapping.mapper.resolve_rates`, the one parser the API uses too)."""
    from mapping.mapper import resolve_rates

    return resolve_rates(text, network, "--rates")


def _busiest_text(link: dict) -> str:
    where = f"router {link['router']} {link['port']}"
    if link["port"] != "local":
        where += f" -> core {link['to_core']}"
    return f"{where}: {link['packets_per_timestep']:.4g} packets/timestep ({100 * link['utilisation']:.1f} %)"


def _write_noc_estimate(mapped, folder, *, figure: bool, written: dict) -> dict:
    """Add the mesh estimate to mapping.json (key ``noc``) and draw noc_heatmap.png; returns the estimate."""
    import json

    from hwsim.report.noc import NOC_FIGURE, noc_heatmap, placement_noc_estimate
    from hwsim.writers import atomic_write_bytes

    noc = placement_noc_estimate(mapped.placement, mapped.chip)
    path = folder / MAPPING_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["noc"] = noc
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    if figure:
        rows, cols = noc["mesh_shape"]
        noc_heatmap(noc, rows, cols, folder / NOC_FIGURE,
                    title=f"mesh links on {mapped.chip.name} (estimated from the mapping)\n"
                          f"{noc['noc_route_cycles_per_timestep_estimate']:.4g} routing cycles/timestep")
        written["noc_figure"] = folder / NOC_FIGURE
    return noc


def run(args: argparse.Namespace) -> int:
    import math

    from hwsim.errors import InputError
    from hwsim.outdir import atomic_outdir, check_outdir
    from mapping import plan
    from mapping.mapper import as_chip, as_network, check_rates_text
    from mapping.summary import build_report, render_markdown, write_outputs

    # every argument and the output folder before any work
    check_input_file("NET", args.net)
    check_name_or_file("--chip", args.chip)
    check_seed("--seed", args.seed)
    check_int("--iterations", args.iterations, 1, MAX_ITERATIONS)
    if args.dt is not None and not (math.isfinite(args.dt) and args.dt > 0):
        raise InputError(f"--dt {args.dt}: expected a finite time step > 0 in seconds")
    check_rates_text(args.rates, "--rates")
    rates_file = args.rates if args.rates.endswith(".npy") else None
    inputs = input_paths(args, {"NET": "net", "--chip": "chip"})
    if rates_file:
        inputs["--rates"] = rates_file
    outdir = check_outdir(args.outdir, MAPPING_FILE, inputs=inputs)

    chip = with_noc(as_chip(args.chip), args.noc)
    network = as_network(args.net, chip, dt_s=args.dt, reset=args.reset)
    rates, note = parse_rates(args.rates, network)
    mapped = plan(network, chip, args.placement, rates=rates, seed=args.seed, iterations=args.iterations)
    # the folder as a whole, as 'hwsim run' writes its report: no file of an earlier mapping survives beside
    # the new ones (e.g. a mesh.png after --no-figure), and a failure leaves the earlier folder as it was
    noc = None
    with atomic_outdir(outdir, MAPPING_FILE) as tmp:
        written = write_outputs(mapped, tmp, figure=not args.no_figure)
        if chip.noc == "mesh":  # the mesh's link loads estimated from the mapping (docs/noc.md), in the same folder
            noc = _write_noc_estimate(mapped, tmp, figure=not args.no_figure, written=written)
    sys.stdout.write(render_markdown(build_report(mapped)))
    if noc is not None:
        busiest = f"; busiest link {_busiest_text(noc['busiest_link'])}" if noc["busiest_link"] else ""
        print(f"\nnetwork-on-chip (mesh, estimated from the mapping): "
              f"{noc['noc_route_cycles_per_timestep_estimate']:.4g} routing cycles/timestep{busiest}")
    print(f"\nrates: {note}")
    print("wrote " + ", ".join(str(outdir / p.name) for p in written.values()))
    return 0

"""``hwsim run``: the main job. Dataset -> network -> mapped chip program -> simulation -> report.

With no arguments it runs the embedded default end to end: the 8x8 digits
test set, the bundled digits network, mapped onto the default 28 nm chip,
simulated by the engine (:class:`hwsim.chip.Chip`) and reported (energy per
image, latency, throughput, SOPs, pJ/SOP, figures) into ``hwsim-out/``.

Examples::

    hwsim run                                   # the default demo
    hwsim run --timesteps 4 --limit 100 -o out  # fewer timesteps, first 100 test images
    hwsim run --dataset mnist --data-dir ~/data/mnist --net mnist_net.npz
    hwsim run --net graph.nir --chip small --json
    hwsim run --chip rram --instance 3         # one manufactured RRAM chip (seed 3)

On an RRAM chip (``core_type = "rram"``) the report is that of one manufactured
chip instance, ``--instance SEED`` (default 0): ADC scale registers calibrated
on the training images with the ideal chip (as ``hwsim yield``), simulated by
:func:`hwsim.rram.run_rram`, energy from :func:`hwsim.rram.rram_energy`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from hwsim.commands.report import (
    Progress,
    add_common_arguments,
    emit,
    load_images,
    parse_sweep,
    resolve_timesteps,
    rram_options,
)
from hwsim.errors import InputError

__all__ = ["HELP", "add_arguments", "run", "DEFAULT_OUTDIR"]

HELP = "train or load a network, map it, simulate it and report energy (the main job)"
DEFAULT_OUTDIR = "hwsim-out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--net", metavar="FILE",
                        help="trained network (.npz from 'hwsim train') or NIR graph (.nir); "
                        "default: the bundled digits network")
    parser.add_argument("--chip", default="default_28nm", metavar="CONFIG",
                        help="chip preset name or .toml file (default: default_28nm)")
    add_common_arguments(parser, DEFAULT_OUTDIR)


def _load_network(args: argparse.Namespace, chip, say: Progress):
    if args.net:
        from mapping import load_network

        say(f"loading network {args.net}")
        return load_network(args.net, chip), str(args.net)
    from hwsim.training import default_network_path, load_default_network

    say("loading the bundled default network")
    return load_default_network(), f"bundled:{default_network_path().name}"


def _program_bytes(program) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "program.npz"
        program.save(path)
        return path.read_bytes()


def run(args: argparse.Namespace) -> int:
    from hwsim import __version__
    from hwsim.config import load_chip_config
    from hwsim.report import check_outdir, evaluate
    from mapping import map_network

    say = Progress(args.quiet)
    check_outdir(args.outdir)  # fail before the simulation, not after
    chip = load_chip_config(args.chip)
    network, net_name = _load_network(args, chip, say)
    if args.dataset != "digits" and not args.net:
        raise InputError(
            f"--dataset {args.dataset}: the bundled network is trained on digits (8x8); "
            f"pass a network trained on {args.dataset} with --net (see 'hwsim train --dataset {args.dataset}')"
        )
    ds = load_images(args, network.n_inputs, say, whole_train=chip.core_type == "rram")
    rram = rram_options(args, chip, ds)  # fail on a bad --instance before mapping
    T, encoding = resolve_timesteps(args, network.metadata)
    say(f"mapping {'-'.join(map(str, network.sizes))} onto {chip.name} "
        f"({chip.mesh_rows}x{chip.mesh_cols} cores of {chip.core.axons}x{chip.core.neurons})")
    # The mapper reports soft design-rule violations as warnings; show them as messages, not tracebacks.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        program = map_network(network, chip)
    for w in caught:
        print(f"hwsim run: warning: {w.message}", file=sys.stderr)
    report = evaluate(
        program, ds.x_test, ds.y_test, timesteps=T, encoding=encoding, seed=args.seed, table=args.table,
        sweep=parse_sweep(args.sweep), progress=say, progress_bar=not args.quiet,
        meta={
            "dataset": ds.name,
            "network": network.metadata.get("name", "") or net_name,
            "network_file": net_name,
            "network_sizes": list(network.sizes),
            "placement": program.metadata.get("placement", ""),
            "hwsim_version": __version__,
        },
        **rram,
    )
    emit(report, Path(args.outdir), args, say, extra_files={"program.npz": _program_bytes(program)})
    return 0

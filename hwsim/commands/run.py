"""``hwsim run``: the main job. Dataset -> network -> mapped chip program -> simulation -> report.

With no arguments it runs the embedded default end to end: the 8x8 digits
test set, the bundled digits network, mapped onto the default 28 nm chip,
simulated by the engine (:class:`hwsim.chip.Chip`) and reported (energy per
image, latency, throughput, SOPs, pJ/SOP, figures) into ``hwsim-out/``.
It never trains: ``--net`` takes a network from ``hwsim train`` (or a NIR graph).

The output folder is replaced as a whole (see :func:`hwsim.outdir.atomic_outdir`),
so no input (``--net``, ``--chip``, ``--table``, ``--data-dir``) may lie inside it:
such a run is refused before any work, naming both paths.

Examples::

    hwsim run                                   # the default demo
    hwsim run --timesteps 4 --limit 100 -o out  # fewer timesteps, first 100 test images
    hwsim run --dataset mnist --data-dir ~/data/mnist --net mnist_net.npz
    hwsim run --net graph.nir --chip small --json
    hwsim run --chip rram --instance 3         # one manufactured RRAM chip (seed 3)
    hwsim run --chip mesh8x8_28nm --noc mesh    # the mesh network-on-chip: link contention, noc_heatmap.png
    hwsim run --exit confidence:0.9 --json      # early exit (SEENN-I), against the fixed-T run
    hwsim run --exit-sweep confidence:0.5,0.7,0.9,0.99  # the exit frontier figure, exit_frontier.png
    hwsim run --sweep 1,2,4,8 --scheduler local:2  # the runs on 2 Dask worker processes (docs/distributed.md)

With ``--exit RULE`` (chip-spec §1.4) the network still runs once at the full T;
the report's numbers are those of that run cut after each image's exit, next to
the fixed-T run's accuracy and energy (``energy_saving``). ``--exit-sweep``
applies several thresholds to the same run and draws the frontier. The scale
``confidence`` and ``entropy`` need is the output layer's, from the network
file (``--exit-scale`` overrides it); see :mod:`hwsim.report.early_exit`.

``--scheduler local[:N]`` or ``tcp://HOST:PORT`` runs the simulations (each timestep
count of the sweep and each chunk of images) as tasks on Dask worker processes, with
the same report, bit for bit; the default runs them in this process, as before.

On an RRAM chip (``core_type = "rram"``) the report is that of one manufactured
chip instance, ``--instance SEED`` (default 0): ADC scale registers calibrated
on the training images with the ideal chip (as ``hwsim yield``), simulated by
:func:`hwsim.rram.run_rram`, energy from :func:`hwsim.rram.rram_energy`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hwsim.commands.common import (
    add_exit_arguments,
    check_exit_arguments,
    check_input_file,
    check_name_or_file,
    exit_options,
    input_paths,
    load_network,
    map_with_messages,
)
from hwsim.commands.report import (
    COMMON_INPUTS,
    Progress,
    add_common_arguments,
    check_common_arguments,
    emit,
    load_images,
    parse_sweep,
    report_pool,
    resolve_timesteps,
    rram_options,
)
from hwsim.errors import InputError

__all__ = ["add_arguments", "add_noc_argument", "with_noc", "run", "DEFAULT_OUTDIR"]

DEFAULT_OUTDIR = "hwsim-out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--net", metavar="FILE",
                        help="trained network (.npz from 'hwsim train') or NIR graph (.nir); "
                        "default: the bundled digits network")
    parser.add_argument("--chip", default="default_28nm", metavar="CONFIG",
                        help="chip preset name or .toml file (default: default_28nm)")
    add_noc_argument(parser)
    add_common_arguments(parser, DEFAULT_OUTDIR)
    add_exit_arguments(parser)


NOC_HELP = ("network-on-chip model, overriding the chip config's 'noc': ideal (contention-free, chip-spec §1.2) or "
            "mesh (XY routers with buffers, round-robin arbitration and link contention, §1.5; needs "
            "hop_latency_cycles >= 1 and a digital chip); default: the chip config's (ideal for every preset)")


def add_noc_argument(parser: argparse.ArgumentParser) -> None:
    """``--noc ideal|mesh`` (run, map, sweep)."""
    parser.add_argument("--noc", choices=("ideal", "mesh"), default=None, help=NOC_HELP)


def with_noc(chip, noc: str | None):
    """``chip`` with ``--noc``'s model (unchanged without it); InputError naming the option if the chip refuses."""
    from hwsim.errors import ConfigError

    if noc is None or noc == chip.noc:
        return chip
    try:
        return chip.replace(noc=noc)
    except ConfigError as exc:
        raise InputError(f"--noc {noc}: chip {chip.name!r}: {exc}") from None


def _program_bytes(program) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "program.npz"
        program.save(path)
        return path.read_bytes()


def run(args: argparse.Namespace) -> int:
    from hwsim import __version__
    from hwsim.commands.common import check_outputs_match_classes
    from hwsim.config import load_chip_config
    from hwsim.outdir import check_outdir
    from hwsim.report import REPORT_MARKER, evaluate
    from hwsim.report.backend import backend_for_chip

    say = Progress(args.quiet)
    # every argument and the output folder before any work: the folder is replaced as a whole, so it must
    # not hold an input (e.g. 'hwsim run --net out/net.npz -o out' would delete the network)
    check_input_file("--net", args.net)
    check_name_or_file("--chip", args.chip)
    table = check_common_arguments(args)
    check_exit_arguments(args)
    if args.dataset != "digits" and not args.net:
        raise InputError(
            f"--dataset {args.dataset}: the bundled network is trained on digits (8x8); "
            f"pass a network trained on {args.dataset} with --net (see 'hwsim train --dataset {args.dataset}')"
        )
    check_outdir(args.outdir, REPORT_MARKER,
                 inputs=input_paths(args, {"--net": "net", "--chip": "chip", **COMMON_INPUTS}))
    with report_pool(args, say) as pool:
        chip = with_noc(load_chip_config(args.chip), args.noc)
        instances = backend_for_chip(chip).manufactured_instances
        if not instances and args.instance is not None:
            rram_options(args, chip, None)  # the error for --instance on a digital chip, before loading anything
        network, net_name = load_network(args.net, chip, say)
        # the rules against the network's outputs and output-layer scale, before the dataset is loaded
        exits = exit_options(args, network.n_outputs, "spike_count" if network.layers[-1].fire else "membrane",
                             network.metadata)
        T, encoding = resolve_timesteps(args, network.metadata)
        ds = load_images(args, network.n_inputs, say, whole_train=instances)
        check_outputs_match_classes(network.n_outputs, ds)
        rram = rram_options(args, chip, ds)
        say(f"mapping {'-'.join(map(str, network.sizes))} onto {chip.name} "
            f"({chip.mesh_rows}x{chip.mesh_cols} cores of {chip.core.axons}x{chip.core.neurons})")
        program = map_with_messages("run", network, chip)
        report = evaluate(
            program, ds.x_test, ds.y_test, timesteps=T, encoding=encoding, seed=args.seed, table=table,
            sweep=parse_sweep(args.sweep), progress=say, progress_bar=not args.quiet, pool=pool,
            meta={
                "dataset": ds.name,
                "network": network.metadata.get("name", "") or net_name,
                "network_file": net_name,
                "network_sizes": list(network.sizes),
                "placement": program.metadata.get("placement", ""),
                "hwsim_version": __version__,
            },
            **rram,
            **exits,
        )
    emit(report, Path(args.outdir), args, say, extra_files={"program.npz": _program_bytes(program)})
    return 0

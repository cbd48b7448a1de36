"""``hwsim report``: simulate a chip program on a dataset and write energy/latency reports.

Example::

    hwsim report hwsim-out/program.npz --dataset digits --timesteps 8 -o my-report

A program for an RRAM chip runs on chip instance ``--instance`` (default 0),
with its ADC scales calibrated on the training images as ``hwsim yield`` does.

Writes ``report.json``, ``report.csv``, ``images.csv``, ``report.md`` and the
PNG figures into the output folder (atomically) and prints the summary table.
``--json`` prints the report as JSON instead.

``--scheduler`` is that of ``hwsim run`` (docs/distributed.md). ``--exit``, ``--exit-sweep`` and
``--exit-scale`` are those of ``hwsim run``; a
program file records no output-layer scale, so ``confidence`` and ``entropy``
need ``--exit-scale`` here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hwsim.commands.common import check_data_dir, check_int, check_name_or_file, check_seed, network_timesteps
from hwsim.encoding_names import ENCODINGS
from hwsim.errors import InputError
from hwsim.limits import MAX_SEED, MAX_TIMESTEPS

__all__ = ["add_arguments", "run", "add_common_arguments", "check_common_arguments", "parse_sweep", "Progress",
           "load_images", "resolve_timesteps", "rram_options", "emit", "report_pool", "COMMON_INPUTS"]

REPORT_SCHEDULER_HELP = (
    "where the simulations run: threads (default: in this process, one run after the other, each spread over "
    "the cores by the engine), local[:N] (a Dask LocalCluster of N worker processes, default one per CPU) or "
    "tcp://HOST:PORT (an existing Dask cluster), where each timestep count of the sweep and each chunk of 256 "
    "images is a task; Dask needs pip install 'hwsim[distributed]'. The report is the same bits under every "
    "scheduler (docs/distributed.md)"
)

# The input files and folders of the options every report command has (see add_common_arguments).
COMMON_INPUTS = {"--table": "table", "--data-dir": "data_dir"}


def add_common_arguments(parser: argparse.ArgumentParser, default_outdir: str) -> None:
    """Options shared by ``hwsim run`` and ``hwsim report``."""
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"),
                        help="test images to run (default: digits, bundled with scikit-learn)")
    parser.add_argument("--data-dir", metavar="D", help="folder with the MNIST / Fashion-MNIST IDX files")
    parser.add_argument("--timesteps", "-T", type=int, metavar="T",
                        help=f"timesteps per image, 1..{MAX_TIMESTEPS} (default: the network's own, else 8)")
    parser.add_argument("--encoding", choices=ENCODINGS,
                        help="input spike coding (default: the network's own, else rate)")
    parser.add_argument("--limit", type=int, metavar="N", help="run only the first N test images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rate encoder (default 0)")
    parser.add_argument("--table", metavar="NAME|FILE", help="energy table (default: the chip's technology)")
    parser.add_argument("--instance", type=int, metavar="SEED",
                        help="RRAM chips: the manufactured chip instance (seed of its device draws and read "
                        "noise; default 0)")
    parser.add_argument("--sweep", metavar="T1,T2,...",
                        help="timesteps for the energy/accuracy-vs-T figure (default: 1,2,4,... up to 2T; "
                        "'none': no sweep and no timesteps.png)")
    parser.add_argument("-o", "--outdir", default=default_outdir, metavar="DIR",
                        help=f"output folder, replaced as a whole when complete; it must not hold an input "
                        f"(default: {default_outdir})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--no-figures", action="store_true", help="do not draw the PNG figures")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    parser.add_argument("--scheduler", metavar="threads|local[:N]|tcp://HOST:PORT", help=REPORT_SCHEDULER_HELP)


def parse_sweep(text: str | None) -> list[int] | None:
    """``"1,2,4"`` -> ``[1, 2, 4]``; ``"none"`` -> ``[]``; None -> None (the default sweep)."""
    if text is None:
        return None
    if text.strip().lower() in ("none", "off", ""):
        return []
    try:
        values = sorted({int(v) for v in text.split(",")})
    except ValueError:
        raise InputError(f"--sweep {text!r}: expected comma-separated positive integers, e.g. 1,2,4,8") from None
    if values[0] < 1 or values[-1] > MAX_TIMESTEPS:
        raise InputError(f"--sweep {text!r}: timesteps must be in 1..{MAX_TIMESTEPS}")
    return values


def check_common_arguments(args: argparse.Namespace):
    """Check every option of :func:`add_common_arguments` before anything is loaded.

    Returns:
        The energy table of ``--table`` (loaded now, so a missing file is reported at once), or None.
    """
    check_int("--timesteps", args.timesteps, 1, MAX_TIMESTEPS)
    check_int("--limit", args.limit, 1, 2**31 - 1)
    check_seed("--seed", args.seed)
    check_int("--instance", args.instance, 0, MAX_SEED)
    parse_sweep(args.sweep)
    from hwsim.parallel import check_scheduler

    check_scheduler(args.scheduler)
    check_data_dir(args.data_dir)
    check_name_or_file("--table", args.table)
    if args.table is None:
        return None
    from hwsim.energy import load_table

    return load_table(args.table)


class Progress:
    """Step messages on stderr with elapsed time (silent with ``quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f} s] {message}", file=sys.stderr, flush=True)


@contextmanager
def report_pool(args: argparse.Namespace, say: Progress) -> Iterator:
    """The :class:`hwsim.parallel.TaskPool` of ``--scheduler`` (checked by :func:`check_common_arguments`), open
    for the block: opened before any data is loaded, so an unreachable cluster fails first."""
    from hwsim.parallel import parse_scheduler, task_pool

    scheduler = parse_scheduler(args.scheduler)
    if scheduler.is_dask:
        say(f"connecting to the Dask scheduler {scheduler.text}" if scheduler.kind == "tcp"
            else f"starting a Dask LocalCluster ({scheduler.text})")
    with task_pool(scheduler) as pool:
        yield pool


def load_images(args: argparse.Namespace, n_inputs: int, say: Progress, *, whole_train: bool = False):
    """The dataset ``args.dataset``, checked against the program's input count.

    ``--limit`` shortens both splits, or only the test split with ``whole_train`` (RRAM chips
    calibrate their ADC scales on the training images, as ``hwsim yield`` does).
    """
    from hwsim.datasets import Dataset, load_dataset

    check_int("--limit", args.limit, 1, 2**31 - 1)
    say(f"loading dataset {args.dataset}")
    ds = load_dataset(args.dataset, args.data_dir, limit=None if whole_train else args.limit)
    if whole_train and args.limit is not None:
        ds = Dataset(ds.name, ds.x_train, ds.y_train, ds.x_test[: args.limit], ds.y_test[: args.limit],
                     ds.image_shape, ds.classes)
    if ds.x_test.shape[1] != n_inputs:
        raise InputError(
            f"dataset {args.dataset} has {ds.x_test.shape[1]} pixels per image "
            f"({'x'.join(map(str, ds.image_shape))}) but the network has {n_inputs} inputs; "
            "pass a network trained on this dataset with --net (see 'hwsim train')"
        )
    return ds


def resolve_timesteps(args: argparse.Namespace, metadata: dict) -> tuple[int, str]:
    """Timesteps and encoding: command line, else the network's metadata, else 8 / rate.

    An ``--encoding`` other than the one the network records is used as asked, with a note on stderr:
    a network trained on one input code can lose many points on another (docs/training.md, "Rate or
    regular coding"), which a user studying that wants and anyone else should hear about.
    """
    T = network_timesteps(metadata, args.timesteps)
    recorded = metadata.get("encoding") or None
    encoding = args.encoding or str(recorded or "rate")
    if encoding not in ENCODINGS:
        raise InputError(f"encoding {encoding!r} (from the network metadata): allowed {', '.join(ENCODINGS)}")
    if args.encoding and recorded and args.encoding != recorded and not getattr(args, "quiet", False):
        print(f"note: the network records {recorded!r} input encoding (the one it was trained with); running with "
              f"--encoding {args.encoding} as asked, so its accuracy may differ", file=sys.stderr)
    return T, encoding


def rram_options(args: argparse.Namespace, chip, ds) -> dict:
    """The :func:`hwsim.report.evaluate` arguments that pick and calibrate an RRAM chip instance.

    Raises:
        InputError: ``--instance`` for a digital chip, or a negative seed.
    """
    from hwsim.report.backend import backend_for_chip

    if not backend_for_chip(chip).manufactured_instances:
        if args.instance is not None:
            raise InputError(f"--instance {args.instance}: chip {chip.name!r} has digital cores, which have no "
                             "manufactured instances (--instance applies to RRAM chips)")
        return {}
    seed = 0 if args.instance is None else args.instance
    check_int("--instance", seed, 0, MAX_SEED)
    return {"instance_seed": seed, "calibration_images": ds.x_train}


def emit(report, outdir: Path, args: argparse.Namespace, say: Progress, extra_files=None) -> None:
    """Write the report folder, then print the table (or JSON) on stdout."""
    from hwsim.report import render_table, write_report

    say(f"writing report to {outdir}/")
    write_report(report, outdir, figures=not args.no_figures, extra_files=extra_files)
    data = report.to_dict()
    if args.json:
        json.dump(data, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(data))
        files = sorted(p.name for p in outdir.iterdir())
        sys.stdout.write(f"\nwrote {outdir}/: {', '.join(files)}\n")
    say("done")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hwsim.commands.common import add_exit_arguments

    parser.add_argument("program", help="chip program (.npz) written by 'hwsim map' or 'hwsim run'")
    add_common_arguments(parser, "hwsim-report")
    add_exit_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hwsim.commands.common import (
        check_exit_arguments,
        check_input_file,
        check_outputs_match_classes,
        exit_options,
        input_paths,
    )
    from hwsim.outdir import check_outdir
    from hwsim.program import ChipProgram
    from hwsim.report import REPORT_MARKER, evaluate
    from hwsim.report.backend import backend_for_chip

    say = Progress(args.quiet)
    # every argument and the output folder before any work: the folder is replaced as a whole, so it must
    # not hold an input (e.g. 'hwsim report out/program.npz -o out' would delete the program)
    check_input_file("program", args.program)
    table = check_common_arguments(args)
    check_exit_arguments(args)
    check_outdir(args.outdir, REPORT_MARKER, inputs=input_paths(args, {"program": "program", **COMMON_INPUTS}))
    with report_pool(args, say) as pool:
        say(f"loading chip program {args.program}")
        program = ChipProgram.load(args.program)
        exits = exit_options(args, program.n_outputs, program.readout, program.metadata)
        T, encoding = resolve_timesteps(args, program.metadata if isinstance(program.metadata, dict) else {})
        instances = backend_for_chip(program.chip).manufactured_instances
        ds = load_images(args, program.n_inputs, say, whole_train=instances)
        check_outputs_match_classes(program.n_outputs, ds, "the program")
        report = evaluate(
            program, ds.x_test, ds.y_test, timesteps=T, encoding=encoding, seed=args.seed, table=table,
            sweep=parse_sweep(args.sweep), progress=say, progress_bar=not args.quiet, pool=pool,
            meta={"dataset": ds.name, "program": str(args.program), "network": program.metadata.get("network", "")},
            **rram_options(args, program.chip, ds),
            **exits,
        )
    emit(report, Path(args.outdir), args, say)
    return 0

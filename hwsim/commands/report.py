"""``hwsim report``: simulate a chip program on a dataset and write energy/latency reports.

Example::

    hwsim report hwsim-out/program.npz --dataset digits --timesteps 8 -o my-report

A program for an RRAM chip runs on chip instance ``--instance`` (default 0),
with its ADC scales calibrated on the training images as ``hwsim yield`` does.

Writes ``report.json``, ``report.csv``, ``images.csv``, ``report.md`` and the
PNG figures into the output folder (atomically) and prints the summary table.
``--json`` prints the report as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hwsim.errors import InputError

__all__ = ["HELP", "add_arguments", "run", "add_common_arguments", "parse_sweep", "Progress", "load_images",
           "rram_options"]

HELP = "simulate a chip program on a dataset and write energy/latency reports"


def add_common_arguments(parser: argparse.ArgumentParser, default_outdir: str) -> None:
    """Options shared by ``hwsim run`` and ``hwsim report``."""
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"),
                        help="test images to run (default: digits, bundled with scikit-learn)")
    parser.add_argument("--data-dir", metavar="D", help="folder with the MNIST / Fashion-MNIST IDX files")
    parser.add_argument("--timesteps", "-T", type=int, metavar="T",
                        help="timesteps per image (default: the network's own, else 8)")
    parser.add_argument("--encoding", choices=("rate", "threshold", "latency"),
                        help="input spike coding (default: the network's own, else rate)")
    parser.add_argument("--limit", type=int, metavar="N", help="run only the first N test images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rate encoder (default 0)")
    parser.add_argument("--table", metavar="NAME|FILE", help="energy table (default: the chip's technology)")
    parser.add_argument("--instance", type=int, metavar="SEED",
                        help="RRAM chips: the manufactured chip instance (seed of its device draws and read "
                        "noise; default 0)")
    parser.add_argument("--sweep", metavar="T1,T2,...",
                        help="timesteps for the energy/accuracy-vs-T figure (default: 1,2,4,... up to 2T; "
                        "'none' to skip)")
    parser.add_argument("-o", "--outdir", default=default_outdir, metavar="DIR",
                        help=f"output folder, replaced atomically (default: {default_outdir})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--no-figures", action="store_true", help="do not draw the PNG figures")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")


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
    if values[0] < 1 or values[-1] > 4096:
        raise InputError(f"--sweep {text!r}: timesteps must be in 1..4096")
    return values


class Progress:
    """Step messages on stderr with elapsed time (silent with ``quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f} s] {message}", file=sys.stderr, flush=True)


def load_images(args: argparse.Namespace, n_inputs: int, say: Progress, *, whole_train: bool = False):
    """The dataset ``args.dataset``, checked against the program's input count.

    ``--limit`` shortens both splits, or only the test split with ``whole_train`` (RRAM chips
    calibrate their ADC scales on the training images, as ``hwsim yield`` does).
    """
    from hwsim.datasets import Dataset, load_dataset

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit {args.limit}: expected a positive number of images")
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
    """Timesteps and encoding: command line, else the network's metadata, else 8 / rate."""
    T = args.timesteps if args.timesteps is not None else int(metadata.get("timesteps", 8) or 8)
    if not 1 <= T <= 4096:
        raise InputError(f"--timesteps {T}: expected 1..4096")
    encoding = args.encoding or str(metadata.get("encoding", "rate") or "rate")
    if encoding not in ("rate", "threshold", "latency"):
        raise InputError(f"encoding {encoding!r} (from the network metadata): allowed rate, threshold, latency")
    return T, encoding


def rram_options(args: argparse.Namespace, chip, ds) -> dict:
    """The :func:`hwsim.report.evaluate` arguments that pick and calibrate an RRAM chip instance.

    Raises:
        InputError: ``--instance`` for a digital chip, or a negative seed.
    """
    if getattr(chip, "core_type", "digital") != "rram":
        if args.instance is not None:
            raise InputError(f"--instance {args.instance}: chip {chip.name!r} has digital cores, which have no "
                             "manufactured instances (--instance applies to RRAM chips)")
        return {}
    seed = 0 if args.instance is None else args.instance
    if seed < 0:
        raise InputError(f"--instance {seed}: expected a chip seed >= 0")
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
    parser.add_argument("program", help="chip program (.npz) written by 'hwsim map' or 'hwsim run'")
    add_common_arguments(parser, "hwsim-report")


def run(args: argparse.Namespace) -> int:
    from hwsim.program import ChipProgram
    from hwsim.report import check_outdir, evaluate

    say = Progress(args.quiet)
    check_outdir(args.outdir)  # fail before the simulation, not after
    say(f"loading chip program {args.program}")
    program = ChipProgram.load(args.program)
    ds = load_images(args, program.n_inputs, say, whole_train=program.chip.core_type == "rram")
    T, encoding = resolve_timesteps(args, program.metadata if isinstance(program.metadata, dict) else {})
    report = evaluate(
        program, ds.x_test, ds.y_test, timesteps=T, encoding=encoding, seed=args.seed, table=args.table,
        sweep=parse_sweep(args.sweep), progress=say, progress_bar=not args.quiet,
        meta={"dataset": ds.name, "program": str(args.program), "network": program.metadata.get("network", "")},
        **rram_options(args, program.chip, ds),
    )
    emit(report, Path(args.outdir), args, say)
    return 0

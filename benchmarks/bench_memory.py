"""Memory benchmark: peak RSS of a ``hwsim run`` report on 100,000 images.

Run with ``make bench`` (``.venv/bin/python benchmarks/bench_memory.py``). The command line takes at most a
dataset's test split (10,000 images for MNIST), so this measures through the API the same steps
``hwsim run`` takes (hwsim/commands/run.py): the bundled digits network mapped onto ``default_28nm``, then
:func:`hwsim.report.evaluate` (main run, the default timestep sweep, the raster) and
:func:`hwsim.report.write_report` (``report.json``, ``report.csv``, ``images.csv``, ``report.md``; figures off
unless ``--figures``). The images are the 8x8 digits test split repeated to ``--images`` (default 100,000;
image ``i`` still gets its own rate-coded raster, so the runs are not repeats), T = 16 as in issue 19.

Each size runs in a fresh child process that prints its own peak RSS (``resource.getrusage(RUSAGE_SELF)
.ru_maxrss``), so the numbers do not mix. A small run (``--small`` images, default 1,000) gives the fixed part
(interpreter, NumPy, Numba, compiled kernels), so the growth with the batch is the difference. A 10-image child
runs first, uncounted, so neither measured child compiles kernels (compiling takes memory of its own).

Merges into ``benchmarks/results/latest.json`` under ``memory`` (read, update this key, atomic write under a
lock on the folder; every other key stays). The issue's target: a 100,000-image run under 1 GB RSS.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import merge_results  # same folder

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
T = 16
TARGET_BYTES = 2**30


def child(n_images: int, figures: bool, exit_sweep: str | None, report_dir: Path | None = None) -> dict:
    """One ``hwsim run``-like report on ``n_images`` images, in this process; its peak RSS and wall time."""
    import numpy as np

    from hwsim.commands.common import map_with_messages
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.report import evaluate, write_report
    from hwsim.training import load_default_network

    start = time.perf_counter()
    ds = load_dataset("digits", None)
    repeats = -(-n_images // ds.x_test.shape[0])
    images = np.tile(ds.x_test, (repeats, 1))[:n_images]
    labels = np.tile(ds.y_test, repeats)[:n_images]
    network = load_default_network()
    program = map_with_messages("run", network, load_chip_config("default_28nm"))
    options = {"exit_sweep": exit_sweep, "exit_rule": exit_sweep.split(",")[0]} if exit_sweep else {}
    report = evaluate(program, images, labels, timesteps=T, **options)
    with tempfile.TemporaryDirectory() as tmp:
        out = report_dir or Path(tmp) / "out"
        write_report(report, out, figures=figures)
        data = json.loads((out / "report.json").read_text())
    return {
        "images": n_images,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "wall_s": time.perf_counter() - start,
        "accuracy": data["accuracy"],
        "energy_nj_per_image": data["energy_nj_per_image"],
    }


def measure(n_images: int, figures: bool, exit_sweep: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n_images)] + (["--figures"] if figures else [])
    cmd += ["--exit-sweep", exit_sweep] if exit_sweep else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_memory: child with {n_images} images failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000, help="images of the large run (default 100000)")
    parser.add_argument("--small", type=int, default=1_000, help="images of the small run (default 1000)")
    parser.add_argument("--figures", action="store_true", help="also draw the PNG figures (imports matplotlib)")
    parser.add_argument(
        "--exit-sweep", metavar="RULES", help="also an exit rule (the first) and an exit sweep, e.g. margin:2,4,8"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-merge", action="store_true", help="print only; leave the results file alone")
    parser.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="with --child N: keep the report folder there (to compare two versions' reports)",
    )
    parser.add_argument(
        "--child",
        type=int,
        metavar="N",
        help="run one report on N images in this process and print its peak RSS as JSON",
    )
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.figures, args.exit_sweep, args.report_dir)))
        return 0
    if args.images < 1 or args.small < 1:
        parser.error("--images and --small must be >= 1")
    measure(10, args.figures, args.exit_sweep)  # warm-up: fills the Numba cache (compiling takes memory too)
    small = measure(args.small, args.figures, args.exit_sweep)
    large = measure(args.images, args.figures, args.exit_sweep)
    mb = 2**20
    for r in (small, large):
        print(
            f"{r['images']:>7} images, T = {T}: peak RSS {r['peak_rss_bytes'] / mb:7.1f} MiB, "
            f"{r['wall_s']:6.1f} s, accuracy {r['accuracy']:.4f}"
        )
    growth = (
        (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / (args.images - args.small)
        if args.images != args.small
        else 0.0
    )
    print(
        f"growth: {growth:.0f} bytes per image; target: {args.images} images under {TARGET_BYTES / mb:.0f} MiB: "
        f"{'met' if large['peak_rss_bytes'] < TARGET_BYTES else 'NOT met'}"
    )
    if not args.no_merge:
        merge_results(
            args.output,
            {
                "memory": {
                    "workload": f"bundled digits network on default_28nm, digits test split repeated, T = {T}, default "
                    f"sweep{', exit sweep ' + args.exit_sweep if args.exit_sweep else ''}, "
                    f"figures {'on' if args.figures else 'off'}",
                    "small": small,
                    "large": large,
                    "bytes_per_image": growth,
                    "target_bytes": TARGET_BYTES,
                    "target_met": large["peak_rss_bytes"] < TARGET_BYTES,
                    "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
                    "date": time.strftime("%Y-%m-%d", time.gmtime()),
                }
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

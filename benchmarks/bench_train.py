"""Training benchmark: seconds per batch of ``hwsim train`` (forward, loss, backward, Adam, quantization-aware).

Run with ``.venv/bin/python benchmarks/bench_train.py`` (set ``OPENBLAS_NUM_THREADS`` for the thread count; the
convolutional model runs its groups of images on as many threads as BLAS may use). It trains on the first
``--images`` Fashion-MNIST training images (or the bundled 8x8 digits with ``--dataset digits``), batch 64, T = 8,
and measures one epoch as the difference of a two-epoch and a one-epoch run of
:func:`hwsim.training.trainer.fit` (``evaluate=False``), so the export to chip layers (the same once per run,
whatever the epoch count) is not counted. The median, min and max over the rounds are printed (and written with
``--json``): on a machine that runs something else the spread says how much to trust the median.

The default architecture is the Fashion-MNIST network of issue 14 (``32C5s2-64C5s2-256-10``, continuous);
``--arch`` takes any other, ``--hidden`` a fully connected model instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from results_file import spread  # same folder

from hwsim.datasets import load_dataset
from hwsim.training.conv import work_threads
from hwsim.training.trainer import fit
from hwsim.writers import atomic_write_bytes

BATCH = 64


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "digits"])
    parser.add_argument("--arch", default="32C5s2-64C5s2-256-10")
    parser.add_argument("--hidden", default=None, help="a fully connected model, e.g. 256,256 (instead of --arch)")
    parser.add_argument("--mode", default="continuous", choices=["continuous", "discontinuous"])
    parser.add_argument("-T", "--timesteps", type=int, default=8)
    parser.add_argument("--images", type=int, default=640, help="training images per epoch (default 640: 10 batches)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    ds = load_dataset(args.dataset, limit=args.images) if args.dataset == "fashion-mnist" else load_dataset("digits")
    n = min(args.images, len(ds.y_train))
    ds = type(ds)(ds.name, ds.x_train[:n], ds.y_train[:n], ds.x_test[:10], ds.y_test[:10], ds.image_shape,
                  ds.classes)
    model = {"hidden": [int(h) for h in args.hidden.split(",")]} if args.hidden else {"arch": args.arch}
    kw = dict(timesteps=args.timesteps, mode=args.mode, evaluate=False, seed=0, batch_size=BATCH, **model)
    batches = -(-n // BATCH)

    def run(epochs: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fit(ds, epochs=epochs, **kw)
        return time.perf_counter() - wall, time.process_time() - cpu

    run(1)  # warm-up: imports, caches
    per_batch, cpu_per_batch = [], []
    for _ in range(args.rounds):
        one, two = run(1), run(2)
        per_batch.append((two[0] - one[0]) / batches)
        cpu_per_batch.append((two[1] - one[1]) / batches)
    seconds = spread(per_batch)
    report = {
        "benchmark": f"hwsim train {model} on {ds.name}, {args.mode}, T={args.timesteps}, batch {BATCH}",
        "images": n,
        "threads": work_threads(),
        "openblas_num_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
        "seconds_per_batch": seconds,
        "cpu_seconds_per_batch": spread(cpu_per_batch),
        "minutes_per_60000_image_epoch": seconds["median"] * 60000 / BATCH / 60,
    }
    print(f"{report['benchmark']}: {seconds['median'] * 1e3:.0f} ms per batch (min {seconds['min'] * 1e3:.0f}, "
          f"max {seconds['max'] * 1e3:.0f}, {args.rounds} rounds, {report['threads']} threads) = "
          f"{report['minutes_per_60000_image_epoch']:.1f} min per 60,000-image epoch")
    if args.json is not None:
        atomic_write_bytes(args.json, (json.dumps(report, indent=2) + "\n").encode())
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

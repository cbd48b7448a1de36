"""Monte Carlo yield of RRAM chip instances (docs/rram.md §4).

Instance ``k`` of a study with base seed ``s`` is chip seed ``s + k``: one
draw of the device variation, fixed for its life, and its own read-noise
streams. Instances run in parallel on a thread pool (the kernel releases the
GIL); every instance's result depends only on its seed and the inputs, so the
numbers do not depend on the worker count or the order of completion.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hwsim.errors import InputError
from hwsim.program import ChipProgram
from hwsim.rram.device import program_chip, rram_config_of
from hwsim.rram.engine import run_rram

__all__ = [
    "with_rram",
    "instance_seeds",
    "instance_accuracies",
    "yield_fraction",
    "accuracy_summary",
    "SweepResult",
    "sigma_sweep",
]


def with_rram(program: ChipProgram, **changes) -> ChipProgram:
    """The program on a copy of its RRAM chip with some ``[rram]`` parameters changed."""
    chip = program.chip
    cfg = dataclasses.replace(rram_config_of(chip), **changes)
    return dataclasses.replace(program, chip=chip.replace(rram=cfg))


def instance_seeds(n_instances: int, base_seed: int = 0) -> list[int]:
    """Seeds ``base_seed .. base_seed + n_instances - 1``.

    Raises:
        InputError: ``n_instances < 1`` or a negative seed.
    """
    if isinstance(n_instances, bool) or not isinstance(n_instances, int) or n_instances < 1:
        raise InputError(f"instances = {n_instances!r}: expected an integer >= 1")
    if base_seed < 0:
        raise InputError(f"seed = {base_seed}: expected an integer >= 0")
    return list(range(base_seed, base_seed + n_instances))


def _workers(workers: int | None, n: int) -> int:
    return max(1, min(n, workers if workers is not None else (os.cpu_count() or 1)))


def instance_accuracies(
    program: ChipProgram,
    rasters: np.ndarray,
    labels: np.ndarray,
    seeds: Sequence[int],
    *,
    adc_scales: Sequence[int] | None = None,
    thresholds: Sequence[Sequence[int]] | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Accuracy of each chip instance on the same spike rasters.

    Args:
        program: Program for an RRAM chip.
        rasters: ``(B, T, n_in)`` encoded test images (the same for every instance).
        labels: ``(B,)`` true classes.
        seeds: Chip seeds, one per instance.
        adc_scales: ADC scale registers (default 1 for every core).
        thresholds: Optional per instance threshold registers (one tuple per seed).
        workers: Threads (default: CPU count); results do not depend on it.
        progress: Called with 1 after each finished instance (e.g. a tqdm ``update``).

    Returns:
        ``(len(seeds),)`` float64 accuracies in [0, 1].
    """
    labels = np.asarray(labels)
    if rasters.shape[0] != labels.shape[0]:
        raise InputError(f"{rasters.shape[0]} rasters but {labels.shape[0]} labels")

    def one(i: int) -> float:
        rc = program_chip(program, seeds[i], adc_scales=adc_scales)
        if thresholds is not None:
            rc = rc.with_thresholds(thresholds[i])
        pred = run_rram(rc, rasters, threads=1).predictions
        if progress is not None:
            progress(1)
        return float((pred == labels).mean())

    n = len(seeds)
    with ThreadPoolExecutor(_workers(workers, n)) as pool:
        return np.array(list(pool.map(one, range(n))), np.float64)


def yield_fraction(accuracies: np.ndarray, spec: float) -> float:
    """Fraction of instances with accuracy ``>= spec``."""
    a = np.asarray(accuracies, np.float64)
    return float((a >= spec).mean()) if a.size else float("nan")


def accuracy_summary(accuracies: np.ndarray, spec: float) -> dict:
    """Mean, spread, quantiles, yield and out-of-spec count of an accuracy distribution."""
    a = np.asarray(accuracies, np.float64)
    return {
        "instances": int(a.size),
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "min": float(a.min()),
        "p10": float(np.quantile(a, 0.1)),
        "median": float(np.median(a)),
        "p90": float(np.quantile(a, 0.9)),
        "max": float(a.max()),
        "yield": yield_fraction(a, spec),
        "out_of_spec": int((a < spec).sum()),
    }


@dataclass(frozen=True)
class SweepResult:
    """Accuracy of the same instances (common random numbers) at several sigmas.

    Attributes:
        sigmas: The ``variation_sigma`` values.
        seeds: Chip seeds.
        accuracies: ``(len(sigmas), len(seeds))``.
    """

    sigmas: tuple[float, ...]
    seeds: tuple[int, ...]
    accuracies: np.ndarray

    def yields(self, spec: float) -> list[float]:
        return [yield_fraction(a, spec) for a in self.accuracies]

    def to_dict(self, spec: float) -> dict:
        return {
            "sigmas": list(self.sigmas),
            "mean_accuracy": [float(a.mean()) for a in self.accuracies],
            "p10_accuracy": [float(np.quantile(a, 0.1)) for a in self.accuracies],
            "p90_accuracy": [float(np.quantile(a, 0.9)) for a in self.accuracies],
            "yield": self.yields(spec),
        }


def sigma_sweep(
    program: ChipProgram,
    rasters: np.ndarray,
    labels: np.ndarray,
    sigmas: Sequence[float],
    seeds: Sequence[int],
    *,
    adc_scales: Sequence[int] | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SweepResult:
    """Accuracy of every instance at every device-variation sigma (the other parameters unchanged)."""
    rows = [
        instance_accuracies(with_rram(program, variation_sigma=float(s)), rasters, labels, seeds,
                            adc_scales=adc_scales, workers=workers, progress=progress)
        for s in sigmas
    ]
    return SweepResult(tuple(float(s) for s in sigmas), tuple(int(s) for s in seeds), np.array(rows))

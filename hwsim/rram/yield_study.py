"""Monte Carlo yield of RRAM chip instances (docs/rram.md §4).

Instance ``k`` of a study with base seed ``s`` is chip seed ``s + k``: one
draw of the device variation, fixed for its life, and its own read-noise
streams. Instances run in parallel on a thread pool: the device draws, the
read-noise draws and the simulation are Numba kernels that release the GIL,
so the threads scale. Every instance's result depends only on its seed and the
inputs, so the numbers do not depend on the worker count or the order of
completion.
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
from hwsim.rram.engine import pack, run_rram

__all__ = [
    "with_rram",
    "instance_seeds",
    "instance_accuracies",
    "yield_fraction",
    "accuracy_summary",
    "SweepResult",
    "sigma_sweep",
    "SWEEP_NOISE_CACHE_BYTES",
]

# Largest read-noise array (bytes per instance, per worker) that a sigma sweep keeps to reuse at every sigma.
SWEEP_NOISE_CACHE_BYTES = 128 << 20


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
        acc = _instance_accuracy(program, seeds[i], rasters, labels, adc_scales,
                                 thresholds[i] if thresholds is not None else None, None, None)
        if progress is not None:
            progress(1)
        return acc

    n = len(seeds)
    with ThreadPoolExecutor(_workers(workers, n)) as pool:
        return np.array(list(pool.map(one, range(n))), np.float64)


def _instance_accuracy(program: ChipProgram, seed: int, rasters: np.ndarray, labels: np.ndarray, adc_scales,
                       thresholds, draw_cache: dict | None, noise_cache: dict | None) -> float:
    """Accuracy of chip instance ``seed``.

    The device draws (``draw_cache``) and read-noise normals (``noise_cache``) of an instance depend
    only on its seed, the geometry and the image indices, not on any device parameter, so the same
    caches can serve the same instance at several sigmas; the result is the same with or without them.
    """
    rc = program_chip(program, seed, adc_scales=adc_scales, draw_cache=draw_cache)
    if thresholds is not None:
        rc = rc.with_thresholds(thresholds)
    packed = pack(rc)
    if noise_cache is not None:
        packed = dataclasses.replace(packed, noise_cache=noise_cache)
    pred = run_rram(rc, rasters, packed=packed, threads=1).predictions
    return float((pred == labels).mean())


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
    """Accuracy of every instance at every device-variation sigma (the other parameters unchanged).

    Runs instance by instance (each on one worker, through all sigmas), so the
    device draws of an instance are drawn once and reused at every sigma, and
    so are its read-noise normals when they fit in
    :data:`SWEEP_NOISE_CACHE_BYTES`; the numbers are those of
    :func:`instance_accuracies` at each sigma.
    """
    labels = np.asarray(labels)
    if rasters.shape[0] != labels.shape[0]:
        raise InputError(f"{rasters.shape[0]} rasters but {labels.shape[0]} labels")
    programs = [with_rram(program, variation_sigma=float(s)) for s in sigmas]
    noise_bytes = rasters.shape[0] * rasters.shape[1] * len(program.cores) * program.chip.core.neurons * 8
    share = noise_bytes <= SWEEP_NOISE_CACHE_BYTES

    def one(i: int) -> list[float]:
        draws: dict = {}
        noise: dict | None = {} if share else None
        row = []
        for prog in programs:
            row.append(_instance_accuracy(prog, seeds[i], rasters, labels, adc_scales, None, draws, noise))
            if progress is not None:
                progress(1)
        return row

    n = len(seeds)
    with ThreadPoolExecutor(_workers(workers, n)) as pool:
        cols = list(pool.map(one, range(n)))
    acc = np.array(cols, np.float64).T.reshape(len(programs), n)
    return SweepResult(tuple(float(s) for s in sigmas), tuple(int(s) for s in seeds), acc)

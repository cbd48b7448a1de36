"""Monte Carlo yield of RRAM chip instances (docs/rram.md §4).

Instance ``k`` of a study with base seed ``s`` is chip seed ``s + k``: one
draw of the device variation, fixed for its life, and its own read-noise
streams. Instances run in parallel on a :class:`hwsim.parallel.TaskPool`: by
default a thread pool (the device draws, the read-noise draws and the
simulation are Numba kernels that release the GIL, so the threads scale), or
the worker processes of a Dask cluster (``settings.scheduler``,
docs/distributed.md). Every instance's result depends only on its seed and the
inputs, so the numbers do not depend on the scheduler, the worker count or the
order of completion. A task receives the program as plain data
(:func:`hwsim.parallel.program_to_wire`), the encoded rasters, the labels and
the ADC scales, and returns floats.

:func:`run_yield_study` is the whole study of ``hwsim yield`` (calibration, the
Monte Carlo, the ideal chip, energy, the sigma sweep and, optionally,
signature-driven tuning) as one call with a frozen :class:`YieldStudySettings`;
its :class:`YieldStudyResult` gives the content of ``yield.json``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import numpy as np

from hwsim.encoding import encode
from hwsim.errors import InputError
from hwsim.parallel import TaskPool, program_from_wire, program_to_wire, task_pool
from hwsim.program import ChipProgram
from hwsim.rram.device import program_chip, rram_config_of
from hwsim.rram.energy import RramEnergyReport, rram_energy
from hwsim.rram.engine import calibrate_on_images, calibration_count, pack, run_rram

__all__ = [
    "with_rram",
    "instance_seeds",
    "instance_accuracies",
    "yield_fraction",
    "accuracy_summary",
    "SweepResult",
    "sigma_sweep",
    "SWEEP_NOISE_CACHE_BYTES",
    "YIELD_FORMAT",
    "YieldStudySettings",
    "YieldStudyResult",
    "training_images_needed",
    "run_yield_study",
]

# Largest read-noise array (bytes per instance, per worker) that a sigma sweep keeps to reuse at every sigma.
SWEEP_NOISE_CACHE_BYTES = 128 << 20

YIELD_FORMAT = "hwsim-yield"  # the "format" key of yield.json (version 1)

# The non-idealities the ideal chip turns off (docs/rram.md §2): it shows what the network reaches on the
# crossbars with no variation, noise, faults, finite on/off ratio or IR drop.
_NON_IDEALITIES = ("variation", "array_variation", "read_noise", "stuck_faults", "finite_on_off", "ir_drop")


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
    return list(range(base_seed, base_seed + n_instances))  # instance k is chip seed base + k (docs/rram.md §4)


def _workers(workers: int | None, n: int) -> int:
    return max(1, min(n, workers if workers is not None else (os.cpu_count() or 1)))


@contextmanager
def _pool(pool: TaskPool | None, workers: int | None, n: int) -> Iterator[TaskPool]:
    """``pool``, or a thread pool of ``workers`` threads (at most ``n``) for this call."""
    if pool is not None:
        yield pool
        return
    with task_pool(None, threads=_workers(workers, n)) as threads:
        yield threads


def _accuracy_task(shared: dict, item: tuple) -> float:
    """One instance of :func:`instance_accuracies` (runs on a worker; plain arguments, a float back)."""
    seed, thresholds = item
    return _instance_accuracy(program_from_wire(shared["program"]), seed, shared["rasters"], shared["labels"],
                              shared["adc_scales"], thresholds, None, None, shared.get("cap_g_on", False))


def _sweep_task(shared: dict, seed: int) -> list[float]:
    """One instance of :func:`sigma_sweep` through every sigma (runs on a worker)."""
    program = program_from_wire(shared["program"])
    draws: dict = {}
    noise: dict | None = {} if shared["share_noise"] else None
    return [_instance_accuracy(with_rram(program, variation_sigma=sigma), seed, shared["rasters"], shared["labels"],
                               shared["adc_scales"], None, draws, noise, shared.get("cap_g_on", False))
            for sigma in shared["sigmas"]]


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
    pool: TaskPool | None = None,
    cap_g_on: bool = False,
) -> np.ndarray:
    """Accuracy of each chip instance on the same spike rasters.

    Args:
        program: Program for an RRAM chip.
        rasters: ``(B, T, n_in)`` encoded test images (the same for every instance).
        labels: ``(B,)`` true classes.
        seeds: Chip seeds, one per instance.
        adc_scales: ADC scale registers (default 1 for every core).
        thresholds: Optional per instance threshold registers (one tuple per seed).
        workers: Threads (default: CPU count) when no ``pool`` is given; results do not depend on it.
        progress: Called with 1 after each finished instance (e.g. a tqdm ``update``).
        pool: Where the instances run (:func:`hwsim.parallel.task_pool`); default: a thread pool.
        cap_g_on: Cap conductances at G_on after the variation (:func:`hwsim.rram.device.program_chip`).

    Returns:
        ``(len(seeds),)`` float64 accuracies in [0, 1].
    """
    labels = np.asarray(labels)
    if rasters.shape[0] != labels.shape[0]:
        raise InputError(f"{rasters.shape[0]} rasters but {labels.shape[0]} labels")
    n = len(seeds)
    items = [(int(seeds[i]), _plain_thresholds(thresholds[i]) if thresholds is not None else None)
             for i in range(n)]
    with _pool(pool, workers, n) as tasks:
        shared = tasks.share({"program": program_to_wire(program), "rasters": rasters, "labels": labels,
                              "adc_scales": None if adc_scales is None else [int(a) for a in adc_scales],
                              "cap_g_on": bool(cap_g_on)})
        return np.array(tasks.map(_accuracy_task, shared, items, progress=progress), np.float64)


def _plain_thresholds(thresholds) -> tuple[int, ...]:
    """Per-core threshold registers as a tuple of ints (what crosses the wire)."""
    return tuple(int(t) for t in thresholds)


def _instance_accuracy(program: ChipProgram, seed: int, rasters: np.ndarray, labels: np.ndarray, adc_scales,
                       thresholds, draw_cache: dict | None, noise_cache: dict | None, cap_g_on: bool = False) -> float:
    """Accuracy of chip instance ``seed``.

    The device draws (``draw_cache``) and read-noise normals (``noise_cache``) of an instance depend
    only on its seed, the geometry and the image indices, not on any device parameter, so the same
    caches can serve the same instance at several sigmas; the result is the same with or without them.
    """
    rc = program_chip(program, seed, adc_scales=adc_scales, draw_cache=draw_cache, cap_g_on=cap_g_on)
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
    return float((a >= spec).mean()) if a.size else float("nan")  # passing is accuracy >= spec (docs/rram.md §4)


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
    pool: TaskPool | None = None,
    cap_g_on: bool = False,
) -> SweepResult:
    """Accuracy of every instance at every device-variation sigma (the other parameters unchanged).

    Runs instance by instance (each on one worker, through all sigmas), so the
    device draws of an instance are drawn once and reused at every sigma, and
    so are its read-noise normals when they fit in
    :data:`SWEEP_NOISE_CACHE_BYTES`; the numbers are those of
    :func:`instance_accuracies` at each sigma. ``progress`` gets ``len(sigmas)``
    per finished instance; ``pool`` as in :func:`instance_accuracies`.
    """
    labels = np.asarray(labels)
    if rasters.shape[0] != labels.shape[0]:
        raise InputError(f"{rasters.shape[0]} rasters but {labels.shape[0]} labels")
    # common random numbers (docs/rram.md §4): the same seeds, so the same draws z, scaled by each sigma
    sigmas = [float(s) for s in sigmas]
    noise_bytes = rasters.shape[0] * rasters.shape[1] * len(program.cores) * program.chip.core.neurons * 8
    n = len(seeds)
    with _pool(pool, workers, n) as tasks:
        shared = tasks.share({"program": program_to_wire(program), "rasters": rasters, "labels": labels,
                              "adc_scales": None if adc_scales is None else [int(a) for a in adc_scales],
                              "sigmas": sigmas, "share_noise": noise_bytes <= SWEEP_NOISE_CACHE_BYTES,
                              "cap_g_on": bool(cap_g_on)})
        per_instance = None if progress is None else (lambda k: progress(k * len(sigmas)))
        cols = tasks.map(_sweep_task, shared, [int(s) for s in seeds], progress=per_instance)
    acc = np.array(cols, np.float64).T.reshape(len(sigmas), n)
    return SweepResult(tuple(sigmas), tuple(int(s) for s in seeds), acc)


# ----------------------------------------------------------------- the whole study (hwsim yield)

@dataclass(frozen=True)
class YieldStudySettings:
    """What a yield study runs (the options of ``hwsim yield``; docs/rram.md §4 and §5).

    Attributes:
        instances: Chip instances of the Monte Carlo: seeds ``seed .. seed + instances - 1``.
        spec: An instance passes if its accuracy is ``>= spec``.
        timesteps: Timesteps per image.
        encoding: Input coding (``rate``, ``threshold``, ``latency``).
        seed: First chip seed.
        sigmas: Device-variation sigmas of the accuracy/yield-versus-sigma sweep (empty: no sweep).
        tune: Run signature-driven threshold tuning.
        train_instances: Instances (seeds ``seed + instances ..``) that train the tuner.
        signature_images: Training images in the response signature.
        tuning_images: Training images the offline threshold optimiser scores on.
        guard: Tune instances predicted below ``spec + guard``.
        workers: Threads of the default scheduler (default: CPU count); the numbers do not depend on it.
        scheduler: ``--scheduler`` (:func:`hwsim.parallel.parse_scheduler`): None or ``threads`` for the
            thread pool, ``local[:N]`` or ``tcp://HOST:PORT`` for Dask; the numbers do not depend on it.
        compare: Run every strategy of :data:`hwsim.rram.strategies.STRATEGIES` on the study's instances
            (docs/rram.md §7), with a tuner trained on ``train_instances`` other seeds.
        sensitivity: ``((axis, values), ...)``: the comparison's yields again at each value of each axis of
            :data:`hwsim.rram.strategies.SENSITIVITY_AXES` (a tuner trained at every point).
        sensitivity_instances: Held-out instances per sensitivity point (default: ``instances``).
        cap_g_on: Cap conductances at G_on after the device variation (docs/rram.md §2), every instance.
        oracle_rounds: Coordinate-search rounds of the oracle.
        factor_step: Step of the threshold-factor grid (0.5..1.5) of the comparison's optimiser and oracle
            (:func:`hwsim.rram.tuning.factor_grid`); ``--tune`` keeps the default grid.
    """

    instances: int
    spec: float
    timesteps: int
    encoding: str = "rate"
    seed: int = 0
    sigmas: tuple[float, ...] = ()
    tune: bool = False
    train_instances: int = 30
    signature_images: int = 50
    tuning_images: int = 400
    guard: float = 0.0
    workers: int | None = None
    scheduler: str | None = None
    compare: bool = False
    sensitivity: tuple[tuple[str, tuple[float, ...]], ...] = ()
    sensitivity_instances: int | None = None
    cap_g_on: bool = False
    oracle_rounds: int = 2
    factor_step: float = 0.05


@dataclass(frozen=True)
class YieldStudyResult:
    """Every number of a yield study; :meth:`to_dict` is the content of ``yield.json``.

    Attributes:
        settings: What ran.
        program: The program (on the chip whose instances were sampled).
        test_images: Test images each instance ran.
        seeds: Chip seeds of the instances.
        adc_scales: ADC scale registers (calibrated once, on the ideal chip).
        accuracies: ``(instances,)`` accuracy of each instance.
        ideal_accuracy: Accuracy of the ideal chip (every non-ideality off).
        summary: :func:`accuracy_summary` of ``accuracies``.
        energy: Energy and latency per image of instance 0.
        sweep: The sigma sweep, or None.
        tuning: :func:`hwsim.rram.tuning.tuning_summary` plus the tuner's provenance, or None.
        outcomes: Test-and-tune result of each instance (empty without tuning).
        comparison: :meth:`hwsim.rram.strategies.StrategyComparison.to_dict`, or None.
        sensitivity: Yield and out-of-spec chips per strategy along each sensitivity axis, or None.
    """

    settings: YieldStudySettings
    program: ChipProgram
    test_images: int
    seeds: tuple[int, ...]
    adc_scales: tuple[int, ...]
    accuracies: np.ndarray
    ideal_accuracy: float
    summary: dict
    energy: RramEnergyReport
    sweep: SweepResult | None = None
    tuning: dict | None = None
    outcomes: tuple = field(default_factory=tuple)
    comparison: dict | None = None
    sensitivity: dict | None = None

    def to_dict(self, *, network: str, sizes: Sequence[int], dataset: str) -> dict:
        """The JSON content of ``yield.json`` (NaN and infinities as null), with the run's provenance."""
        st = self.settings
        extra = {}  # keys only a comparison run has: yield.json of other runs stays as it was
        if st.cap_g_on:
            extra["cap_g_on"] = True
        if self.comparison is not None:
            extra["comparison"] = self.comparison
        if self.sensitivity is not None:
            extra["sensitivity"] = self.sensitivity
        return _json_safe({
            "format": YIELD_FORMAT,
            "version": 1,
            "network": network,
            "sizes": sizes,
            "chip": self.program.chip.to_dict(),
            "dataset": dataset,
            "test_images": int(self.test_images),
            "timesteps": st.timesteps,
            "encoding": st.encoding,
            "spec": st.spec,
            "seeds": [self.seeds[0], self.seeds[-1]],
            "adc_scales": list(self.adc_scales),
            "ideal_accuracy": float(self.ideal_accuracy),
            "summary": self.summary,
            "accuracies": self.accuracies.tolist(),
            "energy": self.energy.to_dict(),
            "sweep": self.sweep.to_dict(st.spec) if self.sweep is not None else None,
            "tuning": self.tuning,
            "instances_tuned": [o.to_dict() for o in self.outcomes],
            **extra,
        })


def _json_safe(x):
    """JSON-safe: NaN/inf to None, NumPy scalars to Python."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def training_images_needed(n_train: int, settings: YieldStudySettings) -> int:
    """Training images a study uses, of ``n_train``: calibration, then (with tuning) signature and tuning images."""
    tunes = settings.tune or settings.compare or bool(settings.sensitivity)
    return calibration_count(n_train) + (settings.signature_images + settings.tuning_images if tunes else 0)


def _monte_carlo(program: ChipProgram, test_r: np.ndarray, y_test: np.ndarray, seeds: list[int], scales,
                 st: YieldStudySettings, bar, pool: TaskPool) -> tuple[np.ndarray, SweepResult | None]:
    """The instances' accuracies and the sigma sweep, on ``pool``."""
    with bar(len(seeds), "instances") as update:
        acc = instance_accuracies(program, test_r, y_test, seeds, adc_scales=scales, progress=update, pool=pool,
                                  cap_g_on=st.cap_g_on)
    sweep = None
    if st.sigmas:
        with bar(len(seeds) * len(st.sigmas), "sigma sweep") as update:
            sweep = sigma_sweep(with_rram(program, variation=True), test_r, y_test, st.sigmas, seeds,
                                adc_scales=scales, progress=update, pool=pool, cap_g_on=st.cap_g_on)
    return acc, sweep


def _tuning(program: ChipProgram, train_r: np.ndarray, y_train: np.ndarray, test_r: np.ndarray, y_test: np.ndarray,
            seeds: list[int], scales, n_cal: int, st: YieldStudySettings, say, bar, tasks: TaskPool
            ) -> tuple[list, dict]:  # fmt: skip
    """Signature-driven tuning (docs/rram.md §5) of the study's instances, on ``tasks``: the outcomes and the
    summary of ``yield.json``."""
    from hwsim.rram.tuning import screen_and_tune, signature_names, train_tuner, tunable_stages, tuning_summary

    sig_set, tune_set = _tuning_sets(train_r, y_train, n_cal, st)
    train_seeds = _train_seeds(st)
    say(f"training the tuner on {len(train_seeds)} instances (seeds {train_seeds[0]}..{train_seeds[-1]})")
    with bar(len(train_seeds), "train tuner") as update:
        model = train_tuner(program, train_seeds, sig_set, tune_set, (test_r, y_test), adc_scales=scales,
                            progress=update, pool=tasks, cap_g_on=st.cap_g_on)
    with bar(len(seeds), "test + tune") as update:
        outcomes = screen_and_tune(model, program, seeds, sig_set, (test_r, y_test), st.spec,
                                   adc_scales=scales, guard=st.guard, progress=update, pool=tasks)
    tuning = tuning_summary(outcomes, st.spec)
    tuning.update(
        train_instances=len(train_seeds),
        train_seeds=[train_seeds[0], train_seeds[-1]],
        signature_images=st.signature_images,
        tuning_images=st.tuning_images,
        guard=st.guard,
        tunable_stages=tunable_stages(program),
        signature_features=signature_names(program),
        train_mean_factors=model.train_factors.mean(axis=0).tolist(),
        train_accuracy_mean=float(model.train_accuracy.mean()),
    )
    return outcomes, tuning


def _tuning_sets(train_r: np.ndarray, y_train: np.ndarray, n_cal: int, st: YieldStudySettings):
    """The signature and tuning sets: the training images after the calibration ones, disjoint, in this order."""
    sig_set = (train_r[n_cal : n_cal + st.signature_images], y_train[n_cal : n_cal + st.signature_images])
    lo = n_cal + st.signature_images
    return sig_set, (train_r[lo : lo + st.tuning_images], y_train[lo : lo + st.tuning_images])


def _train_seeds(st: YieldStudySettings) -> list[int]:
    """The tuner trains on other chips than those it screens: the seeds after the study's."""
    return instance_seeds(st.train_instances, st.seed + st.instances)


def _comparisons(program: ChipProgram, train_r: np.ndarray, y_train: np.ndarray, test_r: np.ndarray,
                 y_test: np.ndarray, seeds: list[int], scales, n_cal: int, st: YieldStudySettings, say, bar,
                 tasks: TaskPool) -> tuple[dict | None, dict | None]:  # fmt: skip
    """The strategy comparison (docs/rram.md §7) and its sensitivity sweep, on ``tasks``."""
    from hwsim.rram.strategies import STRATEGIES, axis_changes, compare_strategies
    from hwsim.rram.tuning import factor_grid

    sig_set, tune_set = _tuning_sets(train_r, y_train, n_cal, st)
    train_seeds = _train_seeds(st)
    cal = train_r[:n_cal]

    def compare(prog: ChipProgram, held_out: list[int], what: str):
        with bar(len(train_seeds), f"train tuner{what}") as t_update, bar(len(held_out), f"strategies{what}") as update:
            return compare_strategies(prog, held_out, train_seeds, sig_set, tune_set, (test_r, y_test), cal, st.spec,
                                      adc_scales=scales, guard=st.guard, grid=factor_grid(st.factor_step),
                                      oracle_rounds=st.oracle_rounds,
                                      cap_g_on=st.cap_g_on, pool=tasks, train_progress=t_update, progress=update)

    comparison = None
    if st.compare:
        say(f"comparing strategies on {len(seeds)} instances (tuner on seeds {train_seeds[0]}..{train_seeds[-1]})")
        comparison = compare(program, seeds, "").to_dict()
        comparison.update(factor_grid=list(factor_grid(st.factor_step)), oracle_rounds=st.oracle_rounds)
    sensitivity = None
    if st.sensitivity:
        held_out = seeds[: st.sensitivity_instances or len(seeds)]
        sensitivity = {"instances": len(held_out), "train_instances": len(train_seeds),
                       "factor_grid": list(factor_grid(st.factor_step)), "oracle_rounds": st.oracle_rounds, "axes": {}}
        for axis, values in st.sensitivity:
            point = {"values": list(values), "yield": {k: [] for k in STRATEGIES},
                     "out_of_spec": {k: [] for k in STRATEGIES}, "mean_accuracy": {k: [] for k in STRATEGIES}}
            for v in values:
                say(f"sensitivity: {axis} = {v:g} on {len(held_out)} instances")
                rows = compare(with_rram(program, **axis_changes(axis, v)), held_out, f" {axis}={v:g}").table()
                for r in rows:
                    for key in ("yield", "out_of_spec", "mean_accuracy"):
                        point[key][r["strategy"]].append(r[key])
            sensitivity["axes"][axis] = point
    return comparison, sensitivity


@contextmanager
def _study_pool(pool: TaskPool | None, st: YieldStudySettings) -> Iterator[TaskPool]:
    if pool is not None:
        yield pool
        return
    with task_pool(st.scheduler, threads=st.workers) as own:
        yield own


@contextmanager
def _no_bar(total: int, desc: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def run_yield_study(
    program: ChipProgram,
    x_test: np.ndarray,
    y_test: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    settings: YieldStudySettings,
    *,
    say: Callable[[str], None] | None = None,
    bar: Callable[[int, str], AbstractContextManager[Callable[[int], None]]] | None = None,
    pool: TaskPool | None = None,
) -> YieldStudyResult:
    """The yield study of ``hwsim yield`` (docs/rram.md §4, and §5 with ``settings.tune``).

    Args:
        program: A program for an RRAM chip (its ``[rram]`` parameters are those of the study).
        x_test, y_test: Test images ``(B, n_inputs)`` in [0, 1] and their labels; every instance runs them all.
        x_train, y_train: The whole training split: the first :func:`hwsim.rram.engine.calibration_count`
            images calibrate the ADC scales; with tuning the next ``signature_images`` form the signature
            and the next ``tuning_images`` the optimiser's set (disjoint, in this order).
        settings: What to run.
        say: Called with a short message before each step.
        bar: ``bar(total, description)`` -> a context manager yielding ``update(n)``, called after each
            finished instance (e.g. a tqdm bar and its ``update``).
        pool: Where the instances run; default: a pool for ``settings.scheduler``, open for this call.

    Raises:
        ConfigError: the program is not for an RRAM chip.
        InputError: too few training images for the calibration, signature and tuning sets.
    """
    rram_config_of(program.chip)  # refuses a program for digital cores, naming its chip
    say = say or (lambda message: None)
    bar = bar or _no_bar
    st = settings
    n_cal = calibration_count(x_train.shape[0])
    need = training_images_needed(x_train.shape[0], st)
    if need > x_train.shape[0]:
        raise InputError(f"the study needs {need} training images (calibration, signature and tuning sets); "
                         f"{x_train.shape[0]} given")
    # encoder seeds: 1 for the test images, 0 for the training images (docs/rram.md §4)
    test_r = encode(x_test, st.timesteps, st.encoding, 1, 0)
    train_r = encode(x_train[:need], st.timesteps, st.encoding, 0, 0)

    say(f"calibrating ADC scales on {n_cal} training images (ideal chip)")
    scales = calibrate_on_images(program, x_train, st.timesteps, st.encoding)  # once per program (docs/rram.md §4)
    seeds = instance_seeds(st.instances, st.seed)

    with _study_pool(pool, st) as tasks:
        acc, sweep = _monte_carlo(program, test_r, y_test, seeds, scales, st, bar, tasks)
        ideal_prog = with_rram(program, **{f: False for f in _NON_IDEALITIES})
        ideal_acc = instance_accuracies(ideal_prog, test_r, y_test, [0], adc_scales=scales)[0]
        summary = accuracy_summary(acc, st.spec)

        say("energy and latency of instance 0")
        energy = rram_energy(run_rram(program_chip(program, seeds[0], adc_scales=scales, cap_g_on=st.cap_g_on), test_r),
                             program)
        outcomes, tuning = _tuning(program, train_r, y_train, test_r, y_test, seeds, scales, n_cal, st, say, bar,
                                   tasks) if st.tune else ([], None)
        comparison, sensitivity = _comparisons(program, train_r, y_train, test_r, y_test, seeds, scales, n_cal, st,
                                               say, bar, tasks)
    return YieldStudyResult(
        settings=st, program=program, test_images=len(y_test), seeds=tuple(seeds), adc_scales=tuple(scales),
        accuracies=acc, ideal_accuracy=float(ideal_acc), summary=summary, energy=energy, sweep=sweep,
        tuning=tuning, outcomes=tuple(outcomes), comparison=comparison, sensitivity=sensitivity,
    )

"""Signature-driven post-manufacture test and threshold tuning (after Saha et al., ASP-DAC 2024).

Flow (docs/rram.md §5):

1. **Signature.** A small fixed set of images is applied to a chip instance;
   its *response signature* is the mean firing rate of every layer, the mean
   output score of every class and the fraction of those images classified
   correctly (:func:`response_signature`).
2. **Offline optimisation** (training instances only): per-layer threshold
   factors that maximise accuracy on a tuning set, found by coordinate search
   over a grid (:func:`optimise_thresholds`). A layer's knob multiplies the
   threshold register of every core of that layer.
3. **Regressors** (NumPy ridge regression on standardised signatures,
   :class:`Ridge`): signature -> full-test accuracy (the alternative test)
   and signature -> optimal per-layer factors (the tuning map), trained on
   training instances (:func:`train_tuner`).
4. **Screen and tune** held-out instances (:func:`screen_and_tune`): predict the
   accuracy from the signature; an instance predicted out of spec gets the
   predicted thresholds written into its threshold registers; report the
   out-of-spec count and the yield before and after.

Every step is seeded by the instance seeds; nothing depends on thread count.

The per-instance work of :func:`train_tuner` and :func:`screen_and_tune` runs on a
:class:`hwsim.parallel.TaskPool` (``pool=``: a thread pool by default, or Dask worker processes,
docs/distributed.md) as module-level tasks with plain arguments: the program as
:func:`hwsim.parallel.program_to_wire`, the rasters and labels, the ADC scales, the factor grid, and for
screening the regressors' arrays (:meth:`Ridge.to_arrays`); they return numbers, lists and arrays.
Results are collected by instance, so they are the same bits under every scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from hwsim.errors import InputError
from hwsim.parallel import TaskPool, program_from_wire, program_to_wire, task_pool
from hwsim.program import ChipProgram
from hwsim.rram.device import RramChip, program_chip
from hwsim.rram.engine import RramEnginePlan, pack, run_rram
from hwsim.result import COUNTER_NAMES

__all__ = [
    "DEFAULT_GRID",
    "factor_grid",
    "tunable_stages",
    "stage_thresholds",
    "response_signature",
    "signature_names",
    "coordinate_search",
    "threshold_scorer",
    "optimise_thresholds",
    "Ridge",
    "TuningModel",
    "train_tuner",
    "InstanceOutcome",
    "screen_and_tune",
    "tuning_summary",
]

#: Threshold factors searched by the offline optimiser (and the range predictions are clipped to).
DEFAULT_GRID = tuple(np.round(np.arange(0.5, 1.51, 0.05), 2).tolist())


def factor_grid(step: float) -> tuple[float, ...]:
    """Factors ``0.5, 0.5 + step, ...`` up to 1.5 (``factor_grid(0.05) == DEFAULT_GRID``); 1.0 is always in it.

    Raises:
        InputError: ``step`` not in 0.01..1, or 1 is not on the grid (``0.5 / step`` not an integer).
    """
    if not 0.01 <= step <= 1.0 or abs(0.5 / step - round(0.5 / step)) > 1e-9:
        raise InputError(f"factor step {step:g}: expected 0.01..1 dividing 0.5 (e.g. 0.05, 0.1, 0.25), "
                         "so that factor 1 is on the grid")
    n = round(1.0 / step)
    return tuple(float(np.round(0.5 + k * step, 6)) for k in range(n + 1))


def tunable_stages(program: ChipProgram) -> list[int]:
    """Stages (layers) whose threshold matters: those whose cores fire and have a threshold > 0."""
    stages = sorted({cp.stage for cp in program.cores if cp.fire and cp.threshold > 0})
    return stages


def stage_thresholds(program: ChipProgram, factors: Sequence[float]) -> tuple[int, ...]:
    """Threshold registers for per-layer factors: ``clamp(floor(f_s * threshold + 0.5), 0, v_max)`` per core.

    Args:
        program: The chip program (its thresholds are the nominal ones).
        factors: One factor per :func:`tunable_stages` entry.
    """
    stages = tunable_stages(program)
    if len(factors) != len(stages):
        raise InputError(f"{len(factors)} threshold factors given, the program has {len(stages)} tunable layers")
    f = dict(zip(stages, factors))
    v_max = program.chip.core.v_max
    out = []
    for cp in program.cores:
        th = cp.threshold
        if cp.stage in f:
            # docs/rram.md §5 "Knobs": round half up (not to even), clamped to the register's range (chip-spec §7.6)
            th = int(np.clip(np.floor(f[cp.stage] * cp.threshold + 0.5), 0, v_max))
        out.append(int(th))
    return tuple(out)


def signature_names(program: ChipProgram) -> list[str]:
    """Names of the signature features, in order."""
    names = [f"rate_stage{s}" for s in range(program.n_stages)]
    names += [f"score_out{j}" for j in range(program.n_outputs)]
    return names + ["signature_accuracy"]


def response_signature(rchip: RramChip, rasters: np.ndarray, labels: np.ndarray,
                       packed: RramEnginePlan | None = None) -> np.ndarray:
    """The response signature of one chip instance on the signature images.

    Features: per stage, spikes per neuron per timestep; per output, the mean
    readout score per timestep (spike count, or membrane in units of the
    output core's weight full scale ``W_c``); the fraction of signature images
    classified correctly (their labels are known to the tester).
    """
    program = rchip.program
    res = run_rram(rchip, rasters, packed=packed, threads=1)
    B, T = res.batch_size, res.timesteps
    spikes = res.counters[..., COUNTER_NAMES.index("output_spikes")].sum(axis=(0, 1))  # (C,)
    feats = []
    for s in range(program.n_stages):
        ks = [k for k, cp in enumerate(program.cores) if cp.stage == s]
        n = sum(program.cores[k].n_neurons for k in ks)
        feats.append(float(spikes[ks].sum()) / (B * T * n) if ks else 0.0)  # docs/rram.md §5 "Signature"
    if program.readout == "spike_count":
        score = res.output_spikes.astype(np.float64).sum(axis=1).mean(axis=0) / T
    else:
        # membranes in weight units are chip-specific; scale them by the output layer's weight full scale
        w_out = max(rchip.w_full[k] for k, cp in enumerate(program.cores) if cp.is_output)
        score = res.output_membranes.astype(np.float64).sum(axis=1).mean(axis=0) / (T * w_out)
    feats.extend(score.tolist())
    feats.append(float((res.predictions == np.asarray(labels)).mean()))
    return np.array(feats, np.float64)


def _accuracy(rchip: RramChip, packed: RramEnginePlan, rasters: np.ndarray, labels: np.ndarray) -> float:
    return float((run_rram(rchip, rasters, packed=packed, threads=1).predictions == labels).mean())


def coordinate_search(score: Callable[[tuple[float, ...]], float], start: Sequence[float],
                      grid: Sequence[float] = DEFAULT_GRID, rounds: int = 2) -> tuple[tuple[float, ...], float]:
    """Coordinate search of per-layer factors maximising ``score``.

    Starts from ``start``; in each round, for each layer in order, tries every grid value with the other
    factors fixed and keeps the best. Only a strict improvement moves a factor, and the grid is tried from
    the value closest to 1 outwards (then the smaller first), so ties keep the current value, then go to the
    value closest to 1. Stops early after a round that changed nothing. The result's score is never below
    ``score(start)``.

    Returns:
        ``(factors, score(factors))``.
    """
    factors = [float(f) for f in start]
    best = score(tuple(factors))
    ranked = sorted(grid, key=lambda g: (abs(g - 1.0), g))
    for _ in range(rounds):
        changed = False
        for i in range(len(factors)):
            cand_best, cand_acc = factors[i], best
            for g in ranked:
                trial = list(factors)
                trial[i] = float(g)
                acc = score(tuple(trial))
                if acc > cand_acc:  # docs/rram.md §5: a strict improvement only
                    cand_best, cand_acc = float(g), acc
            if cand_best != factors[i]:
                factors[i], best, changed = cand_best, cand_acc, True
        if not changed:
            break
    return tuple(factors), best


def threshold_scorer(rchip: RramChip, packed: RramEnginePlan, rasters: np.ndarray, labels: np.ndarray
                     ) -> Callable[[tuple[float, ...]], float]:  # fmt: skip
    """``score(factors)``: the accuracy of ``rchip`` on ``(rasters, labels)`` with per-layer threshold factors,
    each factor vector simulated once (a cache)."""
    program = rchip.program
    labels = np.asarray(labels)
    cache: dict[tuple, float] = {}

    def score(fs: tuple[float, ...]) -> float:
        key = tuple(float(f) for f in fs)
        if key not in cache:
            cache[key] = _accuracy(rchip.with_thresholds(stage_thresholds(program, key)), packed, rasters, labels)
        return cache[key]

    return score


def optimise_thresholds(rchip: RramChip, rasters: np.ndarray, labels: np.ndarray,
                        grid: Sequence[float] = DEFAULT_GRID, rounds: int = 2) -> tuple[tuple[float, ...], float]:
    """Offline optimiser: per-layer threshold factors maximising accuracy on a tuning set.

    :func:`coordinate_search` from all factors 1 (ties go to the value closest to 1, then the smaller).

    Returns:
        ``(factors, tuning-set accuracy with them)``.
    """
    n = len(tunable_stages(rchip.program))
    return coordinate_search(threshold_scorer(rchip, pack(rchip), rasters, labels), (1.0,) * n, grid, rounds)


@dataclass(frozen=True)
class Ridge:
    """Ridge regression on standardised features (closed form, NumPy only).

    Attributes:
        mean: Feature means. scale: Feature standard deviations (1 where constant).
        coef: ``(n_features, n_targets)``. intercept: ``(n_targets,)``.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray, alpha: float = 1.0) -> Ridge:
        X = np.asarray(X, np.float64)
        Y = np.asarray(Y, np.float64)
        Y2 = Y[:, None] if Y.ndim == 1 else Y
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        Z = (X - mean) / scale
        y_mean = Y2.mean(axis=0)
        A = Z.T @ Z + alpha * np.eye(Z.shape[1])
        coef = np.linalg.solve(A, Z.T @ (Y2 - y_mean))
        return cls(mean, scale, coef, y_mean)

    def predict(self, X: np.ndarray) -> np.ndarray:
        Z = (np.atleast_2d(np.asarray(X, np.float64)) - self.mean) / self.scale
        return Z @ self.coef + self.intercept

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in ("mean", "scale", "coef", "intercept")}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays, as plain data (``Ridge(**arrays)`` rebuilds it bit for bit)."""
        return {k: np.asarray(getattr(self, k)) for k in ("mean", "scale", "coef", "intercept")}


@dataclass(frozen=True)
class TuningModel:
    """The trained alternative test and tuning map.

    Attributes:
        accuracy: Ridge, signature -> full-test accuracy.
        factors: Ridge, signature -> per-layer threshold factors.
        grid: Factor grid of the optimiser (predictions are clipped to its range).
        train_seeds: Seeds of the training instances.
        train_signatures: ``(n_train, n_features)``.
        train_accuracy: ``(n_train,)`` full-test accuracies of the training instances.
        train_factors: ``(n_train, n_knobs)`` optimal factors found offline.
        train_tuned_accuracy: ``(n_train,)`` tuning-set accuracy with those factors.
    """

    accuracy: Ridge
    factors: Ridge
    grid: tuple[float, ...]
    train_seeds: tuple[int, ...]
    train_signatures: np.ndarray
    train_accuracy: np.ndarray
    train_factors: np.ndarray
    train_tuned_accuracy: np.ndarray

    def predict(self, signature: np.ndarray) -> tuple[float, tuple[float, ...]]:
        return _predict(self.accuracy, self.factors, self.grid, signature)


def _predict(accuracy: Ridge, factors: Ridge, grid: Sequence[float], signature: np.ndarray
             ) -> tuple[float, tuple[float, ...]]:  # fmt: skip
    """:meth:`TuningModel.predict` from its parts (what a screening task receives)."""
    acc = float(accuracy.predict(signature)[0, 0])
    # predicted factors stay in the optimiser's grid range (docs/rram.md §5), never an untried extreme
    f = np.clip(factors.predict(signature)[0], min(grid), max(grid))
    return acc, tuple(float(x) for x in f)


@contextmanager
def _tasks(pool: TaskPool | None, workers: int | None, n: int) -> Iterator[TaskPool]:
    """``pool``, or a thread pool of ``workers`` threads (default: CPU count, at most ``n``) for this call."""
    if pool is not None:
        yield pool
        return
    with task_pool(None, threads=max(1, min(n, workers if workers is not None else (os.cpu_count() or 1)))) as own:
        yield own


def _instance(shared: dict, seed: int) -> tuple[ChipProgram, RramChip, RramEnginePlan]:
    program = program_from_wire(shared["program"])
    rc = program_chip(program, seed, adc_scales=shared["adc_scales"], cap_g_on=shared.get("cap_g_on", False))
    return program, rc, pack(rc)


def _train_task(shared: dict, seed: int) -> tuple[np.ndarray, float, tuple[float, ...], float]:
    """One training instance of :func:`train_tuner` (runs on a worker): its signature, full-test accuracy,
    optimal factors and their tuning-set accuracy."""
    _, rc, packed = _instance(shared, seed)
    sig = response_signature(rc, *shared["signature_set"], packed=packed)
    acc = _accuracy(rc, packed, *shared["test_set"])
    factors, tuned = optimise_thresholds(rc, *shared["tuning_set"], grid=shared["grid"])
    return sig, acc, factors, tuned


def _screen_task(shared: dict, seed: int) -> dict:
    """One held-out instance of :func:`screen_and_tune` (runs on a worker): the fields of its
    :class:`InstanceOutcome`."""
    program, rc, packed = _instance(shared, seed)
    model = shared["model"]
    sig = response_signature(rc, *shared["signature_set"], packed=packed)
    pred, factors = _predict(Ridge(**model["accuracy"]), Ridge(**model["factors"]), model["grid"], sig)
    before = _accuracy(rc, packed, *shared["test_set"])
    tuned = pred < shared["spec"] + shared["guard"]  # docs/rram.md §5 "Screen and tune"
    after = before
    if tuned:
        after = _accuracy(rc.with_thresholds(stage_thresholds(program, factors)), packed, *shared["test_set"])
    return {"seed": int(seed), "accuracy_before": before, "predicted_accuracy": pred, "tuned": bool(tuned),
            "factors": factors if tuned else (), "accuracy_after": after}


def _plain_set(data: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rasters, labels = data
    return np.asarray(rasters), np.asarray(labels)


def _plain_scales(adc_scales: Sequence[int] | None) -> list[int] | None:
    return None if adc_scales is None else [int(a) for a in adc_scales]


def train_tuner(
    program: ChipProgram,
    seeds: Sequence[int],
    signature_set: tuple[np.ndarray, np.ndarray],
    tuning_set: tuple[np.ndarray, np.ndarray],
    test_set: tuple[np.ndarray, np.ndarray],
    *,
    adc_scales: Sequence[int] | None = None,
    grid: Sequence[float] = DEFAULT_GRID,
    alpha: float = 1.0,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    pool: TaskPool | None = None,
    cap_g_on: bool = False,
) -> TuningModel:
    """Characterise training instances and fit the two regressors.

    Each ``*_set`` is ``(rasters, labels)``. Per training instance: its
    signature, its full-test accuracy and its optimal factors on the tuning set.
    The instances run on ``pool`` (default: a thread pool of ``workers`` threads);
    ``progress`` gets 1 per finished instance; ``cap_g_on`` as :func:`hwsim.rram.device.program_chip`.

    The factor regressor is one ridge regression per tunable layer: a multi-target ridge fit solves each
    target column on its own (same features, same penalty), so layer ``s``'s factor is regressed from the
    signature independently of the other layers' factors.
    """
    if not tunable_stages(program):
        raise InputError("the program has no layer with a tunable threshold (no firing layer with threshold > 0)")
    if len(seeds) < 3:
        raise InputError(f"{len(seeds)} training instances: the regressors need at least 3")

    with _tasks(pool, workers, len(seeds)) as tasks:
        shared = tasks.share({"program": program_to_wire(program), "adc_scales": _plain_scales(adc_scales),
                              "signature_set": _plain_set(signature_set), "tuning_set": _plain_set(tuning_set),
                              "test_set": _plain_set(test_set), "grid": [float(g) for g in grid],
                              "cap_g_on": bool(cap_g_on)})
        rows = tasks.map(_train_task, shared, [int(s) for s in seeds], progress=progress)
    X = np.array([r[0] for r in rows])
    acc = np.array([r[1] for r in rows])
    F = np.array([r[2] for r in rows])
    return TuningModel(
        accuracy=Ridge.fit(X, acc, alpha),
        factors=Ridge.fit(X, F, alpha),
        grid=tuple(float(g) for g in grid),
        train_seeds=tuple(int(s) for s in seeds),
        train_signatures=X,
        train_accuracy=acc,
        train_factors=F,
        train_tuned_accuracy=np.array([r[3] for r in rows]),
    )


@dataclass(frozen=True)
class InstanceOutcome:
    """Test-and-tune result of one held-out instance."""

    seed: int
    accuracy_before: float
    predicted_accuracy: float
    tuned: bool
    factors: tuple[float, ...]
    accuracy_after: float

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "accuracy_before": self.accuracy_before,
            "predicted_accuracy": self.predicted_accuracy,
            "tuned": self.tuned,
            "factors": list(self.factors),
            "accuracy_after": self.accuracy_after,
        }


def screen_and_tune(
    model: TuningModel,
    program: ChipProgram,
    seeds: Sequence[int],
    signature_set: tuple[np.ndarray, np.ndarray],
    test_set: tuple[np.ndarray, np.ndarray],
    spec: float,
    *,
    adc_scales: Sequence[int] | None = None,
    guard: float = 0.0,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    pool: TaskPool | None = None,
) -> list[InstanceOutcome]:
    """Signature test of held-out instances; tune those predicted below ``spec + guard``.

    The full-test accuracy before tuning is measured for every instance (to
    score the alternative test); after tuning only for the tuned ones. The
    instances run on ``pool`` (default: a thread pool of ``workers`` threads).
    """

    with _tasks(pool, workers, len(seeds)) as tasks:
        shared = tasks.share({
            "program": program_to_wire(program), "adc_scales": _plain_scales(adc_scales),
            "signature_set": _plain_set(signature_set), "test_set": _plain_set(test_set),
            "model": {"accuracy": model.accuracy.to_arrays(), "factors": model.factors.to_arrays(),
                      "grid": [float(g) for g in model.grid]},
            "spec": float(spec), "guard": float(guard),
        })
        rows = tasks.map(_screen_task, shared, [int(s) for s in seeds], progress=progress)
    return [InstanceOutcome(**row) for row in rows]


def tuning_summary(outcomes: Sequence[InstanceOutcome], spec: float) -> dict:
    """The paper-style table: out-of-spec devices and yield before/after, and the test's quality."""
    before = np.array([o.accuracy_before for o in outcomes])
    after = np.array([o.accuracy_after for o in outcomes])
    pred = np.array([o.predicted_accuracy for o in outcomes])
    tuned = np.array([o.tuned for o in outcomes])
    fail = before < spec
    n = len(outcomes)
    oos_before, oos_after = int(fail.sum()), int((after < spec).sum())
    return {
        "instances": n,
        "spec": spec,
        "out_of_spec_before": oos_before,
        "out_of_spec_after": oos_after,
        "out_of_spec_reduction": (1 - oos_after / oos_before) if oos_before else 0.0,
        "yield_before": float((~fail).mean()),
        "yield_after": float((after >= spec).mean()),
        "yield_gain": float((after >= spec).mean() - (~fail).mean()),
        "mean_accuracy_before": float(before.mean()),
        "mean_accuracy_after": float(after.mean()),
        "tuned": int(tuned.sum()),
        "tuned_recovered": int((tuned & fail & (after >= spec)).sum()),
        "tuned_broken": int((tuned & ~fail & (after < spec)).sum()),
        "prediction_rmse": float(np.sqrt(np.mean((pred - before) ** 2))),
        "prediction_corr": float(np.corrcoef(pred, before)[0, 1]) if n > 2 and before.std() > 0 and pred.std() > 0
        else float("nan"),
        "test_escapes": int((~tuned & fail).sum()),
        "overkill": int((tuned & ~fail).sum()),
    }

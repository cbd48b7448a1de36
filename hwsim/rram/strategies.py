"""Post-manufacture strategies compared on the same held-out chip instances (docs/rram.md §7).

The comparison Saha et al. (ASP-DAC 2024) report, and what one needs to judge it: every strategy runs on
the same held-out instances (chip seeds), the same test images and the same trained tuner, so the
differences between rows are the strategies' alone.

=================  ===========================================================================================
``none``           as manufactured: nominal thresholds, ADC scales calibrated once on the ideal chip
``global``         every chip gets the training chips' mean optimal factors (one global factor per layer)
``screened``       signature-regressed per-chip factors, written only into chips predicted below
                   ``spec + guard`` (Saha's flow)
``regressed``      signature-regressed per-chip factors written into every chip (unscreened)
``adc``            per-die ADC recalibration alone: each die's ADC scales recalibrated on the die itself
``adc+regressed``  per-die ADC recalibration, then the regressed factors (signature measured before)
``oracle``         upper bound: per chip, the best factors found by coordinate search *on the test images
                   themselves*, started from the best of the other strategies' settings (so it is never
                   below any of them) with either ADC setting; not achievable by a tester
=================  ===========================================================================================

Each held-out instance is one task (:func:`_compare_task`) on a :class:`hwsim.parallel.TaskPool` with
plain arguments (the program as :func:`hwsim.parallel.program_to_wire`, rasters, labels, scales, the
regressors' arrays), so the numbers are the same bits under every scheduler and thread count.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.errors import InputError
from hwsim.parallel import TaskPool, program_from_wire, program_to_wire
from hwsim.program import ChipProgram
from hwsim.rram.device import RramChip, program_chip, rram_config_of
from hwsim.rram.engine import pack, power_of_two_scales, run_rram
from hwsim.rram.tuning import (
    DEFAULT_GRID,
    Ridge,
    TuningModel,
    _predict,
    _tasks,
    coordinate_search,
    response_signature,
    threshold_scorer,
    train_tuner,
    tunable_stages,
)

__all__ = [
    "STRATEGIES",
    "STRATEGY_LABELS",
    "SENSITIVITY_AXES",
    "die_adc_scales",
    "compare_strategies",
    "StrategyComparison",
    "strategy_table",
    "axis_changes",
]

#: The strategies of the comparison, in table order.
STRATEGIES = ("none", "global", "screened", "regressed", "adc", "adc+regressed", "oracle")

STRATEGY_LABELS = {
    "none": "no tuning",
    "global": "one global factor per layer (training chips' mean)",
    "screened": "signature-regressed per-chip factors, screened",
    "regressed": "signature-regressed per-chip factors, every chip",
    "adc": "per-die ADC recalibration",
    "adc+regressed": "per-die ADC recalibration + regressed factors",
    "oracle": "oracle: best factors searched on the test images (upper bound)",
}

#: Sensitivity axes (``--sensitivity``) and what one value sets in ``[rram]`` (:func:`axis_changes`).
SENSITIVITY_AXES = ("sigma", "array_sigma", "stuck")


def axis_changes(axis: str, value: float) -> dict:
    """The ``[rram]`` changes of one sensitivity point.

    ``sigma``: device-to-device sigma; ``array_sigma``: crossbar-to-crossbar sigma; ``stuck``: stuck-at
    rate ``p``, applied to both faults (``p`` stuck at G_on and ``p`` stuck at G_off).

    Raises:
        InputError: an unknown axis or a negative value.
    """
    value = float(value)
    if not value >= 0:
        raise InputError(f"sensitivity {axis}={value}: expected a value >= 0")
    if axis == "sigma":
        return {"variation": value > 0, "variation_sigma": value}
    if axis == "array_sigma":
        return {"array_variation": value > 0, "array_sigma": value}
    if axis == "stuck":
        return {"stuck_faults": value > 0, "stuck_on_rate": value, "stuck_off_rate": value}
    raise InputError(f"sensitivity axis {axis!r}: allowed {', '.join(SENSITIVITY_AXES)}")


def die_adc_scales(rchip: RramChip, rasters: np.ndarray) -> tuple[int, ...]:
    """Per-die ADC recalibration: the calibration rule of :func:`hwsim.rram.engine.calibrate_adc_scales`,
    measured on this die instead of the ideal chip.

    The die (its own programmed conductances, IR drop and read noise, its threshold registers) runs the
    calibration rasters with a 24-bit ADC at scale 1; per core, the largest code seen sets the smallest
    power-of-two scale whose range holds it. The scale register changes the ADC's range and step, not its
    gain (``code x scale`` estimates the column current in nominal weight units either way), so this
    recovers saturation and resolution, not a crossbar's gain error.
    """
    program = rchip.program
    cfg = rram_config_of(program.chip)
    wide = dataclasses.replace(program, chip=program.chip.replace(rram=dataclasses.replace(cfg, adc_bits=24)))
    die = RramChip(wide, rchip.seed, rchip.crossbars, (1,) * len(program.cores), rchip.thresholds)  # a wide ADC
    peaks = run_rram(die, rasters, threads=1).extra["adc_peak"].max(axis=0)
    v_max = program.chip.core.v_max
    return tuple(min(s, v_max) for s in power_of_two_scales(peaks, cfg.adc_bits))


def _compare_task(shared: dict, seed: int) -> dict:
    """Every strategy on held-out instance ``seed`` (runs on a worker): plain numbers back."""
    program = program_from_wire(shared["program"])
    rc = program_chip(program, seed, adc_scales=shared["adc_scales"], cap_g_on=shared["cap_g_on"])
    packed = pack(rc)
    test_r, test_y = shared["test_set"]
    n = len(tunable_stages(program))
    ones = (1.0,) * n
    model = shared["model"]
    sig = response_signature(rc, *shared["signature_set"], packed=packed)
    predicted, regressed = _predict(Ridge(**model["accuracy"]), Ridge(**model["factors"]), model["grid"], sig)
    global_f = tuple(float(f) for f in shared["global_factors"])

    nominal = threshold_scorer(rc, packed, test_r, test_y)
    scales = die_adc_scales(rc, shared["calibration_rasters"])
    rc_adc = rc.with_adc_scales(scales)
    recal = threshold_scorer(rc_adc, pack(rc_adc), test_r, test_y)
    tuned = predicted < shared["spec"] + shared["guard"]  # docs/rram.md §5 "Screen and tune"
    acc = {
        "none": nominal(ones),
        "global": nominal(global_f),
        "regressed": nominal(regressed),
        "adc": recal(ones),
        "adc+regressed": recal(regressed),
    }
    acc["screened"] = acc["regressed"] if tuned else acc["none"]
    # the oracle starts from the best setting any strategy reached on this chip (ties: this order), so it is
    # never below one of them; then coordinate search on the test images under that ADC setting
    starts = [(acc["none"], False, ones), (acc["global"], False, global_f), (acc["regressed"], False, regressed),
              (acc["adc"], True, ones), (acc["adc+regressed"], True, regressed)]
    best = max(range(len(starts)), key=lambda i: (starts[i][0], -i))
    _, use_adc, start = starts[best]
    factors, acc["oracle"] = coordinate_search(recal if use_adc else nominal, start, shared["grid"],
                                               shared["oracle_rounds"])
    return {"seed": int(seed), "predicted_accuracy": float(predicted), "tuned": bool(tuned),
            "regressed_factors": [float(f) for f in regressed], "die_adc_scales": [int(s) for s in scales],
            "oracle_factors": [float(f) for f in factors], "oracle_adc": bool(use_adc),
            "accuracy": {k: float(acc[k]) for k in STRATEGIES}}


def strategy_table(accuracies: dict[str, Sequence[float]], spec: float) -> list[dict]:
    """Per strategy: yield, out-of-spec chips and their change against ``none`` (Saha's two figures).

    ``out_of_spec_reduction`` is ``1 - oos / oos_none`` (None when no chip is out of spec untuned);
    ``yield_gain`` is in yield fraction (x100 for points).
    """
    base = np.asarray(accuracies["none"], np.float64)
    oos0 = int((base < spec).sum())
    rows = []
    for name in [s for s in STRATEGIES if s in accuracies]:
        a = np.asarray(accuracies[name], np.float64)
        oos = int((a < spec).sum())
        rows.append({
            "strategy": name,
            "label": STRATEGY_LABELS[name],
            "instances": int(a.size),
            "yield": float((a >= spec).mean()),
            "out_of_spec": oos,
            "out_of_spec_reduction": (1.0 - oos / oos0) if oos0 else None,
            "yield_gain": float((a >= spec).mean() - (base >= spec).mean()),
            "mean_accuracy": float(a.mean()),
            "min_accuracy": float(a.min()),
        })
    return rows


@dataclass(frozen=True)
class StrategyComparison:
    """Every strategy on the same held-out instances.

    Attributes:
        seeds: Held-out chip seeds. train_seeds: The tuner's training seeds (disjoint).
        spec, guard: The accuracy spec and the screening guard band.
        rows: Per instance, the dict of :func:`_compare_task`.
        model: The tuner (fitted on the training seeds only).
    """

    seeds: tuple[int, ...]
    train_seeds: tuple[int, ...]
    spec: float
    guard: float
    rows: tuple[dict, ...]
    model: TuningModel

    @property
    def accuracies(self) -> dict[str, np.ndarray]:
        return {k: np.array([r["accuracy"][k] for r in self.rows], np.float64) for k in STRATEGIES}

    def table(self) -> list[dict]:
        return strategy_table(self.accuracies, self.spec)

    def to_dict(self) -> dict:
        acc = self.model.accuracy.predict(self.model.train_signatures)[:, 0]
        pred = np.array([r["predicted_accuracy"] for r in self.rows])
        none = self.accuracies["none"]
        return {
            "instances": len(self.seeds),
            "seeds": [self.seeds[0], self.seeds[-1]],
            "train_instances": len(self.train_seeds),
            "train_seeds": [self.train_seeds[0], self.train_seeds[-1]],
            "spec": self.spec,
            "guard": self.guard,
            "global_factors": self.model.train_factors.mean(axis=0).tolist(),
            "table": self.table(),
            "tuned_by_screening": int(sum(r["tuned"] for r in self.rows)),
            # the alternative test on held-out chips (fitted on the training chips; its training fit for contrast)
            "prediction_rmse_held_out": float(np.sqrt(np.mean((pred - none) ** 2))),
            "prediction_rmse_train_fit": float(np.sqrt(np.mean((acc - self.model.train_accuracy) ** 2))),
            "oracle_used_adc": int(sum(r["oracle_adc"] for r in self.rows)),
            "per_instance": list(self.rows),
        }


def compare_strategies(
    program: ChipProgram,
    seeds: Sequence[int],
    train_seeds: Sequence[int],
    signature_set: tuple[np.ndarray, np.ndarray],
    tuning_set: tuple[np.ndarray, np.ndarray],
    test_set: tuple[np.ndarray, np.ndarray],
    calibration_rasters: np.ndarray,
    spec: float,
    *,
    adc_scales: Sequence[int] | None = None,
    guard: float = 0.0,
    grid: Sequence[float] = DEFAULT_GRID,
    oracle_rounds: int = 2,
    cap_g_on: bool = False,
    pool: TaskPool | None = None,
    workers: int | None = None,
    train_progress: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> StrategyComparison:
    """Train the tuner on ``train_seeds``, then run every strategy of :data:`STRATEGIES` on ``seeds``.

    Args:
        program: A program for an RRAM chip with at least one tunable layer.
        seeds, train_seeds: Held-out and training chip seeds (must be disjoint).
        signature_set, tuning_set, test_set: ``(rasters, labels)``; the tuner's offline optimiser scores on the
            tuning set, the oracle on the test set.
        calibration_rasters: What per-die ADC recalibration runs (the training images of the ideal-chip
            calibration).
        spec: Accuracy spec. guard: screening guard band.
        adc_scales: The nominal (ideal-chip) ADC scales.
        grid: Factor grid of the optimiser and the oracle. oracle_rounds: the oracle's coordinate-search rounds.
        cap_g_on: As :func:`hwsim.rram.device.program_chip`, for every instance (training ones too).

    Raises:
        InputError: overlapping seeds, no tunable layer, fewer than 3 training seeds.
    """
    if set(int(s) for s in seeds) & set(int(s) for s in train_seeds):
        raise InputError("the held-out and training instances share seeds; they must be disjoint")
    if not seeds:
        raise InputError("no held-out instances")
    scales = None if adc_scales is None else [int(a) for a in adc_scales]
    with _tasks(pool, workers, len(seeds)) as tasks:
        model = train_tuner(program, train_seeds, signature_set, tuning_set, test_set, adc_scales=scales,
                            grid=grid, progress=train_progress, pool=tasks, cap_g_on=cap_g_on)
        shared = tasks.share({
            "program": program_to_wire(program), "adc_scales": scales, "cap_g_on": bool(cap_g_on),
            "signature_set": tuple(np.asarray(a) for a in signature_set),
            "test_set": tuple(np.asarray(a) for a in test_set),
            "calibration_rasters": np.asarray(calibration_rasters),
            "model": {"accuracy": model.accuracy.to_arrays(), "factors": model.factors.to_arrays(),
                      "grid": [float(g) for g in model.grid]},
            "global_factors": model.train_factors.mean(axis=0).tolist(),
            "grid": [float(g) for g in grid], "oracle_rounds": int(oracle_rounds),
            "spec": float(spec), "guard": float(guard),
        })
        rows = tasks.map(_compare_task, shared, [int(s) for s in seeds], progress=progress)
    return StrategyComparison(tuple(int(s) for s in seeds), tuple(int(s) for s in train_seeds), float(spec),
                              float(guard), tuple(rows), model)

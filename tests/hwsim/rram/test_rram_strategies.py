"""Per-layer threshold tuning and the strategy comparison (hwsim.rram.strategies, docs/rram.md §7).

Hand-checkable cases: a crossbar whose conductances are exactly doubled needs exactly its layer's threshold
doubled (every membrane increment doubles, so doubling the threshold restores every spike); per-die ADC
recalibration of a die with gain 4 gives 4x the ideal chip's scales; the table's arithmetic on made-up
accuracies. On a varied 2-hidden-layer case: the oracle is >= every other strategy on every instance, each
strategy's number is a direct run of its setting, and the numbers do not depend on the scheduler.
"""

import dataclasses

import numpy as np
import pytest

from hwsim.errors import InputError
from hwsim.parallel import task_pool
from hwsim.rram.device import RramChip, program_chip
from hwsim.rram.engine import calibrate_adc_scales, run_rram
from hwsim.rram.strategies import (
    STRATEGIES,
    axis_changes,
    compare_strategies,
    die_adc_scales,
    strategy_table,
)
from hwsim.rram.tuning import (
    coordinate_search,
    factor_grid,
    optimise_thresholds,
    stage_thresholds,
    tunable_stages,
)
from hwsim.rram.yield_study import with_rram
from hwsim.testing import random_raster
from rram_cases import mapped, rram_chip

IDEAL_ADC16 = dict(adc_bits=16)


@pytest.fixture(scope="module")
def ideal_case():
    """A 40-24-24-6 network (two firing hidden layers, membrane readout) on an ideal RRAM chip, no biases, and
    labels that are the ideal chip's own answers."""
    net, prog = mapped(rram_chip(**IDEAL_ADC16), sizes=(40, 24, 24, 6), seed=11, fire_output=False, threshold=12,
                       weight_range=(-8, 8), bias_range=(0, 0))
    rasters = random_raster(np.random.default_rng(1), 60, 4, 40, 0.3)
    ideal = program_chip(prog, 0)
    labels = run_rram(ideal, rasters).predictions
    return prog, rasters, labels


def with_gain(rc: RramChip, stage: int, gain: float) -> RramChip:
    """``rc`` with every conductance of the cores of ``stage`` multiplied by ``gain``."""
    bars = []
    for cp, xb in zip(rc.program.cores, rc.crossbars):
        if cp.stage == stage:
            xb = dataclasses.replace(xb, g_plus_us=xb.g_plus_us * gain, g_minus_us=xb.g_minus_us * gain,
                                     g_read_plus_us=xb.g_read_plus_us * gain, g_read_minus_us=xb.g_read_minus_us * gain)
        bars.append(xb)
    return RramChip(rc.program, rc.seed, tuple(bars), rc.adc_scales, rc.thresholds)


def test_every_firing_layer_is_a_knob_and_gets_its_own_threshold(ideal_case):
    prog, _, _ = ideal_case
    assert tunable_stages(prog) == [0, 1]  # the two hidden layers; the membrane-readout output does not fire
    th = stage_thresholds(prog, (2.0, 0.75))
    for cp, t in zip(prog.cores, th):
        # by hand: 12 * 2 = 24 and 12 * 0.75 = 9; the output layer keeps its register
        assert t == {0: 24, 1: 9}.get(cp.stage, cp.threshold)


@pytest.mark.parametrize("stage", [0, 1])
def test_a_doubled_crossbar_is_undone_by_doubling_only_its_layers_threshold(ideal_case, stage):
    prog, rasters, labels = ideal_case
    ideal = program_chip(prog, 0)
    doubled = with_gain(ideal, stage, 2.0)
    factors = [1.0, 1.0]
    factors[stage] = 2.0
    restored = run_rram(doubled.with_thresholds(stage_thresholds(prog, factors)), rasters)
    reference = run_rram(ideal, rasters)
    # every membrane increment doubles exactly, so the doubled threshold gives the ideal chip's spikes
    assert np.array_equal(restored.output_spikes, reference.output_spikes)
    assert np.array_equal(restored.predictions, labels)
    # the gain hurts untuned, and the per-layer search finds a setting that recovers every label
    assert (run_rram(doubled, rasters).predictions == labels).mean() < 1.0
    found, acc = optimise_thresholds(doubled, rasters, labels, grid=(0.5, 1.0, 1.5, 2.0, 2.5))
    assert acc == 1.0 and found[1 - stage] == 1.0 and found[stage] >= 1.5


def test_coordinate_search_finds_a_separable_optimum_and_never_loses():
    grid = factor_grid(0.1)

    def score(f):
        return -((f[0] - 0.7) ** 2) - (f[1] - 1.3) ** 2

    found, best = coordinate_search(score, (1.0, 1.0), grid)
    assert found == pytest.approx((0.7, 1.3)) and best == pytest.approx(0.0)
    # a flat score keeps the start (only strict improvements move a factor), even off the grid
    assert coordinate_search(lambda f: 0.5, (1.23, 0.77), grid) == ((1.23, 0.77), 0.5)


def test_factor_grid():
    assert factor_grid(0.25) == (0.5, 0.75, 1.0, 1.25, 1.5)
    assert len(factor_grid(0.05)) == 21 and 1.0 in factor_grid(0.05)
    for bad in (0.3, 0.0, 2.0, float("nan")):
        with pytest.raises(InputError, match="factor step"):
            factor_grid(bad)


def test_die_adc_recalibration_by_hand(ideal_case):
    prog, rasters, _ = ideal_case
    small_adc = with_rram(prog, adc_bits=6)  # codes up to 31: the calibrated scales are > 1
    ideal_scales = calibrate_adc_scales(small_adc, rasters)
    die = program_chip(small_adc, 0)
    # an ideal die measures what the ideal chip does
    assert die_adc_scales(die, rasters) == ideal_scales
    assert max(ideal_scales) > 1
    # a die with gain 4 on the first layer, whose threshold is 4x too (so every spike is as on the ideal die):
    # the first layer's peak codes are 4x, so its scale is 4x (powers of two); the others are unchanged
    gained = with_gain(die, 0, 4.0).with_thresholds(stage_thresholds(small_adc, (4.0, 1.0)))
    assert die_adc_scales(gained, rasters) == tuple(
        4 * s if cp.stage == 0 else s for cp, s in zip(prog.cores, ideal_scales))


def test_strategy_table_arithmetic_by_hand():
    acc = {"none": [0.85, 0.95, 0.88, 0.91], "regressed": [0.91, 0.95, 0.89, 0.92], "oracle": [0.95, 0.96, 0.93, 0.93]}
    rows = {r["strategy"]: r for r in strategy_table(acc, 0.9)}
    assert list(rows) == ["none", "regressed", "oracle"]  # table order
    assert rows["none"]["out_of_spec"] == 2 and rows["none"]["yield"] == 0.5
    assert rows["none"]["out_of_spec_reduction"] == 0.0 and rows["none"]["yield_gain"] == 0.0
    r = rows["regressed"]
    assert (r["out_of_spec"], r["yield"], r["out_of_spec_reduction"]) == (1, 0.75, 0.5)  # 2 -> 1: -50 %
    assert r["yield_gain"] == pytest.approx(0.25) and r["mean_accuracy"] == pytest.approx(0.9175)
    o = rows["oracle"]
    assert (o["out_of_spec"], o["yield"], o["out_of_spec_reduction"], o["min_accuracy"]) == (0, 1.0, 1.0, 0.93)
    # nothing out of spec untuned: no relative change to report
    assert strategy_table({"none": [0.95], "oracle": [0.96]}, 0.9)[1]["out_of_spec_reduction"] is None


def test_axis_changes():
    assert axis_changes("sigma", 0.2) == {"variation": True, "variation_sigma": 0.2}
    assert axis_changes("array_sigma", 0) == {"array_variation": False, "array_sigma": 0.0}
    assert axis_changes("stuck", 0.01) == {"stuck_faults": True, "stuck_on_rate": 0.01, "stuck_off_rate": 0.01}
    with pytest.raises(InputError, match="allowed sigma, array_sigma, stuck"):
        axis_changes("levels", 16)


VARIED = dict(variation=True, variation_sigma=0.3, array_variation=True, array_sigma=0.35, read_noise=True,
              read_noise_sigma=0.05, finite_on_off=True, stuck_faults=True, stuck_on_rate=0.005, adc_bits=7)


@pytest.fixture(scope="module")
def varied_case():
    net, prog = mapped(rram_chip(**VARIED), sizes=(40, 24, 24, 6), seed=11, fire_output=False, threshold=12,
                       weight_range=(-8, 8), bias_range=(-2, 2))
    rng = np.random.default_rng(4)
    r = random_raster(rng, 150, 4, 40, 0.3)
    ideal = with_rram(prog, variation=False, array_variation=False, read_noise=False, stuck_faults=False,
                      finite_on_off=False)
    labels = run_rram(program_chip(ideal, 0), r).predictions
    scales = calibrate_adc_scales(prog, r[:30])
    sets = dict(signature_set=(r[30:50], labels[30:50]), tuning_set=(r[50:90], labels[50:90]),
                test_set=(r[90:], labels[90:]), calibration_rasters=r[:30])
    return prog, scales, sets


def _compare(varied_case, pool=None, **kw):
    prog, scales, sets = varied_case
    return compare_strategies(prog, [0, 1, 2, 3, 4], [10, 11, 12, 13], spec=0.8, adc_scales=scales,
                              grid=factor_grid(0.25), pool=pool, workers=1, **sets, **kw)


@pytest.fixture(scope="module")
def comparison(varied_case):
    return _compare(varied_case)


def test_oracle_is_at_least_every_strategy_on_every_instance(comparison):
    acc = comparison.accuracies
    assert set(acc) == set(STRATEGIES)
    for name in STRATEGIES:
        assert np.all(acc["oracle"] >= acc[name]), name
    rows = {r["strategy"]: r for r in comparison.table()}
    assert all(rows["oracle"]["yield"] >= r["yield"] for r in rows.values())


def test_each_strategy_is_a_direct_run_of_its_setting(varied_case, comparison):
    prog, scales, sets = varied_case
    test_r, test_y = sets["test_set"]
    global_f = tuple(comparison.model.train_factors.mean(axis=0))
    for row in comparison.rows:
        rc = program_chip(prog, row["seed"], adc_scales=scales)

        def acc(chip, factors):
            return float((run_rram(chip.with_thresholds(stage_thresholds(prog, factors)), test_r).predictions
                          == test_y).mean())

        a = row["accuracy"]
        assert a["none"] == float((run_rram(rc, test_r).predictions == test_y).mean())
        assert a["global"] == acc(rc, global_f)
        assert a["regressed"] == acc(rc, row["regressed_factors"])
        assert a["screened"] == (a["regressed"] if row["tuned"] else a["none"])
        assert row["tuned"] == (row["predicted_accuracy"] < 0.8)
        die = rc.with_adc_scales(die_adc_scales(rc, sets["calibration_rasters"]))
        assert list(die.adc_scales) == row["die_adc_scales"]
        assert a["adc"] == acc(die, (1.0, 1.0)) and a["adc+regressed"] == acc(die, row["regressed_factors"])
        assert a["oracle"] == acc(die if row["oracle_adc"] else rc, row["oracle_factors"])
        # the held-out chips are not the tuner's
        assert row["seed"] not in comparison.train_seeds


def test_comparison_is_the_same_on_threads_and_a_local_cluster(varied_case, comparison):
    pytest.importorskip("distributed")
    with task_pool(None, threads=2) as pool:
        threads = _compare(varied_case, pool=pool)
    assert threads.rows == comparison.rows
    with task_pool("local:2") as pool:
        cluster = _compare(varied_case, pool=pool)
    assert cluster.rows == comparison.rows
    assert np.array_equal(cluster.model.train_factors, comparison.model.train_factors)


def test_comparison_refuses_shared_seeds(varied_case):
    prog, scales, sets = varied_case
    with pytest.raises(InputError, match="disjoint"):
        compare_strategies(prog, [0, 1], [1, 2, 3], spec=0.8, **sets)


def test_cap_g_on_is_opt_in_and_caps_only_cells_above_g_on(varied_case):
    prog, _, _ = varied_case
    prog = with_rram(prog, array_variation=False, stuck_faults=False, ir_drop=False)
    g_on = prog.chip.rram.g_on_us
    plain, capped = program_chip(prog, 3), program_chip(prog, 3, cap_g_on=True)
    for a, b in zip(plain.crossbars, capped.crossbars):
        for name in ("g_plus_us", "g_minus_us"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.max() > g_on  # lognormal variation at sigma 0.3 exceeds G_on somewhere
            assert np.array_equal(y, np.minimum(x, g_on))
    # the default is chip-spec §7.1 as written
    assert all(np.array_equal(a.g_plus_us, b.g_plus_us)
               for a, b in zip(plain.crossbars, program_chip(prog, 3, cap_g_on=False).crossbars))

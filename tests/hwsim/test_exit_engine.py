"""Early exit (chip-spec §1.4) on whole chips: golden model, engine and RRAM paths, and apply_exit.

Hand-worked programs pin the cut (rows after the exit are 0, ``exit_timesteps``) and the cycles
(``exit_cycles`` added to every timestep run, §1.2); random programs (with partial-sum chains too),
rules, thresholds and thread counts check the engine against the golden model bit for bit, and
``apply_exit`` of a fixed-T run against the golden model run with the rule.
"""

from __future__ import annotations

import copy

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.chip import Chip, apply_exit
from hwsim.config import ChipConfig, CoreConfig, RramConfig
from hwsim.errors import InputError
from hwsim.exit_unit import ExitRule, exit_counters, find_exit_timesteps, parse_exit_rule
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import RunResult
from hwsim.rram import program_chip, run_rram, simulate_rram
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping import map_network
from test_engine import assert_same as assert_same_run  # after mapping: tests/mapping must not shadow it

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TWO_THREADS = numba.config.NUMBA_NUM_THREADS >= 2


def assert_same(got: RunResult, want: RunResult, skip_extra: tuple[str, ...] = ()) -> None:
    """Every reported array (exit fields and extras too) is identical."""
    assert_same_run(got, want)
    for name in ("exit_timesteps", "exit_counters"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype == np.int64 and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert got.exit_rule == want.exit_rule
    assert got.extra.keys() == want.extra.keys()
    for key in set(want.extra) - set(skip_extra):
        np.testing.assert_array_equal(got.extra[key], want.extra[key], err_msg=key)


def assert_rows_after_exit_are_zero(res: RunResult) -> None:
    after = np.arange(res.timesteps)[None, :] >= res.exit_timesteps[:, None]
    arrays = [res.output_spikes, res.output_membranes, res.counters, res.host_counters, res.timestep_cycles,
              res.exit_counters, *(res.membranes or []), *(res.core_spikes or [])]  # fmt: skip
    for a in arrays:
        assert not a[after].any()


# --------------------------------------------------------------------- hand-worked programs
# One core (mesh core 0, 0 hops from the host), 2 axons x 2 neurons, one lane (G = 2), no routes: input i
# adds 5 to neuron i. Barrier 4, hop latency 2. Cycles per timestep (§1.2, §2.4), with s spiking inputs:
# barrier 4 + host route (s packets, 0 hops) + core 1 + (2 s + 1 if s > 0) + G 2 + 1 (+ no core route):
# s = 1: 4 + 1 + 7 = 12; s = 2: 4 + 2 + 9 = 15; s = 0: 4 + 0 + 4 = 8.
HAND_CHIP = ChipConfig(name="one", mesh_rows=1, mesh_cols=2, barrier_cycles=4, hop_latency_cycles=2,
                       core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=4, v_bits=8))  # fmt: skip
CYCLES = {0: 8, 1: 12, 2: 15}


def hand_program(fire: bool) -> ChipProgram:
    core = CoreProgram(core=0, stage=0, weights=np.array([[5, 0], [0, 5]]), bias=np.zeros(2, int), threshold=3,
                       fire=fire, reset="zero", output_offset=0)  # fmt: skip
    return ChipProgram(chip=HAND_CHIP, cores=(core,), host_routes=(Route(0, 0, 2, 0),), n_inputs=2).validate()


def run(implementation: str, program: ChipProgram, raster, rule=None, record=True) -> RunResult:
    raster = np.asarray(raster, np.uint8)
    if implementation == "golden":
        return simulate(program, raster, record=record, exit_rule=rule)
    if implementation == "engine":
        return Chip.from_program(program).run(raster, record=record, exit_rule=rule)
    return apply_exit(simulate(program, raster, record=record), rule)  # fixed T, then cut


IMPLEMENTATIONS = ("golden", "engine", "apply_exit")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_exit_after_the_first_timestep(implementation):
    # membrane readout: t0 gives membranes [5, 0]; margin 5 - 0 >= 5: the image ends after t0
    raster = [[[1, 0], [1, 1], [0, 1], [1, 0]]]
    res = run(implementation, hand_program(fire=False), raster, parse_exit_rule("margin:5", 2))
    assert res.exit_timesteps.tolist() == [1]
    assert res.exit_rule == "margin:5"
    # margin, K = 2: exit_cycles = K + 1 = 3 in timestep 0; nothing after
    assert res.timestep_cycles.tolist() == [[CYCLES[1] + 3, 0, 0, 0]]
    assert res.cycles_per_inference.tolist() == [15]
    assert res.exit_counters.tolist() == [[[3, 2, 0, 0], [0] * 4, [0] * 4, [0] * 4]]
    assert res.output_membranes.tolist() == [[[5, 0], [0, 0], [0, 0], [0, 0]]]
    assert res.membranes[0].tolist() == res.output_membranes.tolist()
    assert res.counters[0, 0, 0].tolist() == [1, 2, 2, 2, 0, 0, 0, 7]  # axon_events .. cycles of t0
    assert res.host_counters[0].tolist() == [[1, 0, 1], [0] * 3, [0] * 3, [0] * 3]
    assert_rows_after_exit_are_zero(res)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_no_exit_until_the_last_timestep(implementation):
    # acc after each timestep: [5, 0], [10, 5], [10, 10], [15, 10]: margins 5, 5, 0, 5, never 6
    raster = [[[1, 0], [1, 1], [0, 1], [1, 0]]]
    res = run(implementation, hand_program(fire=False), raster, parse_exit_rule("margin:6", 2))
    assert res.exit_timesteps.tolist() == [4]
    assert res.timestep_cycles.tolist() == [[12 + 3, 15 + 3, 12 + 3, 12 + 3]]
    assert res.exit_counters.tolist() == [[[3, 2, 0, 0]] * 4]
    assert res.output_membranes.tolist() == [[[5, 0], [5, 5], [0, 5], [5, 0]]]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_exit_in_the_middle_and_images_are_independent(implementation):
    # image 0: acc [5, 5] (tie: margin 0), then [10, 5]: margin 5 -> ends after t1 (2 timesteps).
    # image 1: [0, 5] -> margin 5 at once (output 1 leads). image 2: all silent -> ties all along, runs T = 3.
    raster = [[[1, 1], [1, 0], [0, 1]], [[0, 1], [1, 1], [1, 1]], [[0, 0], [0, 0], [0, 0]]]
    res = run(implementation, hand_program(fire=False), raster, parse_exit_rule("margin:5", 2))
    assert res.exit_timesteps.tolist() == [2, 1, 3]
    assert res.timestep_cycles.tolist() == [[15 + 3, 12 + 3, 0], [12 + 3, 0, 0], [8 + 3, 8 + 3, 8 + 3]]
    assert res.predictions.tolist() == [0, 1, 0]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_spike_count_readout_feeds_spikes_to_the_unit(implementation):
    # fire = 1, threshold 3: input i makes neuron i spike (5 >= 3) and resets it to 0. The unit adds the
    # 0/1 spikes: acc [1, 0] (margin 1), [2, 0] (margin 2): margin:2 ends the image after t1.
    raster = [[[1, 0], [1, 0], [0, 1]]]
    res = run(implementation, hand_program(fire=True), raster, parse_exit_rule("margin:2", 2))
    assert res.readout == "spike_count"
    assert res.exit_timesteps.tolist() == [2]
    assert res.output_spikes.tolist() == [[[1, 0], [1, 0], [0, 0]]]
    assert res.core_spikes[0].tolist() == res.output_spikes.tolist()
    assert res.output_membranes.tolist() == [[[0, 0]] * 3]  # reset to zero after every spike
    # each spike is one output_spikes count of the core; no packets (no routes)
    assert res.counters[0, :, 0, 4].tolist() == [1, 1, 0]
    assert res.timestep_cycles.tolist() == [[12 + 3, 12 + 3, 0]]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_confidence_and_entropy_exit_with_their_own_cycles(implementation):
    # s = 1 (gain_num 2^19): acc [5, 0] after t0 -> k = [0, 40], Z = 65536 + EXP_LUT[40] = 65536 + 442 = 65978
    # (float: max softmax 1 / (1 + e^-5) = 0.9933). confidence:0.99: z_limit = ceil(66197.98) = 66198 > Z: exit.
    # entropy:0.1 (K = 2): theta = floor(256 * 0.1 * ln 2) = 17; W = 442 * 40 = 17680; L_Z = LN_LUT[64 - 64] = 0;
    # Z * 0 + 32 * 17680 = 565760 < 17 * 65978 = 1121626: exit (float: normalised entropy 0.058 < 0.1).
    program = hand_program(fire=False)
    raster = [[[1, 0], [1, 1], [0, 1]]]
    conf = run(implementation, program, raster, parse_exit_rule("confidence:0.99", 2, scale=1.0))
    assert conf.exit_timesteps.tolist() == [1]
    assert conf.timestep_cycles.tolist() == [[12 + 6, 0, 0]]  # 2K + 2 = 6
    assert conf.exit_counters[0, 0].tolist() == [6, 2, 2, 2]
    ent = run(implementation, program, raster, parse_exit_rule("entropy:0.1", 2, scale=1.0))
    assert ent.exit_timesteps.tolist() == [1]
    assert ent.timestep_cycles.tolist() == [[12 + 7, 0, 0]]  # 2K + 3 = 7
    assert ent.exit_counters[0, 0].tolist() == [7, 2, 6, 3]
    # confidence:0.999: z_limit = ceil(65601.6) = 65602 <= 65978: t0 goes on. t1: acc [10, 5], n = 2: d = 5,
    # gain_t = 2^18, k = (5 * 2^18) >> 16 = 20, Z = 65536 + 5380 = 70916 >= 65602; t2: acc [10, 10], a tie:
    # Z = 131072. Never: all 3 timesteps, 6 exit cycles each.
    late = run(implementation, program, raster, parse_exit_rule("confidence:0.999", 2, scale=1.0))
    assert late.exit_timesteps.tolist() == [3]
    assert late.timestep_cycles.tolist() == [[12 + 6, 15 + 6, 12 + 6]]


@pytest.mark.parametrize("implementation", ("golden", "engine"))
def test_an_exit_rule_on_one_output_is_refused(implementation):
    core = CoreProgram(core=0, stage=0, weights=np.array([[5]]), bias=np.zeros(1, int), threshold=3,
                       output_offset=0)  # fmt: skip
    program = ChipProgram(chip=HAND_CHIP, cores=(core,), host_routes=(Route(0, 0, 1, 0),), n_inputs=1).validate()
    with pytest.raises(InputError, match="at least 2 outputs"):
        run(implementation, program, [[[1]]], ExitRule("margin", 1, 0, "margin:1"))
    assert run(implementation, program, [[[1]]], None).exit_timesteps.tolist() == [1]  # rule none: fine


@pytest.mark.parametrize("implementation", ("golden", "engine"))
def test_without_a_rule_every_image_runs_T_and_the_unit_counts_nothing(implementation):
    raster = [[[1, 0], [1, 1], [0, 1]]] * 2
    res = run(implementation, hand_program(fire=False), raster)
    assert res.exit_rule == "none"
    assert res.exit_timesteps.tolist() == [3, 3]
    assert res.exit_counters.shape == (2, 3, 4) and not res.exit_counters.any()
    assert res.timestep_cycles.tolist() == [[12, 15, 12]] * 2
    assert_same(run(implementation, hand_program(fire=False), raster, ExitRule()), res)
    assert_same(run(implementation, hand_program(fire=False), raster, "none"), res)


# ------------------------------------------------------------------------- apply_exit
def test_apply_exit_is_pure_and_evaluates_many_thresholds_from_one_run():
    rng = np.random.default_rng(5)
    chip = ChipConfig(name="mid", mesh_rows=2, mesh_cols=3,
                      core=CoreConfig(axons=48, neurons=16, lanes=4, w_bits=6, v_bits=11))  # fmt: skip
    net = random_network(rng, [40, 30, 12], chip.core, integration="continuous", leak_shift=2, fire_output=False)
    program = map_network(net, chip)
    raster = random_raster(rng, 12, 6, program.n_inputs, 0.4)
    fixed = Chip.from_program(program).run(raster, record=True)
    before = copy.deepcopy(fixed)
    seen = set()
    for text in ("margin:0", "margin:40", "margin:400", "confidence:0.6", "confidence:0.95", "entropy:0.3"):
        rule = parse_exit_rule(text, program.n_outputs, scale=0.02)
        cut = apply_exit(fixed, rule)
        assert_same(cut, simulate(program, raster, record=True, exit_rule=rule))
        assert_rows_after_exit_are_zero(cut)
        np.testing.assert_array_equal(find_exit_timesteps(fixed, rule), cut.exit_timesteps)
        seen.update(cut.exit_timesteps.tolist())
        assert_same(fixed, before)  # the fixed-T result is untouched
    assert len(seen) >= 3  # the thresholds give different exits: the comparison is not of trivial runs
    assert apply_exit(fixed, None) is fixed
    assert apply_exit(fixed, "none") is fixed


def test_apply_exit_refuses_a_result_that_already_exited():
    raster = np.array([[[1, 0], [1, 1]]], np.uint8)
    cut = simulate(hand_program(False), raster, exit_rule=parse_exit_rule("margin:5", 2))
    with pytest.raises(InputError, match="already ran with exit rule 'margin:5'"):
        apply_exit(cut, parse_exit_rule("margin:1", 2))
    with pytest.raises(InputError, match="scale"):
        apply_exit(simulate(hand_program(False), raster), "confidence:0.9")


def test_concatenate_joins_the_exit_fields():
    program = hand_program(fire=False)
    raster = np.array([[[1, 1], [1, 0], [0, 1]], [[0, 1], [1, 1], [1, 1]], [[0, 0], [0, 0], [0, 0]]], np.uint8)
    rule = parse_exit_rule("margin:5", 2)
    whole = simulate(program, raster, exit_rule=rule)
    parts = [simulate(program, raster[:1], exit_rule=rule), simulate(program, raster[1:], exit_rule=rule)]
    assert_same(RunResult.concatenate(parts), whole)


# --------------------------------------------------------------- random programs, rules, threads
def _random_rule(rng, fixed: RunResult) -> ExitRule:
    """A random rule whose threshold falls among the values a fixed-T run scores, so exits vary."""
    values = fixed.output_membranes if fixed.readout == "membrane" else fixed.output_spikes
    acc = np.cumsum(values.astype(np.int64), axis=1)
    top = np.sort(acc, axis=2)
    margins = (top[..., -1] - top[..., -2]).ravel()
    name = str(rng.choice(["margin", "confidence", "entropy"]))
    if name == "margin":
        m = int(rng.choice([0, 1, int(rng.choice(margins)), int(rng.choice(margins)) + 1, int(rng.integers(0, 200))]))
        return parse_exit_rule(f"margin:{m}", values.shape[2])
    # logits of a few nats: s ~ c / (typical mean difference between outputs)
    spread = max(1.0, float(np.mean(top[..., -1] - top[..., 0]) / max(1, values.shape[1])))
    scale = float(10 ** rng.uniform(-1.5, 1)) / spread
    if name == "confidence":
        text = f"confidence:{float(rng.choice([0.5, 0.9, 0.99, 1.0, round(rng.uniform(0.05, 1), 3)]))}"
    else:
        text = f"entropy:{float(rng.choice([0.0, 0.2, 0.5, 1.0, round(rng.uniform(0, 1), 3)]))}"
    return parse_exit_rule(text, values.shape[2], scale=scale)


def _random_program(rng) -> ChipProgram:
    if rng.random() < 0.5:
        return random_psum_program(rng, psum_test_chip(), min_psum_cores=1)
    chip = ChipConfig(name="rand", mesh_rows=2, mesh_cols=3, hop_latency_cycles=int(rng.integers(0, 3)),
                      barrier_cycles=int(rng.integers(0, 5)),
                      core=CoreConfig(axons=24, neurons=8, lanes=int(rng.choice([1, 2, 4])), w_bits=5,
                                      v_bits=int(rng.choice([8, 12, 20]))))  # fmt: skip
    sizes = [int(rng.integers(4, 25)), int(rng.integers(2, 12)), int(rng.integers(2, 10))]  # fan-in <= 24 axons
    net = random_network(rng, sizes, chip.core, integration=str(rng.choice(["discontinuous", "continuous"])),
                         leak_shift=int(rng.integers(0, 3)), fire_output=bool(rng.integers(2)),
                         threshold=int(rng.choice([1, 4, 10])))  # fmt: skip
    return map_network(net, chip)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), threads=st.sampled_from([1, 2]), record=st.booleans())
def test_engine_equals_golden_under_random_rules(seed, threads, record):
    rng = np.random.default_rng(seed)
    program = _random_program(rng)
    if program.n_outputs < 2:
        return
    T = int(rng.choice([1, 2, 3, 4, 6, 8]))
    raster = random_raster(rng, int(rng.integers(1, 10)), T, program.n_inputs, float(rng.uniform(0.1, 0.7)))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        chip = Chip.from_program(program)
        fixed = chip.run(raster, record=record)
        # a few draws, keeping the first whose exits differ between images or timesteps (the interesting case)
        for _ in range(8):
            rule = _random_rule(rng, fixed)
            exits = set(find_exit_timesteps(fixed, rule).tolist())
            if len(exits) > 1 or not exits <= {1, T}:
                break
        fast = chip.run(raster, record=record, exit_rule=rule, chunk_size=int(rng.integers(1, 5)))
    finally:
        numba.set_num_threads(before)
    golden = simulate(program, raster, record=record, exit_rule=rule)
    assert_same(fast, golden)
    assert_same(apply_exit(fixed, rule), golden)
    assert_rows_after_exit_are_zero(golden)
    ran = np.arange(T)[None, :] < golden.exit_timesteps[:, None]
    assert (golden.exit_counters[ran] == exit_counters(rule.rule, program.n_outputs)).all()


@pytest.mark.skipif(not TWO_THREADS, reason="needs NUMBA_NUM_THREADS >= 2")
def test_one_and_two_threads_give_the_same_exits():
    rng = np.random.default_rng(11)
    program = random_psum_program(rng, psum_test_chip(), min_psum_cores=2, fire_output=False)
    images = rng.random((150, program.n_inputs))
    chip = Chip.from_program(program)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(chip.run(images, timesteps=5, seed=3, exit_rule="margin:3", record=True, chunk_size=40))
    finally:
        numba.set_num_threads(before)
    assert_same(results[0], results[1])
    assert 1 < len(set(results[0].exit_timesteps.tolist()))  # images exit at different timesteps


# ----------------------------------------------------------------------------------- RRAM
def test_rram_engine_equals_rram_golden_under_a_rule():
    # RRAM cores with read noise and variation; the engine runs T then cuts (apply_exit). adc_peak is
    # the documented exception: the engine's is over all T timesteps.
    core = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12)
    rram = RramConfig(levels=33, adc_bits=8, adc_mux=4, variation=True, variation_sigma=0.2, array_variation=False,
                      read_noise=True, read_noise_sigma=0.05, stuck_faults=False, finite_on_off=True, ir_drop=False)
    chip = ChipConfig(name="rram", mesh_rows=2, mesh_cols=2, core=core, core_type="rram", rram=rram)
    rng = np.random.default_rng(4)
    net = random_network(rng, [40, 30, 10], core, weight_range=(-8, 8), threshold=20, fire_output=False)
    rchip = program_chip(map_network(net, chip), seed=2, adc_scales=[1, 2])
    raster = random_raster(rng, 7, 6, 40, 0.4)
    rule = parse_exit_rule("margin:10", 10)
    golden = simulate_rram(rchip, raster, first_index=3, exit_rule=rule)
    fast = run_rram(rchip, raster, first_index=3, chunk_size=3, threads=2, exit_rule=rule)
    assert 1 < len(set(golden.exit_timesteps.tolist()))
    assert_same(fast, golden, skip_extra=("adc_peak",))
    assert_rows_after_exit_are_zero(golden)
    for key in ("rram_counters", "read_conductance_us"):
        after = np.arange(6)[None, :] >= golden.exit_timesteps[:, None]
        assert not golden.extra[key][after].any()
    # the fixed-T engine run, cut: the same as the golden model under the rule
    assert_same(apply_exit(run_rram(rchip, raster, first_index=3), rule), golden, skip_extra=("adc_peak",))

"""The engine (hwsim.chip.Chip) against the golden model: every output and counter, bit for bit.

Random chips (mesh, A, N, P, bit widths, NoC costs), random networks mapped
with the mapper, hand-built programs with unusual routing (multicast, partial
ranges, skip connections from the host, non-row-major placement, gaps in
stage numbers), random programs with partial-sum chains (chip-spec §1.3),
random and adversarial inputs. The golden model is the
independent reference: it is plain Python written next to the spec.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hwsim.chip as chip_module
from hwsim.chip import Chip
from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.encoding import encode
from hwsim.errors import ConfigError, InputError, ProgramError
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import RunResult
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping import map_network

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = dict(
    integration=st.sampled_from(["discontinuous", "continuous"]),
    reset=st.sampled_from(["subtract", "zero"]),
)


def assert_same(got: RunResult, want: RunResult) -> None:
    """Every field of two results is identical (dtype, shape and values)."""
    for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert got.core_ids == want.core_ids
    assert got.readout == want.readout
    for name in ("membranes", "core_spikes"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if b is not None:
            assert len(a) == len(b)
            for k, (x, y) in enumerate(zip(a, b)):
                assert x.dtype == y.dtype, (name, k)
                np.testing.assert_array_equal(x, y, err_msg=f"{name}[{k}]")


def check(program: ChipProgram, raster: np.ndarray, record: bool = True, **run) -> RunResult:
    got = Chip.from_program(program).run(raster, record=record, **run)
    assert_same(got, simulate(program, raster, record=record))
    return got


# ----------------------------------------------------------------- random chips
@st.composite
def chips(draw, max_mesh: int = 3) -> ChipConfig:
    w_bits = draw(st.integers(2, 16))
    # v_bits = 16 (the default chip) has its own fast path: draw it often
    v_bits = draw(st.one_of(st.just(max(16, w_bits + 1)), st.integers(max(4, w_bits + 1), 32)))
    neurons = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24]))
    lanes = draw(st.sampled_from([d for d in range(1, neurons + 1) if neurons % d == 0]))
    core = CoreConfig(axons=draw(st.integers(1, 40)), neurons=neurons, lanes=lanes, w_bits=w_bits, v_bits=v_bits)
    return ChipConfig(
        name="random",
        mesh_rows=draw(st.integers(1, max_mesh)),
        mesh_cols=draw(st.integers(1, max_mesh)),
        hop_latency_cycles=draw(st.integers(0, 3)),
        barrier_cycles=draw(st.integers(0, 6)),
        core=core,
    )


@st.composite
def mapped_networks(draw):
    """(program, rng) for a random network that fits a random chip, randomly placed."""
    chip = draw(chips())
    cc = chip.core
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_layers = draw(st.integers(1, min(3, chip.n_cores)))
    budget = chip.n_cores
    sizes = [draw(st.integers(1, cc.axons))]
    for k in range(n_layers):
        left = n_layers - k - 1  # layers still to place need at least one core each
        parts = draw(st.integers(1, budget - left))
        budget -= parts
        limit = parts * cc.neurons if k == n_layers - 1 else min(parts * cc.neurons, cc.axons)
        sizes.append(draw(st.integers(1, limit)))
    threshold = draw(st.one_of(st.none(), st.integers(0, cc.v_max)))
    bias_hi = draw(st.sampled_from([1 << max(0, cc.w_bits - 2), cc.v_max]))
    net = random_network(
        rng,
        sizes,
        cc,
        integration=draw(MODES["integration"]),
        reset=draw(MODES["reset"]),
        leak_shift=draw(st.integers(0, cc.v_bits - 1)),
        threshold=threshold,
        fire_output=draw(st.booleans()),
        weight_range=draw(st.sampled_from([None, (cc.w_max, cc.w_max), (cc.w_min, cc.w_min), (cc.w_min, 0)])),
        bias_range=(-bias_hi - 1, bias_hi),
    )
    parts = sum(-(-n // cc.neurons) for n in sizes[1:])
    placement = [int(c) for c in rng.permutation(chip.n_cores)[:parts]]  # usually not row-major
    return map_network(net, chip, placement=placement), rng


@SETTINGS
@given(case=mapped_networks(), batch=st.integers(1, 3), timesteps=st.integers(1, 5),
       p=st.sampled_from([0.0, 0.1, 0.5, 1.0]), record=st.booleans())  # fmt: skip
def test_random_networks_match_golden(case, batch, timesteps, p, record):
    program, rng = case
    check(program, random_raster(rng, batch, timesteps, program.n_inputs, p), record=record)


# ----------------------------------------------------- hand-built programs
def _core(core, stage, weights, routes=(), output_offset=None, **registers):
    w = np.asarray(weights)
    return CoreProgram(core=core, stage=stage, weights=w, bias=registers.pop("bias", np.zeros(w.shape[1], int)),
                       threshold=registers.pop("threshold", 3), routes=tuple(routes), output_offset=output_offset,
                       **registers)  # fmt: skip


CHIP_3X3 = ChipConfig(name="hand", mesh_rows=3, mesh_cols=3, hop_latency_cycles=2, barrier_cycles=5,
                      core=CoreConfig(axons=16, neurons=8, lanes=2, w_bits=5, v_bits=9))  # fmt: skip


def unusual_program(rng, **registers) -> ChipProgram:
    """Stages 0, 2, 3, 5 (gaps), multicast with overlapping source ranges, partial ranges,
    host routes straight into later stages, two output cores, scattered placement."""
    cc = CHIP_3X3.core

    def w(a, n):
        return rng.integers(cc.w_min, cc.w_max + 1, (a, n))

    cores = (
        # core 8: neurons 0..5 -> core 4 axons 0..5, 2..7 -> core 2 axons 0..5, 6..7 -> core 4 axons 10..11
        _core(8, 0, w(10, 8), [Route(4, 0, 6, 0), Route(2, 2, 8, 0), Route(4, 6, 8, 10)], **registers),
        # core 1: neurons 0..3 -> core 4 axons 6..9
        _core(1, 0, w(5, 4), [Route(4, 0, 4, 6)], **registers),
        # core 4: neurons 0..3 -> core 2 axons 6..9, 4..6 -> core 6 axons 0..2
        _core(4, 2, w(12, 8), [Route(2, 0, 4, 6), Route(6, 4, 7, 0)], **registers),
        # output cores: core 2 (outputs 0..5; axons 10..13 unused), core 6 (outputs 6..7)
        _core(2, 5, w(16, 6), (), 0, **registers),
        _core(6, 3, w(6, 2), (), 6, **registers),
    )
    # host: inputs 0..9 -> core 8, 3..7 -> core 1, 12..13 -> core 2 axons 14..15, 0..2 -> core 6 axons 3..5
    host = (Route(8, 0, 10, 0), Route(1, 3, 8, 0), Route(2, 12, 14, 14), Route(6, 0, 3, 3))
    return ChipProgram(chip=CHIP_3X3, cores=cores, host_routes=host, n_inputs=14).validate()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), integration=MODES["integration"], reset=MODES["reset"],
       leak=st.integers(0, 8), threshold=st.integers(0, 255), p=st.sampled_from([0.0, 0.3, 1.0]))  # fmt: skip
def test_unusual_routing_matches_golden(seed, integration, reset, leak, threshold, p):
    rng = np.random.default_rng(seed)
    program = unusual_program(rng, integration=integration, reset=reset, leak_shift=leak, threshold=threshold)
    got = check(program, random_raster(rng, 2, 4, program.n_inputs, p))
    if p == 1.0:
        # every input spikes: the host sends one packet per (input, route) pair
        assert (got.host_counter("packets") == 10 + 5 + 2 + 3).all()


def test_unusual_program_hops_by_hand():
    # Host port sits at core 0 (row 0, col 0). Hops: core 8 (2,2) = 4, core 1 (0,1) = 1,
    # core 2 (0,2) = 2, core 6 (2,0) = 2. All 14 inputs spike: packets 10 + 5 + 2 + 3 = 20,
    # hops 10*4 + 5*1 + 2*2 + 3*2 = 55, route cycles 20 + 2 (hop latency) * 4 (max hops) = 28.
    program = unusual_program(np.random.default_rng(0))
    got = Chip.from_program(program).run(np.ones((1, 14), np.uint8))
    assert got.host_counters[0, 0].tolist() == [20, 55, 28]


@pytest.mark.parametrize("v_bits", [9, 16])
def test_adversarial_extremes_match_golden(v_bits):
    chip = CHIP_3X3.replace(core=CoreConfig(axons=16, neurons=8, lanes=2, w_bits=5, v_bits=v_bits))
    cc = chip.core
    for weights in (cc.w_max, cc.w_min):
        for integration in ("discontinuous", "continuous"):
            w = np.full((8, 8), weights)
            cores = (
                _core(0, 0, w, [Route(1, 0, 8, 0)], integration=integration, bias=np.full(8, cc.v_max),
                      threshold=cc.v_max),  # fmt: skip
                _core(1, 1, np.full((8, 4), weights), (), 0, integration=integration, threshold=0,
                      bias=np.full(4, cc.v_min)),  # fmt: skip
            )
            program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(0, 0, 8, 0),), n_inputs=8)
            for raster in (np.ones((2, 6, 8), np.uint8), np.zeros((2, 6, 8), np.uint8)):
                check(program, raster)  # engine == golden on every output and counter
            # all axons spiking with all-max weights drives stage-0 membranes into the rail
            ones = Chip.from_program(program).run(np.ones((1, 3, 8), np.uint8), record=True)
            if weights == cc.w_max:
                assert (ones.membranes[0][0, 0] == 0).all()  # v_max + bias -> v_max >= threshold, reset
            assert (ones.counter("synaptic_ops")[0, :, 0] == 8 * 8).all()


def test_none_spiking_costs_only_fixed_cycles():
    program = unusual_program(np.random.default_rng(1), threshold=CHIP_3X3.core.v_max)  # zero bias: silent
    got = check(program, np.zeros((1, 3, 14), np.uint8))
    # no spikes anywhere: host idle; every core: start 1 + integrate 0 + update G + done 1
    G = [-(-cp.n_neurons // CHIP_3X3.core.lanes) for cp in program.cores]
    assert (got.counter("cycles")[0] == np.array(G) + 2).all()
    assert (got.host_counters == 0).all()


# ------------------------------------------------------ partial sums (chip-spec §1.3)
# 2 x 2 mesh: core 0 (0,0), 1 (0,1), 2 (1,0), 3 (1,1); the host port sits at core 0. G = ceil(2 / 2) = 1.
PSUM_CHIP_2X2 = ChipConfig(name="psum_hand", mesh_rows=2, mesh_cols=2, hop_latency_cycles=2, barrier_cycles=3,
                           core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=4, v_bits=5,
                                           partial_sums=True))  # fmt: skip


def psum_hand_program(integration: str, reset: str) -> ChipProgram:
    """Core 3 (stage 0, partial-sum core) gets inputs 0..2 and sends its 2 membranes to core 1's neurons 0..1;
    core 1 (stage 1, output core, threshold 10) gets inputs 3..4 on its own axons. v_bits = 5: -16..15."""
    psum = _core(3, 0, [[7, -4], [7, -8], [7, 4]], [Route(1, 0, 2, 0)], fire=False, psum_out=True)
    final = _core(1, 1, [[2, 5], [-3, 4]], (), 0, threshold=10, integration=integration, reset=reset)
    host = (Route(3, 0, 3, 0), Route(1, 3, 5, 0))
    return ChipProgram(chip=PSUM_CHIP_2X2, cores=(psum, final), host_routes=host, n_inputs=5).validate()


# inputs per timestep: t0 all five, t1 inputs 0 and 3, t2 inputs 0 and 2, t3 none
PSUM_HAND_RASTER = np.array([[[1, 1, 1, 1, 1], [1, 0, 0, 1, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 0]]], np.uint8)


@pytest.mark.parametrize("integration", ["discontinuous", "continuous"])
def test_partial_sum_chain_by_hand(integration):
    program = psum_hand_program(integration, "zero" if integration == "discontinuous" else "subtract")
    got = Chip.from_program(program).run(PSUM_HAND_RASTER, record=True)
    # Core 3 (discontinuous, saturating to -16..15 after every add):
    #   t0 axons 0,1,2: [7,-4] -> [14,-12] -> [sat 21 = 15, -8];  t1 axon 0: [7,-4]
    #   t2 axons 0,2:   [7,-4] -> [14, 0] (neuron 1 is 0: not sent); t3 nothing: [0, 0] (nothing sent)
    assert got.membranes[0][0].tolist() == [[15, -8], [7, -4], [14, 0], [0, 0]]
    assert (got.core_spikes[0] == 0).all()  # fire = 0
    # Core 1: START, MERGE (+ the partial sums), then its axons 3, 4 -> rows [2, 5], [-3, 4], threshold 10.
    if integration == "discontinuous":  # reset to zero
        # t0 [15,-8] +[2,5] -> [sat 17 = 15, -3] +[-3,4] -> [12, 1]: neuron 0 fires, -> [0, 1]
        # t1 [7,-4] +[2,5] -> [9, 1]: no spike.  t2 [14, 0] (no axon): neuron 0 fires -> [0, 0].  t3 [0, 0]
        membranes, spikes = [[0, 1], [9, 1], [0, 0], [0, 0]], [[1, 0], [0, 0], [1, 0], [0, 0]]
    else:  # continuous, reset by subtraction
        # t0 as above: [12, 1] -> neuron 0 fires, 12 - 10 -> [2, 1]
        # t1 [2,1] + [7,-4] = [9,-3] +[2,5] -> [11, 2]: fires -> [1, 2]
        # t2 [1,2] + [14, 0] = [15, 2]: fires -> [5, 2].  t3 no partial sum, no axon: [5, 2], 5 < 10
        membranes, spikes = [[2, 1], [1, 2], [5, 2], [5, 2]], [[1, 0], [1, 0], [1, 0], [0, 0]]
    assert got.membranes[1][0].tolist() == membranes
    assert got.output_membranes[0].tolist() == membranes
    assert got.output_spikes[0].tolist() == spikes
    # Counters (axon_events, sram_word_reads, synaptic_ops, neuron_updates, output_spikes, packets, hops, cycles).
    # Core 3: 1 hop to core 1; packets = nonzero partial sums (2, 2, 1, 0); cycles = 1 + (n_spk + 1 if n_spk) + 1 + 1.
    assert got.counters[0, :, 0].tolist() == [[3, 3, 6, 2, 0, 2, 2, 7], [1, 1, 2, 2, 0, 2, 2, 5],
                                              [2, 2, 4, 2, 0, 1, 1, 6], [0, 0, 0, 2, 0, 0, 0, 3]]  # fmt: skip
    # Core 1, a receiver: cycles = 1 + MERGE 1 (every timestep, even t3 with no packet) + integrate + 1 + 1.
    fired = [sum(row) for row in spikes]
    assert got.counters[0, :, 1].tolist() == [[2, 2, 4, 2, fired[0], 0, 0, 7], [1, 1, 2, 2, fired[1], 0, 0, 6],
                                              [0, 0, 0, 2, fired[2], 0, 0, 4], [0, 0, 0, 2, fired[3], 0, 0, 4]]
    # Host: core 3 is 2 hops away, core 1 is 1; route cycles = packets + 2 (hop latency) * 2 (max hops).
    # t0: 3 + 2 packets, 3*2 + 2*1 = 8 hops; t1: 1 + 1, 3 hops; t2: 2 + 0, 4 hops; t3 nothing.
    assert got.host_counters[0].tolist() == [[5, 8, 9], [2, 3, 6], [2, 4, 6], [0, 0, 0]]
    # timestep = barrier 3 + host route + stage 0 (core 3 cycles + its route cycles: packets + 2 * 1 hop)
    #            + stage 1 (core 1 cycles, no packets): t0 3+9+(7+4)+7, t1 3+6+(5+4)+6, t2 3+6+(6+3)+4, t3 3+0+3+4
    assert got.timestep_cycles[0].tolist() == [30, 24, 22, 10]
    assert_same(got, simulate(program, PSUM_HAND_RASTER, record=True))


def test_partial_sums_reach_only_the_neurons_their_routes_name():
    # Core 2 (psum, 2 neurons) sends neuron 1 only, to core 3's neuron 2 (src 1..2, offset 2); core 3 has
    # 3 neurons, one axon of weight [1, 1, 1] fed by input 1. Input 0 feeds core 2's one axon, weights [5, 6].
    # Core 3 membranes (discontinuous, threshold 31 = never): t0 (both inputs): [1, 1, 1 + 6] = [1, 1, 7]
    # (neuron 0 of core 2, value 5, has no route: not sent, not merged). Core 2 sends 1 packet of 1 hop.
    psum = _core(2, 0, [[5, 6]], [Route(3, 1, 2, 2)], fire=False, psum_out=True)
    final = _core(3, 1, [[1, 1, 1]], (), 0, threshold=15, fire=False)
    program = ChipProgram(chip=PSUM_CHIP_2X2, cores=(psum, final), host_routes=(Route(2, 0, 1, 0), Route(3, 1, 2, 0)),
                          n_inputs=2).validate()  # fmt: skip
    got = check(program, np.array([[[1, 1], [1, 0]]], np.uint8))
    # t1 (input 0 only): core 3 = [0, 0, 6]
    assert got.membranes[1][0].tolist() == [[1, 1, 7], [0, 0, 6]]
    assert got.counter("packets")[0, :, 0].tolist() == [1, 1] and got.counter("hops")[0, :, 0].tolist() == [1, 1]


def psum_chips(draw) -> ChipConfig:
    """A small chip with partial sums: both kernel variants (int8/int16 and int16/int32) and the v_bits = 16 path."""
    w_bits = draw(st.sampled_from([3, 4, 8, 12]))
    v_bits = draw(st.sampled_from(sorted({max(6, w_bits + 2), 16, 17, 32})))
    neurons = draw(st.sampled_from([2, 4, 6, 8]))
    lanes = draw(st.sampled_from([d for d in (1, 2, 3, 4) if neurons % d == 0]))
    return psum_test_chip(draw(st.integers(3, 4)), draw(st.integers(3, 4)), axons=draw(st.integers(3, 10)),
                          neurons=neurons, lanes=lanes, w_bits=w_bits, v_bits=v_bits,
                          barrier_cycles=draw(st.integers(0, 5)),
                          hop_latency_cycles=draw(st.integers(0, 3)))  # fmt: skip


@st.composite
def psum_programs(draw):
    """(program, rng): a random program with partial-sum chains (hwsim.testing.random_psum_program)."""
    chip = psum_chips(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    program = random_psum_program(rng, chip, saturating=draw(st.sampled_from([None, True, False])),
                                  integration=draw(st.sampled_from([None, "discontinuous", "continuous"])))  # fmt: skip
    return program, rng


@SETTINGS
@given(case=psum_programs(), batch=st.integers(1, 3), timesteps=st.integers(1, 5),
       p=st.sampled_from([0.0, 0.1, 0.5, 1.0]), record=st.booleans())  # fmt: skip
def test_random_psum_programs_match_golden(case, batch, timesteps, p, record):
    program, rng = case
    assert any(cp.psum_out for cp in program.cores)
    check(program, random_raster(rng, batch, timesteps, program.n_inputs, p), record=record)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_saturating_psum_programs_match_golden(seed):
    # full-range weights on v_bits = 6: partial sums and merges hit the rails, so the order of additions shows
    rng = np.random.default_rng(seed)
    for integration in ("discontinuous", "continuous"):
        program = random_psum_program(rng, psum_test_chip(), saturating=True, integration=integration, max_chain=3,
                                      min_psum_cores=2)  # fmt: skip
        got = check(program, random_raster(rng, 4, 6, program.n_inputs, 0.6))
        psum_cols = [k for k, cp in enumerate(program.cores) if cp.psum_out]
        assert got.counter("packets")[..., psum_cols].sum() > 0  # partial sums were really sent


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
@pytest.mark.parametrize("seed", [4, 5])
def test_psum_programs_same_bits_with_one_and_two_threads(seed):
    rng = np.random.default_rng(seed)
    program = random_psum_program(rng, psum_test_chip(), min_psum_cores=2)
    images = rng.random((120, program.n_inputs))
    chip = Chip.from_program(program)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = chip.run(images, timesteps=4, seed=seed, record=True)
        numba.set_num_threads(2)
        two = chip.run(images, timesteps=4, seed=seed, record=True, chunk_size=50)
    finally:
        numba.set_num_threads(before)
    assert_same(two, one)
    assert_same(_head(one, 6), simulate(program, encode(images[:6], 4, "rate", seed=seed), record=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mapped_fanin_beyond_one_core_matches_golden(seed):
    # fan-ins of 40 and 20 on 16-axon cores: the mapper splits them into partial-sum chains (chip-spec §1.3)
    chip = psum_test_chip(4, 4, axons=16, neurons=8, lanes=2, w_bits=5, v_bits=9)
    rng = np.random.default_rng(seed)
    net = random_network(rng, [40, 20, 10], chip.core, integration=["discontinuous", "continuous"][seed % 2],
                         leak_shift=seed)  # fmt: skip
    program = map_network(net, chip, placement="row_major")
    assert sum(cp.psum_out for cp in program.cores) >= 2
    check(program, random_raster(rng, 3, 5, program.n_inputs, 0.4))


def _head(result: RunResult, n: int) -> RunResult:
    """The first ``n`` images of a result."""
    return RunResult(
        output_spikes=result.output_spikes[:n], output_membranes=result.output_membranes[:n],
        counters=result.counters[:n], host_counters=result.host_counters[:n],
        timestep_cycles=result.timestep_cycles[:n], core_ids=result.core_ids, readout=result.readout,
        membranes=None if result.membranes is None else [m[:n] for m in result.membranes],
        core_spikes=None if result.core_spikes is None else [s[:n] for s in result.core_spikes],
    )  # fmt: skip


# ------------------------------------------------- threads, order, chunks, input forms
@pytest.fixture
def mid_program():
    rng = np.random.default_rng(7)
    chip = ChipConfig(name="mid", mesh_rows=2, mesh_cols=3,
                      core=CoreConfig(axons=48, neurons=16, lanes=4, w_bits=6, v_bits=11))  # fmt: skip
    net = random_network(rng, [40, 30, 12], chip.core, integration="continuous", leak_shift=2)
    return map_network(net, chip, placement=[5, 0, 3])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
def test_same_result_with_one_and_two_threads(mid_program, monkeypatch):
    raster = random_raster(np.random.default_rng(3), 200, 4, mid_program.n_inputs, 0.4)
    chip = Chip.from_program(mid_program)
    real = chip_module.chip_pass
    threads: list[int] = []
    # The first two kernel calls must meet here at the same time: proof that two threads really run.
    meet = threading.Barrier(2, timeout=60)

    def spy(*args):
        threads.append(threading.get_ident())
        if len(threads) <= 2:
            meet.wait()
        return real(*args)

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = chip.run(raster, record=True)
        monkeypatch.setattr(chip_module, "chip_pass", spy)
        numba.set_num_threads(2)
        two = chip.run(raster, record=True, chunk_size=90)  # several chunks, each several tasks
    finally:
        numba.set_num_threads(before)
    assert len(set(threads)) >= 2 and len(threads) > 2  # the last, short chunk may run on the caller
    assert_same(two, one)
    head = RunResult.concatenate([chip.run(raster[:3], record=True), chip.run(raster[3:6], record=True)])
    assert_same(head, simulate(mid_program, raster[:6], record=True))


def test_batch_order_does_not_matter(mid_program):
    raster = random_raster(np.random.default_rng(4), 37, 3, mid_program.n_inputs, 0.3)
    chip = Chip.from_program(mid_program)
    perm = np.random.default_rng(5).permutation(len(raster))
    a, b = chip.run(raster, record=True), chip.run(raster[perm], record=True)
    for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles"):
        np.testing.assert_array_equal(getattr(a, name)[perm], getattr(b, name), err_msg=name)
    for x, y in zip(a.membranes, b.membranes):
        np.testing.assert_array_equal(x[perm], y)


def test_images_are_encoded_chunk_by_chunk(mid_program, monkeypatch):
    images = np.random.default_rng(6).random((11, mid_program.n_inputs))
    calls = []
    real = chip_module.encode

    def spy(x, timesteps, encoding, seed, first_index):
        calls.append((len(x), first_index))
        return real(x, timesteps, encoding, seed, first_index=first_index)

    monkeypatch.setattr(chip_module, "encode", spy)
    chip = Chip.from_program(mid_program)
    for encoding in ("rate", "threshold", "latency"):
        calls.clear()
        got = chip.run(images, timesteps=5, encoding=encoding, seed=9, chunk_size=4, record=True)
        assert calls == [(4, 0), (4, 4), (3, 8)]  # never the whole batch's raster at once
        assert_same(got, simulate(mid_program, encode(images, 5, encoding, seed=9), record=True))


def test_progress_bar_and_single_raster(mid_program, capsys):
    raster = random_raster(np.random.default_rng(8), 1, 3, mid_program.n_inputs, 0.5)[0]  # (T, n_in)
    got = Chip.from_program(mid_program).run(raster.astype(bool), progress=True)
    assert "image" in capsys.readouterr().err
    assert_same(got, simulate(mid_program, raster))


def test_float_and_int_rasters(mid_program):
    raster = random_raster(np.random.default_rng(9), 2, 3, mid_program.n_inputs, 0.5)
    chip = Chip.from_program(mid_program)
    want = simulate(mid_program, raster)
    for dtype in (np.float32, np.int64, np.bool_):
        assert_same(chip.run(raster.astype(dtype)), want)
    assert_same(chip.run(raster, timesteps=3), want)


def test_constructors(mid_program, tmp_path):
    a = Chip.from_config(mid_program.chip).load(mid_program)
    assert a.program is mid_program
    path = tmp_path / "chip.toml"
    path.write_text('name = "mid"\nmesh_rows = 2\nmesh_cols = 3\n[core]\naxons = 48\nneurons = 16\nlanes = 4\n'
                    'w_bits = 6\nv_bits = 11\n')  # fmt: skip
    b = Chip.from_config(path).load(mid_program)
    raster = random_raster(np.random.default_rng(10), 2, 3, mid_program.n_inputs, 0.5)
    assert_same(b.run(raster), a.run(raster))
    assert Chip.from_config("small").config.core.axons == 64


def test_bad_input_is_rejected_with_clear_errors(mid_program):
    chip = Chip.from_program(mid_program)
    n = mid_program.n_inputs
    good = np.zeros((2, 3, n), np.uint8)
    with pytest.raises(ProgramError, match="no program loaded"):
        Chip.from_config(mid_program.chip).run(good)
    with pytest.raises(ProgramError, match="mesh_cols = 3, this chip has mesh_cols = 2"):
        Chip.from_config("small").load(mid_program)
    with pytest.raises(ConfigError, match="no such preset"):
        Chip.from_config("nope")
    bad = good.copy()
    bad[1, 2, 3] = 2
    with pytest.raises(InputError, match="binary"):
        chip.run(bad)
    with pytest.raises(InputError, match="binary"):
        chip.run(good.astype(np.float64) + 0.5)
    with pytest.raises(InputError, match=f"{n + 1} inputs"):
        chip.run(np.zeros((2, 3, n + 1), np.uint8))
    with pytest.raises(InputError, match="timesteps = 4"):
        chip.run(good, timesteps=4)
    with pytest.raises(InputError, match="timesteps = 0"):
        chip.run(np.zeros((2, n)), timesteps=0)
    with pytest.raises(InputError, match="encoding = 'morse'"):
        chip.run(np.zeros((2, n)), timesteps=2, encoding="morse")
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        chip.run(np.full((2, n), 1.5), timesteps=2)
    with pytest.raises(InputError, match="chunk_size = 0"):
        chip.run(good, chunk_size=0)
    with pytest.raises(InputError, match="shape"):
        chip.run(np.zeros((1, 2, 3, n)))


def test_empty_batch(mid_program):
    got = Chip.from_program(mid_program).run(np.zeros((0, 3, mid_program.n_inputs), np.uint8))
    assert got.output_spikes.shape == (0, 3, mid_program.n_outputs)
    assert got.counters.shape == (0, 3, len(mid_program.cores), 8)


def test_rram_chips_are_refused_by_the_digital_engine_and_golden_model():
    """An RRAM program run as a digital chip would give plausible but wrong counters; refuse it."""
    rram = load_chip_config("rram")
    with pytest.raises(ConfigError, match="core_type = 'rram'; hwsim.Chip runs digital cores"):
        Chip.from_config(rram)
    net = random_network(np.random.default_rng(1), [20, 8], rram.core)
    program = map_network(net, rram, placement="row_major")
    with pytest.raises(ConfigError, match="hwsim.rram.program_chip"):
        Chip.from_program(program)
    with pytest.raises(ProgramError, match="core_type = 'rram'; hwsim.golden.simulate models digital"):
        simulate(program, np.zeros((2, 20), np.uint8))
    digital = map_network(net, load_chip_config("default_28nm"), placement="row_major")
    with pytest.raises(ProgramError, match="program is for a chip with core_type = 'rram'"):
        Chip.from_config("default_28nm").load(program)
    Chip.from_config("default_28nm").load(digital)

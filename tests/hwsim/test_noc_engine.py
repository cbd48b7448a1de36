"""The engine under ``noc = "mesh"`` (chip-spec §1.5) against the golden model, field by field.

Every comparison is with :func:`hwsim.golden.simulate`, whose routers are the spec's cycle-by-cycle model
(:mod:`hwsim.golden.noc`): random mapped programs on small meshes (1xN and Nx1 included, buffer depths 1..4,
hop latencies 1..3), partial-sum programs, hand-built hot spots, wide multicast, one-slot buffers, exit rules,
recording, two threads and chunking. A few facts the spec states are checked on the engine alone: a lone
stream lasts §1.2's formula, a hot spot needs at least one cycle per packet it receives, ``buffer_writes`` equals
the hops of all senders, and the ideal NoC's counters.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.chip import Chip
from hwsim.config import ChipConfig, CoreConfig
from hwsim.exit_unit import apply_exit, parse_exit_rule
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import LINK_COUNTER_NAMES, NOC_COUNTER_NAMES, RunResult
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping.mapper import map_network
from mapping.errors import MappingError

FIELDS = ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles", "exit_timesteps",
          "exit_counters", "noc_counters")  # fmt: skip
SHAPES = [(2, 3), (1, 5), (5, 1), (3, 3), (1, 3), (2, 2)]


def assert_same(got: RunResult, want: RunResult) -> None:
    """Every field of two results is equal (arrays bit for bit, link counters both None or equal)."""
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert (got.core_ids, got.readout, got.exit_rule) == (want.core_ids, want.readout, want.exit_rule)
    assert (got.link_counters is None) == (want.link_counters is None)
    if want.link_counters is not None:
        np.testing.assert_array_equal(got.link_counters, want.link_counters, err_msg="link_counters")
    assert (got.membranes is None) == (want.membranes is None)
    for name in ("membranes", "core_spikes"):
        for g, w in zip(getattr(got, name) or [], getattr(want, name) or []):
            np.testing.assert_array_equal(g, w, err_msg=name)


def noc(result: RunResult, name: str) -> np.ndarray:
    return result.noc_counter(name)


def mesh_chip(rng, rows: int, cols: int, **core) -> ChipConfig:
    core = CoreConfig(**{"axons": 16, "neurons": 8, "lanes": 2, **core})
    return ChipConfig(name="mesh", mesh_rows=rows, mesh_cols=cols, hop_latency_cycles=int(rng.integers(1, 4)),
                      router_buffer_flits=int(rng.integers(1, 5)), core=core, noc="mesh")  # fmt: skip


def random_mesh_program(rng, rows: int, cols: int) -> ChipProgram:
    """A random 3-layer network mapped onto a rows x cols mesh (>= 3 cores; row-major or annealed placement)."""
    chip = mesh_chip(rng, rows, cols)
    hidden_cores = rows * cols - 2  # one core or more for the hidden layer, one for the outputs, one spare
    for _ in range(50):
        sizes = [int(rng.integers(4, 20)), int(rng.integers(2, 8 * max(1, hidden_cores) + 1)), int(rng.integers(2, 8))]
        net = random_network(rng, sizes, chip.core, integration=str(rng.choice(["discontinuous", "continuous"])),
                             threshold=int(rng.integers(1, 40)))  # fmt: skip
        try:
            return map_network(net, chip, placement=str(rng.choice(["row_major", "anneal"])), seed=int(rng.integers(9)))
        except MappingError:  # too big for this mesh: draw again
            continue
    raise AssertionError(f"no random network fits a {rows}x{cols} mesh")


# ---------------------------------------------------------------- against the golden model
@pytest.mark.parametrize("seed", range(12))
def test_random_programs_equal_golden(seed):
    rng = np.random.default_rng(seed)
    program = random_mesh_program(rng, *SHAPES[seed % len(SHAPES)])
    raster = random_raster(rng, 3, 4, program.n_inputs, float(rng.choice([0.2, 0.5, 0.9])))
    want = simulate(program, raster)
    assert want.link_counters is not None
    assert_same(Chip.from_program(program).run(raster), want)


def test_random_programs_have_contention():
    # the comparisons above are not between contention-free runs: across them packets wait
    stalls = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        program = random_mesh_program(rng, *SHAPES[seed % len(SHAPES)])
        raster = random_raster(rng, 3, 4, program.n_inputs, float(rng.choice([0.2, 0.5, 0.9])))
        stalls += int(noc(Chip.from_program(program).run(raster), "stall_cycles").sum())
    assert stalls > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), shape=st.sampled_from(SHAPES), record=st.booleans())
def test_property_engine_equals_golden(seed, shape, record):
    rng = np.random.default_rng(seed)
    program = random_mesh_program(rng, *shape)
    raster = random_raster(rng, 2, 3, program.n_inputs, float(rng.choice([0.1, 0.5, 1.0])))
    assert_same(Chip.from_program(program).run(raster, record=record), simulate(program, raster, record=record))


@pytest.mark.parametrize("seed", range(6))
def test_partial_sum_programs_equal_golden(seed):
    rng = np.random.default_rng(seed)
    chip = psum_test_chip(3, 4, hop_latency_cycles=int(rng.integers(1, 4))).replace(
        noc="mesh", router_buffer_flits=int(rng.integers(1, 5)))  # fmt: skip
    program = random_psum_program(rng, chip, min_psum_cores=2)
    raster = random_raster(rng, 3, 4, program.n_inputs, 0.6)
    want = simulate(program, raster, record=True)
    got = Chip.from_program(program).run(raster, record=True)
    assert_same(got, want)
    psum_cols = [k for k, cp in enumerate(program.cores) if cp.psum_out]
    assert got.counter("packets")[..., psum_cols].sum() > 0  # partial sums really crossed the mesh


def hot_spot_program(depth: int, latency: int) -> ChipProgram:
    """3x3 mesh. The host feeds 8 stage-0 cores (inputs 8k..8k+7 to core k+1); every one of them sends all its
    8 neurons to core 0 (a hot spot: 64 packets into one core per timestep when every input spikes)."""
    chip = ChipConfig(name="hot", mesh_rows=3, mesh_cols=3, hop_latency_cycles=latency, router_buffer_flits=depth,
                      core=CoreConfig(axons=64, neurons=8, lanes=2), noc="mesh")  # fmt: skip
    eye = np.eye(8, dtype=int) * 5  # input j of a core drives its neuron j over the threshold
    cores = [CoreProgram(core=c, stage=0, weights=eye, bias=np.zeros(8, int), threshold=3,
                         routes=(Route(0, 0, 8, 8 * (c - 1)),)) for c in range(1, 9)]  # fmt: skip
    sink = CoreProgram(core=0, stage=1, weights=np.ones((64, 2), int), bias=np.zeros(2, int), threshold=1000,
                       fire=False, output_offset=0)  # fmt: skip
    host = tuple(Route(c, 8 * (c - 1), 8 * c, 0) for c in range(1, 9))
    return ChipProgram(chip=chip, cores=(*cores, sink), host_routes=host, n_inputs=64).validate()


def multicast_program(depth: int, latency: int) -> ChipProgram:
    """3x3 mesh. Core 4 (the centre, stage 0) sends each of its 8 neurons to all 8 other cores (8 routing entries:
    8 packets per spike, replicated at the source, chip-spec §1.5); those are the output cores."""
    chip = ChipConfig(name="multicast", mesh_rows=3, mesh_cols=3, hop_latency_cycles=latency,
                      router_buffer_flits=depth, core=CoreConfig(axons=8, neurons=8, lanes=2), noc="mesh")  # fmt: skip
    others = [0, 1, 2, 3, 5, 6, 7, 8]
    centre = CoreProgram(core=4, stage=0, weights=np.eye(8, dtype=int) * 5, bias=np.zeros(8, int), threshold=3,
                         routes=tuple(Route(d, 0, 8, 0) for d in others))  # fmt: skip
    outputs = [CoreProgram(core=d, stage=1, weights=np.eye(8, dtype=int), bias=np.zeros(8, int), threshold=1,
                           output_offset=8 * k) for k, d in enumerate(others)]  # fmt: skip
    return ChipProgram(chip=chip, cores=(centre, *outputs), host_routes=(Route(4, 0, 8, 0),), n_inputs=8).validate()


@pytest.mark.parametrize("depth,latency", [(1, 1), (1, 3), (2, 2), (4, 1), (4, 3)])
def test_hot_spot_equals_golden_and_needs_a_cycle_per_packet(depth, latency):
    program = hot_spot_program(depth, latency)
    raster = np.ones((2, 2, 64), np.uint8)
    raster[1, 1, ::3] = 0
    got = Chip.from_program(program).run(raster, record=True)
    assert_same(got, simulate(program, raster, record=True))
    # ROUTE(0): 64 packets into core 0 (all inputs spike), delivered one per cycle at most (chip-spec §1.5)
    route0 = got.noc_counter("route_cycles")[0, 0] - got.host_counter("route_cycles")[0, 0]
    assert route0 >= 64
    assert got.link_counters[0, 0, LINK_COUNTER_NAMES.index("packets")] == got.counter("packets")[..., :8].sum()
    assert noc(got, "stall_cycles").sum() > 0


@pytest.mark.parametrize("depth,latency", [(1, 2), (3, 1), (4, 3)])
def test_multicast_equals_golden(depth, latency):
    program = multicast_program(depth, latency)
    raster = random_raster(np.random.default_rng(depth), 3, 3, 8, 0.7)
    got = Chip.from_program(program).run(raster, record=True)
    assert_same(got, simulate(program, raster, record=True))
    spikes = got.counter("output_spikes")[..., 0]
    np.testing.assert_array_equal(got.counter("packets")[..., 0], 8 * spikes)  # one packet per entry per spike
    assert spikes.sum() > 0


@pytest.mark.parametrize("latency,hops", [(1, 1), (2, 3), (3, 4)])
def test_a_lone_stream_lasts_the_ideal_formula(latency, hops):
    # chip-spec §1.5's check: one sender, P packets to one core h hops away, depth >= latency + 1:
    # P + latency * h cycles. 1x5 mesh: the host (router 0) feeds core `hops` directly.
    chip = ChipConfig(name="line", mesh_rows=1, mesh_cols=5, hop_latency_cycles=latency,
                      router_buffer_flits=latency + 1, core=CoreConfig(axons=16, neurons=2, lanes=2), noc="mesh")
    core = CoreProgram(core=hops, stage=0, weights=np.zeros((16, 2), int), bias=np.zeros(2, int), threshold=1,
                       fire=False, output_offset=0)  # fmt: skip
    program = ChipProgram(chip=chip, cores=(core,), host_routes=(Route(hops, 0, 16, 0),), n_inputs=16).validate()
    raster = np.zeros((1, 3, 16), np.uint8)
    raster[0, 0, :5] = 1  # P = 5
    raster[0, 1, :16] = 1  # P = 16
    got = Chip.from_program(program).run(raster)
    assert got.host_counter("route_cycles")[0].tolist() == [5 + latency * hops, 16 + latency * hops, 0]
    assert noc(got, "stall_cycles").sum() == 0
    assert noc(got, "buffer_writes")[0].tolist() == [5 * hops, 16 * hops, 0]
    assert_same(got, simulate(program, raster))


def test_one_slot_buffers_slow_a_lone_stream():
    # depth 1 < latency + 1: a buffer takes a new packet only after the last one left, so the stream crawls
    chip = ChipConfig(name="line", mesh_rows=1, mesh_cols=3, hop_latency_cycles=2, router_buffer_flits=1,
                      core=CoreConfig(axons=16, neurons=2, lanes=2), noc="mesh")
    core = CoreProgram(core=2, stage=0, weights=np.zeros((16, 2), int), bias=np.zeros(2, int), threshold=1,
                       fire=False, output_offset=0)  # fmt: skip
    program = ChipProgram(chip=chip, cores=(core,), host_routes=(Route(2, 0, 16, 0),), n_inputs=16).validate()
    raster = np.ones((1, 1, 16), np.uint8)
    got = Chip.from_program(program).run(raster)
    assert got.host_counter("route_cycles")[0, 0] > 16 + 2 * 2
    assert noc(got, "stall_cycles")[0, 0] > 0
    assert_same(got, simulate(program, raster))


def three_entry_host_program(depth: int, latency: int) -> ChipProgram:
    """1x5 mesh, host (router 0) alone in its phase with three routing entries, in table order: inputs 0..15 to
    core 4 (4 hops), 8..15 to core 0 (0 hops: the host's own router), 4..11 to core 2 (2 hops)."""
    chip = ChipConfig(name="line", mesh_rows=1, mesh_cols=5, hop_latency_cycles=latency, router_buffer_flits=depth,
                      core=CoreConfig(axons=16, neurons=2, lanes=2), noc="mesh")  # fmt: skip
    cores = tuple(CoreProgram(core=c, stage=0, weights=np.zeros((16, 2), int), bias=np.zeros(2, int), threshold=1,
                              fire=False, output_offset=2 * k) for k, c in enumerate((0, 2, 4)))  # fmt: skip
    host = (Route(4, 0, 16, 0), Route(0, 8, 16, 0), Route(2, 4, 12, 0))
    return ChipProgram(chip=chip, cores=cores, host_routes=host, n_inputs=16).validate()


@pytest.mark.parametrize("latency", [1, 2, 3])
def test_a_lone_sender_with_several_entries_is_its_closed_form(latency):
    # The engine's closed form for a phase with one sender, per routing entry (hwsim.kernels.noc._lone_sender), against
    # a hand count. Inputs 1, 5, 9, 15 spike; packets in injection order (sources ascending, entries in table order):
    # 1 -> core 4; 5 -> core 4, core 2; 9 -> core 4, core 0, core 2; 15 -> core 4, core 0. Packet i (from 1) arrives
    # in cycle i + latency * hops: the last delivery is packet 7 (core 4, 4 hops), not packet 8 (core 0, 0 hops).
    program = three_entry_host_program(depth=latency + 1, latency=latency)
    raster = np.zeros((1, 2, 16), np.uint8)
    raster[0, 0, [1, 5, 9, 15]] = 1
    raster[0, 1, [8, 12]] = 1  # 8 -> core 4, core 0, core 2; 12 -> core 4, core 0: packet 4 (core 4) last
    got = Chip.from_program(program).run(raster)
    assert got.host_counter("route_cycles")[0].tolist() == [7 + 4 * latency, 4 + 4 * latency]
    assert noc(got, "buffer_writes")[0].tolist() == [4 * 4 + 2 * 2, 2 * 4 + 2]
    assert noc(got, "stall_cycles").sum() == 0
    # per link: core 4's packets cross routers 0..3 eastwards, core 2's routers 0..1
    east = got.link_counters[:, 2, LINK_COUNTER_NAMES.index("packets")]
    assert east.tolist() == [4 + 2 + 2 + 1, 4 + 2 + 2 + 1, 4 + 2, 4 + 2, 0]
    assert_same(got, simulate(program, raster))


def test_a_lone_sender_with_one_slot_buffers_is_not_its_closed_form():
    # the counterexample: buffers of hop_latency_cycles packets or fewer slow a lone stream, so the closed form must
    # not be used; the engine simulates it and agrees with the golden model, which takes longer than the formula
    program = three_entry_host_program(depth=1, latency=1)
    raster = np.zeros((1, 1, 16), np.uint8)
    raster[0, 0, [1, 5, 9, 15]] = 1
    got = Chip.from_program(program).run(raster)
    assert got.host_counter("route_cycles")[0, 0] > 7 + 4 * 1
    assert_same(got, simulate(program, raster))


def shared_stage_program(output_sends: bool) -> ChipProgram:
    """2x2 mesh. Stage 0: core 1 (sends its 4 neurons to core 3) and core 2, an output core with no routing entries
    (``output_sends=False``) or a core that sends its 4 neurons to core 3 as well. Stage 1: core 3 (outputs)."""
    chip = ChipConfig(name="shared", mesh_rows=2, mesh_cols=2, hop_latency_cycles=1, router_buffer_flits=2,
                      core=CoreConfig(axons=8, neurons=4, lanes=2), noc="mesh")  # fmt: skip
    eye = np.eye(4, dtype=int) * 5  # input j of a core drives its neuron j over the threshold
    first = CoreProgram(core=1, stage=0, weights=np.vstack([eye, eye]), bias=np.zeros(4, int), threshold=3,
                        routes=(Route(3, 0, 4, 0),))  # fmt: skip
    second = CoreProgram(core=2, stage=0, weights=np.vstack([eye, eye]), bias=np.zeros(4, int), threshold=3,
                         **({"routes": (Route(3, 0, 4, 4),)} if output_sends else {"output_offset": 0}))  # fmt: skip
    sink = CoreProgram(core=3, stage=1, weights=np.ones((8, 4), int), bias=np.zeros(4, int), threshold=1000,
                       output_offset=0 if output_sends else 4)  # fmt: skip
    host = (Route(1, 0, 8, 0), Route(2, 0, 8, 0))
    return ChipProgram(chip=chip, cores=(first, second, sink), host_routes=host, n_inputs=8).validate()


@pytest.mark.parametrize("output_sends", [False, True])
def test_a_stage_with_one_core_that_routes_is_a_lone_sender(output_sends):
    # ROUTE(0) has two cores that spike; only core 1 has routing entries unless output_sends. With one sender that
    # routes, the phase is core 1's stream alone (4 packets, 1 hop: 4 + 1 cycles, the closed form); when core 2
    # routes to core 3 too, both streams meet at core 3's local output (8 packets: at least 8 cycles), simulated
    program = shared_stage_program(output_sends)
    raster = np.ones((1, 1, 8), np.uint8)
    got = Chip.from_program(program).run(raster)
    assert_same(got, simulate(program, raster))
    route0 = got.noc_counter("route_cycles")[0, 0] - got.host_counter("route_cycles")[0, 0]
    assert got.counter("output_spikes")[0, 0, :2].tolist() == [4, 4]  # both stage-0 cores spike
    assert route0 == (9 if output_sends else 4 + 1)  # golden's count with both: 8 packets through one local output


@pytest.mark.parametrize("seed", range(4))
def test_buffer_writes_are_the_hops_of_every_sender(seed):
    rng = np.random.default_rng(seed)
    program = random_mesh_program(rng, *SHAPES[seed])
    got = Chip.from_program(program).run(random_raster(rng, 4, 3, program.n_inputs, 0.5))
    hops = got.counter("hops").sum(axis=-1) + got.host_counter("hops")
    np.testing.assert_array_equal(noc(got, "buffer_writes"), hops)
    # every packet is delivered once: the local outputs' packets are all packets sent
    packets = got.counter("packets").sum() + got.host_counter("packets").sum()
    assert got.link_counters[:, 0, 0].sum() == packets


# ---------------------------------------------------------------- exit rules, recording, threads, chunks
RULES = ["margin:0", "margin:2", "margin:40", "confidence:0.6", "entropy:0.8"]


@pytest.mark.parametrize("seed", range(5))
def test_exit_rules_equal_golden(seed):
    rng = np.random.default_rng(seed)
    program = random_mesh_program(rng, *SHAPES[seed])
    text = RULES[seed]
    rule = parse_exit_rule(text, program.n_outputs, scale=0.5 if ":" in text and text[0] in "ce" else None)
    raster = random_raster(rng, 4, 5, program.n_inputs, 0.5)
    record = bool(seed % 2)
    want = simulate(program, raster, record=record, exit_rule=rule)
    got = Chip.from_program(program).run(raster, record=record, exit_rule=rule)
    assert_same(got, want)


def test_an_exit_cuts_the_link_sums_of_the_engine_but_not_of_a_derived_result():
    program = hot_spot_program(2, 1)  # one output neuron pair: margin exits on the first timestep's membranes
    raster = np.ones((3, 4, 64), np.uint8)
    rule = parse_exit_rule("margin:0", program.n_outputs)
    full = Chip.from_program(program).run(raster)
    cut = Chip.from_program(program).run(raster, exit_rule=rule)
    assert cut.exit_timesteps.tolist() == [1, 1, 1]
    assert_same(cut, simulate(program, raster, exit_rule=rule))
    np.testing.assert_array_equal(cut.link_counters * 4, full.link_counters)  # 1 of 4 identical timesteps ran
    derived = apply_exit(full, rule)
    np.testing.assert_array_equal(derived.noc_counters, cut.noc_counters)
    assert derived.link_counters is None  # a sum over timesteps cannot be cut afterwards
    never = apply_exit(full, parse_exit_rule("margin:1000000", program.n_outputs))
    np.testing.assert_array_equal(never.link_counters, full.link_counters)  # nothing cut: the sums stand


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
@pytest.mark.parametrize("rule", ["none", "margin:1"])
def test_same_bits_with_one_and_two_threads_and_any_chunking(rule):
    rng = np.random.default_rng(11)
    program = random_mesh_program(rng, 3, 3)
    rule = parse_exit_rule(rule, program.n_outputs)
    raster = random_raster(rng, 70, 3, program.n_inputs, 0.4)
    chip = Chip.from_program(program)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = chip.run(raster, exit_rule=rule)
        numba.set_num_threads(2)
        two = chip.run(raster, exit_rule=rule, chunk_size=9)
    finally:
        numba.set_num_threads(before)
    assert_same(two, one)
    head = RunResult.concatenate([chip.run(raster[:4], exit_rule=rule), chip.run(raster[4:6], exit_rule=rule)])
    assert_same(head, simulate(program, raster[:6], exit_rule=rule))


# ---------------------------------------------------------------- the ideal NoC and RRAM chips
@pytest.mark.parametrize("seed", range(3))
def test_ideal_noc_counters_equal_golden(seed):
    rng = np.random.default_rng(seed)
    program = random_mesh_program(rng, 2, 3)
    program = ChipProgram(chip=program.chip.replace(noc="ideal"), cores=program.cores,
                          host_routes=program.host_routes, n_inputs=program.n_inputs).validate()  # fmt: skip
    raster = random_raster(rng, 3, 4, program.n_inputs, 0.5)
    got = Chip.from_program(program).run(raster)
    assert_same(got, simulate(program, raster))
    assert got.link_counters is None
    assert noc(got, "buffer_writes").sum() == noc(got, "stall_cycles").sum() == 0
    stages = sum(program.chip.barrier_cycles + noc(got, "route_cycles"))  # route + compute + barrier
    assert (stages <= got.timestep_cycles.sum(axis=0)).all()
    assert noc(got, "route_cycles").sum() > 0


def test_rram_engine_fills_the_noc_route_cycles_like_golden():
    from hwsim.config import RramConfig
    from hwsim.rram.device import program_chip
    from hwsim.rram.engine import run_rram
    from hwsim.rram.golden import simulate_rram

    core = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12)
    rram = RramConfig(levels=33, adc_bits=16, adc_mux=4, variation=False, array_variation=False, read_noise=False,
                      stuck_faults=False, finite_on_off=False, ir_drop=False)  # fmt: skip
    chip = ChipConfig(name="r", mesh_rows=2, mesh_cols=2, core=core, core_type="rram", rram=rram)
    rng = np.random.default_rng(3)
    net = random_network(rng, [40, 60, 10], core, weight_range=(-8, 8), threshold=20)
    rc = program_chip(map_network(net, chip), 3, adc_scales=[1, 1, 1])
    raster = random_raster(rng, 3, 4, 40, 0.4)
    want = simulate_rram(rc, raster)
    got = run_rram(rc, raster, chunk_size=2)
    np.testing.assert_array_equal(got.noc_counters, want.noc_counters)
    assert got.noc_counters[..., NOC_COUNTER_NAMES.index("route_cycles")].sum() > 0
    assert got.link_counters is None and want.link_counters is None

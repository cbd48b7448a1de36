"""Golden model against values derived by hand from docs/chip-spec.md.

Every expected number below is worked out in the comments from the spec's
equations, not taken from the model's output.
"""

import dataclasses

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig
from hwsim.golden import core_cycles, leak, saturate, simulate
from hwsim.program import ChipProgram, CoreProgram, Route

# 2 axons x 2 neurons, 1 lane (so G = 2 groups), 4-bit weights, 6-bit membranes (-32..31).
TINY = ChipConfig(
    name="tiny", mesh_rows=1, mesh_cols=1, barrier_cycles=4, hop_latency_cycles=1,
    core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=4, v_bits=6),
)
W = np.array([[3, -2], [5, 4]], np.int32)
BIAS = np.array([1, 0], np.int32)
# t0: both axons spike; t1: axon 0; t2: axon 1
RASTER = np.array([[1, 1], [1, 0], [0, 1]], np.uint8)


def one_core(chip=TINY, weights=W, bias=BIAS, threshold=6, **registers):
    core = CoreProgram(core=0, stage=0, weights=weights, bias=bias, threshold=threshold, output_offset=0, **registers)
    return ChipProgram(chip=chip, cores=(core,), host_routes=(Route(0, 0, weights.shape[0], 0),),
                       n_inputs=weights.shape[0])


def run(program, raster=RASTER):
    res = simulate(program, raster, record=True)
    return res.output_spikes[0].tolist(), res.output_membranes[0].tolist(), res


def test_discontinuous_subtract():
    # t0: v=0 -> +W0 [3,-2] -> +W1 [8,2] -> bias [9,2] -> n0 fires (9>=6) -> 9-6 = 3 -> [3,2]
    # t1: v=0 -> +W0 [3,-2] -> bias [4,-2] -> no spike
    # t2: v=0 -> +W1 [5,4] -> bias [6,4] -> n0 fires (6>=6) -> 0 -> [0,4]
    spikes, mem, _ = run(one_core(integration="discontinuous", reset="subtract"))
    assert spikes == [[1, 0], [0, 0], [1, 0]]
    assert mem == [[3, 2], [4, -2], [0, 4]]


def test_continuous_subtract():
    # t0: [9,2] -> fire n0 -> [3,2]
    # t1: [3,2] +W0 -> [6,0] +bias -> [7,0] -> fire n0 -> [1,0]
    # t2: [1,0] +W1 -> [6,4] +bias -> [7,4] -> fire n0 -> [1,4]
    spikes, mem, _ = run(one_core(integration="continuous", reset="subtract"))
    assert spikes == [[1, 0], [1, 0], [1, 0]]
    assert mem == [[3, 2], [1, 0], [1, 4]]


def test_continuous_zero_reset():
    # t0: [9,2] -> fire n0 -> [0,2]
    # t1: [0,2] +W0 -> [3,0] +bias -> [4,0] -> no spike
    # t2: [4,0] +W1 -> [9,4] +bias -> [10,4] -> fire n0 -> [0,4]
    spikes, mem, _ = run(one_core(integration="continuous", reset="zero"))
    assert spikes == [[1, 0], [0, 0], [1, 0]]
    assert mem == [[0, 2], [4, 0], [0, 4]]


def test_continuous_leak():
    # leak_shift 1: v -= v >> 1 (floor)
    # t0: [8,2] +bias [9,2] -> leak 9-4=5, 2-1=1 -> [5,1], 5<6 no spike
    # t1: [5,1] +W0 [8,-1] +bias [9,-1] -> leak 9-4=5, -1-(-1)=0 -> [5,0], no spike
    # t2: [5,0] +W1 [10,4] +bias [11,4] -> leak 11-5=6, 4-2=2 -> [6,2], fire n0 -> [0,2]
    spikes, mem, _ = run(one_core(integration="continuous", reset="subtract", leak_shift=1))
    assert spikes == [[0, 0], [0, 0], [1, 0]]
    assert mem == [[5, 1], [5, 0], [0, 2]]


def test_discontinuous_leak_zero_reset():
    # t0: [9,2] -> leak 2: 9-2=7, 2-0=2 -> [7,2] -> fire n0 -> [0,2]
    # t1: [4,-2] -> leak: 4-1=3, -2-(-1)=-1 -> [3,-1]
    # t2: [6,4] -> leak: 6-1=5, 4-1=3 -> [5,3]
    spikes, mem, _ = run(one_core(integration="discontinuous", reset="zero", leak_shift=2))
    assert spikes == [[1, 0], [0, 0], [0, 0]]
    assert mem == [[0, 2], [3, -1], [5, 3]]


def test_membrane_readout():
    # fire = False: nothing spikes or resets. Continuous: t0 [9,2], t1 [9,2]+W0+b = [13,0], t2 +W1+b = [19,4]
    # prediction = argmax of summed membranes: n0 41, n1 6 -> 0
    spikes, mem, res = run(one_core(integration="continuous", fire=False))
    assert spikes == [[0, 0]] * 3
    assert mem == [[9, 2], [13, 0], [19, 4]]
    assert res.readout == "membrane"
    assert res.predictions.tolist() == [0]


def test_spike_count_prediction_ties_go_low():
    # threshold 0 and zero weights/bias: v = 0 >= 0, both neurons fire every step -> tie -> class 0
    prog = one_core(weights=np.zeros((2, 2), np.int32), bias=np.zeros(2, np.int32), threshold=0)
    spikes, _, res = run(prog)
    assert spikes == [[1, 1]] * 3
    assert res.predictions.tolist() == [0]


def test_saturation_is_per_add_in_ascending_axon_order():
    # 8 axons: axons 0..6 weight +7, axon 7 weight -8, 6-bit membrane (max 31).
    # Ascending with saturation after each add: 7,14,21,28,31,31,31 then 31-8 = 23.
    # (A single clamp at the end would give min(49-8, 31) = 31, so this pins the order.)
    chip = TINY.replace(core=CoreConfig(axons=8, neurons=2, lanes=1, w_bits=4, v_bits=6))
    w = np.array([[7, -8]] * 7 + [[-8, -8]], np.int32)
    prog = one_core(chip=chip, weights=w, bias=np.array([0, -5], np.int32), threshold=31,
                    integration="continuous", leak_shift=0)
    # neuron 1: -8 x 8 = -64 -> saturates at -32 after the 4th add; bias -5 -> sat(-37) = -32
    _, mem, _ = run(prog, np.ones((1, 8), np.uint8))
    assert mem == [[23, -32]]


def test_saturation_then_leak_of_most_negative():
    # -32 with leak_shift 1: -32 - (-32 >> 1) = -32 + 16 = -16; no overflow
    chip = TINY.replace(core=CoreConfig(axons=8, neurons=2, lanes=1, w_bits=4, v_bits=6))
    w = np.full((8, 2), -8, np.int32)
    prog = one_core(chip=chip, weights=w, bias=np.zeros(2, np.int32), threshold=0, leak_shift=1)
    spikes, mem, _ = run(prog, np.ones((1, 8), np.uint8))
    assert spikes == [[0, 0]]
    assert mem == [[-16, -16]]


def test_positive_saturation_and_subtract_reset():
    # +7 x 8 = 56 -> 31; threshold 31 -> fires, 31 - 31 = 0
    chip = TINY.replace(core=CoreConfig(axons=8, neurons=2, lanes=1, w_bits=4, v_bits=6))
    w = np.full((8, 2), 7, np.int32)
    prog = one_core(chip=chip, weights=w, bias=np.zeros(2, np.int32), threshold=31)
    spikes, mem, _ = run(prog, np.ones((1, 8), np.uint8))
    assert spikes == [[1, 1]] and mem == [[0, 0]]


def test_single_core_cycles_against_formula():
    # G = ceil(2/1) = 2. core = 1 + (n_spk*G + [n_spk>0]) + G + 1.
    # t0: n_spk 2 -> 1 + 5 + 2 + 1 = 9; host: 2 packets, 0 hops -> 2; timestep = 4 + 2 + 9 = 15
    # t1, t2: n_spk 1 -> 1 + 3 + 2 + 1 = 7; host 1 -> timestep = 4 + 1 + 7 = 12
    _, _, res = run(one_core())
    assert res.counter("cycles")[0, :, 0].tolist() == [9, 7, 7]
    assert res.timestep_cycles[0].tolist() == [15, 12, 12]
    assert res.host_counter("route_cycles")[0].tolist() == [2, 1, 1]


def test_zero_input_costs_only_fixed_work():
    # no spikes: core = 1 + 0 + G + 1 = 4; host sends nothing; timestep = barrier 4 + 4 = 8
    _, _, res = run(one_core(), np.zeros((3, 2), np.uint8))
    assert res.counter("cycles")[0, :, 0].tolist() == [4, 4, 4]
    assert res.timestep_cycles[0].tolist() == [8, 8, 8]
    assert res.counter("axon_events").sum() == 0
    assert res.counter("synaptic_ops").sum() == 0
    assert res.counter("neuron_updates")[0, :, 0].tolist() == [2, 2, 2]


def test_core_cycles_formula_with_lanes():
    # n_neurons 10, lanes 4 -> G = 3; 5 spiking axons -> 1 + (15 + 1) + 3 + 1 = 21
    assert CoreConfig(axons=8, neurons=12, lanes=4).groups(10) == 3
    assert core_cycles(5, 3) == 21
    assert core_cycles(0, 3) == 5


def test_two_stage_mesh_routing_cycles_and_counters():
    # 1 x 3 mesh. Stage 0 on core 2 (host port at core 0 -> 2 hops). Core 2 multicasts:
    #   neurons 0..1 -> core 0 axons 0..1 (2 hops); neuron 0 -> core 1 axon 0 (1 hop).
    chip = TINY.replace(mesh_rows=1, mesh_cols=3)
    src = CoreProgram(core=2, stage=0, weights=W, bias=BIAS, threshold=6,
                      routes=(Route(0, 0, 2, 0), Route(1, 0, 1, 0)))
    out_a = CoreProgram(core=0, stage=1, weights=np.array([[2], [1]], np.int32), bias=np.zeros(1, np.int32),
                        threshold=2, output_offset=0)
    out_b = CoreProgram(core=1, stage=1, weights=np.array([[4]], np.int32), bias=np.zeros(1, np.int32),
                        threshold=3, output_offset=1)
    prog = ChipProgram(chip=chip, cores=(src, out_a, out_b), host_routes=(Route(2, 0, 2, 0),), n_inputs=2)
    res = simulate(prog, np.array([[1, 1]], np.uint8))
    # host: 2 packets x 2 hops -> hops 4, route cycles 2 + 1*2 = 4
    assert res.host_counters[0, 0].tolist() == [2, 4, 4]
    # core 2 (as t0 of the hand example) fires neuron 0 only: packets 2 (one per matching entry),
    # hops 2 + 1 = 3; cycles 1 + (2*2+1) + 2 + 1 = 9; route cycles 2 + 1*max_hops(2) = 4
    names = ["axon_events", "sram_word_reads", "synaptic_ops", "neuron_updates", "output_spikes", "packets", "hops",
             "cycles"]
    assert dict(zip(names, res.counters[0, 0, 0].tolist())) == dict(
        axon_events=2, sram_word_reads=4, synaptic_ops=4, neuron_updates=2, output_spikes=1, packets=2, hops=3,
        cycles=9)
    # stage 1: core 0 gets axon 0 -> v = 2 >= 2 fires; core 1 gets axon 0 -> 4 >= 3 fires.
    # each: n_spk 1, G 1 -> 1 + 2 + 1 + 1 = 5 cycles, output cores route nothing
    assert res.output_spikes[0, 0].tolist() == [1, 1]
    assert res.counter("cycles")[0, 0].tolist() == [9, 5, 5]
    # timestep = barrier 4 + host 4 + stage0 (9 + 4) + stage1 (5 + 0) = 26
    assert res.timestep_cycles[0, 0] == 26


def test_helpers_match_spec_definitions():
    assert saturate(40, 6) == 31 and saturate(-40, 6) == -32 and saturate(5, 6) == 5
    # arithmetic shift floors: -5 >> 1 = -3, so -5 - (-3) = -2
    assert leak(-5, 1) == -2 and leak(9, 1) == 5 and leak(7, 0) == 7


def test_batch_images_are_independent():
    prog = one_core(integration="continuous")
    a = simulate(prog, RASTER)
    b = simulate(prog, np.stack([np.zeros_like(RASTER), RASTER]))
    np.testing.assert_array_equal(a.output_membranes[0], b.output_membranes[1])


@pytest.mark.parametrize(
    "raster, message",
    [
        (np.zeros((3, 3), np.uint8), "3 inputs; the program expects 2"),
        (np.full((3, 2), 2, np.uint8), "binary"),
        (np.zeros((2,), np.uint8), "shape"),
    ],
)
def test_bad_rasters_are_rejected(raster, message):
    from hwsim.errors import InputError

    with pytest.raises(InputError, match=message):
        simulate(one_core(), raster)


# ------------------------------------------------------------ router and host port units (chip-spec §1.1-1.2)
# Two entries: sources 0..3 -> core 1 from axon 10, sources 2..5 -> core 2 from axon 0; core 1 is 1 hop
# away, core 2 is 3 hops away.
ROUTES = (Route(dest_core=1, src_lo=0, src_hi=4, axon_offset=10), Route(dest_core=2, src_lo=2, src_hi=6, axon_offset=0))
HOPS_TO = {1: 1, 2: 3}


def test_router_delivers_every_spike_entry_pair_and_counts_its_hops():
    from hwsim.golden.router import deliver

    inboxes = {1: [], 2: []}
    # j=1: entry 0 -> core 1 axon 11; j=3: entry 0 -> axon 13, entry 1 -> core 2 axon 1; j=5: entry 1 -> axon 3
    assert deliver([1, 3, 5], ROUTES, inboxes, HOPS_TO) == (4, 1 + 1 + 3 + 3)
    assert inboxes == {1: [11, 13], 2: [1, 3]}
    assert deliver([], ROUTES, inboxes, HOPS_TO) == (0, 0)


def test_route_cycles_are_packets_plus_the_hop_drain_and_zero_when_silent():
    from hwsim.golden.router import route_cycles

    assert route_cycles(3, 2, 4) == 3 + 4 * 2
    assert route_cycles(1, 0, 7) == 1
    assert route_cycles(0, 5, 2) == 0  # no packet: the router is idle, no drain


def test_host_port_routes_the_spiking_inputs_and_returns_the_host_counters():
    from hwsim.golden.host_port import host_timestep

    inboxes = {1: [], 2: []}
    row = np.array([0, 1, 0, 1, 0, 1], np.uint8)  # inputs 1, 3, 5: the four packets of the router test
    # route cycles: 4 packets + hop latency 2 x the largest hop count 3 of the table
    assert host_timestep(row, ROUTES, inboxes, HOPS_TO, 3, 2) == (4, 8, 4 + 2 * 3)
    assert inboxes == {1: [11, 13], 2: [1, 3]}


# --------------------------------------------------------------------- partial-sum chains (chip-spec §1.3)
# 1 x 4 mesh (host port at core 0's position: core c is c hops from the host and |c - d| from core d),
# cores of 2 axons x 2 neurons, 1 lane (G = 2), 4-bit weights, 6-bit membranes (-32..31), partial sums on.
PSUM = TINY.replace(mesh_rows=1, mesh_cols=4, core=dataclasses.replace(TINY.core, partial_sums=True))
ZERO2 = np.zeros(2, np.int32)


def psum_core(core, stage, weights, routes, **registers):
    """A partial-sum core: the registers chip-spec §6 requires (fire 0, discontinuous, leak 0, bias 0)."""
    return CoreProgram(core=core, stage=stage, weights=np.array(weights, np.int32), bias=np.zeros(
        len(weights[0]), np.int32), threshold=0, fire=False, routes=tuple(routes), psum_out=True, **registers)


def counters_of(res, k, t, b=0):
    from hwsim.result import COUNTER_NAMES

    return dict(zip(COUNTER_NAMES, res.counters[b, t, k].tolist()))


# The unsplit neuron of the 2-core chain test: 4 inputs x 2 neurons, bias [1, 0], threshold 6, subtract.
W4 = np.array([[3, -2], [5, 4], [-1, 2], [2, -3]], np.int32)
RASTER4 = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [0, 0, 1, 0]], np.uint8)


def two_core_chain():
    # core 1 (stage 0, partial sums) holds inputs 0..1, core 2 (stage 1) inputs 2..3 plus bias and threshold
    first = psum_core(1, 0, W4[:2], [Route(2, 0, 2, 0)])
    last = CoreProgram(core=2, stage=1, weights=W4[2:], bias=BIAS, threshold=6, output_offset=0)
    return ChipProgram(chip=PSUM, cores=(first, last), host_routes=(Route(1, 0, 2, 0), Route(2, 2, 4, 0)),
                       n_inputs=4)


def test_two_core_chain_equals_the_unsplit_neuron_without_saturation():
    # Unsplit, by hand (sums of the spiking rows of W4, + bias [1, 0], threshold 6, subtract):
    #   t0 rows 0..3: [9, 1] + b = [10, 1] -> n0 fires -> [4, 1]
    #   t1 rows 0, 3: [5, -5] + b = [6, -5] -> n0 fires -> [0, -5]
    #   t2 row 2:     [-1, 2] + b = [0, 2]  -> no spike
    # Chain: core 1 t0 [3+5, -2+4] = [8, 2]; core 2 merges [8, 2], + row 2 -> [7, 4], + row 3 -> [9, 1], + b ->
    # [10, 1], the same; t1 core 1 [3, -2], core 2 [3, -2] + row 3 -> [5, -5]; t2 core 1 [0, 0], core 2 row 2 only.
    prog = two_core_chain()
    assert prog.psum_receivers() == {2}
    spikes, mem, res = run(prog, RASTER4)
    assert spikes == [[1, 0], [1, 0], [0, 0]]
    assert mem == [[4, 1], [0, -5], [0, 2]]
    assert res.membranes[0][0].tolist() == [[8, 2], [3, -2], [0, 0]]  # what core 1 sent (or did not)
    # core 1 sends its 2 nonzero membranes at t0 and t1 (1 hop each), nothing at t2; it never spikes
    assert [counters_of(res, 0, t)["packets"] for t in range(3)] == [2, 2, 0]
    assert [counters_of(res, 0, t)["hops"] for t in range(3)] == [2, 2, 0]
    assert res.counter("output_spikes")[0, :, 0].tolist() == [0, 0, 0]
    # cycles (G = 2): core 1 is no receiver: 1 + (n_spk*2 + 1) + 2 + 1 = 9, 7, and 1 + 2 + 1 = 4 without spikes;
    # core 2 adds MERGE (2): n_spk 2 -> 1 + 2 + 5 + 2 + 1 = 11, n_spk 1 -> 9
    assert res.counter("cycles")[0, :, 0].tolist() == [9, 7, 4]
    assert res.counter("cycles")[0, :, 1].tolist() == [11, 9, 9]
    # host: core 1 is 1 hop, core 2 is 2 hops; route cycles = packets + 1 x 2 (largest hop count)
    #   t0 4 packets, hops 1+1+2+2 = 6 -> 6; t1 inputs 0, 3: hops 3 -> 4; t2 input 2: hops 2 -> 3
    assert res.host_counters[0].tolist() == [[4, 6, 6], [2, 3, 4], [1, 2, 3]]
    # timestep = 4 + host + stage 0 (core 1 + its route 2 packets + 1 x 1 hop) + stage 1 (core 2, routes nothing)
    #   t0 4 + 6 + (9 + 3) + 11 = 33; t1 4 + 4 + (7 + 3) + 9 = 27; t2 4 + 3 + (4 + 0) + 9 = 20
    assert res.timestep_cycles[0].tolist() == [33, 27, 20]


def test_saturation_in_a_chain_follows_the_chain_order():
    # 4 axons, 5-bit membranes (-16..15). Core 1 (partial sums) holds inputs 2..5, core 2 inputs 0..1;
    # membrane readout (fire 0) shows v. All 6 inputs spike.
    chip = PSUM.replace(core=dataclasses.replace(PSUM.core, axons=4, v_bits=5))
    first = psum_core(1, 0, [[7, -8]] * 4, [Route(2, 0, 2, 0)])
    last = CoreProgram(core=2, stage=1, weights=np.array([[-8, 7]] * 2, np.int32), bias=ZERO2, threshold=0,
                       fire=False, output_offset=0)
    prog = ChipProgram(chip=chip, cores=(first, last), host_routes=(Route(1, 2, 6, 0), Route(2, 0, 2, 0)),
                       n_inputs=6)
    # chain order: core 1 n0 7, 14, 15 (sat), 15; n1 -8, -16, -16, -16 -> partial sums [15, -16]
    #              core 2 merges -> [15, -16], axon 0 -> [7, -9], axon 1 -> [-1, -2]
    _, mem, res = run(prog, np.ones((1, 6), np.uint8))
    assert res.membranes[0][0].tolist() == [[15, -16]]
    assert mem == [[-1, -2]]
    # Not the exact sums (28 - 16 = 12, -32 + 14 = -18 -> -16) nor the unsplit neuron's ascending order
    # (inputs 0, 1 first: n0 -8, -16, -9, -2, 5, 12; n1 7, 14, 6, -2, -10, -16): one core of 6 axons gives [12, -16].
    unsplit = CoreProgram(core=0, stage=0, weights=np.array([[-8, 7]] * 2 + [[7, -8]] * 4, np.int32), bias=ZERO2,
                          threshold=0, fire=False, output_offset=0)
    wide = chip.replace(core=dataclasses.replace(chip.core, axons=6))
    _, unsplit_mem, _ = run(ChipProgram(chip=wide, cores=(unsplit,), host_routes=(Route(0, 0, 6, 0),), n_inputs=6),
                            np.ones((1, 6), np.uint8))
    assert unsplit_mem == [[12, -16]]


def test_zero_partial_sums_are_not_sent_and_multicast_sends_one_packet_per_entry():
    # Core 1 (partial sums) W = [[2, 0], [-2, 1]] multicasts both neurons to core 2 (1 hop) and core 3 (2 hops),
    # two membrane-readout cores with one unfed axon of zero weights.
    sink = dict(stage=1, weights=np.zeros((1, 2), np.int32), bias=ZERO2, threshold=0, fire=False)
    prog = ChipProgram(
        chip=PSUM, n_inputs=2, host_routes=(Route(1, 0, 2, 0),),
        cores=(psum_core(1, 0, [[2, 0], [-2, 1]], [Route(2, 0, 2, 0), Route(3, 0, 2, 0)]),
               CoreProgram(core=2, output_offset=0, **sink), CoreProgram(core=3, output_offset=2, **sink)),
    )
    # t0 both inputs: v = [0, 1] -> neuron 0 is not sent; neuron 1 -> one packet per entry: 2 packets, hops 1 + 2
    # t1 input 0:     v = [2, 0] -> neuron 0 only: 2 packets, hops 3
    # t2 nothing:     v = [0, 0] -> no packet, the router stays idle (route cycles 0)
    spikes, mem, res = run(prog, np.array([[1, 1], [1, 0], [0, 0]], np.uint8))
    assert [counters_of(res, 0, t)["packets"] for t in range(3)] == [2, 2, 0]
    assert [counters_of(res, 0, t)["hops"] for t in range(3)] == [3, 3, 0]
    assert mem == [[0, 1, 0, 1], [2, 0, 2, 0], [0, 0, 0, 0]]
    assert spikes == [[0] * 4] * 3
    # timesteps: host 2 / 1 / 0 packets to core 1 (1 hop): route cycles 3 / 2 / 0.
    # core 1: 9 / 7 / 4 cycles, its route 2 packets + 1 x 2 hops = 4 / 4 / 0; receivers 1 + 2 + 0 + 2 + 1 = 6.
    #   t0 4 + 3 + (9 + 4) + 6 = 26; t1 4 + 2 + (7 + 4) + 6 = 23; t2 4 + 0 + (4 + 0) + 6 = 14
    assert res.timestep_cycles[0].tolist() == [26, 23, 14]


def test_merge_cycles_are_spent_every_timestep_even_without_a_partial_sum():
    # Core 1 has zero weights: its membranes are always 0, it never sends, yet core 2 is a receiver
    # (named by a partial-sum core's table) and spends G = 2 MERGE cycles every timestep. Core 3 is the
    # same neuron core without a partial-sum sender: no MERGE.
    last = dict(stage=1, weights=np.array([[1, 1]], np.int32), bias=ZERO2, threshold=1)
    prog = ChipProgram(
        chip=PSUM, n_inputs=2, host_routes=(Route(1, 0, 1, 0), Route(2, 1, 2, 0), Route(3, 1, 2, 0)),
        cores=(psum_core(1, 0, [[0, 0]], [Route(2, 0, 2, 0)]), CoreProgram(core=2, output_offset=0, **last),
               CoreProgram(core=3, output_offset=2, **last)),
    )
    _, _, res = run(prog, np.array([[1, 1], [0, 0]], np.uint8))
    assert res.counter("packets")[0, :, 0].tolist() == [0, 0]
    # receiver: t0 n_spk 1 -> 1 + 2 + (2 + 1) + 2 + 1 = 9, t1 no spike -> 1 + 2 + 2 + 1 = 6; core 3: 7 and 4
    assert res.counter("cycles")[0, :, 1].tolist() == [9, 6]
    assert res.counter("cycles")[0, :, 2].tolist() == [7, 4]
    # and the formula's own terms: G = 3 groups, 5 spiking axons -> 1 + 3 + (15 + 1) + 3 + 1 = 24
    assert core_cycles(5, 3, psum_receiver=True) == 24 and core_cycles(0, 3, psum_receiver=True) == 8


def test_three_core_chain_into_a_continuous_neuron():
    # Cores 1, 2 (partial sums) and 3 (continuous, subtract, bias [0, 1], threshold 5) take inputs 0..1, 2..3, 4..5.
    W1, W2, W3 = [[1, 2], [3, -1]], [[2, 0], [-4, 1]], np.array([[1, 1], [0, -2]], np.int32)
    prog = ChipProgram(
        chip=PSUM, n_inputs=6, host_routes=(Route(1, 0, 2, 0), Route(2, 2, 4, 0), Route(3, 4, 6, 0)),
        cores=(psum_core(1, 0, W1, [Route(2, 0, 2, 0)]), psum_core(2, 1, W2, [Route(3, 0, 2, 0)]),
               CoreProgram(core=3, stage=2, weights=W3, bias=np.array([0, 1], np.int32), threshold=5,
                           integration="continuous", output_offset=0)),
    )
    assert prog.psum_receivers() == {2, 3}
    raster = np.array([[1, 1, 1, 1, 1, 1], [1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0]], np.uint8)
    # t0: core 1 [1+3, 2-1] = [4, 1]; core 2 merge [4, 1] + [2, 0] + [-4, 1] = [2, 2];
    #     core 3 (starts at 0) merge [2, 2] + [1, 1] + [0, -2] = [3, 1], + bias [3, 2]: below 5.
    #     (unsplit: column sums of all rows [3, 1] + bias = [3, 2], the same)
    # t1: core 1 [1, 2]; core 2 [1, 2] + [-4, 1] = [-3, 3]; core 3 keeps [3, 2], merge -> [0, 5], + bias [0, 6]:
    #     n1 fires -> 6 - 5 = 1 -> [0, 1]
    # t2: core 1 [0, 0]; core 2 [0, 0] (nothing sent); core 3 [0, 1] + [1, 1] + bias = [1, 3]
    spikes, mem, res = run(prog, raster)
    assert [m[0].tolist() for m in res.membranes[:2]] == [[[4, 1], [1, 2], [0, 0]], [[2, 2], [-3, 3], [0, 0]]]
    assert spikes == [[0, 0], [0, 1], [0, 0]]
    assert mem == [[3, 2], [0, 1], [1, 3]]
    assert res.counter("packets")[0].tolist() == [[2, 2, 0], [2, 2, 0], [0, 0, 0]]
    # cycles: core 1 (no MERGE) 9, 7, 4; core 2 (MERGE) 11, 9, 6; core 3 (MERGE) n_spk 2, 0, 1 -> 11, 6, 9
    assert res.counter("cycles")[0].tolist() == [[9, 11, 11], [7, 9, 6], [4, 6, 9]]
    # host: hops 1, 2, 3 to cores 1, 2, 3, largest 3: t0 6 packets, 12 hops, 9 cycles; t1 inputs 0, 3: 2, 3, 5;
    # t2 input 4: 1, 3, 4. Timesteps: 4 + host + sum of stages (core + its route 2 packets + 1 hop = 3, or 0):
    #   t0 4 + 9 + 12 + 14 + 11 = 50; t1 4 + 5 + 10 + 12 + 6 = 37; t2 4 + 4 + 4 + 6 + 9 = 27
    assert res.host_counters[0].tolist() == [[6, 12, 9], [2, 3, 5], [1, 3, 4]]
    assert res.timestep_cycles[0].tolist() == [50, 37, 27]


def test_a_receiver_merges_partial_sums_with_spikes_of_a_core_and_of_the_host():
    # Core 1 (stage 0, ordinary): input 0 -> W [[5, 1]], threshold 4; its neuron 0 goes to core 3 axon 0.
    # Core 2 (stage 0, partial sums): input 1 -> W [[3, -2]], sends to core 3.
    # Core 3 (stage 1): axon 0 from core 1, axon 1 from host input 2 (a route past stage 0), W [[1, 2], [4, 4]],
    # threshold 6, subtract.
    prog = ChipProgram(
        chip=PSUM, n_inputs=3, host_routes=(Route(1, 0, 1, 0), Route(2, 1, 2, 0), Route(3, 2, 3, 1)),
        cores=(CoreProgram(core=1, stage=0, weights=np.array([[5, 1]], np.int32), bias=ZERO2, threshold=4,
                           routes=(Route(3, 0, 1, 0),)),
               psum_core(2, 0, [[3, -2]], [Route(3, 0, 2, 0)]),
               CoreProgram(core=3, stage=1, weights=np.array([[1, 2], [4, 4]], np.int32), bias=ZERO2, threshold=6,
                           output_offset=0)),
    )
    # t0 all inputs: core 1 [5, 1] -> n0 fires -> core 3 axon 0; core 2 sends [3, -2];
    #    core 3 merge [3, -2], axon 0 -> [4, 0], axon 1 -> [8, 4] -> n0 fires -> [2, 4]
    # t1 input 2 only: core 3 merge 0, axon 1 -> [4, 4], no spike
    # t2 input 1 only: core 3 merge [3, -2], no axon -> [3, -2]
    spikes, mem, res = run(prog, np.array([[1, 1, 1], [0, 0, 1], [0, 1, 0]], np.uint8))
    assert spikes == [[1, 0], [0, 0], [0, 0]]
    assert mem == [[2, 4], [4, 4], [3, -2]]
    assert res.counter("axon_events")[0, :, 2].tolist() == [2, 1, 0]
    # core 3: 1 + 2 + (n_spk*2 + 1) + 2 + 1 -> 11, 9, and 6 without spikes
    assert res.counter("cycles")[0, :, 2].tolist() == [11, 9, 6]
    # core 1 sends 1 spike packet (2 hops), core 2 two partial sums (1 hop each)
    assert res.counter("packets")[0, 0].tolist() == [1, 2, 0] and res.counter("hops")[0, 0].tolist() == [2, 2, 0]


def test_membranes_of_a_receiver_start_from_the_merge_each_image():
    # Batch independence with partial sums: the buffer is cleared every timestep, the state every image.
    prog = two_core_chain()
    a = simulate(prog, RASTER4)
    b = simulate(prog, np.stack([RASTER4[::-1], RASTER4]))
    np.testing.assert_array_equal(a.output_membranes[0], b.output_membranes[1])
    np.testing.assert_array_equal(a.counters[0], b.counters[1])


def test_a_partial_sum_program_is_refused_on_a_chip_without_partial_sums():
    from hwsim.errors import ProgramError

    prog = two_core_chain()
    prog.chip = PSUM.replace(core=dataclasses.replace(PSUM.core, partial_sums=False))
    with pytest.raises(ProgramError, match=r"core 1: psum_out = true but chip 'tiny' has no partial sums"):
        simulate(prog, RASTER4)


def test_partial_sum_router_writes_buffer_words_in_table_order():
    from hwsim.golden import deliver_partial_sums

    # entry 0: neurons 0..1 -> core 1 words 2..3 (1 hop); entry 1: neurons 1..2 -> core 2 words 0..1 (3 hops)
    routes = (Route(1, 0, 2, 2), Route(2, 1, 3, 0))
    buffers = {1: [0] * 4, 2: [0] * 4}
    # j=0 (5): entry 0 -> core 1 word 2; j=1 (-3): entry 0 -> word 3, entry 1 -> core 2 word 0; j=2 (7): core 2 word 1
    assert deliver_partial_sums([(0, 5), (1, -3), (2, 7)], routes, buffers, HOPS_TO) == (4, 1 + 1 + 3 + 3)
    assert buffers == {1: [0, 0, 5, -3], 2: [-3, 7, 0, 0]}

"""Golden model against values derived by hand from docs/chip-spec.md.

Every expected number below is worked out in the comments from the spec's
equations, not taken from the model's output.
"""

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

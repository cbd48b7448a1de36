"""Places where docs/chip-spec.md was made exact (issue 13 §5, and the partial sums of §1.3 from issue 14),
each pinned in every implementation.

Every expected number is worked out in the comments from the spec's equations (§1.2, §2.4, §7.4),
not read from a model. "Both" means the golden model and the fast engine, for the digital core
(``hwsim.golden.simulate``, ``hwsim.chip.Chip``) and the RRAM core (``hwsim.rram.simulate_rram``,
``hwsim.rram.run_rram``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hwsim.chip import Chip
from hwsim.config import ChipConfig, CoreConfig, RramConfig
from hwsim.encoding import ENCODINGS, encode
from hwsim.errors import InputError, ProgramError
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import COUNTER_NAMES, RunResult
from hwsim.rram import program_chip, run_rram, simulate_rram
from hwsim.rram.device import weight_full_scale, weight_levels

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "chip-spec.md").read_text(encoding="utf-8")
K = {name: i for i, name in enumerate(COUNTER_NAMES)}

# A 1 x 4 mesh (hops from core 0: 0, 1, 2, 3) of tiny cores: 2 axons x 2 neurons, one lane (G = n_neurons).
# Barrier 4 cycles, 2 cycles per hop.
DIGITAL = ChipConfig(name="row4", mesh_rows=1, mesh_cols=4, barrier_cycles=4, hop_latency_cycles=2,
                     core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=4, v_bits=8))
# The same chip with ideal RRAM cores: 129 levels (lossless for any W_c <= 8 here), no non-ideality.
# At 200 MHz: read 10 ns = 2 cycles, conversion 5 ns = 1 cycle; adc_mux 1 -> 2 ADCs, one conversion round.
IDEAL_RRAM = RramConfig(levels=129, adc_bits=8, adc_mux=1, t_read_ns=10.0, adc_conversion_ns=5.0, variation=False,
                        array_variation=False, read_noise=False, stuck_faults=False, finite_on_off=False,
                        ir_drop=False)
RRAM = DIGITAL.replace(core_type="rram", rram=IDEAL_RRAM)
CORE_TYPES = ("digital", "rram")


def _core(core, stage, weights, routes=(), output_offset=None, threshold=1, **registers) -> CoreProgram:
    w = np.asarray(weights, np.int32)
    return CoreProgram(core=core, stage=stage, weights=w, bias=np.zeros(w.shape[1], np.int32), threshold=threshold,
                       routes=tuple(routes), output_offset=output_offset, **registers)


def _chip(core_type: str) -> ChipConfig:
    return DIGITAL if core_type == "digital" else RRAM


def run_both(program: ChipProgram, raster: np.ndarray) -> RunResult:
    """The golden model's result, after checking that the fast engine gives the same bits."""
    program.validate()
    if program.chip.core_type == "digital":
        golden = simulate(program, raster, record=True)
        fast = Chip.from_program(program).run(raster, record=True)
    else:
        rchip = program_chip(program, seed=0)
        golden = simulate_rram(rchip, raster, record=True)
        fast = run_rram(rchip, raster)
        for name in ("rram_counters", "read_conductance_us", "adc_peak"):
            assert golden.extra[name].dtype == fast.extra[name].dtype, name
            assert golden.extra[name].tobytes() == fast.extra[name].tobytes(), name
    for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles"):
        a, b = getattr(golden, name), getattr(fast, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
    assert golden.core_ids == fast.core_ids
    if fast.membranes is not None:
        for a, b in zip(golden.membranes, fast.membranes):
            assert np.array_equal(a, b)
    return golden


# --------------------------------------------------------------- §1.2: every routing entry's hops

@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_a_long_entry_that_sent_nothing_still_sets_the_route_latency(core_type):
    # Core 0 (stage 0): neuron 0 -> core 1 (1 hop), neuron 1 -> core 3 (3 hops). Only neuron 0 fires
    # (weights: axon 0 gives [5, 0], threshold 1), so the only packet goes 1 hop, yet
    # route_cycles = packets + hop_latency * max over ALL entries = 1 + 2 * 3 = 7 (not 1 + 2 * 1 = 3).
    chip = _chip(core_type)
    program = ChipProgram(
        chip=chip,
        cores=(_core(0, 0, [[5, 0], [0, 0]], routes=(Route(1, 0, 1, 0), Route(3, 1, 2, 0))),
               _core(1, 1, [[1]], output_offset=0),
               _core(3, 1, [[1]], output_offset=1)),
        host_routes=(Route(0, 0, 2, 0),),
        n_inputs=2,
    )
    res = run_both(program, np.array([[1, 0]], np.uint8))
    if core_type == "digital":
        # §2.4 with G = n_neurons: core 0: 1 + (1 * 2 + 1) + 2 + 1 = 7; core 1 (one spike): 1 + 2 + 1 + 1 = 5
        core0, stage1 = 7, 5
    else:
        # §7.4: core 0: 1 + (2 + 1 x 1) + 2 + 1 = 7; core 1: 1 + (2 + 1) + 1 + 1 = 6; core 3 silent: 3
        core0, stage1 = 7, 6
    host_route = 1 + 2 * 0  # one packet into core 0, 0 hops
    assert res.counters[0, 0, 0, K["packets"]] == 1 and res.counters[0, 0, 0, K["hops"]] == 1
    assert res.counters[0, 0, 0, K["cycles"]] == core0
    assert res.output_spikes[0, 0].tolist() == [1, 0]  # neuron 1 of core 0 never fired: core 3 got nothing
    assert res.timestep_cycles[0, 0] == 4 + host_route + (core0 + 7) + (stage1 + 0)


# ------------------------------------------------ §1: the host may feed any stage, before stage 0 runs

def _skip_program(chip: ChipConfig, fire0: bool = True, order=(0, 1)) -> ChipProgram:
    # core 0 (stage 0): input 0 -> its axon 0, weight 2; its neuron 0 -> core 3 axon 1 (3 hops).
    # core 3 (stage 1): input 1 -> its axon 0 straight from the host (3 hops), weights [3, 4], threshold 100.
    cores = (_core(0, 0, [[2]], routes=(Route(3, 0, 1, 1),), fire=fire0),
             _core(3, 1, [[3], [4]], output_offset=0, threshold=100))
    return ChipProgram(chip=chip, cores=tuple(cores[i] for i in order),
                       host_routes=(Route(0, 0, 1, 0), Route(3, 1, 2, 0)), n_inputs=2)


@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_host_spikes_into_a_later_stage_arrive_in_the_same_timestep(core_type):
    chip = _chip(core_type)
    raster = np.array([[0, 1], [1, 1]], np.uint8)  # t0: input 1 only; t1: both
    res = run_both(_skip_program(chip), raster)
    # t0: core 3 integrates the host spike of t0 in t0: v = 3. t1: core 0 fires (2 >= 1) and core 3 gets
    # the host spike and core 0's spike in the same timestep: v = 3 + 4 = 7 (discontinuous).
    assert res.output_membranes[0, :, 0].tolist() == [3, 7]
    # host: every entry counts for max_hops (0 and 3 hops -> 3): t0 one packet 1 + 2 * 3 = 7, 3 hops;
    # t1 two packets 2 + 6 = 8, 0 + 3 hops
    assert res.host_counters[0].tolist() == [[1, 3, 7], [2, 3, 8]]
    if core_type == "digital":
        # t0: core 0 silent 1 + 0 + 1 + 1 = 3, core 3 one axon 1 + 2 + 1 + 1 = 5
        # t1: core 0 one axon 5, route 1 + 2 * 3 = 7; core 3 two axons 1 + (2 + 1) + 1 + 1 = 6
        assert res.timestep_cycles[0].tolist() == [4 + 7 + 3 + 0 + 5, 4 + 8 + 5 + 7 + 6]
    else:
        # read 2 + one conversion round 1: a reading core with one neuron takes 1 + 3 + 1 + 1 = 6
        assert res.timestep_cycles[0].tolist() == [4 + 7 + 3 + 0 + 6, 4 + 8 + 6 + 7 + 6]


# ------------------------------------------------------------ §1.1: fire = 0 with routes sends nothing

@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_a_membrane_readout_core_with_routes_never_sends(core_type):
    chip = _chip(core_type)
    res = run_both(_skip_program(chip, fire0=False), np.array([[0, 1], [1, 1]], np.uint8))
    # core 0 reaches 2 >= threshold 1 in t1 but does not fire: no packet, no hop, no route cycle,
    # no reset (its membrane stays 2), and core 3 sees only the host's spike (v = 3 both times).
    assert res.counters[0, :, 0, K["packets"]].tolist() == [0, 0]
    assert res.counters[0, :, 0, K["hops"]].tolist() == [0, 0]
    assert res.counters[0, :, 0, K["output_spikes"]].tolist() == [0, 0]
    assert res.membranes[0][0, :, 0].tolist() == [0, 2]
    assert res.output_membranes[0, :, 0].tolist() == [3, 3]
    reading = 5 if core_type == "digital" else 6  # one-neuron core with one spiking axon (see above)
    assert res.timestep_cycles[0].tolist() == [4 + 7 + 3 + 0 + reading, 4 + 8 + reading + 0 + reading]


# --------------------------------------------------------- §2.5: counters in program.cores order

@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_counters_follow_the_program_core_list_not_the_mesh(core_type):
    chip = _chip(core_type)
    raster = np.array([[0, 1], [1, 1]], np.uint8)
    mesh_order = run_both(_skip_program(chip, order=(0, 1)), raster)
    listed = run_both(_skip_program(chip, order=(1, 0)), raster)  # core 3 listed first
    assert mesh_order.core_ids == (0, 3) and listed.core_ids == (3, 0)
    # k = 0 is now core 3: it had one spiking axon in t0 (the host's), core 0 none
    assert listed.counters[0, 0, :, K["axon_events"]].tolist() == [1, 0]
    assert np.array_equal(listed.counters, mesh_order.counters[:, :, ::-1])
    assert np.array_equal(listed.output_membranes, mesh_order.output_membranes)
    assert np.array_equal(listed.timestep_cycles, mesh_order.timestep_cycles)


# --------------------------------------------------------------------- §6: output cores tile the outputs

def _outputs_program(offsets, fires=(True, True), weights0=(1, 1)) -> ChipProgram:
    # two one-axon output cores of 2 neurons, both fed by input 0
    cores = [_core(c, 0, [w], output_offset=o, fire=f)
             for c, o, f, w in zip((0, 1), offsets, fires, (weights0, (1, 1)))]
    return ChipProgram(chip=DIGITAL, cores=tuple(cores), host_routes=(Route(0, 0, 1, 0), Route(1, 0, 1, 0)),
                       n_inputs=1)


def test_output_cores_must_tile_the_outputs():
    # two output cores of 2 neurons: offsets {0, 2} in any listing order are the only tiling
    assert _outputs_program((2, 0)).validate().n_outputs == 4
    for offsets, expected in (((0, 3), "expected 2"), ((0, 1), "expected 2"), ((1, 3), "expected 0")):
        with pytest.raises(ProgramError, match=f"output_offset = .*{expected}.*without gaps"):
            _outputs_program(offsets).validate()
    with pytest.raises(ProgramError, match="mix spike-count"):
        _outputs_program((0, 2), fires=(True, False)).validate()


def test_outputs_are_numbered_by_output_offset():
    # core 0 holds outputs 2, 3 (weights [1, 0]: only output 2 reaches the threshold 1), core 1 outputs 0, 1
    res = run_both(_outputs_program((2, 0), weights0=(1, 0)), np.array([[1]], np.uint8))
    assert res.output_spikes[0, 0].tolist() == [1, 1, 1, 0]
    assert res.output_membranes[0, 0].tolist() == [0, 0, 0, 0]  # the three that fired reset by subtraction


# ---------------------------------------------------------------------- §2.5: membranes are int32

@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_membranes_are_reported_as_int32_at_the_32_bit_extremes(core_type):
    chip = DIGITAL.replace(core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=4, v_bits=32))
    if core_type == "rram":
        chip = chip.replace(core_type="rram", rram=IDEAL_RRAM)
    lo, hi = -(2**31), 2**31 - 1
    core = CoreProgram(core=0, stage=0, weights=np.array([[1, -1], [0, 0]], np.int32),
                       bias=np.array([hi, lo], np.int64), threshold=hi, output_offset=0, fire=False)
    program = ChipProgram(chip=chip, cores=(core,), host_routes=(Route(0, 0, 2, 0),), n_inputs=2)
    res = run_both(program, np.array([[1, 0]], np.uint8))
    # 1 + (2^31 - 1) and -1 - 2^31 saturate to the 32-bit limits (§2.2 step 3.1)
    assert res.output_membranes.dtype == np.int32 and res.membranes[0].dtype == np.int32
    assert res.output_membranes[0, 0].tolist() == [hi, lo]


# ------------------------------------------------------------- §7.5: adc_peak before saturation

def test_adc_peak_is_the_largest_unclamped_rounded_value():
    # 2-bit ADC: codes -2..1. Core 3's weights [3, 4] have W_c = 4, so with adc_scale 1 its ADC LSB is one
    # weight unit and the column sum of both axons, 7, rounds to r = 7 (clamped to code 1).
    chip = RRAM.replace(rram=RramConfig(**{**IDEAL_RRAM.__dict__, "adc_bits": 2}))
    raster = np.array([[[0, 1], [0, 1]], [[1, 1], [0, 0]]], np.uint8)  # image 0: host -> core 3 only
    res = run_both(_skip_program(chip), raster)
    # image 0: core 0 never reads (0.0), core 3 reads 3 twice; image 1: core 0 reads 2 (-> code 1,
    # v = 1 >= 1: it fires), core 3 reads 3 + 4 = 7 in t0
    assert res.extra["adc_peak"].tolist() == [[0.0, 3.0], [2.0, 7.0]]
    assert res.output_membranes[:, :, 0].tolist() == [[1, 1], [1, 0]]  # codes clamped to 1


# --------------------------------------------------- §7.5: the pairwise order of the read conductance

def pairwise_sum(x: list[float]) -> float:
    """chip-spec §7.5's P(x), written from the spec."""
    n = len(x)
    if n < 8:
        s = 0.0
        for v in x:
            s = s + v
        return s
    if n <= 128:
        r = list(x[:8])
        i = 8
        while i < n - n % 8:
            for k in range(8):
                r[k] = r[k] + x[i + k]
            i += 8
        s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for v in x[i:]:
            s = s + v
        return s
    m = n // 2 - (n // 2) % 8
    return pairwise_sum(x[:m]) + pairwise_sum(x[m:])


def test_numpy_row_sums_follow_the_specified_pairwise_order():
    rng = np.random.default_rng(4)
    sequential_differs = 0
    for n in [*range(1, 140), 255, 256, 511, 1000, 4096]:
        rows = rng.random((2, n)) * np.exp(rng.normal(0, 2, (2, n)))
        sums = rows.sum(axis=1)  # how hwsim.rram.device.Crossbar.row_conductance_us sums
        for row, got in zip(rows, sums):
            assert got == pairwise_sum(row.tolist()), n
            sequential = 0.0
            for v in row.tolist():
                sequential = sequential + v
            sequential_differs += got != sequential
    assert sequential_differs > 100  # so the order is observable and the check above is not vacuous


def test_read_conductance_counter_is_bit_exact_in_both_rram_models():
    # 160 neurons: rows longer than 128 take the split branch of P. Non-ideal devices make every cell differ.
    chip = ChipConfig(name="wide", mesh_rows=1, mesh_cols=2, core=CoreConfig(axons=24, neurons=160, lanes=4,
                                                                             w_bits=6, v_bits=12),
                      core_type="rram", rram=RramConfig(levels=33, adc_mux=4, read_noise=False))
    rng = np.random.default_rng(9)
    w = rng.integers(-31, 32, (20, 150)).astype(np.int32)
    core = CoreProgram(core=1, stage=0, weights=w, bias=np.zeros(150, np.int32), threshold=50, output_offset=0)
    program = ChipProgram(chip=chip, cores=(core,), host_routes=(Route(1, 0, 20, 0),), n_inputs=20)
    raster = (rng.random((2, 3, 20)) < 0.4).astype(np.uint8)
    res = run_both(program, raster)
    xb = program_chip(program, seed=0).crossbars[0]
    cell = xb.g_read_plus_us + xb.g_read_minus_us
    row_g = [pairwise_sum(cell[a].tolist()) for a in range(20)]
    for b in range(2):
        for t in range(3):
            expected = 0.0
            for a in np.flatnonzero(raster[b, t]):  # ascending driven rows, sequential from 0.0
                expected = expected + row_g[a]
            assert res.extra["read_conductance_us"][b, t, 0] == expected


# --------------------------------------------------------------- §7.4: exact rounding of the cycles

@pytest.mark.parametrize("t_ns, clock_mhz, cycles", [
    (10.000000005, 100.0, 2),  # 1.0000000005 cycles round up (a 1e-9 tolerance gave 1)
    (10.0, 100.0, 1),          # exactly 1
    (10.0, 200.0, 2),          # exactly 2 (the preset)
    (2.24, 3125.0, 7),         # 7 exactly; float64 gives 7.000000000000001
    (0.1, 1.0, 1),             # the smallest product allowed by the ranges, 1e-4 cycles
    (0.2, 5000.0, 1),          # 1 exactly in decimals
])
def test_read_and_conversion_cycles_are_exact_ceilings(t_ns, clock_mhz, cycles):
    cfg = RramConfig(t_read_ns=t_ns, adc_conversion_ns=t_ns)
    assert cfg.read_cycles(clock_mhz) == cycles
    assert cfg.conversion_cycles(clock_mhz) == cycles


def test_boundary_read_time_costs_two_cycles_in_both_models():
    # 10.000000005 ns at 100 MHz: read 2 cycles, conversion 5 ns = 0.5 -> 1 cycle. A core with one neuron
    # and one spiking axon: 1 + (2 + 1) + 1 + 1 = 6 cycles (it would be 5 with the old tolerance).
    rram = RramConfig(**{**IDEAL_RRAM.__dict__, "t_read_ns": 10.000000005})
    chip = RRAM.replace(clock_mhz=100.0, rram=rram)
    program = ChipProgram(chip=chip, cores=(_core(0, 0, [[1]], output_offset=0),),
                          host_routes=(Route(0, 0, 1, 0),), n_inputs=1)
    res = run_both(program, np.array([[1]], np.uint8))
    assert res.counters[0, 0, 0, K["cycles"]] == 6


# ---------------------------------------------------- §3: inputs outside [0, 1], non-binary rasters

@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("bad", [1.5, -0.01, float("nan"), float("inf")])
def test_encoders_refuse_intensities_outside_0_1(encoding, bad):
    images = np.array([[0.0, 0.5, bad]])
    with pytest.raises(InputError, match=r"finite and in \[0, 1\]"):
        encode(images, 4, encoding)


@pytest.mark.parametrize("core_type", CORE_TYPES)
@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_every_implementation_refuses_a_non_binary_raster(core_type, bad):
    program = _skip_program(_chip(core_type))
    raster = np.array([[0, bad]], np.float64)
    if core_type == "digital":
        runs = [lambda: simulate(program, raster), lambda: Chip.from_program(program).run(raster)]
    else:
        rchip = program_chip(program, 0)
        runs = [lambda: simulate_rram(rchip, raster), lambda: run_rram(rchip, raster)]
    for run in runs:
        with pytest.raises(InputError, match="binary"):
            run()


# ------------------------------------------------------------------------- §1: the timestep limit

def test_timestep_limit_is_stated_and_enforced_by_the_encoders():
    from hwsim.limits import MAX_TIMESTEPS

    stated = re.search(r"MAX_TIMESTEPS = (\d+)", SPEC)
    assert stated and int(stated.group(1)) == MAX_TIMESTEPS == 4096
    image = np.array([[1.0]])
    for encoding in ENCODINGS:
        assert encode(image, MAX_TIMESTEPS, encoding).shape == (1, MAX_TIMESTEPS, 1)
        with pytest.raises(InputError, match="timesteps"):
            encode(image, MAX_TIMESTEPS + 1, encoding)


# ------------------------------------------------------- §7.1 and docs/rram.md: one weight mapping

def test_rram_docs_and_spec_give_the_same_level_formula():
    rram_doc = (ROOT / "docs" / "rram.md").read_text(encoding="utf-8")
    formula = re.compile(r"`k\(w\) = ([^`]+)`")
    in_spec, in_doc = formula.findall(SPEC), formula.findall(rram_doc)
    assert in_spec[0] == "floor((2 |w| (L-1) + W_c) / (2 W_c))"  # §7.1's definition
    assert in_doc and set(in_doc) <= set(in_spec)
    assert "2^(w_bits-1))`" not in rram_doc  # the chip-wide full scale that contradicted §7.1


def test_levels_use_the_core_full_scale():
    # a core whose largest |w| is 5: W_c = 8 (not 2^(6-1) = 32); with L = 129 the weight 5 goes to level
    # floor((2 * 5 * 128 + 8) / 16) = 80 (a chip-wide full scale would give round(5 * 128 / 32) = 20)
    w = np.array([[5, -3], [0, 1]])
    assert weight_full_scale(w, 6) == 8
    assert weight_levels(w, 8, 129).tolist() == [[80, 48], [0, 16]]
    chip = RRAM.replace(core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=6, v_bits=12))
    program = ChipProgram(chip=chip, cores=(CoreProgram(core=0, stage=0, weights=w.astype(np.int32),
                                                        bias=np.zeros(2, np.int32), threshold=1, output_offset=0),),
                          host_routes=(Route(0, 0, 2, 0),), n_inputs=2)
    xb = program_chip(program, seed=0).crossbars[0]
    d_g = IDEAL_RRAM.g_on_us / 128  # G_off = 0 (finite_on_off off)
    assert xb.g_plus_us.tolist() == [[80 * d_g, 0.0], [0.0, 16 * d_g]]
    assert xb.g_minus_us.tolist() == [[0.0, 48 * d_g], [0.0, 0.0]]


# =============================================== §1.3: partial-sum chains (fan-in beyond one core)
#
# Each case runs on the golden model and on the engine separately ("implementation"), and each checks the
# numbers worked out below from §1.2, §1.3, §2.2 and §2.4, so a failure names the implementation that is off.
# The chips are the 1 x 4 row above (hops = column distance, barrier 4, 2 cycles per hop) with
# core.partial_sums = true.

IMPLEMENTATIONS = ("golden", "engine")
PSUM_CHIP = DIGITAL.replace(name="row4_psum", core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=4, v_bits=8,
                                                               partial_sums=True))


def _psum_core(core, stage, weights, dest_core) -> CoreProgram:
    # a partial-sum core as §6 requires it: fire 0, discontinuous, leak 0, bias 0, one route of all its neurons
    # to the same neurons of the next core of the chain (src_lo 0, src_hi n_neurons, offset 0, as the mapper does)
    n = np.asarray(weights).shape[1]
    return _core(core, stage, weights, routes=(Route(dest_core, 0, n, 0),), fire=False, psum_out=True)


def run_on(implementation: str, program: ChipProgram, raster: np.ndarray) -> RunResult:
    program.validate()
    if implementation == "golden":
        return simulate(program, raster, record=True)
    return Chip.from_program(program).run(raster, record=True)


def _chain2(chip: ChipConfig, w1, w2) -> ChipProgram:
    # core 1 (stage 0, partial-sum core) -> core 2 (stage 1, membrane-readout output core), 1 hop apart.
    # Inputs 0, 1 -> core 1 axons 0, 1 (1 hop from the host port); inputs 2, 3 -> core 2 axons 0, 1 (2 hops).
    # Neuron j of the 4-input layer part is neuron j of both cores: rows 0-1 of its weights in core 1, rows 2-3
    # in core 2.
    return ChipProgram(chip=chip,
                       cores=(_psum_core(1, 0, w1, dest_core=2), _core(2, 1, w2, output_offset=0, fire=False)),
                       host_routes=(Route(1, 0, 2, 0), Route(2, 2, 4, 0)), n_inputs=4)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_two_core_chain_adds_the_partial_sums_and_pays_merge(implementation):
    w1, w2 = [[3, -2], [4, 1]], [[1, 2], [5, 1]]
    raster = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]], np.uint8)
    res = run_on(implementation, _chain2(PSUM_CHIP, w1, w2), raster)
    # t0, every input spikes. Core 1: v = [3 + 4, -2 + 1] = [7, -1]; fire = 0 and UPDATE changes nothing, so its
    # end-of-timestep membranes are [7, -1]: both nonzero, two partial-sum packets of 1 hop each.
    # Core 2: MERGE v = [0 + 7, 0 - 1] = [7, -1], then axon 0: [8, 1], axon 1: [13, 2] = the unsplit sums
    # (3 + 4 + 1 + 5 = 13, -2 + 1 + 2 + 1 = 2).
    # t1, no input: core 1's membranes are 0 (discontinuous), nothing is sent; core 2 merges a cleared buffer: [0, 0].
    # t2, inputs 0 and 3: core 1 v = [3, -2] (two packets); core 2 merges [3, -2], then its axon 1: [8, -1].
    assert res.output_membranes[0].tolist() == [[13, 2], [0, 0], [8, -1]]
    assert res.membranes[0][0].tolist() == [[7, -1], [0, 0], [3, -2]]  # core 1 = what it sent
    assert res.output_spikes.sum() == 0
    c = res.counters[0]  # (T, cores, counters); core 1 is k = 0, core 2 is k = 1
    # packets = nonzero partial sums (§1.3), hops = 1 each (core 1 -> core 2); the output core sends nothing
    assert c[:, 0, K["packets"]].tolist() == [2, 0, 2] and c[:, 0, K["hops"]].tolist() == [2, 0, 2]
    assert c[:, 1, K["packets"]].tolist() == [0, 0, 0] and c[:, 1, K["hops"]].tolist() == [0, 0, 0]
    assert c[:, :, K["output_spikes"]].sum() == 0
    # §2.5: neuron_updates = n_neurons every timestep, synaptic_ops = n_spk * n_neurons
    assert c[:, :, K["neuron_updates"]].tolist() == [[2, 2]] * 3
    assert c[:, :, K["synaptic_ops"]].tolist() == [[4, 4], [0, 0], [2, 2]]
    # §2.4 with G = 2 (one lane): core 1 (not a receiver) 1 + (n_spk * 2 + 1 if n_spk) + 2 + 1:
    # t0 9, t1 4, t2 7. Core 2 (receiver) adds MERGE = G = 2 every timestep: t0 1 + 2 + 5 + 2 + 1 = 11,
    # t1 1 + 2 + 0 + 2 + 1 = 6, t2 1 + 2 + 3 + 2 + 1 = 9.
    assert c[:, :, K["cycles"]].tolist() == [[9, 11], [4, 6], [7, 9]]
    # §1.2: core 1's route: packets + 2 * 1 hop = 4 when it sends. Host: max hops over its entries = 2;
    # t0 4 packets, hops 1 + 1 + 2 + 2 = 6, route 4 + 2 * 2 = 8; t1 nothing; t2 2 packets, hops 1 + 2, route 6.
    assert res.host_counters[0].tolist() == [[4, 6, 8], [0, 0, 0], [2, 3, 6]]
    # timestep = barrier 4 + host route + stage 0 (core 1 + its route) + stage 1 (core 2)
    assert res.timestep_cycles[0].tolist() == [4 + 8 + (9 + 4) + 11, 4 + 0 + 4 + 6, 4 + 6 + (7 + 4) + 9]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_zero_partial_sums_are_not_sent(implementation):
    # core 1 weights: neuron 0 gets +3 then -3 (zero at the end although both axons touched it), neuron 1 gets 2 + 1
    w1, w2 = [[3, 2], [-3, 1]], [[1, 1], [1, 1]]
    raster = np.array([[1, 1, 0, 0]], np.uint8)  # only core 1's inputs spike
    res = run_on(implementation, _chain2(PSUM_CHIP, w1, w2), raster)
    # core 1 ends with v = [0, 3]: one packet (neuron 1, value 3, 1 hop); neuron 0's zero is skipped (§2.2 step 4)
    assert res.membranes[0][0, 0].tolist() == [0, 3]
    assert res.counters[0, 0, 0, K["packets"]] == 1 and res.counters[0, 0, 0, K["hops"]] == 1
    # core 2 merges [0, 3] and has no spiking axon of its own
    assert res.output_membranes[0, 0].tolist() == [0, 3]
    # cycles: core 1 1 + (2 * 2 + 1) + 2 + 1 = 9, route 1 packet + 2 * 1 = 3 (it would be 4 with the zero sent);
    # core 2 1 + 2 + 0 + 2 + 1 = 6; host 2 packets of 1 hop, max hops over its entries 2: route 2 + 4 = 6
    assert res.counters[0, 0, :, K["cycles"]].tolist() == [9, 6]
    assert res.host_counters[0, 0].tolist() == [2, 2, 6]
    assert res.timestep_cycles[0].tolist() == [4 + 6 + (9 + 3) + 6]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_chain_fixes_the_order_of_saturating_additions(implementation):
    # v_bits = 8: membranes saturate to -128..127 after every single addition (§2.2); w_bits = 7: -64..63
    chip = PSUM_CHIP.replace(core=CoreConfig(axons=2, neurons=2, lanes=1, w_bits=7, v_bits=8, partial_sums=True))
    w1, w2 = [[63, -64], [63, -64]], [[63, -1], [-64, 63]]
    res = run_on(implementation, _chain2(chip, w1, w2), np.array([[1, 1, 1, 1]], np.uint8))
    # Core 1: neuron 0: 63, 126; neuron 1: -64, -128 (reached exactly, no clamp). Both sent.
    assert res.membranes[0][0, 0].tolist() == [126, -128]
    # §1.3 order at core 2: the partial sum first (MERGE), then its own axons ascending:
    #   neuron 0: 0 + 126 = 126; + 63 = 189 -> 127; - 64 = 63
    #   neuron 1: 0 - 128 = -128; - 1 = -129 -> -128; + 63 = -65
    # Another order gives another result: own axons first and the partial sum last (arrival order of a
    # buffer read after INTEGRATE) gives 63 - 64 + 126 = 125 and -1 + 63 - 128 = -66, which is also the
    # unsaturated sum. The chain's 63 equals the unsplit neuron's ascending-input result (63, 126, 127, 63).
    assert res.output_membranes[0, 0].tolist() == [63, -65]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_receiver_pays_merge_cycles_when_no_partial_sum_arrives(implementation):
    # 4-neuron cores with 2 lanes; both cores use 3 neurons, so G = ceil(3 / 2) = 2 (not n_neurons = 3)
    chip = PSUM_CHIP.replace(core=CoreConfig(axons=2, neurons=4, lanes=2, w_bits=4, v_bits=8, partial_sums=True))
    w1 = [[1, 2, -3], [-1, -2, 3]]  # with both axons spiking, every partial sum is 0
    program = ChipProgram(chip=chip,
                          cores=(_psum_core(1, 0, w1, dest_core=2),
                                 _core(2, 1, [[4, 5, 6]], output_offset=0, fire=False)),
                          host_routes=(Route(1, 0, 2, 0), Route(2, 2, 3, 0)), n_inputs=3)
    raster = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 0]], np.uint8)
    res = run_on(implementation, program, raster)
    # t0: nothing anywhere. Core 1: 1 + 0 + G + 1 = 4. Core 2 is a receiver (fixed by the program): MERGE G = 2
    # cycles even though no packet came: 1 + 2 + 0 + 2 + 1 = 6. No packets: timestep 4 + 0 + 4 + 6 = 14.
    # t1: only input 2 (host -> core 2, 2 hops). Core 2: 1 + 2 + (1 * 2 + 1) + 2 + 1 = 9; host route
    # 1 + 2 * 2 = 5; timestep 4 + 5 + 4 + 9 = 22. Core 2's membranes: its axon 0's weights [4, 5, 6].
    # t2: core 1's two axons: 1 + (2 * 2 + 1) + 2 + 1 = 9, all partial sums 0, so no packet and no route
    # cycles; core 2 again 6; host 2 packets of 1 hop, route 2 + 2 * 2 = 6; timestep 4 + 6 + 9 + 6 = 25.
    c = res.counters[0]
    assert c[:, :, K["cycles"]].tolist() == [[4, 6], [4, 9], [9, 6]]
    assert c[:, 0, K["packets"]].tolist() == [0, 0, 0]
    assert res.output_membranes[0].tolist() == [[0, 0, 0], [4, 5, 6], [0, 0, 0]]
    assert res.timestep_cycles[0].tolist() == [14, 22, 25]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_receiver_can_itself_send_partial_sums(implementation):
    # a chain of 3: core 1 -> core 2 (receiver and partial-sum core) -> core 3 (output), 1 hop each.
    # Inputs 0-1 -> core 1, 2-3 -> core 2, 4-5 -> core 3 (1, 2 and 3 hops from the host port).
    program = ChipProgram(chip=PSUM_CHIP,
                          cores=(_psum_core(1, 0, [[1, 2], [3, 4]], dest_core=2),
                                 _psum_core(2, 1, [[5, 6], [7, -8]], dest_core=3),
                                 _core(3, 2, [[1, 1], [1, 1]], output_offset=0, fire=False)),
                          host_routes=(Route(1, 0, 2, 0), Route(2, 2, 4, 0), Route(3, 4, 6, 0)), n_inputs=6)
    res = run_on(implementation, program, np.ones((1, 1, 6), np.uint8))
    # core 1: [1 + 3, 2 + 4] = [4, 6]; core 2: MERGE [4, 6], + [5, 6] + [7, -8] = [16, 4]; core 3: MERGE [16, 4],
    # + [1, 1] + [1, 1] = [18, 6] = the unsplit sums (1 + 3 + 5 + 7 + 1 + 1, 2 + 4 + 6 - 8 + 1 + 1)
    assert [m[0, 0].tolist() for m in res.membranes] == [[4, 6], [16, 4], [18, 6]]
    assert res.output_membranes[0, 0].tolist() == [18, 6]
    # cycles (G = 2): core 1 1 + 5 + 2 + 1 = 9; cores 2 and 3 receive: 1 + 2 + 5 + 2 + 1 = 11.
    # routes: cores 1 and 2 send 2 packets of 1 hop: 2 + 2 = 4. Host: 6 packets, hops 1+1+2+2+3+3 = 12, max 3,
    # route 6 + 6 = 12. Timestep 4 + 12 + (9 + 4) + (11 + 4) + 11 = 55.
    assert res.counters[0, 0, :, K["cycles"]].tolist() == [9, 11, 11]
    assert res.counters[0, 0, :, K["packets"]].tolist() == [2, 2, 0]
    assert res.host_counters[0, 0].tolist() == [6, 12, 12]
    assert res.timestep_cycles[0].tolist() == [55]


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_partial_sums_follow_every_matching_entry_to_its_offset_neuron(implementation):
    # core 1 (partial-sum core, one axon, 2 neurons) has two entries: (core 3, src 0..2, offset 0) and
    # (core 2, src 0..1, offset 1): neuron 0 goes to core 3 neuron 0 and to core 2 neuron 1 = 1 + (0 - 0);
    # neuron 1 only to core 3 neuron 1. Cores 2 and 3 are both receivers (membrane readout, outputs 0-1, 2-3).
    program = ChipProgram(chip=PSUM_CHIP,
                          cores=(_core(1, 0, [[3, 5]], routes=(Route(3, 0, 2, 0), Route(2, 0, 1, 1)), fire=False,
                                       psum_out=True),
                                 _core(2, 1, [[1, 1]], output_offset=0, fire=False),
                                 _core(3, 1, [[1, 1]], output_offset=2, fire=False)),
                          host_routes=(Route(1, 0, 1, 0), Route(2, 1, 2, 0), Route(3, 2, 3, 0)), n_inputs=3)
    res = run_on(implementation, program, np.array([[1, 0, 0]], np.uint8))
    # core 1: v = [3, 5]. Packets, neuron ascending then entries in table order: (0 -> core 3, 2 hops),
    # (0 -> core 2, 1 hop), (1 -> core 3, 2 hops): 3 packets, 5 hops. Core 2 merges [0, 3], core 3 [3, 5].
    assert res.output_membranes[0, 0].tolist() == [0, 3, 3, 5]
    assert res.counters[0, 0, 0, K["packets"]] == 3 and res.counters[0, 0, 0, K["hops"]] == 5
    # cycles (G = 2): core 1 1 + 3 + 2 + 1 = 7, route 3 + 2 * 2 (max over its entries) = 7; both receivers
    # 1 + 2 + 0 + 2 + 1 = 6. Host: 1 packet of 1 hop, max hops over its entries 3: route 1 + 6 = 7.
    assert res.counters[0, 0, :, K["cycles"]].tolist() == [7, 6, 6]
    assert res.host_counters[0, 0].tolist() == [1, 1, 7]
    assert res.timestep_cycles[0].tolist() == [4 + 7 + (7 + 7) + 6]


# ------------------------------------------------------------ §1.4: the exit unit's cycles and counters

def _spec_table(heading: str) -> list[list[str]]:
    """The rows (cells without backticks) of the first table in §1.4 whose header starts with ``heading``."""
    section = SPEC[SPEC.index("### 1.4 Early exit") : SPEC.index("## 2. The digital spike-sparse core")]
    lines = section[section.index(heading) :].splitlines()
    rows = []
    for line in lines[2:]:  # header and separator
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def _formula(text: str, K: int) -> int:
    """A table cell such as ``2K + 3``, ``K`` or ``0`` for this K (digits, K, + and spaces only)."""
    assert re.fullmatch(r"[0-9K+ ]+", text), text
    terms = text.replace(" ", "").split("+")
    return sum(int(term[:-1] or 1) * K if term.endswith("K") else int(term) for term in terms)


@pytest.mark.parametrize("K", [2, 3, 10, 257])
def test_exit_cycles_and_counters_are_the_tables_of_the_spec(K):
    from hwsim.exit_unit import exit_counters, exit_cycles

    cycles = {row[0]: row[1] for row in _spec_table("| rule | `exit_cycles`")}
    assert set(cycles) == {"none", "margin", "confidence", "entropy"}
    for rule, text in cycles.items():
        assert exit_cycles(rule, K) == _formula(text, K), rule
    counters = _spec_table("| counter | `margin`")
    assert [row[0] for row in counters] == ["cycles", "acc_updates", "multiplies", "lut_reads"]
    for column, rule in enumerate(("margin", "confidence", "entropy"), start=1):
        assert exit_counters(rule, K) == tuple(_formula(row[column], K) for row in counters), rule
    assert exit_counters("none", K) == (0, 0, 0, 0)


@pytest.mark.parametrize("core_type", CORE_TYPES)
def test_every_timestep_run_pays_exit_cycles_and_later_ones_nothing(core_type):
    # §1.2: timestep_cycles + exit_cycles; §1.4: the image ends after the first timestep whose rule says exit.
    # Core 0 (membrane readout, outputs 0 and 1): input 0 adds 1 to output 0, input 1 adds 1 to output 1.
    # Inputs per timestep [1, 1], [1, 0], [1, 0]: acc [1, 1], [2, 1], [3, 1]: margins 0, 1, 2.
    # margin:2 (K = 2, exit_cycles = K + 1 = 3) ends the image after t2; margin:1 after t1.
    from hwsim.exit_unit import parse_exit_rule

    program = ChipProgram(chip=_chip(core_type), cores=(_core(0, 0, [[1, 0], [0, 1]], output_offset=0, fire=False),),
                          host_routes=(Route(0, 0, 2, 0),), n_inputs=2).validate()  # fmt: skip
    raster = np.array([[[1, 1], [1, 0], [1, 0], [0, 1]]], np.uint8)
    fixed = run_both(program, raster)
    for text, ran in (("margin:2", 3), ("margin:1", 2), ("margin:0", 1), ("margin:3", 4)):
        rule = parse_exit_rule(text, 2)
        if core_type == "digital":
            runs = [simulate(program, raster, exit_rule=rule), Chip.from_program(program).run(raster, exit_rule=rule)]
        else:
            rchip = program_chip(program, seed=0)
            runs = [simulate_rram(rchip, raster, exit_rule=rule), run_rram(rchip, raster, exit_rule=rule)]
        want = [int(c) + 3 if t < ran else 0 for t, c in enumerate(fixed.timestep_cycles[0])]
        for res in runs:
            assert res.exit_timesteps.tolist() == [ran], text
            assert res.timestep_cycles[0].tolist() == want, text
            assert res.exit_counters[0, :, 0].tolist() == [3 if t < ran else 0 for t in range(4)]
            assert not res.counters[0, ran:].any() and not res.host_counters[0, ran:].any()

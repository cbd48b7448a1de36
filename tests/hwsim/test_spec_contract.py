"""Places where docs/chip-spec.md was made exact (issue 13 §5), each pinned in every implementation.

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

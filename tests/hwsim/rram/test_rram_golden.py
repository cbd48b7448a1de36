"""RRAM golden model: ideal equivalence with the digital core, ADC arithmetic by hand, cycles, seeds.

Why the equivalence cases avoid mid-accumulation saturation: the digital core
(chip-spec §2.2) saturates after every single addition, the RRAM core adds a
whole column sum once (§7.3). The two agree exactly when no partial sum of
the digital core leaves the v_bits range. The cases below bound it: the
small chip has 12-bit membranes (-2048..2047), fan-in <= 40 and |w| <= 8, so
a timestep's sum is at most 320 in magnitude, plus |bias| <= 8; in
discontinuous mode the membrane restarts at 0 every timestep, and in the
continuous case 5 timesteps keep |v| <= 5 * 328 = 1640 < 2048.
"""

import numpy as np
import pytest

from hwsim.golden import simulate
from hwsim.result import COUNTER_NAMES
from hwsim.rram.device import program_chip
from hwsim.rram.golden import adc_convert, rram_core_cycles, simulate_rram
from hwsim.testing import random_raster

from rram_cases import DIGITAL, W_FULL, mapped, rram_chip

COMPARED = [k for k, n in enumerate(COUNTER_NAMES) if n not in ("sram_word_reads", "cycles")]


def assert_same_run(res_d, res_r):
    assert np.array_equal(res_d.output_spikes, res_r.output_spikes)
    assert np.array_equal(res_d.output_membranes, res_r.output_membranes)
    for m_d, m_r, s_d, s_r in zip(res_d.membranes, res_r.membranes, res_d.core_spikes, res_r.core_spikes):
        assert np.array_equal(m_d, m_r) and np.array_equal(s_d, s_r)
    assert np.array_equal(res_d.counters[..., COMPARED], res_r.counters[..., COMPARED])
    assert np.array_equal(res_d.host_counters, res_r.host_counters)


@pytest.mark.parametrize(
    "rram, registers, timesteps",
    [
        (dict(), dict(integration="discontinuous", reset="subtract"), 6),
        (dict(levels=2 * W_FULL + 1), dict(integration="discontinuous", reset="zero", leak_shift=2), 6),
        (dict(finite_on_off=True, on_off_ratio=10.0),
         dict(integration="continuous", reset="subtract", leak_shift=1), 5),
        (dict(adc_bits=10, adc_mux=32), dict(integration="continuous", reset="zero", fire_output=False), 5),
    ],
)
def test_ideal_rram_equals_digital(rram, registers, timesteps):
    chip = rram_chip(**rram)
    net, prog_r = mapped(chip, sizes=(40, 36, 10), seed=3, bias_range=(-8, 8), **registers)
    _, prog_d = mapped(DIGITAL, sizes=(40, 36, 10), seed=3, bias_range=(-8, 8), **registers)
    assert max(np.abs(layer.weights).max() for layer in net.layers) <= 8
    raster = random_raster(np.random.default_rng(5), 3, timesteps, 40, 0.35)
    res_d = simulate(prog_d, raster, record=True)
    res_r = simulate_rram(program_chip(prog_r, seed=0), raster, record=True)
    assert res_d.core_spikes[0].sum() > 0 and res_d.output_membranes.any()  # the case is not trivially silent
    assert_same_run(res_d, res_r)


def test_adc_quantisation_and_saturation_by_hand():
    # One layer, ideal devices, adc_scale s = 3, 5-bit ADC (codes -16..15):
    # added value = clamp(floor(S / 3 + 1/2), -16, 15) * 3 with S the exact integer column sum.
    chip = rram_chip(adc_bits=5)
    net, prog = mapped(chip, sizes=(30, 20), seed=8, weight_range=(-20, 20), bias_range=(0, 0),
                       integration="discontinuous", fire_output=False)
    raster = random_raster(np.random.default_rng(2), 2, 4, 30, 0.5)
    res = simulate_rram(program_chip(prog, 0, adc_scales=[3]), raster)
    S = raster.astype(np.int64) @ net.layers[0].weights.astype(np.int64)  # (B, T, 20)
    codes = np.clip(np.floor(S / 3 + 0.5), -16, 15).astype(np.int64)
    assert np.abs(S).max() > 3 * 16  # some sums do saturate the ADC
    assert np.array_equal(res.output_membranes, codes * 3)
    # the unclamped peak is the largest |round(S / 3)|
    assert res.extra["adc_peak"].max() == np.abs(np.floor(S / 3 + 0.5)).max()


def test_adc_convert_rounds_half_up():
    assert adc_convert(2.5, 1.0, 8) == (3, 3.0)
    assert adc_convert(-2.5, 1.0, 8) == (-2, -2.0)
    assert adc_convert(-2.51, 1.0, 8) == (-3, -3.0)
    assert adc_convert(1000.0, 2.0, 4) == (7, 500.0)
    assert adc_convert(-1000.0, 2.0, 4) == (-8, -500.0)


def test_cycles_and_counters_by_hand():
    # small chip: adc_mux = 4 -> 32 / 4 = 8 ADCs; 10 ns and 5 ns at 200 MHz = 2 and 1 cycles.
    chip = rram_chip(adc_mux=4, t_read_ns=10.0, adc_conversion_ns=5.0)
    # 30 neurons: ceil(30/8) = 4 conversion rounds; lanes 4 -> G = 8 update cycles.
    assert rram_core_cycles(3, 30, chip) == 1 + (2 + 4 * 1) + 8 + 1
    assert rram_core_cycles(0, 30, chip) == 1 + 0 + 8 + 1
    net, prog = mapped(chip, sizes=(40, 30), seed=4)
    raster = np.zeros((2, 40), np.uint8)
    raster[0, [1, 5, 9]] = 1
    res = simulate_rram(program_chip(prog, 0), raster)
    c = dict(zip(COUNTER_NAMES, res.counters[0, 0, 0]))
    assert c["axon_events"] == 3 and c["synaptic_ops"] == 90 and c["sram_word_reads"] == 0
    assert c["cycles"] == 16 and res.counters[0, 1, 0, COUNTER_NAMES.index("cycles")] == 10
    assert res.extra["rram_counters"][0, 0, 0].tolist() == [3, 180, 30]
    assert res.extra["rram_counters"][0, 1, 0].tolist() == [0, 0, 0]
    # ideal G_off = 0: the read conductance is the sum of the programmed levels of rows 1, 5, 9 in uS.
    # Weights in -8..8 with |w| = 8 present -> W_c = 8; L - 1 = 32 -> level = 4 |w|, dG = 100 / 32 uS.
    assert np.abs(net.layers[0].weights).max() == 8
    levels = 4 * np.abs(net.layers[0].weights[[1, 5, 9]]).sum()
    assert res.extra["read_conductance_us"][0, 0, 0] == pytest.approx(levels * 100.0 / W_FULL, rel=1e-12)
    # output core: barrier 4 + host route (3 packets + 0 hops) + core 16 cycles
    assert res.timestep_cycles[0, 0] == 4 + 3 + 16


def test_variation_changes_results_and_seed_reproduces_them():
    chip = rram_chip(variation=True, variation_sigma=0.5, read_noise=True, read_noise_sigma=0.1,
                     finite_on_off=True, stuck_faults=True, stuck_on_rate=0.02, ir_drop=True)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=1)
    raster = random_raster(np.random.default_rng(0), 3, 5, 40, 0.4)
    a = simulate_rram(program_chip(prog, 1), raster, record=True)
    b = simulate_rram(program_chip(prog, 1), raster, record=True)
    c = simulate_rram(program_chip(prog, 2), raster, record=True)
    assert all(np.array_equal(x, y) for x, y in zip(a.membranes, b.membranes))
    assert not all(np.array_equal(x, y) for x, y in zip(a.membranes, c.membranes))


def test_read_noise_depends_on_image_index_not_batch_position():
    chip = rram_chip(read_noise=True, read_noise_sigma=0.2)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=1)
    raster = random_raster(np.random.default_rng(0), 3, 4, 40, 0.4)
    rc = program_chip(prog, 4)
    whole = simulate_rram(rc, raster, record=True)
    tail = simulate_rram(rc, raster[1:], first_index=1, record=True)
    assert all(np.array_equal(w[1:], t) for w, t in zip(whole.membranes, tail.membranes))
    # and the noise does act: the same image at another index reads differently
    moved = simulate_rram(rc, raster[1:], first_index=7, record=True)
    assert not all(np.array_equal(w[1:], m) for w, m in zip(whole.membranes, moved.membranes))


def test_tuned_threshold_register_is_used():
    chip = rram_chip()
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=1)
    raster = random_raster(np.random.default_rng(0), 2, 4, 40, 0.4)
    rc = program_chip(prog, 0)
    base = simulate_rram(rc, raster, record=True)
    high = simulate_rram(rc.with_thresholds([2047] * len(prog.cores)), raster, record=True)
    assert base.core_spikes[0].sum() > 0 and high.core_spikes[0].sum() == 0  # max |v| <= 328 < 2047

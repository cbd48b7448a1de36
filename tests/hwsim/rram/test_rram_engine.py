"""RRAM fast path: equals the golden model bit for bit (with every non-ideality on, read noise
included), does not depend on chunking or thread count, and its kernel equals its NumPy twin."""

import math

import numpy as np
import pytest

from hwsim.kernels.rram import crossbar_read
from hwsim.reference.rram import crossbar_read as crossbar_read_ref
from hwsim.rram.device import program_chip
from hwsim.rram.engine import calibrate_adc_scales, run_rram
from hwsim.rram.golden import simulate_rram
from hwsim.testing import random_raster
from rram_cases import mapped, rram_chip

NOISY = dict(variation=True, variation_sigma=0.3, array_variation=True, array_sigma=0.2, read_noise=True,
             read_noise_sigma=0.1, finite_on_off=True,
             stuck_faults=True, stuck_on_rate=0.02, stuck_off_rate=0.01, ir_drop=True, wire_resistance_ohm=5.0)


def assert_results_equal(g, f):
    for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles"):
        assert np.array_equal(getattr(g, name), getattr(f, name)), name
    assert g.extra.keys() == f.extra.keys()
    for k in g.extra:
        assert np.array_equal(g.extra[k], f.extra[k]), k


@pytest.mark.parametrize(
    "rram, registers, scales",
    [
        (dict(NOISY, adc_bits=6), dict(integration="discontinuous", reset="subtract"), [2, 3, 1]),
        (dict(NOISY, variation_distribution="normal", adc_bits=8), dict(integration="continuous", reset="zero",
                                                                         leak_shift=1), [1, 1, 2]),
        (dict(adc_bits=5), dict(integration="continuous", reset="subtract", fire_output=False), [4, 1, 1]),
    ],
)
def test_fast_path_equals_golden(rram, registers, scales):
    chip = rram_chip(**rram)
    _, prog = mapped(chip, sizes=(40, 60, 10), seed=1, **registers)  # 60 neurons -> 2 cores in stage 1
    assert len(prog.cores) == 3
    rc = program_chip(prog, 3, adc_scales=scales)
    raster = random_raster(np.random.default_rng(0), 5, 6, 40, 0.4)
    g = simulate_rram(rc, raster, first_index=10)
    f = run_rram(rc, raster, first_index=10, chunk_size=2, threads=2)
    assert g.counters[..., 4].sum() > 0  # neurons fired: the comparison is not between two silent runs
    assert_results_equal(g, f)


def test_tuned_thresholds_on_the_fast_path():
    chip = rram_chip(**NOISY)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=2)
    rc = program_chip(prog, 1).with_thresholds([5, 40])
    raster = random_raster(np.random.default_rng(1), 3, 5, 40, 0.4)
    assert_results_equal(simulate_rram(rc, raster), run_rram(rc, raster))


def test_chunks_and_threads_do_not_change_bits():
    chip = rram_chip(**NOISY)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=2)
    rc = program_chip(prog, 7)
    raster = random_raster(np.random.default_rng(3), 9, 4, 40, 0.4)
    a = run_rram(rc, raster, chunk_size=256, threads=1)
    b = run_rram(rc, raster, chunk_size=4, threads=3)
    assert_results_equal(a, b)


def test_images_are_encoded_like_the_encoder():
    from hwsim.encoding import encode

    chip = rram_chip(**NOISY)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=2)
    rc = program_chip(prog, 7)
    images = np.random.default_rng(4).random((5, 40))
    a = run_rram(rc, images, timesteps=4, seed=3, chunk_size=2)
    b = run_rram(rc, encode(images, 4, "rate", 3, 0))
    assert_results_equal(a, b)


@pytest.mark.reference
@pytest.mark.parametrize("noisy", [False, True])
def test_crossbar_read_kernel_equals_numpy_twin(noisy):
    rng = np.random.default_rng(9)
    n_axons, n_neurons = 50, 13
    g_diff = rng.normal(0, 30, n_axons * n_neurons)
    g_sq = rng.random(n_axons * n_neurons) * 1e3
    row_g = rng.random(n_axons) * 100
    active = np.sort(rng.choice(n_axons, 17, replace=False)).astype(np.int64)
    z = rng.standard_normal(n_neurons)
    outs = []
    for fn in (crossbar_read, crossbar_read_ref):
        acc, acc_sq, codes = np.zeros(n_neurons), np.zeros(n_neurons), np.zeros(n_neurons, np.int64)
        rg, peak = fn(active, 17, g_diff, g_sq, row_g, n_neurons, 0.2, 0.02, noisy, z, 0.37, -64.0, 63.0,
                      acc, acc_sq, codes)
        outs.append((rg, peak, acc.copy(), acc_sq.copy(), codes.copy()))
    (rg0, p0, a0, s0, c0), (rg1, p1, a1, s1, c1) = outs
    assert rg0 == rg1 and p0 == p1
    assert np.array_equal(a0, a1) and np.array_equal(s0, s1) and np.array_equal(c0, c1)
    assert c0.min() == -64 or c0.max() == 63  # the case exercises ADC saturation


def test_read_noise_has_the_requested_spread():
    # One core, one layer, membrane readout, no other non-ideality, adc_scale 1 with a wide ADC.
    # Every image drives the same rows, so each neuron's membrane is floor(I/I_lsb + 1/2) with
    # I = V (sum of levels) dG + V sigma sqrt(sum G^2) z. In weight units the noise has standard
    # deviation sigma * sqrt(sum_a k_a^2) (G = k dG, I_unit = V dG). Over n = 600 images the sample
    # standard deviation (rounding adds 1/12 variance) is within 6 s / sqrt(2n) of the target.
    sigma = 0.05
    chip = rram_chip(read_noise=True, read_noise_sigma=sigma)
    net, prog = mapped(chip, sizes=(40, 8), seed=5, weight_range=(10, 31), bias_range=(0, 0),
                       integration="discontinuous", fire_output=False)
    raster = np.zeros((600, 1, 40), np.uint8)
    raster[:, 0, :20] = 1
    res = run_rram(program_chip(prog, 2), raster)
    mem = res.output_membranes[:, 0, :].astype(np.float64)
    w = net.layers[0].weights[:20].astype(np.float64)
    ideal = w.sum(axis=0)
    target = np.sqrt(sigma**2 * (w**2).sum(axis=0) + 1 / 12)
    n = mem.shape[0]
    assert np.all(np.abs(mem.mean(axis=0) - ideal) < 6 * target / math.sqrt(n))
    assert np.all(np.abs(mem.std(axis=0) - target) < 6 * target / math.sqrt(2 * n))


def test_calibrated_adc_scales_hold_the_largest_sum():
    chip = rram_chip(adc_bits=6)  # codes up to 31
    net, prog = mapped(chip, sizes=(40, 30, 10), seed=1)
    raster = random_raster(np.random.default_rng(0), 6, 4, 40, 0.4)
    scales = calibrate_adc_scales(prog, raster)
    # independent: the largest |sum of weights over spiking inputs| of layer 0, from the raster
    s0 = np.abs(raster.astype(np.int64) @ net.layers[0].weights.astype(np.int64)).max()
    expected0 = 1
    while s0 / expected0 > 31:
        expected0 *= 2
    assert scales[0] == expected0 and expected0 > 1
    assert all(s >= 1 and s & (s - 1) == 0 for s in scales)


@pytest.mark.filterwarnings("ignore::mapping.errors.DRCWarning")  # bundled net: 12-bit membranes, chips: 16
def test_bundled_network_on_the_ideal_rram_preset_equals_the_digital_chip():
    # The bundled 64-64-10 digits network has 6-bit weights: |sum| <= 64 * 32 = 2048 per timestep, far
    # inside 16-bit membranes, so the digital core never saturates mid-accumulation; W_c = 32 divides
    # L - 1 = 128 (lossless levels) and a 24-bit ADC with scale 1 holds every sum.
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.golden import simulate
    from hwsim.rram.yield_study import with_rram
    from hwsim.training import load_default_network
    from mapping import map_network

    net = load_default_network()
    rram = load_chip_config("rram")
    prog_r = with_rram(map_network(net, rram, "row_major"), variation=False, array_variation=False,
                       read_noise=False, stuck_faults=False, finite_on_off=False, ir_drop=False, adc_bits=24)
    prog_d = map_network(net, load_chip_config("default_28nm"), "row_major")
    raster = encode(load_dataset("digits").x_test[:12], 8, "rate", 0, 0)
    d = simulate(prog_d, raster)
    f = run_rram(program_chip(prog_r, 5), raster)
    assert np.array_equal(d.output_membranes, f.output_membranes)
    assert np.array_equal(d.counters[..., 4], f.counters[..., 4])  # spikes of every core
    assert (d.predictions == f.predictions).all() and d.counters[..., 4].sum() > 0

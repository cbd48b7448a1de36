"""RRAM device model: level mapping, sampled statistics, faults, IR drop, seeds, config checks.

Statistical tolerances are derived from the sample size: a sample mean of n
draws with standard deviation s is within 6 s / sqrt(n) of the true mean
except with probability ~2e-9; a sample standard deviation has standard
error ~ s / sqrt(2n) (normal data); a fault count is binomial with standard
deviation sqrt(n p (1-p)).
"""

import dataclasses
import math

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig, RramConfig, load_chip_config
from hwsim.errors import ConfigError
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.rram.device import (
    FAULT_STUCK_OFF,
    FAULT_STUCK_ON,
    ir_drop_path_ohm,
    program_chip,
    read_noise_normals,
    sample_crossbar,
    target_conductances,
    unit_current_ua,
    weight_full_scale,
    weight_levels,
)

# A big physical core so one crossbar gives many samples: 256 x 128 x 2 = 65536 cells.
BIG = ChipConfig(name="big", mesh_rows=1, mesh_cols=1,
                 core=CoreConfig(axons=256, neurons=128, lanes=4, w_bits=8, v_bits=16))


def big_chip(**rram):
    base = dict(levels=129, variation=False, array_variation=False, read_noise=False, stuck_faults=False,
                finite_on_off=False, ir_drop=False)
    base.update(rram)
    return BIG.replace(core_type="rram", rram=RramConfig(**base))


def full_core(chip, weight):
    w = np.full((chip.core.axons, chip.core.neurons), weight, np.int32)
    cp = CoreProgram(core=0, stage=0, weights=w, bias=np.zeros(chip.core.neurons, np.int32), threshold=1,
                     output_offset=0)
    return cp


def test_levels_by_hand():
    # W_c = 128. L = 129: level = |w|. L = 16: round(|w| * 15 / 128), half up:
    # w=64 -> 7.5 -> 8; w=-17 -> 1.99 -> 2; w=4 -> 0.47 -> 0; w=-128 -> 15.
    w = np.array([0, 1, -1, 64, -128, 127])
    assert weight_levels(w, 128, 129).tolist() == [0, 1, 1, 64, 128, 127]
    assert weight_levels(np.array([64, -17, 4, -128]), 128, 16).tolist() == [8, 2, 0, 15]
    # W_c = 32, L = 129: level = 4 |w|
    assert weight_levels(np.array([-32, 5, 0]), 32, 129).tolist() == [128, 20, 0]


def test_weight_full_scale_by_hand():
    assert weight_full_scale(np.array([[3, -31]]), 8) == 32
    assert weight_full_scale(np.array([[32, 0]]), 8) == 32
    assert weight_full_scale(np.array([[33]]), 8) == 64
    assert weight_full_scale(np.array([[-128, 1]]), 8) == 128
    assert weight_full_scale(np.zeros((2, 2), int), 8) == 1
    assert weight_full_scale(np.array([[1]]), 8) == 1


def test_target_conductances_by_hand():
    # G_on = 100 uS, ratio 20 -> G_off = 5 uS; L = 129 -> dG = 95 / 128 uS per level.
    cfg = RramConfig(levels=129, g_on_us=100.0, on_off_ratio=20.0)
    gp, gm = target_conductances(np.array([3, -128, 0]), 128, cfg)
    dg = 95.0 / 128
    np.testing.assert_allclose(gp, [5 + 3 * dg, 5, 5], rtol=1e-15)
    np.testing.assert_allclose(gm, [5, 100, 5], rtol=1e-15)
    # one weight unit = V (G_on - G_off) / W = 0.2 * 95 / 128 uA
    assert unit_current_ua(cfg, 128) == pytest.approx(0.2 * 95 / 128, rel=1e-15)
    assert cfg.ideal().g_off_us == 0.0


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_lognormal_variation_statistics(sigma):
    chip = big_chip(variation=True, variation_distribution="lognormal", variation_sigma=sigma, finite_on_off=True)
    cp = full_core(chip, 50)
    cb = sample_crossbar(cp, chip, seed=7)
    g_t_plus, g_t_minus = target_conductances(cp.weights, 64, chip.rram)  # W_c(50) = 64
    logs = np.concatenate([np.log(cb.g_plus_us / g_t_plus).ravel(), np.log(cb.g_minus_us / g_t_minus).ravel()])
    n = logs.size
    assert abs(logs.mean()) < 6 * sigma / math.sqrt(n)
    assert abs(logs.std() - sigma) < 6 * sigma / math.sqrt(2 * n)


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_normal_variation_statistics(sigma):
    # sigma <= 0.2 puts the clip at 0 five sigma away: it does not bias the moments measurably.
    chip = big_chip(variation=True, variation_distribution="normal", variation_sigma=sigma)
    cp = full_core(chip, -90)
    cb = sample_crossbar(cp, chip, seed=3)
    # W_c(90) = 128; a negative weight: G- carries it, G+ = G_off = 0
    g_t = target_conductances(cp.weights, 128, chip.rram)[1]
    rel = (cb.g_minus_us / g_t - 1.0).ravel()
    n = rel.size
    assert abs(rel.mean()) < 6 * sigma / math.sqrt(n)
    assert abs(rel.std() - sigma) < 6 * sigma / math.sqrt(2 * n)
    assert np.all(cb.g_plus_us == 0.0)  # G_off = 0 with the on/off ratio ideal: variation keeps 0 at 0


def test_stuck_at_fault_rates_and_values():
    p_on, p_off = 0.01, 0.03
    chip = big_chip(variation=True, variation_sigma=0.1, stuck_faults=True, stuck_on_rate=p_on,
                    stuck_off_rate=p_off, finite_on_off=True)
    cp = full_core(chip, 20)
    cb = sample_crossbar(cp, chip, seed=11)
    n = cb.fault.size
    for code, p in ((FAULT_STUCK_ON, p_on), (FAULT_STUCK_OFF, p_off)):
        count = int((cb.fault == code).sum())
        assert abs(count - n * p) < 6 * math.sqrt(n * p * (1 - p))
    g = np.stack([cb.g_plus_us, cb.g_minus_us], axis=-1)
    assert np.all(g[cb.fault == FAULT_STUCK_ON] == 100.0)
    assert np.all(g[cb.fault == FAULT_STUCK_OFF] == 5.0)
    assert np.all(g[cb.fault == 0] != 100.0)  # healthy cells keep their (varied) programmed value


def test_ir_drop_by_hand():
    # r_w = 2 ohm, A = 256 rows. Cell (a=0, j=0, G+): c = 0 -> R = 2 * (1 + 256) = 514 ohm.
    # Cell (a=255, j=127, G-): c = 255 -> R = 2 * (256 + 1) = 514 ohm.
    # Cell (a=10, j=3, G-): c = 7 -> 2 * (8 + 246) = 508.
    r = ir_drop_path_ohm(256, 128, 256, 2.0)
    assert r[0, 0, 0] == 514.0 and r[255, 127, 1] == 514.0 and r[10, 3, 1] == 508.0
    chip = big_chip(ir_drop=True, wire_resistance_ohm=2.0)
    cb = sample_crossbar(full_core(chip, 127), chip, seed=0)
    # W_c = 128: G+ = 127 levels x 100/128 uS; G_read = G / (1 + G * 1e-6 * R)
    g = 127 * 100.0 / 128
    assert cb.g_read_plus_us[10, 3] == pytest.approx(g / (1 + g * 1e-6 * (2 * (7 + 246))), rel=1e-12)
    assert cb.g_plus_us[10, 3] == pytest.approx(g, rel=1e-12)  # programmed value is unchanged


def test_same_seed_same_chip_other_seed_other_chip():
    chip = big_chip(variation=True, stuck_faults=True, stuck_on_rate=0.01, finite_on_off=True, ir_drop=True)
    cp = full_core(chip, 33)
    a, b, c = (sample_crossbar(cp, chip, s) for s in (5, 5, 6))
    assert np.array_equal(a.g_read_plus_us, b.g_read_plus_us) and np.array_equal(a.fault, b.fault)
    assert not np.array_equal(a.g_plus_us, c.g_plus_us)


def test_draws_do_not_depend_on_other_switches():
    # Common random numbers: the variation of a cell is the same with and without faults and IR drop.
    on = big_chip(variation=True, variation_sigma=0.2, stuck_faults=True, stuck_on_rate=0.05, ir_drop=True)
    off = big_chip(variation=True, variation_sigma=0.2)
    cp = full_core(on, 60)
    a, b = sample_crossbar(cp, on, 2), sample_crossbar(cp, off, 2)
    healthy = (a.fault == 0)[..., 0]
    assert np.array_equal(a.g_plus_us[healthy], b.g_plus_us[healthy])


def test_read_noise_streams_are_per_image():
    z = read_noise_normals(9, 4, 3, 2, 5)
    assert z.shape == (3, 2, 5)
    assert np.array_equal(z, read_noise_normals(9, 4, 3, 2, 5))
    assert not np.array_equal(z, read_noise_normals(9, 5, 3, 2, 5))
    assert not np.array_equal(z, read_noise_normals(10, 4, 3, 2, 5))


def test_rram_preset_matches_default_geometry():
    rram, digital = load_chip_config("rram"), load_chip_config("default_28nm")
    assert rram.core_type == "rram" and rram.rram.levels == (1 << (rram.core.w_bits - 1)) + 1
    assert (rram.mesh_rows, rram.mesh_cols, rram.core) == (digital.mesh_rows, digital.mesh_cols, digital.core)
    assert ChipConfig.from_dict(rram.to_dict()) == rram
    assert digital.core_type == "digital" and "rram" not in digital.to_dict()
    # chip-spec §7.4 example numbers: 10 ns and 5 ns at 200 MHz are 2 and 1 cycles; 256 / 8 = 32 ADCs
    assert rram.rram.read_cycles(rram.clock_mhz) == 2 and rram.rram.conversion_cycles(rram.clock_mhz) == 1
    assert rram.rram.adc_count(rram.core.neurons) == 32


@pytest.mark.parametrize(
    "text, message",
    [
        ('core_type = "analog"\n', r"core_type = 'analog': allowed digital, rram"),
        ('core_type = "rram"\n', r"core_type = 'rram' needs an \[rram\] table"),
        ("[rram]\nlevels = 4\n", r"\[rram\] table is given but core_type = 'digital'"),
        ('core_type = "rram"\n[rram]\nlevels = 1\n', r"rram.levels = 1: out of range, allowed 2..1025"),
        ('core_type = "rram"\n[rram]\ng_on_us = -1.0\n', r"rram.g_on_us = -1.0: out of range"),
        ('core_type = "rram"\n[rram]\nadc_mux = 3\n', r"rram.adc_mux = 3: must divide core.neurons = 256"),
        ('core_type = "rram"\n[rram]\nvariation_distribution = "uniform"\n', r"allowed lognormal, normal"),
        ('core_type = "rram"\n[rram]\nir_drop = 1\n', r"rram.ir_drop = 1: expected true or false"),
        ('core_type = "rram"\n[rram]\nstuck_on_rate = 0.6\nstuck_off_rate = 0.6\n', r"must not exceed 1"),
        ('core_type = "rram"\n[rram]\ncolour = 1\n', r"rram: unknown key\(s\) colour"),
    ],
)
def test_bad_rram_configs(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_chip_config(p)


def test_digital_program_is_not_an_rram_chip():
    chip = load_chip_config("small")
    cp = CoreProgram(core=0, stage=0, weights=np.zeros((2, 2), np.int32), bias=np.zeros(2, np.int32),
                     threshold=1, output_offset=0)
    prog = ChipProgram(chip=chip, cores=(cp,), host_routes=(Route(0, 0, 2, 0),), n_inputs=2)
    with pytest.raises(ConfigError, match="core_type = 'digital'.*needs core_type = 'rram'"):
        program_chip(prog, 0)


def test_array_variation_is_one_lognormal_factor_per_crossbar():
    # Every cell of one crossbar gets the same factor; over n = 400 instances ln(factor) ~ N(0, sigma^2).
    sigma = 0.2
    rram = dataclasses.replace(big_chip(array_variation=True, array_sigma=sigma, finite_on_off=True).rram, adc_mux=1)
    small = ChipConfig(name="one", mesh_rows=1, mesh_cols=1, core=CoreConfig(axons=4, neurons=4, lanes=1))
    chip = small.replace(core_type="rram", rram=rram)
    cp = full_core(chip, 17)
    g_t = target_conductances(cp.weights, 32, chip.rram)[0]
    logs = []
    for seed in range(400):
        ratio = sample_crossbar(cp, chip, seed).g_plus_us / g_t
        assert np.allclose(ratio, ratio[0, 0], rtol=1e-12)
        logs.append(math.log(ratio[0, 0]))
    logs = np.array(logs)
    n = logs.size
    assert abs(logs.mean()) < 6 * sigma / math.sqrt(n)
    assert abs(logs.std() - sigma) < 6 * sigma / math.sqrt(2 * n)

"""RRAM energy: a one-core run worked out by hand from the counters, the table and the conductances."""

import numpy as np
import pytest

from hwsim.energy.table import load_table
from hwsim.errors import InputError
from hwsim.golden import simulate
from hwsim.rram.device import program_chip
from hwsim.rram.energy import rram_energy
from hwsim.rram.golden import simulate_rram
from rram_cases import DIGITAL, W_FULL, mapped, rram_chip


def test_energy_of_one_timestep_by_hand():
    # small chip (A = 64, N = 32, v_bits = 12, 2 x 2 mesh), 6-bit ADC, one layer 40 -> 30 on core 0.
    chip = rram_chip(adc_bits=6, adc_mux=4, v_read_v=0.25, t_read_ns=8.0)
    net, prog = mapped(chip, sizes=(40, 30), seed=4)
    raster = np.zeros((1, 2, 40), np.uint8)
    raster[0, 0, [1, 5, 9]] = 1  # t0: 3 rows driven; t1: nothing
    res = simulate_rram(program_chip(prog, 0), raster)
    rep = rram_energy(res, prog)
    t = load_table("rram_28nm")
    assert t.global_scale == 1.0
    e = t.energy_pj
    a = rep.by_action
    assert a["crossbar.row_driver/drive_row"][0] == pytest.approx(3 * e("crossbar.row_driver", "drive_row"))
    # 30 conversions of 2^6 steps each, once (t1 has no spiking row)
    assert a["crossbar.adc/conversion_step"][0] == pytest.approx(30 * 64 * e("crossbar.adc", "conversion_step"))
    # cells: V^2 t sum G; ideal G_off = 0, W_c = 8, L - 1 = 32: G = 4 |w| x 100/32 uS; uS x V^2 x ns = 1e-3 pJ
    g_sum = (4 * np.abs(net.layers[0].weights[[1, 5, 9]]).sum()) * 100.0 / W_FULL
    assert a["crossbar.cell/read"][0] == pytest.approx(0.25**2 * 8.0 * g_sum * 1e-3, rel=1e-12)
    # digital unit: 2 timesteps x 30 neuron updates x 12 bits; one add of 12 bits per conversion
    assert a["core.neuron/update_bit"][0] == pytest.approx(60 * 12 * e("core.neuron", "update_bit"))
    assert a["core.accumulator/add_bit"][0] == pytest.approx(30 * 12 * e("core.accumulator", "add_bit"))
    expected = (2 * 30 + 3 * 60) * 12 * e("core.membrane_rf", "access_bit")
    assert a["core.membrane_rf/access_bit"][0] == pytest.approx(expected)
    # cycles (chip-spec §7.4): t0 = 1 + (2 + ceil(30/8) * 1) + 8 + 1 = 16, t1 = 1 + 0 + 8 + 1 = 10 -> 26 core cycles
    assert a["core.controller/cycle"][0] == pytest.approx(26 * e("core.controller", "cycle"))
    # leakage: (2 * 32 * 12 + 64) bits x 4 cores x runtime; runtime = chip cycles / 200 MHz
    chip_cycles = res.timestep_cycles.sum()
    assert a["core.storage/leak_bit"][0] == pytest.approx(
        t.static_power_uw("core.storage", "leak_bit") * (2 * 32 * 12 + 64) * 4 * chip_cycles / 200.0)
    assert rep.total_pj[0] == pytest.approx(sum(v[0] for v in a.values()))
    assert rep.latency_us_per_image == pytest.approx(chip_cycles / 200.0)


def test_energy_needs_an_rram_run():
    chip = rram_chip()
    _, prog = mapped(chip, sizes=(40, 30), seed=4)
    _, dprog = mapped(DIGITAL, sizes=(40, 30), seed=4)
    res = simulate(dprog, np.zeros((1, 40), np.uint8))
    with pytest.raises(InputError, match="no RRAM counters"):
        rram_energy(res, prog)


def test_breakdowns_sum_to_the_total():
    """A noisy two-layer chip instance: by component, by layer, by core and by action all add up."""
    from hwsim.energy import EnergyReport

    chip = rram_chip(variation=True, read_noise=True, stuck_faults=True, finite_on_off=True, ir_drop=True)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=2)
    raster = (np.random.default_rng(3).random((6, 4, 40)) < 0.3).astype(np.uint8)
    rep = rram_energy(simulate_rram(program_chip(prog, 3), raster), prog)
    assert isinstance(rep, EnergyReport) and rep.n_images == 6 and rep.timesteps == 4
    for parts in (rep.by_component, rep.by_layer, rep.by_action):
        np.testing.assert_allclose(sum(parts.values()), rep.total_pj, rtol=1e-12)
    np.testing.assert_allclose(rep.by_core.sum(axis=1) + rep.by_layer["host"] + rep.by_layer["idle cores"],
                               rep.total_pj, rtol=1e-12)
    np.testing.assert_allclose(rep.dynamic_pj + rep.static_pj, rep.total_pj, rtol=1e-12)
    assert {"crossbar.cell", "crossbar.row_driver", "crossbar.adc", "leakage", "host.port"} <= set(rep.by_component)
    assert list(rep.by_layer) == ["host", "fc0", "fc1", "idle cores"]  # host, stage order, idle cores
    assert np.array_equal(rep.by_component["leakage"], rep.static_pj)
    # the non-volatile crossbar does not leak: membranes, biases and the input bitmap of the 4 mesh cores
    leak = load_table("rram_28nm").static_power_uw("core.storage", "leak_bit")
    assert rep.static_power_uw == pytest.approx(leak * (2 * 32 * 12 + 64) * 4, rel=1e-12)
    np.testing.assert_allclose(rep.by_layer["idle cores"], rep.static_pj / 2, rtol=1e-12)  # 2 of 4 cores idle
    assert rep.core_ids == tuple(cp.core for cp in prog.cores) and rep.by_core.shape == (6, len(prog.cores))
    d = rep.to_dict()
    assert d["energy_nj_per_image"] == pytest.approx(rep.total_pj.mean() / 1e3)
    assert 0 < d["crossbar_share"] < 1 and "by_action_pj_per_image" in d and "counts_per_image" in d
    assert d["sops_per_image"] == pytest.approx(rep.sops.mean()) and rep.pj_per_sop > 0


def test_other_chip_instances_cost_other_energy():
    chip = rram_chip(variation=True, variation_sigma=0.3, read_noise=True)
    _, prog = mapped(chip, sizes=(40, 30, 10), seed=2)
    raster = (np.random.default_rng(3).random((4, 3, 40)) < 0.3).astype(np.uint8)
    e = [rram_energy(simulate_rram(program_chip(prog, s), raster), prog).total_pj for s in (0, 0, 1)]
    assert np.array_equal(e[0], e[1]) and not np.array_equal(e[0], e[2])

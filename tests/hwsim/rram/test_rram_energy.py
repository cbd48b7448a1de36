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
    assert a["core.membrane_rf/access_bit"][0] == pytest.approx((2 * 30 + 3 * 60) * 12 * e("core.membrane_rf", "access_bit"))
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

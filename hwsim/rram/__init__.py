"""RRAM crossbar cores: device model, golden model, fast path, energy, Monte Carlo yield and tuning.

See ``docs/chip-spec.md`` §7 (what an RRAM core computes) and ``docs/rram.md``
(device model and sources, energy, yield study, signature-driven tuning).

Typical use::

    from hwsim.rram import program_chip, run_rram, calibrate_adc_scales
    program = mapping.map_network(network, hwsim.load_chip_config("rram"))
    scales = calibrate_adc_scales(program, train_rasters)
    chip = program_chip(program, seed=3, adc_scales=scales)   # one manufactured chip
    result = run_rram(chip, test_rasters)                     # same RunResult as the golden model
"""

from hwsim.rram.device import Crossbar, RramChip, program_chip, read_noise_normals
from hwsim.rram.energy import RramEnergyReport, rram_energy
from hwsim.rram.engine import calibrate_adc_scales, run_rram
from hwsim.rram.golden import RRAM_COUNTER_NAMES, simulate_rram

__all__ = [
    "Crossbar",
    "RramChip",
    "program_chip",
    "read_noise_normals",
    "simulate_rram",
    "run_rram",
    "calibrate_adc_scales",
    "rram_energy",
    "RramEnergyReport",
    "RRAM_COUNTER_NAMES",
]

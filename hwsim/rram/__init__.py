"""RRAM crossbar cores: device model, golden model, fast path, energy, Monte Carlo yield and tuning.

See ``docs/chip-spec.md`` §7 (what an RRAM core computes) and ``docs/rram.md``
(device model and sources, energy, yield study, signature-driven tuning).

Typical use::

    from hwsim.rram import program_chip, run_rram, calibrate_adc_scales
    program = mapping.map_network(network, hwsim.load_chip_config("rram"))
    scales = calibrate_adc_scales(program, train_rasters)
    chip = program_chip(program, seed=3, adc_scales=scales)   # one manufactured chip
    result = run_rram(chip, test_rasters)                     # same RunResult as the golden model

The whole Monte Carlo study of ``hwsim yield`` is one call::

    study = run_yield_study(program, x_test, y_test, x_train, y_train,
                            YieldStudySettings(instances=50, spec=0.9, timesteps=8))
    study.accuracies, study.summary["yield"]                  # study.to_dict(...) is yield.json
"""

from hwsim.rram.device import Crossbar, RramChip, program_chip, read_noise_normals
from hwsim.rram.energy import RramEnergyReport, rram_energy
from hwsim.rram.engine import calibrate_adc_scales, run_rram
from hwsim.rram.golden import RRAM_COUNTER_NAMES, simulate_rram
from hwsim.rram.yield_study import YieldStudyResult, YieldStudySettings, run_yield_study

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
    "YieldStudySettings",
    "YieldStudyResult",
    "run_yield_study",
]

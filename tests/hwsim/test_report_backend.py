"""hwsim.report.backend: a program's core type picks its simulators and energy model, once. The simulators are
checked against the golden models run directly (hwsim.golden.simulate, hwsim.rram.simulate_rram)."""

import numpy as np
import pytest

from hwsim.config import load_chip_config
from hwsim.errors import InputError
from hwsim.golden import simulate
from hwsim.report.backend import backend_for_chip, backend_of, energy_of
from hwsim.rram import program_chip, rram_energy, simulate_rram
from hwsim.testing import random_network, random_raster
from mapping import map_network

INSTANCE = dict(instance_seed=7, adc_scales=None, calibration_images=None, timesteps=4, encoding="rate",
                say=lambda message: None)


def same_run(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("counters", "predictions", "output_spikes"))


def test_digital_programs_run_on_the_digital_models(small_chip, rng):
    program = map_network(random_network(rng, [20, 16, 6], small_chip.core, threshold=20), small_chip)
    backend = backend_of(program)
    assert backend is backend_for_chip(small_chip)
    assert backend.core_type == "digital" and not backend.manufactured_instances
    rasters = random_raster(rng, 3, 4, 20, 0.3)
    expected = simulate(program, rasters)
    for name in ("engine", "golden"):
        sim, meta = backend.simulator(program, name, **INSTANCE)  # the instance arguments mean nothing here
        assert meta == {} and same_run(sim(rasters), expected)
    assert energy_of(expected, program).table == "28nm"  # digital pricing with the chip's own table


@pytest.mark.parametrize("name", ["engine", "golden"])
def test_rram_programs_run_on_one_chip_instance(name, rng):
    chip = load_chip_config("rram")
    program = map_network(random_network(rng, [20, 16, 6], chip.core, threshold=20), chip)
    backend = backend_of(program)
    assert backend.core_type == "rram" and backend.manufactured_instances
    scales = tuple(range(1, len(program.cores) + 1))
    sim, meta = backend.simulator(program, name, **{**INSTANCE, "adc_scales": scales})
    assert meta == {"instance_seed": 7, "adc_scales": list(scales)}
    rasters = random_raster(rng, 3, 4, 20, 0.3)
    expected = simulate_rram(program_chip(program, 7, scales), rasters)
    assert same_run(sim(rasters), expected)
    # first_index is the images' global index: images 1..2 run alone get the read noise they get in the batch
    tail = sim(rasters[1:], first_index=1)
    assert np.array_equal(tail.counters, expected.counters[1:])
    assert not np.array_equal(sim(rasters[1:]).counters, tail.counters)  # read noise: another index, other draws
    assert np.array_equal(tail.predictions, expected.predictions[1:])
    assert energy_of(expected, program).to_dict() == rram_energy(expected, program, chip.technology).to_dict()
    with pytest.raises(InputError, match="needs its ADC scale registers"):
        backend.simulator(program, name, **INSTANCE)

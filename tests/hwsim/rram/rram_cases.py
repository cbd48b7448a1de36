"""Shared builders for the RRAM tests: small RRAM chips and mapped random networks."""

import numpy as np

from hwsim.config import ChipConfig, CoreConfig, RramConfig
from hwsim.testing import random_network
from mapping.mapper import map_network

# The 'small' preset's core (64 axons x 32 neurons, 6-bit weights, 12-bit membranes) on a 2 x 2 mesh.
SMALL_CORE = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12)
DIGITAL = ChipConfig(name="small", mesh_rows=2, mesh_cols=2, core=SMALL_CORE)
W_FULL = 1 << (SMALL_CORE.w_bits - 1)  # 32


def rram_chip(**rram) -> ChipConfig:
    """The small chip with RRAM cores; every non-ideality off unless asked for."""
    base = dict(levels=W_FULL + 1, adc_bits=16, adc_mux=4, variation=False, array_variation=False, read_noise=False,
                stuck_faults=False, finite_on_off=False, ir_drop=False)
    base.update(rram)
    return DIGITAL.replace(core_type="rram", rram=RramConfig(**base))


def mapped(chip: ChipConfig, sizes=(40, 30, 10), seed=1, **kw):
    rng = np.random.default_rng(seed)
    kw.setdefault("weight_range", (-8, 8))
    kw.setdefault("threshold", 20)
    net = random_network(rng, list(sizes), chip.core, **kw)
    return net, map_network(net, chip)


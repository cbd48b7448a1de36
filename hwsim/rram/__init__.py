"""RRAM crossbar cores: device model, golden model, fast path, Monte Carlo yield and tuning.

See ``docs/chip-spec.md`` §7 (what an RRAM core computes) and ``docs/rram.md``
(device model, sources, yield study, signature-driven tuning).
"""

from hwsim.rram.device import RramChip, program_chip, read_noise_normals
from hwsim.rram.golden import RRAM_COUNTER_NAMES, simulate_rram

__all__ = ["RramChip", "program_chip", "read_noise_normals", "simulate_rram", "RRAM_COUNTER_NAMES"]

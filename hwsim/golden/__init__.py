"""The golden model: plain, readable Python that defines what the chip computes."""

from hwsim.golden.chip import route_cycles, simulate
from hwsim.golden.core import GoldenCore, core_cycles, leak, saturate

__all__ = ["simulate", "route_cycles", "GoldenCore", "core_cycles", "leak", "saturate"]

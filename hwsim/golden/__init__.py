"""The golden model: plain, readable Python that defines what the chip computes."""

from hwsim.golden.chip import simulate
from hwsim.golden.core import GoldenCore, core_cycles, leak, saturate
from hwsim.golden.router import deliver, route_cycles

__all__ = ["simulate", "route_cycles", "deliver", "GoldenCore", "core_cycles", "leak", "saturate"]

"""The golden model: plain, readable Python that defines what the chip computes.

One unit per hardware block: :mod:`~hwsim.golden.core` (a digital core),
:mod:`~hwsim.golden.router` (every sender's router), :mod:`~hwsim.golden.host_port`
and :mod:`~hwsim.golden.chip` (the chip schedule, shared by every core type).
"""

from hwsim.golden.chip import CoreUnit, run_chip, simulate
from hwsim.golden.core import GoldenCore, core_cycles, leak, saturate
from hwsim.golden.host_port import host_timestep
from hwsim.golden.router import deliver, deliver_partial_sums, route_cycles

__all__ = ["simulate", "run_chip", "CoreUnit", "host_timestep", "route_cycles", "deliver", "deliver_partial_sums",
           "GoldenCore", "core_cycles", "leak", "saturate"]

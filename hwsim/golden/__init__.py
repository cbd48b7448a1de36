"""The golden model: plain, readable Python that defines what the chip computes.

One unit per hardware block: :mod:`~hwsim.golden.core` (a digital core),
:mod:`~hwsim.golden.router` (every sender's router), :mod:`~hwsim.golden.host_port`
and :mod:`~hwsim.golden.chip` (the chip schedule, shared by every core type).
Partial-sum chains (chip-spec §1.3): a receiver's MERGE is :meth:`GoldenCore.merge`, a partial-sum core's
emit :meth:`GoldenCore.partial_sums`, their delivery :func:`deliver_partial_sums`.
The early-exit unit (chip-spec §1.4) is :class:`hwsim.exit_unit.ExitUnit`; :func:`run_chip` runs it after
every timestep when given an ``exit_rule``.
"""

from hwsim.golden.chip import CoreUnit, run_chip, simulate
from hwsim.golden.core import GoldenCore, core_cycles, leak, saturate
from hwsim.golden.host_port import host_timestep
from hwsim.golden.router import deliver, deliver_partial_sums, route_cycles

__all__ = ["simulate", "run_chip", "CoreUnit", "host_timestep", "route_cycles", "deliver", "deliver_partial_sums",
           "GoldenCore", "core_cycles", "leak", "saturate"]

"""Slow NumPy/Python twins of the Numba kernels in :mod:`hwsim.kernels`.

Every twin has the name and signature of its kernel and does what the kernel's
docstring promises in the plainest way (e.g. a saturating add per axon, as in
chip-spec §2.2, with no clamp skipping). ``tests/hwsim/test_kernels.py``
runs each kernel and its twin on the same random arguments and compares every
output.
"""

from hwsim.reference.chip import chip_pass
from hwsim.reference.core import core_pass, integrate_spikes, update_neurons
from hwsim.reference.exit_unit import exit_timesteps_kernel
from hwsim.reference.host_port import host_timestep
from hwsim.reference.noc import mesh_phase
from hwsim.reference.router import count_routed, deliver, route_cycles

__all__ = ["integrate_spikes", "update_neurons", "core_pass", "host_timestep", "chip_pass", "count_routed",
           "deliver", "route_cycles", "exit_timesteps_kernel", "mesh_phase"]

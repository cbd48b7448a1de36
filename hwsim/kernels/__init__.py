"""Numba kernels of the fast engine: plain functions over arrays (no config objects, no I/O).

One module per hardware block, named as its golden unit in :mod:`hwsim.golden`:
:mod:`~hwsim.kernels.core` (one core timestep), :mod:`~hwsim.kernels.router`,
:mod:`~hwsim.kernels.host_port`, :mod:`~hwsim.kernels.noc` (the mesh network-on-chip),
:mod:`~hwsim.kernels.chip` (the whole digital
chip), :mod:`~hwsim.kernels.rram` (the RRAM crossbar chip),
:mod:`~hwsim.kernels.random` (NumPy's random streams, GIL-free) and
:mod:`~hwsim.kernels.exit_unit` (the early-exit unit, replayed over a run's outputs).

Each public kernel has a slow NumPy/Python twin of the same name and signature
in :mod:`hwsim.reference`; ``tests/hwsim/test_kernels.py`` checks every pair.
Orchestration (unpacking a chip program into arrays, threads, chunks,
results) lives in :mod:`hwsim.chip` and :mod:`hwsim.rram.engine`.
"""

from hwsim.kernels.chip import chip_pass
from hwsim.kernels.core import N_COUNTERS, core_pass, integrate_spikes, update_neurons
from hwsim.kernels.exit_unit import exit_timesteps_kernel
from hwsim.kernels.host_port import N_HOST_COUNTERS, host_timestep
from hwsim.kernels.noc import mesh_phase
from hwsim.kernels.router import count_routed, deliver, route_cycles

__all__ = ["integrate_spikes", "update_neurons", "core_pass", "host_timestep", "chip_pass", "count_routed",
           "deliver", "route_cycles", "exit_timesteps_kernel", "mesh_phase", "N_COUNTERS", "N_HOST_COUNTERS"]

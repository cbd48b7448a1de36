"""Numba kernels of the fast engine: plain functions over arrays (no config objects, no I/O).

Each public kernel has a slow NumPy/Python twin of the same name and signature
in :mod:`hwsim.reference`; ``tests/hwsim/test_kernels.py`` checks every pair.
Orchestration (unpacking a chip program into arrays, threads, chunks,
results) lives in :mod:`hwsim.chip`.
"""

from hwsim.kernels.core import (
    N_COUNTERS,
    N_HOST_COUNTERS,
    chip_pass,
    host_timestep,
    integrate_spikes,
    update_neurons,
)
from hwsim.kernels.router import count_routed, route_cycles

__all__ = ["integrate_spikes", "update_neurons", "host_timestep", "chip_pass", "count_routed", "route_cycles",
           "N_COUNTERS", "N_HOST_COUNTERS"]

"""Numba kernel of the host port (chip-spec §1.1): one input row into a spike list, and the host counters.

Golden unit: :func:`hwsim.golden.host_port.host_timestep`. Slow twin:
:mod:`hwsim.reference.host_port`.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit
from hwsim.kernels.router import count_routed, route_cycles

__all__ = ["host_timestep", "N_HOST_COUNTERS"]

# Columns of the host counters (hwsim.result.HOST_COUNTER_NAMES order).
N_HOST_COUNTERS = 3
# Bit masks over 8 raster bytes packed in a uint64: bit 0 of each byte, and everything else.
_ONE = np.uint64(1)
_NOT_BIT0 = np.uint64(0xFEFEFEFEFEFEFEFE)


@jit
def host_timestep(words, big_endian, route_lo, route_hi, route_hops, max_hops, hop_latency, spikes, start,
                  host_counters):  # fmt: skip
    """Host port, one image and timestep: spike list of an input row plus host counters.

    The row comes as its raw bytes (0 or 1 each, zero-padded to a multiple of 8)
    read as ``uint64`` words, so all-zero stretches cost one test per 8 inputs.
    Writes the ascending indices of the 1s to ``spikes[start:]`` (up to
    ``8 * len(words)`` slots may be touched) and packets, hops, route_cycles
    (chip-spec §1.2) to ``host_counters`` (3,). ``route_*`` are the host's
    routing entries (source range and hop count of each), ``max_hops`` their largest hop count.

    Returns:
        ``(n_spikes, n_bad)``: spiking inputs, and words holding a byte other than 0 and 1.
    """
    c = 0
    bad = 0
    for i in range(words.shape[0]):
        x = words[i]
        if x == 0:
            continue
        bad += (x & _NOT_BIT0) != 0
        base = i * 8
        for k in range(8):
            # byte k of the word in memory order; branch-free compaction
            shift = np.uint64(8 * (7 - k) if big_endian else 8 * k)
            spikes[start + c] = base + k
            c += np.int64((x >> shift) & _ONE)
    packets, hops = count_routed(spikes, start, c, route_lo, route_hi, route_hops, 0, route_lo.shape[0])
    host_counters[0] = packets
    host_counters[1] = hops
    host_counters[2] = route_cycles(packets, max_hops, hop_latency)
    return c, bad

"""Reference twin of :mod:`hwsim.kernels.host_port`: same name, same signature, plain NumPy."""

from __future__ import annotations

import numpy as np

from hwsim.reference.router import count_routed, route_cycles

__all__ = ["host_timestep"]


def host_timestep(words, big_endian, route_lo, route_hi, route_hops, max_hops, hop_latency, spikes, start,
                  host_counters):  # fmt: skip
    """Spike list and host counters (packets, hops, route cycles) of one input row given as uint64 words."""
    row = np.ascontiguousarray(words).view(np.uint8)  # memory order, whatever the endianness
    idx = np.flatnonzero(row & 1)
    spikes[start : start + idx.size] = idx
    packets, hops = count_routed(list(idx), 0, idx.size, route_lo, route_hi, route_hops, 0, len(route_lo))
    host_counters[:] = (packets, hops, route_cycles(packets, max_hops, hop_latency))
    return int(idx.size), int(np.count_nonzero((row > 1).reshape(-1, 8).any(axis=1)))

"""Numba kernels of the router (chip-spec §1.1-1.2): a sender's packets, hops and route cycles.

Routing tables are :class:`~hwsim.kernels.layout.RoutingTable` s. Golden unit:
:mod:`hwsim.golden.router`. Slow twins: :mod:`hwsim.reference.router`.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit

__all__ = ["route_cycles", "count_routed", "deliver"]


@jit
def route_cycles(packets, max_hops, hop_latency_cycles):
    """Cycles a sender spends routing its packets (chip-spec §1.2): ``packets + hop_latency * max_hops``, 0 if none."""
    return packets + hop_latency_cycles * max_hops if packets > 0 else 0


@jit
def count_routed(spikes, start, n_spikes, table, sender):
    """Packets and hops ``sender`` emits for its ascending spike list ``spikes[start : start + n_spikes]``.

    Counts every (spike, matching entry of the sender in ``table``) pair
    (chip-spec §1.1); the destinations read the spike list themselves. Returns ``(packets, hops)``.
    """
    # Indices, not slices: a slice per call is a reference count update on the shared array,
    # which threads contend for.
    packets = 0
    hop_sum = 0
    if n_spikes == 0:
        return packets, hop_sum
    for r in range(table.ptr[sender], table.ptr[sender + 1]):
        cnt = 0
        lo = table.lo[r]
        hi = table.hi[r]
        for i in range(start, start + n_spikes):
            j = np.int64(spikes[i])
            if j >= hi:
                break
            if j >= lo:
                cnt += 1
        packets += cnt
        hop_sum += cnt * table.hops[r]
    return packets, hop_sum


@jit
def deliver(spikes, n_spikes, table, sender, axon_start, inbox):
    """Deliver ``sender``'s spikes ``spikes[:n_spikes]`` into the destination cores' inbox bitmaps (chip-spec §1.1).

    Source ``j`` matching entry ``r`` sets ``inbox[axon_start[dest[r]] + offset[r] + j - lo[r]]``.
    Returns ``(packets, hops)``.
    """
    packets = 0
    hop_sum = 0
    for si in range(n_spikes):
        j = spikes[si]
        for r in range(table.ptr[sender], table.ptr[sender + 1]):
            if table.lo[r] <= j and j < table.hi[r]:
                inbox[axon_start[table.dest[r]] + table.offset[r] + j - table.lo[r]] = 1
                packets += 1
                hop_sum += table.hops[r]
    return packets, hop_sum

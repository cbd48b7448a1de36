"""Numba kernels of the router (chip-spec §1.1-1.2): a sender's packets, hops and route cycles.

A sender's routing entries are index ranges ``r_start .. r_stop-1`` into the
arrays of a :class:`~hwsim.kernels.layout.RoutingTable`, passed field by field:
kernels call these once per core and timestep, where a structure argument
would cost a reference count update per field. Golden unit:
:mod:`hwsim.golden.router`. Slow twins: :mod:`hwsim.reference.router`.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit

__all__ = ["route_cycles", "count_routed", "deliver"]


@jit
def _lower_bound(a, start, stop, value):
    # first index q in start..stop with a[q] >= value (a ascending there), stop if none
    while start < stop:
        mid = (start + stop) >> 1
        if a[mid] < value:
            start = mid + 1
        else:
            stop = mid
    return start


@jit
def route_cycles(packets, max_hops, hop_latency_cycles):
    """Cycles a sender spends routing its packets (chip-spec §1.2): ``packets + hop_latency * max_hops``, 0 if none."""
    return packets + hop_latency_cycles * max_hops if packets > 0 else 0


@jit
def count_routed(spikes, start, n_spikes, lo, hi, hops, r_start, r_stop):
    """Packets and hops a sender emits for its ascending spike list (chip-spec §1.1).

    The spike list is ``spikes[start : start + n_spikes]``; the sender's routing
    entries are ``r_start .. r_stop-1`` of ``lo``/``hi``/``hops`` (source range
    and hop count of each entry); the destinations read the spike list
    themselves. Returns ``(packets, hops)``.
    """
    # The list is ascending, so the spikes an entry matches are one run of it: two binary searches per
    # entry, whatever the number of spikes. Indices, not slices: a slice per call is a reference count
    # update on the shared array, which threads contend for.
    packets = 0
    hop_sum = 0
    if n_spikes == 0:
        return packets, hop_sum
    stop = start + n_spikes
    first = np.int64(spikes[start])
    last = np.int64(spikes[stop - 1])
    for r in range(r_start, r_stop):
        if lo[r] <= first and last < hi[r]:
            cnt = n_spikes  # the usual entry: it takes the whole list
        else:
            cnt = max(0, _lower_bound(spikes, start, stop, hi[r]) - _lower_bound(spikes, start, stop, lo[r]))
        packets += cnt
        hop_sum += cnt * hops[r]
    return packets, hop_sum


@jit
def deliver(spikes, n_spikes, dest, lo, hi, offset, hops, r_start, r_stop, axon_start, inbox):
    """Deliver a sender's spikes ``spikes[:n_spikes]`` into the destination cores' inbox bitmaps (chip-spec §1.1).

    Source ``j`` matching entry ``r`` (of ``r_start .. r_stop-1``) sets
    ``inbox[axon_start[dest[r]] + offset[r] + j - lo[r]]``. Returns ``(packets, hops)``.
    """
    packets = 0
    hop_sum = 0
    for si in range(n_spikes):
        j = spikes[si]
        for r in range(r_start, r_stop):
            if lo[r] <= j and j < hi[r]:
                inbox[axon_start[dest[r]] + offset[r] + j - lo[r]] = 1
                packets += 1
                hop_sum += hops[r]
    return packets, hop_sum

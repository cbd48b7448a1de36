"""Reference twins of :mod:`hwsim.kernels.router`: same names, same signatures, plain Python.

``route_cycles`` is the golden unit's own (:mod:`hwsim.golden.router`): it already is the plain form.
"""

from __future__ import annotations

from hwsim.golden.router import route_cycles

__all__ = ["route_cycles", "count_routed", "deliver"]


def count_routed(spikes, start, n_spikes, lo, hi, hops, r_start, r_stop):
    """Packets and hops of the spikes ``spikes[start : start + n_spikes]`` over entries ``r_start .. r_stop-1``."""
    sent = [(j, r) for j in spikes[start : start + n_spikes] for r in range(r_start, r_stop) if lo[r] <= j < hi[r]]
    return len(sent), sum(int(hops[r]) for _, r in sent)


def deliver(spikes, n_spikes, dest, lo, hi, offset, hops, r_start, r_stop, axon_start, inbox):
    """Set the inbox bit of every (spike, matching entry) pair; return (packets, hops)."""
    packets, hop_sum = 0, 0
    for j in spikes[:n_spikes]:
        for r in range(r_start, r_stop):
            if lo[r] <= j < hi[r]:
                inbox[axon_start[dest[r]] + offset[r] + j - lo[r]] = 1
                packets, hop_sum = packets + 1, hop_sum + int(hops[r])
    return packets, hop_sum

"""Reference twins of :mod:`hwsim.kernels.router`: same names, same signatures, plain Python.

``route_cycles`` is the golden unit's own (:mod:`hwsim.golden.router`): it already is the plain form.
"""

from __future__ import annotations

from hwsim.golden.router import route_cycles

__all__ = ["route_cycles", "count_routed", "deliver"]


def _entries(table, sender):
    return range(int(table.ptr[sender]), int(table.ptr[sender + 1]))


def count_routed(spikes, start, n_spikes, table, sender):
    """Packets and hops of the spikes ``spikes[start : start + n_spikes]`` over ``sender``'s entries."""
    sent = [(j, r) for j in spikes[start : start + n_spikes] for r in _entries(table, sender)
            if table.lo[r] <= j < table.hi[r]]  # fmt: skip
    return len(sent), sum(int(table.hops[r]) for _, r in sent)


def deliver(spikes, n_spikes, table, sender, axon_start, inbox):
    """Set the inbox bit of every (spike, matching entry) pair; return (packets, hops)."""
    packets, hops = 0, 0
    for j in spikes[:n_spikes]:
        for r in _entries(table, sender):
            if table.lo[r] <= j < table.hi[r]:
                inbox[axon_start[table.dest[r]] + table.offset[r] + j - table.lo[r]] = 1
                packets, hops = packets + 1, hops + int(table.hops[r])
    return packets, hops

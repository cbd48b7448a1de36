"""Reference twins of :mod:`hwsim.kernels.router`: same names, same signatures, plain Python.

``route_cycles`` is the golden unit's own (:mod:`hwsim.golden.router`): it already is the plain form.
"""

from __future__ import annotations

from hwsim.golden.router import route_cycles

__all__ = ["route_cycles", "count_routed", "count_routed_table"]


def count_routed(spikes, start, n_spikes, lo, hi, hops, r_start, r_stop):
    """Packets and hops of the spikes ``spikes[start : start + n_spikes]`` over entries ``r_start .. r_stop-1``."""
    sent = [(j, r) for j in spikes[start : start + n_spikes] for r in range(r_start, r_stop) if lo[r] <= j < hi[r]]
    return len(sent), sum(int(hops[r]) for _, r in sent)


def count_routed_table(spikes, lo, hi, hops):
    """:func:`count_routed` of a whole spike list over a whole routing table."""
    return count_routed(list(spikes), 0, len(spikes), lo, hi, hops, 0, len(lo))

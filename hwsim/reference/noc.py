"""Reference twin of :mod:`hwsim.kernels.noc`: same name, same signature, plain Python over the golden mesh model.

It rebuilds each sender's packet list from the spike lists with the golden router
(:func:`hwsim.golden.router.packets`, chip-spec §5.1's order) and runs the golden
routers (:func:`hwsim.golden.noc.mesh_phase`) on them.
"""

from __future__ import annotations

from hwsim.config import ChipConfig
from hwsim.golden.noc import mesh_phase as golden_mesh_phase
from hwsim.golden.router import packets
from hwsim.program import Route

__all__ = ["mesh_phase"]


def mesh_phase(s_lo, s_hi, m, t, noc, lists, work):
    """One routing phase of senders ``s_lo .. s_hi-1`` (image ``m`` of the micro-batch, timestep ``t``).

    Adds per-link packets and stalls to ``work.links``; returns ``(cycles, buffer_writes, stall_cycles)``.
    The kernel's other working arrays are not used.
    """
    T = lists.counts.shape[2]
    chip = ChipConfig(name="noc", mesh_rows=int(noc.rows), mesh_cols=int(noc.cols), noc="mesh",
                      hop_latency_cycles=int(noc.hop_latency), router_buffer_flits=int(noc.depth))  # fmt: skip
    injections = {}
    for s in range(s_lo, s_hi):
        at = int(lists.base[s] + (m * T + t) * lists.stride[s])
        if noc.psum[s]:  # a partial-sum core sends its nonzero membranes (chip-spec §1.3)
            sources = [j for j in range(int(noc.n_sources[s])) if lists.values[at + j] != 0]
        else:
            sources = [int(j) for j in lists.store[at : at + int(lists.counts[s, m, t])]]
        routes = tuple(Route(int(noc.dest[e]), int(noc.lo[e]), int(noc.hi[e]), 0)
                       for e in range(int(noc.ptr[s]), int(noc.ptr[s + 1])))  # fmt: skip
        sent = packets(sources, routes)
        if sent:
            injections[int(noc.router[s])] = sent
    phase = golden_mesh_phase(chip, injections)
    work.links[..., 0] += phase.link_packets
    work.links[..., 1] += phase.link_stalls
    return phase.cycles, phase.buffer_writes, phase.stall_cycles

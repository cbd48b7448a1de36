"""Golden model of the router (chip-spec §1.1-1.3): deliver a sender's packets, count its packets, hops, cycles.

One unit for every sender: the host port and every core route through it.
Spike packets go into the destinations' input-spike buffers (:func:`deliver`);
the partial-sum packets of a partial-sum core (chip-spec §1.3) into their
partial-sum buffers (:func:`deliver_partial_sums`), through the same table.
"""

from __future__ import annotations

from hwsim.program import Route

__all__ = ["deliver", "deliver_partial_sums", "route_cycles", "packets"]


def route_cycles(packets: int, max_hops: int, hop_latency_cycles: int) -> int:
    """Cycles a sender spends routing its packets (chip-spec §1.2).

    ``max_hops`` is the largest hop count over all the sender's routing entries,
    whether or not they carried a packet this timestep.
    """
    return packets + hop_latency_cycles * max_hops if packets > 0 else 0


def deliver(spikes: list[int], routes: tuple[Route, ...], inboxes: dict[int, list[int]],
            hops_to: dict[int, int]) -> tuple[int, int]:
    """Send ``spikes`` through a routing table into the destination cores' inboxes (chip-spec §1.1).

    Every (spike, matching entry) pair is one packet to ``axon_offset + (j - src_lo)``
    of ``dest_core``, travelling ``hops_to[dest_core]`` hops.

    Returns:
        ``(packets, hops)``: packets sent and the sum of their hop counts.
    """
    packets, hops = 0, 0
    for j in spikes:
        for r in routes:
            if r.src_lo <= j < r.src_hi:
                inboxes[r.dest_core].append(r.axon_offset + (j - r.src_lo))
                packets += 1
                hops += hops_to[r.dest_core]
    return packets, hops


def deliver_partial_sums(partial_sums: list[tuple[int, int]], routes: tuple[Route, ...],
                         buffers: dict[int, list[int]], hops_to: dict[int, int]) -> tuple[int, int]:
    """Send a partial-sum core's ``(j, value)`` pairs into the destinations' partial-sum buffers (chip-spec §1.3).

    Pairs come in ascending ``j`` (only nonzero values, :meth:`hwsim.golden.core.GoldenCore.partial_sums`); every
    (pair, matching entry), in table order, is one packet writing ``value`` into word
    ``axon_offset + (j - src_lo)`` (a neuron index) of ``dest_core``'s buffer, travelling
    ``hops_to[dest_core]`` hops. Validation keeps partial-sum ranges into one core disjoint,
    so no word is written twice in a timestep.

    Returns:
        ``(packets, hops)``: packets sent and the sum of their hop counts.
    """
    packets, hops = 0, 0
    for j, value in partial_sums:
        for r in routes:
            if r.src_lo <= j < r.src_hi:
                buffers[r.dest_core][r.axon_offset + (j - r.src_lo)] = value
                packets += 1
                hops += hops_to[r.dest_core]
    return packets, hops


def packets(sources: list[int], routes: tuple[Route, ...]) -> list[tuple[int, int]]:
    """The packets a sender injects, in injection order (chip-spec §5.1): ``(dest_core, index)``.

    ``sources`` are its spiking sources ascending (or a partial-sum core's nonzero neurons); each one
    goes out once per matching entry, in table order; ``index`` is the destination axon (a neuron of
    the destination for a partial-sum packet).
    """
    return [(r.dest_core, r.axon_offset + (j - r.src_lo)) for j in sources for r in routes if r.src_lo <= j < r.src_hi]

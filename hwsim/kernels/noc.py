"""Numba kernel of the mesh network-on-chip (chip-spec §1.5): one routing phase, exact, stepping only busy routers.

Golden unit: :func:`hwsim.golden.noc.mesh_phase`. Slow twin: :mod:`hwsim.reference.noc`.

:func:`mesh_phase` regenerates the senders' packet streams from their spike
lists (the order of §5.1: sources ascending, each through every matching
routing entry in table order; a partial-sum core's nonzero membranes likewise)
and moves them hop by hop with the five steps of §1.5 per cycle. What a packet
does at its destination does not depend on its arrival cycle (the destination
is of a later stage), so only cycles and counters come out.

Speed (the per-micro-batch pass calls this for every image, timestep and stage):

- **Closed forms.** A phase without a sender that has both sources and routing
  entries costs nothing. A phase with one such sender, with buffers deep enough
  for a stream (``router_buffer_flits > hop_latency_cycles``), has a closed form
  (:func:`_lone_sender`), evaluated per routing entry rather than per packet:
  the host's phase, and a stage of one core, are such phases.
- **Requests kept, not searched.** Otherwise each router keeps its request word
  (bit ``5 * d + p``: input port ``p``'s head packet is ready and asks for output
  ``d``) up to date as packets move, instead of scanning its five input ports
  every cycle. A ready head always has its bit: a packet that heads a buffer
  because it was written into an empty one gets it from a wake-up (an event
  left for its ready cycle); one that a grant in cycle ``k`` moves up gets it at
  once if it is ready by ``k + 1``, else from its own wake-up (with
  ``hop_latency_cycles > 1`` every written packet leaves one; with a latency of
  1 a packet is ready the cycle after it is written, so always by ``k + 1``).
  A grant clears its bit. A cycle visits only the routers with a request (an
  active list), and when none has one, the clock jumps to the next wake-up; a
  cycle without a request has no grant, no stall and no transfer, so nothing is
  lost.
- **Transfers at once.** A grant's transfer is done as soon as it is decided
  rather than after all routers: the packet it writes is not ready before the
  next cycle (and its request bit is set by a wake-up or by the grant of a later
  cycle), and the slot it frees is added back when an upstream router checks
  that buffer later in the same cycle (``popped``), so every router still sees
  the state at the start of the cycle.

Input buffers are fixed-size rings, the network interfaces walk the spike lists
in place, array indices in the per-cycle loop are unsigned (:func:`_u`), and a
phase allocates nothing (:func:`mesh_phase` itself allocates the request words
and the wake-up ring, which the per-micro-batch pass allocates once and hands to
:func:`mesh_phase_with`).
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit

__all__ = ["mesh_phase", "mesh_phase_with", "phase_scratch", "LOCAL", "NORTH", "EAST", "SOUTH", "WEST"]

# Router ports (chip-spec §1.5), as hwsim.golden.noc numbers them; they live here too because Numba freezes
# globals into cached machine code and only this folder stamps the cache.
LOCAL, NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3, 4
# A wake-up event packs its cycle and the input port (router * 5 + port) it concerns into one word.
_PORT_BITS = 20
_PORT_MASK = (1 << _PORT_BITS) - 1
# Round robin as a table: _GRANT[pointer * 32 + mask] is the first input port of ``mask`` (bit p: input p
# requests) in the order pointer, pointer + 1, ... (mod 5); one lookup instead of a loop of unknown length.
_GRANT = np.array([next(((p + i) % 5 for i in range(5) if mask >> ((p + i) % 5) & 1), -1)
                   for p in range(5) for mask in range(32)], np.int64)  # fmt: skip


@jit
def _u(i):
    # An index known to be >= 0, typed unsigned, for the per-cycle loop: Numba then drops its wraparound of negative
    # indices (per access a shift, an and, and the array's length reloaded from the stack, since a phase keeps some
    # thirty arrays at hand): the busiest phase of the seed network ran 1.5x faster with it (benchmarks/bench_noc.py)
    return np.uint64(i)


@jit
def _xy_output(row, col, dest_row, dest_col):
    """The output port towards ``(dest_row, dest_col)`` at router ``(row, col)`` (XY: columns, then rows, then local).

    Scalars only: an array argument costs a reference count update per call, and this runs once per hop.
    """
    dc = dest_col - col
    if dc > 0:
        return EAST
    if dc < 0:
        return WEST
    dr = dest_row - row
    if dr > 0:
        return SOUTH
    if dr < 0:
        return NORTH
    return LOCAL


@jit
def _neighbour(here, d, cols):
    # only called for ports that XY routing uses, so the neighbour is on the mesh
    if d == NORTH:
        return here - cols
    if d == EAST:
        return here + 1
    if d == SOUTH:
        return here + cols
    return here - 1


@jit
def phase_scratch(noc):
    """The working arrays of :func:`mesh_phase_with` for ``noc``'s mesh: the routers' request words ``(R,)`` (zero
    between phases) and the ring of wake-up events ``(4 * R * depth + 1,)`` (a pending wake-up belongs to a buffered
    packet, and the buffers hold at most ``4 * R * depth``)."""
    R = noc.rows * noc.cols
    return np.zeros(R, np.int64), np.zeros(4 * R * noc.depth + 1, np.int64)


@jit
def mesh_phase(s_lo, s_hi, m, t, noc, lists, work):
    """One routing phase of the mesh (chip-spec §1.5), senders ``s_lo .. s_hi-1``, to its last delivery.

    The senders (spike-list numbering, :data:`~hwsim.kernels.layout.MeshNoc`) inject their packets of
    micro-batch image ``m``, timestep ``t`` (:data:`~hwsim.kernels.layout.SpikeLists`) at their routers.
    Every buffer starts empty and every round-robin pointer at 0, and both are so again at the end (every
    phase drains). Adds each output port's packets and stall cycles to ``work.links``.

    Returns:
        ``(cycles, buffer_writes, stall_cycles)``: the phase length (the cycle of the last delivery, 0
        without packets), packets written into input buffers, stall cycles of all output ports.
    """
    requests, events = phase_scratch(noc)
    return mesh_phase_with(s_lo, s_hi, m, t, noc, lists, work, requests, events)


@jit
def mesh_phase_with(s_lo, s_hi, m, t, noc, lists, work, requests, events):
    """:func:`mesh_phase` with its request words and wake-up ring (:func:`phase_scratch`) given: no allocation."""
    cols, depth, latency, row, col = noc.cols, noc.depth, noc.hop_latency, noc.row, noc.col
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    buf_dest, buf_out, buf_ready, buf_head, buf_len = work.buf_dest, work.buf_out, work.buf_ready, work.buf_head, \
        work.buf_len  # fmt: skip
    pointer = work.pointer
    ni_sender, ni_q, ni_r, ni_dest, ni_at, ni_n = work.ni_sender, work.ni_q, work.ni_r, work.ni_dest, work.ni_at, \
        work.ni_n  # fmt: skip
    ni_out, pending = work.ni_out, work.pending
    active, in_active, touched, popped, links = work.active, work.in_active, work.touched, work.popped, work.links
    T = counts.shape[2]
    link_counts = links.reshape(links.size)  # (router, port, packets | stalls), flat
    # the senders that send something: sources (spikes, or a partial-sum core's membranes) and routing entries
    busy, only = 0, np.int64(-1)
    for s in range(s_lo, s_hi):
        if ptr[s + 1] > ptr[s] and (psum[s] or counts[s, m, t] > 0):
            busy += 1
            only = s
    if busy == 0:
        return np.int64(0), np.int64(0), np.int64(0)
    if busy == 1 and depth > latency:
        return _lone_sender(only, m, t, noc, lists, links)

    # the network interfaces start before their first source and entry (the loop below finds their first packet);
    # their routers are active in cycle 1
    n_pending = 0
    n_active = 0
    n_touched = 0
    for s in range(s_lo, s_hi):
        if ptr[s + 1] == ptr[s]:
            continue
        x = router[s]
        ni_sender[x], ni_q[x], ni_r[x] = s, 0, ptr[s]
        ni_at[x] = base[s] + (m * T + t) * stride[s]
        # a spike list, or a partial-sum core's membranes (its nonzero ones are sent, chip-spec §1.3)
        ni_n[x] = n_sources[s] if psum[s] else np.int64(counts[s, m, t])
        pending[n_pending] = x
        n_pending += 1
        in_active[x] = 1
        touched[n_touched] = active[n_active] = x
        n_touched += 1
        n_active += 1

    n_events = events.shape[0]
    ev_first, ev_end = 0, 0  # the pending wake-ups, events[ev_first:ev_end] (mod n_events), in cycle order
    k = np.int64(0)
    last = np.int64(0)
    writes = np.int64(0)
    stalls = np.int64(0)
    while True:
        # the network interfaces whose packet left in the last cycle (all of them before cycle 1): the next packet,
        # sources ascending, each through every matching routing entry in table order (chip-spec §5.1); a network
        # interface's head is ready in every cycle
        for i in range(n_pending):
            x = pending[_u(i)]
            s = ni_sender[_u(x)]
            q, r, n, at = ni_q[_u(x)], ni_r[_u(x)], ni_n[_u(x)], ni_at[_u(x)]
            r_start, r_stop, is_psum = ptr[_u(s)], ptr[_u(s + 1)], psum[_u(s)]
            nd = np.int64(-1)
            while q < n:
                if is_psum:
                    if values[_u(at + q)] == 0:
                        q += 1
                        continue
                    j = np.int64(q)
                else:
                    j = np.int64(store[_u(at + q)])
                while r < r_stop:
                    e = r
                    r += 1
                    if lo[_u(e)] <= j and j < hi[_u(e)]:
                        nd = dest[_u(e)]
                        break
                if nd >= 0:
                    break
                q += 1
                r = r_start
            ni_q[_u(x)], ni_r[_u(x)], ni_dest[_u(x)] = q, r, nd
            if nd >= 0:
                ni_out[_u(x)] = _xy_output(row[_u(x)], col[_u(x)], row[_u(nd)], col[_u(nd)])
                requests[_u(x)] |= np.int64(1) << (5 * ni_out[_u(x)])  # x is active (since cycle 1, or it just sent)
        n_pending = 0
        if n_active == 0:
            if ev_first == ev_end:
                break  # nothing buffered, nothing left to inject: every packet is delivered
            # no router has a ready packet: skip to the next wake-up (idle cycles change nothing)
            k = (events[_u(ev_first)] >> _PORT_BITS) - 1
        k += 1
        # wake-ups of cycle k: a port's head packet becomes ready (its pipeline latency is over)
        while ev_first != ev_end and events[_u(ev_first)] >> _PORT_BITS <= k:
            port = events[_u(ev_first)] & _PORT_MASK
            ev_first = ev_first + 1 if ev_first + 1 < n_events else 0
            h = port * depth + buf_head[_u(port)]
            if buf_len[_u(port)] > 0 and buf_ready[_u(h)] <= k:
                x = port // 5
                requests[_u(x)] |= np.int64(1) << (5 * buf_out[_u(h)] + port - 5 * x)
                if in_active[_u(x)] != 1:
                    if in_active[_u(x)] == 0:
                        touched[_u(n_touched)] = x
                        n_touched += 1
                    in_active[_u(x)] = 1
                    active[_u(n_active)] = x
                    n_active += 1
        # steps 1-5 of cycle k, router by router, on the state at the start of the cycle
        kept = 0
        for a in range(n_active):
            x = active[_u(a)]
            req = requests[_u(x)]  # the requests at the start of cycle k; requests[_u(x)] becomes those of cycle k + 1
            injected = False
            d = 0
            while req != 0:
                # the next requested output d and its requesting inputs
                while req & 31 == 0:
                    req >>= 5
                    d += 1
                mask = req & 31
                req >>= 5
                n_req = (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1) + ((mask >> 3) & 1) + (mask >> 4)
                # back-pressure: the neighbour's buffer as it was at the start of the cycle (plus the packet its
                # router may have taken out of it earlier in this loop); the local output never blocks
                if d != LOCAL:
                    y = _neighbour(x, d, cols)
                    into = y * 5 + (d + 2 if d <= 2 else d - 2)  # output d feeds the neighbour's opposite input
                    available = buf_len[_u(into)] + (popped[_u(into)] == k) < depth
                else:
                    available = True
                if available:
                    # round robin: the first requester from the pointer on, p, p + 1, ... (mod 5)
                    p = _GRANT[_u(pointer[_u(x * 5 + d)] * 32 + mask)]
                    pointer[_u(x * 5 + d)] = p + 1 if p < 4 else 0
                    n_req -= 1
                    requests[_u(x)] &= ~(np.int64(1) << (5 * d + p))
                    # step 5, the transfer, done at once: what it changes cannot alter another grant of this cycle
                    # (a packet written now is not ready before cycle k + 1, a slot freed now is counted above)
                    if p == LOCAL:  # the network interface moves to its next packet before the next cycle
                        to = ni_dest[_u(x)]
                        ni_dest[_u(x)] = -1
                        pending[_u(n_pending)] = x
                        n_pending += 1
                        injected = True
                    else:
                        port = x * 5 + p
                        to = buf_dest[_u(port * depth + buf_head[_u(port)])]
                        buf_head[_u(port)] = buf_head[_u(port)] + 1 if buf_head[_u(port)] + 1 < depth else 0
                        buf_len[_u(port)] -= 1
                        popped[_u(port)] = k
                        if buf_len[_u(port)] > 0:
                            # the packet behind it heads the port: it requests from cycle k + 1 if it is ready by
                            # then, else its wake-up (left when it was written) sets its request
                            h = port * depth + buf_head[_u(port)]
                            if buf_ready[_u(h)] <= k + 1:
                                requests[_u(x)] |= np.int64(1) << (5 * buf_out[_u(h)] + p)
                    link_counts[_u((x * 5 + d) * 2)] += 1
                    if d == LOCAL:
                        last = k
                    else:
                        tail = buf_head[_u(into)] + buf_len[_u(into)]
                        if tail >= depth:
                            tail -= depth
                        h = into * depth + tail
                        buf_dest[_u(h)] = to
                        # the output it will request at y, computed once
                        buf_out[_u(h)] = _xy_output(row[_u(y)], col[_u(y)], row[_u(to)], col[_u(to)])
                        buf_ready[_u(h)] = k + latency
                        # its wake-up: needed if it heads the buffer at its ready cycle without a grant behind which
                        # it moves up then; with a latency of 1 that is only when the buffer is empty now
                        if latency > 1 or buf_len[_u(into)] == 0:
                            events[_u(ev_end)] = ((k + latency) << _PORT_BITS) | into
                            ev_end = ev_end + 1 if ev_end + 1 < n_events else 0
                        buf_len[_u(into)] += 1
                        writes += 1
                if n_req > 0:
                    link_counts[_u((x * 5 + d) * 2 + 1)] += n_req
                    stalls += n_req
                d += 1
            # a router stays active while it has requests or its network interface is about to load its next packet
            if requests[_u(x)] != 0 or injected:
                active[_u(kept)] = x
                kept += 1
            else:
                in_active[_u(x)] = 2
        n_active = kept
    # back to the reset state for the next phase: round-robin pointers to 0
    for a in range(n_touched):
        x = touched[a]
        in_active[x] = 0
        for d in range(5):
            pointer[x * 5 + d] = 0
            popped[x * 5 + d] = 0
    return last, writes, stalls


@jit
def _lone_sender(s, m, t, noc, lists, links):
    """A phase whose only sender is ``s``, with ``router_buffer_flits > hop_latency_cycles``: packet ``i`` (from 1,
    in injection order) is delivered in cycle ``i + hop_latency_cycles * hops``, nothing ever stalls.

    Why (chip-spec §1.5): every router receives the sender's packets through one input port only (XY paths
    from one router form a tree: along the sender's row from the side, down a column from above or below),
    so no output ever has two requesters; the interface injects one packet per cycle; a packet waits exactly
    ``hop_latency_cycles`` cycles per router, so a buffer holds at most that many packets at the start of a
    cycle, fewer than its depth, and back-pressure never acts.

    Evaluated per routing entry: entry ``e`` sends one packet per source in ``lo .. hi-1`` (a binary search in the
    ascending spike list; a partial-sum core's nonzero membranes are counted), each crossing the same links. The
    phase length is the largest ``i + hop_latency_cycles * hops`` over the packets; walking the packets backwards
    from the last one, that search stops once no earlier packet can beat it (``i + latency * max_hops``).
    Same returns as :func:`mesh_phase`.
    """
    cols, latency, row, col = noc.cols, noc.hop_latency, noc.row, noc.col
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    x = router[s]
    at = base[s] + (m * counts.shape[2] + t) * stride[s]
    is_psum = psum[s]
    n = n_sources[s] if is_psum else np.int64(counts[s, m, t])
    spikes = store[at : at + n]
    packets = np.int64(0)
    writes = np.int64(0)
    max_hops = np.int64(0)
    for e in range(ptr[s], ptr[s + 1]):
        # the packets of entry e: one per source in lo[e] .. hi[e]-1
        if is_psum:
            sent = np.int64(0)
            for j in range(max(lo[e], 0), min(hi[e], n)):
                if values[at + j] != 0:
                    sent += 1
        else:
            sent = np.int64(np.searchsorted(spikes, hi[e]) - np.searchsorted(spikes, lo[e]))
        if sent == 0:
            continue
        packets += sent
        to = dest[e]
        y = x
        hops = np.int64(0)
        while True:  # along its XY path: the entry's packets through every output port they take
            d = _xy_output(row[y], col[y], row[to], col[to])
            links[y, d, 0] += sent
            if d == LOCAL:
                break
            y = _neighbour(y, d, cols)
            hops += 1
        writes += sent * hops
        max_hops = max(max_hops, hops)
    # the last delivery: packets from the last one backwards (sources descending, entries in reverse table order)
    last = np.int64(0)
    i = packets  # the injection number of the packet looked at
    q = n - 1
    while q >= 0 and i + latency * max_hops > last:
        if is_psum:
            if values[at + q] == 0:
                q -= 1
                continue
            j = np.int64(q)
        else:
            j = np.int64(spikes[q])
        e = ptr[s + 1] - 1
        while e >= ptr[s] and i + latency * max_hops > last:
            if lo[e] <= j and j < hi[e]:
                to = dest[e]
                arrival = i + latency * (abs(row[to] - row[x]) + abs(col[to] - col[x]))
                if arrival > last:
                    last = arrival
                i -= 1
            e -= 1
        q -= 1
    return last, writes, np.int64(0)

"""Numba kernel of the mesh network-on-chip (chip-spec §1.5): one routing phase, exact, stepping only busy routers.

Golden unit: :func:`hwsim.golden.noc.mesh_phase`. Slow twin: :mod:`hwsim.reference.noc`.

:func:`mesh_phase` regenerates the senders' packet streams from their spike
lists (the order of §5.1: sources ascending, each through every matching
routing entry in table order; a partial-sum core's nonzero membranes likewise)
and moves them hop by hop with the five steps of §1.5 per cycle. What a packet
does at its destination does not depend on its arrival cycle (the destination
is of a later stage), so only cycles and counters come out.

Speed: a phase in which at most one sender has anything to send, with buffers
deep enough for a stream (``router_buffer_flits > hop_latency_cycles``), has a
closed form (:func:`_lone_sender`): the host's phase, and a stage of one core,
are such phases. Otherwise each cycle visits only the routers that hold a packet (an active list);
when no input port of any router has a ready packet, the clock jumps to the
earliest ready cycle, which changes nothing, since a cycle without a request
has no grant, no stall and no transfer. A grant's transfer is done at once
rather than after all routers: the packet it writes is not ready before the next
cycle, and the slot it frees is added back when an upstream router checks that
buffer later in the same cycle (``popped``), so every router still sees the
state at the start of the cycle. Each packet's output port is computed once
per hop. Input buffers are fixed-size rings, the network interfaces walk the
spike lists in place, and nothing is allocated.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit

__all__ = ["mesh_phase", "LOCAL", "NORTH", "EAST", "SOUTH", "WEST"]

# Router ports (chip-spec §1.5), as hwsim.golden.noc numbers them; they live here too because Numba freezes
# globals into cached machine code and only this folder stamps the cache.
LOCAL, NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3, 4
# No ready packet anywhere: a cycle beyond every real one.
_NEVER = np.int64(1) << 62


@jit
def _opposite(d):
    # output d of a router feeds input opposite(d) of its neighbour: north <-> south, east <-> west
    return d + 2 if d <= 2 else d - 2


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
    cols, depth, latency, row, col = noc.cols, noc.depth, noc.hop_latency, noc.row, noc.col
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    buf_dest, buf_out, buf_ready, buf_head, buf_len = work.buf_dest, work.buf_out, work.buf_ready, work.buf_head, \
        work.buf_len  # fmt: skip
    pointer, held = work.pointer, work.held
    ni_sender, ni_q, ni_r, ni_dest, ni_at, ni_n = work.ni_sender, work.ni_q, work.ni_r, work.ni_dest, work.ni_at, \
        work.ni_n  # fmt: skip
    ni_out, pending = work.ni_out, work.pending
    active, in_active, touched, popped, links = work.active, work.in_active, work.touched, work.popped, work.links
    T = counts.shape[2]
    if depth > latency:
        # At most one sender with sources: a closed form (see _lone_sender). A partial-sum core counts as one.
        busy, only = 0, np.int64(-1)
        for s in range(s_lo, s_hi):
            if psum[s] or counts[s, m, t] > 0:
                busy += 1
                only = s
        if busy == 0:
            return np.int64(0), np.int64(0), np.int64(0)
        if busy == 1:
            return _lone_sender(only, m, t, noc, lists, work.links)

    # the network interfaces start before their first source and entry (the loop below finds their first packet)
    n_pending = 0
    for s in range(s_lo, s_hi):
        x = router[s]
        ni_sender[x], ni_q[x], ni_r[x] = s, 0, ptr[s]
        ni_at[x] = base[s] + (m * T + t) * stride[s]
        # a spike list, or a partial-sum core's membranes (its nonzero ones are sent, chip-spec §1.3)
        ni_n[x] = n_sources[s] if psum[s] else np.int64(counts[s, m, t])
        pending[n_pending] = x
        n_pending += 1

    n_active = 0
    n_touched = 0
    k = np.int64(0)
    last = np.int64(0)
    writes = np.int64(0)
    stalls = np.int64(0)
    emptied = False
    while True:
        # the network interfaces whose packet left in the last cycle (all of them before cycle 1): the next packet,
        # sources ascending, each through every matching routing entry in table order (chip-spec §5.1)
        for i in range(n_pending):
            x = pending[i]
            s = ni_sender[x]
            q, r, n, at = ni_q[x], ni_r[x], ni_n[x], ni_at[x]
            r_start, r_stop, is_psum = ptr[s], ptr[s + 1], psum[s]
            nd = np.int64(-1)
            while q < n:
                if is_psum:
                    if values[at + q] == 0:
                        q += 1
                        continue
                    j = np.int64(q)
                else:
                    j = np.int64(store[at + q])
                while r < r_stop:
                    e = r
                    r += 1
                    if lo[e] <= j and j < hi[e]:
                        nd = dest[e]
                        break
                if nd >= 0:
                    break
                q += 1
                r = r_start
            ni_q[x], ni_r[x], ni_dest[x] = q, r, nd
            if nd >= 0:
                ni_out[x] = _xy_output(row[x], col[x], row[nd], col[nd])
                if in_active[x] == 0:  # a sender's router, before cycle 1 (later it is active when it sends)
                    in_active[x] = 1
                    touched[n_touched], active[n_active] = x, x
                    n_touched, n_active = n_touched + 1, n_active + 1
            elif held[x] == 0:
                emptied = True
        n_pending = 0
        if emptied:
            # keep the routers that still hold a packet (a drained one keeps its pointers until the phase ends)
            kept = 0
            for a in range(n_active):
                x = active[a]
                if ni_dest[x] >= 0 or held[x] > 0:
                    active[kept] = x
                    kept += 1
                else:
                    in_active[x] = 2
            n_active = kept
            emptied = False
        if n_active == 0:
            break
        k += 1
        # steps 1-4 on the state at the start of cycle k
        requested = False
        next_ready = _NEVER
        for a in range(n_active):  # routers activated during the loop hold no ready packet yet
            x = active[a]
            # requests, 5 bits per output port (bit p: input port p asks for it)
            req = np.int64(0)
            if ni_dest[x] >= 0:  # a network interface's head is ready in every cycle
                req = np.int64(1) << (5 * ni_out[x])
            if held[x] > 0:
                for p in range(1, 5):
                    port = x * 5 + p
                    if buf_len[port] > 0:
                        h = port * depth + buf_head[port]
                        if buf_ready[h] <= k:
                            req |= np.int64(1) << (5 * buf_out[h] + p)
                        elif buf_ready[h] < next_ready:
                            next_ready = buf_ready[h]
            if req == 0:
                continue
            requested = True
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
                    into = y * 5 + _opposite(d)
                    available = buf_len[into] + (popped[into] == k) < depth
                else:
                    available = True
                if available:
                    # round robin: the first requester from the pointer on, p, p + 1, ... (mod 5)
                    p = pointer[x * 5 + d]
                    while (mask >> p) & 1 == 0:
                        p = p + 1 if p < 4 else 0
                    pointer[x * 5 + d] = p + 1 if p < 4 else 0
                    n_req -= 1
                    # step 5, the transfer, done at once: what it changes cannot alter another grant of this cycle
                    # (a packet written now is not ready before cycle k + 1, a slot freed now is counted above)
                    if p == LOCAL:  # the network interface moves to its next packet before the next cycle
                        to = ni_dest[x]
                        ni_dest[x] = -1
                        pending[n_pending] = x
                        n_pending += 1
                    else:
                        port = x * 5 + p
                        to = buf_dest[port * depth + buf_head[port]]
                        buf_head[port] = buf_head[port] + 1 if buf_head[port] + 1 < depth else 0
                        buf_len[port] -= 1
                        popped[port] = k
                        held[x] -= 1
                        if held[x] == 0 and ni_dest[x] < 0:  # (or its interface is pending: checked again)
                            emptied = True
                    links[x, d, 0] += 1
                    if d == LOCAL:
                        last = k
                    else:
                        tail = buf_head[into] + buf_len[into]
                        if tail >= depth:
                            tail -= depth
                        buf_dest[into * depth + tail] = to
                        # the output it will request at y, computed once
                        buf_out[into * depth + tail] = _xy_output(row[y], col[y], row[to], col[to])
                        buf_ready[into * depth + tail] = k + latency
                        buf_len[into] += 1
                        held[y] += 1
                        writes += 1
                        if in_active[y] != 1:
                            if in_active[y] == 0:
                                touched[n_touched] = y
                                n_touched += 1
                            in_active[y] = 1
                            active[n_active] = y
                            n_active += 1
                if n_req > 0:
                    links[x, d, 1] += n_req
                    stalls += n_req
                d += 1
        if not requested:
            # nothing can move before the earliest buffered packet is ready: skip the idle cycles
            k = next_ready - 1
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
    cycle, fewer than its depth, and back-pressure never acts. Same returns as :func:`mesh_phase`.
    """
    cols, latency, row, col = noc.cols, noc.hop_latency, noc.row, noc.col
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    x = router[s]
    at = base[s] + (m * counts.shape[2] + t) * stride[s]
    n = n_sources[s] if psum[s] else np.int64(counts[s, m, t])
    injected = np.int64(0)
    last = np.int64(0)
    writes = np.int64(0)
    for q in range(n):
        if psum[s]:
            if values[at + q] == 0:  # zero partial sums are not sent (chip-spec §1.3)
                continue
            j = np.int64(q)
        else:
            j = np.int64(store[at + q])
        for e in range(ptr[s], ptr[s + 1]):
            if lo[e] <= j and j < hi[e]:
                injected += 1
                to = dest[e]
                y = x
                hops = np.int64(0)
                while True:  # along its XY path, one packet through every output port it takes
                    d = _xy_output(row[y], col[y], row[to], col[to])
                    links[y, d, 0] += 1
                    if d == LOCAL:
                        break
                    y = _neighbour(y, d, cols)
                    hops += 1
                writes += hops
                arrival = injected + latency * hops
                if arrival > last:
                    last = arrival
    return last, writes, np.int64(0)

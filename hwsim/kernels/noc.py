"""Numba kernel of the mesh network-on-chip (chip-spec §1.5): one routing phase, exact, stepping only busy routers.

Golden unit: :func:`hwsim.golden.noc.mesh_phase`. Slow twin: :mod:`hwsim.reference.noc`.

:func:`mesh_phase` regenerates the senders' packet streams from their spike
lists (the order of §5.1: sources ascending, each through every matching
routing entry in table order; a partial-sum core's nonzero membranes likewise)
and moves them hop by hop with the five steps of §1.5 per cycle. What a packet
does at its destination does not depend on its arrival cycle (the destination
is of a later stage), so only cycles and counters come out.

Speed: each cycle visits only the routers that hold a packet (an active list);
when no input port of any router has a ready packet, the clock jumps to the
earliest ready cycle, which changes nothing, since a cycle without a request
has no grant, no stall and no transfer. Input buffers are fixed-size rings, the
network interfaces walk the spike lists in place, and nothing is allocated.
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
def _xy_output(here, dest, cols):
    """The output port towards router ``dest`` at router ``here`` (XY: columns first, then rows, then local)."""
    dc = dest % cols - here % cols
    if dc > 0:
        return EAST
    if dc < 0:
        return WEST
    dr = dest // cols - here // cols
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
def _next_packet(q, r, at, n, psum, r_stop, r_start, lo, hi, dest, store, values):
    """A network interface's next packet, from source position ``q`` and routing entry ``r`` on.

    Sources are ``store[at + q]`` for ``q < n`` (a spike list), or, for a partial-sum sender, the neurons
    ``q < n`` with ``values[at + q] != 0``. Returns ``(q, r, dest)``: the packet's source position, the entry
    after its own, and its destination router; ``dest`` is -1 when the sender has no packet left.
    """
    while q < n:
        if psum:
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
                return q, r, dest[e]
        q += 1
        r = r_start
    return q, r, np.int64(-1)


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
    cols, depth, latency = noc.cols, noc.depth, noc.hop_latency
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    buf_dest, buf_ready, buf_head, buf_len, pointer = work.buf_dest, work.buf_ready, work.buf_head, work.buf_len, \
        work.pointer  # fmt: skip
    ni_sender, ni_q, ni_r, ni_dest, ni_at, ni_n = work.ni_sender, work.ni_q, work.ni_r, work.ni_dest, work.ni_at, \
        work.ni_n  # fmt: skip
    active, in_active, touched, grant, links = work.active, work.in_active, work.touched, work.grant, work.links
    T = counts.shape[2]

    # the network interfaces: each sender's first packet
    n_active = 0
    for s in range(s_lo, s_hi):
        at = base[s] + (m * T + t) * stride[s]
        n = n_sources[s] if psum[s] else np.int64(counts[s, m, t])
        q, r, d = _next_packet(0, ptr[s], at, n, psum[s], ptr[s + 1], ptr[s], lo, hi, dest, store, values)
        if d < 0:
            continue
        x = router[s]
        ni_sender[x], ni_q[x], ni_r[x], ni_dest[x], ni_at[x], ni_n[x] = s, q, r, d, at, n
        active[n_active] = x
        in_active[x] = 1
        n_active += 1
        touched[n_active - 1] = x
    n_touched = n_active

    k = np.int64(0)
    last = np.int64(0)
    writes = np.int64(0)
    stalls = np.int64(0)
    while n_active > 0:
        k += 1
        # steps 1-4 on the state at the start of cycle k; the grants are applied after (step 5)
        n_grants = 0
        requested = False
        next_ready = _NEVER
        for a in range(n_active):
            x = active[a]
            # requests, 5 bits per output port (bit p: input port p asks for it)
            req = np.int64(0)
            if ni_dest[x] >= 0:  # a network interface's head is ready in every cycle
                req |= np.int64(1) << (5 * _xy_output(x, ni_dest[x], cols))
            for p in range(1, 5):
                port = x * 5 + p
                if buf_len[port] > 0:
                    h = port * depth + buf_head[port]
                    if buf_ready[h] <= k:
                        req |= np.int64(1) << (5 * _xy_output(x, buf_dest[h], cols) + p)
                    elif buf_ready[h] < next_ready:
                        next_ready = buf_ready[h]
            if req == 0:
                continue
            requested = True
            for d in range(5):
                mask = (req >> (5 * d)) & 31
                if mask == 0:
                    continue
                n_req = (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1) + ((mask >> 3) & 1) + ((mask >> 4) & 1)
                # back-pressure: the neighbour's buffer as it was at the start of the cycle; local never blocks
                if d == LOCAL or buf_len[_neighbour(x, d, cols) * 5 + _opposite(d)] < depth:
                    p = pointer[x * 5 + d]
                    while (mask >> p) & 1 == 0:
                        p = p + 1 if p < 4 else 0
                    pointer[x * 5 + d] = p + 1 if p < 4 else 0
                    grant[n_grants, 0] = x
                    grant[n_grants, 1] = p
                    grant[n_grants, 2] = d
                    n_grants += 1
                    n_req -= 1
                links[x, d, 1] += n_req
                stalls += n_req
        if not requested:
            # nothing can move before the earliest buffered packet is ready: skip the idle cycles
            k = next_ready - 1
            continue
        # step 5: transfers at the end of the cycle
        for g in range(n_grants):
            x = grant[g, 0]
            p = grant[g, 1]
            d = grant[g, 2]
            if p == LOCAL:
                to = ni_dest[x]
                s = ni_sender[x]
                q, r, nd = _next_packet(ni_q[x], ni_r[x], ni_at[x], ni_n[x], psum[s], ptr[s + 1], ptr[s], lo, hi,
                                        dest, store, values)  # fmt: skip
                ni_q[x], ni_r[x], ni_dest[x] = q, r, nd
            else:
                port = x * 5 + p
                to = buf_dest[port * depth + buf_head[port]]
                buf_head[port] = buf_head[port] + 1 if buf_head[port] + 1 < depth else 0
                buf_len[port] -= 1
            links[x, d, 0] += 1
            if d == LOCAL:
                last = k
            else:
                y = _neighbour(x, d, cols)
                port = y * 5 + _opposite(d)
                tail = buf_head[port] + buf_len[port]
                if tail >= depth:
                    tail -= depth
                buf_dest[port * depth + tail] = to
                buf_ready[port * depth + tail] = k + latency
                buf_len[port] += 1
                writes += 1
                if in_active[y] != 1:
                    if in_active[y] == 0:
                        touched[n_touched] = y
                        n_touched += 1
                    in_active[y] = 1
                    active[n_active] = y
                    n_active += 1
        # keep the routers that still hold a packet (a drained one keeps its pointers until the phase ends)
        kept = 0
        for a in range(n_active):
            x = active[a]
            busy = ni_dest[x] >= 0
            for p in range(1, 5):
                busy = busy or buf_len[x * 5 + p] > 0
            if busy:
                active[kept] = x
                kept += 1
            else:
                in_active[x] = 2
        n_active = kept
    # back to the reset state for the next phase: round-robin pointers to 0
    for a in range(n_touched):
        x = touched[a]
        in_active[x] = 0
        for d in range(5):
            pointer[x * 5 + d] = 0
    return last, writes, stalls

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
    cols, depth, latency, row, col = noc.cols, noc.depth, noc.hop_latency, noc.row, noc.col
    router, psum, n_sources, ptr, dest, lo, hi = noc.router, noc.psum, noc.n_sources, noc.ptr, noc.dest, noc.lo, noc.hi
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    buf_dest, buf_out, buf_ready, buf_head, buf_len = work.buf_dest, work.buf_out, work.buf_ready, work.buf_head, \
        work.buf_len  # fmt: skip
    pointer, held = work.pointer, work.held
    ni_sender, ni_q, ni_r, ni_dest, ni_at, ni_n = work.ni_sender, work.ni_q, work.ni_r, work.ni_dest, work.ni_at, \
        work.ni_n  # fmt: skip
    ni_out = work.ni_out
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
        ni_out[x] = _xy_output(row[x], col[x], row[d], col[d])
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
                # back-pressure: the neighbour's buffer as it was at the start of the cycle; local never blocks
                if d == LOCAL or buf_len[_neighbour(x, d, cols) * 5 + _opposite(d)] < depth:
                    # round robin: the first requester from the pointer on, p, p + 1, ... (mod 5)
                    p = pointer[x * 5 + d]
                    while (mask >> p) & 1 == 0:
                        p = p + 1 if p < 4 else 0
                    pointer[x * 5 + d] = p + 1 if p < 4 else 0
                    grant[n_grants] = (x * 5 + p) * 5 + d
                    n_grants += 1
                    n_req -= 1
                if n_req > 0:
                    links[x, d, 1] += n_req
                    stalls += n_req
                d += 1
        if not requested:
            # nothing can move before the earliest buffered packet is ready: skip the idle cycles
            k = next_ready - 1
            continue
        # step 5: transfers at the end of the cycle
        emptied = False
        for g in range(n_grants):
            d = grant[g] % 5
            p = grant[g] // 5 % 5
            x = grant[g] // 25
            if p == LOCAL:
                to = ni_dest[x]
                s = ni_sender[x]
                # the interface's next packet: _next_packet written out (a call would cost a reference count
                # update per array argument, once per packet)
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
                elif held[x] == 0:
                    emptied = True
            else:
                port = x * 5 + p
                to = buf_dest[port * depth + buf_head[port]]
                buf_head[port] = buf_head[port] + 1 if buf_head[port] + 1 < depth else 0
                buf_len[port] -= 1
                held[x] -= 1
                if held[x] == 0 and ni_dest[x] < 0:
                    emptied = True
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
                # the output it will request at y, computed once
                buf_out[port * depth + tail] = _xy_output(row[y], col[y], row[to], col[to])
                buf_ready[port * depth + tail] = k + latency
                buf_len[port] += 1
                held[y] += 1
                writes += 1
                if in_active[y] != 1:
                    if in_active[y] == 0:
                        touched[n_touched] = y
                        n_touched += 1
                    in_active[y] = 1
                    active[n_active] = y
                    n_active += 1
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
    # back to the reset state for the next phase: round-robin pointers to 0
    for a in range(n_touched):
        x = touched[a]
        in_active[x] = 0
        for d in range(5):
            pointer[x * 5 + d] = 0
    return last, writes, stalls

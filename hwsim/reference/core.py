"""Reference twins of :mod:`hwsim.kernels.core`: same names, same signatures, plain NumPy."""

from __future__ import annotations

import numpy as np

from hwsim.neuron import CONTINUOUS_CODE, RESET_ZERO_CODE
from hwsim.reference.router import count_routed, route_cycles


__all__ = ["integrate_spikes", "update_neurons", "core_pass"]


def integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos, w_neg, lo, hi):
    """``v = sat(v + w[a])`` for each ``a`` in ``axons[:n_spk]`` in order (chip-spec §2.2 step 2)."""
    acc = v.astype(np.int64)
    for a in axons[:n_spk]:
        acc = np.clip(acc + w[a].astype(np.int64), v_min, v_max)  # saturate after every add
    v[:] = acc


def update_neurons(v, bias, threshold, leak_shift, fire, reset_zero, v_min, v_max, fired, spikes, spikes_start):
    """Bias, leak, compare, reset (chip-spec §2.2 step 3); returns the number of neurons fired."""
    x = np.clip(v.astype(np.int64) + bias.astype(np.int64), v_min, v_max)
    if leak_shift > 0:
        x = x - (x >> leak_shift)  # numpy >> on int64 is the arithmetic shift
    f = (x >= threshold) & bool(fire)
    x = np.where(f, 0 if reset_zero else x - threshold, x)
    v[:] = x
    fired[:] = f
    idx = np.flatnonzero(f)
    spikes[spikes_start : spikes_start + idx.size] = idx
    return int(idx.size)


def core_pass(i, m0, m1, order, routes, incoming, psums, neurons, weights, consts, lists, scratch, out):
    """Core ``i`` over images ``m0 .. m1-1``, every timestep, with NumPy and Python lists (ignores ``scratch``).

    A partial-sum core writes its membranes to ``lists.values`` where its spike list would be, and sends
    (counts) a packet per nonzero one; a receiver writes each nonzero one into an ``N``-word partial-sum
    buffer and adds all of it in MERGE (chip-spec §1.3).
    """
    A, n, k, me = int(weights.n_axons[i]), int(neurons.n_neurons[i]), int(order[i]), i + 1
    w = weights.w[weights.start[i] : weights.start[i] + A * n].reshape(A, n).astype(np.int64)
    bias = neurons.bias[neurons.start[i] : neurons.start[i] + n].astype(np.int64)
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    T = counts.shape[2]

    def spike_list(s, m, t):
        at = base[s] + (m * T + t) * stride[s]
        return [int(j) for j in store[at : at + counts[s, m, t]]]

    def membranes(s, m, t):  # a partial-sum sender's membranes
        at = base[s] + (m * T + t) * stride[s]
        return [int(x) for x in values[at : at + stride[s]]]

    receiver = psums.ptr[i + 1] > psums.ptr[i]

    th, G = int(neurons.threshold[i]), int(neurons.n_groups[i])
    for b in range(m0, m1):
        v = np.zeros(n, np.int64)
        for t in range(T):
            axons = []
            for r in range(incoming.ptr[i], incoming.ptr[i + 1]):
                lo, hi, off = int(incoming.lo[r]), int(incoming.hi[r]), int(incoming.offset[r])
                axons += [off + j - lo for j in spike_list(int(incoming.sender[r]), b - m0, t) if lo <= j < hi]
            assert axons == sorted(axons), "incoming routes must be sorted by axon offset"
            if neurons.integration[i] != CONTINUOUS_CODE:
                v[:] = 0
            psum = np.zeros(n, np.int64)  # the partial-sum buffer, 0 at the start of every timestep
            for r in range(psums.ptr[i], psums.ptr[i + 1]):
                s, lo, hi, off = int(psums.sender[r]), int(psums.lo[r]), int(psums.hi[r]), int(psums.offset[r])
                for j, x in enumerate(membranes(s, b - m0, t)):
                    if lo <= j < hi and x != 0:  # a packet per nonzero membrane
                        psum[off + j - lo] = x
            if receiver:
                v = np.clip(v + psum, consts.v_min, consts.v_max)  # MERGE
            for a in axons:
                v = np.clip(v + w[a], consts.v_min, consts.v_max)  # saturate after every add
            v = np.clip(v + bias, consts.v_min, consts.v_max)
            if neurons.leak_shift[i] > 0:
                v = v - (v >> int(neurons.leak_shift[i]))
            f = (v >= th) & bool(neurons.fire[i])
            v = np.where(f, 0 if neurons.reset[i] == RESET_ZERO_CODE else v - th, v)
            spikes = np.flatnonzero(f)
            at = base[me] + ((b - m0) * T + t) * stride[me]
            store[at : at + spikes.size] = spikes
            counts[me, b - m0, t] = spikes.size
            sent = spikes
            if psums.out[i]:  # a partial-sum core sends its nonzero membranes
                values[at : at + n] = v
                sent = np.flatnonzero(v)
            packets, hops = count_routed(list(sent), 0, sent.size, routes.lo, routes.hi, routes.hops,
                                         routes.ptr[i], routes.ptr[i + 1])  # fmt: skip
            n_spk = len(axons)
            merge = G if receiver else 0
            cycles = consts.start_done_cycles + merge + n_spk * G + (consts.sram_latency_cycles if n_spk else 0) + G
            out.counters[b, t, k] = (n_spk, n_spk * G, n_spk * n, n, spikes.size, packets, hops, cycles)
            out.route_cycles[b, t, k] = route_cycles(packets, routes.max_hops[i], consts.hop_latency)
            if out.mem_col[i] >= 0:
                out.mem_out[b, t, out.mem_col[i] : out.mem_col[i] + n] = v
            if out.spk_col[i] >= 0:
                out.spk_out[b, t, out.spk_col[i] : out.spk_col[i] + n] = f

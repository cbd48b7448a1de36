"""Numba kernels of the digital spike-sparse core (chip-spec §2), event driven.

Work is proportional to spikes: a spiking axon adds its weight row to the
membranes, a silent axon costs nothing. Membranes live in the narrowest
signed type that holds ``v_bits`` (int16 up to 16 bits, else int32), weights
in int8 (``w_bits <= 8``) or int16, so one SIMD instruction updates 16 to 32
neurons.

Saturation after every single addition is part of the contract (§2.2), but a
clamp that provably cannot trigger changes nothing. :func:`integrate_spikes`
keeps a bound ``lo <= v[j] <= hi`` on all membranes of the core; while
``hi + k * w_pos <= v_max`` and ``lo - k * w_neg >= v_min`` (``w_pos``/``w_neg``
= the largest positive/negative weight magnitude of the core), the next ``k``
rows can be added without a clamp, in any grouping, because no partial sum can
leave the range. Only when the bound gets too tight does it fall back to the
per-add saturating loop of the spec for one axon, then re-measures the bound.

:func:`core_pass` runs one core (golden unit: :class:`hwsim.golden.core.GoldenCore`,
one timestep per ``step``) over every timestep of a micro-batch of images;
:func:`hwsim.kernels.chip.chip_pass` runs it for every core of the chip. It
covers a micro-batch rather than one timestep because a kernel call per core
timestep costs a reference count update per array argument, on arrays the
threads share: up to a third of the engine's time at low input rates.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic
from numba.cpython.unsafe.numbers import trailing_zeros

from hwsim.kernels.decorators import jit
from hwsim.kernels.router import _lower_bound, count_routed, route_cycles
from hwsim.neuron import CONTINUOUS_CODE, RESET_ZERO_CODE

__all__ = ["integrate_spikes", "update_neurons", "core_pass", "N_COUNTERS", "AXON_EVENTS", "SRAM_READS",
           "SYNAPTIC_OPS", "NEURON_UPDATES", "OUTPUT_SPIKES", "PACKETS", "HOPS", "CYCLES"]

# Bit 0 of byte k of a little-endian word to bit k (see hwsim.kernels.host_port): the fired flags, 8 at a time.
_GATHER = np.uint64(0x0102040810204080)
_56 = np.uint64(56)
_ONE = np.uint64(1)
_LITTLE_ENDIAN = sys.byteorder == "little"

# Columns of the per-core counter block, in hwsim.result.COUNTER_NAMES order.
N_COUNTERS = 8
AXON_EVENTS, SRAM_READS, SYNAPTIC_OPS, NEURON_UPDATES, OUTPUT_SPIKES, PACKETS, HOPS, CYCLES = range(N_COUNTERS)


@intrinsic
def _shift_right(typingctx, x, s):
    # x >> s (arithmetic) in x's own integer type. Numba widens `x >> s` to int64, so a loop over
    # int16 membranes vectorises in 8 lanes per AVX-512 register instead of 32 (4x slower). The
    # caller keeps 0 <= s < bit width of x (LLVM's ashr is undefined beyond).
    if not isinstance(x, types.Integer) or not isinstance(s, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value, amount = args
        width = value.type.width
        if amount.type.width > width:
            amount = builder.trunc(amount, ir.IntType(width))
        elif amount.type.width < width:
            amount = builder.zext(amount, ir.IntType(width))
        return builder.ashr(value, amount)

    return x(x, s), codegen


@jit
def _min_max(v):
    # in the membrane type, so it vectorises
    lo = v[0]
    hi = v[0]
    for j in range(1, v.shape[0]):
        lo = min(lo, v[j])
        hi = max(hi, v[j])
    return np.int64(lo), np.int64(hi)


@jit
def _add_rows(v, w, axons, start, stop):
    # Only called when no partial sum can leave the v_bits range (see module
    # docstring), so plain integer adds in the membrane type are exact and
    # their order is free: add four rows per pass over v to cut loads/stores.
    # Rows are indexed as w[a, j], not as row views: a view costs a reference
    # count update on the shared weight array, which threads would contend for.
    n = v.shape[0]
    q = start
    while q + 4 <= stop:
        a0 = axons[q]
        a1 = axons[q + 1]
        a2 = axons[q + 2]
        a3 = axons[q + 3]
        for j in range(n):
            v[j] += (w[a0, j] + w[a1, j]) + (w[a2, j] + w[a3, j])
        q += 4
    while q < stop:
        a = axons[q]
        for j in range(n):
            v[j] += w[a, j]
        q += 1


@jit
def _add_row_saturating(v, w, a, v_min, v_max):
    # The spec's own rule: v = sat(v + w), in 64-bit so the sum cannot wrap.
    for j in range(v.shape[0]):
        x = np.int64(v[j]) + np.int64(w[a, j])
        v[j] = min(max(x, v_min), v_max)


@jit
def integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos, w_neg, lo, hi):
    """INTEGRATE phase: ``v[j] = sat(v[j] + w[a, j])`` for ``a`` in ``axons[:n_spk]``, in order.

    ``lo``/``hi`` must bound the membranes on entry; ``w_pos``/``w_neg`` are
    ``max(0, max(w))`` and ``max(0, -min(w))``. Mutates ``v``.
    """
    if hi + n_spk * w_pos <= v_max and lo - n_spk * w_neg >= v_min:
        # the common case: no clamp can trigger in this whole timestep
        _add_rows(v, w, axons, 0, n_spk)
        return
    i = 0
    while i < n_spk:
        # How many more rows can be added with no clamp able to trigger.
        k = n_spk - i
        if w_pos > 0:
            k = min(k, (v_max - hi) // w_pos)
        if w_neg > 0:
            k = min(k, (lo - v_min) // w_neg)
        if k > 0:
            _add_rows(v, w, axons, i, i + k)
            i += k
        else:
            _add_row_saturating(v, w, axons[i], v_min, v_max)
            i += 1
        if i < n_spk:
            # The worst-case bound grows fast; the true extremes are much tighter.
            lo, hi = _min_max(v)


@jit
def update_neurons(v, bias, threshold, leak_shift, fire, reset_zero, v_min, v_max, fired, spikes, spikes_start):
    """UPDATE phase (bias, leak, compare, reset) of every neuron; returns the number fired.

    Writes the ascending indices of the fired neurons to
    ``spikes[spikes_start : spikes_start + n_fired]`` and 0/1 per neuron to
    ``fired`` (``(n_neurons,)`` uint8).
    """
    # The loops are branch-free so they vectorise; spikes are compacted after.
    if v_min == -32768 and v_max == 32767:
        # v_bits = 16 (the default chip): 16-bit lanes throughout; the clamp to
        # these constants compiles to a saturating add (vpaddsw).
        th16 = np.int16(threshold)
        ls16 = np.int16(min(leak_shift, 15))  # an int16 shifted by 15 or more is its sign: same result
        keep = np.int16(0) if reset_zero else np.int16(-1)  # reset: x - th, or (x - th) & 0 = 0
        n_fired = np.int32(0)
        for j in range(v.shape[0]):
            x = np.int16(max(min(np.int32(v[j]) + np.int32(bias[j]), np.int32(32767)), np.int32(-32768)))
            if ls16 > 0:
                # arithmetic shift (floor); the result lies between 0 and x, no overflow
                x = np.int16(x - _shift_right(x, ls16))
            f = (x >= th16) & fire
            # subtract cannot overflow: 0 <= threshold <= x
            v[j] = np.int16((x - th16) & keep) if f else x
            fired[j] = f
            n_fired = np.int32(n_fired + f)
    elif v_max < (1 << 30):
        # |v + bias| < 2^31: 32-bit lanes are exact and twice as many per vector.
        # (np.int32(...) truncates numba's 64-bit arithmetic back to 32 bits.)
        lo = np.int32(v_min)
        hi = np.int32(v_max)
        th = np.int32(threshold)
        ls = np.int32(min(leak_shift, 31))  # as in the 16-bit loop
        n_fired = np.int32(0)
        for j in range(v.shape[0]):
            x = np.int32(v[j] + bias[j])
            x = max(min(x, hi), lo)
            if ls > 0:
                # arithmetic shift (floor); the result lies between 0 and x, no overflow
                x = np.int32(x - _shift_right(x, ls))
            f = (x >= th) & fire
            # subtract cannot overflow: 0 <= threshold <= x
            y = np.int32(0) if reset_zero else np.int32(x - th)
            v[j] = y if f else x
            fired[j] = f
            n_fired = np.int32(n_fired + f)
    else:
        n_fired = np.int32(0)
        for j in range(v.shape[0]):
            x = np.int64(v[j]) + np.int64(bias[j])
            x = max(min(x, v_max), v_min)
            if leak_shift > 0:
                x -= x >> leak_shift
            f = (x >= threshold) & fire
            y = 0 if reset_zero else x - threshold
            v[j] = y if f else x
            fired[j] = f
            n_fired = np.int32(n_fired + f)
    if n_fired > 0:
        n = v.shape[0]
        k = spikes_start
        # Few spikes (under 1 in 16 neurons): 8 flags per word, gathered into a byte of bits, then one
        # step per spike, so the cost follows the spikes. More: the serial walk over every neuron, a
        # store per neuron, is cheaper than a mispredicted loop exit per word.
        n_words = n // 8 if _LITTLE_ENDIAN and n_fired * 16 < n else 0
        if n_words > 0:
            words = fired[: n_words * 8].view(np.uint64)
            for i in range(n_words):
                x = words[i]
                if x == 0:
                    continue
                m = (x * _GATHER) >> _56
                while m != 0:
                    spikes[k] = i * 8 + np.int64(trailing_zeros(m))
                    k += 1
                    m &= m - _ONE
        for j in range(n_words * 8, n):
            # branch-free compaction: always write, advance only past a spike
            spikes[k] = j
            k += fired[j]
    return n_fired


@jit
def _merge_partial_sums(v, m, t, sender, lo, hi, offset, r_start, r_stop, values, base, stride, T, v_min, v_max):
    # MERGE (chip-spec §1.3, §2.2 step 1b): v[j] = sat(v[j] + psum[j]). Each partial-sum route copies a
    # contiguous range of its sender's membranes into the buffer, and the ranges into one core do not
    # overlap (validation), so the merge is one saturating vector add per route over the sender's
    # membranes. The zeros the sender did not send add nothing, and words no route reaches stay 0.
    # Views, not computed indices: Numba cannot prove `offset[r] + q` >= 0, so such an index carries a
    # negative-index check that stops vectorisation (30x slower). Both arrays belong to this thread
    # (scratch and spike lists), so a view's reference count is not shared with other threads.
    for r in range(r_start, r_stop):
        s = sender[r]
        src = base[s] + (m * T + t) * stride[s] + lo[r]
        n = hi[r] - lo[r]
        dst = v[offset[r] : offset[r] + n]
        psum = values[src : src + n]
        if v_max < (1 << 30):
            # both terms lie in the v_bits range, so their sum fits 32 bits: 32-bit lanes vectorise best
            lo32 = np.int32(v_min)
            hi32 = np.int32(v_max)
            for q in range(n):
                x = np.int32(np.int32(dst[q]) + np.int32(psum[q]))
                dst[q] = max(min(x, hi32), lo32)
        else:
            for q in range(n):
                x = np.int64(dst[q]) + np.int64(psum[q])
                dst[q] = max(min(x, v_max), v_min)


@jit
def _psum_packets(v, lo, hi, hops, r_start, r_stop):
    # EMIT of a partial-sum core (chip-spec §1.3): one packet per nonzero membrane per matching entry.
    # Returns (packets, hops); the receivers read the membranes themselves (module docstring of chip.py).
    packets = 0
    hop_sum = 0
    for r in range(r_start, r_stop):
        sources = v[lo[r] : hi[r]]  # a view, so the loop vectorises (see _merge_partial_sums)
        cnt = 0
        for j in range(sources.shape[0]):
            cnt += np.int64(sources[j] != 0)
        packets += cnt
        hop_sum += cnt * hops[r]
    return packets, hop_sum


@jit
def core_pass(i, m0, m1, order, routes, incoming, psums, neurons, weights, consts, lists, scratch, out):
    """Core ``i`` (stage order) over images ``m0 .. m1-1`` of a micro-batch, all their timesteps (chip-spec §2).

    Per image: membranes to 0 (a new inference). Per timestep: gather the
    spiking axons from the senders' spike lists through the core's incoming
    routes, START, MERGE of a partial-sum receiver (§1.3: its senders'
    membranes), INTEGRATE (:func:`integrate_spikes`), UPDATE
    (:func:`update_neurons`), the core's spike list (a partial-sum core: its
    membranes), its counters (§2.4-2.5),
    its packets, hops and route cycles (the router kernels, §1.2) and its
    membranes and spikes if it has output columns. The arguments are those of
    :func:`hwsim.kernels.chip.chip_pass`; the core writes column ``order[i]``
    of the counters and is sender ``i + 1`` of the spike lists.
    """
    # Every field once into a local: a field read (or a kernel call) per timestep would be a
    # reference count update per array, on arrays the threads share.
    A = weights.n_axons[i]
    n = neurons.n_neurons[i]
    w = weights.w[weights.start[i] : weights.start[i] + A * n].reshape((A, n))
    bias = neurons.bias[neurons.start[i] : neurons.start[i] + n]
    continuous = neurons.integration[i] == CONTINUOUS_CODE
    threshold, leak_shift = neurons.threshold[i], neurons.leak_shift[i]
    fire, reset_zero, G = neurons.fire[i], neurons.reset[i] == RESET_ZERO_CODE, neurons.n_groups[i]
    w_pos, w_neg = weights.w_pos[i], weights.w_neg[i]
    v_min, v_max, hop_latency = consts.v_min, consts.v_max, consts.hop_latency
    start_done_cycles, sram_latency_cycles = consts.start_done_cycles, consts.sram_latency_cycles
    in_sender, in_lo, in_hi, in_offset = incoming.sender, incoming.lo, incoming.hi, incoming.offset
    in_start, in_stop = incoming.ptr[i], incoming.ptr[i + 1]
    ps_sender, ps_lo, ps_hi, ps_offset = psums.sender, psums.lo, psums.hi, psums.offset
    ps_start, ps_stop, psum_out = psums.ptr[i], psums.ptr[i + 1], psums.out[i]
    receiver = ps_stop > ps_start
    merge_cycles = G if receiver else 0
    out_lo, out_hi, out_hops = routes.lo, routes.hi, routes.hops
    r_start, r_stop, max_hops = routes.ptr[i], routes.ptr[i + 1], routes.max_hops[i]
    store, base, stride, counts, values = lists.store, lists.base, lists.stride, lists.counts, lists.values
    v = scratch.v[:n]
    axons = scratch.axons[:A]
    fired = scratch.fired[:n]
    counters, route_cyc = out.counters, out.route_cycles
    mem_out, spk_out, mem_col, spk_col = out.mem_out, out.spk_out, out.mem_col[i], out.spk_col[i]
    T = counts.shape[2]
    k = order[i]
    me = i + 1
    for b in range(m0, m1):
        # a new inference: membranes start at 0 (chip-spec §2.2 step 1)
        for j in range(n):
            v[j] = 0
        for t in range(T):
            # gather the spiking axons, ascending
            n_spk = 0
            for r in range(in_start, in_stop):
                s = in_sender[r]
                src = base[s] + ((b - m0) * T + t) * stride[s]
                stop = src + counts[s, b - m0, t]
                # the route's sources lo..hi-1 are a run of the ascending list: find it, then copy it
                q0 = _lower_bound(store, src, stop, in_lo[r])
                q1 = _lower_bound(store, q0, stop, in_hi[r])
                shift = in_offset[r] - in_lo[r]
                for q in range(q0, q1):
                    axons[n_spk + q - q0] = np.int32(store[q] + shift)
                n_spk += q1 - q0
            # START: discontinuous integration restarts every membrane at 0
            if not continuous:
                for j in range(n):
                    v[j] = 0
            if receiver:
                _merge_partial_sums(v, b - m0, t, ps_sender, ps_lo, ps_hi, ps_offset, ps_start, ps_stop, values, base,
                                    stride, T, v_min, v_max)  # fmt: skip
            if n_spk > 0:  # a silent core skips INTEGRATE, and the bound it needs
                if continuous or receiver:
                    lo, hi = _min_max(v)
                else:
                    lo = np.int64(0)
                    hi = np.int64(0)
                integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos, w_neg, lo, hi)
            dst = base[me] + ((b - m0) * T + t) * stride[me]
            n_fired = update_neurons(v, bias, threshold, leak_shift, fire, reset_zero, v_min, v_max, fired, store, dst)
            counts[me, b - m0, t] = n_fired
            if psum_out:  # it sends its nonzero membranes: its receivers read them from values
                values[dst : dst + n] = v
                packets, hops = _psum_packets(v, out_lo, out_hi, out_hops, r_start, r_stop)
            else:
                packets, hops = count_routed(store, dst, n_fired, out_lo, out_hi, out_hops, r_start, r_stop)
            counters[b, t, k, AXON_EVENTS] = n_spk
            counters[b, t, k, SRAM_READS] = n_spk * G
            counters[b, t, k, SYNAPTIC_OPS] = n_spk * n
            counters[b, t, k, NEURON_UPDATES] = n
            counters[b, t, k, OUTPUT_SPIKES] = n_fired
            counters[b, t, k, PACKETS] = packets
            counters[b, t, k, HOPS] = hops
            integrate = n_spk * G + (sram_latency_cycles if n_spk > 0 else 0)
            counters[b, t, k, CYCLES] = start_done_cycles + merge_cycles + integrate + G
            route_cyc[b, t, k] = route_cycles(packets, max_hops, hop_latency)
            if mem_col >= 0:
                for j in range(n):
                    mem_out[b, t, mem_col + j] = v[j]
            if spk_col >= 0:
                for j in range(n):
                    spk_out[b, t, spk_col + j] = fired[j]

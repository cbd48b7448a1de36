"""Numba kernels of the digital spike-sparse chip (chip-spec §1-2), event driven.

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

:func:`chip_pass` runs whole inferences: images are taken in micro-batches;
within one, every core (in stage order) runs all timesteps of every image of
the micro-batch, so a core's weights stay in cache while they are reused.
Spike lists connect the cores: every sender (the host is sender 0, the core
at position ``i`` of the stage order is sender ``i + 1``) writes the ascending
indices of its spiking sources for micro-batch image ``m`` and timestep ``t``
to ``store[base[s] + (m * T + t) * stride[s]:]``, ``counts[s, m, t]`` of them.
A core gathers its spiking axons from the senders' lists through its incoming
routes, sorted by axon offset, so the gathered axons come out ascending.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit
from hwsim.kernels.router import count_routed, route_cycles

__all__ = [
    "integrate_spikes",
    "update_neurons",
    "host_timestep",
    "chip_pass",
    "N_COUNTERS",
    "N_HOST_COUNTERS",
]

# Columns of the per-core counter block, in hwsim.result.COUNTER_NAMES order,
# and of the host counters (HOST_COUNTER_NAMES order).
N_COUNTERS = 8
N_HOST_COUNTERS = 3
_AXON_EVENTS, _SRAM_READS, _SOPS, _NEURON_UPDATES, _OUT_SPIKES, _PACKETS, _HOPS, _CYCLES = range(N_COUNTERS)
# Bit masks over 8 raster bytes packed in a uint64: bit 0 of each byte, and everything else.
_ONE = np.uint64(1)
_NOT_BIT0 = np.uint64(0xFEFEFEFEFEFEFEFE)


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
        ls16 = np.int16(leak_shift)
        keep = np.int16(0) if reset_zero else np.int16(-1)  # reset: x - th, or (x - th) & 0 = 0
        n_fired = np.int32(0)
        for j in range(v.shape[0]):
            x = np.int16(max(min(np.int32(v[j]) + np.int32(bias[j]), np.int32(32767)), np.int32(-32768)))
            if ls16 > 0:
                # arithmetic shift (floor); the result lies between 0 and x, no overflow
                x = np.int16(x - (x >> ls16))
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
        ls = np.int32(leak_shift)
        n_fired = np.int32(0)
        for j in range(v.shape[0]):
            x = np.int32(v[j] + bias[j])
            x = max(min(x, hi), lo)
            if ls > 0:
                # arithmetic shift (floor); the result lies between 0 and x, no overflow
                x = np.int32(x - (x >> ls))
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
        k = spikes_start
        for j in range(v.shape[0]):
            # branch-free compaction: always write, advance only past a spike
            spikes[k] = j
            k += fired[j]
    return n_fired


@jit
def host_timestep(words, big_endian, route_lo, route_hi, route_hops, max_hops, hop_latency, spikes, start,
                  host_counters):  # fmt: skip
    """Host port, one image and timestep: spike list of an input row plus host counters.

    The row comes as its raw bytes (0 or 1 each, zero-padded to a multiple of 8)
    read as ``uint64`` words, so all-zero stretches cost one test per 8 inputs.
    Writes the ascending indices of the 1s to ``spikes[start:]`` (up to
    ``8 * len(words)`` slots may be touched) and packets, hops, route_cycles
    (chip-spec §1.2) to ``host_counters`` (3,).

    Returns:
        ``(n_spikes, n_bad)``: spiking inputs, and words holding a byte other than 0 and 1.
    """
    c = 0
    bad = 0
    for i in range(words.shape[0]):
        x = words[i]
        if x == 0:
            continue
        bad += (x & _NOT_BIT0) != 0
        base = i * 8
        for k in range(8):
            # byte k of the word in memory order; branch-free compaction
            shift = np.uint64(8 * (7 - k) if big_endian else 8 * k)
            spikes[start + c] = base + k
            c += np.int64((x >> shift) & _ONE)
    packets, hops = count_routed(spikes, start, c, route_lo, route_hi, route_hops, 0, route_lo.shape[0])
    host_counters[0] = packets
    host_counters[1] = hops
    host_counters[2] = route_cycles(packets, max_hops, hop_latency)
    return c, bad


@jit
def chip_pass(
    b_start, b_stop, micro, raster, big_endian,
    host_lo, host_hi, host_hops, host_max_hops, hop_latency,
    column, w_flat, w_start, n_axons, n_neurons, bias_flat, n_start,
    threshold, leak_shift, continuous, reset_zero, fire, w_pos, w_neg, n_groups, max_hops,
    in_ptr, in_sender, in_lo, in_hi, in_offset,
    out_ptr, out_lo, out_hi, out_hops,
    mem_col, spk_col,
    v_min, v_max, start_done_cycles, sram_latency_cycles,
    store, base, stride, counts, v_buf, axon_buf, fired_buf,
    counters, route_cyc, host_counters, mem_out, spk_out,
):  # fmt: skip
    """Run images ``b_start .. b_stop-1`` through the whole chip (all stages, all timesteps).

    Per core and timestep: gather the spiking axons, START, INTEGRATE, UPDATE,
    emit, and write the core's counters (chip-spec §2.4-2.5) and route cycles
    (§1.2). Images are independent, so threads may run disjoint image ranges
    at once; each thread needs its own scratch (``store`` .. ``fired_buf``).

    Args (arrays are mutated in place; "per core" arrays are in stage order):
        b_start, b_stop: image range (rows of ``raster`` and of the outputs).
        micro: images per micro-batch (``counts.shape[1]``).
        raster: ``(B, T, n_words)`` uint64: the 0/1 input bytes, zero-padded to ``8 * n_words``
            per row, in memory order (``big_endian`` says how bytes sit in a word).
        host_lo, host_hi, host_hops, host_max_hops, hop_latency: host routing entries.
        column: per core, its column in ``counters``/``route_cyc`` (program order).
        w_flat, w_start, n_axons, n_neurons: all weights, C-order ``(n_axons, n_neurons)``
            blocks starting at ``w_start`` (int8 or int16).
        bias_flat, n_start: all biases, a core's starting at ``n_start``.
        threshold .. max_hops: per core registers and constants (int64 / bool arrays).
        in_ptr, in_sender .. in_offset: incoming routes of core ``i`` at
            ``in_ptr[i]:in_ptr[i+1]``, sorted by axon offset; senders as above.
        out_ptr, out_lo, out_hi, out_hops: the cores' own routing entries, likewise.
        mem_col, spk_col: per core, first column in ``mem_out``/``spk_out``, or -1 for none.
        v_min, v_max: the ``v_bits`` range. start_done_cycles, sram_latency_cycles: §2.4.
        store, base, stride, counts: spike lists (module docstring), for ``micro`` images.
        v_buf, axon_buf, fired_buf: scratch of the largest core (membrane type, int32, uint8).
        counters: ``(B, T, n_cores, 8)`` int64. route_cyc: ``(B, T, n_cores)`` int64, each core's route cycles.
        host_counters: ``(B, T, 3)`` int64. mem_out: ``(B, T, M)`` int32. spk_out: ``(B, T, S)`` uint8.

    Returns:
        The number of raster words holding a byte other than 0 and 1 (the caller rejects the input).
    """
    T = raster.shape[1]
    n_cores = column.shape[0]
    bad = 0
    for m0 in range(b_start, b_stop, micro):
        m1 = min(b_stop, m0 + micro)
        for b in range(m0, m1):
            for t in range(T):
                o = base[0] + ((b - m0) * T + t) * stride[0]
                c, nb = host_timestep(
                    raster[b, t], big_endian, host_lo, host_hi, host_hops, host_max_hops, hop_latency, store, o,
                    host_counters[b, t],
                )  # fmt: skip
                counts[0, b - m0, t] = c
                bad += nb
        for i in range(n_cores):
            A = n_axons[i]
            n = n_neurons[i]
            w = w_flat[w_start[i] : w_start[i] + A * n].reshape((A, n))
            bias = bias_flat[n_start[i] : n_start[i] + n]
            v = v_buf[:n]
            axons = axon_buf[:A]
            fired = fired_buf[:n]
            k = column[i]
            me = i + 1
            for b in range(m0, m1):
                # a new inference: membranes start at 0 (chip-spec §2.2 step 1)
                for j in range(n):
                    v[j] = 0
                for t in range(T):
                    # gather the spiking axons, ascending
                    n_spk = 0
                    for r in range(in_ptr[i], in_ptr[i + 1]):
                        s = in_sender[r]
                        src = base[s] + ((b - m0) * T + t) * stride[s]
                        lo_r = in_lo[r]
                        hi_r = in_hi[r]
                        shift = in_offset[r] - lo_r
                        for q in range(counts[s, b - m0, t]):
                            j = np.int64(store[src + q])
                            if j >= hi_r:
                                break
                            if j >= lo_r:
                                axons[n_spk] = j + shift
                                n_spk += 1
                    # START
                    if not continuous[i]:
                        for j in range(n):
                            v[j] = 0
                    if n_spk > 0:  # a silent core skips INTEGRATE, and the bound it needs
                        if continuous[i]:
                            lo, hi = _min_max(v)
                        else:
                            lo = np.int64(0)
                            hi = np.int64(0)
                        integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos[i], w_neg[i], lo, hi)
                    dst = base[me] + ((b - m0) * T + t) * stride[me]
                    n_fired = update_neurons(
                        v, bias, threshold[i], leak_shift[i], fire[i], reset_zero[i], v_min, v_max, fired, store, dst
                    )  # fmt: skip
                    counts[me, b - m0, t] = n_fired
                    packets, hops = count_routed(
                        store, dst, n_fired, out_lo, out_hi, out_hops, out_ptr[i], out_ptr[i + 1]
                    )  # fmt: skip
                    G = n_groups[i]
                    counters[b, t, k, _AXON_EVENTS] = n_spk
                    counters[b, t, k, _SRAM_READS] = n_spk * G
                    counters[b, t, k, _SOPS] = n_spk * n
                    counters[b, t, k, _NEURON_UPDATES] = n
                    counters[b, t, k, _OUT_SPIKES] = n_fired
                    counters[b, t, k, _PACKETS] = packets
                    counters[b, t, k, _HOPS] = hops
                    integrate = n_spk * G + (sram_latency_cycles if n_spk > 0 else 0)
                    counters[b, t, k, _CYCLES] = start_done_cycles + integrate + G
                    route_cyc[b, t, k] = route_cycles(packets, max_hops[i], hop_latency)
                    if mem_col[i] >= 0:
                        col = mem_col[i]
                        for j in range(n):
                            mem_out[b, t, col + j] = v[j]
                    if spk_col[i] >= 0:
                        col = spk_col[i]
                        for j in range(n):
                            spk_out[b, t, col + j] = fired[j]
    return bad

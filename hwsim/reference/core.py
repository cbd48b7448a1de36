"""Reference twins of :mod:`hwsim.kernels.core`: same names, same signatures, plain NumPy."""

from __future__ import annotations

import numpy as np

from hwsim.reference.router import count_routed, route_cycles

__all__ = ["integrate_spikes", "update_neurons", "host_timestep", "chip_pass"]


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


def _route(spikes, lo, hi, hops):
    return count_routed(list(spikes), 0, len(spikes), lo, hi, hops, 0, len(lo))


def host_timestep(words, big_endian, route_lo, route_hi, route_hops, max_hops, hop_latency, spikes, start,
                  host_counters):  # fmt: skip
    """Spike list and host counters (packets, hops, route cycles) of one input row given as uint64 words."""
    row = np.ascontiguousarray(words).view(np.uint8)  # memory order, whatever the endianness
    idx = np.flatnonzero(row & 1)
    spikes[start : start + idx.size] = idx
    packets, hops = _route(idx, route_lo, route_hi, route_hops)
    host_counters[:] = (packets, hops, route_cycles(packets, max_hops, hop_latency))
    return int(idx.size), int(np.count_nonzero((row > 1).reshape(-1, 8).any(axis=1)))


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
    """Images ``b_start .. b_stop-1`` through every core, one image at a time, with Python lists.

    Ignores the scratch arguments (``micro``, ``store`` .. ``fired_buf``) and
    writes the same outputs as the kernel.
    """
    T = raster.shape[1]
    raster = np.ascontiguousarray(raster).view(np.uint8)  # (B, T, 8 * n_words) bytes
    bad = 0
    for b in range(b_start, b_stop):
        lists = {}  # sender -> list over t of ascending spike indices
        host = []
        for t in range(T):
            row = raster[b, t]
            bad += int(np.count_nonzero((row > 1).reshape(-1, 8).any(axis=1)))
            idx = [int(j) for j in np.flatnonzero(row & 1)]
            host.append(idx)
            packets, hops = _route(idx, host_lo, host_hi, host_hops)
            host_counters[b, t] = (packets, hops, route_cycles(packets, host_max_hops, hop_latency))
        lists[0] = host
        for i in range(len(column)):
            A, n, k = int(n_axons[i]), int(n_neurons[i]), int(column[i])
            w = w_flat[w_start[i] : w_start[i] + A * n].reshape(A, n).astype(np.int64)
            bias = bias_flat[n_start[i] : n_start[i] + n].astype(np.int64)
            v = np.zeros(n, np.int64)
            mine = []
            for t in range(T):
                axons = []
                for r in range(in_ptr[i], in_ptr[i + 1]):
                    lo, hi, off = int(in_lo[r]), int(in_hi[r]), int(in_offset[r])
                    axons += [off + j - lo for j in lists[int(in_sender[r])][t] if lo <= j < hi]
                assert axons == sorted(axons), "incoming routes must be sorted by axon offset"
                if not continuous[i]:
                    v[:] = 0
                for a in axons:
                    v = np.clip(v + w[a], v_min, v_max)
                v = np.clip(v + bias, v_min, v_max)
                if leak_shift[i] > 0:
                    v = v - (v >> int(leak_shift[i]))
                f = (v >= threshold[i]) & bool(fire[i])
                v = np.where(f, 0 if reset_zero[i] else v - threshold[i], v)
                spikes = [int(j) for j in np.flatnonzero(f)]
                mine.append(spikes)
                lo_o, hi_o = out_ptr[i], out_ptr[i + 1]
                packets, hops = _route(spikes, out_lo[lo_o:hi_o], out_hi[lo_o:hi_o], out_hops[lo_o:hi_o])
                G, n_spk = int(n_groups[i]), len(axons)
                cycles = start_done_cycles + n_spk * G + (sram_latency_cycles if n_spk else 0) + G
                counters[b, t, k] = (n_spk, n_spk * G, n_spk * n, n, len(spikes), packets, hops, cycles)
                route_cyc[b, t, k] = route_cycles(packets, max_hops[i], hop_latency)
                if mem_col[i] >= 0:
                    mem_out[b, t, mem_col[i] : mem_col[i] + n] = v
                if spk_col[i] >= 0:
                    spk_out[b, t, spk_col[i] : spk_col[i] + n] = f
            lists[i + 1] = mine
    return bad

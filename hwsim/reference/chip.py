"""Reference twin of :mod:`hwsim.kernels.chip`: same name, same signature, plain NumPy."""

from __future__ import annotations

import numpy as np

from hwsim.reference.router import count_routed_table, route_cycles

__all__ = ["chip_pass"]


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
            packets, hops = count_routed_table(idx, host_lo, host_hi, host_hops)
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
                packets, hops = count_routed_table(spikes, out_lo[lo_o:hi_o], out_hi[lo_o:hi_o], out_hops[lo_o:hi_o])
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

"""Numba kernel of the whole digital chip (chip-spec §1): stages, host port, cores and routers.

Golden unit: :func:`hwsim.golden.chip.simulate`. Slow twin: :mod:`hwsim.reference.chip`.

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

from hwsim.kernels.core import HOPS, PACKETS, core_timestep
from hwsim.kernels.decorators import jit
from hwsim.kernels.host_port import host_timestep
from hwsim.kernels.router import count_routed, route_cycles

__all__ = ["chip_pass"]


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
                    dst = base[me] + ((b - m0) * T + t) * stride[me]
                    n_fired = core_timestep(
                        v, w, bias, axons, n_spk, continuous[i], threshold[i], leak_shift[i], fire[i], reset_zero[i],
                        w_pos[i], w_neg[i], n_groups[i], v_min, v_max, start_done_cycles, sram_latency_cycles,
                        fired, store, dst, counters, b, t, k,
                    )  # fmt: skip
                    counts[me, b - m0, t] = n_fired
                    packets, hops = count_routed(
                        store, dst, n_fired, out_lo, out_hi, out_hops, out_ptr[i], out_ptr[i + 1]
                    )  # fmt: skip
                    counters[b, t, k, PACKETS] = packets
                    counters[b, t, k, HOPS] = hops
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

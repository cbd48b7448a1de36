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
def chip_pass(b_start, b_stop, micro, raster, big_endian, order, host, routes, incoming, neurons, weights, consts,
              lists, scratch, out):  # fmt: skip
    """Run images ``b_start .. b_stop-1`` through the whole chip (all stages, all timesteps).

    Per core and timestep: gather the spiking axons, run :func:`core_timestep`
    (START, INTEGRATE, UPDATE, counters, chip-spec §2), count the routed
    packets and the route cycles (§1.2). Images are independent, so threads may
    run disjoint image ranges at once; each needs its own ``lists`` and ``scratch``.

    Args (the structures are those of :mod:`hwsim.kernels.layout`; arrays are mutated in place;
    per core arrays are in stage order, the order the cores run in):
        b_start, b_stop: image range (rows of ``raster`` and of the outputs).
        micro: images per micro-batch (``lists.counts.shape[1]``).
        raster: ``(B, T, n_words)`` uint64: the 0/1 input bytes, zero-padded to ``8 * n_words``
            per row, in memory order (``big_endian`` says how bytes sit in a word).
        order: per core, its program index: its column in ``out.counters`` and ``out.route_cycles``.
        host: the host port's RoutingTable. routes: the cores' RoutingTable (core ``i`` is sender ``i``).
        incoming: IncomingRoutes of every core. neurons: NeuronArrays. weights: SramWeights (int8 or int16).
        consts: ChipConstants. lists: SpikeLists for ``micro`` images (module docstring).
        scratch: CoreScratch of the largest core (membrane type, int32, uint8).
        out: ChipOutputs.

    Returns:
        The number of raster words holding a byte other than 0 and 1 (the caller rejects the input).
    """
    # Every field once into a local: a field read inside the loops would be a reference count
    # update per read (numba), on arrays the threads share.
    host_lo, host_hi, host_hops, host_max_hops = host.lo, host.hi, host.hops, host.max_hops[0]
    out_ptr, out_lo, out_hi, out_hops, max_hops = routes.ptr, routes.lo, routes.hi, routes.hops, routes.max_hops
    in_ptr, in_sender, in_offset = incoming.ptr, incoming.sender, incoming.offset
    in_lo, in_hi = incoming.lo, incoming.hi
    n_neurons, n_start, bias_flat = neurons.n_neurons, neurons.start, neurons.bias
    threshold, leak_shift, continuous = neurons.threshold, neurons.leak_shift, neurons.continuous
    reset_zero, fire, n_groups = neurons.reset_zero, neurons.fire, neurons.n_groups
    n_axons, w_start, w_flat, w_pos, w_neg = weights.n_axons, weights.start, weights.w, weights.w_pos, weights.w_neg
    v_min, v_max, hop_latency = consts.v_min, consts.v_max, consts.hop_latency
    start_done_cycles, sram_latency_cycles = consts.start_done_cycles, consts.sram_latency_cycles
    store, base, stride, counts = lists.store, lists.base, lists.stride, lists.counts
    v_buf, axon_buf, fired_buf = scratch.v, scratch.axons, scratch.fired
    counters, route_cyc, host_counters = out.counters, out.route_cycles, out.host_counters
    mem_out, spk_out, mem_col, spk_col = out.mem_out, out.spk_out, out.mem_col, out.spk_col
    T = raster.shape[1]
    n_cores = order.shape[0]
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
            k = order[i]
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

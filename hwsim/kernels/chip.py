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
    T = raster.shape[1]
    n_cores = order.shape[0]
    store, base, stride, counts = lists.store, lists.base, lists.stride, lists.counts
    bad = 0
    for m0 in range(b_start, b_stop, micro):
        m1 = min(b_stop, m0 + micro)
        for b in range(m0, m1):
            for t in range(T):
                o = base[0] + ((b - m0) * T + t) * stride[0]
                c, nb = host_timestep(raster[b, t], big_endian, host, consts.hop_latency, store, o,
                                      out.host_counters[b, t])  # fmt: skip
                counts[0, b - m0, t] = c
                bad += nb
        for i in range(n_cores):
            A = weights.n_axons[i]
            n = neurons.n_neurons[i]
            w = weights.w[weights.start[i] : weights.start[i] + A * n].reshape((A, n))
            bias = neurons.bias[neurons.start[i] : neurons.start[i] + n]
            v = scratch.v[:n]
            axons = scratch.axons[:A]
            fired = scratch.fired[:n]
            k = order[i]
            me = i + 1
            for b in range(m0, m1):
                # a new inference: membranes start at 0 (chip-spec §2.2 step 1)
                for j in range(n):
                    v[j] = 0
                for t in range(T):
                    # gather the spiking axons, ascending
                    n_spk = 0
                    for r in range(incoming.ptr[i], incoming.ptr[i + 1]):
                        s = incoming.sender[r]
                        src = base[s] + ((b - m0) * T + t) * stride[s]
                        lo_r = incoming.lo[r]
                        hi_r = incoming.hi[r]
                        shift = incoming.offset[r] - lo_r
                        for q in range(counts[s, b - m0, t]):
                            j = np.int64(store[src + q])
                            if j >= hi_r:
                                break
                            if j >= lo_r:
                                axons[n_spk] = j + shift
                                n_spk += 1
                    dst = base[me] + ((b - m0) * T + t) * stride[me]
                    n_fired = core_timestep(v, w, bias, axons, n_spk, neurons, weights, i, consts, fired, store, dst,
                                            out.counters, b, t, k)  # fmt: skip
                    counts[me, b - m0, t] = n_fired
                    packets, hops = count_routed(store, dst, n_fired, routes, i)
                    out.counters[b, t, k, PACKETS] = packets
                    out.counters[b, t, k, HOPS] = hops
                    out.route_cycles[b, t, k] = route_cycles(packets, routes.max_hops[i], consts.hop_latency)
                    if out.mem_col[i] >= 0:
                        col = out.mem_col[i]
                        for j in range(n):
                            out.mem_out[b, t, col + j] = v[j]
                    if out.spk_col[i] >= 0:
                        col = out.spk_col[i]
                        for j in range(n):
                            out.spk_out[b, t, col + j] = fired[j]
    return bad

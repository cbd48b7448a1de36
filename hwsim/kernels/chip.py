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
A partial-sum core (chip-spec §1.3) spikes never; it writes its end-of-timestep
membranes, all ``n_neurons`` of them, to ``values`` at the place of its spike
list, and its receivers add them (MERGE) through their partial-sum routes. Its
zero membranes are not sent (zero-skipping, counted so), but adding a zero
changes nothing, so the receivers add the dense vector: a saturating vector
add instead of a scattered one per packet.
"""

from __future__ import annotations

from hwsim.kernels.core import core_pass
from hwsim.kernels.decorators import jit
from hwsim.kernels.host_port import host_timestep
from hwsim.kernels.layout import (
    ChipConstants,
    ChipOutputs,
    CoreScratch,
    IncomingRoutes,
    NeuronArrays,
    PartialSums,
    RoutingTable,
    SpikeLists,
    SramWeights,
)

__all__ = ["chip_pass"]


@jit
def chip_pass(b_start, b_stop, micro, raster, big_endian, order, host, routes, incoming, psums, neurons, weights,
              consts, lists, scratch, out):  # fmt: skip
    """Run images ``b_start .. b_stop-1`` through the whole chip (all stages, all timesteps).

    Per micro-batch: the host port (:func:`host_timestep`) makes the input
    spike lists, then every core runs all timesteps (:func:`core_pass`: START,
    MERGE, INTEGRATE, UPDATE, counters, chip-spec §2; packets and route cycles, §1.2;
    partial sums, §1.3). Images are independent, so threads may
    run disjoint image ranges at once; each needs its own ``lists`` and ``scratch``.

    Args (the structures are those of :mod:`hwsim.kernels.layout`; arrays are mutated in place;
    per core arrays are in stage order, the order the cores run in):
        b_start, b_stop: image range (rows of ``raster`` and of the outputs).
        micro: images per micro-batch (``lists.counts.shape[1]``).
        raster: ``(B, T, n_words)`` uint64: the 0/1 input bytes, zero-padded to ``8 * n_words``
            per row, in memory order (``big_endian`` says how bytes sit in a word).
        order: per core, its program index: its column in ``out.counters`` and ``out.route_cycles``.
        host: the host port's RoutingTable. routes: the cores' RoutingTable (core ``i`` is sender ``i``).
        incoming: IncomingRoutes of every core. psums: PartialSums (chip-spec §1.3). neurons: NeuronArrays.
        weights: SramWeights (int8 or int16).
        consts: ChipConstants. lists: SpikeLists for ``micro`` images (module docstring).
        scratch: CoreScratch of the largest core (membrane type, int32, uint8).
        out: ChipOutputs.
        Each structure may come as a plain tuple of its fields (``tuple(group)``), which is what
        :class:`hwsim.chip.Chip` passes: Numba's dispatcher types a plain tuple of arrays in C but
        a namedtuple through Python, about 1 us per structure on every call (3 us -> 11 us per
        call here); the first lines below name the fields again, which costs nothing at run time.

    Returns:
        The number of raster words holding a byte other than 0 and 1 (the caller rejects the input).
    """
    host, routes, incoming = RoutingTable(*host), RoutingTable(*routes), IncomingRoutes(*incoming)
    psums = PartialSums(*psums)
    neurons, weights, consts = NeuronArrays(*neurons), SramWeights(*weights), ChipConstants(*consts)
    lists, scratch, out = SpikeLists(*lists), CoreScratch(*scratch), ChipOutputs(*out)
    host_lo, host_hi, host_hops, host_max_hops = host.lo, host.hi, host.hops, host.max_hops[0]
    store, base, stride, counts = lists.store, lists.base, lists.stride, lists.counts
    host_counters, hop_latency = out.host_counters, consts.hop_latency
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
        # stage order: every sender a core reads from has run already
        for i in range(n_cores):
            core_pass(i, m0, m1, order, routes, incoming, psums, neurons, weights, consts, lists, scratch, out)
    return bad

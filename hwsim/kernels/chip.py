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

import numpy as np

from hwsim.kernels.core import core_pass
from hwsim.kernels.decorators import jit
from hwsim.kernels.exit_unit import exit_timesteps_kernel
from hwsim.kernels.host_port import host_timestep
from hwsim.kernels.layout import (
    ChipConstants,
    ChipOutputs,
    CoreScratch,
    ExitInputs,
    IncomingRoutes,
    MeshNoc,
    NeuronArrays,
    NocScratch,
    PartialSums,
    RoutingTable,
    SpikeLists,
    SramWeights,
)
from hwsim.kernels.noc import mesh_phase_with, phase_scratch

__all__ = ["chip_pass"]


@jit
def chip_pass(b_start, b_stop, micro, raster, big_endian, order, host, routes, incoming, psums, neurons, weights,
              consts, lists, scratch, out, noc, exits, noc_work, noc_counters):  # fmt: skip
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
        noc: MeshNoc; when ``noc.enabled`` (``noc = "mesh"``) the kernel runs the HOST and ROUTE(s) phases
            (:func:`mesh_phase`) of every image and timestep it runs and writes their lengths where §1.2's are
            otherwise: ``out.host_counters[b, t, 2]`` (the HOST phase) and ``out.route_cycles[b, t, k]`` of every
            core of a stage (its ROUTE phase; the maximum over the stage's cores is then the phase length), and
            ``noc_counters[b, t]`` (route_cycles, buffer_writes, stall_cycles); per-link sums go to ``noc_work.links``.
        exits: ExitInputs (used under the mesh only): images stop after their exit timestep; rows of later
            timesteps keep §1.2's route cycles and zero NoC counters (the caller cuts them, chip-spec §1.4).
        noc_work: NocScratch of this thread, sized for ``micro`` images. noc_counters: ``(B, T, 3)`` int64.
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
    noc, exits, noc_work = MeshNoc(*noc), ExitInputs(*exits), NocScratch(*noc_work)
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
        if noc.enabled:
            _mesh_pass(m0, m1, order, noc, exits, lists, out, noc_work, noc_counters)
    return bad


@jit
def _mesh_pass(m0, m1, order, noc, exits, lists, out, work, noc_counters):
    # The routing phases of images m0 .. m1-1 on the mesh (chip-spec §1.5), after their cores ran.
    T = lists.counts.shape[2]
    exit_t = work.exit_t
    if exits.rule != 0:
        # the values the unit reads (chip-spec §1.4): the outputs' membranes, or their 0/1 spikes
        values, cols, mem_out, spk_out = work.exit_values, exits.cols, out.mem_out, out.spk_out
        for b in range(m0, m1):
            for t in range(T):
                for o in range(cols.shape[0]):
                    if exits.membrane:
                        values[b - m0, t, o] = np.int64(mem_out[b, t, cols[o]])
                    else:
                        values[b - m0, t, o] = np.int64(spk_out[b, t, cols[o]])
        exit_timesteps_kernel(values[: m1 - m0], exits.rule, exits.threshold, exits.gain_num, exits.exp_lut,
                              exits.ln_lut, exit_t[: m1 - m0])  # fmt: skip
    else:
        for b in range(m0, m1):
            exit_t[b - m0] = T
    host_counters, route_cycles, group, entries = out.host_counters, out.route_cycles, noc.group, noc.ptr
    requests, events = phase_scratch(noc)  # once per micro-batch, not per phase
    for b in range(m0, m1):
        m = b - m0
        for t in range(exit_t[m]):
            # HOST: the host is sender 0
            total, writes, stalls = mesh_phase_with(0, 1, m, t, noc, lists, work, requests, events)
            host_counters[b, t, 2] = total
            for g in range(group.shape[0] - 1):
                # ROUTE(s): every core of the stage (senders i + 1 of cores i); written to each of its cores. A stage
                # without routing entries (the output cores) sends nothing: no call (a call costs ~0.3 us)
                s_lo, s_hi = group[g] + 1, group[g + 1] + 1
                cycles, w, s = np.int64(0), np.int64(0), np.int64(0)
                if entries[s_hi] > entries[s_lo]:
                    cycles, w, s = mesh_phase_with(s_lo, s_hi, m, t, noc, lists, work, requests, events)
                for i in range(group[g], group[g + 1]):
                    route_cycles[b, t, order[i]] = cycles
                total += cycles
                writes += w
                stalls += s
            noc_counters[b, t, 0] = total
            noc_counters[b, t, 1] = writes
            noc_counters[b, t, 2] = stalls

"""Numba kernels of a chip of RRAM crossbar cores (chip-spec §7).

The chip program and the chip instance's conductances are unpacked once into
flat arrays by :mod:`hwsim.rram.engine`; these kernels only loop. Images are
independent (fresh state per inference, read noise pre-drawn per image), so
the engine runs disjoint image ranges on a pool of threads (the kernels
release the GIL) and gets the same bits whatever the thread count.

Floating point: every column current is summed in float64 over the spiking
rows in ascending axon order, exactly as the golden model
(:mod:`hwsim.rram.golden`) does, and the noise term is formed as
``(v_read * sigma) * sqrt(acc_sq) * z``, so the kernel and the golden model
produce the same ADC codes bit for bit. No fastmath.

The read-noise normals come from the random-stream kernels of
:mod:`hwsim.kernels.random`.

Slow twin: :mod:`hwsim.reference.rram` (same names, same signatures).
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.core import (
    AXON_EVENTS,
    CYCLES,
    HOPS,
    NEURON_UPDATES,
    OUTPUT_SPIKES,
    PACKETS,
    SRAM_READS,
    SYNAPTIC_OPS,
)
from hwsim.kernels.decorators import jit
from hwsim.kernels.layout import ChipConstants, Crossbars, NeuronArrays, ReadCircuit, RoutingTable, RramOutputs
from hwsim.kernels.router import deliver, route_cycles
from hwsim.neuron import CONTINUOUS_CODE, RESET_ZERO_CODE

__all__ = ["crossbar_read", "rram_chip_run", "N_RRAM_COUNTERS", "ROW_DRIVES", "CELL_READS", "ADC_CONVERSIONS"]

# Columns of the RRAM counters (RRAM_COUNTER_NAMES order); the digital ones are those of hwsim.kernels.core.
N_RRAM_COUNTERS = 3
ROW_DRIVES, CELL_READS, ADC_CONVERSIONS = range(N_RRAM_COUNTERS)


@jit
def crossbar_read(active, n_active, g_diff, g_sq, row_g, n_neurons, v_read, v_sigma, noisy, z, lsb, adc_lo, adc_hi,
                  acc, acc_sq, codes):
    """Read the spiking rows of one crossbar and convert the column pairs (chip-spec §7.3).

    ``g_diff``/``g_sq`` are the core's flat ``(n_axons * n_neurons)`` arrays, ``row_g`` its
    ``(n_axons,)`` row conductance sums, ``z`` the ``(n_neurons,)`` read-noise normals.
    Writes ``codes``; returns ``(sum of row_g over the driven rows, largest |unclamped code|)``.
    """
    for j in range(n_neurons):
        acc[j] = 0.0
        acc_sq[j] = 0.0
    read_g = 0.0
    for i in range(n_active):
        a = active[i]
        base = a * n_neurons
        # ascending a for every column: the order of the float additions is the spec's
        for j in range(n_neurons):
            acc[j] = acc[j] + g_diff[base + j]
        if noisy:
            for j in range(n_neurons):
                acc_sq[j] = acc_sq[j] + g_sq[base + j]
        read_g = read_g + row_g[a]
    peak = 0.0
    for j in range(n_neurons):
        current = v_read * acc[j]
        if noisy:
            current = current + v_sigma * np.sqrt(acc_sq[j]) * z[j]
        r = np.floor(current / lsb + 0.5)
        if abs(r) > peak:
            peak = abs(r)
        # clamp in float64 first: r may exceed the int64 range on absurd currents
        if r > adc_hi:
            r = adc_hi
        elif r < adc_lo:
            r = adc_lo
        codes[j] = np.int64(r)
    return read_g, peak


@jit
def rram_chip_run(raster, z, order, stage, host, routes, neurons, crossbars, consts, read, out):
    """Run a batch of images through an RRAM chip instance; fills the output arrays.

    Args (the structures are those of :mod:`hwsim.kernels.layout`; per core arrays in program order):
        raster: ``(B, T, n_inputs)`` 0/1 uint8.
        z: ``(B, T, n_cores, neurons)`` read-noise normals (any array when ``read.noisy`` is off).
        order: the program indices of the cores in stage order; stage: per core, its stage.
        host: the host port's RoutingTable (``dest`` = program index); routes: the cores' RoutingTable.
        neurons: NeuronArrays (``start`` with a last entry = total neurons); crossbars: Crossbars
            (``axon_start`` likewise). consts: ChipConstants. read: ReadCircuit. out: RramOutputs.
            Each structure may come as a plain tuple of its fields, as :func:`hwsim.rram.engine.run_rram`
            passes them (see :func:`hwsim.kernels.chip.chip_pass`: a namedtuple argument costs the
            dispatcher about 1 us per call to type).

    Per image ``b``: state ``v`` (all cores' membranes, int64) and the input-spike
    bitmaps ``inbox`` (all cores' axons). Per timestep: the host port, then the
    cores in ``order`` (ascending stage), each doing read + convert (if any
    axon spiked), one saturating add, the digital update and the routing of
    its spikes (chip-spec §1, §7).
    """
    host, routes, neurons = RoutingTable(*host), RoutingTable(*routes), NeuronArrays(*neurons)
    crossbars, consts, read, out = Crossbars(*crossbars), ChipConstants(*consts), ReadCircuit(*read), RramOutputs(*out)
    # Every field once into a local: a field read inside the loops would be a reference count
    # update per read (numba).
    host_dest, host_lo, host_hi, host_offset, host_hops = host.dest, host.lo, host.hi, host.offset, host.hops
    host_max_hops = host.max_hops[0]
    route_ptr, route_dest, route_lo, route_hi = routes.ptr, routes.dest, routes.lo, routes.hi
    route_offset, route_hops, max_hops = routes.offset, routes.hops, routes.max_hops
    n_neurons, n_start, bias, threshold = neurons.n_neurons, neurons.start, neurons.bias, neurons.threshold
    leak_shift, integration, reset, fire = neurons.leak_shift, neurons.integration, neurons.reset, neurons.fire
    n_groups = neurons.n_groups
    n_axons, axon_start, g_start = crossbars.n_axons, crossbars.axon_start, crossbars.g_start
    g_diff, g_sq = crossbars.g_diff, crossbars.g_sq
    row_g, adc_scale, lsb, read_cycles = crossbars.row_g, crossbars.adc_scale, crossbars.lsb, crossbars.read_cycles
    v_min, v_max, start_done_cycles = consts.v_min, consts.v_max, consts.start_done_cycles
    hop_latency, barrier_cycles = consts.hop_latency, consts.barrier_cycles
    v_read, v_sigma, noisy, adc_lo, adc_hi = read.v_read, read.v_sigma, read.noisy, read.adc_lo, read.adc_hi
    output_spikes, output_membranes, counters = out.output_spikes, out.output_membranes, out.counters
    host_counters, timestep_cycles, rram_counters = out.host_counters, out.timestep_cycles, out.rram_counters
    read_conductance_us, adc_peak = out.read_conductance_us, out.adc_peak
    output_offset = out.output_offset
    B, T, n_in = raster.shape
    C = order.shape[0]
    n_v = n_start[C]
    n_ax = axon_start[C]
    max_n = 1
    max_a = 1
    for k in range(C):
        max_n = max(max_n, n_neurons[k])
        max_a = max(max_a, n_axons[k])
    for b in range(B):
        v = np.zeros(n_v, np.int64)
        inbox = np.zeros(n_ax, np.uint8)
        inputs = np.empty(max(n_in, 1), np.int64)
        active = np.empty(max_a, np.int64)
        acc = np.empty(max_n, np.float64)
        acc_sq = np.empty(max_n, np.float64)
        codes = np.empty(max_n, np.int64)
        spikes = np.empty(max_n, np.int64)
        z_empty = np.zeros(max_n, np.float64)
        for t in range(T):
            inbox[:] = 0
            # host port (chip-spec §1.1)
            n_inputs = 0
            for i in range(n_in):
                if raster[b, t, i] != 0:
                    inputs[n_inputs] = i
                    n_inputs += 1
            host_packets, host_hops_sum = deliver(
                inputs, n_inputs, host_dest, host_lo, host_hi, host_offset, host_hops, 0, host_lo.shape[0],
                axon_start, inbox,
            )  # fmt: skip
            host_route = route_cycles(host_packets, host_max_hops, hop_latency)
            host_counters[b, t, 0] = host_packets
            host_counters[b, t, 1] = host_hops_sum
            host_counters[b, t, 2] = host_route
            cycles = barrier_cycles + host_route
            stage_compute = 0
            stage_route = 0
            for oi in range(C):
                k = order[oi]
                nn = n_neurons[k]
                vo = n_start[k]
                # START: discontinuous integration restarts the membranes
                if integration[k] != CONTINUOUS_CODE:
                    for j in range(nn):
                        v[vo + j] = 0
                # gather the spiking axons, ascending
                n_spk = 0
                io = axon_start[k]
                A = n_axons[k]
                for a in range(A):
                    if inbox[io + a] != 0:
                        active[n_spk] = a
                        n_spk += 1
                rg = 0.0
                if n_spk > 0:
                    go = g_start[k]
                    zk = z[b, t, k] if noisy else z_empty
                    rg, peak = crossbar_read(
                        active, n_spk, g_diff[go:go + A * nn], g_sq[go:go + A * nn], row_g[io:io + A], nn, v_read,
                        v_sigma, noisy, zk, lsb[k], adc_lo, adc_hi, acc, acc_sq, codes,
                    )  # fmt: skip
                    if peak > adc_peak[b, k]:
                        adc_peak[b, k] = peak
                    for j in range(nn):
                        # one saturating add of code x adc_scale (chip-spec §7.3 step 3)
                        x = v[vo + j] + codes[j] * adc_scale[k]
                        v[vo + j] = v_min if x < v_min else (v_max if x > v_max else x)
                # UPDATE (chip-spec §2.2 step 3)
                n_fired = 0
                th = threshold[k]
                for j in range(nn):
                    x = v[vo + j] + bias[vo + j]
                    x = v_min if x < v_min else (v_max if x > v_max else x)
                    if leak_shift[k] > 0:
                        x = x - (x >> leak_shift[k])  # arithmetic shift on int64
                    if fire[k] and x >= th:
                        spikes[n_fired] = j
                        n_fired += 1
                        x = 0 if reset[k] == RESET_ZERO_CODE else x - th
                    v[vo + j] = x
                # EMIT
                packets, hops = deliver(spikes, n_fired, route_dest, route_lo, route_hi, route_offset, route_hops,
                                        route_ptr[k], route_ptr[k + 1], axon_start, inbox)  # fmt: skip
                if output_offset[k] >= 0:
                    for j in range(nn):
                        output_membranes[b, t, output_offset[k] + j] = v[vo + j]
                    for si in range(n_fired):
                        output_spikes[b, t, output_offset[k] + spikes[si]] = 1
                core_cyc = start_done_cycles + (read_cycles[k] if n_spk > 0 else 0) + n_groups[k]
                route_cyc = route_cycles(packets, max_hops[k], hop_latency)
                counters[b, t, k, AXON_EVENTS] = n_spk
                counters[b, t, k, SRAM_READS] = 0
                counters[b, t, k, SYNAPTIC_OPS] = n_spk * nn
                counters[b, t, k, NEURON_UPDATES] = nn
                counters[b, t, k, OUTPUT_SPIKES] = n_fired
                counters[b, t, k, PACKETS] = packets
                counters[b, t, k, HOPS] = hops
                counters[b, t, k, CYCLES] = core_cyc
                rram_counters[b, t, k, ROW_DRIVES] = n_spk
                rram_counters[b, t, k, CELL_READS] = 2 * n_spk * nn
                rram_counters[b, t, k, ADC_CONVERSIONS] = nn if n_spk > 0 else 0
                read_conductance_us[b, t, k] = rg
                # stage bookkeeping (chip-spec §1.2): cores of one stage run in parallel
                stage_compute = max(stage_compute, core_cyc)
                stage_route = max(stage_route, route_cyc)
                if oi == C - 1 or stage[order[oi + 1]] != stage[k]:
                    cycles += stage_compute + stage_route
                    stage_compute = 0
                    stage_route = 0
            timestep_cycles[b, t] = cycles

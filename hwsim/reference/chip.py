"""Reference twin of :mod:`hwsim.kernels.chip`: same name, same signature, plain NumPy."""

from __future__ import annotations

import numpy as np

from hwsim.config import ChipConfig
from hwsim.golden.noc import mesh_phase
from hwsim.golden.router import packets as injected
from hwsim.neuron import CONTINUOUS_CODE, RESET_ZERO_CODE
from hwsim.program import Route
from hwsim.reference.exit_unit import exit_timesteps_kernel
from hwsim.reference.router import count_routed, route_cycles

__all__ = ["chip_pass"]


def chip_pass(b_start, b_stop, micro, raster, big_endian, order, host, routes, incoming, psums, neurons, weights,
              consts, lists, scratch, out, noc, exits, noc_work, noc_counters):  # fmt: skip
    """Images ``b_start .. b_stop-1`` through every core, one image at a time, with Python lists.

    Ignores the scratch arguments (``micro``, ``lists``, ``scratch``, ``noc_work`` but its ``links``) and
    writes the same outputs as the kernel. Partial sums (chip-spec §1.3) go
    through an ``N``-word buffer per receiver, added whole in MERGE. Under the mesh NoC (``noc.enabled``),
    the golden routers (:func:`hwsim.golden.noc.mesh_phase`) run every routing phase of the timesteps
    each image runs (the exit unit's twin decides them).
    """
    T = raster.shape[1]
    raster = np.ascontiguousarray(raster).view(np.uint8)  # (B, T, 8 * n_words) bytes
    v_min, v_max, hop_latency = consts.v_min, consts.v_max, consts.hop_latency
    bad = 0
    for b in range(b_start, b_stop):
        sent = {}  # sender -> list over t of ascending spike indices (partial-sum cores: nonzero membranes)
        sent_values = {}  # partial-sum sender -> list over t of {neuron: membrane}
        host_lists = []
        for t in range(T):
            row = raster[b, t]
            bad += int(np.count_nonzero((row > 1).reshape(-1, 8).any(axis=1)))
            idx = [int(j) for j in np.flatnonzero(row & 1)]
            host_lists.append(idx)
            packets, hops = count_routed(idx, 0, len(idx), host.lo, host.hi, host.hops, 0, len(host.lo))
            out.host_counters[b, t] = (packets, hops, route_cycles(packets, host.max_hops[0], hop_latency))
        sent[0] = host_lists
        for i in range(len(order)):
            A, n, k = int(weights.n_axons[i]), int(neurons.n_neurons[i]), int(order[i])
            w = weights.w[weights.start[i] : weights.start[i] + A * n].reshape(A, n).astype(np.int64)
            bias = neurons.bias[neurons.start[i] : neurons.start[i] + n].astype(np.int64)
            v = np.zeros(n, np.int64)
            mine, my_values = [], []
            receiver = psums.ptr[i + 1] > psums.ptr[i]
            for t in range(T):
                axons = []
                for r in range(incoming.ptr[i], incoming.ptr[i + 1]):
                    lo, hi, off = int(incoming.lo[r]), int(incoming.hi[r]), int(incoming.offset[r])
                    axons += [off + j - lo for j in sent[int(incoming.sender[r])][t] if lo <= j < hi]
                assert axons == sorted(axons), "incoming routes must be sorted by axon offset"
                if neurons.integration[i] != CONTINUOUS_CODE:
                    v[:] = 0
                psum = np.zeros(n, np.int64)  # the partial-sum buffer, 0 at the start of every timestep
                for r in range(psums.ptr[i], psums.ptr[i + 1]):
                    s, lo, hi, off = int(psums.sender[r]), int(psums.lo[r]), int(psums.hi[r]), int(psums.offset[r])
                    for j, x in sent_values[s][t].items():
                        if lo <= j < hi:
                            psum[off + j - lo] = x
                if receiver:
                    v = np.clip(v + psum, v_min, v_max)  # MERGE
                for a in axons:
                    v = np.clip(v + w[a], v_min, v_max)
                v = np.clip(v + bias, v_min, v_max)
                if neurons.leak_shift[i] > 0:
                    v = v - (v >> int(neurons.leak_shift[i]))
                th = neurons.threshold[i]
                f = (v >= th) & bool(neurons.fire[i])
                v = np.where(f, 0 if neurons.reset[i] == RESET_ZERO_CODE else v - th, v)
                spikes = [int(j) for j in np.flatnonzero(f)]
                # a partial-sum core sends its nonzero membranes instead of spikes
                emitted = [int(j) for j in np.flatnonzero(v)] if psums.out[i] else spikes
                mine.append(emitted)
                my_values.append({j: int(v[j]) for j in emitted})
                packets, hops = count_routed(emitted, 0, len(emitted), routes.lo, routes.hi, routes.hops,
                                             routes.ptr[i], routes.ptr[i + 1])  # fmt: skip
                G, n_spk = int(neurons.n_groups[i]), len(axons)
                merge = G if receiver else 0
                cycles = (consts.start_done_cycles + merge + n_spk * G + (consts.sram_latency_cycles if n_spk else 0)
                          + G)  # fmt: skip
                out.counters[b, t, k] = (n_spk, n_spk * G, n_spk * n, n, len(spikes), packets, hops, cycles)
                out.route_cycles[b, t, k] = route_cycles(packets, routes.max_hops[i], hop_latency)
                if out.mem_col[i] >= 0:
                    out.mem_out[b, t, out.mem_col[i] : out.mem_col[i] + n] = v
                if out.spk_col[i] >= 0:
                    out.spk_out[b, t, out.spk_col[i] : out.spk_col[i] + n] = f
            sent[i + 1] = mine
            sent_values[i + 1] = my_values
        if noc.enabled:
            _mesh_image(b, T, order, noc, exits, sent, out, noc_work.links, noc_counters)
    return bad


def _mesh_image(b, T, order, noc, exits, sent, out, links, noc_counters):
    """The routing phases of image ``b`` on the golden mesh routers, for the timesteps it runs."""
    chip = ChipConfig(name="noc", mesh_rows=int(noc.rows), mesh_cols=int(noc.cols), noc="mesh",
                      hop_latency_cycles=int(noc.hop_latency), router_buffer_flits=int(noc.depth))  # fmt: skip
    exit_t = np.full(1, T, np.int64)
    if exits.rule != 0:
        source = out.mem_out if exits.membrane else out.spk_out
        values = np.asarray(source[b : b + 1][:, :, exits.cols], np.int64)
        exit_timesteps_kernel(values, exits.rule, exits.threshold, exits.gain_num, exits.exp_lut, exits.ln_lut,
                              exit_t)  # fmt: skip

    def phase(senders, t):
        injections = {}
        for s in senders:
            table = tuple(Route(int(noc.dest[e]), int(noc.lo[e]), int(noc.hi[e]), 0)
                          for e in range(int(noc.ptr[s]), int(noc.ptr[s + 1])))  # fmt: skip
            if table and sent[s][t]:
                injections[int(noc.router[s])] = injected(sent[s][t], table)
        result = mesh_phase(chip, injections)
        links[..., 0] += result.link_packets
        links[..., 1] += result.link_stalls
        return result.cycles, result.buffer_writes, result.stall_cycles

    for t in range(int(exit_t[0])):
        totals = np.array(phase([0], t))
        out.host_counters[b, t, 2] = totals[0]
        for g in range(len(noc.group) - 1):
            lo, hi = int(noc.group[g]), int(noc.group[g + 1])
            cycles = phase(range(lo + 1, hi + 1), t)
            out.route_cycles[b, t, [int(order[i]) for i in range(lo, hi)]] = cycles[0]
            totals += cycles
        noc_counters[b, t] = totals

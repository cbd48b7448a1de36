"""Every Numba kernel against its slow reference twin (``COMPARISONS`` in tests/conftest.py).

Both get copies of the same random arguments; every output the kernel
promises (mutated arrays and return values) must be identical. Arguments
include the adversarial corners: membranes at the rails, all-max and all-min
weights, every axon spiking, none spiking.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
from conftest import COMPARISONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.chip import _allocate, _as_words, _exit_inputs, _noc_scratch, _pack, _Scratch
from hwsim.exit_unit import ExitRule, parse_exit_rule
from hwsim.kernels.layout import ChipOutputs, MeshNoc, NocScratch, RoutingTable, SpikeLists
from hwsim.config import ChipConfig, CoreConfig
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping import map_network

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _widths(rng):
    w_bits = int(rng.integers(2, 17))
    # 16 (the default chip, with its own fast path) and the variant borders are drawn often
    v_bits = int(rng.choice([16, 16, 17, 32, max(4, w_bits + 1), rng.integers(max(4, w_bits + 1), 33)]))
    v_bits = max(v_bits, w_bits + 1, 4)
    narrow = w_bits <= 8 and v_bits <= 16
    wdt, vdt, bdt = (np.int8, np.int16, np.int16) if narrow else (np.int16, np.int32, np.int64)
    return w_bits, v_bits, wdt, vdt, bdt


def _weights(rng, shape, w_bits, dtype):
    lo, hi = -(1 << (w_bits - 1)), (1 << (w_bits - 1)) - 1
    kind = rng.integers(4)
    if kind == 0:
        return np.full(shape, hi, dtype)  # every add pushes up: saturates at v_max
    if kind == 1:
        return np.full(shape, lo, dtype)  # maximum negative weights
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def _membranes(rng, n, v_bits, dtype):
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    kind = rng.integers(3)
    if kind == 0:
        return np.zeros(n, dtype)
    if kind == 1:  # at or near the rails
        return rng.choice([lo, lo + 1, hi - 1, hi], n).astype(dtype)
    return rng.integers(lo, hi + 1, n).astype(dtype)


def case_integrate_spikes(rng):
    w_bits, v_bits, wdt, vdt, _ = _widths(rng)
    A, n = int(rng.integers(1, 40)), int(rng.integers(1, 70))
    w = _weights(rng, (A, n), w_bits, wdt)
    v = _membranes(rng, n, v_bits, vdt)
    kind = rng.integers(3)
    spiking = np.arange(A) if kind == 0 else np.array([], int) if kind == 1 else np.flatnonzero(rng.random(A) < 0.5)
    axons = np.zeros(A + 3, np.int32)
    axons[: spiking.size] = spiking
    v_min, v_max = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    args = (v, w, axons, spiking.size, v_min, v_max, max(0, int(w.max())), max(0, -int(w.min())),
            int(v.min()), int(v.max()))  # fmt: skip
    return args, lambda a, ret: {"v": a[0]}


def case_update_neurons(rng):
    _, v_bits, _, vdt, bdt = _widths(rng)
    n = int(rng.integers(1, 70))
    v_min, v_max = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    v = _membranes(rng, n, v_bits, vdt)
    bias = _membranes(rng, n, v_bits, bdt)
    threshold = int(rng.choice([0, v_max, rng.integers(0, v_max + 1)]))
    start = int(rng.integers(0, 4))
    args = (v, bias, threshold, int(rng.integers(0, v_bits)), bool(rng.integers(2)), bool(rng.integers(2)),
            v_min, v_max, np.zeros(n, np.uint8), np.zeros(start + n, np.int16), start)  # fmt: skip

    def outputs(a, ret):
        return {"v": a[0], "fired": a[8], "n": ret, "spikes": a[9][start : start + ret]}

    return args, outputs


def _mapped_case(rng):
    """A random mapped 3-layer program on a small mesh (every register mode drawn), and its engine plan;
    one time in three a random program with partial-sum chains (chip-spec §1.3) instead; one time in three
    on the mesh NoC (chip-spec §1.5)."""
    w_bits, v_bits, _, _, _ = _widths(rng)
    mesh = rng.integers(3) == 0
    noc = {"noc": "mesh", "router_buffer_flits": int(rng.integers(1, 5))} if mesh else {}
    latency = int(rng.integers(1, 4) if mesh else rng.integers(0, 3))
    if rng.integers(3) == 0:
        N = int(rng.choice([2, 4, 6]))
        chip = psum_test_chip(3, 4, axons=int(rng.integers(3, 9)), neurons=N,
                              lanes=int(rng.choice([d for d in (1, 2, 3) if N % d == 0])), w_bits=w_bits,
                              v_bits=v_bits, hop_latency_cycles=latency).replace(**noc)  # fmt: skip
        program = random_psum_program(rng, chip)
        return program, _pack(program)
    N = int(rng.choice([4, 6, 8, 12]))
    lanes = int(rng.choice([d for d in (1, 2, 3, 4) if N % d == 0]))
    core = CoreConfig(axons=int(rng.integers(8, 33)), neurons=N, lanes=lanes, w_bits=w_bits, v_bits=v_bits)
    chip = ChipConfig(name="k", mesh_rows=2, mesh_cols=3, hop_latency_cycles=latency, core=core, **noc)
    sizes = [int(rng.integers(1, core.axons + 1)), int(rng.integers(1, min(core.axons, 2 * N) + 1)),
             int(rng.integers(1, N + 1))]  # fmt: skip
    net = random_network(rng, sizes, core, integration=str(rng.choice(["discontinuous", "continuous"])),
                         reset=str(rng.choice(["subtract", "zero"])), leak_shift=int(rng.integers(0, 3)),
                         fire_output=bool(rng.integers(2)))  # fmt: skip
    program = map_network(net, chip, placement="row_major")
    return program, _pack(program)


def case_core_pass(rng):
    program, plan = _mapped_case(rng)
    B, T, micro = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    m0 = int(rng.integers(0, B))
    m1 = min(B, m0 + micro)
    s = _Scratch(plan, micro, T)
    store, base, stride, counts, values = s.lists
    # every sender's spike lists at random (ascending), whatever their stage: the core reads what is there;
    # a partial-sum sender's membranes too (zeros, which are not sent, and the rails often)
    sources = [program.n_inputs] + [int(x) for x in plan.neurons.n_neurons]
    psum_sender = [False] + [bool(x) for x in plan.psums.out]
    v_min, v_max = int(plan.consts.v_min), int(plan.consts.v_max)
    p = float(rng.choice([0.0, 0.3, 1.0]))
    for sender, n_src in enumerate(sources):
        for m in range(micro):
            for t in range(T):
                spikes = np.flatnonzero(rng.random(n_src) < p)
                at = base[sender] + (m * T + t) * stride[sender]
                store[at : at + spikes.size] = spikes
                counts[sender, m, t] = spikes.size
                if psum_sender[sender]:
                    values[at : at + n_src] = rng.choice([0, v_min, v_max, -1, 1, int(rng.integers(v_min, v_max + 1))],
                                                         n_src)  # fmt: skip
    i = int(rng.integers(len(plan.order)))
    psum_roles = [k for k in range(len(plan.order)) if plan.psums.out[k] or plan.psums.ptr[k + 1] > plan.psums.ptr[k]]
    if psum_roles and rng.integers(3) > 0:  # mostly a partial-sum core or receiver, when the program has them
        i = int(rng.choice(psum_roles))
    out = _allocate(program, plan, B, T, bool(rng.integers(2)))
    outputs = ChipOutputs(counters=out["counters"], route_cycles=np.zeros((B, T, len(plan.order)), np.int64),
                          host_counters=out["host_counters"], mem_out=out["mem_target"], spk_out=out["spk_target"],
                          mem_col=out["mem_col"], spk_col=out["spk_col"])  # fmt: skip
    args = (i, m0, m1, plan.order, plan.routes, plan.incoming, plan.psums, plan.neurons, plan.weights, plan.consts,
            s.lists, s.core, outputs)  # fmt: skip

    def results(a, ret):
        lists, o = a[10], a[12]
        me = i + 1
        at = [lists.base[me] + (m * T + t) * lists.stride[me] for m in range(micro) for t in range(T)]
        n_sent = lists.counts[me].ravel()
        sent = [lists.store[a : a + c].tolist() for a, c in zip(at, n_sent)]
        # a partial-sum core's membranes where its list would be (the values array is empty without partial sums)
        n = int(plan.neurons.n_neurons[i])
        sent_values = [lists.values[a : a + n].tolist() if plan.psums.out[i] else [] for a in at]
        return {"ret": np.asarray(ret is None), "counts": lists.counts[me], "sent": np.asarray(sum(sent, [])),
                "sent_values": np.asarray(sum(sent_values, []), np.int64),
                **{name: getattr(o, name) for name in ChipOutputs._fields}}

    return args, results


def _routing_table(rng, n_sources, n_senders, n_dest=3):
    """Random routing entries for ``n_senders`` senders of ``n_sources`` sources each."""
    R = rng.integers(0, 4, n_senders)
    R[rng.integers(n_senders)] += 1  # at least one entry somewhere
    total = int(R.sum())
    lo = rng.integers(0, n_sources, total)
    hi = np.minimum(n_sources, lo + rng.integers(1, n_sources + 1, total))
    hops = rng.integers(0, 6, total)
    ptr = np.concatenate([[0], np.cumsum(R)])
    max_hops = [int(hops[ptr[s] : ptr[s + 1]].max(initial=0)) for s in range(n_senders)]
    return RoutingTable(ptr=ptr.astype(np.int64), dest=rng.integers(0, n_dest, total).astype(np.int64),
                        lo=lo.astype(np.int64), hi=hi.astype(np.int64),
                        offset=rng.integers(0, 5, total).astype(np.int64), hops=hops.astype(np.int64),
                        max_hops=np.asarray(max_hops, np.int64))  # fmt: skip


def case_host_timestep(rng):
    n = int(rng.integers(1, 90))
    row = (rng.random(n) < rng.choice([0.0, 0.02, 0.2, 1.0])).astype(np.uint8)
    if rng.integers(4) == 0:
        row[rng.integers(n)] = rng.choice([2, 3, 255])  # not a spike: its word must be counted as bad
    R = int(rng.integers(1, 4))
    lo = rng.integers(0, n, R)
    hi = np.minimum(n, lo + rng.integers(1, n + 1, R))
    start = int(rng.integers(0, 5))
    words = _as_words(row[None, None], n)[0, 0]
    args = (words, sys.byteorder == "big", lo.astype(np.int64), hi.astype(np.int64),
            rng.integers(0, 6, R).astype(np.int64), int(rng.integers(0, 6)), int(rng.integers(0, 4)),
            np.zeros(start + 8 * words.size, np.int16), start, np.zeros(3, np.int64))  # fmt: skip

    def outputs(a, ret):
        return {"ret": ret, "host_counters": a[9], "spikes": a[7][start : start + ret[0]]}

    return args, outputs


def _random_exit_rule(rng, program) -> ExitRule:
    """An exit rule of every kind (none one time in three), with thresholds that stop some images early."""
    if program.n_outputs < 2 or rng.integers(3) == 0:
        return parse_exit_rule(None)
    kind = int(rng.integers(3))
    if kind == 0:
        return parse_exit_rule(f"margin:{int(rng.integers(0, 4))}", program.n_outputs)
    text = f"confidence:{rng.choice(['0.3', '0.6', '0.9'])}" if kind == 1 else f"entropy:{rng.choice(['0.5', '0.9'])}"
    return parse_exit_rule(text, program.n_outputs, scale=float(rng.choice([0.05, 0.5, 2.0])))


def _noc_arguments(rng, program, plan, out, s, B, T):
    """The mesh NoC arguments of chip_pass: the plan's MeshNoc, an exit rule, the thread's NoC scratch, counters."""
    exits = _exit_inputs(program, plan, out, _random_exit_rule(rng, program))
    return plan.noc, exits, s.noc, np.zeros((B, T, 3), np.int64)


def case_chip_pass(rng):
    program, plan = _mapped_case(rng)
    B, T = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    micro = int(rng.integers(1, 4))
    raster = random_raster(rng, B, T, program.n_inputs, float(rng.choice([0.0, 0.3, 1.0])))
    record = bool(rng.integers(2))
    out = _allocate(program, plan, B, T, record)
    s = _Scratch(plan, micro, T)
    out_arrays = ChipOutputs(counters=out["counters"], route_cycles=np.zeros((B, T, len(plan.order)), np.int64),
                             host_counters=out["host_counters"], mem_out=out["mem_target"], spk_out=out["spk_target"],
                             mem_col=out["mem_col"], spk_col=out["spk_col"])  # fmt: skip
    args = (0, B, micro, _as_words(raster, program.n_inputs), sys.byteorder == "big", plan.order, plan.host,
            plan.routes, plan.incoming, plan.psums, plan.neurons, plan.weights, plan.consts, s.lists, s.core,
            out_arrays, *_noc_arguments(rng, program, plan, out, s, B, T))  # fmt: skip

    def outputs(a, ret):
        return {"ret": ret, **{name: getattr(a[15], name) for name in ChipOutputs._fields}, "links": a[18].links,
                "noc_counters": a[19]}

    return args, outputs


def case_mesh_phase(rng):
    """One routing phase of random senders (random routing tables and spike lists, partial-sum senders too) on a
    random mesh (1xN and Nx1 included), buffer depth 1..4, hop latency 1..3: hot spots and wide multicast."""
    a, b = int(rng.integers(1, 6)), int(rng.integers(2, 4))
    shapes = [(1, a), (a, 1), (b, int(rng.integers(2, 4)))]
    rows, cols = shapes[rng.integers(3)]
    R = rows * cols
    n_senders = int(rng.integers(1, R + 2))  # the host (sender 0, router 0) and cores on distinct routers
    routers = np.concatenate([[0], rng.permutation(R)[: n_senders - 1]]).astype(np.int64)
    n_sources = rng.integers(1, 12, n_senders).astype(np.int64)
    psum = np.concatenate([[False], rng.random(n_senders - 1) < 0.3])
    hot = int(rng.integers(R))
    entries = [int(rng.integers(0, 6)) for _ in range(n_senders)]
    dest, lo, hi = [], [], []
    for s in range(n_senders):
        for _ in range(entries[s]):
            a = int(rng.integers(0, n_sources[s]))
            lo.append(a)
            hi.append(int(rng.integers(a + 1, n_sources[s] + 1)))
            dest.append(hot if rng.random() < 0.5 else int(rng.integers(R)))  # half of all entries to one core
    ptr = np.concatenate([[0], np.cumsum(entries)]).astype(np.int64)
    group = np.array([0, n_senders - 1], np.int64)
    noc = MeshNoc(enabled=True, rows=rows, cols=cols, depth=int(rng.integers(1, 5)),
                  hop_latency=int(rng.integers(1, 4)), row=np.arange(R, dtype=np.int64) // cols,
                  col=np.arange(R, dtype=np.int64) % cols, router=routers, psum=psum, n_sources=n_sources, ptr=ptr,
                  dest=np.asarray(dest, np.int64),
                  lo=np.asarray(lo, np.int64), hi=np.asarray(hi, np.int64), group=group)  # fmt: skip
    micro, T = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    stride = (n_sources + 7) // 8 * 8
    sizes = micro * T * stride
    store = np.zeros(int(sizes.sum()), np.int16)
    values = np.zeros(int(sizes.sum()), np.int32)
    base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    counts = np.zeros((n_senders, micro, T), np.int32)
    p = float(rng.choice([0.2, 0.6, 1.0]))
    for s in range(n_senders):
        for m in range(micro):
            for t in range(T):
                at = base[s] + (m * T + t) * stride[s]
                if psum[s]:
                    sent = rng.random(n_sources[s]) < p
                    values[at : at + n_sources[s]] = np.where(sent, rng.integers(-5, 6, n_sources[s]), 0)
                else:
                    spikes = np.flatnonzero(rng.random(n_sources[s]) < p)
                    store[at : at + spikes.size] = spikes
                    counts[s, m, t] = spikes.size
    work = _noc_scratch(noc, micro, T, 0)
    # the HOST phase (sender 0 alone), or a range of cores (as a stage's ROUTE phase): one sender per router
    s_lo = int(rng.integers(0, n_senders))
    s_hi = 1 if s_lo == 0 else int(rng.integers(s_lo + 1, n_senders + 1))
    lists = SpikeLists(store=store, base=base, stride=stride.astype(np.int64), counts=counts, values=values)
    args = (s_lo, s_hi, int(rng.integers(micro)), int(rng.integers(T)), noc, lists, work)
    return args, lambda a, ret: {"ret": np.asarray(ret), "links": a[6].links}


def case_route_cycles(rng):
    packets = int(rng.choice([0, 1, int(rng.integers(0, 10_000))]))
    return (packets, int(rng.integers(0, 9)), int(rng.integers(0, 5))), lambda a, ret: {"ret": ret}


def case_exit_timesteps_kernel(rng):
    from hwsim.exit_unit import EXP_LUT, LN_LUT
    from hwsim.kernels.exit_unit import RULE_CODES

    B, T, K = int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.integers(2, 12))
    if rng.random() < 0.3:  # spike-count readout: 0/1 spikes
        values = (rng.random((B, T, K)) < rng.choice([0.1, 0.5])).astype(np.uint8)
    else:  # membranes, some at the int32 rails
        values = rng.integers(-300, 300, (B, T, K)).astype(np.int32)
        values[rng.random((B, T, K)) < 0.05] = rng.choice([-(2**31), 2**31 - 1])
    name = str(rng.choice(["none", "margin", "confidence", "entropy"]))
    threshold = {"none": 0, "margin": int(rng.integers(0, 600)), "confidence": int(rng.integers(65536, 10 * 65536)),
                 "entropy": int(rng.integers(0, 600))}[name]  # fmt: skip
    gain_num = int(rng.choice([0, 1, int(rng.integers(1, 2**20)), 2**32 - 1]))
    args = (values, RULE_CODES[name], threshold, gain_num, np.asarray(EXP_LUT, np.int64), np.asarray(LN_LUT, np.int64),
            np.full(B, -1, np.int64))  # fmt: skip
    return args, lambda a, ret: {"exit_t": a[6]}


def case_count_routed(rng):
    n = int(rng.integers(1, 60))
    spikes = np.flatnonzero(rng.random(n) < rng.choice([0.0, 0.2, 1.0])).astype(np.int16)
    start = int(rng.integers(0, 4))
    buf = np.zeros(start + n + 2, np.int16)
    buf[start : start + spikes.size] = spikes
    R = int(rng.integers(1, 6))
    lo = rng.integers(0, n, R)
    hi = np.minimum(n, lo + rng.integers(1, n + 1, R))
    r_start = int(rng.integers(0, R))
    r_stop = int(rng.integers(r_start, R + 1))
    args = (buf, start, spikes.size, lo.astype(np.int64), hi.astype(np.int64), rng.integers(0, 6, R).astype(np.int64),
            r_start, r_stop)  # fmt: skip
    return args, lambda a, ret: {"ret": np.asarray(ret)}


def case_deliver(rng):
    n = int(rng.integers(1, 60))
    spikes = np.flatnonzero(rng.random(n) < rng.choice([0.0, 0.2, 1.0])).astype(np.int64)
    buf = np.zeros(n + 2, np.int64)
    buf[: spikes.size] = spikes
    S, n_dest = int(rng.integers(1, 4)), 3
    table = _routing_table(rng, n, S, n_dest)
    sender = int(rng.integers(S))
    axon_start = np.arange(n_dest + 1, dtype=np.int64) * (n + 5)  # room for offset + (j - lo) < n + 5
    inbox = np.zeros(int(axon_start[-1]), np.uint8)
    args = (buf, spikes.size, table.dest, table.lo, table.hi, table.offset, table.hops, int(table.ptr[sender]),
            int(table.ptr[sender + 1]), axon_start, inbox)  # fmt: skip
    return args, lambda a, ret: {"ret": np.asarray(ret), "inbox": a[10]}


def case_crossbar_read(rng):
    n_axons, n_neurons = int(rng.integers(1, 60)), int(rng.integers(1, 20))
    n_active = int(rng.integers(0, n_axons + 1))
    active = np.sort(rng.choice(n_axons, n_active, replace=False)).astype(np.int64)
    adc_hi = float(2 ** int(rng.integers(2, 9)) - 1)
    args = (active, n_active, rng.normal(0, 30, n_axons * n_neurons), rng.random(n_axons * n_neurons) * 1e3,
            rng.random(n_axons) * 100, n_neurons, 0.2, float(rng.choice([0.0, 0.02])), bool(rng.integers(2)),
            rng.standard_normal(n_neurons), float(rng.uniform(0.05, 2.0)), -adc_hi - 1, adc_hi,
            np.zeros(n_neurons), np.zeros(n_neurons), np.zeros(n_neurons, np.int64))  # fmt: skip

    def outputs(a, ret):
        return {"ret": np.asarray(ret, np.float64), "acc": a[13], "acc_sq": a[14], "codes": a[15]}

    return args, outputs


def _entropy(rng):
    # the uint32 words of a SeedSequence entropy list (hwsim.rram.device.seed_words)
    return rng.integers(0, 2**32, int(rng.integers(1, 5)), dtype=np.uint64).astype(np.uint32)


def case_standard_normals(rng):
    return (_entropy(rng), np.empty(int(rng.integers(1, 3000)))), lambda a, ret: {"out": a[1]}


def case_read_noise_fill(rng):
    out = np.empty((int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 9))))
    return (_entropy(rng), int(rng.integers(0, 2**33)), out), lambda a, ret: {"out": a[2]}


def case_device_draws(rng):
    axons, neurons = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    n_axons, n_neurons = int(rng.integers(1, axons + 1)), int(rng.integers(1, neurons + 1))
    z, u = np.empty((n_axons, n_neurons, 2)), np.empty((n_axons, n_neurons, 2))
    return (_entropy(rng), axons, neurons, n_axons, n_neurons, z, u), lambda a, ret: {"z": a[5], "u": a[6]}


CASES = {
    "crossbar_read": case_crossbar_read,
    "standard_normals": case_standard_normals,
    "read_noise_fill": case_read_noise_fill,
    "device_draws": case_device_draws,
    "integrate_spikes": case_integrate_spikes,
    "update_neurons": case_update_neurons,
    "core_pass": case_core_pass,
    "host_timestep": case_host_timestep,
    "chip_pass": case_chip_pass,
    "mesh_phase": case_mesh_phase,
    "route_cycles": case_route_cycles,
    "count_routed": case_count_routed,
    "deliver": case_deliver,
    "exit_timesteps_kernel": case_exit_timesteps_kernel,
}


def test_every_kernel_has_a_twin_and_a_case():
    names = {k.__name__ if hasattr(k, "__name__") else k.py_func.__name__ for k in COMPARISONS}
    from hwsim.kernels import random

    # without Numba's ziggurat tables the random-stream kernels are the twins themselves (nothing to compare)
    streams = set() if random.GIL_FREE_STREAMS else {"standard_normals", "read_noise_fill", "device_draws"}
    assert names == set(CASES) - streams
    for kernel, twin in COMPARISONS.items():
        assert kernel.py_func.__name__ == twin.__name__
        assert kernel.py_func.__code__.co_varnames[: kernel.py_func.__code__.co_argcount] == \
            twin.__code__.co_varnames[: twin.__code__.co_argcount]  # fmt: skip


@pytest.mark.parametrize("kernel,twin", list(COMPARISONS.items()), ids=lambda f: getattr(f, "__name__", ""))
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_kernel_matches_twin(kernel, twin, seed):
    make = CASES[kernel.py_func.__name__]
    args, outputs = make(np.random.default_rng(seed))
    a_kernel, a_twin = copy.deepcopy(args), copy.deepcopy(args)
    got = outputs(a_kernel, kernel(*a_kernel))
    want = outputs(a_twin, twin(*a_twin))
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]), err_msg=name)


def test_integrate_saturates_after_every_add():
    # Hand case, v_bits = 4 (-8..7): 5 + 7 -> 7 (clamped), 7 - 8 -> -1. Without the
    # per-add clamp the sum would be 5 + 7 - 8 = 4.
    for kernel in (k for k in COMPARISONS if k.py_func.__name__ == "integrate_spikes"):
        for twin in (kernel, COMPARISONS[kernel]):
            v = np.array([5], np.int16)
            w = np.array([[7], [-8]], np.int8)
            twin(v, w, np.array([0, 1], np.int32), 2, -8, 7, 7, 8, 5, 5)
            assert v.tolist() == [-1]


def _run_whole_chip(chip_pass, core_pass, program, raster):
    """Run a whole program on a raster with every core recorded: with ``chip_pass`` (kernel or twin) if given, else
    host port kernel then ``core_pass`` (kernel or twin) for each core in stage order. Returns (plan, outputs)."""
    from hwsim.kernels import host_timestep

    plan = _pack(program)
    B, T = raster.shape[:2]
    out = _allocate(program, plan, B, T, True)
    s = _Scratch(plan, B, T)
    outputs = ChipOutputs(counters=out["counters"], route_cycles=np.zeros((B, T, len(plan.order)), np.int64),
                          host_counters=out["host_counters"], mem_out=out["mem_target"], spk_out=out["spk_target"],
                          mem_col=out["mem_col"], spk_col=out["spk_col"])  # fmt: skip
    words = _as_words(raster, program.n_inputs)
    if chip_pass is not None:
        bad = chip_pass(0, B, B, words, sys.byteorder == "big", plan.order, plan.host, plan.routes, plan.incoming,
                        plan.psums, plan.neurons, plan.weights, plan.consts, s.lists, s.core, outputs, plan.noc,
                        _exit_inputs(program, plan, out, parse_exit_rule(None)), s.noc,
                        np.zeros((B, T, 3), np.int64))  # fmt: skip
        assert bad == 0
        return plan, outputs
    h = plan.host
    for b in range(B):
        for t in range(T):
            at = s.lists.base[0] + (b * T + t) * s.lists.stride[0]
            s.lists.counts[0, b, t], _ = host_timestep(words[b, t], sys.byteorder == "big", h.lo, h.hi, h.hops,
                                                       h.max_hops[0], plan.consts.hop_latency, s.lists.store, at,
                                                       outputs.host_counters[b, t])  # fmt: skip
    for i in range(len(plan.order)):
        core_pass(i, 0, B, plan.order, plan.routes, plan.incoming, plan.psums, plan.neurons, plan.weights,
                  plan.consts, s.lists, s.core, outputs)  # fmt: skip
    return plan, outputs


def test_merge_saturates_before_the_axons():
    # v_bits = 5 (-16..15). Core 3 (partial-sum core, stage 0) gets inputs 0..2 on rows [7, -8] each:
    # [7,-8] -> [14,-16] -> [sat 21 = 15, sat -24 = -16], sent to core 1 (continuous, never fires) every timestep.
    # Core 1: t0 (no axon): [0,0] + [15,-16] = [15,-16]. t1: MERGE [sat 30 = 15, sat -32 = -16], then its
    # axon (input 3, row [-3, 3]): [12, -13]. Without the clamp in MERGE: [27 -> 15, -29 -> -16] after the axon.
    chip = ChipConfig(name="sat", mesh_rows=2, mesh_cols=2,
                      core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=4, v_bits=5, partial_sums=True))  # fmt: skip
    zeros = np.zeros(2, int)
    psum = CoreProgram(core=3, stage=0, weights=np.full((3, 2), [7, -8]), bias=zeros, threshold=0, fire=False,
                       routes=(Route(1, 0, 2, 0),), psum_out=True)  # fmt: skip
    final = CoreProgram(core=1, stage=1, weights=np.array([[-3, 3]]), bias=zeros, threshold=15, fire=False,
                        integration="continuous", output_offset=0)  # fmt: skip
    program = ChipProgram(chip=chip, cores=(psum, final), host_routes=(Route(3, 0, 3, 0), Route(1, 3, 4, 0)),
                          n_inputs=4).validate()  # fmt: skip
    raster = np.array([[[1, 1, 1, 0], [1, 1, 1, 1]]], np.uint8)
    pairs = {k.py_func.__name__: (k, twin) for k, twin in COMPARISONS.items()}
    runs = [(chip_pass, None) for chip_pass in pairs["chip_pass"]] + [(None, core) for core in pairs["core_pass"]]
    for chip_pass, core_pass in runs:
        plan, out = _run_whole_chip(chip_pass, core_pass, program, raster)
        membranes = {int(k): out.mem_out[0, :, start : start + 2].tolist()
                     for k, start in zip(plan.order, plan.neurons.start)}  # fmt: skip
        assert membranes == {0: [[15, -16], [15, -16]], 1: [[15, -16], [12, -13]]}, (chip_pass, core_pass)


@pytest.mark.parametrize("v_bits", [5, 16, 24, 32])
def test_merge_saturates_in_every_membrane_width(v_bits):
    # The receiver alone (core_pass), its sender's membranes written by hand at the rails: [v_max, v_min] in
    # both timesteps. Receiver: continuous, never fires, one axon of weights [-1, 1] spiking in t1 only.
    # t0: [0 + v_max, 0 + v_min]. t1: MERGE [sat 2 v_max = v_max, sat 2 v_min = v_min], axon: [v_max - 1, v_min + 1].
    # (v_bits 5 and 16: int16 membranes, 24: int32, 32: int32 whose sums need 64 bits.)
    w_bits = min(v_bits - 1, 8)
    chip = ChipConfig(name="rails", mesh_rows=2, mesh_cols=2,
                      core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=w_bits, v_bits=v_bits,
                                      partial_sums=True))  # fmt: skip
    zeros = np.zeros(2, int)
    psum = CoreProgram(core=3, stage=0, weights=np.ones((1, 2), int), bias=zeros, threshold=0, fire=False,
                       routes=(Route(1, 0, 2, 0),), psum_out=True)  # fmt: skip
    final = CoreProgram(core=1, stage=1, weights=np.array([[-1, 1]]), bias=zeros, threshold=0, fire=False,
                        integration="continuous", output_offset=0)  # fmt: skip
    program = ChipProgram(chip=chip, cores=(psum, final), host_routes=(Route(3, 0, 1, 0), Route(1, 1, 2, 0)),
                          n_inputs=2).validate()  # fmt: skip
    plan = _pack(program)
    assert plan.order.tolist() == [0, 1]  # stage order: the partial-sum core is sender 1, the receiver core 1
    cc, T = chip.core, 2
    for kernel, twin in COMPARISONS.items():
        if kernel.py_func.__name__ != "core_pass":
            continue
        for core_pass in (kernel, twin):
            s = _Scratch(plan, 1, T)
            lists = s.lists
            lists.counts[:] = 0
            for t in range(T):
                lists.values[lists.base[1] + t * lists.stride[1] :][:2] = [cc.v_max, cc.v_min]
            lists.store[lists.base[0] + 1 * lists.stride[0]] = 1  # t1: input 1 spikes (host list)
            lists.counts[0, 0, 1] = 1
            out = _allocate(program, plan, 1, T, True)
            outputs = ChipOutputs(counters=out["counters"], route_cycles=np.zeros((1, T, 2), np.int64),
                                  host_counters=out["host_counters"], mem_out=out["mem_target"],
                                  spk_out=out["spk_target"], mem_col=out["mem_col"],
                                  spk_col=out["spk_col"])  # fmt: skip
            core_pass(1, 0, 1, plan.order, plan.routes, plan.incoming, plan.psums, plan.neurons, plan.weights,
                      plan.consts, lists, s.core, outputs)  # fmt: skip
            start = int(plan.neurons.start[1])
            want = [[cc.v_max, cc.v_min], [cc.v_max - 1, cc.v_min + 1]]
            assert outputs.mem_out[0, :, start : start + 2].tolist() == want, core_pass


def test_every_kernel_cache_entry_is_stamped_with_the_whole_kernel_package():
    # A cached kernel holds the code of the kernels it calls, in other files (numba #1833):
    # its stamp must change when any kernel file changes, not only its own, and when hwsim/neuron.py
    # changes (the kernels compare with its mode codes, frozen into the machine code).
    import hashlib
    from pathlib import Path

    import hwsim.kernels as package

    folder = Path(package.__file__).resolve().parent
    h = hashlib.sha256()
    for path in [*sorted(folder.glob("*.py")), folder.parent / "neuron.py"]:
        h.update(path.relative_to(folder.parent).as_posix().encode())
        h.update(path.read_bytes())
    from hwsim.kernels import rram

    for kernel in [*COMPARISONS, rram.rram_chip_run]:
        locator = kernel._cache._impl.locator  # Numba internals: the locator that stamps the cache index
        assert locator.get_source_stamp() == h.digest(), kernel.py_func.__name__


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_chip_pass_takes_its_structures_as_plain_tuples(seed):
    # hwsim.chip passes tuple(structure) (Numba types a namedtuple argument through Python on every
    # call, a plain tuple in C); the kernel names the fields again in layout order, so plain tuples
    # must give what the namedtuples give (and those what the twin gives, test_kernel_matches_twin).
    from hwsim.kernels.chip import chip_pass

    args, outputs = case_chip_pass(np.random.default_rng(seed))
    named = copy.deepcopy(args)
    plain = copy.deepcopy(args)
    plain = plain[:6] + tuple(tuple(structure) for structure in plain[6:19]) + plain[19:]
    assert all(type(s) is tuple for s in plain[6:19])
    want = outputs(named, chip_pass(*named))
    got = chip_pass(*plain)
    got = outputs(plain[:15] + (ChipOutputs(*plain[15]), *plain[16:18], NocScratch(*plain[18]), plain[19]), got)
    for name in want:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]), err_msg=name)


def test_the_engine_passes_plain_tuples_to_chip_pass(monkeypatch):
    # The point of the plain tuples is the per-call dispatch cost, which tests do not time: check
    # that no structure reaches the kernel as a namedtuple (they have _fields).
    import hwsim.chip as chip_module

    program, _ = _mapped_case(np.random.default_rng(7))
    real = chip_module.chip_pass
    seen = []

    def spy(*args):
        seen.append(args)
        return real(*args)

    monkeypatch.setattr(chip_module, "chip_pass", spy)
    chip_module.Chip.from_program(program).run(random_raster(np.random.default_rng(8), 3, 2, program.n_inputs, 0.5))
    assert seen
    for args in seen:
        assert len(args) == 20
        assert [type(a) for a in args[6:19]] == [tuple] * 13

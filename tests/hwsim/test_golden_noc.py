"""The golden mesh network-on-chip (chip-spec §1.5) on hand-worked phases, and its place in the chip schedule.

Every expected cycle below is worked out in the comments from §1.5's five steps, not read from a model.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig
from hwsim.errors import ConfigError
from hwsim.golden import simulate
from hwsim.golden.noc import EAST, LOCAL, SOUTH, WEST, mesh_phase, xy_output
from hwsim.golden.router import packets
from hwsim.program import Route
from hwsim.result import NOC_COUNTER_NAMES
from hwsim.testing import random_network, random_raster
from mapping.mapper import map_network

CORE = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12)


def mesh(rows: int, cols: int, latency: int = 1, depth: int = 4) -> ChipConfig:
    return ChipConfig(name="noc_test", mesh_rows=rows, mesh_cols=cols, hop_latency_cycles=latency,
                      router_buffer_flits=depth, core=CORE, noc="mesh")  # fmt: skip


@pytest.mark.parametrize("latency, hops, n", [(1, 1, 1), (1, 2, 5), (3, 4, 5), (2, 3, 7)])
def test_lone_stream_matches_the_ideal_formula(latency, hops, n):
    # On a 1 x 5 row, core 0 sends n packets to core `hops`. Packet i (from 1) leaves the interface in
    # cycle i, waits `latency` cycles in each of the `hops` routers after the first: delivered in cycle
    # i + latency * hops. With depth >= latency + 1 no buffer is ever full.
    chip = mesh(1, 5, latency, depth=latency + 1)
    phase = mesh_phase(chip, {0: [(hops, i) for i in range(n)]})
    assert [d[0] for d in phase.deliveries] == [i + latency * hops for i in range(1, n + 1)]
    assert phase.cycles == n + latency * hops  # §1.2's route_cycles for one sender
    assert [d[2] for d in phase.deliveries] == list(range(n))  # in order
    assert phase.buffer_writes == n * hops and phase.stall_cycles == 0
    assert phase.injection_done == {0: n}


def test_host_to_core_0_needs_no_link():
    # Router 0's local input to its local output: one delivery per cycle, cycles 1..n.
    phase = mesh_phase(mesh(2, 2), {0: [(0, i) for i in range(4)]})
    assert [d[0] for d in phase.deliveries] == [1, 2, 3, 4]
    assert phase.cycles == 4 and phase.buffer_writes == 0
    assert phase.link_packets[0, LOCAL] == 4 and phase.link_packets.sum() == 4


def test_no_packets_no_cycles():
    phase = mesh_phase(mesh(2, 2), {0: [], 3: []})
    assert phase.cycles == 0 and phase.deliveries == [] and phase.stall_cycles == 0


def test_one_slot_buffers_halve_a_stream():
    # Depth 1, latency 1, core 0 -> core 1 (one hop). Packet 1: granted in cycle 1, in router 1's west
    # buffer from the end of cycle 1, delivered in cycle 2. At the start of cycle 2 that buffer is full,
    # so packet 2 stalls (one stall on router 0's east output), leaves in cycle 3, arrives in cycle 4...
    # deliveries in cycles 2, 4, ..., 2n; n - 1 stalls.
    n = 5
    phase = mesh_phase(mesh(1, 2, depth=1), {0: [(1, i) for i in range(n)]})
    assert [d[0] for d in phase.deliveries] == [2 * i for i in range(1, n + 1)]
    assert phase.cycles == 2 * n
    assert phase.stall_cycles == n - 1 == phase.link_stalls[0, EAST]


def test_round_robin_between_two_senders_into_one_core():
    # 1 x 3 row: cores 0 and 2 each send 3 packets to core 1. Cycle 1: both interfaces inject (different
    # routers), into router 1's west (4) and east (2) buffers, ready in cycle 2. Cycle 2: both request the
    # local output; the pointer is 0, so the order is 0, 1, 2, 3, 4: east (2) wins, the pointer becomes 3,
    # west stalls. Cycle 3: order 3, 4, 0, ...: west wins, pointer 0. So they alternate, east first:
    # deliveries E0 W0 E1 W1 E2 W2 in cycles 2..7; stalls on router 1's local output in cycles 2..6.
    phase = mesh_phase(mesh(1, 3), {0: [(1, ("W", i)) for i in range(3)], 2: [(1, ("E", i)) for i in range(3)]})
    assert [(d[0], d[2]) for d in phase.deliveries] == [
        (2, ("E", 0)), (3, ("W", 0)), (4, ("E", 1)), (5, ("W", 1)), (6, ("E", 2)), (7, ("W", 2))]  # fmt: skip
    assert phase.cycles == 7
    assert phase.link_stalls[1, LOCAL] == 5 == phase.stall_cycles
    assert phase.link_packets[0, EAST] == 3 and phase.link_packets[2, WEST] == 3 and phase.link_packets[1, LOCAL] == 6


def test_xy_goes_along_the_row_first():
    chip = mesh(3, 3)
    # core 0 (0,0) -> core 8 (2,2): east, east, south, south, local
    assert xy_output(chip, 0, 8) == EAST and xy_output(chip, 1, 8) == EAST
    assert xy_output(chip, 2, 8) == SOUTH and xy_output(chip, 5, 8) == SOUTH and xy_output(chip, 8, 8) == LOCAL
    assert xy_output(chip, 8, 0) == WEST
    phase = mesh_phase(chip, {0: [(8, "x")]})
    used = {(int(r), int(d)) for r, d in zip(*np.nonzero(phase.link_packets))}
    assert used == {(0, EAST), (1, EAST), (2, SOUTH), (5, SOUTH), (8, LOCAL)}
    assert phase.cycles == 1 + 4  # one injection, four hops of one cycle


def test_source_replicated_multicast_order():
    # A spike matching several entries goes out once per entry, in table order; sources ascending.
    routes = (Route(dest_core=3, src_lo=0, src_hi=4, axon_offset=10),
              Route(dest_core=1, src_lo=2, src_hi=6, axon_offset=0))
    assert packets([1, 2, 5], routes) == [(3, 11), (3, 12), (1, 0), (1, 3)]


def test_random_phases_deliver_everything_once():
    rng = np.random.default_rng(7)
    for _ in range(40):
        rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        chip = mesh(rows, cols, latency=int(rng.integers(1, 4)), depth=int(rng.integers(1, 4)))
        n = chip.n_cores
        injections = {
            r: [(int(rng.integers(0, n)), (r, i)) for i in range(int(rng.integers(0, 12)))]
            for r in range(n) if rng.random() < 0.7
        }  # fmt: skip
        phase = mesh_phase(chip, injections)
        sent = sorted(tag for stream in injections.values() for _, tag in stream)
        assert sorted(d[2] for d in phase.deliveries) == sent  # every packet once, none invented
        for r, stream in injections.items():  # each sender's packets to one core arrive in order
            for dest in {d for d, _ in stream}:
                mine = [d[2] for d in phase.deliveries if d[1] == dest and d[2][0] == r]
                assert mine == [tag for d, tag in stream if d == dest]
        per_cycle = [(c, dest) for c, dest, _ in phase.deliveries]
        assert len(per_cycle) == len(set(per_cycle))  # one delivery per core per cycle
        received = np.bincount([dest for _, dest, _ in phase.deliveries], minlength=n)
        assert phase.cycles >= received.max(initial=0)  # the hot-spot bound
        hops = sum(chip.hops(r, d) for r, stream in injections.items() for d, _ in stream)
        assert phase.buffer_writes == hops == phase.link_packets[:, 1:].sum()
        assert phase.link_packets[:, LOCAL].sum() == len(sent)
        assert phase.stall_cycles == phase.link_stalls.sum()
        if sent:
            assert phase.cycles == max(d[0] for d in phase.deliveries)


def test_config_rules():
    with pytest.raises(ConfigError, match="noc = 'ring'"):
        mesh(2, 2).replace(noc="ring")
    with pytest.raises(ConfigError, match="hop_latency_cycles = 0 with noc = 'mesh'"):
        mesh(2, 2).replace(hop_latency_cycles=0)
    with pytest.raises(ConfigError, match="router_buffer_flits = 65"):
        mesh(2, 2).replace(router_buffer_flits=65)
    assert "noc" not in mesh(2, 2).replace(noc="ideal").to_dict()
    assert mesh(2, 2).to_dict()["noc"] == "mesh"


def test_chip_schedule_on_the_mesh():
    # What cores compute does not depend on the NoC; only routing cycles and NoC counters do.
    rng = np.random.default_rng(3)
    ideal_chip = mesh(2, 3).replace(noc="ideal")
    net = random_network(rng, [60, 60, 40, 10], CORE)
    raster = random_raster(rng, 3, 4, 60, 0.4)
    ideal = simulate(map_network(net, ideal_chip), raster)
    meshed = simulate(map_network(net, ideal_chip.replace(noc="mesh")), raster)
    np.testing.assert_array_equal(ideal.output_membranes, meshed.output_membranes)
    np.testing.assert_array_equal(ideal.counters, meshed.counters)
    route = NOC_COUNTER_NAMES.index("route_cycles")
    # timestep cycles = barrier + routing + compute, the compute part shared by both models
    compute = ideal.timestep_cycles - ideal_chip.barrier_cycles - ideal.noc_counters[..., route]
    np.testing.assert_array_equal(meshed.timestep_cycles, ideal_chip.barrier_cycles + meshed.noc_counters[..., route]
                                  + compute)  # fmt: skip
    assert ideal.link_counters is None and not ideal.noc_counters[..., 1:].any()
    hops = meshed.counters[..., 6].sum() + meshed.host_counters[..., 1].sum()
    assert meshed.noc_counters[..., NOC_COUNTER_NAMES.index("buffer_writes")].sum() == hops
    delivered = meshed.counters[..., 5].sum() + meshed.host_counters[..., 0].sum()
    assert meshed.link_counters[:, LOCAL, 0].sum() == delivered

"""The mesh placement cost (mapping/placement.py, noc = "mesh"): a hand-worked example and the annealer's
guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig
from mapping.placement import Part, Traffic, anneal, greedy, mesh_cost, mesh_link_loads, placement_cost, row_major

CHIP = ChipConfig(
    name="mesh2x3",
    mesh_rows=2,
    mesh_cols=3,
    hop_latency_cycles=1,
    noc="mesh",
    core=CoreConfig(axons=8, neurons=8, lanes=2, w_bits=4, v_bits=8),
)
# parts 0, 1: layer 0 (stage 0); part 2: layer 1 (stage 1)
PARTS = (
    Part(layer=0, index=0, lo=0, size=1),
    Part(layer=0, index=1, lo=1, size=1),
    Part(layer=1, index=0, lo=0, size=1),
)
TRAFFIC = Traffic(
    host=np.array([4.0, 2.0, 0.0]), flows=((0, 2, 3.0), (1, 2, 5.0)), part_rates=np.array([3.0, 5.0, 0.0])
)


def test_mesh_cost_by_hand():
    # cores 1 = (0, 1), 2 = (0, 2), 5 = (1, 2); link id = router * 5 + port (0 local, 1 N, 2 E, 3 S, 4 W)
    cores = [1, 2, 5]
    loads = mesh_link_loads(cores, PARTS, TRAFFIC, CHIP)
    # host phase, from router 0: 4 packets to core 1 (east, local), 2 to core 2 (east, east, local)
    host = {0 * 5 + 2: 6.0, 1 * 5 + 0: 4.0, 1 * 5 + 2: 2.0, 2 * 5 + 0: 2.0}
    # stage 0: core 1 -> 5: east at 1, south at 2, local at 5 (3 each); core 2 -> 5: south at 2, local at 5 (5)
    stage0 = {1 * 5 + 2: 3.0, 2 * 5 + 3: 8.0, 5 * 5 + 0: 8.0}
    for phase, want in ((-1, host), (0, stage0)):
        expected = np.zeros(CHIP.n_cores * 5)
        expected[list(want)] = list(want.values())
        np.testing.assert_array_equal(loads[phase], expected)
    assert set(loads) == {-1, 0}
    # busiest per phase: host max(6 on a link, 6 injected by the host) = 6; stage 0 max(8, 5) = 8.
    # packet-hops: 4 * 1 + 2 * 2 + 3 * 2 + 5 * 1 = 19; links: 2 * (2 * 2 + 3 * 1) directed + 6 local = 20
    assert placement_cost(cores, TRAFFIC, CHIP) == 19
    assert mesh_cost(cores, PARTS, TRAFFIC, CHIP) == pytest.approx(6 + 8 + 19 / 20)


def test_injection_floor_counts_when_links_are_lighter():
    # part 2 next to both senders: core 4 = (1, 1) gets core 1's packets from the north and core 3's from the west
    cores = [1, 3, 4]
    loads = mesh_link_loads(cores, PARTS, TRAFFIC, CHIP)
    assert loads[0].max() == 8  # core 4's local output receives 3 + 5
    # host phase: 4 east of router 0 to core 1, 2 south of router 0 to core 3: links max 4 < the 6 injected
    assert loads[-1].max() == 4
    hops = 4 * 1 + 2 * 1 + 3 * 1 + 5 * 1
    assert mesh_cost(cores, PARTS, TRAFFIC, CHIP) == pytest.approx(6 + 8 + hops / 20)


def test_mesh_annealing_is_deterministic_and_never_worse_than_its_candidates():
    rng = np.random.default_rng(3)
    parts = tuple(Part(layer=k // 2, index=k % 2, lo=k % 2, size=1) for k in range(6))
    flows = tuple(
        (i, j, float(rng.integers(1, 9))) for i in range(4) for j in range((i // 2 + 1) * 2, (i // 2 + 2) * 2)
    )
    t = Traffic(host=np.array([7.0, 3.0, 0, 0, 0, 0]), flows=flows, part_rates=np.zeros(6))
    a = anneal(parts, t, CHIP, seed=5, iterations=2000)
    assert a == anneal(parts, t, CHIP, seed=5, iterations=2000)
    hops_only = anneal(parts, t, CHIP.replace(noc="ideal"), seed=5, iterations=2000)
    best = mesh_cost(a, parts, t, CHIP)
    for other in (row_major(parts, CHIP), greedy(parts, t, CHIP), hops_only):
        assert best <= mesh_cost(other, parts, t, CHIP) + 1e-9

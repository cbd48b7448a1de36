"""Placement: the cost model equals traffic measured on the golden model, annealing beats row-major on a
multi-layer network, results are deterministic for a seed, XY routes and link loads add up."""

import itertools

import numpy as np
import pytest

from hwsim.golden import simulate
from hwsim.testing import random_network, random_raster
from mapping import MappingError, plan
from mapping.placement import (
    hop_matrix,
    layer_rates,
    link_traffic,
    partition,
    placement_cost,
    rates_from_run,
    traffic,
    xy_route,
)


@pytest.fixture
def chip4x4(small_chip):
    return small_chip.replace(mesh_rows=4, mesh_cols=4)


def _deep_net(rng, chip):
    # 5 layers, 2 + 2 + 2 + 2 + 1 = 9 parts on a 4x4 mesh: room for placement to matter
    return random_network(rng, [30, 60, 64, 40, 50, 10], chip.core, threshold=10, weight_range=(-20, 31))


def _hand_cost(program, layer_rate, input_rate):
    """Packet-hops per timestep from the program's routing tables alone (independent of placement.py)."""
    chip = program.chip
    cost = sum(input_rate * (r.src_hi - r.src_lo) * chip.hops(0, r.dest_core) for r in program.host_routes)
    for cp in program.cores:
        for r in cp.routes:
            cost += layer_rate[cp.stage] * (r.src_hi - r.src_lo) * chip.hops(cp.core, r.dest_core)
    return cost


def test_cost_matches_routing_tables_by_hand(chip4x4, rng):
    net = _deep_net(rng, chip4x4)
    rates = [0.3, 0.2, 0.15, 0.1, 0.25, 0.05]
    for method in ("anneal", "row_major", "greedy"):
        mapped = plan(net, chip4x4, method, rates=rates, seed=1)
        want = _hand_cost(mapped.program, rates[1:], rates[0])
        assert mapped.placement.cost == pytest.approx(want, rel=1e-12)


def test_cost_equals_hops_measured_by_golden_model(chip4x4, rng):
    """With calibration rates from a raster, expected packet-hops = mean hops counted by the golden model."""
    net = _deep_net(rng, chip4x4)
    rasters = random_raster(rng, 3, 5, 30, 0.4)
    mapped = plan(net, chip4x4, "anneal", rates=rasters, seed=4)
    res = simulate(mapped.program, rasters)
    measured = (res.counter("hops").sum() + res.host_counter("hops").sum()) / (3 * 5)
    assert measured > 0
    assert mapped.placement.cost == pytest.approx(measured, rel=1e-9)


def test_anneal_improves_over_row_major(chip4x4, rng):
    net = _deep_net(rng, chip4x4)
    rates = [0.3, 0.2, 0.15, 0.1, 0.25, 0.05]
    anneal = plan(net, chip4x4, "anneal", rates=rates, seed=0).placement
    row = plan(net, chip4x4, "row_major", rates=rates).placement
    assert row.cost == pytest.approx(anneal.cost_row_major)
    assert anneal.cost < 0.8 * row.cost  # measured: see docs/mapping.md
    assert anneal.to_dict()["improvement_vs_row_major_percent"] > 20


def test_anneal_finds_the_optimum_of_a_small_case(small_chip, rng):
    """Exhaustive search over all placements of 3 parts on a 2x2 mesh (24 permutations)."""
    net = random_network(rng, [20, 40, 6], small_chip.core)
    rates = [0.5, 0.3, 0.1]
    parts = partition(net, small_chip)
    t = traffic(net, parts, layer_rates(net, rates)[0])
    best = min(placement_cost(p, t, small_chip) for p in itertools.permutations(range(4), len(parts)))
    got = plan(net, small_chip, "anneal", rates=rates).placement.cost
    assert got == pytest.approx(best)


def test_anneal_never_worse_than_row_major(chip4x4):
    for seed in range(6):
        rng = np.random.default_rng(seed)
        sizes = [int(rng.integers(5, 64))] + [int(rng.integers(1, 64)) for _ in range(int(rng.integers(1, 5)))]
        net = random_network(rng, sizes, chip4x4.core)
        p = plan(net, chip4x4, "anneal", rates=list(rng.random(len(sizes))), seed=seed).placement
        assert p.cost <= p.cost_row_major + 1e-9


def test_deterministic_for_a_seed(chip4x4, rng):
    net = _deep_net(rng, chip4x4)
    rates = [0.3, 0.2, 0.15, 0.1, 0.25, 0.05]
    a = plan(net, chip4x4, "anneal", rates=rates, seed=7)
    b = plan(net, chip4x4, "anneal", rates=rates, seed=7)
    assert a.placement.cores == b.placement.cores
    assert a.placement.cost == b.placement.cost
    for x, y in zip(a.program.cores, b.program.cores):
        assert x.header() == y.header()


def test_row_major_is_layer_then_part_order(chip4x4, rng):
    net = _deep_net(rng, chip4x4)
    p = plan(net, chip4x4, "row_major").placement
    assert p.cores == tuple(range(9))
    assert [(q.layer, q.index) for q in p.parts] == [(k, i) for k in range(4) for i in range(2)] + [(4, 0)]


def test_xy_route_by_hand(default_chip):
    # 3x3 mesh: 0 1 2 / 3 4 5 / 6 7 8; X (along the row) first, then Y
    assert xy_route(default_chip, 0, 8) == [(0, 1), (1, 2), (2, 5), (5, 8)]
    assert xy_route(default_chip, 7, 3) == [(7, 6), (6, 3)]
    assert xy_route(default_chip, 4, 4) == []
    h = hop_matrix(default_chip)
    assert h[0, 8] == 4 and h[2, 6] == 4 and h[4, 1] == 1


def test_link_loads_sum_to_cost(chip4x4, rng):
    net = _deep_net(rng, chip4x4)
    p = plan(net, chip4x4, "anneal", rates=[0.3, 0.2, 0.15, 0.1, 0.25, 0.05]).placement
    load = link_traffic(p, chip4x4)
    assert sum(load.values()) == pytest.approx(p.cost)
    assert all(chip4x4.hops(a, b) == 1 for a, b in load)


def test_rates_forms(small_chip, rng):
    net = random_network(rng, [20, 10, 5], small_chip.core)
    per, src = layer_rates(net, None)
    assert [len(x) for x in per] == [20, 10, 5] and all((x == 1).all() for x in per) and "upper bound" in src
    per, _ = layer_rates(net, {"input": 0.5, "fc1": 0.25})
    assert [x[0] for x in per] == [0.5, 1.0, 0.25]
    with pytest.raises(MappingError, match="unknown layer name"):
        layer_rates(net, {"fc9": 0.1})
    with pytest.raises(MappingError, match="expected None, 3 numbers"):
        layer_rates(net, [0.1, 0.2])
    with pytest.raises(MappingError, match="spike probabilities >= 0"):
        layer_rates(net, [0.1, -0.2, 0.3])


def test_rates_from_run_equal_calibration(small_chip, rng):
    net = random_network(rng, [20, 40, 6], small_chip.core, threshold=10, weight_range=(-20, 31))
    rasters = random_raster(rng, 2, 6, 20, 0.4)
    mapped = plan(net, small_chip, "row_major")
    res = simulate(mapped.program, rasters)
    per, _ = layer_rates(net, rasters, small_chip.core.v_bits)
    assert rates_from_run(res, mapped.program) == pytest.approx([float(x.mean()) for x in per])

"""Mapping preserves meaning: mapped programs run on the golden model (and the engine, when present)
give the same spikes and membranes as the direct layer-by-layer simulation, for many shapes, splits and
placements; positional use, explicit placements and argument errors."""

import copy

import numpy as np
import pytest
from mapping_cases import assert_program_matches_network, part_table

from hwsim.config import load_chip_config
from hwsim.network import simulate_network
from hwsim.program import ChipProgram
from hwsim.testing import random_network, random_raster
from mapping import MappingError, map_network, plan
from mapping.mapper import map_network as map_network_from_module

SHAPES = [
    [10, 7],  # one core
    [40, 50, 20],  # hidden layer split in two (N = 32)
    [64, 32, 33, 64, 5],  # fan-in exactly A, splits of 2 parts, four stages
    [20, 40, 70],  # 2 parts multicast to a 3-part output layer
    [3, 1, 2, 1],  # tiny
]
MODES = [
    dict(integration="discontinuous", reset="subtract"),
    dict(integration="continuous", reset="zero", leak_shift=2),
    dict(integration="continuous", reset="subtract", fire_output=False),
    dict(integration="discontinuous", reset="zero", fire_output=False),
]


@pytest.fixture
def chip4x4(small_chip):
    return small_chip.replace(mesh_rows=4, mesh_cols=4)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("mode", range(len(MODES)))
@pytest.mark.parametrize("placement", ["anneal", "row_major", "greedy"])
def test_mapped_program_matches_simulate_network(chip4x4, shape, mode, placement):
    rng = np.random.default_rng([*shape, mode])
    # positive-leaning weights and a low threshold so hidden neurons fire and routes are exercised
    net = random_network(rng, shape, chip4x4.core, threshold=10, weight_range=(-20, 31), **MODES[mode])
    rasters = random_raster(rng, 2, 6, shape[0], 0.4)
    program = map_network(net, chip4x4, placement, seed=3, rates=rasters)
    hidden_spikes = assert_program_matches_network(program, net, rasters, chip4x4.core.v_bits)
    if len(shape) > 2:
        assert hidden_spikes > 0
    # every layer's parts tile its neurons
    parts = part_table(program)
    for k, layer in enumerate(net.layers):
        spans = sorted((p["lo"], p["size"]) for p in parts.values() if p["layer"] == k)
        assert spans[0][0] == 0 and sum(s for _, s in spans) == layer.n_out
        assert max(s for _, s in spans) <= chip4x4.core.neurons


def test_split_layer_on_default_chip_matches(default_chip, rng):
    """The seed-paper shape scaled down in neurons: 784 inputs, hidden layers split over 4 and 3 cores."""
    net = random_network(rng, [784, 1000, 600, 10], default_chip.core, weight_range=(-4, 4), threshold=8)
    rasters = random_raster(rng, 1, 3, 784, 0.05)
    program = map_network(net, default_chip, "anneal", seed=1)
    assert sorted(c.stage for c in program.cores) == [0] * 4 + [1] * 3 + [2]
    assert assert_program_matches_network(program, net, rasters, default_chip.core.v_bits) > 0


def test_engine_matches_golden_on_mapped_program(chip4x4, rng):
    chip_mod = pytest.importorskip("hwsim.chip", reason="engine hwsim.chip not in this build yet")
    net = random_network(rng, [40, 50, 20], chip4x4.core)
    rasters = random_raster(rng, 2, 5, 40, 0.4)
    program = map_network(net, chip4x4, seed=2)
    res = chip_mod.Chip.from_program(program).run(rasters)
    ref = simulate_network(net, rasters, chip4x4.core.v_bits)
    np.testing.assert_array_equal(res.output_spikes, ref[-1][1])
    np.testing.assert_array_equal(res.output_membranes, ref[-1][0])


def test_positional_signature_still_works(small_chip, rng):
    net = random_network(rng, [20, 30, 5], small_chip.core)
    program = map_network_from_module(net, small_chip)
    assert isinstance(program, ChipProgram)
    # default is the annealed placement with seed 0
    assert [c.core for c in program.cores] == list(plan(net, small_chip, "anneal", seed=0).placement.cores)


def test_chip_by_preset_name(rng, small_chip):
    net = random_network(rng, [20, 10], small_chip.core)
    assert map_network(net, "small").chip == load_chip_config("small")


def test_explicit_placement_list(chip4x4, rng):
    net = random_network(rng, [20, 40, 6], chip4x4.core)  # parts: 2 (20 + 20 neurons) + 1
    program = map_network(net, chip4x4, [15, 3, 12])
    assert {(c.core, c.stage) for c in program.cores} == {(15, 0), (3, 0), (12, 1)}
    assert [r.dest_core for r in program.host_routes] == [15, 3]
    assert {c.core: [(r.dest_core, r.src_lo, r.src_hi, r.axon_offset) for r in c.routes] for c in program.cores} == {
        15: [(12, 0, 20, 0)],
        3: [(12, 0, 20, 20)],
        12: [],
    }
    rasters = random_raster(rng, 1, 4, 20, 0.5)
    assert_program_matches_network(program, net, rasters, chip4x4.core.v_bits)


@pytest.mark.parametrize("bad", [[0, 1], [0, 1, 1], [0, 1, 16], [-1, 1, 2], [0, 1, 2, 3]])
def test_bad_placement_list_is_rejected(chip4x4, rng, bad):
    net = random_network(rng, [20, 40, 6], chip4x4.core)
    with pytest.raises(MappingError, match="placement must list 3 distinct cores"):
        map_network(net, chip4x4, bad)


def test_unknown_placement_method(small_chip, rng):
    net = random_network(rng, [20, 6], small_chip.core)
    with pytest.raises(MappingError, match="placement = 'best'"):
        map_network(net, small_chip, "best")


def test_network_never_modified(chip4x4, rng):
    net = random_network(rng, [40, 50, 20], chip4x4.core)
    before = copy.deepcopy(net)
    map_network(net, chip4x4, seed=5, rates=[0.3, 0.2, 0.1])
    for a, b in zip(net.layers, before.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert a.header() == b.header()
    assert net.metadata == before.metadata


def test_program_arrays_do_not_alias_the_network(small_chip, rng):
    net = random_network(rng, [20, 10], small_chip.core)
    program = map_network(net, small_chip)
    program.cores[0].weights[0, 0] += 1
    assert program.cores[0].weights[0, 0] != net.layers[0].weights[0, 0]


def test_saved_program_round_trips(tmp_path, chip4x4, rng):
    net = random_network(rng, [40, 50, 20], chip4x4.core)
    program = map_network(net, chip4x4, seed=1)
    loaded = ChipProgram.load(program.save(tmp_path / "p.npz"))
    rasters = random_raster(rng, 1, 4, 40, 0.4)
    assert_program_matches_network(loaded, net, rasters, chip4x4.core.v_bits)
    assert loaded.metadata["placement"]["parts"] == program.metadata["placement"]["parts"]

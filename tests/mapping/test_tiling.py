"""Tiling, receptive-field routing and partial-sum chains (mapping/tiling.py), checked against plain loops.

Expected values come from direct loops over kernels, windows and neurons, never from the tiling code:
a tile's axons are the inputs some neuron of it has a nonzero weight from (halo included), in ascending
order, one routing entry per run of consecutive inputs; a part with more inputs than a core's axons
becomes ``ceil(fan-in / A)`` cores of increasing stage on a chip with partial sums.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from mapping_cases import assert_program_matches_network, conv_loop

from hwsim.golden import simulate
from hwsim.network import Layer, Network, simulate_network
from hwsim.testing import random_network, random_raster
from mapping import DRCError, MappingError, check_drc, map_network, plan
from mapping.tiling import tile_candidates, tile_network


# --------------------------------------------------------------------------------------- helpers
def or_pool_loop(c: int, h: int, w: int) -> np.ndarray:
    """2x2 stride-2 window matrix, weights 1 (a max pool of binary spikes with threshold 1)."""
    m = np.zeros((c * h * w, c * (h // 2) * (w // 2)), np.int32)
    for ch, y, x in itertools.product(range(c), range(h), range(w)):
        m[(ch * h + y) * w + x, (ch * (h // 2) + y // 2) * (w // 2) + x // 2] = 1
    return m


def runs(values) -> int:
    """Number of maximal runs of consecutive integers in a sorted sequence."""
    values = list(values)
    return sum(1 for a, b in zip([None] + values, values) if a is None or b != a + 1)


def host_axons(program, core: int) -> np.ndarray:
    """Input index on each axon of ``core``, read from the host routing table."""
    cp = program.cores[program.index_of(core)]
    out = np.full(cp.n_axons, -1)
    for r in program.host_routes:
        if r.dest_core == core:
            out[r.axon_offset : r.axon_offset + r.src_hi - r.src_lo] = np.arange(r.src_lo, r.src_hi)
    return out


def conv_pool_net(rng, c_in=2, side=6, c_out=4, n_classes=5) -> Network:
    """Input c_in x side x side -> 3x3 'same' conv (shaped) -> 2x2 OR pool (shaped) -> dense readout."""
    kernel = rng.integers(-6, 10, size=(c_out, c_in, 3, 3))
    kernel[0, 1, 1, 1] = 0  # a zero weight inside the kernel: that input is still in the tile's field via others
    conv = conv_loop(kernel, side, side)
    half = side // 2
    return Network(
        layers=[
            Layer(weights=conv, bias=np.zeros(conv.shape[1], np.int32), threshold=8, leak_shift=0,
                  integration="discontinuous", reset="zero", fire=True, name="conv", shape=(c_out, side, side)),
            Layer(weights=or_pool_loop(c_out, side, side), bias=np.zeros(c_out * half * half, np.int32), threshold=1,
                  leak_shift=0, integration="discontinuous", reset="zero", fire=True, name="pool",
                  shape=(c_out, half, half)),
            Layer(weights=rng.integers(-8, 9, size=(c_out * half * half, n_classes)).astype(np.int32),
                  bias=np.zeros(n_classes, np.int32), threshold=6, leak_shift=1, integration="continuous",
                  reset="subtract", fire=True, name="fc"),
        ]
    )


@pytest.fixture
def chip4x4(small_chip):  # A = 64 axons, N = 32 neurons, no partial sums
    return small_chip.replace(mesh_rows=4, mesh_cols=4)


@pytest.fixture
def psum_chip(small_chip):
    return small_chip.replace(mesh_rows=4, mesh_cols=4, core=dataclasses.replace(small_chip.core, partial_sums=True))


# --------------------------------------------------------------------------------- receptive fields
def test_conv_tiles_get_their_receptive_field_and_run_exactly(chip4x4, rng):
    net = conv_pool_net(rng)
    assert net.layers[0].n_in == 72 > chip4x4.core.axons  # earlier versions refused this layer
    mapped = plan(net, chip4x4, seed=0)
    program, tiling = mapped.program, mapped.placement.tiling
    order = tiling.layers[0].order
    conv = net.layers[0].weights
    conv_cores = [(p, c) for p, c in zip(mapped.placement.parts, mapped.placement.cores) if p.layer == 0]
    covered = []
    for part, core in conv_cores:
        neurons = order[part.lo : part.lo + part.size]  # original (c, y, x) indices held by the core
        covered += neurons.tolist()
        # receptive field by a plain loop over the neurons' kernels: inputs with a nonzero weight
        field = sorted({i for j in neurons for i in range(conv.shape[0]) if conv[i, j] != 0})
        axons = host_axons(program, core)
        assert axons.tolist() == field  # halo included, ascending, nothing else
        assert sum(r.dest_core == core for r in program.host_routes) == runs(field)
        cp = program.cores[program.index_of(core)]
        np.testing.assert_array_equal(cp.weights, conv[np.ix_(field, neurons)])
        assert cp.n_neurons <= chip4x4.core.neurons and cp.n_axons <= chip4x4.core.axons
    assert sorted(covered) == list(range(net.layers[0].n_out))
    # the program computes the network: every core, membranes and spikes (no membrane saturates here)
    rasters = random_raster(rng, 2, 5, 72, 0.5)
    assert assert_program_matches_network(program, net, rasters, chip4x4.core.v_bits) > 0
    # the OR pool is the max of each 2x2 window of the conv's spikes (binary spikes)
    ref = simulate_network(net, rasters, chip4x4.core.v_bits)
    conv_spikes = ref[0][1].reshape(2, 5, 4, 3, 2, 3, 2)
    np.testing.assert_array_equal(ref[1][1], conv_spikes.max(axis=(4, 6)).reshape(2, 5, 36))


def test_tile_shape_needs_the_fewest_cores_then_axons(chip4x4, rng):
    net = conv_pool_net(rng)
    conv = net.layers[0].weights != 0
    c, h, w = net.layers[0].shape
    n_cap = chip4x4.core.neurons

    def fields(tc, th, tw):
        out = []
        for c0, y0, x0 in itertools.product(range(0, c, tc), range(0, h, th), range(0, w, tw)):
            cols = [(ch * h + y) * w + x for ch in range(c0, min(c0 + tc, c)) for y in range(y0, min(y0 + th, h))
                    for x in range(x0, min(x0 + tw, w))]
            out.append(int(conv[:, cols].any(axis=1).sum()))
        return out

    # every tile shape of any sides that fits N: the fewest tiles whose fields fit A
    fewest = min(len(f) for tc in range(1, c + 1) for th in range(1, h + 1) for tw in range(1, w + 1)
                 if tc * th * tw <= n_cap and max(f := fields(tc, th, tw)) <= chip4x4.core.axons)
    lt = tile_network(net, chip4x4).layers[0]
    assert len(lt.groups) == fewest == 6  # 144 neurons, N = 32: five cores would need tiles no grid gives
    chosen = fields(lt.tile.channels, lt.tile.rows, lt.tile.cols)
    assert sorted(chosen) == sorted(lt.receptive_fields)
    for t in tile_candidates((c, h, w), n_cap):  # among the shapes the rule considers, no fewer axons
        f = fields(t.channels, t.rows, t.cols)
        if len(f) == fewest and max(f) <= chip4x4.core.axons:
            assert sum(chosen) <= sum(f)


def test_output_layer_keeps_its_order(chip4x4, rng):
    net = conv_pool_net(rng)
    last = Layer(**{**{k: getattr(net.layers[2], k) for k in ("weights", "bias", "threshold", "leak_shift",
                                                                 "integration", "reset", "fire", "name")},
                    "shape": (5, 1, 1)})
    net = Network(layers=[*net.layers[:2], last])
    tiling = tile_network(net, chip4x4)
    assert tiling.layers[2].order is None and tiling.layers[0].order is not None
    # row i of the readout reads the pool neuron the tiling put at position i; its columns keep their order
    np.testing.assert_array_equal(tiling.network.layers[2].weights, net.layers[2].weights[tiling.layers[1].order])


# ---------------------------------------------------------------------------------- partial sums
def test_dense_fanin_beyond_a_core_becomes_a_chain(psum_chip, rng):
    net = random_network(rng, [100, 40, 10], psum_chip.core, threshold=12, weight_range=(-6, 9))
    mapped = plan(net, psum_chip, seed=1)
    prog = mapped.program
    a_cap = psum_chip.core.axons
    layer0 = [c for c in prog.cores if c.label.startswith("fc0")]
    # 40 neurons -> 2 parts of 20; each has fan-in 100 -> ceil(100 / 64) = 2 cores: a partial-sum and a neuron core
    assert len(layer0) == 4 and sum(c.psum_out for c in layer0) == 2
    for cp in layer0:
        assert cp.n_axons == 50 and cp.n_neurons == 20  # inputs split evenly: 50 + 50
        if cp.psum_out:
            (route,) = cp.routes
            nxt = prog.cores[prog.index_of(route.dest_core)]
            assert (route.src_lo, route.src_hi, route.axon_offset) == (0, 20, 0)
            assert not nxt.psum_out and nxt.stage == cp.stage + 1 and nxt.label.split(" ")[0] == cp.label.split(" ")[0]
            assert host_axons(prog, cp.core).tolist() == list(range(50))
            assert host_axons(prog, nxt.core).tolist() == list(range(50, 100))
    assert sorted(c.stage for c in prog.cores) == [0, 0, 1, 1, 2]  # fc1 (40 <= A inputs) follows at stage 2
    assert prog.psum_receivers() == {c.core for c in layer0 if not c.psum_out}
    assert 100 > a_cap
    rasters = random_raster(rng, 2, 6, 100, 0.3)
    assert assert_program_matches_network(prog, net, rasters, psum_chip.core.v_bits) > 0
    # psum packets are traffic: each partial-sum core has a flow to its neuron core
    flows = {(i, j) for i, j, _ in mapped.placement.traffic.flows}
    parts = mapped.placement.parts
    for i, p in enumerate(parts):
        if p.is_psum:
            assert (i, i + 1) in flows and parts[i + 1].member == p.member + 1


def test_conv_fanin_beyond_a_core_on_a_partial_sum_chip(psum_chip, rng):
    """8 input channels x 3x3 = 72 inputs per neuron > 64 axons: every tile is a chain; so is the dense readout."""
    kernel = rng.integers(-3, 4, size=(4, 8, 3, 3))
    conv = conv_loop(kernel, 5, 5)
    net = Network(layers=[
        Layer(weights=conv, bias=np.zeros(100, np.int32), threshold=6, leak_shift=0, integration="discontinuous",
              reset="zero", fire=True, name="conv", shape=(4, 5, 5)),
        Layer(weights=rng.integers(-4, 5, size=(100, 3)).astype(np.int32), bias=np.zeros(3, np.int32), threshold=5,
              leak_shift=0, integration="continuous", reset="subtract", fire=False, name="readout"),
    ])
    with pytest.raises(DRCError, match="fanin_le_axons"):
        check_drc(net, psum_chip.replace(core=dataclasses.replace(psum_chip.core, partial_sums=False)))
    assert "fanin_le_axons" in check_drc(net, psum_chip)  # listed as checked: there is no limit to break
    mapped = plan(net, psum_chip, seed=0)
    prog, tiling = mapped.program, mapped.placement.tiling
    a_cap = psum_chip.core.axons
    for part in mapped.placement.parts:
        if part.layer != 0 or part.member:
            continue
        neurons = tiling.layers[0].order[part.lo : part.lo + part.size]
        field = sorted({i for j in neurons for i in range(200) if conv[i, j] != 0})
        assert part.chain == -(-len(field) // a_cap)  # ceil(fan-in / A)
        chain = [c for p, c in zip(mapped.placement.parts, mapped.placement.cores)
                 if p.layer == 0 and p.index == part.index]
        got = np.concatenate([host_axons(prog, c) for c in chain])
        assert got.tolist() == field  # chain members take the field's inputs in ascending order
    stages = sorted({c.stage for c in prog.cores})
    readout = [c for c in prog.cores if c.label.startswith("readout")]
    assert len(readout) == 2 and max(c.stage for c in readout) == stages[-1]
    assert min(c.stage for c in readout) > max(c.stage for c in prog.cores if c.label.startswith("conv"))
    rasters = random_raster(rng, 2, 5, 200, 0.3)
    assert_program_matches_network(prog, net, rasters, psum_chip.core.v_bits)
    from hwsim.chip import Chip

    golden, res = simulate(prog, rasters), Chip.from_program(prog).run(rasters)  # the engine, cycle for cycle
    np.testing.assert_array_equal(res.output_membranes, golden.output_membranes)
    np.testing.assert_array_equal(res.counters, golden.counters)


def test_engine_runs_a_mapped_partial_sum_chain_like_the_golden_model(psum_chip, rng):
    from hwsim.chip import Chip

    net = random_network(rng, [100, 40, 10], psum_chip.core, threshold=12, weight_range=(-6, 9))
    prog = map_network(net, psum_chip, seed=1)
    rasters = random_raster(rng, 2, 6, 100, 0.3)
    golden = simulate(prog, rasters)
    res = Chip.from_program(prog).run(rasters)
    np.testing.assert_array_equal(res.output_spikes, golden.output_spikes)
    np.testing.assert_array_equal(res.output_membranes, golden.output_membranes)
    np.testing.assert_array_equal(res.counters, golden.counters)


# ------------------------------------------------------------------------- chips without partial sums
def test_sparse_flat_layer_beyond_a_core_is_split_by_fields(chip4x4, rng):
    """A flat layer with 100 inputs but 30 used per neuron fits a chip without partial sums, in greedy parts."""
    w = np.zeros((100, 8), np.int32)
    for j in range(8):
        w[10 * j : 10 * j + 30, j] = rng.integers(1, 5, size=30)
    net = Network(layers=[Layer(weights=w, bias=np.zeros(8, np.int32), threshold=20, leak_shift=0,
                                integration="discontinuous", reset="zero", fire=True, name="sparse")])
    prog = map_network(net, chip4x4, seed=0)
    # neurons 0..3 use inputs 0..59 (60 <= 64); adding neuron 4 needs 0..69: a new core; then 40..99 for 4..7
    assert sorted((c.output_offset, c.n_neurons, c.n_axons) for c in prog.cores) == [(0, 4, 60), (4, 4, 60)]
    rasters = random_raster(rng, 2, 4, 100, 0.5)
    assert_program_matches_network(prog, net, rasters, chip4x4.core.v_bits)


# ------------------------------------------------------------------------------------------ report
def test_map_command_reports_tiles_cores_axons_and_packets(tmp_path, rng, capsys):
    """``hwsim map`` of a conv network prints and saves the per-layer tiling; sums checked over the program's cores."""
    import json

    from hwsim.cli import main
    from hwsim.program import ChipProgram

    net = conv_pool_net(rng)
    src = tmp_path / "conv.npz"
    net.save(src)
    chip_toml = tmp_path / "chip.toml"
    chip_toml.write_text('name = "small4"\nmesh_rows = 4\nmesh_cols = 4\n[core]\naxons = 64\nneurons = 32\nlanes = 4\n'
                         "w_bits = 6\nv_bits = 12\n")
    out = tmp_path / "prog"
    assert main(["map", str(src), "--chip", str(chip_toml), "--rates", "uniform", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "## Tiles, receptive fields and partial sums" in text
    rep = json.loads((out / "mapping.json").read_text())
    program = ChipProgram.load(out / "program.npz")
    assert [L["name"] for L in rep["tiling"]] == ["conv", "pool", "fc"]
    for L in rep["tiling"]:
        cores = [c for c in program.cores if c.label.startswith(L["name"] + "[")]
        used = sum(c.n_axons for c in cores)
        assert L["cores"] == len(cores) and L["partial_sum_cores"] == 0
        assert L["axons_used"] == used and L["axons_idle"] == 64 * len(cores) - used
        assert L["weight_words_stored"] == sum(c.n_axons * c.n_neurons for c in cores)
        # uniform rates: every source spikes every timestep, one packet per axon that holds it
        assert L["packets_in_per_timestep"] == used
        row = f"| {L['index']} | {L['name']} |"
        assert row in text
    assert rep["tiling"][0]["tile"] is not None and rep["tiling"][2]["routing"] == "whole"


def test_report_counts_partial_sum_cores_and_packets(psum_chip, rng):
    from mapping.summary import build_report

    net = random_network(rng, [100, 40, 10], psum_chip.core, threshold=12, weight_range=(-6, 9))
    mapped = plan(net, psum_chip, seed=1)  # rates: upper bound
    L0 = build_report(mapped)["tiling"][0]
    psum_cores = [c for c in mapped.program.cores if c.psum_out]
    # a partial-sum core sends a packet per neuron that has any nonzero weight (every input spikes)
    psum_packets = sum(int((c.weights != 0).any(axis=0).sum()) for c in psum_cores)
    assert (L0["cores"], L0["partial_sum_cores"], L0["longest_chain"]) == (4, 2, 2)
    assert L0["axons_used"] == 200 and L0["partial_sum_packets_per_timestep"] == psum_packets
    assert L0["packets_in_per_timestep"] == 200 + psum_packets


# ------------------------------------------------------------------------------- branching graphs
def test_residual_graph_maps_with_stages_by_depth(psum_chip, rng):
    """A residual join (``res`` reads layers a and b) with fan-in 80 > 64 and a skip from the input to the output."""

    def layer(n_in, n_out, name, inputs=None):
        return Layer(weights=rng.integers(-5, 9, size=(n_in, n_out)).astype(np.int32), bias=np.zeros(n_out, np.int32),
                     threshold=10, leak_shift=0, integration="discontinuous", reset="zero", fire=True, name=name,
                     inputs=inputs)

    net = Network(layers=[layer(30, 40, "a"), layer(40, 40, "b"), layer(80, 20, "res", inputs=(0, 1)),
                          layer(50, 5, "out", inputs=(2, -1))])
    prog = map_network(net, psum_chip, seed=0)
    stage = {c.label: c.stage for c in prog.cores}
    # depth: a 0, b 1, res = max(a, b) + its chain of ceil(80 / 64) = 2 -> psum core 2, neuron core 3; out 4
    assert stage == {"a[0:20]": 0, "a[20:40]": 0, "b[0:20]": 1, "b[20:40]": 1, "res[0:20] psum 1/2": 2,
                     "res[0:20]": 3, "out[0:5]": 4}
    out_core = next(c.core for c in prog.cores if c.label == "out[0:5]")
    # the output core's axons: res's 20 neurons, then the 30 inputs from the host (sources in the order read)
    assert [(r.src_lo, r.src_hi, r.axon_offset) for r in prog.host_routes if r.dest_core == out_core] == [(0, 30, 20)]
    rasters = random_raster(rng, 2, 5, 30, 0.4)
    assert assert_program_matches_network(prog, net, rasters, psum_chip.core.v_bits) > 0


# ----------------------------------------------------------------------------------- design rules
def test_cores_rule_counts_partial_sum_cores(psum_chip, rng):
    """[200, 64, 5] on 2x2 cores: 3 cores by neurons pass the size rule, but layer 0 needs 2 parts x 4-core
    chains (ceil(200 / 64) = 4): the tiling refuses with cores_le_chip_cores, counting them."""
    chip = psum_chip.replace(mesh_rows=2, mesh_cols=2)
    net = random_network(rng, [200, 64, 5], chip.core, weight_range=(1, 5))
    assert "cores_le_chip_cores" in check_drc(net, chip)
    with pytest.raises(DRCError, match=r"needs 9 cores \(8\+1 per layer\); the chip has 4 cores") as info:
        map_network(net, chip)
    assert info.value.rule == "cores_le_chip_cores"


def test_fanin_rule_only_on_chips_without_partial_sums(chip4x4, psum_chip, rng):
    net = random_network(rng, [65, 10], chip4x4.core, weight_range=(1, 5))  # every weight nonzero: fan-in 65
    with pytest.raises(DRCError, match="needs fan-in 65; the chip has 64 axons per core .chip small has no partial "
                                       "sums across cores; presets with partial sums: mesh8x8_28nm, mesh16x16_28nm"):
        check_drc(net, chip4x4)
    assert "fanin_le_axons" in check_drc(net, psum_chip)
    prog = map_network(net, psum_chip)
    assert sorted((c.psum_out, c.n_axons) for c in prog.cores) == [(False, 32), (True, 33)]  # 65 = 33 + 32


def test_layer_firing_rates_leave_partial_sum_cores_out(psum_chip, rng):
    """hwsim.report's per-layer firing rate of a chained layer: its neurons' spikes over its neurons, not over the
    partial-sum cores too (whose fire = 0 would also mark the layer as a membrane readout)."""
    from hwsim.report.model import layer_firing_rates

    net = random_network(rng, [100, 40, 10], psum_chip.core, threshold=12, weight_range=(-6, 9))
    prog = map_network(net, psum_chip, seed=1)
    rasters = random_raster(rng, 2, 6, 100, 0.3)
    ref = simulate_network(net, rasters, psum_chip.core.v_bits)
    rates = layer_firing_rates(simulate(prog, rasters), prog)
    assert rates["fc0"] == pytest.approx(ref[0][1].mean()) and rates["fc0"] > 0
    assert rates["fc1"] == pytest.approx(ref[1][1].mean())


# ---------------------------------------------------------------------------------- random conv nets
CONVS = [  # (input C, H, W), (C_out, k, stride, padding, dilation, groups), partial sums
    ((3, 7, 7), (5, 3, 1, 1, 1, 1), False),
    ((4, 9, 8), (6, 3, 2, 1, 1, 2), False),
    ((2, 8, 8), (3, 3, 1, 2, 2, 1), True),
    ((8, 6, 6), (4, 3, 1, 1, 1, 1), True),  # fan-in 72 > 64: chains
    ((3, 8, 8), (4, 5, 1, 2, 1, 1), True),  # fan-in 75 > 64: chains
]


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_random_conv_networks_run_exactly(small_chip, case):
    from mapping.unroll import conv2d_matrix, pool2d_matrix

    (c, h, w), (co, k, s, p, d, g), psum = CONVS[case]
    chip = small_chip.replace(mesh_rows=6, mesh_cols=6, core=dataclasses.replace(small_chip.core, partial_sums=psum))
    rng = np.random.default_rng(case)
    m, shape = conv2d_matrix(rng.integers(-4, 7, size=(co, c // g, k, k)), (c, h, w), s, p, d, g)
    conv = m.toarray().astype(np.int32)
    pm, pshape = pool2d_matrix("sum", shape, 2, 2, 0)
    pool = pm.toarray().astype(np.int32)
    net = Network(layers=[
        Layer(weights=conv, bias=rng.integers(-2, 3, size=conv.shape[1]).astype(np.int32), threshold=6, leak_shift=1,
              integration="continuous", reset="subtract", fire=True, name="conv", shape=shape),
        Layer(weights=pool, bias=np.zeros(pool.shape[1], np.int32), threshold=2, leak_shift=0,
              integration="discontinuous", reset="zero", fire=True, name="pool", shape=pshape),
        Layer(weights=rng.integers(-5, 6, size=(pool.shape[1], 4)).astype(np.int32), bias=np.zeros(4, np.int32),
              threshold=4, leak_shift=0, integration="continuous", reset="zero", fire=False, name="out"),
    ])
    mapped = plan(net, chip, ("anneal", "greedy", "row_major")[case % 3], seed=case)
    assert any(p.chain > 1 for p in mapped.placement.parts) == (case >= 3)
    # every conv neuron the pool reads is on a core; a tile that holds none of them gets no core
    lt, read = mapped.placement.tiling.layers[0], (pool != 0).any(axis=1)
    held = np.zeros(conv.shape[1], bool)
    for p in mapped.placement.parts:
        if p.layer == 0 and not p.is_psum:
            held[lt.order[p.lo : p.lo + p.size]] = True
    assert not (read & ~held).any()
    for g in lt.unread:
        lo, size = lt.groups[g]
        assert not read[lt.order[lo : lo + size]].any()
    if case == 0:  # 7x7 under 2x2 stride-2 pooling: row and column 6 are never read
        assert lt.unread and not held.reshape(5, 7, 7)[:, 6, 6].any()
    rasters = random_raster(rng, 2, 6, c * h * w, 0.4)
    assert assert_program_matches_network(mapped.program, net, rasters, chip.core.v_bits) > 0
    # calibrated rates: the predicted packet-hops equal the hops the golden model counts (chip-spec §2.5)
    calibrated = plan(net, chip, "anneal", seed=case, rates=rasters)
    res = simulate(calibrated.program, rasters)
    hops = (res.counter("hops").sum() + res.host_counter("hops").sum()) / (rasters.shape[0] * rasters.shape[1])
    if case < 3:
        assert calibrated.placement.cost == pytest.approx(hops, rel=1e-9)
    else:  # a partial sum is predicted sent when some input reaches the neuron: an upper bound
        assert calibrated.placement.cost >= hops - 1e-9


def test_tile_figure_draws_a_tiled_layer_only(chip4x4, rng, tmp_path):
    from mapping.tile_figure import plot_layer_tiles

    mapped = plan(conv_pool_net(rng), chip4x4, seed=0)
    data = plot_layer_tiles(mapped, 0, tmp_path / "tiles.png")
    assert data.startswith(b"\x89PNG") and (tmp_path / "tiles.png").read_bytes() == data
    with pytest.raises(MappingError, match=r"layer 2 .fc. is not a tiled \(shaped\) layer; tiled layers: \[0, 1\]"):
        plot_layer_tiles(mapped, 2)

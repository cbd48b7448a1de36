"""Layers with sparse (CSC) weights through the mapper: the same programs as the dense layers, no densifying.

Expected values: the program the mapper builds from the same layers with dense weights (itself checked
against plain loops in test_tiling.py), the golden model and simulate_network on the dense network.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from mapping_cases import assert_program_matches_network, conv_loop

from hwsim.chip import Chip
from hwsim.golden import simulate
from hwsim.network import Layer, Network, simulate_network
from hwsim.testing import random_raster
from mapping import check_drc, map_network, plan
from mapping.tiling import tile_network


def sparse_copy(net: Network) -> Network:
    return Network([dataclasses.replace(layer, weights=sp.csr_array(layer.weights)) for layer in net.layers],
                   dict(net.metadata))


def conv_residual_net(rng, c_in=8, side=5, c=4) -> Network:
    """conv (fan-in 72 > 64 axons) -> conv -> residual add of (conv2, conv1) with identity skip -> readout."""
    n = c * side * side
    conv1 = conv_loop(rng.integers(-3, 4, size=(c, c_in, 3, 3)), side, side)
    conv2 = conv_loop(rng.integers(-3, 4, size=(c, c, 3, 3)), side, side)
    add = np.vstack([np.eye(n, dtype=np.int32) * 2, np.eye(n, dtype=np.int32) * 3])  # branch, then identity skip
    regs = dict(leak_shift=0, integration="discontinuous", reset="zero", fire=True)
    return Network(layers=[
        Layer(weights=conv1, bias=np.zeros(n, np.int32), threshold=6, name="conv1", shape=(c, side, side), **regs),
        Layer(weights=conv2, bias=np.zeros(n, np.int32), threshold=4, name="conv2", shape=(c, side, side), **regs),
        Layer(weights=add, bias=np.zeros(n, np.int32), threshold=3, name="add", shape=(c, side, side), inputs=(1, 0),
              **regs),
        Layer(weights=rng.integers(-4, 5, size=(n, 3)).astype(np.int32), bias=np.zeros(3, np.int32), threshold=5,
              leak_shift=0, integration="continuous", reset="subtract", fire=False, name="readout"),
    ])


@pytest.fixture
def psum_chip(small_chip):  # A = 64 axons, N = 32 neurons, partial sums
    return small_chip.replace(mesh_rows=6, mesh_cols=6, core=dataclasses.replace(small_chip.core, partial_sums=True))


def assert_same_program(a, b) -> None:
    assert json.dumps(a.header(), sort_keys=True) == json.dumps(b.header(), sort_keys=True)
    assert len(a.cores) == len(b.cores)
    for ca, cb in zip(a.cores, b.cores):
        assert ca.weights.dtype == cb.weights.dtype
        np.testing.assert_array_equal(ca.weights, cb.weights)
        np.testing.assert_array_equal(ca.bias, cb.bias)


def test_sparse_conv_residual_net_maps_to_the_dense_program_and_runs_exactly(psum_chip, rng):
    dense = conv_residual_net(rng)
    sparse = sparse_copy(dense)
    assert all(layer.is_sparse for layer in sparse.layers)
    assert check_drc(sparse, psum_chip) == check_drc(dense, psum_chip)
    mapped_dense, mapped_sparse = plan(dense, psum_chip, seed=0), plan(sparse, psum_chip, seed=0)
    assert mapped_sparse.placement.cores == mapped_dense.placement.cores
    assert any(c.psum_out for c in mapped_sparse.program.cores)  # the 72-input tiles are partial-sum chains
    assert_same_program(mapped_sparse.program, mapped_dense.program)
    rasters = random_raster(rng, 2, 5, dense.n_inputs, 0.4)
    # the golden model equals simulate_network of the dense network on every core (no saturation here)
    assert assert_program_matches_network(mapped_sparse.program, dense, rasters, psum_chip.core.v_bits) > 0
    ref = simulate_network(sparse, rasters, psum_chip.core.v_bits)
    golden = simulate(mapped_sparse.program, rasters)
    res = Chip.from_program(mapped_sparse.program).run(rasters)
    np.testing.assert_array_equal(golden.output_membranes, ref[-1][0])
    np.testing.assert_array_equal(res.output_membranes, golden.output_membranes)
    np.testing.assert_array_equal(res.counters, golden.counters)


def test_sparse_flat_layer_on_a_chip_without_partial_sums_gets_the_dense_groups(small_chip, rng):
    chip = small_chip.replace(mesh_rows=4, mesh_cols=4)
    w = np.zeros((100, 8), np.int32)
    for j in range(8):
        w[10 * j : 10 * j + 30, j] = rng.integers(1, 5, size=30)
    dense = Network(layers=[Layer(weights=w, bias=np.zeros(8, np.int32), threshold=20, leak_shift=0,
                                  integration="discontinuous", reset="zero", fire=True, name="flat")])
    prog = map_network(sparse_copy(dense), chip, seed=0)
    assert_same_program(prog, map_network(dense, chip, seed=0))
    # by hand: neurons 0..3 read inputs 0..59; neuron 4 would widen that to 70 > 64 axons
    assert sorted((c.output_offset, c.n_neurons, c.n_axons) for c in prog.cores) == [(0, 4, 60), (4, 4, 60)]


def conv_coo(c_in: int, c_out: int, side: int, rng) -> sp.csc_array:
    """A 'same' 3x3 convolution as a sparse matrix built from coordinates (never dense)."""
    rows, cols = [], []
    y, x = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    for co, ci, ky, kx in itertools.product(range(c_out), range(c_in), range(3), range(3)):
        iy, ix = y + ky - 1, x + kx - 1
        ok = (iy >= 0) & (iy < side) & (ix >= 0) & (ix < side)
        rows.append(((ci * side + iy) * side + ix)[ok])
        cols.append(((co * side + y) * side + x)[ok])
    r, c = np.concatenate(rows), np.concatenate(cols)
    data = rng.integers(1, 8, size=r.size).astype(np.int8)
    return sp.csc_array((data, (r, c)), shape=(c_in * side * side, c_out * side * side))


def test_tiling_a_large_sparse_conv_never_builds_its_dense_matrix(rng):
    """16 x 40 x 40 -> 16 x 40 x 40: the dense matrix would be 25,600^2 = 655 M entries; the tiling stays small."""
    from hwsim.config import load_chip_config

    chip = load_chip_config("mesh16x16_28nm")
    side, ch = 40, 16
    conv = conv_coo(ch, ch, side, rng)
    n = ch * side * side
    net = Network(layers=[
        Layer(weights=conv, bias=np.zeros(n, np.int32), threshold=20, leak_shift=0, integration="discontinuous",
              reset="zero", fire=True, name="conv", shape=(ch, side, side)),
        Layer(weights=sp.csc_array((np.ones(n, np.int8), (np.arange(n), np.arange(n) % 10)), shape=(n, 10)),
              bias=np.zeros(10, np.int32), threshold=50, leak_shift=0, integration="continuous", reset="zero",
              fire=False, name="readout"),
    ])
    tracemalloc.start()
    try:
        tiling = tile_network(net, chip)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 150e6  # bytes; a dense boolean copy of the layer alone is 655e6
    conv_parts = [p for p in tiling.parts if p.layer == 0 and not p.is_psum]
    assert sum(p.size for p in conv_parts) == n
    # every tile's axons are its neurons' 3x3 windows over all 16 input channels, by the loop over neurons
    dense_cols = conv.tocsc()
    order = tiling.layers[0].order
    for p in conv_parts[:3]:
        field = np.unique(np.concatenate([dense_cols.indices[dense_cols.indptr[j]:dense_cols.indptr[j + 1]]
                                          for j in order[p.lo : p.lo + p.size]]))
        assert tiling.layers[0].receptive_fields[p.index] == field.size


@pytest.mark.parametrize("collide", [False, True])
def test_sparse_receptive_fields_equal_the_dense_bit_rows(rng, monkeypatch, collide):
    """Field sizes from distinct column patterns equal the packed-bit unions of the dense path, for any grouping.

    ``collide``: every row hashes to 0, so unequal columns share a signature; the entry-by-entry check must
    notice and fall back to one pattern per column.
    """
    from mapping import tiling

    real_blocks = tiling._column_blocks  # blocks of at most 3 entries: the block-by-block passes meet their seams
    monkeypatch.setattr(tiling, "_column_blocks", lambda indptr: real_blocks(indptr, budget=3))
    if collide:
        class ZeroKeys:
            def integers(self, lo, hi, size, dtype):
                return np.zeros(size, dtype)

        monkeypatch.setattr(tiling.np.random, "default_rng", lambda seed: ZeroKeys())
    for _ in range(150):
        n_in, n_out = (int(v) for v in rng.integers(1, 30, size=2))
        w = (rng.random((n_in, n_out)) < rng.random()).astype(np.int8)
        if n_out > 3:
            w[:, : n_out // 2] = w[:, n_out - n_out // 2 :]  # repeated columns, as the channels of a conv
        order = rng.permutation(n_out) if rng.random() < 0.5 else None
        cuts = sorted(set(rng.integers(1, n_out, size=3).tolist())) if n_out > 1 else []
        bounds = [0, *cuts, n_out]
        groups = [(a, z - a) for a, z in zip(bounds[:-1], bounds[1:])]
        got = tiling.sparse_receptive_field_sizes(sp.csc_array(w), order, groups, budget=int(rng.integers(1, 100)))
        cols = np.arange(n_out) if order is None else order
        want = [int(w[:, cols[lo : lo + size]].any(axis=1).sum()) for lo, size in groups]
        assert got.tolist() == want


def test_map_command_on_a_sparse_network_file_writes_the_dense_program_and_report(psum_chip, rng, tmp_path, capsys):
    """``hwsim map`` of a saved sparse network: the same program and mapping report as the dense network's file."""
    from hwsim.cli import main
    from hwsim.program import ChipProgram

    dense = conv_residual_net(rng)
    chip_toml = tmp_path / "chip.toml"
    chip_toml.write_text('name = "small6"\nmesh_rows = 6\nmesh_cols = 6\n[core]\naxons = 64\nneurons = 32\n'
                         "lanes = 4\nw_bits = 6\nv_bits = 12\npartial_sums = true\n")
    outputs = {}
    for kind, net in (("dense", dense), ("sparse", sparse_copy(dense))):
        src = net.save(tmp_path / f"{kind}.npz")
        assert main(["map", str(src), "--chip", str(chip_toml), "--rates", "uniform", "-o", str(tmp_path / kind)]) == 0
        outputs[kind] = (ChipProgram.load(tmp_path / kind / "program.npz"),
                         json.loads((tmp_path / kind / "mapping.json").read_text()))
    capsys.readouterr()
    assert_same_program(outputs["sparse"][0], outputs["dense"][0])
    assert outputs["sparse"][1] == outputs["dense"][1]
    assert [layer["nonzero_synapses"] for layer in outputs["sparse"][1]["network"]["layers"]] == [
        int(np.count_nonzero(layer.weights)) for layer in dense.layers]

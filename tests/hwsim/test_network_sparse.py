"""Sparse (CSC) layer weights in hwsim.network: same results as the dense layer, safe files.

Expected values come from the same layer with dense weights (the format the rest of the suite checks
against plain loops) and from the plain per-addition loop written out here.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

from hwsim.errors import InputError
from hwsim.network import Layer, Network, NetworkFileError, simulate_network, simulate_network_reference


def sparse_dense_pair(rng, sizes=(60, 40, 12), density=0.3, wmax=90):
    """Two copies of one random network, dense and sparse; rails are reached at v_bits = 8."""
    dense_layers, sparse_layers = [], []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(-wmax, wmax + 1, size=(n_in, n_out)).astype(np.int16)
        w[rng.random(w.shape) > density] = 0
        bias = rng.integers(-5, 6, size=n_out).astype(np.int32)
        last = k == len(sizes) - 2
        regs = dict(threshold=70, leak_shift=0, integration="continuous", reset="subtract", fire=not last)
        dense_layers.append(Layer(weights=w, bias=bias, name=f"l{k}", **regs))
        sparse_layers.append(Layer(weights=sp.coo_array(w), bias=bias, name=f"l{k}", **regs))
    meta = {"w_bits": 8, "v_bits": 8}
    return Network(dense_layers, dict(meta)), Network(sparse_layers, dict(meta))


def loop_layer(w: np.ndarray, spikes: np.ndarray, v_bits: int) -> np.ndarray:
    """Membranes of a fire=False continuous layer (leak 0, bias 0) by one saturating addition at a time."""
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    T = spikes.shape[0]
    v = [0] * w.shape[1]
    out = np.zeros((T, w.shape[1]), np.int64)
    for t in range(T):
        for a in range(w.shape[0]):
            if spikes[t, a]:
                v = [min(hi, max(lo, v[j] + int(w[a, j]))) for j in range(w.shape[1])]
        out[t] = v
    return out


def test_sparse_layer_is_canonical_csc(rng):
    w = np.array([[0, 3], [5, 0], [0, 0]], np.int8)
    coo = sp.coo_array((np.array([2, 1, 5, 0], np.int8), (np.array([0, 0, 1, 2]), np.array([1, 1, 0, 0]))),
                       shape=(3, 2))  # a duplicate (summed) and a stored zero (dropped)
    layer = Layer(weights=coo, bias=np.zeros(2, np.int32), threshold=1, leak_shift=0, integration="continuous",
                  reset="zero", fire=True)
    assert layer.is_sparse and layer.weights.format == "csc" and layer.weights.nnz == 2
    np.testing.assert_array_equal(layer.weights.toarray(), w)
    assert (layer.n_in, layer.n_out) == (3, 2)
    assert layer.nonzero_rows(0, 1).tolist() == [1] and layer.nonzero_rows(0, 2).tolist() == [0, 1]
    np.testing.assert_array_equal(layer.weight_block(np.array([1, 0]), 0, 2), w[[1, 0]])
    assert "weights" not in Layer(weights=w, bias=np.zeros(2, np.int32), threshold=1, leak_shift=0,
                                  integration="continuous", reset="zero", fire=True).header()


@pytest.mark.parametrize("v_bits", [8, 16])
def test_sparse_network_simulates_exactly_like_dense(rng, v_bits):
    dense, sparse = sparse_dense_pair(rng)
    rasters = (rng.random((3, 7, 60)) < 0.5).astype(np.uint8)
    want = simulate_network(dense, rasters, v_bits)
    for got in (simulate_network(sparse, rasters, v_bits), simulate_network_reference(sparse, rasters, v_bits)):
        for (m0, s0), (m1, s1) in zip(want, got):
            np.testing.assert_array_equal(m1, m0)
            np.testing.assert_array_equal(s1, s0)
    assert want[0][1].any()  # the hidden layer spikes, so the second layer's inputs are exercised
    if v_bits == 8:  # the readout reaches a rail: the saturation replay ran
        assert np.abs(want[1][0]).max() >= 127


def test_sparse_saturation_is_replayed_in_axon_order(rng):
    # weights 100 then -100 on 8-bit membranes: the order of additions decides the value (127 - 100 = 27, not 0)
    w = np.zeros((4, 3), np.int16)
    w[0] = [100, -100, 60]
    w[1] = [100, -100, 60]
    w[2] = [-100, 100, -60]
    w[3] = [7, 0, 0]
    layer = Layer(weights=sp.csr_array(w), bias=np.zeros(3, np.int32), threshold=0, leak_shift=0,
                  integration="continuous", reset="zero", fire=False)
    net = Network([layer], {})
    spikes = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 0]], np.uint8)
    expected = loop_layer(w, spikes, 8)
    # by hand: 100 -> 127 (rail) -> 27 -> 34; -100 -> -128 (rail) -> -28; 60 -> 120 -> 60 (no rail)
    assert expected[0].tolist() == [34, -28, 60]
    for sim in (simulate_network, simulate_network_reference):
        mem, _ = sim(net, spikes, 8)[0]
        np.testing.assert_array_equal(mem[0], expected)


def test_sparse_network_file_round_trip(rng, tmp_path):
    dense, sparse = sparse_dense_pair(rng)
    sparse.layers[0].shape = (10, 2, 2)  # shapes and inputs travel with sparse weights too
    loaded = Network.load(sparse.save(tmp_path / "s.npz"))
    for a, b in zip(sparse.layers, loaded.layers):
        assert b.is_sparse
        assert b.header() == a.header() and b.header()["weights"] == "csc"
        np.testing.assert_array_equal(b.weights.toarray(), a.weights.toarray())
        np.testing.assert_array_equal(b.bias, a.bias)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert "weights_0" not in z.files
        assert {"weights_0_data", "weights_0_indices", "weights_0_indptr"} <= set(z.files)
    # dense files carry no sparse key and load dense
    reloaded = Network.load(dense.save(tmp_path / "d.npz"))
    assert not reloaded.layers[0].is_sparse and "weights" not in reloaded.layers[0].header()


def _tamper(tmp_path, net, change):
    """Save ``net``, apply ``change(arrays, header)`` and write the archive back."""
    import json

    path = net.save(tmp_path / "n.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    change(arrays, header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    return bad


@pytest.mark.parametrize("change, message", [
    (lambda a, h: a.pop("weights_0_indices"), "missing array weights_0_indices"),
    (lambda a, h: h["layers"][0].update(weights="csr"), "weights = 'csr'; allowed 'csc'"),
    (lambda a, h: h["layers"][0].pop("n_in"), "missing n_in"),
    (lambda a, h: a.__setitem__("weights_0", np.zeros((60, 40), np.int8)), "both a dense array weights_0"),
    (lambda a, h: a.__setitem__("weights_0_data", a["weights_0_data"].astype(np.float32)), "1-D integer array"),
    (lambda a, h: a.__setitem__("weights_0_indices", a["weights_0_indices"][:-1]), "one row index per weight"),
    (lambda a, h: a.__setitem__("weights_0_indptr", a["weights_0_indptr"][:-1]), "expected n_out + 1 = 41"),
    (lambda a, h: a["weights_0_indptr"].__setitem__(5, a["weights_0_indptr"][7]), "without going down"),
    (lambda a, h: a["weights_0_indices"].__setitem__(0, 60), "holds row 60; allowed 0..59"),
    (lambda a, h: a["weights_0_indices"].__setitem__(0, -1), "holds row -1"),
    (lambda a, h: a["weights_0_indices"].__setitem__(1, a["weights_0_indices"][0]), "not strictly ascending"),
    (lambda a, h: a["weights_0_data"].__setitem__(0, 40000), "weight value 40000 out of range"),
])
def test_malformed_sparse_arrays_are_refused(rng, tmp_path, change, message):
    _, sparse = sparse_dense_pair(rng)
    if "40000" in message:  # int16 data cannot hold the bad value
        sparse.layers[0].weights = sp.csc_array(sparse.layers[0].weights.astype(np.int32))
    bad = _tamper(tmp_path, sparse, change)
    with pytest.raises(NetworkFileError, match=re.escape(message)) as info:
        Network.load(bad)
    assert str(bad) in str(info.value)


def test_sparse_weights_must_be_integers_in_range():
    with pytest.raises(InputError, match="weights must be integers"):
        Layer(weights=sp.csc_array(np.ones((2, 2))), bias=np.zeros(2, np.int32), threshold=1, leak_shift=0,
              integration="continuous", reset="zero", fire=True)
    with pytest.raises(InputError, match="weight value 70000 out of range"):
        Layer(weights=sp.csc_array(np.array([[70000, 0]])), bias=np.zeros(2, np.int32), threshold=1, leak_shift=0,
              integration="continuous", reset="zero", fire=True)


def test_sparse_blocks_equal_the_dense_slices(rng):
    """One core's share (any rows, any order, a neuron range) and a receptive field, against NumPy slicing."""
    for _ in range(100):
        n_in, n_out = (int(v) for v in rng.integers(1, 25, size=2))
        w = rng.integers(-5, 6, size=(n_in, n_out)).astype(np.int8)
        w[rng.random(w.shape) < 0.6] = 0
        layer = Layer(weights=sp.csc_array(w), bias=np.zeros(n_out, np.int32), threshold=1, leak_shift=0,
                      integration="continuous", reset="zero", fire=True)
        lo = int(rng.integers(0, n_out))
        hi = int(rng.integers(lo, n_out + 1))
        rows = rng.permutation(n_in)[: int(rng.integers(0, n_in + 1))]
        if rng.random() < 0.5:
            rows = np.sort(rows)
        block = layer.weight_block(rows, lo, hi)
        assert block.dtype == w.dtype
        np.testing.assert_array_equal(block, w[rows][:, lo:hi])
        assert layer.nonzero_rows(lo, hi).tolist() == [i for i in range(n_in) if w[i, lo:hi].any()]


# ----------------------------------------------------------------------------- size limits of sparse files
# A sparse layer's file arrays hold one entry per stored weight; the readers allow them MAX_SPARSE_WEIGHTS
# entries (a CIFAR-size conv layer has 139 M kernel taps) where any other array gets MAX_ARRAY_ELEMENTS.


def _one_layer(weights) -> Network:
    n_out = weights.shape[1]
    return Network([Layer(weights=weights, bias=np.zeros(n_out, np.int32), threshold=1, leak_shift=0,
                          integration="discontinuous", reset="zero", fire=True, name="big")])


def _declared(tmp_path, member: str, count: int, dtype: str = "<i4"):
    """A saved sparse network whose ``member`` declares ``count`` elements (and holds none)."""
    from hwsim.testing import npy_declaring, rewrite_npz_members

    path = _one_layer(sp.csc_array(np.eye(3, dtype=np.int8))).save(tmp_path / "n.npz")
    return rewrite_npz_members(path, tmp_path / "declared.npz", {member: npy_declaring((count,), dtype)})


@pytest.mark.parametrize("member", ["weights_0_data", "weights_0_indices"])
def test_stored_weights_beyond_the_array_limit_pass_the_size_check(tmp_path, member):
    """MAX_ARRAY_ELEMENTS + 1 stored weights are not refused for their number: the member declaring them
    (and holding no data) is read, and fails only as the truncated array it is."""
    from hwsim.limits import MAX_ARRAY_ELEMENTS

    bad = _declared(tmp_path, member, MAX_ARRAY_ELEMENTS + 1, "|i1")
    with pytest.raises(NetworkFileError, match="corrupt archive") as info:
        Network.load(bad)
    assert "allowed at most" not in str(info.value)


@pytest.mark.parametrize("member", ["weights_0_data", "weights_0_indices"])
def test_stored_weights_beyond_the_sparse_limit_are_refused_from_the_header(tmp_path, member):
    from hwsim.limits import MAX_SPARSE_WEIGHTS

    bad = _declared(tmp_path, member, MAX_SPARSE_WEIGHTS + 1, "|i1")
    with pytest.raises(NetworkFileError, match=re.escape(
            f"member '{member}.npy' declares shape ({MAX_SPARSE_WEIGHTS + 1},); allowed at most "
            f"{MAX_SPARSE_WEIGHTS} elements per sparse layer")):
        Network.load(bad)


@pytest.mark.parametrize("member", ["weights_0_indptr", "weights_0", "bias_0", "weights_0_data_x", "xweights_0_data"])
def test_other_members_keep_the_array_limit(tmp_path, member):
    """indptr (one entry per neuron), dense weights, biases and any other name: MAX_ARRAY_ELEMENTS."""
    from hwsim.limits import MAX_ARRAY_ELEMENTS

    bad = _declared(tmp_path, member, MAX_ARRAY_ELEMENTS + 1, "|i1")
    with pytest.raises(NetworkFileError, match=re.escape(
            f"declares shape ({MAX_ARRAY_ELEMENTS + 1},); allowed at most {MAX_ARRAY_ELEMENTS} elements per array")):
        Network.load(bad)


@pytest.mark.slow
def test_a_layer_with_more_stored_weights_than_the_array_limit_round_trips(tmp_path):
    """A real file: 4096 inputs x 16,385 neurons, every synapse stored (MAX_ARRAY_ELEMENTS + 4096 weights;
    the CIFAR VGG's conv layers hold 69 M to 139 M). About 1.7 GB of memory and seconds to save and load."""
    from hwsim.limits import MAX_ARRAY_ELEMENTS

    n_in = 4096
    n_out = MAX_ARRAY_ELEMENTS // n_in + 1
    indices = np.tile(np.arange(n_in, dtype=np.int32), n_out)
    data = np.ones(indices.size, np.int8)
    data[::7] = -3
    indptr = np.arange(0, n_in * (n_out + 1), n_in, dtype=np.int32)
    net = _one_layer(sp.csc_array((data, indices, indptr), shape=(n_in, n_out)))
    assert net.layers[0].weights.nnz > MAX_ARRAY_ELEMENTS
    loaded = Network.load(net.save(tmp_path / "big.npz")).layers[0]
    assert loaded.is_sparse and loaded.weights.shape == (n_in, n_out)
    np.testing.assert_array_equal(loaded.weights.indptr, indptr)
    np.testing.assert_array_equal(loaded.weights.indices, indices)
    np.testing.assert_array_equal(loaded.weights.data, data)

"""NIR export that keeps convolutions: Conv2d / SumPool2d nodes, found exactly in the layers' weights.

Expected values come from elsewhere than the code under test: kernels are drawn here and unrolled with
``mapping.unroll`` (the import's own unroller, written independently of ``mapping.conv_structure``); the
NIR files are read back with the ``nir`` package and with ``h5py``; chip results come from the engine
and from ``simulate_network`` of the network that was exported.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hwsim.chip import Chip
from hwsim.config import load_chip_config
from hwsim.limits import MAX_ARRAY_ELEMENTS
from hwsim.network import Layer, Network, simulate_network
from hwsim.testing import random_raster
from mapping import from_nir, load_network, map_network, to_nir, write_nir
from mapping.conv_structure import find_conv, image_shapes, is_sum_pool
from mapping.errors import MappingError
from mapping.unroll import conv2d_matrix, pool2d_matrix


@pytest.fixture(scope="module")
def mesh_chip():
    return load_chip_config("mesh8x8_28nm")


def _int(m) -> np.ndarray:
    return np.rint(m.toarray()).astype(np.int32)


def _kernel(rng, shape, zero_fraction=0.0) -> np.ndarray:
    """Integer kernel, nonzero everywhere unless ``zero_fraction`` of its taps are set to 0."""
    k = rng.integers(1, 40, size=shape) * rng.choice([-1, 1], size=shape)
    k[rng.random(shape) < zero_fraction] = 0
    return k


# ----------------------------------------------------------------------------- finding the convolution


@pytest.fixture(params=[None, 7], ids=["one chunk", "chunks of 7 weights"])
def chunk(request, monkeypatch):
    """Blocks are read in column chunks: also with chunks so small that a kernel's taps span many of them."""
    if request.param is not None:
        from mapping import conv_structure

        monkeypatch.setattr(conv_structure, "_CHUNK", request.param)


@pytest.mark.parametrize("sparse", [False, True])
def test_random_convolutions_are_found_exactly(sparse, chunk):
    """Kernels with no zero tap: the very kernel, stride and padding come back, and unroll to the same matrix."""
    rng = np.random.default_rng(1)
    for _ in range(40):
        c_in, c_out = (int(v) for v in rng.integers(1, 4, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        sy, sx = (int(v) for v in rng.integers(1, 4, size=2))
        py, px = int(rng.integers(0, kh)), int(rng.integers(0, kw))
        h, w = int(rng.integers(kh, 12)), int(rng.integers(kw, 12))
        kernel = _kernel(rng, (c_out, c_in, kh, kw))
        m, out = conv2d_matrix(kernel, (c_in, h, w), (sy, sx), (py, px))
        block = sp.csc_array(_int(m)) if sparse else _int(m)
        found = find_conv(block, (c_in, h, w), out)
        assert found is not None, (kernel.shape, (sy, sx), (py, px), (h, w))
        if out[1] > 1:
            assert found.stride[0] == sy
        if out[2] > 1:
            assert found.stride[1] == sx
        again, _ = conv2d_matrix(found.kernel, (c_in, h, w), found.stride, found.padding)
        np.testing.assert_array_equal(_int(again), _int(m))
        if out[1] > 1 and out[2] > 1 and kh <= h and kw <= w and py == px == 0:
            np.testing.assert_array_equal(found.kernel, kernel)  # every tap is used: the kernel is determined


def test_kernels_with_zero_taps_unroll_to_the_same_matrix(chunk):
    rng = np.random.default_rng(2)
    for _ in range(40):
        kernel = _kernel(rng, (3, 2, 3, 3), zero_fraction=0.5)
        if not kernel.any():
            continue
        m, out = conv2d_matrix(kernel, (2, 9, 8), 1, 1)
        found = find_conv(_int(m), (2, 9, 8), out)
        assert found is not None
        again, _ = conv2d_matrix(found.kernel, (2, 9, 8), found.stride, found.padding)
        np.testing.assert_array_equal(_int(again), _int(m))


def test_a_hint_keeps_the_kernel_size_of_a_kernel_with_zero_borders():
    kernel = np.zeros((2, 1, 5, 5), np.int64)
    kernel[:, :, 1:4, 1:4] = np.arange(1, 19).reshape(2, 1, 3, 3)  # the outer ring is zero
    m, out = conv2d_matrix(kernel, (1, 8, 8), 1, 2)
    block = _int(m)
    plain = find_conv(block, (1, 8, 8), out)
    assert plain.kernel.shape == (2, 1, 3, 3) and plain.padding == (1, 1)  # the smallest exact one
    hinted = find_conv(block, (1, 8, 8), out, hint=(5, 1, 2))
    assert hinted.kernel.shape == (2, 1, 5, 5) and hinted.padding == (2, 2)
    np.testing.assert_array_equal(hinted.kernel, kernel)
    wrong_hint = find_conv(block, (1, 8, 8), out, hint=(3, 2, 0))  # not this layer: found from the block
    assert wrong_hint is not None and wrong_hint.kernel.shape == (2, 1, 3, 3)


def _conv_block(rng):
    kernel = _kernel(rng, (2, 2, 3, 3))
    m, out = conv2d_matrix(kernel, (2, 6, 6), 1, 1)
    return _int(m), out


@pytest.mark.parametrize("change", ["one weight differs", "a weight outside the kernel", "a weight missing",
                                    "random matrix", "wrong output shape"])
def test_what_is_not_exactly_a_convolution_is_refused(change, chunk):
    rng = np.random.default_rng(3)
    block, out = _conv_block(rng)
    in_shape = (2, 6, 6)
    if change == "one weight differs":
        r, c = np.argwhere(block)[17]
        block[r, c] += 1
    elif change == "a weight outside the kernel":
        # input (0, 0, 0) into output (1, 3, 3): a tap 3 rows and columns up-left, which outputs (1, 4, 4) and
        # (1, 5, 5) would also have (into output (1, 5, 5) alone it would be an 11x11 kernel's corner tap)
        block[0, 36 + 3 * 6 + 3] = 5
    elif change == "a weight missing":
        r, c = np.argwhere(block)[17]
        block[r, c] = 0
    elif change == "random matrix":
        block = rng.integers(-3, 4, size=block.shape).astype(np.int32)
    else:
        out = (2, 3, 12)
    assert find_conv(block, in_shape, out) is None
    assert find_conv(sp.csc_array(block), in_shape, out) is None


def test_sum_pooling_is_told_from_convolution():
    m, out = pool2d_matrix("sum", (3, 8, 8), 2, 2, 0)
    pool = find_conv(_int(m), (3, 8, 8), out)
    assert pool is not None and is_sum_pool(pool) and pool.stride == (2, 2) and pool.kernel.shape[2:] == (2, 2)
    conv = find_conv(*_conv_block(np.random.default_rng(4))[:1], (2, 6, 6), (2, 6, 6))
    assert conv is not None and not is_sum_pool(conv)


def test_input_image_shapes():
    """The metadata's shape first; else the proportions of the conv output that reads the input, else square."""
    assert image_shapes(784, [28, 28])[0] == (1, 28, 28)
    assert image_shapes(3072, [3, 32, 32])[0] == (3, 32, 32)
    assert image_shapes(3072, out_hw=(16, 16))[0] == (3, 32, 32)
    assert image_shapes(784)[0] == (1, 28, 28)
    assert image_shapes(2 * 12 * 20, out_hw=(6, 10))[0] == (2, 12, 20)
    for n in (7, 240, 3072):
        shapes = image_shapes(n)
        assert shapes and all(c * h * w == n for c, h, w in shapes) and len(shapes) == len(set(shapes))


def test_a_non_square_input_is_found_without_metadata(tmp_path, mesh_chip):
    """A 12 x 20 image, no image_shape in the metadata (as after a NIR import): the first conv is still a Conv2d."""
    rng = np.random.default_rng(13)
    m, out = conv2d_matrix(_kernel(rng, (3, 1, 3, 3)), (1, 12, 20), 2, 1)
    net = Network([_layer(_int(m), out, 40, "conv"),
                   _layer(rng.integers(-9, 10, size=(int(np.prod(out)), 4)).astype(np.int32), None, 0, "out",
                          integration="discontinuous", fire=False)])
    path = write_nir(net, tmp_path / "wide.nir")
    assert _node_types(path)["conv"] == "Conv2d"
    assert_same_network(net, load_network(path, mesh_chip))


# ----------------------------------------------------------------------------- round trips through NIR files


def _layer(weights, shape, threshold, name, *, bias=None, sparse=False, integration="continuous", leak=0,
           fire=True, reset="subtract", inputs=None):
    n = weights.shape[1]
    return Layer(weights=sp.csc_array(weights) if sparse else weights,
                 bias=np.zeros(n, np.int32) if bias is None else bias.astype(np.int32), threshold=threshold,
                 leak_shift=leak, integration=integration, reset=reset, fire=fire, name=name, shape=shape,
                 inputs=inputs)


def conv_net(rng, sparse: bool) -> tuple[Network, dict]:
    """conv 5x5 'same' with per-channel bias -> max pool (OR) -> conv 3x3 stride 2, leaky -> average pool
    -> membrane readout; the kernels, to compare with the file's Conv2d nodes."""
    k1 = _kernel(rng, (4, 1, 5, 5))
    m1, s1 = conv2d_matrix(k1, (1, 12, 12), 1, 2)
    mp, sp1 = pool2d_matrix("sum", s1, 2, 2, 0)
    k2 = _kernel(rng, (6, 4, 3, 3))
    m2, s2 = conv2d_matrix(k2, sp1, 2, 1)
    ap, sp2 = pool2d_matrix("sum", s2, 3, 3, 0)
    bias1 = np.repeat(rng.integers(-20, 21, size=4), 144)
    layers = [
        _layer(_int(m1), s1, 150, "conv1", bias=bias1, sparse=sparse),
        _layer(_int(mp), sp1, 1, "mp", sparse=sparse, integration="discontinuous", reset="zero"),
        _layer(_int(m2), s2, 120, "conv2", sparse=sparse, leak=2),
        _layer(_int(ap), sp2, 5, "ap", sparse=sparse, integration="discontinuous", reset="zero"),
        _layer(rng.integers(-30, 31, size=(int(np.prod(sp2)), 5)).astype(np.int32), None, 0, "out",
               integration="discontinuous", fire=False),
    ]
    net = Network(layers, metadata={"w_bits": 8, "v_bits": 16, "image_shape": [12, 12], "timesteps": 6})
    return net, {"conv1": k1, "conv2": k2}


def _node_types(path) -> dict[str, str]:
    import nir

    graph = nir.read(path)
    return {name: type(node).__name__ for name, node in graph.nodes.items()}


def assert_same_network(a: Network, b: Network) -> None:
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        assert y.header() == x.header()  # name, sizes, registers, shape, inputs, sparse or dense
        wx = x.weights.toarray() if x.is_sparse else x.weights
        wy = y.weights.toarray() if y.is_sparse else y.weights
        np.testing.assert_array_equal(wy, wx)
        np.testing.assert_array_equal(y.bias, x.bias)


def assert_same_chip_results(a: Network, b: Network, chip, rng, T=6, batch=3):
    """Both mapped and run on the engine: equal outputs, and equal to simulate_network of ``a``."""
    rasters = random_raster(rng, batch, T, a.n_inputs, 0.4)
    ref = simulate_network(a, rasters, chip.core.v_bits)
    runs = [Chip.from_program(map_network(n, chip, seed=0)).run(rasters) for n in (a, b)]
    for res in runs:
        np.testing.assert_array_equal(res.output_membranes, ref[-1][0])
    assert any(spikes.any() for _, spikes in ref[:-1])  # the layers spike: the comparison sees activity


@pytest.mark.parametrize("sparse", [False, True])
def test_conv_network_round_trips_with_conv2d_nodes(sparse, tmp_path, mesh_chip):
    rng = np.random.default_rng(5)
    net, kernels = conv_net(rng, sparse)
    path = write_nir(net, tmp_path / "conv.nir")
    types = _node_types(path)
    assert [types[n] for n in ("conv1", "mp", "conv2", "ap", "out")] == [
        "Conv2d", "SumPool2d", "Conv2d", "SumPool2d", "Affine"]
    assert types["ap_neuron_flat"] == "Flatten"
    import h5py

    with h5py.File(path, "r") as f:  # the file as written, without hwsim
        nodes = f["node/nodes"]
        np.testing.assert_array_equal(nodes["conv1/weight"][()], kernels["conv1"])
        np.testing.assert_array_equal(nodes["conv1/bias"][()], net.layers[0].bias[::144])
        assert list(nodes["conv1/stride"][()]) == [1, 1] and list(nodes["conv1/padding"][()]) == [2, 2]
        assert list(nodes["conv1/input_shape"][()]) == [12, 12]
        # leak_shift 2: the export multiplies by 1 - 2^-2 (the import divides it back)
        np.testing.assert_array_equal(nodes["conv2/weight"][()], kernels["conv2"] * 0.75)
        assert list(nodes["conv2/stride"][()]) == [2, 2] and list(nodes["conv2/padding"][()]) == [1, 1]
        assert list(nodes["mp/kernel_size"][()]) == [2, 2] and list(nodes["ap/kernel_size"][()]) == [3, 3]
        assert list(nodes["input/shape"][()]) == [1, 12, 12]
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)
    assert_same_chip_results(net, back, mesh_chip, rng)


def test_bias_that_differs_inside_a_channel_keeps_an_affine(tmp_path, mesh_chip):
    rng = np.random.default_rng(6)
    net, _ = conv_net(rng, sparse=False)
    bias = net.layers[0].bias.copy()
    bias[3] += 1
    net.layers[0] = _layer(net.layers[0].weights, net.layers[0].shape, 150, "conv1", bias=bias)
    path = write_nir(net, tmp_path / "c.nir")
    types = _node_types(path)
    # NIR has no node that gives a flat vector a shape again: after a flat layer, the layers stay Affine
    assert [types[n] for n in ("conv1", "mp", "conv2", "ap", "out")] == ["Affine"] * 5
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)


def test_a_layer_summing_a_convolution_and_a_dense_block(tmp_path, mesh_chip):
    """Sources (conv layer, flat layer): a Conv2d flattened and a Linear, summed by a flat neuron node."""
    rng = np.random.default_rng(12)
    shape = (2, 5, 5)
    stem, _ = conv2d_matrix(_kernel(rng, (2, 1, 3, 3)), (1, 5, 5), 1, 1)
    mixed_conv, _ = conv2d_matrix(_kernel(rng, (2, 2, 3, 3)), shape, 1, 1)
    dense = rng.integers(-30, 31, size=(7, 50)).astype(np.int32)
    layers = [
        _layer(_int(stem), shape, 50, "stem"),
        _layer(rng.integers(-9, 10, size=(50, 7)).astype(np.int32), None, 30, "flat"),
        _layer(np.vstack([_int(mixed_conv), dense]), shape, 90, "mixed", inputs=(0, 1)),
        _layer(rng.integers(-20, 21, size=(50, 3)).astype(np.int32), None, 0, "out", integration="discontinuous",
               fire=False),
    ]
    net = Network(layers, metadata={"w_bits": 8, "v_bits": 16, "image_shape": [5, 5]})
    path = write_nir(net, tmp_path / "mixed.nir")
    types = _node_types(path)
    assert (types["mixed"], types["mixed_flat"], types["mixed_from_flat_neuron"]) == ("Conv2d", "Flatten", "Linear")
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)
    assert_same_chip_results(net, back, mesh_chip, rng)


def test_residual_conv_block_round_trips(tmp_path, mesh_chip):
    """A layer reading (conv branch, identity skip): a Conv2d per source, summed by the neuron node."""
    rng = np.random.default_rng(7)
    shape = (3, 6, 6)
    stem, _ = conv2d_matrix(_kernel(rng, (3, 1, 3, 3)), (1, 6, 6), 1, 1)
    branch, _ = conv2d_matrix(_kernel(rng, (3, 3, 3, 3)), shape, 1, 1)
    add, _ = conv2d_matrix(_kernel(rng, (3, 3, 3, 3)), shape, 1, 1)
    skip = np.eye(108, dtype=np.int32) * 40
    layers = [
        _layer(_int(stem), shape, 60, "stem", sparse=True),
        _layer(_int(branch), shape, 200, "block_a", sparse=True),
        _layer(sp.vstack([sp.csc_array(_int(add)), sp.csc_array(skip)]).astype(np.int32), shape, 200, "block_add",
               sparse=True, inputs=(1, 0)),
        _layer(rng.integers(-20, 21, size=(108, 4)).astype(np.int32), None, 0, "out", integration="discontinuous",
               fire=False),
    ]
    net = Network(layers, metadata={"w_bits": 8, "v_bits": 16})
    path = write_nir(net, tmp_path / "res.nir")
    types = _node_types(path)
    assert types["block_add"] == "Conv2d" and types["block_add_from_stem_neuron"] == "Conv2d"
    assert types["stem"] == "Conv2d"  # the 36-pixel input is taken as one square channel
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)
    assert_same_chip_results(net, back, mesh_chip, rng)


def test_trained_conv_network_round_trips(tmp_path, mesh_chip):
    """`hwsim train --arch` with its own metadata (arch, image_shape): kernels of the trained sizes."""
    from hwsim.datasets import load_dataset
    from hwsim.training import train

    net = train(load_dataset("digits", limit=120), arch="3C3s2p1-MP2-4C3-AP2-10", epochs=1, timesteps=4)
    path = write_nir(net, tmp_path / "trained.nir")
    types = _node_types(path)
    names = ("conv0", "maxpool1", "conv2", "avgpool3", "output_1")  # "output" is the Output node's name
    assert [types[n] for n in names] == ["Conv2d", "SumPool2d", "Conv2d", "SumPool2d", "Affine"]
    import h5py

    with h5py.File(path, "r") as f:
        assert f["node/nodes/conv0/weight"].shape == (3, 1, 3, 3)
        assert list(f["node/nodes/conv0/stride"][()]) == [2, 2]
        assert f["node/nodes/conv2/weight"].shape == (4, 3, 3, 3)
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)
    assert_same_chip_results(net, back, mesh_chip, np.random.default_rng(8), T=4)


@pytest.mark.parametrize("graph, convs", [("snntorch_conv_fmnist", 2), ("snntorch_conv_residual", 3)])
def test_framework_conv_graph_exports_back_as_convolutions(tmp_path, mesh_chip, graph, convs):
    """snnTorch's conv graphs imported (an AvgPool2d without neuron is composed into the next conv: 2x2 pooling
    then a 5x5 kernel is one 10x10 kernel of stride 2), then exported: hwsim finds the convolutions in the
    imported matrices, and the second import is the same network."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "nir" / f"{graph}.nir"
    net = from_nir(data, mesh_chip)
    path = write_nir(net, tmp_path / "again.nir")
    types = _node_types(path)
    assert sum(t == "Conv2d" for t in types.values()) == convs
    if graph == "snntorch_conv_fmnist":
        import h5py

        with h5py.File(path, "r") as f:
            assert f["node/nodes/2/weight"].shape == (16, 8, 10, 10)
            assert list(f["node/nodes/2/stride"][()]) == [2, 2]
    back = load_network(path, mesh_chip)
    assert_same_network(net, back)


# ----------------------------------------------------------------------------- sparse layers that are no convolution


def test_small_sparse_dense_layer_is_exported_densely(tmp_path, mesh_chip):
    rng = np.random.default_rng(9)
    w = rng.integers(-20, 21, size=(30, 12)).astype(np.int32)
    w[rng.random(w.shape) < 0.7] = 0
    net = Network([_layer(w, None, 25, "hidden", sparse=True),
                   _layer(rng.integers(-9, 10, size=(12, 3)).astype(np.int32), None, 0, "out",
                          integration="discontinuous", fire=False)], metadata={"w_bits": 8, "v_bits": 16})
    path = write_nir(net, tmp_path / "s.nir")
    assert _node_types(path)["hidden"] == "Affine"
    back = load_network(path, mesh_chip)
    assert back.layers[0].is_sparse
    assert_same_network(net, back)


def test_large_sparse_layer_that_is_no_convolution_is_refused_by_name():
    rng = np.random.default_rng(10)
    n_in = n_out = 10_000  # 10^8 entries densely: beyond MAX_ARRAY_ELEMENTS
    rows, cols = rng.integers(0, n_in, size=500), rng.integers(0, n_out, size=500)
    w = sp.coo_array((np.ones(500, np.int8), (rows, cols)), shape=(n_in, n_out))
    net = Network([_layer(w, None, 1, "wide", sparse=True)])
    with pytest.raises(MappingError) as info:
        to_nir(net)
    text = str(info.value)
    assert "layer 0 ('wide')" in text and "sparse 10000 x 10000 matrix that is not a convolution" in text
    assert f"100000000 entries, allowed at most {MAX_ARRAY_ELEMENTS}" in text


def test_a_bad_sparse_flag_in_a_file_is_refused(tmp_path):
    import nir

    rng = np.random.default_rng(11)
    net = Network([_layer(rng.integers(1, 5, size=(4, 3)).astype(np.int32), None, 3, "l", sparse=True)])
    graph = to_nir(net)
    graph.nodes["l"].metadata["hwsim_sparse"] = "yes"
    with pytest.raises(MappingError, match="hwsim_sparse = 'yes'; allowed 0 or 1"):
        from_nir(graph)
    nir.write(tmp_path / "ok.nir", to_nir(net))
    assert from_nir(tmp_path / "ok.nir").layers[0].is_sparse

"""Network file format and the direct chip-semantics simulator (fast path vs. one-add-at-a-time twin)."""

import json
import zlib

import numpy as np
import pytest

from hwsim.config import CoreConfig
from hwsim.errors import InputError
from hwsim.network import (
    Layer,
    Network,
    NetworkFileError,
    predict,
    readout_scores,
    simulate_network,
    simulate_network_reference,
)
from hwsim.testing import random_network, random_raster, rewrite_npz_header


def _one_layer(weights, bias, threshold, **kw):
    return Network([Layer(np.array(weights, np.int32), np.array(bias, np.int32), threshold=threshold, **kw)])


def test_saturation_after_every_add_by_hand():
    # v_bits = 4: range -8..7. Axons 0, 1, 2 spike with weights +6, +6, -6 into one neuron.
    # Per-add saturation: 6 -> 12 sat 7 -> 1; a single sum would give 6.
    net = _one_layer([[6], [6], [-6]], [0], threshold=7, fire=False)
    mem, spikes = simulate_network(net, np.array([[1, 1, 1]]), v_bits=4)[0]
    assert mem[0, 0, 0] == 1 and spikes.sum() == 0
    # order matters: if only axons 0 and 2 spike, 6 - 6 = 0
    mem, _ = simulate_network(net, np.array([[1, 0, 1]]), v_bits=4)[0]
    assert mem[0, 0, 0] == 0
    # negative side: -6 -6 -> -12 sat -8, then +6 -> -2
    net = _one_layer([[-6], [-6], [6]], [0], threshold=7, fire=False)
    mem, _ = simulate_network(net, np.array([[1, 1, 1]]), v_bits=4)[0]
    assert mem[0, 0, 0] == -2


def test_continuous_reset_by_subtraction_by_hand():
    # weight 3, threshold 5, input every step: v = 3, 6 -> fire -> 1, 4, 7 -> fire -> 2
    net = _one_layer([[3]], [0], threshold=5, integration="continuous")
    mem, spikes = simulate_network(net, np.ones((4, 1), np.uint8), v_bits=8)[0]
    assert mem[0, :, 0].tolist() == [3, 1, 4, 2]
    assert spikes[0, :, 0].tolist() == [0, 1, 0, 1]
    # discontinuous: restarts at 0, never reaches 5
    net = _one_layer([[3]], [0], threshold=5, integration="discontinuous")
    mem, spikes = simulate_network(net, np.ones((4, 1), np.uint8), v_bits=8)[0]
    assert mem[0, :, 0].tolist() == [3, 3, 3, 3] and spikes.sum() == 0


@pytest.mark.parametrize("integration", ["discontinuous", "continuous"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("leak_shift", [0, 2])
@pytest.mark.parametrize("fire_output", [True, False])
def test_fast_path_equals_reference_with_saturation(integration, reset, leak_shift, fire_output):
    rng = np.random.default_rng(zlib.crc32(f"{integration}{reset}{leak_shift}{fire_output}".encode()))
    core = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=8)
    net = random_network(rng, [40, 30, 12], core, integration=integration, reset=reset,
                         leak_shift=leak_shift, fire_output=fire_output)
    rasters = random_raster(rng, 6, 5, 40, 0.35)
    fast = simulate_network(net, rasters, 8)
    ref = simulate_network_reference(net, rasters, 8)
    for (m1, s1), (m2, s2) in zip(fast, ref):
        np.testing.assert_array_equal(m1, m2)
        np.testing.assert_array_equal(s1, s2)
    # the case must actually saturate somewhere, or the slow path was not exercised
    w = net.layers[0].weights.astype(np.int64)
    partial = np.cumsum(rasters[:, :, :, None] * w[None, None], axis=2)
    assert np.any(partial > 127) or np.any(partial < -128)


def test_readout_and_predict():
    # two outputs; output 1 gets more spikes / more membrane; ties go to the lowest index
    net = _one_layer([[1, 2]], [0, 0], threshold=1)
    r = np.ones((1, 3, 1), np.uint8)
    res = simulate_network(net, r, 8)
    assert readout_scores(net, res).tolist() == [[3, 3]]
    assert predict(net, r, 8).tolist() == [0]
    net = _one_layer([[1, 2]], [0, 0], threshold=0, fire=False)
    assert readout_scores(net, simulate_network(net, r, 8)).tolist() == [[3, 6]]
    assert predict(net, r, 8).tolist() == [1]


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    net = random_network(rng, [5, 4, 3], CoreConfig(w_bits=8, v_bits=16), fire_output=False)
    net.metadata["provenance"] = {"seed": 3, "command": "hwsim train"}
    path = net.save(tmp_path / "n.npz")
    back = Network.load(path)
    assert back.metadata == json.loads(json.dumps(net.metadata))
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert a.header() == b.header()
    assert back.readout == "membrane"


def test_load_errors(tmp_path):
    with pytest.raises(NetworkFileError, match="does not exist"):
        Network.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(NetworkFileError, match="not a hwsim network file"):
        Network.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", header=np.frombuffer(b'{"format": "x"}', np.uint8))
    with pytest.raises(NetworkFileError, match="not a hwsim network file: format = 'x'; expected 'hwsim-network'"):
        Network.load(tmp_path / "other.npz")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("threshold", 2.7, r"layer 'x': threshold = 2.7, expected a whole number"),
        ("threshold", "abc", r"layer 'x': threshold = 'abc', expected a whole number"),
        ("leak_shift", 1.5, r"layer 'x': leak_shift = 1.5, expected a whole number"),
        ("fire", "no", r"layer 'x': fire = 'no', allowed True \(spiking\) or False"),
    ],
)
def test_layer_registers_reject_values_that_are_not_whole_numbers(field, value, message):
    args = dict(weights=np.ones((2, 2), np.int32), bias=np.zeros(2, np.int32), threshold=3, name="x")
    args[field] = value
    with pytest.raises(InputError, match=message):
        Layer(**args)
    args[field] = 3.0 if field != "fire" else np.bool_(False)  # whole floats and NumPy bools are fine
    assert Layer(**args).header()[field] == (3 if field != "fire" else False)


def _network_file_with_header(path, edit):
    net = random_network(np.random.default_rng(0), [3, 2], CoreConfig(w_bits=8, v_bits=16))
    return rewrite_npz_header(net.save(path), path, edit)


def _set(h, key, value, layer=None):
    (h["layers"][layer] if layer is not None else h)[key] = value
    return h


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: _set(h, "layers", 5), r"layers = 5; expected a non-empty list of layer objects"),
        (lambda h: _set(h, "metadata", [1]), r"metadata is a list, expected a JSON object"),
        (lambda h: _set(h, "threshold", 2.5, layer=0), r"threshold = 2.5, expected a whole number"),
        (lambda h: _set(h, "integration", "often", layer=0), r"integration = 'often'"),
    ],
)
def test_malformed_headers_are_network_file_errors(tmp_path, edit, message):
    path = _network_file_with_header(tmp_path / "n.npz", edit)
    with pytest.raises(NetworkFileError, match=message):
        Network.load(path)


def test_a_file_that_is_not_an_archive_is_named_as_such(tmp_path):
    nir_like = tmp_path / "graph.nir"
    nir_like.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(NetworkFileError,
                       match=r"expected an .npz archive \(a NIR graph: read it with mapping.load_network\)"):
        Network.load(nir_like)


# ------------------------------------------------------------------------ header fields (issue 12)
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: _set(h, "metadata", {"timesteps": 2.5}),
         r"network metadata timesteps = 2.5: expected a whole number in 1..4096"),
        (lambda h: _set(h, "metadata", {"timesteps": 0}), r"timesteps = 0: expected a whole number in 1..4096"),
        (lambda h: _set(h, "metadata", {"timesteps": True}), r"timesteps = True: expected a whole number"),
        (lambda h: _set(h, "metadata", {"encoding": "morse"}),
         r"network metadata encoding = 'morse': expected one of rate, threshold, latency"),
        (lambda h: _set(h, "metadata", {"v_bits": "16"}), r"v_bits = '16': expected a whole number in 4..32"),
        (lambda h: _set(h, "metadata", {"classes": ["a", "b", "c"]}),
         r"classes has 3 names but the network has 2 outputs; expected one output per class"),
        (lambda h: _set(h, "metadata", {"image_shape": [2, 2]}),
         r"image_shape = \[2, 2\] has 4 pixels but the network has 3 inputs; expected one input per pixel"),
        (lambda h: _set(h, "layers", []), r"layers = \[\]; expected a non-empty list of layer objects"),
        (lambda h: _set(h, "layers", [[1, 2]]), r"layer 0 is a JSON list \(\[1, 2\]\); expected a layer object"),
        (lambda h: _set(h, "gain", 2, layer=0), r"layer 0: unknown key\(s\) gain; allowed name, n_in, n_out"),
        (lambda h: _set(h, "name", [1], layer=0), r"layer 0: name = \[1\]; expected a string"),
        (lambda h: _set(h, "n_in", 7, layer=0),
         r"layer 0 \('fc0'\): n_in = 7 but weights_0 has shape \(3, 2\); expected n_in = 3"),
        (lambda h: {**h, "layers": h["layers"] * 2}, r"layer 1: missing array weights_1, array bias_1"),
        (lambda h: _set(h, "leak_shift", 40, layer=0), r"leak_shift = 40, allowed 0..31"),
        (lambda h: _set(h, "integration", ["often"], layer=0), r"integration = \['often'\], allowed"),
    ],
)
def test_header_fields_are_checked_with_what_is_allowed(tmp_path, edit, message):
    path = _network_file_with_header(tmp_path / "n.npz", edit)
    with pytest.raises(NetworkFileError, match=message):
        Network.load(path)


def test_metadata_the_commands_read_is_checked_in_memory_too():
    """A network built in code (or imported from NIR) gets the same checks as one read from a file."""
    layer = Layer(np.ones((4, 2), np.int32), np.zeros(2, np.int32), threshold=1)
    with pytest.raises(InputError, match=r"network metadata timesteps = 2.5: expected a whole number in 1..4096"):
        Network([layer], metadata={"timesteps": 2.5})
    with pytest.raises(InputError, match=r"network metadata is a list \(\[1\]\); expected a JSON object"):
        Network([layer], metadata=[1])
    good = {"timesteps": 8, "encoding": "rate", "classes": ["a", "b"], "image_shape": [2, 2], "w_bits": 8}
    assert Network([layer], metadata=good).metadata == good


def test_layer_values_beyond_every_chip_are_refused():
    """w_bits <= 16 and v_bits <= 32 on every chip (chip-spec §4); the chip's own range is a design rule."""
    w, b = np.ones((2, 2), np.int64), np.zeros(2, np.int64)
    with pytest.raises(InputError, match=r"layer 'x': weight value 32768 out of range, allowed -32768..32767"):
        Layer(w * 32768, b, threshold=1, name="x")
    with pytest.raises(InputError, match=r"layer 'x': bias value -2147483649 out of range"):
        Layer(w, b - 2**31 - 1, threshold=1, name="x")
    with pytest.raises(InputError, match=r"layer 'x': threshold = 2147483648, allowed -2147483648..2147483647"):
        Layer(w, b, threshold=2**31, name="x")
    # the ends are accepted
    assert Layer(w * -32768, b + 2**31 - 1, threshold=-1, leak_shift=31, name="x").threshold == -1


# ------------------------------------------------------------------ branching and residual graphs
def _layer(weights, threshold, inputs=None, name=""):
    w = np.array(weights, np.int32)
    return Layer(w, np.zeros(w.shape[1], np.int32), threshold=threshold, inputs=inputs, name=name,
                 reset="zero")


def test_residual_add_by_hand():
    # input x (2 wide) -> a: one neuron, weights [1, 1], threshold 1 (an OR of the inputs)
    # res reads (a, input): weights [W_a; W_x] = [[2], [1], [1]], threshold 3, membrane readout
    # x = [1, 0]: a fires (1 >= 1); res integrates a then x: 2 + 1 = 3
    # x = [0, 0]: a silent; res = 0
    # x = [1, 1]: a fires; res = 2 + 1 + 1 = 4
    net = Network([
        _layer([[1], [1]], 1, name="a"),
        Layer(np.array([[2], [1], [1]], np.int32), np.zeros(1, np.int32), threshold=3, fire=False,
              inputs=(0, -1), name="res"),
    ])
    x = np.array([[[1, 0]], [[0, 0]], [[1, 1]]], np.uint8)  # (B=3, T=1, 2)
    for run in (simulate_network, simulate_network_reference):
        mem = run(net, x, v_bits=8)[1][0]
        assert mem[:, 0, 0].tolist() == [3, 0, 4]
    assert not net.is_chain and net.sources(1) == (0, -1)


def test_branches_concatenate_in_the_listed_order():
    # two branches from the input: b0 copies input 0, b1 copies input 1 (threshold 1);
    # merge reads (b1, b0): its weight rows are [from b1; from b0] = [[10], [1]] -> x = [1, 0] gives 1, [0, 1] gives 10
    net = Network([
        _layer([[1], [0]], 1, name="b0"),
        _layer([[0], [1]], 1, inputs=(-1,), name="b1"),
        Layer(np.array([[10], [1]], np.int32), np.zeros(1, np.int32), threshold=1, fire=False,
              inputs=(1, 0), name="merge"),
    ])
    x = np.array([[[1, 0]], [[0, 1]]], np.uint8)
    for run in (simulate_network, simulate_network_reference):
        assert run(net, x, v_bits=8)[2][0][:, 0, 0].tolist() == [1, 10]


def test_dag_round_trips_through_a_file(tmp_path):
    net = Network([_layer([[1], [1]], 1), _layer([[1], [1], [1]], 1, inputs=(0, -1))])
    back = Network.load(net.save(tmp_path / "dag.npz"))
    assert [layer.inputs for layer in back.layers] == [None, (0, -1)]
    header = json.loads(bytes(np.load(tmp_path / "dag.npz")["header"]).decode())
    assert "inputs" not in header["layers"][0] and header["layers"][1]["inputs"] == [0, -1]


@pytest.mark.parametrize(
    "inputs, message",
    [
        ((1,), "not earlier"),  # itself: a cycle
        ((0, 0), "repeated"),
        ((0, -1), "sources"),  # widths: 1 + 2 = 3 inputs, the layer has 1
        ((), "non-empty"),
        ((0.5,), "whole number"),
    ],
)
def test_bad_inputs_are_named(inputs, message):
    with pytest.raises(InputError, match=message):
        Network([_layer([[1], [1]], 1), _layer([[1]], 1, inputs=inputs)])


def test_first_layer_reads_only_the_input():
    with pytest.raises(InputError, match="first"):
        Network([_layer([[1]], 1, inputs=(0,))])


def test_random_dag_fast_path_equals_reference():
    rng = np.random.default_rng(7)
    sizes = [12, 9, 7]
    layers = [_layer(rng.integers(-8, 8, (12, 9)), 5), _layer(rng.integers(-8, 8, (9, 7)), 5)]
    layers.append(Layer(rng.integers(-60, 60, (7 + 9 + 12, 4)).astype(np.int32), np.zeros(4, np.int32),
                        threshold=9, inputs=(1, 0, -1)))  # saturates at v_bits = 6
    net = Network(layers)
    assert net.sizes == sizes + [4]
    x = random_raster(rng, 5, 6, 12, 0.5)
    fast, ref = simulate_network(net, x, 6), simulate_network_reference(net, x, 6)
    for (m0, s0), (m1, s1) in zip(fast, ref):
        np.testing.assert_array_equal(m0, m1)
        np.testing.assert_array_equal(s0, s1)

"""NIR import/export: hand-computed conversions for every supported node type, files as exporters write
them (scalar parameters, batch dimensions), unrolled conv/pool against direct loops, and the round trip."""

import copy
import re

import h5py
import nir
import nir.ir.graph as nir_graph  # Identity is not exported at the top level of nir 1.0.8
import numpy as np
import pytest
from mapping_cases import assert_program_matches_network

from hwsim.golden import simulate
from hwsim.network import simulate_network
from hwsim.testing import random_network, random_raster
from mapping import check_drc, from_nir, load_network, map_network, plan, to_nir, write_nir
from mapping.errors import DRCWarning, MappingError
from mapping.unroll import conv2d_matrix, pool2d_matrix

DT = 1e-4


def _graph(*nodes, input_shape, output_shape=None, metadata=None):
    names = [f"n{k}" for k in range(len(nodes))]
    out = output_shape if output_shape is not None else nodes[-1].output_type["output"]
    all_nodes = {
        "input": nir.Input(input_type={"input": np.array(input_shape)}),
        **dict(zip(names, nodes)),
        "output": nir.Output(output_type={"output": np.array(out)}),
    }
    seq = ["input"] + names + ["output"]
    return nir.NIRGraph(nodes=all_nodes, edges=list(zip(seq[:-1], seq[1:])), metadata=metadata or {}, type_check=False)


# --------------------------------------------------------------------------- neuron conversions by hand
def test_snntorch_style_lif_with_scalar_params(default_chip):
    """snnTorch Leaky(beta=0.875) exports tau = dt/(1-beta), r = tau/dt as 0-d arrays (NIR issue #176)."""
    beta = 0.875
    tau = np.array(DT / (1 - beta))  # 0-d: one value for the whole layer
    lif = nir.LIF(tau=tau, r=np.array(tau / DT), v_leak=np.array(0.0), v_threshold=np.array(1.0))
    w = np.array([[0.4, -0.3], [1.0, 0.1]])  # (out, in)
    g = _graph(nir.Affine(weight=w, bias=np.array([0.0, 0.05])), lif, input_shape=[1, 2], output_shape=[1, 2])
    net = from_nir(g, default_chip)
    (layer,) = net.layers
    # dt/tau = 1/8 -> leak_shift 3, continuous. gain r*dt/tau = 1, divided by the chip decay 7/8 (integrate
    # before leak). Scale s = w_max / max|W/0.875| = 127 * 0.875 = 111.125, so W_chip = rint(127 W).
    assert (layer.integration, layer.leak_shift, layer.reset, layer.fire) == ("continuous", 3, "zero", True)
    np.testing.assert_array_equal(layer.weights, [[51, 127], [-38, 13]])  # rint(127 * W.T)
    np.testing.assert_array_equal(layer.bias, [0, 6])  # rint(127 * 0.05) = rint(6.35)
    assert layer.threshold == 112  # v > 111.125  <=>  v >= 112
    assert net.metadata["scales"][0] == pytest.approx(111.125)
    info = net.metadata["nir_import"][0]
    assert info["decay_nir"] == pytest.approx(0.875) and info["decay_chip"] == pytest.approx(0.875)


def test_if_with_integer_weights_keeps_scale_one(default_chip):
    # IF: dv/dt = R I -> v += dt R I; r = 1/dt gives gain 1. Integer weights stay as they are.
    w = np.array([[2.0, -1.0, 3.0], [0.0, 5.0, -7.0]])
    g = _graph(nir.Linear(weight=w), nir.IF(r=np.full(2, 1 / DT), v_threshold=np.full(2, 2.0)), input_shape=[1, 3])
    (layer,) = from_nir(g, default_chip).layers
    np.testing.assert_array_equal(layer.weights, w.T)
    np.testing.assert_array_equal(layer.bias, [0, 0])
    assert (layer.threshold, layer.integration, layer.leak_shift) == (3, "continuous", 0)  # v > 2 <=> v >= 3


def test_cubalif_instantaneous_current_and_v_leak(default_chip):
    # tau_syn = dt: I = w_in * input. tau_mem = dt: no memory (discontinuous), v = v_leak + r * I.
    cuba = nir.CubaLIF(
        tau_syn=np.array([DT]),
        tau_mem=np.array([DT]),
        r=np.array([1.0]),
        v_leak=np.array([0.5]),
        v_threshold=np.array([1.5]),
        w_in=2.0,
    )
    g = _graph(nir.Affine(weight=np.array([[1.0, -1.0, 3.0]]), bias=np.array([0.25])), cuba, input_shape=[3])
    net = from_nir(g, default_chip)
    (layer,) = net.layers
    info = net.metadata["nir_import"][0]
    assert (info["decay_nir"], info["decay_chip"]) == (0.0, 0.0)  # a = dt/tau = 1: nothing kept, asked or given
    np.testing.assert_array_equal(layer.weights, [[2], [-2], [6]])  # w_in * W
    np.testing.assert_array_equal(layer.bias, [1])  # 2 * 0.25 + 0.5
    assert (layer.threshold, layer.integration) == (2, "discontinuous")  # v > 1.5 <=> v >= 2


def test_avgpool_then_if_fires_on_majority(default_chip):
    """AvgPool 2x2 weights 1/4; with threshold 0.5 the neuron fires when 3 or 4 of its 4 inputs spike."""
    g = _graph(
        nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.5)),
        input_shape=[1, 1, 4, 4],
        output_shape=[1, 2, 2],
    )
    (layer,) = from_nir(g, default_chip).layers
    # s = w_max / 0.25 = 508: weights 127, threshold floor(0.5 * 508) + 1 = 255
    assert layer.threshold == 255 and set(np.unique(layer.weights)) == {0, 127}
    assert (layer.weights == 127).sum(axis=0).tolist() == [4, 4, 4, 4]
    x = np.zeros((4, 16), np.uint8)
    x[1, [0, 1]] = 1  # 2 of window 0
    x[2, [0, 1, 4]] = 1  # 3 of window 0
    x[3, [2, 3, 6, 7]] = 1  # 4 of window 1
    net = from_nir(g, default_chip)
    assert net.layers[0].integration == "continuous"  # IF keeps its membrane between timesteps
    spikes = simulate_network(net, x, default_chip.core.v_bits)[0][1]
    # window 0: t1 two spikes -> v = 254 < 255 (kept), t2 three more -> 635 fires, reset to 0;
    # window 1: t3 four spikes -> 508 fires
    assert spikes[0].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]]


def test_trailing_affine_is_membrane_readout(default_chip):
    g = _graph(
        nir.Affine(weight=np.array([[1.0, 2.0], [3.0, -4.0]]), bias=np.array([1.0, 0.0])),
        nir.LIF(tau=np.full(2, DT), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
        nir.Affine(weight=np.array([[1.0, -1.0]]), bias=np.array([0.0])),
        input_shape=[2],
    )
    net = from_nir(g, default_chip)
    modes = [(layer.fire, layer.integration) for layer in net.layers]
    assert modes == [(True, "discontinuous"), (False, "discontinuous")]
    assert net.readout == "membrane"
    np.testing.assert_array_equal(net.layers[1].weights, [[1], [-1]])


@pytest.mark.parametrize("kind", ["LI", "I"])
def test_li_and_i_readouts(default_chip, kind):
    node = (
        nir.LI(tau=np.array(4 * DT), r=np.array(4.0), v_leak=np.array(0.0))
        if kind == "LI"
        else nir.I(r=np.array(1 / DT))
    )
    g = _graph(nir.Linear(weight=np.array([[3.0, 1.0]])), node, input_shape=[2], output_shape=[1])
    (layer,) = from_nir(g, default_chip).layers
    assert (layer.fire, layer.integration) == (False, "continuous")
    if kind == "LI":  # dt/tau = 1/4 -> leak_shift 2; gain 1 / (3/4): W = 4/3 * [3, 1], scaled to w_max
        assert layer.leak_shift == 2
        np.testing.assert_array_equal(layer.weights, [[127], [42]])  # rint(127/3) = 42
    else:
        assert layer.leak_shift == 0
        np.testing.assert_array_equal(layer.weights, [[3], [1]])


def test_reset_mode_from_metadata_and_override(default_chip):
    lif = nir.LIF(
        tau=np.array(DT),
        r=np.array(1.0),
        v_leak=np.array(0.0),
        v_threshold=np.array(1.0),
        metadata={"hwsim_reset": "subtract"},
    )
    g = _graph(nir.Linear(weight=np.eye(2)), lif, input_shape=[2], output_shape=[2])
    assert from_nir(g, default_chip).layers[0].reset == "subtract"
    assert from_nir(g, default_chip, reset="zero").layers[0].reset == "zero"


def test_dt_from_metadata_and_argument(default_chip):
    lif = nir.LIF(tau=np.array(8e-3), r=np.array(8.0), v_leak=np.array(0.0), v_threshold=np.array(1.0))
    g = _graph(nir.Linear(weight=np.eye(2)), lif, input_shape=[2], output_shape=[2], metadata={"dt": 1e-3})
    assert from_nir(g, default_chip).layers[0].leak_shift == 3  # dt/tau = 1/8
    assert from_nir(g, default_chip, dt_s=2e-3).layers[0].leak_shift == 2  # dt/tau = 1/4


def test_slow_leak_beyond_v_bits_is_no_leak(small_chip):
    lif = nir.LIF(tau=np.array(DT * 2**20), r=np.array(2.0**20), v_leak=np.array(0.0), v_threshold=np.array(1.0))
    g = _graph(nir.Linear(weight=np.eye(2)), lif, input_shape=[2], output_shape=[2])
    net = from_nir(g, small_chip)
    (layer,) = net.layers
    assert (layer.integration, layer.leak_shift) == ("continuous", 0)  # k = 20 > v_bits - 1 = 11
    np.testing.assert_array_equal(layer.weights, np.eye(2))  # gain r dt / tau = 1, not divided by a decay
    info = net.metadata["nir_import"][0]
    assert info["decay_nir"] == 1 - 2.0**-20 and info["decay_chip"] == 1.0  # requested vs chip, both reported


# dt/tau = 0.9 (k = round(log2(1/0.9)) = round(0.152) = 0), r = 1, v_leak = 0.1, threshold 1, and
# Euler without its (1 - a) v term: v[t+1] = 0.9 (W x + b) + 0.09. W_eff = 0.9 W^T has max 1.8, so
# s = 127 / 1.8 and the chip weights are rint(63.5 W^T); bias rint(s [0.54, 0.09]) = rint([38.1, 6.35]).
FAST_W = np.array([[0.4, -0.6], [1.2, 2.0]])  # (out, in)
FAST_B = np.array([0.5, 0.0])
FAST_CHIP_W = [[25, 76], [-38, 127]]  # rint(63.5 * [[0.4, 1.2], [-0.6, 2.0]])
FAST_CHIP_B = [38, 6]
FAST_CHIP_THRESHOLD = 71  # v > 70.56 <=> v >= 71


def _fast_lif_graph(dt_over_tau):
    lif = nir.LIF(tau=np.full(2, DT / dt_over_tau), r=np.ones(2), v_leak=np.full(2, 0.1), v_threshold=np.ones(2))
    return _graph(nir.Affine(weight=FAST_W, bias=FAST_B), lif, input_shape=[2], output_shape=[2])


def test_decay_rounding_to_k0_is_discontinuous(default_chip):
    """A decay of 0.1 per step is nearer 0 (k = 0) than the chip's smallest leak: discontinuous, not 'no leak'."""
    with pytest.warns(DRCWarning, match=r"decay per step 0\.1 .* becomes 0 on the chip \(discontinuous"):
        net = from_nir(_fast_lif_graph(0.9), default_chip)
    (layer,) = net.layers
    assert (layer.integration, layer.leak_shift) == ("discontinuous", 0)
    np.testing.assert_array_equal(layer.weights, FAST_CHIP_W)
    np.testing.assert_array_equal(layer.bias, FAST_CHIP_B)
    assert layer.threshold == FAST_CHIP_THRESHOLD
    info = net.metadata["nir_import"][0]
    assert info["gain"] == pytest.approx(0.9)  # a R, not divided by a decay
    assert info["decay_nir"] == pytest.approx(0.1) and info["decay_chip"] == 0.0


def test_half_decay_is_leak_shift_one(default_chip):
    # dt/tau = 0.5 -> k = 1, chip decay 1 - 1/2 = 0.5 = 1 - a: exact, so no warning (warnings are errors here).
    # gain a R / beta = 0.5 / 0.5 = 1: integer weights stay, scale 1; v > 5 <=> v >= 6.
    lif = nir.LIF(tau=np.array(2 * DT), r=np.array(1.0), v_leak=np.array(0.0), v_threshold=np.array(5.0))
    w = np.array([[3.0, -2.0], [1.0, 4.0]])
    g = _graph(nir.Affine(weight=w, bias=np.array([1.0, 0.0])), lif, input_shape=[2], output_shape=[2])
    net = from_nir(g, default_chip)
    (layer,) = net.layers
    assert (layer.integration, layer.leak_shift, layer.threshold) == ("continuous", 1, 6)
    np.testing.assert_array_equal(layer.weights, [[3, 1], [-2, 4]])
    np.testing.assert_array_equal(layer.bias, [1, 0])
    info = net.metadata["nir_import"][0]
    assert (info["decay_nir"], info["decay_chip"]) == (0.5, 0.5)


@pytest.mark.parametrize(
    "dt_over_tau,integration,leak_shift,decay_chip",
    [
        (0.72, "discontinuous", 0, 0.0),  # log2(1/0.72) = 0.474 rounds to 0; asked 0.28
        (0.70, "continuous", 1, 0.5),  # log2(1/0.70) = 0.515 rounds to 1; asked 0.30
    ],
)
def test_decay_rounding_either_side_of_k_half(default_chip, dt_over_tau, integration, leak_shift, decay_chip):
    # both are 0.2 or more away from the requested decay: the import warns
    with pytest.warns(DRCWarning, match=f"becomes {decay_chip:g} on the chip"):
        net = from_nir(_fast_lif_graph(dt_over_tau), default_chip)
    (layer,) = net.layers
    assert (layer.integration, layer.leak_shift) == (integration, leak_shift)
    info = net.metadata["nir_import"][0]
    assert info["decay_nir"] == pytest.approx(1 - dt_over_tau) and info["decay_chip"] == decay_chip


def test_k0_layer_program_simulates_like_the_hand_computed_update(default_chip):
    """The mapped program (golden model) against v = W x + b per step in chip integers, and against the
    float update v = 0.9 (W x + b) + 0.09 > 1 for the spikes. Under 'continuous, no leak' neuron 0 would
    add up 38 per step and fire by the second step."""
    with pytest.warns(DRCWarning):
        net = from_nir(_fast_lif_graph(0.9), default_chip)
    x = np.array([[0, 0], [1, 0], [0, 0], [0, 1], [1, 1], [1, 0], [0, 0], [0, 0]], np.uint8)
    res = simulate(map_network(net, default_chip, seed=0), x[None])
    # neuron 0: 38 + 25 x0 - 38 x1 < 71 always; neuron 1: 6 + 76 x0 + 127 x1 >= 71 unless x = 0 (reset to 0)
    want_spikes = [[0, 0], [0, 1], [0, 0], [0, 1], [0, 1], [0, 1], [0, 0], [0, 0]]
    want_membranes = [[38, 6], [63, 0], [38, 6], [0, 0], [25, 0], [63, 0], [38, 6], [38, 6]]
    np.testing.assert_array_equal(res.output_spikes[0], want_spikes)
    np.testing.assert_array_equal(res.output_membranes[0], want_membranes)
    v_float = 0.9 * (x @ FAST_W.T + FAST_B) + 0.09  # the NIR discrete update with no memory
    np.testing.assert_array_equal(res.output_spikes[0], (v_float > 1.0).astype(np.uint8))


# ------------------------------------------------------------------------------------- malformed files
def _lif2(**kw):
    p = dict(tau=np.full(2, 8 * DT), r=np.full(2, 8.0), v_leak=np.zeros(2), v_threshold=np.ones(2))
    p.update(kw)
    return nir.LIF(**p)


def _cuba2():
    return nir.CubaLIF(
        tau_syn=np.full(2, DT), tau_mem=np.full(2, DT), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)
    )


def _edited_file(tmp_path, neuron, edits, metadata=None):
    """Affine(2 -> 2) -> neuron written with nir.write, then fields replaced (or deleted: None) with h5py."""
    g = _graph(
        nir.Affine(weight=np.full((2, 2), 0.5), bias=np.zeros(2)),
        neuron,
        input_shape=[2],
        output_shape=[2],
        metadata=metadata,
    )
    path = tmp_path / "bad.nir"
    nir.write(path, g)
    with h5py.File(path, "r+") as fh:
        for (node, field), value in edits.items():
            group = fh[f"node/nodes/{node}"]
            del group[field]
            if value is not None:
                group.create_dataset(field, data=value)
    return path


MALFORMED = {
    "cubalif without tau_syn": (
        _cuba2,
        {("n1", "tau_syn"): None},
        "node 'n1' (CubaLIF): no 'tau_syn' field; expected the synaptic time constant in seconds",
    ),
    "tau_syn = 0": (
        _cuba2,
        {("n1", "tau_syn"): np.zeros(2)},
        "node 'n1' (CubaLIF): tau_syn = 0; expected a time constant > 0 s",
    ),
    "affine without weight": (
        _lif2,
        {("n0", "weight"): None},
        "node 'n0' (Affine): no 'weight' field; expected a weight tensor",
    ),
    "nan weight": (
        _lif2,
        {("n0", "weight"): np.array([[np.nan, 0.5], [0.5, 0.5]])},
        "node 'n0' (Affine): weight has 1 non-finite value(s) (nan); expected finite numbers",
    ),
    "inf bias": (
        _lif2,
        {("n0", "bias"): np.array([np.inf, -np.inf])},
        "node 'n0' (Affine): bias has 2 non-finite value(s) (-inf, inf); expected finite numbers",
    ),
    "nan threshold": (
        _lif2,
        {("n1", "v_threshold"): np.full(2, np.nan)},
        "node 'n1' (LIF): v_threshold has 2 non-finite value(s) (nan); expected finite numbers",
    ),
    "tau = inf": (
        _lif2,
        {("n1", "tau"): np.full(2, np.inf)},
        "node 'n1' (LIF): tau = inf; expected a finite time constant: in tau dv/dt = (v_leak - v) + R I the input "
        "then reaches the membrane with gain R / tau = 0",
    ),
    "tau = 0": (_lif2, {("n1", "tau"): np.zeros(2)}, "node 'n1' (LIF): tau = 0; expected a time constant > 0 s"),
    "negative tau": (
        _lif2,
        {("n1", "tau"): np.full(2, -1e-3)},
        "node 'n1' (LIF): tau = -0.001; expected a time constant > 0 s",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_is_a_mapping_error_naming_node_and_field(tmp_path, default_chip, case):
    neuron, edits, message = MALFORMED[case]
    path = _edited_file(tmp_path, neuron(), edits)
    for run in (lambda: load_network(path, default_chip), lambda: check_drc(path, default_chip)):
        with pytest.raises(MappingError, match="^" + re.escape(message)) as info:
            run()
        assert type(info.value) is MappingError  # a malformed file, not a design rule (nor a KeyError)


def _file_edit(tmp_path, edit):
    """Affine(2 -> 2) -> LIF written with nir.write, then changed with ``edit(h5py_file)``."""
    path = _edited_file(tmp_path, _lif2(), {})
    with h5py.File(path, "r+") as fh:
        edit(fh)
    return path


def _replace(fh, name, value):
    del fh[name]
    fh.create_dataset(name, data=value)


def _metadata(group):
    return group["metadata"] if "metadata" in group else group.create_group("metadata")


def _nest(group, depth):
    for _ in range(depth):
        group = group.create_group("g")


# issue 12: each class of malformed file gives a MappingError naming the entry and what is allowed
MALFORMED_FILES = {
    "one-dimensional edges": (
        lambda fh: _replace(fh, "node/edges", np.array([b"input", b"n0"])),
        r"NIR graph: edges of shape \(2,\); expected an \(n, 2\) list of \(source, destination\) node names",
    ),
    "edges of three columns": (
        lambda fh: _replace(fh, "node/edges", np.array([[b"input", b"n0", b"n1"]])),
        r"edges of shape \(1, 3\); expected an \(n, 2\) list",
    ),
    "bias longer than the weight": (
        lambda fh: _replace(fh, "node/nodes/n0/bias", np.zeros(3)),
        r"node 'n0' \(Affine\): bias has 3 values for 2 outputs; expected 1 or 2",
    ),
    "dt as a string": (
        lambda fh: _metadata(fh["node"]).create_dataset("dt", data=b"0.001"),
        r"NIR graph metadata dt = '0.001'; expected one number of seconds > 0",
    ),
    "hwsim_threshold as a string": (
        lambda fh: _metadata(fh["node/nodes/n0"]).create_dataset("hwsim_threshold", data=b"abc"),
        r"node 'n0' \(Affine\): metadata: hwsim_threshold = 'abc'; expected a whole number",
    ),
    "hwsim_threshold as an array": (
        lambda fh: _metadata(fh["node/nodes/n0"]).create_dataset("hwsim_threshold", data=np.arange(3)),
        r"hwsim_threshold = \[0, 1, 2\]; expected a whole number",
    ),
    "hwsim_reset as an array": (
        lambda fh: _metadata(fh["node/nodes/n1"]).create_dataset("hwsim_reset", data=np.arange(2)),
        r"node 'n1' \(LIF\): metadata: hwsim_reset = \[0, 1\]; allowed subtract, zero",
    ),
    "hwsim_reset unknown": (
        lambda fh: _metadata(fh["node/nodes/n1"]).create_dataset("hwsim_reset", data=b"halve"),
        r"node 'n1' \(LIF\): metadata: hwsim_reset = 'halve'; allowed subtract, zero",
    ),
    "nodes as a dataset": (
        lambda fh: (fh["node"].__delitem__("nodes"), fh["node"].create_dataset("nodes", data=np.arange(3))),
        r"NIR graph: nodes = array\(\[0, 1, 2\]\); expected a group \(table\) of nodes",
    ),
    "node metadata as a dataset": (
        lambda fh: fh["node/nodes/n0"].create_dataset("metadata", data=np.arange(3)),
        r"NIR node 'n0': metadata = array\(\[0, 1, 2\]\); expected a group",
    ),
    "groups nested 2,000 deep": (
        lambda fh: _nest(fh["node/nodes/n0"], 2000),
        r"group 'node/nodes/n0(/g)+' is nested 33 levels deep; allowed at most 32",
    ),
    "a weight declared 200000 x 200000": (
        lambda fh: (fh["node/nodes/n0"].__delitem__("weight"),
                    fh["node/nodes/n0"].create_dataset("weight", shape=(200000, 200000), dtype="f8")),
        r"node/nodes/n0/weight: dataset declares shape \(200000, 200000\); allowed at most 67108864 elements",
    ),
    "a type that is not UTF-8": (
        lambda fh: _replace(fh, "node/nodes/n0/type", b"\xff\xfe"),
        r"node/nodes/n0/type: byte 0 \(0xff\) is not UTF-8; expected UTF-8 text",
    ),
    "a type that is a number": (
        lambda fh: _replace(fh, "node/nodes/n0/type", 7),
        r"NIR node 'n0': type = np.int64\(7\); expected a string",
    ),
    "a type that is a 2-D array (the message stays one line)": (
        lambda fh: _replace(fh, "node/nodes/n0/type", np.arange(6).reshape(2, 3)),
        r"NIR node 'n0': type = array\(\[\[0, 1, 2\], \[3, 4, 5\]\]\); expected a string",
    ),
    "graph metadata name as an array": (
        lambda fh: _metadata(fh["node"]).create_dataset("name", data=np.arange(3)),
        r"NIR graph metadata name = array\(\[0, 1, 2\]\); expected a string",
    ),
    "a compound dataset": (
        lambda fh: fh["node/nodes/n0"].create_dataset("extra", data=np.zeros(2, dtype=[("a", "i4"), ("b", "f4")])),
        r"node/nodes/n0/extra: dataset of type .*; allowed numbers or text",
    ),
    "a soft link": (
        lambda fh: fh["node/nodes/n0"].__setitem__("alias", h5py.SoftLink("/node/nodes/n1")),
        r"node/nodes/n0/alias is a SoftLink; allowed only groups and datasets",
    ),
    "an external link": (
        lambda fh: fh["node/nodes/n0"].__setitem__("other", h5py.ExternalLink("/etc/passwd", "/x")),
        r"node/nodes/n0/other is a ExternalLink; allowed only groups and datasets",
    ),
    "'node' as a dataset": (
        lambda fh: (fh.__delitem__("node"), fh.create_dataset("node", data=1)),
        r"'node' is not a group; expected the NIR graph group",
    ),
    "a weight of text": (
        lambda fh: _replace(fh, "node/nodes/n0/weight", b"abc"),
        r"node 'n0' \(Affine\): weight = 'abc' is not numeric; expected numbers",
    ),
    "an empty time constant": (
        lambda fh: _replace(fh, "node/nodes/n1/tau", np.zeros(0)),
        r"node 'n1' \(LIF\): tau is empty; expected a time constant > 0 s",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED_FILES))
def test_malformed_nir_files_name_the_entry_and_what_is_allowed(tmp_path, default_chip, case):
    edit, message = MALFORMED_FILES[case]
    path = _file_edit(tmp_path, edit)
    for run in (lambda: load_network(path, default_chip), lambda: check_drc(path, default_chip)):
        with pytest.raises(MappingError, match=message) as info:
            run()
        assert type(info.value) is MappingError and "\n" not in str(info.value)


def _conv_graph(**conv):
    """Input (1, 4, 4) -> Conv2d (2x2 kernel) -> Flatten -> IF, as a to_dict() graph; ``conv`` overrides fields."""
    node = {"type": "Conv2d", "input_shape": np.array([4, 4]), "weight": np.ones((1, 1, 2, 2)),
            "stride": np.array([1, 1]), "padding": np.array([0, 0]), "dilation": np.array([1, 1]),
            "groups": np.array(1), "bias": np.zeros(1), **conv}
    return {
        "nodes": {"input": {"type": "Input", "shape": np.array([1, 4, 4])}, "c": node,
                  "f": {"type": "Flatten", "start_dim": 0, "end_dim": -1},
                  "n": {"type": "IF", "r": np.array(1 / DT), "v_threshold": np.array(1.0)},
                  "output": {"type": "Output", "shape": np.array([9])}},
        "edges": [("input", "c"), ("c", "f"), ("f", "n"), ("n", "output")],
        "metadata": {},
    }


def _pool_graph(**pool):
    g = _conv_graph()
    g["nodes"]["c"] = {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([1, 1]),
                       "padding": np.array([0, 0]), **pool}
    return g


@pytest.mark.parametrize(
    "graph, message",
    [
        (_conv_graph(stride=np.array([0, 0])),
         r"node 'c' \(Conv2d\): stride = \[0, 0\]; expected 1 or 2 whole numbers in 1..67108864"),
        (_conv_graph(stride=np.array(1.5)), r"stride = 1.5; expected 1 or 2 whole numbers in 1..67108864"),
        (_conv_graph(stride="abc"), r"stride = 'abc'; expected 1 or 2 whole numbers in 1..67108864"),
        (_conv_graph(dilation=0), r"dilation = 0; expected 1 or 2 whole numbers in 1..67108864"),
        (_conv_graph(stride=np.array(1e300)), r"stride = 1e\+300; expected 1 or 2 whole numbers in 1..67108864"),
        (_conv_graph(groups=np.array(0)), r"groups = 0; expected a whole number in 1..67108864"),
        (_conv_graph(padding=np.array([-1, 0])), r"padding = \[-1, 0\]; expected 1 or 2 whole numbers in 0..67108864"),
        (_conv_graph(padding="full"), r"padding = 'full'; allowed 1 or 2 whole numbers >= 0, 'same' or 'valid'"),
        (_conv_graph(weight=np.ones((2, 2))), r"weight has shape \(2, 2\); expected \(C_out, C_in/groups, kH, kW\)"),
        (_conv_graph(bias=np.zeros(3)), r"bias has 3 values for 1 output channels; expected 1$"),
        # 4 + 2 x 9000 - 2 + 1 = 18003 rows and columns of output: 324 M outputs x 4 taps (> 256 Mi weights)
        (_conv_graph(padding=np.array([9000, 9000])),
         r"node 'c' \(Conv2d\): unrolls to 1x18003x18003 outputs of 1x2x2 inputs each \(1296432036 weights\); "
         r"allowed at most 268435456 per layer"),
        (_pool_graph(kernel_size=np.array([0, 0])), r"node 'c' \(SumPool2d\): kernel_size = \[0, 0\]; expected 1 or 2"),
        (_pool_graph(stride=np.array([0, 1])), r"node 'c' \(SumPool2d\): stride = \[0, 1\]; expected 1 or 2 whole"),
        (_pool_graph(padding=np.array([-2])), r"node 'c' \(SumPool2d\): padding = \[-2\]; expected 1 or 2 whole"),
    ],
)
def test_convolution_and_pooling_fields(default_chip, graph, message):
    with pytest.raises(MappingError, match=message) as info:
        from_nir(graph, default_chip)
    assert type(info.value) is MappingError


def test_fields_given_as_none_take_the_defaults(default_chip):
    """Exporters write absent optional fields as None: stride 1, padding 0, dilation 1, groups 1, no shape check."""
    plain_graph = from_nir(_conv_graph(), default_chip)
    with_none = from_nir(_conv_graph(stride=None, padding=None, dilation=None, groups=None), default_chip)
    np.testing.assert_array_equal(plain_graph.layers[0].weights, with_none.layers[0].weights)
    g = _conv_graph()
    g["nodes"]["output"]["shape"] = None
    assert from_nir(g, default_chip).n_outputs == 9


def test_a_composed_layer_beyond_the_limit_is_refused_before_it_is_built(default_chip):
    """Input 20000 -> Linear (to 1) -> Linear (to 20000) -> IF: composed, an outer product of 20000 x 20000 =
    400 M weights (> 256 Mi), refused from the two matrices' sizes before the product is built."""
    n = 20_000
    g = {
        "nodes": {"input": {"type": "Input", "shape": np.array([n])},
                  "a": {"type": "Linear", "weight": np.ones((1, n))},
                  "b": {"type": "Linear", "weight": np.ones((n, 1))},
                  "i": {"type": "IF", "r": np.array(1 / DT), "v_threshold": np.array(1.0)},
                  "output": {"type": "Output", "shape": np.array([n])}},
        "edges": [("input", "a"), ("a", "b"), ("b", "i"), ("i", "output")],
    }
    with pytest.raises(MappingError, match=r"node 'b' \(Linear\): a layer of 20000 inputs x 20000 neurons with up "
                                           r"to 400000000 weights; allowed at most 268435456 weights per layer"):
        from_nir(g, default_chip)


def test_a_layer_too_large_to_hold_dense_is_imported_sparse():
    """Input (1, 90, 90) -> Conv2d 3x3 'same', 8 channels -> IF: 8,100 x 64,800 = 525 M entries densely (beyond
    MAX_ARRAY_ELEMENTS), 580 k weights sparse: imported as a sparse layer equal to the unrolled kernel."""
    import scipy.sparse as sp

    from hwsim.config import load_chip_config
    from mapping.unroll import conv2d_matrix

    kernel = np.arange(1, 73, dtype=np.float64).reshape(8, 1, 3, 3) - 36
    g = _conv_graph(weight=kernel, input_shape=np.array([90, 90]), padding=np.array([1, 1]), bias=np.zeros(8))
    g["nodes"]["input"]["shape"] = np.array([1, 90, 90])
    g["nodes"]["output"]["shape"] = np.array([8 * 90 * 90])
    net = from_nir(g, load_chip_config("mesh64x64_28nm"))
    layer = net.layers[0]
    assert layer.is_sparse and layer.shape == (8, 90, 90)
    expected, _ = conv2d_matrix(kernel, (1, 90, 90), 1, 1)
    assert (sp.csc_array(expected) != layer.weights).nnz == 0


def test_carried_metadata_is_checked_like_a_network_file(default_chip):
    """hwsim_timesteps = 2.5 in the graph metadata is refused, not truncated to 2."""
    from hwsim.errors import HwsimError

    g = _conv_graph()
    g["metadata"] = {"hwsim_timesteps": 2.5}
    with pytest.raises(HwsimError, match=r"network metadata timesteps = 2.5: expected a whole number in 1..4096"):
        from_nir(g, default_chip)


def test_zero_dt_in_graph_metadata_is_a_mapping_error(tmp_path, default_chip):
    path = _edited_file(tmp_path, _lif2(), {}, metadata={"dt": 0.0})
    with pytest.raises(MappingError, match=re.escape("dt = 0.0: expected a positive time step in seconds")):
        load_network(path, default_chip)
    with pytest.raises(MappingError, match=re.escape("dt = 0: expected a positive time step in seconds")):
        load_network(_edited_file(tmp_path, _lif2(), {}), default_chip, dt_s=0)


def test_finite_weights_that_overflow_when_composed(default_chip):
    # each field is finite, but the composed matrix 1e200 @ 1e200 is not
    big = nir.Linear(weight=np.full((2, 2), 1e200))
    g = _graph(big, copy.deepcopy(big), nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0)), input_shape=[2])
    with pytest.raises(MappingError, match=r"layer 0 \(n0\): weights or biases overflow to inf"):
        from_nir(g, default_chip)


# --------------------------------------------------------------------------------- convolution unrolling
def _conv_direct(x, w, stride, pad, dil, groups):
    """Direct loops over a (C, H, W) input: PyTorch cross-correlation with zero padding."""
    C, H, W = x.shape
    co_n, cig, kh, kw = w.shape
    OH = (H + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    OW = (W + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((co_n, OH, OW))
    for co in range(co_n):
        g = co // (co_n // groups)
        for oy in range(OH):
            for ox in range(OW):
                s = 0.0
                for cl in range(cig):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride[0] - pad[0] + ky * dil[0], ox * stride[1] - pad[1] + kx * dil[1]
                            if 0 <= iy < H and 0 <= ix < W:
                                s += w[co, cl, ky, kx] * x[g * cig + cl, iy, ix]
                out[co, oy, ox] = s
    return out


@pytest.mark.parametrize(
    "stride,pad,dil,groups",
    [
        ((1, 1), (0, 0), (1, 1), 1),
        ((2, 1), (1, 2), (1, 1), 1),
        ((1, 1), (2, 2), (2, 1), 2),
        ((2, 2), (1, 1), (1, 1), 4),
    ],
)
def test_conv2d_matrix_equals_direct_convolution(rng, stride, pad, dil, groups):
    x = rng.normal(size=(4, 7, 6))
    w = rng.normal(size=(4, 4 // groups, 3, 2))
    m, shape = conv2d_matrix(w, x.shape, stride, pad, dil, groups)
    want = _conv_direct(x, w, stride, pad, dil, groups)
    assert shape == want.shape
    np.testing.assert_allclose(x.ravel() @ m.toarray(), want.ravel(), atol=1e-12)


@pytest.mark.parametrize("kind", ["sum", "avg"])
def test_pool_matrix_equals_direct_pooling(rng, kind):
    x = rng.normal(size=(2, 5, 6))
    m, shape = pool2d_matrix(kind, x.shape, [2, 3], [2, 2], [1, 0])
    xp = np.pad(x, ((0, 0), (1, 1), (0, 0)))
    OH, OW = (5 + 2 - 2) // 2 + 1, (6 - 3) // 2 + 1
    want = np.array(
        [[[xp[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 3].sum() for j in range(OW)] for i in range(OH)] for c in range(2)]
    )
    if kind == "avg":
        want = want / 6
    assert shape == (2, OH, OW)
    np.testing.assert_allclose(x.ravel() @ m.toarray(), want.ravel(), atol=1e-12)


def test_same_padding(rng):
    x = rng.normal(size=(1, 5, 5))
    w = rng.normal(size=(2, 1, 3, 3))
    m, shape = conv2d_matrix(w, x.shape, 1, "same", 1, 1)
    assert shape == (2, 5, 5)
    np.testing.assert_allclose(x.ravel() @ m.toarray(), _conv_direct(x, w, (1, 1), (1, 1), (1, 1), 1).ravel())


def test_conv_sumpool_flatten_affine_network_maps_and_runs(small_chip, rng):
    """Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> LIF, integer kernels so the weights can be checked."""
    chip = small_chip.replace(mesh_rows=3, mesh_cols=3)
    kernel = rng.integers(-3, 4, size=(2, 1, 3, 3)).astype(float)
    conv = nir.Conv2d(
        input_shape=None, weight=kernel, stride=1, padding=1, dilation=1, groups=1, bias=np.array([1.0, -1.0])
    )
    if1 = nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0))
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    flat = nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1)
    fc = nir.Affine(weight=rng.integers(-2, 3, size=(3, 8)).astype(float), bias=np.zeros(3))
    lif = nir.LIF(tau=np.full(3, DT), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.full(3, 0.5))
    g = _graph(conv, if1, pool, flat, fc, lif, input_shape=[1, 1, 4, 4], output_shape=[3])
    net = from_nir(g, chip)
    assert net.sizes == [16, 32, 3]  # conv: 2 x 4 x 4; pool + affine compose into one 32 -> 3 layer
    # the conv layer keeps its (C, H, W) for the tiling; pool + affine end flat
    assert net.layers[0].shape == (2, 4, 4) and net.layers[1].shape is None
    m, _ = conv2d_matrix(kernel, (1, 4, 4), 1, 1, 1, 1)
    np.testing.assert_array_equal(net.layers[0].weights, m.toarray())
    np.testing.assert_array_equal(net.layers[0].bias, np.repeat([1, -1], 16))
    pm, _ = pool2d_matrix("sum", (2, 4, 4), 2, 2, 0)
    np.testing.assert_array_equal(net.layers[1].weights, pm.toarray() @ fc.weight.T)
    info = net.metadata["nir_import"][0]
    assert info["nonzero_synapses"] == np.count_nonzero(m.toarray()) < info["synapses"] == 16 * 32
    rasters = random_raster(rng, 2, 4, 16, 0.5)
    program = map_network(net, chip, seed=0)
    assert_program_matches_network(program, net, rasters, chip.core.v_bits)


@pytest.mark.parametrize("shape", [[16], [1, 16], [4, 4], [1, 4, 4], [1, 1, 4, 4]])
def test_input_types_with_or_without_batch(default_chip, shape):
    conv_w = np.ones((1, 1, 2, 2))
    conv = nir.Conv2d(input_shape=(4, 4), weight=conv_w, stride=2, padding=0, dilation=1, groups=1, bias=np.zeros(1))
    g = _graph(conv, nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0)), input_shape=shape, output_shape=[1, 2, 2])
    net = from_nir(g, default_chip)
    assert net.sizes == [16, 4]
    assert (net.layers[0].weights == 1).sum() == 16


def test_batched_input_for_affine(default_chip):
    g = _graph(
        nir.Linear(weight=np.eye(3)),
        nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.0)),
        input_shape=[1, 3],
        output_shape=[1, 3],
    )
    assert from_nir(g, default_chip).sizes == [3, 3]
    bad = _graph(
        nir.Linear(weight=np.eye(3)),
        nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.0)),
        input_shape=[5],
        output_shape=[3],
    )
    with pytest.raises(MappingError, match=r"input of shape \[5\] does not give the 3 values"):
        from_nir(bad, default_chip)


# ---------------------------------------------------------------------------------- files and round trip
def test_file_with_mixed_scalar_and_tensor_params(tmp_path, default_chip):
    """A LIF whose tau is a scalar but whose threshold is a vector: the nir constructors reject it, we read it."""
    lif = nir.LIF(tau=np.full(3, 8 * DT), r=np.full(3, 8.0), v_leak=np.zeros(3), v_threshold=np.full(3, 1.0))
    g = _graph(nir.Affine(weight=np.eye(3), bias=np.zeros(3)), lif, input_shape=[3])
    path = tmp_path / "mixed.nir"
    nir.write(path, g)
    with h5py.File(path, "r+") as fh:
        node = fh["node/nodes/n1"]
        for key in ("tau", "r"):
            value = node[key][0]
            del node[key]
            node.create_dataset(key, data=value)  # 0-d dataset, as some exporters write
    with pytest.raises(AssertionError):
        nir.read(path)  # the nir package itself refuses this file
    (layer,) = load_network(path, default_chip).layers
    assert (layer.leak_shift, layer.integration) == (3, "continuous")


def test_graph_is_never_modified(default_chip):
    """NIRGraph.infer_types would add Input nodes and rewrite types; the mapper must not touch the graph."""
    conv = nir.Conv2d(
        input_shape=None, weight=np.ones((1, 1, 2, 2)), stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(1)
    )
    ifn = nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0))
    g = nir.NIRGraph(
        nodes={"conv": conv, "if": ifn, "out": nir.Output(output_type={"output": np.array([1, 2, 2])})},
        edges=[("conv", "if"), ("if", "out")],
        type_check=False,
    )
    g.nodes["in"] = nir.Input(input_type={"input": np.array([1, 3, 3])})
    g.edges.insert(0, ("in", "conv"))
    before = copy.deepcopy(g.to_dict())
    ids = {k: id(v) for k, v in g.nodes.items()}
    map_network(g, default_chip)
    after = g.to_dict()
    assert {k: id(v) for k, v in g.nodes.items()} == ids
    assert conv.input_type == {"input": None} and conv.output_type == {"output": None}
    assert list(after["nodes"]) == list(before["nodes"]) and after["edges"] == before["edges"]
    for k in before["nodes"]:
        for p, v in before["nodes"][k].items():
            np.testing.assert_equal(after["nodes"][k][p], v)


ROUND_TRIP_MODES = [
    dict(integration="discontinuous", reset="subtract"),
    dict(integration="discontinuous", reset="zero", fire_output=False),
    dict(integration="continuous", reset="zero"),
    dict(integration="continuous", reset="subtract", leak_shift=1),
    dict(integration="continuous", reset="zero", leak_shift=5, fire_output=False),
    dict(integration="continuous", reset="subtract", leak_shift=0, fire_output=False),
]


@pytest.mark.parametrize("mode", range(len(ROUND_TRIP_MODES)))
def test_round_trip_in_memory_and_file(tmp_path, small_chip, mode):
    chip = small_chip.replace(mesh_rows=3, mesh_cols=3)
    rng = np.random.default_rng(mode)
    net = random_network(rng, [30, 50, 20, 8], chip.core, **ROUND_TRIP_MODES[mode])
    for back in (from_nir(to_nir(net), chip), load_network(write_nir(net, tmp_path / "net.nir"), chip)):
        for a, b in zip(net.layers, back.layers):
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.bias, b.bias)
            assert a.header() == b.header()
        # and it maps identically (same seed, same placement, same program)
        p1, p2 = plan(net, chip, seed=2), plan(back, chip, seed=2)
        assert p1.placement.cores == p2.placement.cores
        for c1, c2 in zip(p1.program.cores, p2.program.cores):
            assert c1.header() == c2.header()
            np.testing.assert_array_equal(c1.weights, c2.weights)


def test_round_trip_keeps_layer_names(tmp_path, small_chip, rng):
    """'output' is the Output node's name and 'b_neuron' collides with the neuron node of a layer 'b'."""
    chip = small_chip.replace(mesh_rows=3, mesh_cols=3)
    net = random_network(rng, [6, 5, 4, 3], chip.core)
    names = ["b_neuron", "b", "output"]
    for layer, name in zip(net.layers, names):
        layer.name = name
    g = to_nir(net)
    assert len(g.nodes) == 2 + 2 * 3  # input, output, and an Affine plus a LIF per layer: none overwritten
    for back in (from_nir(g, chip), load_network(write_nir(net, tmp_path / "named.nir"), chip)):
        assert [layer.name for layer in back.layers] == names
        for a, b in zip(net.layers, back.layers):
            np.testing.assert_array_equal(a.weights, b.weights)


def test_round_trip_keeps_network_metadata(tmp_path, small_chip, rng):
    net = random_network(rng, [6, 5, 3], small_chip.core)
    carried = {
        "dataset": "digits",
        "classes": ["zero", "one", "two"],
        "image_shape": [2, 3],
        "timesteps": 5,
        "encoding": "latency",
        "encoding_seed": 7,
        "w_bits": 6,
        "v_bits": 12,
    }
    net.metadata.update(carried, name="tiny")
    for back in (from_nir(to_nir(net), small_chip), load_network(write_nir(net, tmp_path / "m.nir"), small_chip)):
        assert {k: back.metadata[k] for k in carried} == carried
        assert type(back.metadata["timesteps"]) is int and back.metadata["name"] == "tiny"


def test_exported_widths_are_kept_only_with_the_integers(small_chip, default_chip, rng):
    net = random_network(rng, [6, 5, 3], small_chip.core, integration="continuous")  # metadata v_bits = 12
    # its 6-bit integers fit the 16-bit chip unchanged (scale 1), so they keep the width they were made
    # for and the soft rule warns (continuous membranes can saturate differently), as for the .npz network
    with pytest.warns(DRCWarning, match="quantized for v_bits = 12, the chip has v_bits = 16"):
        back = from_nir(to_nir(net), default_chip)
    assert back.metadata["v_bits"] == 12 and back.metadata["scales"] == [1.0, 1.0]
    wide = random_network(rng, [6, 5, 3], default_chip.core, weight_range=(-128, 127))
    back = from_nir(to_nir(wide), small_chip)  # 8-bit weights re-quantized to 6 bits: the chip's widths
    assert back.metadata["scales"][0] < 1 and (back.metadata["w_bits"], back.metadata["v_bits"]) == (6, 12)


def test_bundled_network_through_nir_still_calibrates_on_its_dataset(tmp_path, small_chip):
    """`hwsim map --rates auto` reads dataset, timesteps and encoding from the network metadata."""
    from hwsim.commands.map import parse_rates
    from hwsim.training import load_default_network

    net = load_default_network()
    back = load_network(write_nir(net, tmp_path / "digits.nir"), small_chip)
    assert [layer.name for layer in back.layers] == [layer.name for layer in net.layers]
    raster, note = parse_rates("auto", back)
    assert note == f"32 {net.metadata['dataset']} test images"
    assert raster.shape == (32, net.metadata["timesteps"], net.n_inputs)


def test_exported_graph_passes_nir_type_check(small_chip, tmp_path, rng):
    net = random_network(rng, [30, 20, 8], small_chip.core, integration="continuous", leak_shift=2)
    g = to_nir(net)
    assert g.check_types()
    nir.write(tmp_path / "x.nir", g)
    assert set(nir.read(tmp_path / "x.nir").nodes) == set(g.nodes)


def test_load_network_rejects_other_suffixes(tmp_path):
    with pytest.raises(MappingError, match="expected a .npz network file or a .nir graph"):
        load_network(tmp_path / "net.onnx")
    with pytest.raises(MappingError, match="does not exist"):
        load_network(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_bytes(b"not hdf5")
    with pytest.raises(MappingError, match="not a NIR"):
        load_network(tmp_path / "junk.nir")


def test_scale_and_identity_nodes(default_chip):
    # Scale multiplies each value; Identity passes it on; both fold into the layer's weight matrix
    g = _graph(
        nir.Linear(weight=np.array([[1.0, 2.0], [3.0, 4.0]])),
        nir_graph.Identity(input_type={"input": np.array([2])}),
        nir.Scale(scale=np.array([2.0, -1.0])),
        nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.0)),
        input_shape=[2],
        output_shape=[2],
    )
    (layer,) = from_nir(g, default_chip).layers
    np.testing.assert_array_equal(layer.weights, [[2, -3], [4, -4]])  # (W * [2, -1][:, None]).T
    assert layer.threshold == 1


def test_snntorch_shaped_mlp_export_maps_and_matches(tmp_path, default_chip, rng):
    """The shape of snnTorch's export_to_nir for Flatten -> Linear -> Leaky -> Linear -> Leaky, written to a file:
    batch dims on Input/Flatten/Output, beta = 0.5 as full tensors in one layer and as one-element arrays
    in the other (0-d arrays cannot go through nir.write: h5py refuses compression on scalars)."""
    w1, w2 = rng.integers(-8, 9, size=(20, 12)) / 8, rng.integers(-8, 9, size=(5, 20)) / 8

    def leaky(n, beta, scalar):
        tau = DT / (1 - beta)
        p = [tau, tau / DT, 0.0, 1.0]
        p = [np.array([x]) if scalar else np.full(n, x) for x in p]
        return nir.LIF(tau=p[0], r=p[1], v_leak=p[2], v_threshold=p[3])

    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 3, 4])}),
        "flatten": nir.Flatten(input_type={"input": np.array([1, 3, 4])}, start_dim=1, end_dim=-1),
        "fc1": nir.Affine(weight=w1, bias=np.zeros(20)),
        "lif1": leaky(20, 0.5, scalar=False),
        "fc2": nir.Affine(weight=w2, bias=np.zeros(5)),
        "lif2": leaky(5, 0.5, scalar=True),
        "output": nir.Output(output_type={"output": np.array([1, 5])}),
    }
    order = list(nodes)
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), type_check=False)
    nir.write(tmp_path / "snn.nir", g)
    net = load_network(tmp_path / "snn.nir", default_chip, reset="subtract")
    assert net.sizes == [12, 20, 5]
    # beta = 0.5 -> leak_shift 1; gain 1 / 0.5; weights w/0.5 are multiples of 1/4 -> scale 127 / max|2w|
    for layer, w in zip(net.layers, (w1, w2)):
        assert (layer.leak_shift, layer.integration, layer.reset) == (1, "continuous", "subtract")
        s = 127 / np.abs(2 * w).max()
        np.testing.assert_array_equal(layer.weights, np.rint(2 * w.T * s))
        assert layer.threshold == int(np.floor(s)) + 1
    rasters = random_raster(rng, 2, 6, 12, 0.5)
    assert_program_matches_network(map_network(net, default_chip), net, rasters, default_chip.core.v_bits)


def test_nir_conv_with_more_inputs_than_axons_maps_by_receptive_field(small_chip, rng):
    """2x6x6 input (72 > 64 axons): each conv tile takes its receptive field; conv and pool layers keep their shapes."""
    chip = small_chip.replace(mesh_rows=4, mesh_cols=4)
    conv = nir.Conv2d(input_shape=(6, 6), weight=rng.integers(-3, 4, size=(4, 2, 3, 3)).astype(float), stride=1,
                      padding=1, dilation=1, groups=1, bias=np.zeros(4))
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    fc = nir.Affine(weight=rng.integers(-2, 3, size=(3, 36)).astype(float), bias=np.zeros(3))
    g = _graph(conv, nir.IF(r=np.array(1 / DT), v_threshold=np.array(1.0)), pool,
               nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.5)),
               nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0, end_dim=-1), fc,
               nir.IF(r=np.array(1 / DT), v_threshold=np.array(0.5)), input_shape=[2, 6, 6], output_shape=[3])
    net = from_nir(g, chip)
    assert [layer.shape for layer in net.layers] == [(4, 6, 6), (4, 3, 3), None]
    assert net.layers[0].n_in == 72 > chip.core.axons
    program = map_network(net, chip, seed=0)
    assert max(c.n_axons for c in program.cores) <= 64 and not any(c.psum_out for c in program.cores)
    rasters = random_raster(rng, 2, 5, 72, 0.5)
    assert_program_matches_network(program, net, rasters, chip.core.v_bits)

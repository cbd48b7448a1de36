"""NIR import of branching and residual graphs (feed-forward DAGs): several edges into one node are summed,
one node feeds several, explicit Identity / Scale join nodes, cycles refused.

Expected layers are written by hand from the graph; expected spikes come from a plain NumPy forward of the NIR
graph written here (IF neurons with r = 1/dt, integer weights: the float semantics are exact), never from the
code under test. The imported networks are also mapped on mesh8x8_28nm and run on the engine.
"""

import nir
import nir.ir.graph as nir_graph  # Identity is not exported at the top level of nir 1.0.8
import numpy as np
import pytest
from mapping_cases import assert_program_matches_network

from hwsim.chip import Chip
from hwsim.config import load_chip_config
from hwsim.network import simulate_network
from hwsim.testing import random_raster
from mapping import from_nir, map_network
from mapping.errors import DRCError

DT = 1e-4


@pytest.fixture
def mesh_chip():
    return load_chip_config("mesh8x8_28nm")


def _if(n, thr):
    """IF with r = 1/dt: v += input each step (gain dt * r = 1), spikes when v > thr, resets to 0."""
    return nir.IF(r=np.full(n, 1 / DT), v_threshold=np.full(n, float(thr)), v_reset=np.zeros(n))


def _graph(nodes, edges, input_shape, output_shape):
    all_nodes = {
        "input": nir.Input(input_type={"input": np.array(input_shape)}),
        **nodes,
        "output": nir.Output(output_type={"output": np.array(output_shape)}),
    }
    return nir.NIRGraph(nodes=all_nodes, edges=edges, metadata={}, type_check=False)


# --------------------------------------------------------------------------- plain NumPy forward of a NIR graph
def _conv_direct(x, w, pad):
    """Stride-1 2-D convolution (cross-correlation, as PyTorch) by loops: x (C, H, W), w (O, C, k, k)."""
    c_out, c_in, k, _ = w.shape
    _, h, wd = x.shape
    xp = np.zeros((c_in, h + 2 * pad, wd + 2 * pad))
    xp[:, pad : pad + h, pad : pad + wd] = x
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    out = np.zeros((c_out, oh, ow))
    for o in range(c_out):
        for y in range(oh):
            for xx in range(ow):
                out[o, y, xx] = np.sum(xp[:, y : y + k, xx : xx + k] * w[o])
    return out


def nir_forward(graph, order, raster):
    """Spikes of the Output node for one raster ``(T, n_in)``: every node's input is the sum of its predecessors'
    outputs (NIR semantics), nodes evaluated in ``order`` (a topological order written by the test)."""
    preds = {k: [a for a, b in graph.edges if b == k] for k in graph.nodes}
    state = {k: None for k in graph.nodes}
    out_t = []
    for x_t in raster.astype(np.float64):
        val = {}
        for key in order:
            node = graph.nodes[key]
            if isinstance(node, nir.Input):
                val[key] = x_t.reshape(node.input_type["input"])
                continue
            x = sum(val[p] for p in preds[key])
            if isinstance(node, nir.Affine):
                val[key] = node.weight @ x.ravel() + node.bias
            elif isinstance(node, nir.Linear):
                val[key] = node.weight @ x.ravel()
            elif isinstance(node, nir.Conv2d):
                shape = (node.weight.shape[1], *node.input_shape)
                val[key] = _conv_direct(x.reshape(shape), node.weight, int(np.asarray(node.padding).ravel()[0]))
                val[key] = val[key] + node.bias[:, None, None]
            elif isinstance(node, nir.Flatten):
                val[key] = x.ravel()
            elif isinstance(node, nir.Scale):
                val[key] = node.scale * x
            elif isinstance(node, nir_graph.Identity):
                val[key] = x
            elif isinstance(node, nir.IF):
                v = (np.zeros(x.shape) if state[key] is None else state[key]) + DT * node.r.reshape(x.shape) * x
                s = v > node.v_threshold.reshape(x.shape)
                v[s] = 0.0
                state[key] = v
                val[key] = s.astype(np.float64)
            elif isinstance(node, nir.Output):
                val[key] = x
            else:
                raise AssertionError(f"no forward for {type(node).__name__}")
        out_t.append(val["output"].ravel())
    return np.array(out_t, dtype=np.int64)


def _check_runs(graph, order, net, chip, rng, n_in, T=8, batch=3, p=0.5):
    """simulate_network of the import == the NIR forward; the mapped program on the engine == simulate_network."""
    rasters = random_raster(rng, batch, T, n_in, p)
    ref = simulate_network(net, rasters, chip.core.v_bits)
    for b in range(batch):
        np.testing.assert_array_equal(ref[-1][1][b], nir_forward(graph, order, rasters[b]))
    program = map_network(net, chip, seed=0)
    res = Chip.from_program(program).run(rasters)
    np.testing.assert_array_equal(res.output_spikes, ref[-1][1])
    hidden = assert_program_matches_network(program, net, rasters, chip.core.v_bits)  # every core, golden model
    assert hidden > 0 and ref[-1][1].any()  # the test sees spikes, not an all-zero run
    return program


# --------------------------------------------------------------------------- residual MLP
W1 = np.array([[1.0, 2, 0, -1], [0, 1, 3, 0], [2, -1, 1, 1], [1, 1, 1, 1], [-2, 0, 3, 1]])  # (5 out, 4 in)
B1 = np.array([0.0, 1, 0, -1, 0])
W2 = np.array([[1.0, 1, 0, 2, -1], [0, 2, 1, 0, 1], [3, -1, 0, 1, 1]])  # (3, 5)
W3 = np.array([[2.0, 0, -1, 1], [0, 1, 1, 0], [1, 1, 0, -2]])  # skip (3, 4)
B3 = np.array([1.0, 0, -1])


def residual_mlp():
    """Input -> Affine -> IF -> Linear -> IF (output), plus Input -> Affine (skip) into the second IF."""
    nodes = {
        "fc1": nir.Affine(weight=W1, bias=B1),
        "if1": _if(5, 1.5),
        "fc2": nir.Linear(weight=W2),
        "skip": nir.Affine(weight=W3, bias=B3),
        "if2": _if(3, 2.5),
    }
    edges = [("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "if2"), ("input", "skip"), ("skip", "if2"),
             ("if2", "output")]
    return _graph(nodes, edges, [4], [3]), ["input", "fc1", "if1", "fc2", "skip", "if2", "output"]


def test_residual_mlp_layers_by_hand(default_chip):
    g, _ = residual_mlp()
    net = from_nir(g, default_chip)
    a, b = net.layers
    assert a.inputs is None and a.shape is None  # reads the network input, as a chain layer
    np.testing.assert_array_equal(a.weights, W1.T)
    np.testing.assert_array_equal(a.bias, B1)
    # IF, r = 1/dt: continuous, no leak, gain 1; integers stay (scale 1); v > 1.5 <=> v >= 2
    assert (a.threshold, a.integration, a.leak_shift, a.reset) == (2, "continuous", 0, "zero")
    # the second IF sums fc2 (from if1, layer 0) and skip (from the input): edges into if2 in graph order
    assert b.inputs == (0, -1)
    np.testing.assert_array_equal(b.weights, np.vstack([W2.T, W3.T]))
    np.testing.assert_array_equal(b.bias, B3)  # fc2 is a Linear: only the skip's bias
    assert b.threshold == 3 and b.name == "fc2"  # named after the first linear node into it
    assert net.metadata["scales"] == [1.0, 1.0]
    assert net.sources(1) == (0, -1) and not net.is_chain


def test_residual_mlp_runs_like_the_nir_graph(mesh_chip, rng):
    g, order = residual_mlp()
    net = from_nir(g, mesh_chip)
    _check_runs(g, order, net, mesh_chip, rng, n_in=4)


def test_skip_edge_order_sets_the_block_order(default_chip):
    """The stacked blocks follow the edges into the join: the skip listed first puts the input block first."""
    g, _ = residual_mlp()
    edges = [("input", "skip"), ("skip", "if2")] + [e for e in g.edges if e not in (("input", "skip"), ("skip", "if2"))]
    net = from_nir(nir.NIRGraph(nodes=g.nodes, edges=edges, metadata={}, type_check=False), default_chip)
    assert net.layers[1].inputs == (-1, 0)
    np.testing.assert_array_equal(net.layers[1].weights, np.vstack([W3.T, W2.T]))


def test_join_shares_one_scale(default_chip):
    """Float weights: the join's stacked blocks get one scale, s = min(w_max / max|w|, (v_max - 1) / thr)."""
    w_main = np.array([[0.5, -2.0], [1.25, 0.0]])  # (2 out, 2 in) from if1
    nodes = {
        "fc1": nir.Linear(weight=np.eye(2)),
        "if1": _if(2, 0.5),
        "fc2": nir.Linear(weight=w_main),
        "if2": _if(2, 1.0),
    }
    edges = [("input", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "if2"), ("if1", "if2"), ("if2", "output")]
    # if1 feeds both fc2 and if2 (an identity skip); both reach if2 from the same source: one block W + I
    net = from_nir(_graph(nodes, edges, [2], [2]), default_chip)
    s = min(127 / 2.0, 32766 / 1.0)  # 63.5
    assert net.metadata["scales"][1] == pytest.approx(s)
    expected = np.rint(s * (w_main.T + np.eye(2)))  # [[1.5, 1.25], [-2, 1]] * 63.5, round half to even
    np.testing.assert_array_equal(net.layers[1].weights, expected)
    np.testing.assert_array_equal(net.layers[1].weights, [[95, 79], [-127, 64]])
    assert net.layers[1].inputs is None  # a single source: the previous layer
    assert net.layers[1].threshold == 64  # v > 63.5 <=> v >= 64


def test_identity_skip_from_a_float_layer_is_rint_of_the_scale(default_chip):
    """A pure identity skip from a layer other than the main path's: its own block, rint(s) on the diagonal."""
    nodes = {
        "fc0": nir.Linear(weight=np.eye(2)),
        "if0": _if(2, 0.5),
        "fc1": nir.Linear(weight=np.array([[1.0, 1.0], [0.0, 1.0]])),
        "if1": _if(2, 0.5),
        "fc2": nir.Linear(weight=np.array([[0.75, 0.0], [-1.5, 0.25]])),
        "if2": _if(2, 2.0),
    }
    edges = [("input", "fc0"), ("fc0", "if0"), ("if0", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "if2"),
             ("if0", "if2"), ("if2", "output")]
    net = from_nir(_graph(nodes, edges, [2], [2]), default_chip)
    s = 127 / 1.5  # the largest weight of the join is the skip's 1 < 1.5; threshold term 32766 / 2 is larger
    assert net.layers[2].inputs == (1, 0)
    np.testing.assert_array_equal(net.layers[2].weights[:2], np.rint(s * np.array([[0.75, -1.5], [0.0, 0.25]])))
    np.testing.assert_array_equal(net.layers[2].weights[2:], np.rint(s) * np.eye(2))  # 85 on the diagonal
    assert net.layers[2].weights[2, 0] == 85


# --------------------------------------------------------------------------- conv residual block
def _conv_matrix_by_loops(w, shape, pad):
    """(n_in, n_out) matrix of a stride-1 conv, written from the definition (input (c, y+ky-pad, x+kx-pad))."""
    c_out, c_in, k, _ = w.shape
    _, h, wd = shape
    m = np.zeros((c_in * h * wd, c_out * h * wd))
    for o in range(c_out):
        for y in range(h):
            for x in range(wd):
                for c in range(c_in):
                    for ky in range(k):
                        for kx in range(k):
                            iy, ix = y + ky - pad, x + kx - pad
                            if 0 <= iy < h and 0 <= ix < wd:
                                m[(c * h + iy) * wd + ix, (o * h + y) * wd + x] += w[o, c, ky, kx]
    return m


def conv_residual(rng, explicit_sum=False):
    """Input (2x5x5) -> conv0 -> IF x; x -> conv1 -> IF a -> conv2 -> (+) -> IF b; x -> (+) (identity skip);
    b -> Flatten -> Linear -> IF out. With ``explicit_sum`` the add is an Identity node, as some exporters write."""
    shape = (2, 5, 5)
    ws = [rng.integers(-1, 2, size=(2, 2, 3, 3)).astype(np.float64) for _ in range(3)]
    wo = rng.integers(0, 2, size=(3, 50)).astype(np.float64)  # excitatory: the output layer spikes
    nodes = {
        "conv0": nir.Conv2d(input_shape=(5, 5), weight=ws[0], stride=1, padding=1, dilation=1, groups=1,
                            bias=np.zeros(2)),
        "x": _if(50, 0.5),
        "conv1": nir.Conv2d(input_shape=(5, 5), weight=ws[1], stride=1, padding=1, dilation=1, groups=1,
                            bias=np.array([1.0, 0.0])),
        "a": _if(50, 0.5),
        "conv2": nir.Conv2d(input_shape=(5, 5), weight=ws[2], stride=1, padding=1, dilation=1, groups=1,
                            bias=np.zeros(2)),
        "b": _if(50, 1.5),
        "flat": nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0),
        "fc": nir.Linear(weight=wo),
        "out": _if(3, 1.5),
    }
    edges = [("input", "conv0"), ("conv0", "x"), ("x", "conv1"), ("conv1", "a"), ("a", "conv2")]
    if explicit_sum:
        nodes["add"] = nir_graph.Identity(input_type={"input": np.array(shape)})
        edges += [("conv2", "add"), ("x", "add"), ("add", "b")]
    else:
        edges += [("conv2", "b"), ("x", "b")]
    edges += [("b", "flat"), ("flat", "fc"), ("fc", "out"), ("out", "output")]
    order = ["input", "conv0", "x", "conv1", "a", "conv2"] + (["add"] if explicit_sum else []) + [
        "b", "flat", "fc", "out", "output"]
    return _graph(nodes, edges, list(shape), [3]), order, ws, wo


@pytest.mark.parametrize("explicit_sum", [False, True], ids=["implicit_sum", "identity_node"])
def test_conv_residual_block_layers_by_hand(default_chip, rng, explicit_sum):
    g, _, ws, wo = conv_residual(rng, explicit_sum)
    net = from_nir(g, default_chip)
    x, a, b, out = net.layers
    shape = (2, 5, 5)
    assert [layer.inputs for layer in net.layers] == [None, None, (1, 0), None]
    assert [layer.shape for layer in net.layers] == [shape, shape, shape, None]
    np.testing.assert_array_equal(x.weights, _conv_matrix_by_loops(ws[0], shape, 1))
    np.testing.assert_array_equal(a.weights, _conv_matrix_by_loops(ws[1], shape, 1))
    np.testing.assert_array_equal(a.bias, np.repeat([1, 0], 25))  # a conv bias per channel, C-order
    # the join: conv2's block (from a, layer 1) then the identity skip (from x, layer 0), exact integers
    np.testing.assert_array_equal(b.weights, np.vstack([_conv_matrix_by_loops(ws[2], shape, 1), np.eye(50)]))
    np.testing.assert_array_equal(out.weights, wo.T)
    assert [layer.threshold for layer in net.layers] == [1, 1, 2, 2]
    assert [layer.name for layer in net.layers] == ["conv0", "conv1", "conv2", "fc"]
    assert net.metadata["scales"] == [1.0] * 4


def test_conv_residual_block_runs_like_the_nir_graph(mesh_chip, rng):
    g, order, _, _ = conv_residual(rng, explicit_sum=True)
    net = from_nir(g, mesh_chip)
    program = _check_runs(g, order, net, mesh_chip, rng, n_in=50, T=6, batch=2, p=0.4)
    # layers are named after their first linear node; stages follow depth: b (conv2) after both x and a
    stage = {}
    for core in program.cores:
        layer = core.label.split("[")[0]
        stage[layer] = max(stage.get(layer, -1), core.stage)
    assert stage["conv0"] < stage["conv1"] < stage["conv2"] < stage["fc"]


# --------------------------------------------------------------------------- one node feeds two (a diamond)
def test_one_node_feeds_two_and_they_join_again(mesh_chip, rng):
    w = {k: rng.integers(-1, 3, size=shape).astype(np.float64)
         for k, shape in {"A": (6, 5), "B": (4, 6), "C": (3, 6), "D": (2, 4), "E": (2, 3)}.items()}
    nodes = {
        "A": nir.Linear(weight=w["A"]), "n1": _if(6, 0.5),
        "B": nir.Linear(weight=w["B"]), "n2": _if(4, 0.5),
        "C": nir.Linear(weight=w["C"]), "n3": _if(3, 0.5),
        "D": nir.Linear(weight=w["D"]), "E": nir.Scale(scale=np.array([2.0])),
        "E2": nir.Linear(weight=w["E"]), "n4": _if(2, 1.5),
    }
    edges = [("input", "A"), ("A", "n1"), ("n1", "B"), ("n1", "C"), ("B", "n2"), ("C", "n3"),
             ("n2", "D"), ("D", "n4"), ("n3", "E2"), ("E2", "E"), ("E", "n4"), ("n4", "output")]
    g = _graph(nodes, edges, [5], [2])
    net = from_nir(g, mesh_chip)
    assert [layer.name for layer in net.layers] == ["A", "B", "C", "D"]
    assert [net.sources(k) for k in range(4)] == [(-1,), (0,), (0,), (1, 2)]
    assert [layer.inputs for layer in net.layers] == [None, None, (0,), (1, 2)]
    np.testing.assert_array_equal(net.layers[3].weights, np.vstack([w["D"].T, 2 * w["E"].T]))  # Scale 2 on E
    order = ["input", "A", "n1", "B", "C", "n2", "n3", "D", "E2", "E", "n4", "output"]
    _check_runs(g, order, net, mesh_chip, rng, n_in=5)


def test_readout_join_is_a_membrane_readout(default_chip):
    """Linear nodes from two layers summed into the Output: one membrane-readout layer reading both."""
    nodes = {"A": nir.Linear(weight=np.eye(3)), "n1": _if(3, 0.5), "B": nir.Linear(weight=np.ones((2, 3))),
             "C": nir.Affine(weight=np.array([[1.0, 0, -1], [0, 2, 0]]), bias=np.array([0.0, 3.0]))}
    edges = [("input", "A"), ("A", "n1"), ("n1", "B"), ("input", "C"), ("B", "output"), ("C", "output")]
    net = from_nir(_graph(nodes, edges, [3], [2]), default_chip)
    readout = net.layers[1]
    assert not readout.fire and readout.inputs == (0, -1) and readout.integration == "discontinuous"
    np.testing.assert_array_equal(readout.weights, [[1, 1], [1, 1], [1, 1], [1, 0], [0, 2], [-1, 0]])
    np.testing.assert_array_equal(readout.bias, [0, 3])


# --------------------------------------------------------------------------- refused graphs
def test_cycle_is_refused_naming_its_nodes(default_chip):
    nodes = {"a": nir.Linear(weight=np.eye(3)), "l1": _if(3, 0.5), "b": nir.Linear(weight=np.eye(3)),
             "l2": _if(3, 0.5)}
    edges = [("input", "a"), ("a", "l1"), ("l1", "b"), ("b", "l2"), ("l2", "a"), ("l2", "output")]
    with pytest.raises(DRCError, match=r"cycle in the graph: a -> l1 -> b -> l2 -> a\); recurrent networks are "
                                       r"out of scope") as info:
        from_nir(_graph(nodes, edges, [3], [3]), default_chip)
    assert info.value.rule == "no_recurrence"


def test_branch_that_never_reaches_the_output_is_refused(default_chip):
    nodes = {"a": nir.Linear(weight=np.eye(3)), "l1": _if(3, 0.5), "dead": nir.Linear(weight=np.eye(3))}
    edges = [("input", "a"), ("a", "l1"), ("l1", "dead"), ("l1", "output")]
    with pytest.raises(DRCError, match=r"input_to_output .*never reaches the Output: \['dead'\]"):
        from_nir(_graph(nodes, edges, [3], [3]), default_chip)


def test_readout_feeding_a_later_layer_is_refused(default_chip):
    nodes = {"a": nir.Linear(weight=np.eye(3)), "li": nir.LI(tau=np.full(3, 2 * DT), r=np.ones(3),
                                                              v_leak=np.zeros(3)),
             "b": nir.Linear(weight=np.eye(3)), "l2": _if(3, 0.5)}
    edges = [("input", "a"), ("a", "li"), ("li", "b"), ("b", "l2"), ("li", "output"), ("l2", "output")]
    with pytest.raises(DRCError, match="readout_last_only violated at node 'li'"):
        from_nir(_graph(nodes, edges, [3], [3]), default_chip)


# --------------------------------------------------------------------------- export of DAG networks
def _dag_network(rng, chip):
    """a (from the input), b, res = join of a and b, out = readout reading res and the input (a skip)."""
    from hwsim.network import Layer, Network

    def layer(n_in, n_out, name, inputs=None, fire=True, shape=None, **regs):
        regs = {"threshold": 6, "leak_shift": 0, "integration": "discontinuous", "reset": "zero", **regs}
        return Layer(weights=rng.integers(-5, 9, size=(n_in, n_out)).astype(np.int32),
                     bias=rng.integers(-2, 3, size=n_out).astype(np.int32), name=name, inputs=inputs, fire=fire,
                     shape=shape, **regs)

    return Network(layers=[
        layer(12, 8, "a", shape=(2, 2, 2)),
        layer(8, 6, "b", integration="continuous", leak_shift=2, reset="subtract"),
        layer(14, 6, "res", inputs=(1, 0)),
        layer(18, 4, "out", inputs=(2, -1), fire=False, threshold=0),
    ], metadata={"name": "dag"})


@pytest.mark.parametrize("readout", ["discontinuous", "continuous"])
def test_dag_network_round_trip(tmp_path, default_chip, rng, readout):
    from mapping import load_network, to_nir, write_nir

    net = _dag_network(rng, default_chip)
    net.layers[-1].integration = readout
    g = to_nir(net)
    # the join's blocks are separate synapse nodes whose edges come from their sources' neuron nodes
    assert ("b_neuron", "res") in g.edges and ("a_neuron", "res_from_a_neuron") in g.edges
    assert ("res", "res_neuron") in g.edges and ("res_from_a_neuron", "res_neuron") in g.edges
    assert ("input", "out_from_input") in g.edges
    assert g.check_types()  # nir's own type check accepts the summed edges
    for back in (from_nir(g, default_chip), load_network(write_nir(net, tmp_path / "dag.nir"), default_chip)):
        assert [layer.inputs for layer in back.layers] == [None, None, (1, 0), (2, -1)]
        for a, b in zip(net.layers, back.layers):
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.bias, b.bias)
            assert a.header() == b.header()  # registers, name, shape and inputs
        rasters = random_raster(rng, 2, 5, 12, 0.5)
        for (m1, s1), (m2, s2) in zip(simulate_network(net, rasters, 16), simulate_network(back, rasters, 16)):
            np.testing.assert_array_equal(m1, m2)
            np.testing.assert_array_equal(s1, s2)


# --------------------------------------------------------------------------- a framework's residual export
def test_snntorch_residual_exported_by_nirtorch_fx_runs_exactly(mesh_chip):
    """lif2(fc2(lif1(fc1(x))) + skip(x)) built in snnTorch 1.0.0 and exported by nirtorch 2.6's torch.fx tracer with
    snnTorch's node converter (tests/data/nir/make_framework_residual.py): the add is two edges into lif2. Integer
    weights and beta = 0 make PyTorch's float spikes the exact reference (stored with the graph)."""
    import h5py
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "nir"
    with h5py.File(data / "snntorch_residual.nir", "r") as f:  # the expected blocks, read without hwsim
        w = {k: f[f"node/nodes/{k}/weight"][()] for k in ("fc1", "fc2", "skip")}
        b = {k: f[f"node/nodes/{k}/bias"][()] for k in ("fc1", "fc2", "skip")}
    stored = np.load(data / "snntorch_residual.npz", allow_pickle=False)
    net = from_nir(data / "snntorch_residual.nir", mesh_chip)
    hidden, out = net.layers
    assert (hidden.inputs, out.inputs) == (None, (0, -1))  # fc2 (from lif1) then skip (from the input)
    assert (out.integration, out.threshold, net.metadata["scales"]) == ("discontinuous", 1, [1.0, 1.0])
    np.testing.assert_array_equal(hidden.weights, w["fc1"].T)
    np.testing.assert_array_equal(out.weights, np.vstack([w["fc2"].T, w["skip"].T]))
    np.testing.assert_array_equal(out.bias, b["fc2"] + b["skip"])
    rasters, spikes = stored["rasters"], stored["spikes"]
    ref = simulate_network(net, rasters, mesh_chip.core.v_bits)
    np.testing.assert_array_equal(ref[-1][1], spikes)  # the framework's own spikes, bit for bit
    program = map_network(net, mesh_chip, seed=0)
    np.testing.assert_array_equal(Chip.from_program(program).run(rasters).output_spikes, spikes)
    assert 0 < spikes.mean() < 1


def test_snntorch_conv_residual_exported_by_nirtorch_fx_runs_exactly(mesh_chip):
    """A conv residual block (3x3 convs, a 1x1 conv on the skip, PyTorch NCHW, conv biases, missing input_shape in
    the exporter's output filled in before nir.write), the add as two edges: one join layer of two conv blocks."""
    import h5py
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "nir"
    with h5py.File(data / "snntorch_conv_residual.nir", "r") as f:
        w = {k: f[f"node/nodes/{k}/weight"][()] for k in ("conv1", "conv2", "skip", "fc")}
        b = {k: f[f"node/nodes/{k}/bias"][()] for k in ("conv1", "conv2", "skip", "fc")}
    stored = np.load(data / "snntorch_conv_residual.npz", allow_pickle=False)
    net = from_nir(data / "snntorch_conv_residual.nir", mesh_chip)
    assert [layer.inputs for layer in net.layers] == [None, (0, -1), None]
    assert [layer.shape for layer in net.layers] == [(2, 5, 5), (2, 5, 5), None]
    np.testing.assert_array_equal(net.layers[0].weights, _conv_matrix_by_loops(w["conv1"], (1, 5, 5), 1))
    np.testing.assert_array_equal(net.layers[1].weights, np.vstack([
        _conv_matrix_by_loops(w["conv2"], (2, 5, 5), 1), _conv_matrix_by_loops(w["skip"], (1, 5, 5), 0)]))
    np.testing.assert_array_equal(net.layers[1].bias, np.repeat(b["conv2"] + b["skip"], 25))  # NCHW: per channel
    np.testing.assert_array_equal(net.layers[2].weights, w["fc"].T)
    assert net.metadata["scales"] == [1.0, 1.0, 1.0]
    rasters, spikes = stored["rasters"], stored["spikes"]
    np.testing.assert_array_equal(simulate_network(net, rasters, mesh_chip.core.v_bits)[-1][1], spikes)
    program = map_network(net, mesh_chip, seed=0)
    np.testing.assert_array_equal(Chip.from_program(program).run(rasters).output_spikes, spikes)
    assert 0 < spikes.mean() < 1


# --------------------------------------------------------------------------- random DAGs
@pytest.mark.parametrize("seed", range(4))
def test_random_dags_run_like_the_nir_graph(mesh_chip, seed):
    """Random feed-forward graphs of IF neurons: each reads 1-3 earlier neuron nodes or the Input, each through its
    own Linear (sometimes two Linears from the same source, sometimes a bare identity edge), the last one reads
    every node nothing else reads. simulate_network of the import equals the NumPy forward; the engine equals it."""
    rng = np.random.default_rng(100 + seed)
    sizes = {"input": 6}
    nodes, edges, order = {}, [], ["input"]
    n_layers = 5
    readers = {"input": 0}
    for k in range(n_layers):
        me, n = f"if{k}", int(rng.integers(3, 8))
        earlier = [s for s in sizes]
        if k == n_layers - 1:
            srcs = [s for s in earlier if readers[s] == 0] or [earlier[-1]]
        else:
            srcs = list(rng.choice(earlier, size=min(len(earlier), int(rng.integers(1, 4))), replace=False))
        if k == 0:
            srcs = ["input"]
        paths = []
        for j, s in enumerate(srcs):
            readers[s] += 1
            if sizes[s] == n and rng.random() < 0.3:
                paths.append(s)  # an identity edge straight into the neuron node
                continue
            for rep in range(1 + int(rng.random() < 0.25)):  # sometimes two Linears from one source
                lin = f"w{k}_{j}_{rep}"
                nodes[lin] = nir.Linear(weight=rng.integers(-1, 3, size=(n, sizes[s])).astype(np.float64))
                edges.append((s, lin))
                order.append(lin)
                paths.append(lin)
        nodes[me] = _if(n, float(rng.integers(0, 3)) + 0.5)
        edges += [(p, me) for p in paths]
        order.append(me)
        sizes[me], readers[me] = n, 0
    edges.append((f"if{n_layers - 1}", "output"))
    order.append("output")
    g = _graph(nodes, edges, [6], [sizes[f"if{n_layers - 1}"]])
    net = from_nir(g, mesh_chip)
    assert len(net.layers) == n_layers and net.metadata["scales"] == [1.0] * n_layers
    rasters = random_raster(rng, 3, 6, 6, 0.5)
    ref = simulate_network(net, rasters, mesh_chip.core.v_bits)
    for b in range(3):
        np.testing.assert_array_equal(ref[-1][1][b], nir_forward(g, order, rasters[b]))
    program = map_network(net, mesh_chip, seed=0)
    np.testing.assert_array_equal(Chip.from_program(program).run(rasters).output_spikes, ref[-1][1])


def test_readout_summed_with_spikes_at_the_output_is_refused(default_chip):
    """An LI membrane and a spiking layer both into the Output: the sum would need the LI layer as a source."""
    nodes = {"a": nir.Linear(weight=np.eye(3)), "li": nir.LI(tau=np.full(3, 2 * DT), r=np.ones(3),
                                                              v_leak=np.zeros(3)),
             "b": nir.Linear(weight=np.eye(3)), "l2": _if(3, 0.5)}
    edges = [("input", "a"), ("a", "li"), ("input", "b"), ("b", "l2"), ("li", "output"), ("l2", "output")]
    with pytest.raises(DRCError, match="readout_last_only violated at node 'li': needs a non-spiking LI node summed "
                                       "with other inputs of the Output"):
        from_nir(_graph(nodes, edges, [3], [3]), default_chip)

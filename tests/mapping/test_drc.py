"""Design rules: each rule raises DRCError naming itself, the layer, the need and the limit."""

import re

import nir
import numpy as np
import pytest

from hwsim.network import Layer, Network
from mapping import DESIGN_RULES, DRCError, DRCWarning, MappingError, check_drc, drc, from_nir, map_network
from mapping.drc import supported_node_types
from mapping.graph import nir_view


def _net(sizes, over=None):
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        kw = dict(weights=np.ones((a, b), np.int32), bias=np.zeros(b, np.int32), threshold=3, name=f"fc{k}")
        kw.update((over or {}).get(k, {}))
        layers.append(Layer(**kw))
    return Network(layers=layers)


def _raises(rule, subject, chip, *fragments):
    with pytest.raises(DRCError) as info:
        if isinstance(subject, Network):
            map_network(subject, chip)
        else:
            from_nir(subject, chip)
    err = info.value
    assert isinstance(err, MappingError)
    assert err.rule == rule, str(err)
    msg = str(err)
    assert f"design rule {rule} violated" in msg
    for f in fragments:
        assert f in msg, msg
    return err


# ------------------------------------------------------------------ network rules (small chip: A=64, N=32, 2x2)
def test_fanin_le_axons(small_chip):
    err = _raises("fanin_le_axons", _net([65, 10]), small_chip, "layer 0 (fc0)", "fan-in 65", "64 axons per core")
    assert err.layer == "layer 0 (fc0)" and err.needed == "fan-in 65"


def test_neurons_fit_cores(small_chip):
    # 60 + 60 + 20 = 140 neurons > 4 x 32 = 128 (fan-ins fit)
    _raises(
        "neurons_fit_cores", _net([10, 60, 60, 20]), small_chip, "140 neurons (60+60+20)", "128 neurons (4 cores x 32)"
    )


def test_cores_le_chip_cores(small_chip):
    # 33 + 33 + 10 = 76 neurons fit, but need 2 + 2 + 1 = 5 cores > 4
    _raises(
        "cores_le_chip_cores", _net([10, 33, 33, 10]), small_chip, "5 cores (2+2+1 per layer)", "4 cores (2x2 mesh)"
    )


@pytest.mark.parametrize(
    "sizes, rule",
    [([65, 10], "fanin_le_axons"), ([10, 60, 60, 20], "neurons_fit_cores"), ([10, 33, 33, 10], "cores_le_chip_cores")],
)
def test_capacity_rules_on_sizes_alone_say_the_same(small_chip, sizes, rule):
    """The NIR import checks sizes before building matrices with drc.check_layer_sizes: one rule, one message."""
    net = _net(sizes)
    with pytest.raises(DRCError) as on_network:
        check_drc(net, small_chip)
    shapes = [(f"layer {k} ({layer.name})", layer.n_in, layer.n_out) for k, layer in enumerate(net.layers)]
    with pytest.raises(DRCError) as on_sizes:
        drc.check_layer_sizes(shapes, small_chip)
    assert on_network.value.rule == on_sizes.value.rule == rule
    assert str(on_network.value) == str(on_sizes.value)


def test_weights_fit_w_bits(small_chip):
    w = np.zeros((5, 4), np.int32)
    w[2, 1] = 32  # w_bits = 6: -32..31
    _raises("weights_fit_w_bits", _net([5, 4, 3], {0: {"weights": w}}), small_chip, "layer 0", "weight 32", "-32..31")
    w[2, 1] = -33
    _raises("weights_fit_w_bits", _net([5, 4], {0: {"weights": w}}), small_chip, "weight -33")


def test_bias_fit_v_bits(small_chip):
    b = np.array([0, 2048, 0], np.int32)  # v_bits = 12: -2048..2047
    _raises(
        "bias_fit_v_bits", _net([5, 4, 3], {1: {"bias": b}}), small_chip, "layer 1 (fc1)", "bias 2048", "-2048..2047"
    )


@pytest.mark.parametrize("th", [-1, 2048])
def test_threshold_in_range(small_chip, th):
    _raises("threshold_in_range", _net([5, 4], {0: {"threshold": th}}), small_chip, f"threshold {th}", "0..2047")


def test_leak_shift_in_range(small_chip):
    _raises(
        "leak_shift_in_range",
        _net([5, 4], {0: {"leak_shift": 12, "integration": "continuous"}}),
        small_chip,
        "leak_shift 12",
        "0..11",
    )


def test_v_bits_match_network_warns_when_saturation_can_differ(default_chip):
    # column sums: 30 weights of 70 = 2100, beyond the 12-bit range (max 2047), inside the 16-bit one
    net = _net([30, 4], {0: dict(weights=np.full((30, 4), 70, np.int32))})
    net.metadata["v_bits"] = 16
    check_drc(net, default_chip)  # same width: silent
    net.metadata["v_bits"] = 12
    with pytest.warns(DRCWarning, match=r"v_bits_match_network .* quantized for v_bits = 12, the chip has "
                                        r"v_bits = 16; layer 'fc0' can reach membranes 0..2100, beyond the "
                                        r"12-bit range -2048..2047"):
        map_network(net, default_chip)


def test_v_bits_match_network_silent_when_no_membrane_can_saturate(default_chip):
    # 30 x 68 = 2040 plus bias 7 = 2047: every partial sum fits 12 bits, so 12 and 16 bits give the same bits
    over = {0: dict(weights=np.full((30, 4), 68, np.int32), bias=np.full(4, 7, np.int32)),
            1: dict(weights=np.full((4, 2), -60, np.int32), bias=np.full(2, -5, np.int32))}
    net = _net([30, 4, 2], over)
    net.metadata["v_bits"] = 12
    map_network(net, default_chip)  # silent: a warning is an error under pytest here
    # one more unit of bias and the bound no longer fits
    net.layers[0].bias[:] = 8
    with pytest.warns(DRCWarning, match=r"layer 'fc0' can reach membranes 0..2048"):
        map_network(net, default_chip)


def test_v_bits_match_network_warns_for_continuous_layers(default_chip):
    net = _net([5, 4], {0: dict(integration="continuous")})  # tiny sums, but they accumulate over time
    net.metadata["v_bits"] = 12
    with pytest.warns(DRCWarning, match=r"layer 'fc0' integrates continuously"):
        map_network(net, default_chip)


# ---------------------------------------------------------------------------------------- NIR rules
def _lif(n, **kw):
    p = dict(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def _aff(n_in, n_out):
    return nir.Affine(weight=np.ones((n_out, n_in)) * 0.1, bias=np.zeros(n_out))


def _graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _chain(*nodes):
    names = [f"n{k}" for k in range(len(nodes))]
    n_in = nodes[0].input_type["input"]
    all_nodes = {
        "in": nir.Input(input_type={"input": np.array(n_in)}),
        **dict(zip(names, nodes)),
        "out": nir.Output(output_type={"output": np.array(nodes[-1].output_type["output"])}),
    }
    seq = ["in"] + names + ["out"]
    return _graph(all_nodes, list(zip(seq[:-1], seq[1:])))


def test_no_recurrence(default_chip):
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([4])}),
            "a": _aff(4, 4),
            "l": _lif(4),
            "out": nir.Output(output_type={"output": np.array([4])}),
        },
        [("in", "a"), ("a", "l"), ("l", "a"), ("l", "out")],
    )
    _raises("no_recurrence", g, default_chip, "a recurrent connection")


def test_no_recurrence_subgraph(default_chip):
    sub = _graph({"a": _aff(4, 4), "l": _lif(4)}, [("a", "l"), ("l", "a")])
    g = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([4])}),
            "rleaky": sub,
            "out": nir.Output(output_type={"output": np.array([4])}),
        },
        [("in", "rleaky"), ("rleaky", "out")],
    )
    _raises("no_recurrence", g, default_chip, "node 'rleaky'", "nested subgraph")


def test_supported_node_types(default_chip):
    g = _chain(_aff(4, 4), nir.Threshold(threshold=np.ones(4)))
    _raises("supported_node_types", g, default_chip, "needs node type 'Threshold'", "Affine")


def test_unsupported_node_type_message_quotes_the_type(default_chip):
    """Catches the old wording "needs a  node" for an empty type string (and "a abc node")."""
    g = _chain(_aff(4, 4), nir.Threshold(threshold=np.ones(4)))
    view = nir_view(g)
    key = next(k for k, node in view.nodes.items() if node["type"] == "Threshold")
    view.nodes[key]["type"] = ""
    with pytest.raises(DRCError, match=r"needs node type ''"):
        supported_node_types(view, default_chip)


def test_input_to_output(default_chip):
    """Branches and joins are fine (see tests/mapping/test_nir_graphs.py); a branch that never reaches the Output
    is not."""
    nodes = {
        "in": nir.Input(input_type={"input": np.array([4])}),
        "a": _aff(4, 4),
        "b": _aff(4, 4),
        "l": _lif(4),
        "out": nir.Output(output_type={"output": np.array([4])}),
    }
    assert "input_to_output" in check_drc(
        _graph(nodes, [("in", "a"), ("in", "b"), ("a", "l"), ("b", "l"), ("l", "out")]), default_chip
    )
    g = _graph(nodes, [("in", "a"), ("in", "b"), ("a", "l"), ("l", "out")])
    _raises("input_to_output", g, default_chip, "nodes whose result never reaches the Output: ['b']")


def test_uniform_neuron_params(default_chip):
    g = _chain(_aff(4, 3), _lif(3, v_threshold=np.array([1.0, 1.0, 2.0])))
    _raises("uniform_neuron_params", g, default_chip, "node 'n1'", "v_threshold varying over neurons (1..2)")


def test_reset_is_zero_or_subtract(default_chip):
    g = _chain(_aff(4, 3), _lif(3, v_reset=np.full(3, 0.5)))
    _raises("reset_is_zero_or_subtract", g, default_chip, "reset to v_reset = 0.5")


def test_tau_ge_dt(default_chip):
    g = _chain(_aff(4, 3), _lif(3, tau=np.full(3, 5e-5)))  # dt defaults to 1e-4
    _raises("tau_ge_dt", g, default_chip, "tau = 5e-05 s", "dt = 0.0001 s")


def test_no_synaptic_state(default_chip):
    cuba = nir.CubaLIF(
        tau_syn=np.full(3, 5e-3), tau_mem=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)
    )
    _raises("no_synaptic_state", _chain(_aff(4, 3), cuba), default_chip, "tau_syn = 0.005 s")


def test_readout_last_only(default_chip):
    li = nir.LI(tau=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3))
    _raises("readout_last_only", _chain(_aff(4, 3), li, _aff(3, 2), _lif(2)), default_chip, "non-spiking LI")


def test_nir_capacity_rules_checked_before_densifying(small_chip):
    """A NIR conv layer too large for the chip is refused on its sizes, with the same rule names."""
    conv = nir.Conv2d(
        input_shape=(8, 8), weight=np.ones((4, 1, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4)
    )
    g = _chain(conv, nir.IF(r=np.full((4, 8, 8), 1e4), v_threshold=np.ones((4, 8, 8))))
    _raises("neurons_fit_cores", g, small_chip, "256 neurons")


# --------------------------------------------------------------------------------------------- meta
def test_every_rule_is_listed_named_and_tested():
    names = [r.__name__ for r in DESIGN_RULES]
    assert len(set(names)) == len(names)
    assert all(getattr(drc, n) is r for n, r in zip(names, DESIGN_RULES))
    assert {r.subject for r in DESIGN_RULES} == {"nir", "network"}


def test_all_rules_have_a_test():
    # read from this file, so the check holds whatever order or worker runs the tests
    with open(__file__) as fh:
        src = fh.read()
    tested = {n for n in drc.__all__ if re.search(r'_raises\(\s*"' + n + '"', src)}
    tested |= {n for n in drc.__all__ if f"def test_{n}_warns" in src}
    assert {r.__name__ for r in DESIGN_RULES} <= tested


def test_check_drc_returns_names_of_passed_rules(small_chip):
    names = check_drc(_net([5, 4]), small_chip)
    assert names == [r.__name__ for r in DESIGN_RULES if r.subject == "network"]


def test_check_drc_never_modifies_a_nir_graph(default_chip):
    g = _chain(_aff(4, 3), _lif(3))
    before = {k: type(v) for k, v in g.nodes.items()}, list(g.edges)
    check_drc(g, default_chip)
    assert ({k: type(v) for k, v in g.nodes.items()}, list(g.edges)) == before


@pytest.mark.parametrize("field, value", [("start_dim", np.array([0, 0, 0, 0])), ("end_dim", 1.5), ("start_dim", 99)])
def test_flatten_dims_must_be_one_whole_number(default_chip, field, value):
    """Catches a Flatten whose start_dim/end_dim is a list, a fraction or out of range being accepted silently."""
    flatten = nir.Flatten(input_type={"input": np.array([4])}, start_dim=0, end_dim=-1)
    setattr(flatten, field, value)
    with pytest.raises(MappingError, match=rf"\(Flatten\): {field} = .*; expected a whole number in -8\.\.7"):
        from_nir(_chain(flatten, _aff(4, 4)), default_chip)


def test_flatten_with_valid_dims_maps(default_chip):
    """Catches a bound so tight that the NumPy-style -1 or 0 is refused."""
    flatten = nir.Flatten(input_type={"input": np.array([4])}, start_dim=0, end_dim=-1)
    assert from_nir(_chain(flatten, _aff(4, 4)), default_chip) is not None


def test_input_gain_nonzero_warns(default_chip):
    """Catches r = 0 (the layer can never see its input) being mapped without a word."""
    g = _chain(_aff(4, 3), _lif(3, r=np.zeros(3)))
    with pytest.warns(DRCWarning, match=r"input_gain_nonzero \(soft\) at node .*: r = 0"):
        from_nir(g, default_chip)


def test_input_gain_nonzero_is_silent_for_a_gain(default_chip):
    """Catches a rule that warns for every neuron (r = 10 is an ordinary gain)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DRCWarning)
        from_nir(_chain(_aff(4, 3), _lif(3)), default_chip)

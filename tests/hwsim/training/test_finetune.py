"""``--init NET.npz``: a trained network's integers back to the trainer's float parameters, the exact
re-quantization round trip (so ``--epochs 0`` reproduces the network and its chip accuracy), hand-worked
preimages, and clear errors for another architecture."""

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.errors import InputError
from hwsim.network import Layer, Network
from hwsim.training import conv
from hwsim.training.arch import parse_arch, plan_arch
from hwsim.training.finetune import _largest_weight_units, params_from_network, requantization_changes
from hwsim.training.quantize import LayerQuant, quantize_params
from hwsim.training.trainer import fit


def _dense(weights):
    return weights.toarray() if hasattr(weights, "toarray") else np.asarray(weights)


def _assert_same_network(a: Network, b: Network):
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(_dense(la.weights), _dense(lb.weights))
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert (la.threshold, la.integration, la.reset, la.fire, la.shape) == (
            lb.threshold, lb.integration, lb.reset, lb.fire, lb.shape)


# ------------------------------------------------------------- the largest weight's preimage, by hand


def test_largest_weight_units_hand_worked():
    # w_bits 8 (w_max 127), threshold 79, a weight at the clipped end -128: s * 128 re-quantizes to the threshold
    # round(127 * 79 / 128) = round(78.38) = 78. The threshold stays 79 for m in (127*79/79.5, 127*79/78.5)
    # = (126.201, 127.809); the weight stays -128 for m >= 127.5; the middle of [127.5, 127.809) is 127.6545.
    assert _largest_weight_units(128, 79, 8) == pytest.approx((127.5 + 127 * 79 / 78.5) / 2)
    assert _largest_weight_units(128, 79, 8) == pytest.approx(127.6545, abs=1e-4)
    # a full-range largest weight already gives its threshold back: nothing to move
    assert _largest_weight_units(127, 79, 8) is None
    assert _largest_weight_units(127, 5000, 8) is None
    # 126 with threshold 300: round(127 * 300 / 126) = 302; the threshold needs m in (126.789, 127.212) but the
    # weight 126 needs m <= 126.5: no float does both
    assert _largest_weight_units(126, 300, 8) is None


def test_requantization_changes_names_the_layer_and_what_changed():
    a = LayerQuant(np.array([[1, 2]], np.int32), np.array([0, 3], np.int32), 300, 1 / 300)
    b = LayerQuant(np.array([[1, 3]], np.int32), np.array([0, 3], np.int32), 302, 1 / 302)
    assert requantization_changes([a, a], [a, b]) == ["trained layer 1: threshold 300 -> 302, 1 weights"]
    assert requantization_changes([a], [a]) == []


# ------------------------------------------------------------- hand-built networks


def test_dense_network_read_back_by_hand():
    """A 3-2-2 network: hidden threshold 4 (scale theta / 4 = 0.25), output scale 0.5 recorded in the metadata;
    w_bits 4 (w_max 7): the hidden layer's largest |W| is 7, so the floats are exactly scale * integers."""
    hidden = Layer(weights=np.array([[7, -1], [0, 2], [-3, 5]]), bias=np.array([1, -2]), threshold=4, leak_shift=0,
                   integration="discontinuous", reset="subtract", fire=True)
    out = Layer(weights=np.array([[3, -7], [6, 1]]), bias=np.array([0, 4]), threshold=0, leak_shift=0,
                integration="discontinuous", reset="subtract", fire=False)
    net = Network(layers=[hidden, out], metadata={"scales": [0.25, 0.5]})
    params, read = params_from_network(net, [3, 2, 2], None, theta=1.0, w_bits=4)
    np.testing.assert_array_equal(params.weights[0], [[1.75, -0.25], [0.0, 0.5], [-0.75, 1.25]])
    np.testing.assert_array_equal(params.biases[0], [0.25, -0.5])
    np.testing.assert_array_equal(params.weights[1], [[1.5, -3.5], [3.0, 0.5]])
    np.testing.assert_array_equal(params.biases[1], [0.0, 2.0])
    requantized = quantize_params(params, w_bits=4, v_bits=8, theta=1.0)
    assert requantization_changes(read, requantized) == []
    assert [q.threshold for q in requantized] == [4, 0] and [q.scale for q in requantized] == [0.25, 0.5]


def test_clipped_largest_weight_is_placed_so_the_threshold_survives():
    """w_bits 4: -8 is the clipped end. Threshold 3 (scale 1/3): s * 8 would re-quantize to round(7 * 3 / 8) = 3
    (fine), but threshold 5: round(7 * 5 / 8) = round(4.375) = 4. The -8 weight is placed at
    m = middle of [7.5, 7 * 5 / 4.5 = 7.778) = 7.6389 steps, which rounds to -8 and gives threshold 5."""
    hidden = Layer(weights=np.array([[-8, 3], [2, 7]]), bias=np.array([0, 0]), threshold=5, leak_shift=0,
                   integration="discontinuous", reset="subtract", fire=True)
    out = Layer(weights=np.array([[7, -7], [1, 2]]), bias=np.array([0, 0]), threshold=0, leak_shift=0,
                integration="discontinuous", reset="subtract", fire=False)
    net = Network(layers=[hidden, out], metadata={"scales": [0.2, 0.1]})
    params, read = params_from_network(net, [2, 2, 2], None, theta=1.0, w_bits=4)
    assert params.weights[0][0, 0] == pytest.approx(-(7.5 + 7 * 5 / 4.5) / 2 * 0.2, rel=1e-6)
    np.testing.assert_allclose(params.weights[0][[0, 1, 1], [1, 0, 1]], [0.6, 0.4, 1.4], rtol=1e-6)
    requantized = quantize_params(params, w_bits=4, v_bits=8, theta=1.0)
    assert requantization_changes(read, requantized) == []
    np.testing.assert_array_equal(requantized[0].weights, [[-8, 3], [2, 7]])
    assert requantized[0].threshold == 5


def test_conv_kernel_read_back_from_the_unrolled_matrix():
    """1x4x4 input, 2C3 (stride 1, padding 1) then 10: the kernel written into the chip network is read back."""
    plan = plan_arch(parse_arch("2C3-10"), (4, 4), 10)
    kernel = np.arange(18, dtype=np.int32).reshape(9, 2) - 9  # rows (ky, kx, c_in=1), columns c_out; |W| <= 9
    kernel[0, 0] = 127  # full range, so the read-back floats are exactly scale * integers
    dense = np.arange(320, dtype=np.int32).reshape(32, 10) % 11 - 5
    dense[0, 0] = 127
    quant = [LayerQuant(kernel, np.array([3, -4], np.int32), 20, 1 / 20),
             LayerQuant(dense, np.arange(10, dtype=np.int32), 0, 0.01)]
    net = conv.to_network(plan, quant, mode="continuous", readout="membrane", metadata={"scales": [0.05, 0.01]})
    sizes = [16, *(layer.n_out for layer in plan)]
    params, read = params_from_network(net, sizes, plan, theta=1.0, w_bits=8)
    np.testing.assert_array_equal(read[0].weights, kernel)
    np.testing.assert_array_equal(read[0].bias, [3, -4])
    np.testing.assert_array_equal(read[1].weights, dense)
    np.testing.assert_allclose(params.weights[0], kernel / 20, rtol=1e-6)
    np.testing.assert_allclose(params.weights[1], dense * 0.01, rtol=1e-6)
    assert requantization_changes(read, quantize_params(params, w_bits=8, v_bits=16, theta=1.0)) == []


# ------------------------------------------------------------- trained networks: --epochs 0 reproduces them


@pytest.mark.parametrize(
    "kw",
    [
        dict(hidden=(16,), timesteps=2, epochs=4, seed=3),
        dict(arch="3C3s2-MP2-10", timesteps=2, mode="continuous", epochs=1, seed=1),
        dict(arch="4C3-AP2-12-10", timesteps=2, mode="continuous", epochs=1, seed=0, w_bits=6, v_bits=12),
    ],
    ids=["mlp", "conv-maxpool", "conv-avgpool-dense"],
)
def test_epochs_0_from_a_trained_network_reproduces_it(kw):
    net = fit("digits", **kw).network
    again = fit("digits", **{**kw, "epochs": 0, "seed": 9}, init=net).network
    _assert_same_network(net, again)
    assert again.metadata["thresholds"] == net.metadata["thresholds"]
    assert again.metadata["scales"] == net.metadata["scales"]
    for key in ("chip_train_accuracy", "chip_test_accuracy"):
        assert again.metadata["results"][key] == net.metadata["results"][key]
    assert again.metadata["provenance"]["init"]["exact_requantization"] is True


def test_fine_tuning_starts_from_the_network_and_is_deterministic():
    kw = dict(hidden=(16,), timesteps=2, evaluate=False)
    net = fit("digits", epochs=4, seed=3, **kw).network
    a = fit("digits", epochs=2, init=net, lr=1e-3, seed=4, **kw).network
    b = fit("digits", epochs=2, init=net, lr=1e-3, seed=4, **kw).network
    _assert_same_network(a, b)
    assert not np.array_equal(a.layers[0].weights, net.layers[0].weights)  # it did train
    scratch = fit("digits", epochs=2, lr=1e-3, seed=4, **kw).network

    def distance(x):  # mean float distance of the hidden weights from the init network's
        s_x, s_net = x.metadata["scales"][0], net.metadata["scales"][0]
        return np.abs(x.layers[0].weights * s_x - net.layers[0].weights * s_net).mean()

    # from the trained network, a few small steps stay close to it; from random weights (seed 4) they do not
    assert distance(a) < distance(scratch) / 3


# ------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def mlp():
    return fit("digits", hidden=(16,), timesteps=2, epochs=1, seed=0, evaluate=False).network


def test_another_architecture_is_refused(mlp):
    with pytest.raises(InputError, match=r"the network's layers are 64-16-10, this run's 64-32-10 .*same architecture"):
        fit("digits", hidden=(32,), epochs=0, init=mlp, evaluate=False)
    with pytest.raises(InputError, match=r"layers are 64-16-10, this run's 64-128-10 \(2C3-10\); --init needs"):
        fit("digits", arch="2C3-10", epochs=0, init=mlp, evaluate=False)
    cnet = fit("digits", arch="2C3s2-10", timesteps=1, epochs=1, evaluate=False).network
    with pytest.raises(InputError, match=r"the network has --arch 2C3s2p1-10, this run the fully connected"):
        fit("digits", hidden=(16,), epochs=0, init=cnet, evaluate=False)
    with pytest.raises(InputError, match=r"--arch 2C3s2p1-10, this run 2C3s2p0-10"):
        fit("digits", arch="2C3s2p0-10", epochs=0, init=cnet, evaluate=False)


def test_a_matrix_that_is_not_the_convolution_is_refused():
    cnet = fit("digits", arch="2C3-10", timesteps=1, epochs=1, evaluate=False).network
    weights = _dense(cnet.layers[0].weights).copy()
    weights[0, 0] += 1  # one tap of one output pixel no longer equals the same tap elsewhere
    layers = [Layer(weights=weights, bias=cnet.layers[0].bias, threshold=cnet.layers[0].threshold, leak_shift=0,
                    integration="continuous", reset="subtract", fire=True, shape=cnet.layers[0].shape),
              cnet.layers[1]]
    metadata = {k: v for k, v in cnet.metadata.items() if k != "arch"}
    with pytest.raises(InputError, match=r"layer 0 \(''\) are not a 2C3 convolution of its 1x8x8 input"):
        fit("digits", arch="2C3-10", epochs=0, init=Network(layers, metadata), evaluate=False)


def test_a_network_without_scales_is_refused(mlp):
    bare = Network(layers=mlp.layers, metadata={})
    with pytest.raises(InputError, match="records no per-layer scales .*written by hwsim train"):
        fit("digits", hidden=(16,), epochs=0, init=bare, evaluate=False)


def test_cli_init_errors(tmp_path, capsys, mlp):
    net_file = tmp_path / "mlp.npz"
    mlp.save(net_file)
    assert main(["train", "--dataset", "digits", "--epochs", "0", "-o", str(tmp_path / "n.npz")]) == 2
    assert "--epochs 0: expected an integer in 1..100000 (0, no training step, only with --init)" in \
        capsys.readouterr().err
    assert main(["train", "--init", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "n.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert main(["train", "--init", str(net_file), "--load", str(net_file)]) == 2
    assert "--init starts training from a network, --load evaluates one" in capsys.readouterr().err
    assert main(["train", "--dataset", "digits", "--init", str(net_file), "--hidden", "8", "--epochs", "0",
                 "--no-progress", "-o", str(tmp_path / "n.npz")]) == 2
    assert "this run's 64-8-10" in capsys.readouterr().err


def test_cli_init_takes_the_network_defaults_and_records_them(tmp_path, capsys):
    net_file, out = tmp_path / "c.npz", tmp_path / "tuned.npz"
    assert main(["train", "--dataset", "digits", "--arch", "2C3s2-10", "--mode", "continuous", "-T", "3",
                 "--epochs", "1", "--no-progress", "-o", str(net_file)]) == 0
    capsys.readouterr()
    assert main(["train", "--dataset", "digits", "--init", str(net_file), "--epochs", "0", "--no-progress",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "gives back its integers exactly" in err
    original, tuned = Network.load(net_file), Network.load(out)
    _assert_same_network(original, tuned)
    assert tuned.metadata["timesteps"] == 3 and tuned.metadata["arch"] == "2C3s2p1-10"
    assert tuned.metadata["results"]["chip_test_accuracy"] == original.metadata["results"]["chip_test_accuracy"]
    command = tuned.metadata["provenance"]["command"]
    assert "--mode continuous" in command and f"--init {net_file}" in command

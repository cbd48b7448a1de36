"""The reset path of BPTT in continuous mode: detached (hwsim's default) or back-propagated (Yin et al.'s code).

Yin et al.'s BASNN code (``BASNN.py``, ``NonlinearityLayer`` with ``reset=True``) forms the membrane of
timestep ``i`` as ``input[i] + sum_{j<i} (input[j] - output[j])`` with the straight-through gradient on
``output[j]``, so the gradient flows through the reset: ``dV_{t+1}/dV_t = 1 - theta * do_t/dV_t``. With
``detach_reset`` the reset term is a constant and ``dV_{t+1}/dV_t = 1``. The expected gradients below are
worked out by hand, or by finite differences of a forward pass written here (not hwsim's).
"""

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.datasets import load_dataset
from hwsim.network import Network
from hwsim.training import fit
from hwsim.training.model import FloatParams, backward, forward


def _one_neuron(w_hidden: float) -> FloatParams:
    return FloatParams([np.array([[w_hidden]]), np.array([[1.0]])], [np.zeros(1), np.zeros(1)])


@pytest.mark.parametrize("detach_reset, expected", [(False, 1.25), (True, 1.5)])
def test_two_timesteps_by_hand(detach_reset, expected):
    # One input spiking at t = 0 and 1, hidden weight 0.7, theta = 1, box half-width 1 (height 0.5).
    # V_0 = 0.7 (no spike, g_0 = 0.5); V_1 = V_0 - o_0 + 0.7 = 1.4 (spike, g_1 = 0.5). Output weight 1,
    # dL/dlogit_t = 1 for both t, so dL/do_t = 1.
    # dL/dw = g_0 * dV_0/dw + g_1 * dV_1/dw with dV_0/dw = 1 and
    #   through the reset:  dV_1/dw = 2 - theta * g_0 = 1.5  ->  0.5 * 1 + 0.5 * 1.5 = 1.25
    #   detached:           dV_1/dw = 2                    ->  0.5 * 1 + 0.5 * 2   = 1.5
    params = _one_neuron(0.7)
    x = np.ones((2, 1, 1))
    cache = forward(params, x, mode="continuous")
    np.testing.assert_allclose(cache.membranes[0][:, 0, 0], [0.7, 1.4])
    grads = backward(params, cache, np.ones((2, 1, 1)), mode="continuous", detach_reset=detach_reset)
    assert grads.weights[0][0, 0] == pytest.approx(expected)
    assert grads.biases[0][0] == pytest.approx(expected)  # the input is 1 every timestep, like the bias


def _surrogate_loss(params: FloatParams, x: np.ndarray, d_logits: np.ndarray, frozen_resets=None):
    """A linear loss sum(d_logits * logits) of a one-hidden-layer continuous network, written independently.

    The spike is the surrogate ``clip((V - 1)/2 + 1/2, 0, 1)`` (theta = 1, half-width 1). With
    ``frozen_resets`` the amount subtracted at each reset is that constant array (the detached reset);
    otherwise it is the spike itself. Returns the loss and the spikes.
    """
    (w1, w2), (b1, b2) = params.weights, params.biases
    T = x.shape[0]
    v_end = np.zeros((x.shape[1], w1.shape[1]))
    spikes = []
    loss = 0.0
    for t in range(T):
        v = v_end + x[t] @ w1 + b1
        o = np.clip((v - 1.0) / 2.0 + 0.5, 0.0, 1.0)
        spikes.append(o)
        v_end = v - (o if frozen_resets is None else frozen_resets[t])
        loss += float(np.sum(d_logits[t] * (o @ w2 + b2)))
    return loss, spikes


@pytest.mark.parametrize("detach_reset", [False, True])
def test_gradients_equal_finite_differences_of_an_independent_forward_pass(detach_reset):
    rng = np.random.default_rng(11)
    params = FloatParams([rng.normal(0, 0.8, (5, 4)), rng.normal(0, 0.8, (4, 3))],
                         [rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 3)])
    T, B = 4, 3
    x = (rng.random((T, B, 5)) < 0.6).astype(np.float64)
    d_logits = rng.normal(0, 1, (T, B, 3))
    _, base_spikes = _surrogate_loss(params, x, d_logits)
    frozen = base_spikes if detach_reset else None  # the detached reset is a constant at the base point
    cache = forward(params, x, mode="continuous", surrogate=True)
    grads = backward(params, cache, d_logits, mode="continuous", detach_reset=detach_reset)
    eps = 1e-6
    for kind in ("weights", "biases"):
        arr, g = getattr(params, kind)[0], getattr(grads, kind)[0]
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up, _ = _surrogate_loss(params, x, d_logits, frozen)
            arr[idx] = old - eps
            down, _ = _surrogate_loss(params, x, d_logits, frozen)
            arr[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8), (kind, idx)


def test_the_two_gradients_differ_when_a_spike_sits_in_the_box():
    # the reset path carries -theta * g_t * dL/dV_{t+1}: nonzero whenever V_t is inside the box and a
    # later timestep has a gradient, so the two choices must give different first-layer gradients here
    params = _one_neuron(0.7)
    x = np.ones((3, 1, 1))
    cache = forward(params, x, mode="continuous")
    d = np.ones((3, 1, 1))
    full = backward(params, cache, d, mode="continuous", detach_reset=False)
    det = backward(params, cache, d, mode="continuous", detach_reset=True)
    assert full.weights[0][0, 0] != pytest.approx(det.weights[0][0, 0])
    np.testing.assert_array_equal(full.weights[1], det.weights[1])  # the output layer has no reset


@pytest.fixture(scope="module")
def digits_small():
    return load_dataset("digits", limit=200)


def test_fit_option_changes_continuous_training_only(digits_small):
    kw = dict(hidden=(12,), timesteps=3, epochs=2, seed=3, w_bits=6, v_bits=12, evaluate=False)
    cont_det = fit(digits_small, mode="continuous", **kw)
    cont_yin = fit(digits_small, mode="continuous", detach_reset=False, **kw)
    assert cont_det.config.detach_reset is True  # the default is unchanged
    assert cont_yin.network.metadata["provenance"]["config"]["detach_reset"] is False
    assert not np.array_equal(cont_det.float_params.weights[0], cont_yin.float_params.weights[0])
    # discontinuous mode has no reset carried between timesteps: the option changes nothing
    dis_det = fit(digits_small, mode="discontinuous", **kw)
    dis_yin = fit(digits_small, mode="discontinuous", detach_reset=False, **kw)
    for a, b in zip(dis_det.float_params.weights, dis_yin.float_params.weights):
        np.testing.assert_array_equal(a, b)


def test_cli_flag_reaches_the_trainer_and_the_provenance(tmp_path, capsys):
    nets = {}
    for flag in ("--detach-reset", "--no-detach-reset", None):
        out = tmp_path / f"{flag}.npz"
        argv = ["train", "--dataset", "digits", "--limit", "200", "--hidden", "12", "--epochs", "2", "-T", "3",
                "--mode", "continuous", "--seed", "3", "--chip", "small", "--eval-train-limit", "50",
                "--no-progress", "-o", str(out)]
        assert main(argv + ([flag] if flag else [])) == 0
        nets[flag] = Network.load(out).metadata["provenance"]
    capsys.readouterr()
    assert nets[None]["config"]["detach_reset"] is True and nets["--detach-reset"]["config"]["detach_reset"] is True
    assert nets["--no-detach-reset"]["config"]["detach_reset"] is False
    assert "--no-detach-reset" in nets["--no-detach-reset"]["command"]
    assert "--no-detach-reset" not in nets[None]["command"]

"""The STE gradients against finite differences of the surrogate network, and the loss gradients."""

import numpy as np
import pytest

from hwsim.training.model import FloatParams, backward, forward, loss_and_grad, spike_grad, surrogate_spike


def _params(rng, sizes):
    return FloatParams(
        [rng.normal(0, 0.8, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])],
        [rng.normal(0, 0.3, b) for b in sizes[1:]],
    )


def _loss(params, x, labels, mode, loss):
    cache = forward(params, x, mode=mode, theta=1.0, half_width=1.0, surrogate=True)
    return loss_and_grad(cache.logits, labels, loss)[0]


def test_box_surrogate_values():
    v = np.array([-0.5, 0.0, 0.2, 1.0, 1.9, 2.0, 3.0])
    # Yin: dL/dx = 0.5 * 1[0 < x < 2] for theta = 1
    assert spike_grad(v, 1.0, 1.0).tolist() == [0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0]
    assert surrogate_spike(v, 1.0, 1.0).tolist() == pytest.approx([0.0, 0.0, 0.1, 0.5, 0.95, 1.0, 1.0])


@pytest.mark.parametrize("mode", ["discontinuous", "continuous"])
@pytest.mark.parametrize("loss", ["squared_hinge", "cross_entropy", "per-timestep"])
def test_ste_gradient_matches_finite_differences_of_surrogate(mode, loss):
    rng = np.random.default_rng(7)
    sizes = [6, 5, 4, 3]
    params = _params(rng, sizes)
    T, B = 3, 4
    x = (rng.random((T, B, sizes[0])) < 0.5).astype(np.float64)
    labels = rng.integers(0, sizes[-1], B)
    cache = forward(params, x, mode=mode, surrogate=True)
    _, d_logits = loss_and_grad(cache.logits, labels, loss)
    grads = backward(params, cache, d_logits, mode=mode, detach_reset=False)
    eps = 1e-6
    checked = 0
    for kind in ("weights", "biases"):
        for k, arr in enumerate(getattr(params, kind)):
            g = getattr(grads, kind)[k]
            for idx in np.ndindex(arr.shape):
                old = arr[idx]
                arr[idx] = old + eps
                up = _loss(params, x, labels, mode, loss)
                arr[idx] = old - eps
                down = _loss(params, x, labels, mode, loss)
                arr[idx] = old
                fd = (up - down) / (2 * eps)
                assert g[idx] == pytest.approx(fd, rel=1e-4, abs=1e-7), (kind, k, idx)
                checked += 1
    assert checked == sum(a.size for a in params.weights + params.biases)
    assert any(np.any(g != 0) for g in grads.weights[:1]), "first-layer gradient should not vanish"


def test_detach_reset_drops_only_the_reset_path():
    rng = np.random.default_rng(3)
    params = _params(rng, [4, 3, 2])
    x = (rng.random((4, 2, 4)) < 0.6).astype(np.float64)
    cache = forward(params, x, mode="continuous")
    _, d = loss_and_grad(cache.logits, np.array([0, 1]), "cross_entropy")
    full = backward(params, cache, d, mode="continuous", detach_reset=False)
    det = backward(params, cache, d, mode="continuous", detach_reset=True)
    # The output layer's gradient does not involve the hidden reset: both must equal the true gradient,
    # computed here by central differences of the loss of the real (step) forward pass. The hidden spikes
    # do not depend on the output layer, so the loss is smooth in it and the differences are exact to
    # rounding. Catches: a wrong output-layer gradient in either mode (transposed, not summed over
    # timesteps or the batch, missing the bias), which comparing the two modes with each other cannot see.
    labels = np.array([0, 1])
    eps = 1e-6
    for kind in ("weights", "biases"):
        arr = getattr(params, kind)[1]
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss_and_grad(forward(params, x, mode="continuous").logits, labels, "cross_entropy")[0]
            arr[idx] = old - eps
            down = loss_and_grad(forward(params, x, mode="continuous").logits, labels, "cross_entropy")[0]
            arr[idx] = old
            fd = (up - down) / (2 * eps)
            assert getattr(full, kind)[1][idx] == pytest.approx(fd, rel=1e-6, abs=1e-9), (kind, idx)
            assert getattr(det, kind)[1][idx] == pytest.approx(fd, rel=1e-6, abs=1e-9), (kind, idx)
    # ... and the reset path is really dropped: over 4 timesteps the hidden layer's gradients differ.
    # Catches: a detach_reset flag that is ignored.
    assert not np.allclose(full.weights[0], det.weights[0])
    # hand-derived T=1: no earlier timestep, so no reset path and both agree
    c1 = forward(params, x[:1], mode="continuous")
    _, d1 = loss_and_grad(c1.logits, np.array([0, 1]), "cross_entropy")
    np.testing.assert_allclose(backward(params, c1, d1, mode="continuous", detach_reset=False).weights[0],
                               backward(params, c1, d1, mode="continuous", detach_reset=True).weights[0])


def test_continuous_forward_is_reset_by_subtraction_by_hand():
    # one neuron, weight 0.6, no bias, input spikes every step: V = 0.6, 1.2 (fire, -> 0.2), 0.8, 1.4 (fire)
    params = FloatParams([np.array([[0.6]]), np.array([[1.0]])], [np.zeros(1), np.zeros(1)])
    x = np.ones((4, 1, 1))
    cache = forward(params, x, mode="continuous", theta=1.0)
    np.testing.assert_allclose(cache.membranes[0][:, 0, 0], [0.6, 1.2, 0.8, 1.4])
    np.testing.assert_array_equal(cache.inputs[1][:, 0, 0], [0, 1, 0, 1])
    dc = forward(params, x, mode="discontinuous", theta=1.0)
    np.testing.assert_array_equal(dc.inputs[1][:, 0, 0], [0, 0, 0, 0])


def test_loss_gradients_by_hand():
    z = np.array([[[2.0, -0.5, 0.0]]])  # T=1, B=1, C=3, label 0
    v, d = loss_and_grad(z, np.array([0]), "squared_hinge")
    # margins: 1-2 -> 0, 1-0.5 = 0.5, 1-0 = 1 -> (0 + 0.25 + 1) / 3
    assert v == pytest.approx(1.25 / 3)
    np.testing.assert_allclose(d[0, 0], [0.0, 2 * 0.5 / 3, 2 * 1.0 / 3])
    v, d = loss_and_grad(z, np.array([0]), "cross_entropy")
    p = np.exp(z[0, 0]) / np.exp(z[0, 0]).sum()
    assert v == pytest.approx(-np.log(p[0]))
    np.testing.assert_allclose(d[0, 0], p - [1, 0, 0])


def test_cross_entropy_of_an_underflowed_probability_is_finite_without_a_warning():
    """A float32 softmax probability that underflows to 0 must give a finite loss, silently.

    Catches: the floor 1e-300, which rounds to 0 in float32 so log(0) warned (and failed under -W error);
    seen with ``hwsim train --lr 1e37``. Expected by hand: p(true) = exp(-200) underflows in float32,
    so the loss is -log(float32 tiny) = 126 ln 2 = 87.336...
    """
    logits = np.array([[[200.0, 0.0]]], np.float32)  # (T=1, B=1, C=2); the label is the losing class
    value, grad = loss_and_grad(logits, np.array([1]), "cross_entropy")
    assert value == pytest.approx(126 * np.log(2.0), rel=1e-6)
    assert np.all(np.isfinite(grad))


def test_per_timestep_loss_by_hand():
    """TET's loss (1/T) sum_t CE(z_t) on T=2, B=1, C=2, label 0, worked by hand.

    z_1 = (ln 3, 0): p_1 = (3/4, 1/4), CE = ln(4/3); z_2 = (0, 0): p_2 = (1/2, 1/2), CE = ln 2. The loss is
    ln(8/3) / 2 and dL/dz_t = (p_t - onehot) / T: (-1/8, 1/8) and (-1/4, 1/4). The mean-logit cross-entropy
    sees z = (ln 3 / 2, 0) instead: p = (sqrt 3, 1) / (sqrt 3 + 1), a different loss with the same gradient at
    both timesteps. Catches: the per-timestep loss computed on the mean, a missing 1/T, a wrong sign.
    """
    z = np.array([[[np.log(3.0), 0.0]], [[0.0, 0.0]]])
    value, d = loss_and_grad(z, np.array([0]), "per-timestep")
    assert value == pytest.approx(np.log(8.0 / 3.0) / 2)
    np.testing.assert_allclose(d[:, 0], [[-1 / 8, 1 / 8], [-1 / 4, 1 / 4]])
    mean_value, mean_d = loss_and_grad(z, np.array([0]), "cross_entropy")
    assert mean_value == pytest.approx(np.log((np.sqrt(3.0) + 1) / np.sqrt(3.0)))
    q = 1 / (np.sqrt(3.0) + 1)  # the mean model's probability of the wrong class
    np.testing.assert_allclose(mean_d[:, 0], [[-q / 2, q / 2], [-q / 2, q / 2]])


def test_per_timestep_loss_averages_images_and_timesteps_and_equals_cross_entropy_at_one_timestep():
    """B images and T timesteps weigh equally: the loss is the mean of the T*B single-logit cross-entropies.

    At T = 1 the per-timestep output is the mean output, so the two losses agree exactly (value and
    gradient). Catches: a sum instead of a mean over images or timesteps.
    """
    rng = np.random.default_rng(5)
    T, B, C = 3, 4, 5
    z = rng.normal(0, 2, (T, B, C))
    labels = rng.integers(0, C, B)
    value, d = loss_and_grad(z, labels, "per-timestep")
    singles = [loss_and_grad(z[t : t + 1, b : b + 1], labels[b : b + 1], "cross_entropy") for t in range(T)
               for b in range(B)]
    assert value == pytest.approx(np.mean([v for v, _ in singles]))
    np.testing.assert_allclose(d.reshape(T * B, C), np.concatenate([g[0] for _, g in singles]) / (T * B))
    for t in range(T):
        one = loss_and_grad(z[t : t + 1], labels, "per-timestep")
        ce = loss_and_grad(z[t : t + 1], labels, "cross_entropy")
        assert one[0] == pytest.approx(ce[0])
        np.testing.assert_allclose(one[1], ce[1])


def test_unknown_loss_is_refused_naming_the_allowed_ones():
    from hwsim.errors import InputError
    from hwsim.training import TrainConfig

    with pytest.raises(InputError, match="loss = 'tet': allowed squared_hinge, cross_entropy, per-timestep"):
        TrainConfig(loss="tet")

"""The float training model: binary spikes with a straight-through estimator.

After Yin et al. (BioCAS 2017, arXiv:1709.06206; code github.com/ShihuiYin/BASNN):

- A hidden neuron fires when its membrane reaches the threshold,
  ``o = [V >= theta]`` (``>=`` as on the chip, chip-spec §2.2).
- Backward, the step is replaced by a box: ``do/dV = 1 / (2 w)`` for
  ``|V - theta| < w``, else 0, with half-width ``w = theta`` (Yin: height 0.5
  on ``0 < V < 2`` for ``theta = 1``). This is the exact derivative of the
  surrogate ``clip((V - theta) / (2 w) + 1/2, 0, 1)``, which
  ``surrogate=True`` uses in the forward pass so the gradient can be checked
  against finite differences.
- **Discontinuous integration**: every timestep is an independent pass,
  ``V_t = W x_t + b`` (membranes restart at 0).
- **Continuous integration**: ``V_t = V_end_{t-1} + W x_t + b``, spike,
  then reset by subtraction ``V_end_t = V_t - theta o_t``; gradients flow
  back through time (BPTT), through the reset too unless ``detach_reset``
  (``dV_{t+1}/dV_t = 1 - theta * do_t/dV_t`` as in Yin's code, or 1 when detached).
- The output layer never spikes in training: its per-timestep potential
  ``z_t = W h_t + b`` (discontinuous) is the logit; the loss is taken on the
  mean over timesteps (``cross_entropy``, ``squared_hinge``), or, with
  ``per-timestep`` (TET, Deng et al. ICLR 2022; as SEENN and DT-SNN train), on
  every timestep's ``z_t`` and averaged over timesteps, so that early
  timesteps alone already classify (early exit, chip-spec §1.4). On the chip this is either the membrane readout
  (``fire = False``, sum of ``z_t``) or Yin's threshold-0 spike count
  (``sum_t [z_t >= 0]``).

Quantization-aware training: the forward pass uses weights and biases
rounded to each layer's fixed-point grid (see :mod:`hwsim.training.quantize`);
gradients pass the rounding unchanged (STE) to the float shadow weights.

Arrays are time-major: inputs ``(T, B, n_in)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FloatParams", "ForwardCache", "forward", "backward", "spike_grad", "surrogate_spike", "LOSSES",
           "loss_and_grad", "spiking_forward", "spiking_backward"]

LOSSES = ("squared_hinge", "cross_entropy", "per-timestep")


@dataclass
class FloatParams:
    """Float weights and biases of a fully connected stack; layer ``k`` maps ``W[k].shape[0] -> W[k].shape[1]``."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def copy(self) -> FloatParams:
        return FloatParams([w.copy() for w in self.weights], [b.copy() for b in self.biases])


@dataclass
class ForwardCache:
    """What :func:`backward` needs: layer inputs ``(T, B, n)`` and hidden membranes ``(T, B, n)``."""

    inputs: list[np.ndarray]
    membranes: list[np.ndarray]
    logits: np.ndarray  # (T, B, n_classes)


def spike_grad(v: np.ndarray, theta: float, half_width: float, out: np.ndarray | None = None) -> np.ndarray:
    """Box surrogate derivative: ``1 / (2 w)`` where ``|v - theta| < w``, else 0 (same memory layout as ``v``;
    written into ``out`` when given)."""
    distance = np.subtract(v, theta, dtype=v.dtype, out=out)
    np.abs(distance, out=distance)
    inside = np.less(distance, half_width, out=distance)  # 1.0 or 0.0, written over the distance
    return np.multiply(inside, v.dtype.type(0.5 / half_width), out=inside)


def surrogate_spike(v: np.ndarray, theta: float, half_width: float) -> np.ndarray:
    """The piecewise-linear function whose derivative is :func:`spike_grad`."""
    return np.clip((v - theta) / (2 * half_width) + 0.5, 0.0, 1.0).astype(v.dtype)


def _fire(v: np.ndarray, theta: float, half_width: float, surrogate: bool) -> np.ndarray:
    if surrogate:
        return surrogate_spike(v, theta, half_width)
    return (v >= theta).astype(v.dtype)  # >= as the chip's compare (chip-spec §2.2 step 3.3)


def spiking_forward(
    current: np.ndarray, *, mode: str, theta: float, half_width: float, surrogate: bool = False,
    in_place: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Membranes and spikes ``(v, h)`` of a spiking layer from its input current ``(T, ...)`` (time-major).

    Shared by the fully connected and the convolutional models: any trailing shape works, and ``v`` and ``h``
    keep the memory layout of a strided ``current`` (the convolutional model passes a time-major view of
    samples-innermost memory). Discontinuous: ``v_t = current_t``. Continuous: ``v_t = v_end_{t-1} + current_t``,
    then reset by subtraction ``v_end_t = v_t - theta h_t``. ``in_place``: the membranes overwrite ``current``
    (which is returned as ``v``).
    """
    if mode == "discontinuous":
        v = current
        h = _fire(v, theta, half_width, surrogate)
        return v, h
    v = current if in_place else np.empty_like(current)
    h = np.empty_like(current)
    v_end = np.zeros_like(current[0])
    reset = np.empty_like(v_end)
    for t in range(current.shape[0]):  # one timestep at a time, in place
        np.add(v_end, current[t], out=v[t])
        if surrogate:
            h[t] = surrogate_spike(v[t], theta, half_width)
        else:
            np.greater_equal(v[t], theta, out=h[t])  # >= as the chip's compare (chip-spec §2.2 step 3.3)
        np.multiply(h[t], theta, out=reset)
        np.subtract(v[t], reset, out=v_end)  # reset by subtraction (chip-spec §2.2 step 3.4)
    return v, h


def spiking_backward(
    d_h: np.ndarray, v: np.ndarray, *, mode: str, theta: float, half_width: float, detach_reset: bool,
    in_place: bool = False,
) -> np.ndarray:
    """``dL/dcurrent`` of a spiking layer from ``dL/dh`` and its membranes ``v`` (both ``(T, ...)``).

    The spike's derivative is :func:`spike_grad`; in continuous mode the gradient flows back in time
    (BPTT), through the reset too unless ``detach_reset``. ``in_place``: the result overwrites ``d_h``.
    The result keeps the memory layout of ``d_h``.
    """
    d_current = d_h if in_place else np.empty_like(d_h)
    g = np.empty_like(v[0])  # one timestep's spike derivative
    keep = np.empty_like(g)  # dV_{t+1}/dV_t, then times dL/dV_{t+1}
    for t in range(v.shape[0] - 1, -1, -1):
        spike_grad(v[t], theta, half_width, out=g)
        np.multiply(d_h[t], g, out=d_current[t])
        if mode == "discontinuous" or t == v.shape[0] - 1:
            continue
        d_next = d_current[t + 1]  # dL/dV_end_t, i.e. dL/dV_{t+1}
        if detach_reset:
            d_current[t] += d_next
        else:
            np.multiply(g, theta, out=keep)
            np.subtract(1.0, keep, out=keep)
            d_current[t] += np.multiply(keep, d_next, out=keep)
    return d_current


def forward(
    params: FloatParams,
    x: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    surrogate: bool = False,
) -> ForwardCache:
    """Run the float model on ``x`` ``(T, B, n_in)`` (0/1 spikes, or any floats).

    Args:
        params: Weights/biases to use (already fake-quantized for QAT).
        x: Time-major inputs.
        mode: ``"discontinuous"`` or ``"continuous"`` (hidden layers).
        theta: Hidden threshold in float units.
        half_width: Half-width of the STE box.
        surrogate: Use the surrogate instead of the step in the forward pass (gradient checks).
    """
    T, B, _ = x.shape
    inputs, membranes = [], []
    h = x
    n_layers = len(params.weights)
    for k in range(n_layers):
        w, b = params.weights[k], params.biases[k]
        inputs.append(h)
        current = (h.reshape(T * B, -1) @ w + b).reshape(T, B, -1)
        if k == n_layers - 1:
            return ForwardCache(inputs, membranes, current)
        v, h = spiking_forward(current, mode=mode, theta=theta, half_width=half_width, surrogate=surrogate)
        membranes.append(v)
    raise AssertionError("unreachable")


def backward(
    params: FloatParams,
    cache: ForwardCache,
    d_logits: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    detach_reset: bool = False,
) -> FloatParams:
    """Gradients of the loss w.r.t. weights and biases, given ``dL/dlogits`` ``(T, B, C)``.

    The spike's derivative is :func:`spike_grad` (straight-through box).
    """
    n_layers = len(params.weights)
    gw: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    gb: list[np.ndarray] = [None] * n_layers  # type: ignore[list-item]
    d_current = d_logits
    for k in range(n_layers - 1, -1, -1):
        h = cache.inputs[k]
        T, B, n_in = h.shape
        dc2 = d_current.reshape(T * B, -1)
        gw[k] = h.reshape(T * B, n_in).T @ dc2
        gb[k] = dc2.sum(axis=0)
        if k == 0:
            break
        d_h = (dc2 @ params.weights[k].T).reshape(T, B, n_in)
        d_current = spiking_backward(d_h, cache.membranes[k - 1], mode=mode, theta=theta, half_width=half_width,
                                     detach_reset=detach_reset)
    return FloatParams(gw, gb)


def _cross_entropy(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy of ``z`` ``(..., B, C)``, averaged over all leading rows, and its gradient."""
    zs = z - z.max(axis=-1, keepdims=True)
    p = np.exp(zs)
    p /= p.sum(axis=-1, keepdims=True)
    rows = np.arange(z.shape[-2])
    # floor at the dtype's smallest normal number: 1e-300 rounds to 0 in float32, and log(0) warns
    value = float(-np.log(np.maximum(p[..., rows, labels], np.finfo(p.dtype).tiny)).mean())
    p[..., rows, labels] -= 1.0
    return value, (p / (p.size // p.shape[-1])).astype(z.dtype)  # divided as before: bundled file bit for bit


def loss_and_grad(logits: np.ndarray, labels: np.ndarray, loss: str) -> tuple[float, np.ndarray]:
    """The loss and its gradient w.r.t. the per-timestep logits.

    Args:
        logits: ``(T, B, C)``.
        labels: ``(B,)`` integer classes.
        loss: ``"squared_hinge"`` (Yin's: targets +-1, mean over images and classes) or ``"cross_entropy"``
            (softmax, mean over images), both on the mean logits over timesteps; or ``"per-timestep"``
            (TET): the cross-entropy of each timestep's own logits ``z_t``, averaged over timesteps and
            images, ``(1/T) sum_t CE(z_t)``.
    """
    T, B, C = logits.shape
    if loss == "per-timestep":
        value, d_logits = _cross_entropy(logits, labels)
        return value, d_logits
    z = logits.mean(axis=0)
    if loss == "squared_hinge":
        y = -np.ones_like(z)
        y[np.arange(B), labels] = 1.0
        margin = np.maximum(0.0, 1.0 - y * z)
        value = float((margin**2).sum() / (B * C))
        dz = (-2.0 * y * margin / (B * C)).astype(z.dtype)
    elif loss == "cross_entropy":
        value, dz = _cross_entropy(z, labels)
    else:
        raise ValueError(f"loss = {loss!r}: allowed {', '.join(LOSSES)}")
    d_logits = np.broadcast_to(dz / T, (T, B, C)).astype(z.dtype)
    return value, d_logits

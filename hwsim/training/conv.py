"""The float training model of convolutional SNNs, and its export to chip layers.

The same neuron model as :mod:`hwsim.training.model` (binary spikes ``[V >= theta]``, box
straight-through estimator, discontinuous or continuous integration with reset by subtraction,
:func:`~hwsim.training.model.spiking_forward` / :func:`~hwsim.training.model.spiking_backward`),
on the layers of a planned architecture (:mod:`hwsim.training.arch`):

- **Convolution**: im2col and one float32 matrix product (BLAS threads) per layer, over all
  timesteps and images at once. Activations are kept ``(N, rows, cols, channels)``; a weight
  matrix has rows in ``(ky, kx, c_in)`` order and one column per output channel: the PyTorch
  weight ``(C_out, C_in, k, k)`` is ``W.reshape(k, k, C_in, C_out).transpose(3, 2, 0, 1)``.
- **Max pooling** ``MPk``: on the chip a fixed-weight spiking layer, weights 1 on the window,
  bias 0, threshold 1, discontinuous, reset to zero. It spikes when at least one input of its window
  spiked in this timestep: the OR of the window, which is the max of binary spikes. The training
  forward pass computes exactly this (the max of 0/1 values). Backward, an input gets the OR's gradient
  when flipping it would flip the OR, i.e. when no other input of its window spiked (all inputs of a
  silent window, the single spiking input of a window with one spike, none when two or more spiked).
- **Average pooling** ``APk``: the same fixed-weight layer with threshold
  :func:`~hwsim.training.arch.avg_pool_threshold` ``= ceil(k*k/2)``: it spikes when at least half of
  its window spiked in this timestep. The forward pass computes exactly that spike,
  ``[sum of the window >= threshold]``, not a float average; backward, the box estimator of the
  neuron (half-width = threshold) times 1 for each input of the window.
- **Dense**: as in the fully connected model; after a convolution or pooling it reads the
  C-order flattening ``(c * rows + y) * cols + x``.

Pooling layers are stateless (discontinuous) in both integration modes, so they compute the
same function of the current timestep's spikes in training and on the chip.

:func:`to_network` unrolls every layer to its dense ``(n_in, n_out)`` integer matrix with
:func:`mapping.unroll.conv2d_matrix` / :func:`mapping.unroll.pool2d_matrix` and records its
``shape = (channels, rows, cols)`` for the mapper's receptive-field routing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.network import Layer, Network
from hwsim.training.arch import Conv, PlannedLayer, Pool, avg_pool_threshold
from hwsim.training.model import FloatParams, spiking_backward, spiking_forward
from hwsim.training.quantize import LayerQuant

__all__ = ["ConvCache", "forward", "backward", "init_params", "to_network", "im2col", "col2im", "pool_threshold",
           "chip_layer_thresholds"]


def pool_threshold(item: Pool) -> int:
    """The integer threshold of a pooling layer on the chip: 1 for max pooling (an OR), ceil(k*k/2) for average."""
    return 1 if item.kind == "max" else avg_pool_threshold(item.size)


def im2col(a: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N * OH * OW, k * k * C)``: row ``(n, oy, ox)`` holds the receptive field of output
    pixel ``(oy, ox)`` in ``(ky, kx, c)`` order, input pixel ``(oy * stride - padding + ky, ...)``, zeros outside.

    Built from ``k * k`` shifted slices whose channels are contiguous (a window view copied in one reshape
    reads memory ``k * k`` times more scattered, and col2im's adds likewise)."""
    N, H, W, C = a.shape
    oh = (H + 2 * padding - kernel) // stride + 1
    ow = (W + 2 * padding - kernel) // stride + 1
    if padding:
        a = np.pad(a, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = np.empty((N, oh, ow, kernel, kernel, C), a.dtype)
    for ky in range(kernel):
        for kx in range(kernel):
            cols[:, :, :, ky, kx, :] = a[:, ky : ky + stride * oh : stride, kx : kx + stride * ow : stride, :]
    return cols.reshape(N * oh * ow, kernel * kernel * C)


def col2im(d_cols: np.ndarray, in_shape: tuple[int, int, int, int], kernel: int, stride: int,
           padding: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: add each receptive-field row back onto the input pixels it was read from."""
    N, H, W, C = in_shape
    oh = (H + 2 * padding - kernel) // stride + 1
    ow = (W + 2 * padding - kernel) // stride + 1
    d = d_cols.reshape(N, oh, ow, kernel, kernel, C)
    out = np.zeros((N, H + 2 * padding, W + 2 * padding, C), d_cols.dtype)
    for ky in range(kernel):
        for kx in range(kernel):
            out[:, ky : ky + stride * oh : stride, kx : kx + stride * ow : stride, :] += d[:, :, :, ky, kx, :]
    return out[:, padding : padding + H, padding : padding + W, :]


def _windows(a: np.ndarray, size: int) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, H//k, W//k, C, k*k)`` non-overlapping windows (incomplete edges dropped)."""
    N, H, W, C = a.shape
    oh, ow = H // size, W // size
    w = a[:, : oh * size, : ow * size, :].reshape(N, oh, size, ow, size, C)
    return w.transpose(0, 1, 3, 5, 2, 4).reshape(N, oh, ow, C, size * size)


def _unpool(d_y: np.ndarray, in_shape: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Gradient ``(N, OH, OW, C)`` copied to every input of its window; dropped edges get 0."""
    N, H, W, C = in_shape
    oh, ow = d_y.shape[1], d_y.shape[2]
    out = np.zeros(in_shape, d_y.dtype)
    block = np.broadcast_to(d_y[:, :, None, :, None, :], (N, oh, size, ow, size, C))
    out[:, : oh * size, : ow * size, :] = block.reshape(N, oh * size, ow * size, C)
    return out


def _unpool_where(d_y: np.ndarray, mask: np.ndarray, in_shape: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Gradient ``(N, OH, OW, C)`` passed to the window inputs where ``mask`` ``(N, OH, OW, C, k*k)`` is true."""
    N, H, W, C = in_shape
    oh, ow = d_y.shape[1], d_y.shape[2]
    d_win = d_y[..., None] * mask  # (N, OH, OW, C, k*k)
    out = np.zeros(in_shape, d_y.dtype)
    block = d_win.reshape(N, oh, ow, C, size, size).transpose(0, 1, 4, 2, 5, 3)
    out[:, : oh * size, : ow * size, :] = block.reshape(N, oh * size, ow * size, C)
    return out


@dataclass
class ConvCache:
    """What :func:`backward` needs, per layer, and the output logits ``(T, B, n_classes)``."""

    saved: list[dict]
    logits: np.ndarray


def _flat(a: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` -> ``(N, C*H*W)`` in C-order of ``(c, y, x)``; a flat ``(N, n)`` is returned as is."""
    if a.ndim == 4:
        return a.transpose(0, 3, 1, 2).reshape(a.shape[0], -1)
    return a


def forward(
    plan: list[PlannedLayer],
    params: FloatParams,
    x: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    surrogate: bool = False,
) -> ConvCache:
    """Run the float model of ``plan`` on ``x`` ``(T, B, rows * cols)`` (0/1 spikes).

    ``params`` holds one weight matrix and bias per trainable layer (convolutions and dense layers), in order.
    Arguments as :func:`hwsim.training.model.forward`.
    """
    T, B, _ = x.shape
    _, rows, cols = plan[0].in_shape
    a = x.reshape(T * B, rows, cols, 1)
    saved: list[dict] = []
    spike_kw = dict(mode=mode, theta=theta, half_width=half_width, surrogate=surrogate)
    p = 0
    for layer in plan:
        item = layer.item
        if isinstance(item, Pool):
            win = _windows(a, item.size)
            if item.kind == "max":
                a = win.max(axis=-1)  # OR of binary spikes: exactly the threshold-1 chip layer
                # an input can flip the OR only when no other input of its window spiked
                alone = (win.sum(axis=-1, keepdims=True) - win) == 0
                saved.append({"in_shape": _shape4(layer.in_shape, T * B), "alone": alone})
            else:
                total = win.sum(axis=-1)
                thr = pool_threshold(item)
                a = (total >= thr).astype(x.dtype)  # the chip layer: weights 1, threshold thr, >= (chip-spec §2.2)
                saved.append({"in_shape": _shape4(layer.in_shape, T * B), "sum": total, "threshold": thr})
            continue
        w, b = params.weights[p], params.biases[p]
        p += 1
        last = layer is plan[-1]
        if isinstance(item, Conv):
            inp = im2col(a, item.kernel, item.stride, item.padding)
            current = inp @ w + b
            out_shape = (T, B, layer.out_shape[1], layer.out_shape[2], item.channels)
        else:
            inp = _flat(a)
            current = inp @ w + b
            out_shape = (T, B, item.units)
        entry = {"input": inp, "in_shape": a.shape}
        saved.append(entry)
        current = current.reshape(out_shape)
        if last:
            return ConvCache(saved, current)
        v, h = spiking_forward(current, **spike_kw)
        entry["membrane"] = v
        a = h.reshape((T * B,) + out_shape[2:])
    raise AssertionError("the plan ends with a dense output layer (arch.parse_arch checks it)")


def _shape4(shape: tuple[int, ...], n: int) -> tuple[int, int, int, int]:
    c, h, w = shape
    return (n, h, w, c)


def backward(
    plan: list[PlannedLayer],
    params: FloatParams,
    cache: ConvCache,
    d_logits: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    detach_reset: bool = False,
) -> FloatParams:
    """Gradients w.r.t. every trainable layer's weights and bias, given ``dL/dlogits`` ``(T, B, C)``."""
    T, B, _ = d_logits.shape
    n_trainable = len(params.weights)
    gw: list[np.ndarray] = [None] * n_trainable  # type: ignore[list-item]
    gb: list[np.ndarray] = [None] * n_trainable  # type: ignore[list-item]
    p = n_trainable
    d_out = d_logits  # dL/d(current) of the layer being processed, time-major
    d_a = None  # dL/d(spikes) flowing into the layer below, (N, H, W, C) or (N, n)
    for k in range(len(plan) - 1, -1, -1):
        layer, entry = plan[k], cache.saved[k]
        item = layer.item
        if isinstance(item, Pool):
            if item.kind == "avg":
                thr = entry["threshold"]
                # the pooling neuron's own box estimator, half-width = its threshold (as theta for hidden layers)
                d_y = d_a * (np.abs(entry["sum"] - thr) < thr).astype(d_a.dtype) * d_a.dtype.type(0.5 / thr)
                d_a = _unpool(d_y, entry["in_shape"], item.size)
            else:
                d_a = _unpool_where(d_a, entry["alone"], entry["in_shape"], item.size)
            continue
        p -= 1
        if k != len(plan) - 1:
            d_h = d_a.reshape(entry["membrane"].shape)
            d_out = spiking_backward(d_h, entry["membrane"], mode=mode, theta=theta, half_width=half_width,
                                     detach_reset=detach_reset)
        n_out = item.channels if isinstance(item, Conv) else item.units
        d2 = d_out.reshape(-1, n_out)
        inp = entry["input"]
        gw[p] = inp.T @ d2
        gb[p] = d2.sum(axis=0)
        if k == 0:
            break
        d_inp = d2 @ params.weights[p].T
        in_shape = entry["in_shape"]
        if isinstance(item, Conv):
            d_a = col2im(d_inp, in_shape, item.kernel, item.stride, item.padding)
        elif len(in_shape) == 4:  # dense after a shaped layer: undo the C-order flattening
            N, H, W, C = in_shape
            d_a = d_inp.reshape(N, C, H, W).transpose(0, 2, 3, 1)
        else:
            d_a = d_inp
    return FloatParams(gw, gb)


def init_params(rng: np.random.Generator, plan: list[PlannedLayer], input_activity: float, init_layer) -> FloatParams:
    """Initial weights of every trainable layer with ``init_layer(rng, fan_in, n_out, activity)`` (the fully
    connected trainer's initialisation, with a convolution's fan-in ``C_in * k * k``)."""
    weights, biases = [], []
    for layer in plan:
        if not layer.trainable:
            continue
        n_out = layer.item.channels if isinstance(layer.item, Conv) else layer.item.units
        w, b = init_layer(rng, layer.fan_in, n_out, input_activity if layer.index == 0 else 0.25)
        weights.append(w)
        biases.append(b)
    return FloatParams(weights, biases)


def chip_layer_thresholds(plan: list[PlannedLayer], quant: list[LayerQuant]) -> tuple[list[int], list[float]]:
    """Integer thresholds and float scales of every chip layer (pooling: its fixed threshold, scale 1)."""
    thresholds, scales = [], []
    q = iter(quant)
    for layer in plan:
        if isinstance(layer.item, Pool):
            thresholds.append(pool_threshold(layer.item))
            scales.append(1.0)
        else:
            lq = next(q)
            thresholds.append(lq.threshold)
            scales.append(lq.scale)
    return thresholds, scales


def _dense_int(matrix) -> np.ndarray:
    """A sparse float matrix of integer values as a dense int32 array."""
    return np.rint(matrix.toarray()).astype(np.int32)


def to_network(plan: list[PlannedLayer], quant: list[LayerQuant], *, mode: str, readout: str,
               metadata: dict) -> Network:
    """The chip network: every planned layer one spiking layer of integer weights.

    Convolutions and dense layers run in ``mode`` with reset by subtraction; pooling layers are
    discontinuous with reset to zero (stateless); the output layer is discontinuous, ``fire`` per ``readout``.
    """
    from mapping.unroll import conv2d_matrix, pool2d_matrix

    layers = []
    q = iter(quant)
    for layer in plan:
        item = layer.item
        last = layer is plan[-1]
        if isinstance(item, Pool):
            matrix, shape = pool2d_matrix("sum", layer.in_shape, item.size, item.size, 0)
            assert tuple(shape) == layer.out_shape, (shape, layer.out_shape)
            layers.append(Layer(weights=_dense_int(matrix), bias=np.zeros(layer.n_out, np.int32),
                                threshold=pool_threshold(item), leak_shift=0, integration="discontinuous",
                                reset="zero", fire=True, name=f"{item.kind}pool{layer.index}", shape=shape))
            continue
        lq = next(q)
        if isinstance(item, Conv):
            c_in = layer.in_shape[0]
            # rows (ky, kx, c_in) -> PyTorch's (C_out, C_in, ky, kx)
            kernel = lq.weights.reshape(item.kernel, item.kernel, c_in, item.channels).transpose(3, 2, 0, 1)
            matrix, shape = conv2d_matrix(kernel, layer.in_shape, stride=item.stride, padding=item.padding)
            assert tuple(shape) == layer.out_shape, (shape, layer.out_shape)
            weights = _dense_int(matrix)
            # one bias per output channel, the same at every pixel of that channel (C-order: channel-major)
            bias = np.repeat(lq.bias, shape[1] * shape[2]).astype(np.int32)
            name, shape_kw = f"conv{layer.index}", {"shape": shape}
        else:
            weights, bias = lq.weights, lq.bias
            name, shape_kw = ("output" if last else f"dense{layer.index}"), {}
        layers.append(Layer(weights=weights, bias=bias, threshold=lq.threshold, leak_shift=0,
                            # the output layer restarts every timestep: its membrane is the per-timestep logit
                            integration="discontinuous" if last else mode, reset="subtract",
                            fire=(readout == "spike_count") if last else True, name=name, **shape_kw))
    return Network(layers=layers, metadata=metadata)

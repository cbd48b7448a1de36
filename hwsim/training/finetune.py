"""Fine-tuning: the float parameters of a trained chip network, to start training from (``--init NET.npz``).

A network written by ``hwsim train`` holds every layer in chip integers with a scale per layer
(:mod:`hwsim.training.quantize`): the float model it came from computed with ``s * W_int``, ``s * b_int``
against the float threshold ``theta = s * theta_int``. :func:`params_from_network` inverts that:

- a hidden layer (convolution or dense) gets ``s = theta / theta_int`` from its integer threshold, so its
  float threshold is the trainer's ``theta`` exactly (the scale the trainer recorded, for ``theta = 1``);
- the output layer (threshold 0) gets the scale recorded in ``metadata["scales"]``, which sets the logits'
  temperature in the loss (argmax does not depend on it);
- a convolution's kernel is read back from its unrolled matrix (one output pixel per kernel tap) and checked
  by unrolling it again: the matrix must be exactly that convolution;
- pooling layers have no trained parameters; their chip layer is checked against the planned one's size and
  threshold only.

The trainer's quantization-aware forward pass re-quantizes these floats every step
(:func:`~hwsim.training.quantize.quantize_layer`): a hidden layer's threshold is recomputed from its largest
weight, ``theta_int = round(theta * w_max / max|W|)``. The plain preimage ``s * W_int`` does not always give the
same threshold back: with ``w_bits = 8`` a weight of -128 (the clipped end of the range) gives
``round(79 * 127 / 128) = 78``, not 79. But any float in a weight's rounding cell quantizes to the same integer,
so the largest-magnitude weights are placed, inside their cell, where the threshold also comes out the same
(:func:`_largest_weight_units`): then the round trip is the identity (the same integers, thresholds and scales,
hence the same chip network and accuracy before the first step). Only the float model's accuracy differs from
the original run's: the original float shadow weights are not stored, the network holds their quantization.
When no such float exists (a layer quantized for another ``w_bits``), :func:`requantization_changes` says which
layers differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwsim.errors import InputError
from hwsim.network import Network
from hwsim.training.arch import Conv, PlannedLayer, Pool, arch_text
from hwsim.training.conv import pool_threshold
from hwsim.training.model import FloatParams
from hwsim.training.quantize import LayerQuant

__all__ = ["load_init_network", "params_from_network", "requantization_changes"]


def load_init_network(path: str) -> Network:
    """The ``--init`` network file (``.npz`` written by ``hwsim train``)."""
    if not str(path).endswith(".npz"):
        raise InputError(f"--init {path!r}: expected a network file written by hwsim train (.npz)")
    return Network.load(path)


def _dense_columns(weights, columns: np.ndarray) -> np.ndarray:
    """Dense int64 ``(n_in, len(columns))`` of a dense or sparse weight matrix."""
    block = weights[:, columns]
    return np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.int64)


def _same_matrix(a, b) -> bool:
    """Two integer matrices (dense or sparse) hold the same values."""
    import scipy.sparse as sp

    if a.shape != b.shape:
        return False
    diff = sp.csr_array(a, dtype=np.float64) - sp.csr_array(b, dtype=np.float64)
    return not np.any(diff.data)


def _conv_kernel(layer, planned: PlannedLayer, where: str) -> np.ndarray:
    """The ``(k * k * C_in, C_out)`` integer kernel (rows in ``(ky, kx, c_in)`` order) of an unrolled conv layer."""
    from mapping.unroll import conv2d_matrix

    item = planned.item
    c_in, rows, cols = planned.in_shape
    c_out, o_rows, o_cols = planned.out_shape
    k, s, p = item.kernel, item.stride, item.padding
    kernel = np.zeros((k, k, c_in, c_out), dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            # any output pixel whose tap (ky, kx) falls inside the input holds that tap's weights
            oys = [oy for oy in range(o_rows) if 0 <= oy * s - p + ky < rows]
            oxs = [ox for ox in range(o_cols) if 0 <= ox * s - p + kx < cols]
            if not oys or not oxs:
                continue  # a tap that only ever reads padding: its weight never matters (left 0)
            oy, ox = oys[0], oxs[0]
            iy, ix = oy * s - p + ky, ox * s - p + kx
            out_cols = (np.arange(c_out) * o_rows + oy) * o_cols + ox
            in_rows = (np.arange(c_in) * rows + iy) * cols + ix
            kernel[ky, kx] = _dense_columns(layer.weights, out_cols)[in_rows]
    matrix, _ = conv2d_matrix(kernel.transpose(3, 2, 0, 1), planned.in_shape, stride=s, padding=p)
    if not _same_matrix(matrix, layer.weights):
        raise InputError(f"{where}: the weights of layer {planned.index} ({layer.name!r}) are not a "
                         f"{item.text()} convolution of its {c_in}x{rows}x{cols} input")
    bias = np.asarray(layer.bias, dtype=np.int64).reshape(c_out, o_rows * o_cols)
    if np.any(bias != bias[:, :1]):
        raise InputError(f"{where}: layer {planned.index} ({layer.name!r}) has different biases at different "
                         "pixels of one channel; a convolution has one bias per channel")
    return kernel.reshape(k * k * c_in, c_out)


def _check_structure(network: Network, sizes: Sequence[int], plan: list[PlannedLayer] | None, where: str) -> None:
    expected = arch_text(tuple(layer.item for layer in plan)) if plan is not None else "-".join(map(str, sizes))
    recorded = network.metadata.get("arch")
    if plan is not None and recorded is not None and recorded != expected:
        raise InputError(f"{where}: the network has --arch {recorded}, this run {expected}; --init needs the same "
                         "architecture")
    if plan is None and recorded is not None:
        raise InputError(f"{where}: the network has --arch {recorded}, this run the fully connected {expected}; "
                         "--init needs the same architecture")
    if not network.is_chain or list(network.sizes) != list(sizes):
        raise InputError(f"{where}: the network's layers are {'-'.join(map(str, network.sizes))}, this run's "
                         f"{'-'.join(map(str, sizes))} ({expected}); --init needs the same architecture")
    if plan is not None:
        for layer, planned in zip(network.layers, plan):
            shaped = isinstance(planned.item, (Conv, Pool))
            if shaped and layer.shape is not None and tuple(layer.shape) != tuple(planned.out_shape):
                raise InputError(f"{where}: layer {planned.index} has shape {layer.shape}, this run's "
                                 f"{planned.item.text()} {planned.out_shape}; --init needs the same architecture")
            if isinstance(planned.item, Pool) and layer.threshold != pool_threshold(planned.item):
                raise InputError(f"{where}: layer {planned.index} ({layer.name!r}) has threshold {layer.threshold}, "
                                 f"not the {planned.item.text()} pooling's {pool_threshold(planned.item)}")


def _largest_weight_units(largest: int, threshold: int, w_bits: int) -> float | None:
    """The magnitude, in integer steps, to give a hidden layer's largest weights (``|W_int| = largest``) so that
    re-quantization gives back both ``largest`` and ``threshold``; None when ``largest`` itself does, or when no
    magnitude does.

    ``quantize_layer`` maps the largest magnitude ``m`` (in steps of ``s = theta / threshold``) to the threshold
    ``round(w_max * threshold / m)``: it is ``threshold`` for ``m`` in ``(w_max T / (T + 1/2), w_max T / (T - 1/2))``,
    and the weight rounds to ``largest`` for ``m`` in ``[largest - 1/2, largest + 1/2]`` (``m >= w_max + 1/2`` for
    the clipped end ``-(w_max + 1)``). The middle of the two intervals' overlap is returned.
    """
    w_max = (1 << (w_bits - 1)) - 1
    if largest < 1 or round(w_max * threshold / largest) == threshold:
        return None
    lo = max(largest - 0.5, w_max * threshold / (threshold + 0.5))
    hi = largest + 0.5 if largest <= w_max else np.inf
    if threshold > 0.5:
        hi = min(hi, w_max * threshold / (threshold - 0.5))
    return (lo + hi) / 2 if lo < hi and np.isfinite(hi) else None


def params_from_network(network: Network, sizes: Sequence[int], plan: list[PlannedLayer] | None, *, theta: float,
                        w_bits: int, where: str = "--init") -> tuple[FloatParams, list[LayerQuant]]:
    """The float parameters (one weight matrix and bias per trainable layer, as the trainer keeps them) whose
    quantization is ``network``, and the integers they were read from (one :class:`LayerQuant` per trainable
    layer); ``sizes`` are the chip layer sizes of the run (input first), ``plan`` its planned layers (None for
    a fully connected network), ``w_bits`` the weight width the run re-quantizes to.

    Raises:
        InputError: a network of another architecture, a hidden layer with threshold 0 (no scale to recover),
            or no recorded output scale (a network not written by ``hwsim train``).
    """
    _check_structure(network, sizes, plan, where)
    scales = network.metadata.get("scales")
    if not isinstance(scales, list) or len(scales) != len(network.layers):
        raise InputError(f"{where}: the network records no per-layer scales (metadata 'scales'); --init needs a "
                         "network written by hwsim train")
    try:
        output_scale = float(scales[-1])
    except (TypeError, ValueError):
        output_scale = float("nan")
    if not (np.isfinite(output_scale) and output_scale > 0):
        raise InputError(f"{where}: the output layer's recorded scale {scales[-1]!r} is not a number > 0")
    planned_layers = plan if plan is not None else [None] * len(network.layers)
    weights, biases, read = [], [], []
    last = len(network.layers) - 1
    for k, (layer, planned) in enumerate(zip(network.layers, planned_layers)):
        if planned is not None and isinstance(planned.item, Pool):
            continue
        if k == last:
            scale = output_scale
        else:
            if layer.threshold < 1:
                raise InputError(f"{where}: hidden layer {k} ({layer.name!r}) has threshold {layer.threshold}; "
                                 "its scale (theta / threshold) needs a threshold >= 1")
            scale = float(theta) / layer.threshold
        if planned is not None and isinstance(planned.item, Conv):
            w_int = _conv_kernel(layer, planned, where)
            b_int = np.asarray(layer.bias, dtype=np.int64).reshape(planned.out_shape[0], -1)[:, 0]
        else:
            w_int = _dense_columns(layer.weights, np.arange(layer.n_out))
            b_int = np.asarray(layer.bias, dtype=np.int64)
        read.append(LayerQuant(w_int.astype(np.int32), b_int.astype(np.int32), 0 if k == last else layer.threshold,
                               scale))
        # the same arithmetic as quantize.dequantize: float64 product, then float32
        w_float = w_int.astype(np.float64) * scale
        largest = int(np.abs(w_int).max(initial=0))
        units = None if k == last else _largest_weight_units(largest, layer.threshold, w_bits)
        if units is not None:
            at_largest = np.abs(w_int) == largest
            w_float[at_largest] = np.sign(w_int[at_largest]) * units * scale
        weights.append(w_float.astype(np.float32))
        biases.append((b_int.astype(np.float64) * scale).astype(np.float32))
    return FloatParams(weights, biases), read


def requantization_changes(read: list[LayerQuant], requantized: list[LayerQuant]) -> list[str]:
    """Trainable layers whose re-quantization differs from the integers read from the network (empty: the
    round trip is exact); one line per layer saying what changed."""
    changes = []
    for k, (a, b) in enumerate(zip(read, requantized)):
        what = []
        if a.threshold != b.threshold:
            what.append(f"threshold {a.threshold} -> {b.threshold}")
        n_w = int(np.count_nonzero(a.weights != b.weights))
        n_b = int(np.count_nonzero(a.bias != b.bias))
        if n_w:
            what.append(f"{n_w} weights")
        if n_b:
            what.append(f"{n_b} biases")
        if what:
            changes.append(f"trained layer {k}: " + ", ".join(what))
    return changes

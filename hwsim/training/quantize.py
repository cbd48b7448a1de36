"""Per-layer fixed-point quantization: float weights to the chip's integers.

Each layer ``k`` gets one scale ``s_k`` (float units per integer step). The
chip computes in integers: ``V_int = sum W_int + b_int`` against
``theta_int``; the float model sees ``s_k * V_int`` against ``s_k * theta_int``.

- Hidden layers: the threshold must be an integer, so the scale is chosen
  from it: ``theta_int = round(theta * w_max / max|W|)`` (the largest weight
  then uses the full ``w_bits`` range), clamped to ``1..2^(v_bits-1)-1``,
  and ``s = theta / theta_int``, so the float threshold ``theta`` is exact.
- Output layer: ``s = max|W| / w_max``; its threshold is 0 (Yin's
  threshold-0 spike readout) or unused (membrane readout).
- ``W_int = clip(round(W / s), w_min, w_max)``,
  ``b_int = clip(round(b / s), v_min, v_max)`` (round half to even).

The float model evaluated with ``s * W_int``, ``s * b_int`` and
``s * theta_int`` computes exactly ``s`` times the chip's membrane as long
as no partial sum leaves the ``v_bits`` range (the chip saturates; the
chip-simulated accuracy accounts for that).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.training.model import FloatParams

__all__ = ["LayerQuant", "quantize_layer", "quantize_params", "dequantize"]


@dataclass(frozen=True)
class LayerQuant:
    """One layer in chip integers plus its scale.

    Attributes:
        weights: ``(n_in, n_out)`` int32 in the ``w_bits`` range.
        bias: ``(n_out,)`` int32 in the ``v_bits`` range.
        threshold: Integer threshold (0 for the output layer).
        scale: Float units per integer step.
    """

    weights: np.ndarray
    bias: np.ndarray
    threshold: int
    scale: float


def quantize_layer(w: np.ndarray, b: np.ndarray, *, w_bits: int, v_bits: int, theta: float | None) -> LayerQuant:
    """Quantize one layer; ``theta=None`` for the output layer (threshold 0).

    Args:
        w: Float weights ``(n_in, n_out)``.
        b: Float biases ``(n_out,)``.
        w_bits: Signed weight width.
        v_bits: Signed membrane/bias/threshold width.
        theta: Float threshold of a hidden layer, or None for the output layer.
    """
    # the chip's signed register widths (chip-spec §2.1, ranges §4): weights w_bits, bias/threshold v_bits
    w_max = (1 << (w_bits - 1)) - 1
    v_max = (1 << (v_bits - 1)) - 1
    m = float(np.max(np.abs(w))) if w.size else 0.0
    m = max(m, 1e-12)
    if theta is None:
        scale = m / w_max
        threshold = 0
    else:
        # threshold register 0..2^(v_bits-1)-1 (chip-spec §2.1); at least 1 so a silent neuron cannot fire
        threshold = int(np.clip(np.rint(theta * w_max / m), 1, v_max))
        scale = float(theta) / threshold
    # round half to even, then clip to the two's complement ranges of chip-spec §2.1 (no wrap-around)
    w_int = np.clip(np.rint(np.asarray(w, np.float64) / scale), -w_max - 1, w_max).astype(np.int32)
    b_int = np.clip(np.rint(np.asarray(b, np.float64) / scale), -v_max - 1, v_max).astype(np.int32)
    return LayerQuant(w_int, b_int, threshold, float(scale))


def quantize_params(params: FloatParams, *, w_bits: int, v_bits: int, theta: float) -> list[LayerQuant]:
    """Quantize every layer; the last one is the output layer."""
    n = len(params.weights)
    return [
        quantize_layer(w, b, w_bits=w_bits, v_bits=v_bits, theta=None if k == n - 1 else theta)
        for k, (w, b) in enumerate(zip(params.weights, params.biases))
    ]


def dequantize(quant: list[LayerQuant], dtype=np.float32) -> FloatParams:
    """The fake-quantized float parameters ``s * W_int``, ``s * b_int`` the QAT forward pass uses."""
    return FloatParams(
        [(q.weights.astype(np.float64) * q.scale).astype(dtype) for q in quant],
        [(q.bias.astype(np.float64) * q.scale).astype(dtype) for q in quant],
    )

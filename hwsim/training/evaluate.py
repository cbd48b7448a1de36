"""Accuracy of trained networks: float model, and the quantized network on the chip's neuron semantics.

The **chip-simulated accuracy** runs the integer :class:`~hwsim.network.Network`
through :func:`hwsim.network.simulate_network` (chip-spec §2.2: integer
membranes, saturation after every addition, ``>=`` threshold, reset by
subtraction) on rasters from :func:`hwsim.encoding.encode` (chip-spec §3,
image ``i`` drawn from ``SeedSequence([seed, i])``), decoded as in §2.3.
That is exactly what the golden model, the engine and the RTL compute for a
correctly mapped program.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hwsim.encoding import encode
from hwsim.errors import InputError
from hwsim.network import Network, predict
from hwsim.training.model import FloatParams, forward

__all__ = ["chip_predictions", "chip_accuracy", "float_accuracy", "accuracy_vs_timesteps", "network_v_bits"]


def network_v_bits(network: Network, v_bits: int | None = None) -> int:
    """The membrane width to simulate with: ``v_bits`` if given, else the network's metadata."""
    if v_bits is not None:
        return int(v_bits)
    if "v_bits" not in network.metadata:
        raise InputError("the network's metadata has no 'v_bits'; pass v_bits (the target chip's membrane width)")
    return int(network.metadata["v_bits"])


def chip_predictions(
    network: Network,
    images: np.ndarray,
    *,
    timesteps: int,
    encoding: str = "rate",
    seed: int = 0,
    v_bits: int | None = None,
    chunk_size: int = 500,
    first_index: int = 0,
) -> np.ndarray:
    """Predicted classes of the quantized network under the chip's neuron semantics.

    Args:
        network: Integer network.
        images: ``(n, n_pixels)`` intensities in [0, 1].
        timesteps: T.
        encoding: ``rate``, ``threshold`` or ``latency``.
        seed: Encoder seed (chip-spec §3).
        v_bits: Membrane width; the network's ``metadata["v_bits"]`` when omitted.
        chunk_size: Images per batch (bounds memory).
        first_index: Global index of ``images[0]`` for the encoder.
    """
    vb = network_v_bits(network, v_bits)
    images = np.asarray(images)
    out = np.empty(len(images), np.int64)
    for lo in range(0, len(images), chunk_size):
        chunk = images[lo : lo + chunk_size]
        rasters = encode(chunk, timesteps, encoding, seed=seed, first_index=first_index + lo)
        out[lo : lo + len(chunk)] = predict(network, rasters, vb)
    return out


def chip_accuracy(network: Network, images: np.ndarray, labels: np.ndarray, **kwargs) -> float:
    """Fraction of images whose chip-simulated prediction equals the label; see :func:`chip_predictions`."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(chip_predictions(network, images, **kwargs) == labels))


def float_accuracy(
    params: FloatParams,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    timesteps: int,
    mode: str,
    readout: str,
    theta: float = 1.0,
    encoding: str = "rate",
    seed: int = 0,
    chunk_size: int = 1000,
    model_forward=forward,
) -> float:
    """Accuracy of the float (unquantized, unsaturated) model on the same rasters as the chip.

    ``readout``: ``"membrane"`` (argmax of summed logits) or ``"spike_count"``
    (argmax of ``sum_t [z_t >= 0]``). ``model_forward``: the float model, by default the fully
    connected :func:`hwsim.training.model.forward`; ``functools.partial(hwsim.training.conv.forward, plan)``
    for a convolutional one.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    correct = 0
    for lo in range(0, len(images), chunk_size):
        chunk = images[lo : lo + chunk_size]
        rasters = encode(chunk, timesteps, encoding, seed=seed, first_index=lo)
        x = np.ascontiguousarray(rasters.transpose(1, 0, 2), dtype=np.float32)
        z = model_forward(params, x, mode=mode, theta=theta).logits
        scores = (z >= 0).sum(axis=0) if readout == "spike_count" else z.sum(axis=0)
        correct += int(np.sum(np.argmax(scores, axis=1) == labels[lo : lo + chunk_size]))
    return correct / len(labels)


def accuracy_vs_timesteps(
    network: Network,
    images: np.ndarray,
    labels: np.ndarray,
    timesteps: Sequence[int] = (1, 2, 4, 8, 16),
    *,
    encoding: str | None = None,
    seed: int = 0,
    v_bits: int | None = None,
) -> dict[int, float]:
    """Chip-simulated accuracy of one network for each number of timesteps.

    ``encoding`` defaults to the network's ``metadata["encoding"]`` (else ``rate``).
    """
    enc = encoding or network.metadata.get("encoding", "rate")
    return {
        int(T): chip_accuracy(network, images, labels, timesteps=int(T), encoding=enc, seed=seed, v_bits=v_bits)
        for T in timesteps
    }

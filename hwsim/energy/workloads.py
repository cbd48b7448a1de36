"""Calibration workloads: MNIST-shaped images and random networks with controlled firing.

MNIST cannot be downloaded at run time, so the calibration runs on
*MNIST-shaped* inputs: the 8x8 digits bundled with scikit-learn, upsampled
bilinearly to a 20x20 box centred in a 28x28 frame (MNIST's layout), then
contrast-stretched so the pixel statistics match MNIST's published mean
(0.1307) and standard deviation (0.3081). What matters for energy is how many
input spikes a rate-coded image produces, and that is set by these statistics.

Networks are random (uniform integer weights, zero bias), with each layer's
threshold set to the quantile of its pre-activations that makes a chosen
fraction of neurons fire per timestep. Energy depends on activity, not on
what the network computes, so a random network with the activity of a trained
one costs the same. The firing fractions are assumptions (docs/energy.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.config import CoreConfig
from hwsim.encoding import encode
from hwsim.network import Layer, Network

__all__ = ["Workload", "mnist_shaped_images", "resized_images", "controlled_network", "MNIST_MEAN", "MNIST_STD"]

# Published MNIST pixel statistics (the normalisation constants of the common
# torchvision examples), intensities in [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# Contrast stretch x' = clip((x - lo) / (hi - lo), 0, 1) applied to the upsampled
# digits; lo/hi were found once by a grid search matching MNIST_MEAN and MNIST_STD
# (tests/hwsim/test_energy.py checks the match).
_STRETCH_LO = 0.45
_STRETCH_HI = 0.763


def _upsample_bilinear(img: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a square image, corners aligned."""
    n = img.shape[0]
    src = np.linspace(0.0, n - 1.0, size)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = src - i0
    rows = img[i0] * (1 - f)[:, None] + img[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def mnist_shaped_images(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 784)`` float32 images in [0, 1] with MNIST's layout and pixel statistics.

    Images are drawn without replacement from scikit-learn's bundled 8x8
    digits (1797 images) with ``numpy.random.default_rng(seed)``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits().images.astype(np.float64) / 16.0
    if not 1 <= n <= len(digits):
        raise ValueError(f"n = {n}: expected 1..{len(digits)} MNIST-shaped images")
    pick = np.random.default_rng(seed).permutation(len(digits))[:n]
    out = np.zeros((n, 28, 28))
    for k, i in enumerate(pick):
        out[k, 4:24, 4:24] = _upsample_bilinear(digits[i], 20)
    out = np.clip((out - _STRETCH_LO) / (_STRETCH_HI - _STRETCH_LO), 0.0, 1.0)
    return out.reshape(n, 784).astype(np.float32)


def resized_images(images: np.ndarray, side: int) -> np.ndarray:
    """``(n, side * side)`` float32: square ``(n, 784)``-style images resized bilinearly (corners aligned), e.g.
    MNIST's 28x28 to ODIN's 16x16 (docs/energy.md §11)."""
    n, pixels = images.shape
    old = int(round(pixels ** 0.5))
    out = [_upsample_bilinear(img.reshape(old, old).astype(np.float64), side) for img in images]
    return np.clip(np.array(out), 0.0, 1.0).reshape(n, side * side).astype(np.float32)


def controlled_network(
    sizes: Sequence[int],
    rates: Sequence[float],
    rasters: np.ndarray,
    core: CoreConfig,
    *,
    seed: int = 0,
    integration: str = "discontinuous",
) -> Network:
    """A random network whose layer ``k`` fires in a fraction ``rates[k]`` of (neuron, timestep) slots.

    Weights are uniform integers in ``[-w_max, w_max]``, biases 0, reset by
    subtraction. Thresholds are the ``1 - rate`` quantile of each layer's
    pre-activations on ``rasters`` (a sample of the inputs the network will
    see), so the activity is controlled, not the accuracy.

    Args:
        sizes: ``[n_in, h1, ..., n_out]``.
        rates: Target firing fraction per layer (``len(sizes) - 1`` values in (0, 1)).
        rasters: ``(B, T, n_in)`` sample input spikes.
        core: Core parameters (weight and membrane widths).
        seed: Weight seed.
        integration: ``"discontinuous"`` or ``"continuous"``.
    """
    if len(rates) != len(sizes) - 1:
        raise ValueError(f"rates has {len(rates)} values; expected one per layer ({len(sizes) - 1})")
    rng = np.random.default_rng(seed)
    spikes = np.asarray(rasters, dtype=np.float64)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(-core.w_max, core.w_max + 1, size=(n_in, n_out)).astype(np.int32)
        # Pre-activations of a discontinuous layer: sum of the spiking axons' weights.
        # (Continuous layers accumulate; the quantile of one step is still a fair activity knob.)
        pre = spikes @ w.astype(np.float64)
        th = int(np.ceil(np.quantile(pre, 1.0 - rates[k])))
        th = min(max(th, 1), core.v_max)
        layers.append(
            Layer(weights=w, bias=np.zeros(n_out, np.int32), threshold=th, integration=integration,
                  reset="subtract", fire=True, name=f"fc{k}")
        )
        spikes = (pre >= th).astype(np.float64)  # the chip's >= compare (chip-spec §2.2 step 3.3)
    return Network(layers=layers, metadata={"name": "controlled-random", "sizes": list(sizes),
                                            "rates": list(rates), "seed": seed})


@dataclass(frozen=True)
class Workload:
    """One calibration workload: what runs on the chip and how inputs are coded.

    Attributes:
        name: Short name.
        sizes: Layer sizes ``[784, ..., 10]``.
        rates: Firing fraction per layer (assumption).
        timesteps: T.
        integration: ``"discontinuous"`` (Yin's DC mode) or ``"continuous"``.
        encoding: Input coding (``"rate"`` = Bernoulli, as in Yin et al.).
        n_images: MNIST-shaped images simulated.
        seed: Seed for images, weights and the encoder.
        target_nj: Published energy per image this workload stands for.
        rationale: Why this configuration (for the docs).
        image_side: Side of the square input images: 28 (MNIST), or e.g. 16 (ODIN's resized MNIST).
    """

    name: str
    sizes: tuple[int, ...]
    rates: tuple[float, ...]
    timesteps: int
    integration: str
    encoding: str
    n_images: int
    seed: int
    target_nj: float
    rationale: str
    image_side: int = 28

    def images(self) -> np.ndarray:
        images = mnist_shaped_images(self.n_images, self.seed)
        return images if self.image_side == 28 else resized_images(images, self.image_side)

    def rasters(self) -> np.ndarray:
        return encode(self.images(), self.timesteps, self.encoding, seed=self.seed)

    def network(self, core: CoreConfig) -> Network:
        return controlled_network(self.sizes, self.rates, self.rasters(), core, seed=self.seed,
                                  integration=self.integration)

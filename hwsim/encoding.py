"""Input encoders: images to binary spike rasters (chip-spec §3).

A raster, not a generator, is the interface between hwsim and every
implementation of the chip: the golden model, the engine and the RTL
testbench all read the same ``(T, n_inputs)`` array of 0/1.
"""

from __future__ import annotations

import numpy as np

from hwsim.encoding_names import ENCODINGS
from hwsim.errors import InputError
from hwsim.limits import MAX_TIMESTEPS

__all__ = [
    "ENCODINGS",
    "check_timesteps",
    "to_levels",
    "rate_encode",
    "threshold_encode",
    "latency_encode",
    "regular_encode",
    "regular_from_levels",
    "encode",
    "as_raster_batch",
]



def to_levels(images: np.ndarray) -> np.ndarray:
    """Quantise intensities in [0, 1] to 8-bit levels ``round(255 x)``.

    Raises:
        InputError: values outside [0, 1] or not finite.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0):
        raise InputError(
            f"image intensities must be finite and in [0, 1]; got min {np.nanmin(x):.4g}, max {np.nanmax(x):.4g}"
        )
    return np.rint(x * 255.0).astype(np.uint8)


def _check_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"images must have shape (n_images, n_pixels); got shape {np.shape(images)}")
    return x


def check_timesteps(timesteps: int) -> int:
    """``timesteps`` as an int; anything but a whole number in ``1..MAX_TIMESTEPS`` is an :class:`InputError`."""
    whole = not isinstance(timesteps, bool) and isinstance(timesteps, (int, np.integer))
    if not whole or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise InputError(f"timesteps = {timesteps!r}: expected an integer in 1..{MAX_TIMESTEPS}")
    return int(timesteps)


def rate_encode(images: np.ndarray, timesteps: int, seed: int = 0, first_index: int = 0) -> np.ndarray:
    """Bernoulli rate coding: pixel spikes when an 8-bit uniform draw is below its level.

    Image ``i`` (counting from ``first_index``) draws from
    ``Generator(PCG64(SeedSequence([seed, i])))``, so its raster does not
    depend on the batch it is in.

    Args:
        images: ``(n_images, n_pixels)`` intensities in [0, 1].
        timesteps: T.
        seed: Base seed.
        first_index: Global index of ``images[0]``, for streaming in chunks.

    Returns:
        ``(n_images, T, n_pixels)`` uint8 raster.
    """
    levels = to_levels(_check_images(images))
    T = check_timesteps(timesteps)
    out = np.empty((levels.shape[0], T, levels.shape[1]), np.uint8)
    for k in range(levels.shape[0]):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), first_index + k])))
        draws = rng.integers(0, 256, size=(T, levels.shape[1]), dtype=np.uint8)
        out[k] = draws < levels[k]
    return out


def threshold_encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """Deterministic coding: a pixel with intensity >= 0.5 spikes at every timestep."""
    levels = to_levels(_check_images(images))
    T = check_timesteps(timesteps)
    # 0.5 * 255 = 127.5, so intensity >= 0.5 is level >= 128 after rounding
    on = (levels >= 128).astype(np.uint8)
    return np.repeat(on[:, None, :], T, axis=1)


def latency_encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """Latency coding: level ``q > 0`` spikes once at ``floor((255 - q) T / 256)``."""
    levels = to_levels(_check_images(images)).astype(np.int64)
    T = check_timesteps(timesteps)
    out = np.zeros((levels.shape[0], T, levels.shape[1]), np.uint8)
    when = ((255 - levels) * T) // 256
    n, p = np.nonzero(levels > 0)
    out[n, when[n, p], p] = 1
    return out


def regular_from_levels(levels: np.ndarray, timesteps: int) -> np.ndarray:
    """Regular coding of 8-bit ``levels`` ``(n, n_pixels)``: ``(n, T, n_pixels)`` uint8 (see :func:`regular_encode`)."""
    q = np.asarray(levels).astype(np.int64)
    t = np.arange(check_timesteps(timesteps) + 1, dtype=np.int64)
    # spikes up to the end of each timestep: the integrate-and-fire encoder's count in closed form
    fired = (128 + t[None, :, None] * q[:, None, :]) // 256
    return np.diff(fired, axis=1).astype(np.uint8)


def regular_encode(images: np.ndarray, timesteps: int) -> np.ndarray:
    """Deterministic rate coding: level ``q`` spikes ``floor((128 + T q) / 256)`` times, evenly spaced.

    Each pixel is an integrate-and-fire encoder: an accumulator starting at 128 adds ``q`` every timestep and
    spikes (subtracting 256) on reaching 256 (chip-spec §3). Same mean count as rate coding, no sampling noise.
    """
    return regular_from_levels(to_levels(_check_images(images)), timesteps)


def encode(
    images: np.ndarray, timesteps: int, encoding: str = "rate", seed: int = 0, first_index: int = 0
) -> np.ndarray:
    """Encode with a named scheme; see :data:`ENCODINGS`."""
    if encoding == "rate":
        return rate_encode(images, timesteps, seed, first_index)
    if encoding == "threshold":
        return threshold_encode(images, timesteps)
    if encoding == "latency":
        return latency_encode(images, timesteps)
    if encoding == "regular":
        return regular_encode(images, timesteps)
    raise InputError(f"encoding = {encoding!r}: allowed {', '.join(ENCODINGS)}")


def as_raster_batch(rasters: np.ndarray, n_inputs: int) -> np.ndarray:
    """Check a raster and return it as a ``(B, T, n_inputs)`` uint8 array.

    Raises:
        InputError: wrong number of dimensions or inputs, or values other than 0 and 1.
    """
    x = np.asarray(rasters)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(
            f"input spikes must have shape (T, n_inputs) or (batch, T, n_inputs); got {np.shape(rasters)}"
        )
    if x.shape[2] != n_inputs:
        raise InputError(f"input spikes have {x.shape[2]} inputs; the program expects {n_inputs}")
    if x.shape[1] < 1:
        raise InputError("input spikes have 0 timesteps; expected at least 1")
    if x.dtype == np.bool_:
        return x.astype(np.uint8)
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"input spikes have dtype {x.dtype}; expected 0/1 integers or booleans")
    if x.size and not np.all((x == 0) | (x == 1)):
        raise InputError("input spikes must be binary (0 or 1)")
    return x.astype(np.uint8, copy=False)

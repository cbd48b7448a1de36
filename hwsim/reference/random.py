"""Slow twins of :mod:`hwsim.kernels.random`: NumPy's own ``Generator(PCG64(SeedSequence(...)))``.

The kernels reproduce these numbers bit for bit (same names, same signatures).
"""

from __future__ import annotations

import numpy as np

__all__ = ["standard_normals", "read_noise_fill", "device_draws"]


def _generator(entropy) -> np.random.Generator:
    # a uint32 array is taken by SeedSequence as its entropy words unchanged
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(np.asarray(entropy, np.uint32))))


def standard_normals(entropy, out):
    """NumPy twin of :func:`hwsim.kernels.random.standard_normals`."""
    out[...] = _generator(entropy).standard_normal(out.shape)


def read_noise_fill(seed_words, first_index, out):
    """NumPy twin of :func:`hwsim.kernels.random.read_noise_fill`."""
    seed = sum(int(w) << (32 * i) for i, w in enumerate(seed_words))
    for b in range(out.shape[0]):
        ss = np.random.SeedSequence([seed, 1, int(first_index) + b])
        out[b] = np.random.Generator(np.random.PCG64(ss)).standard_normal(out.shape[1:])


def device_draws(entropy, axons, neurons, n_axons, n_neurons, z, u):
    """NumPy twin of :func:`hwsim.kernels.random.device_draws`."""
    rng = _generator(entropy)
    z[...] = rng.standard_normal((axons, neurons, 2))[:n_axons, :n_neurons]
    u[...] = rng.random((axons, neurons, 2))[:n_axons, :n_neurons]

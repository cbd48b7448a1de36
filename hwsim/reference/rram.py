"""Slow NumPy twins of the RRAM kernels in :mod:`hwsim.kernels.rram` (same names, same signatures).

``crossbar_read`` is vectorised over the columns: each spiking row is added
to the whole accumulator vector, in ascending axon order, so every column
sees the same float64 additions in the same order as the kernel's loops.
The twin of the whole-chip kernel ``rram_chip_run`` is the golden model,
:func:`hwsim.rram.golden.simulate_rram`; the tests compare the two.

The random-stream twins (``standard_normals``, ``read_noise_fill``,
``device_draws``) are NumPy's own ``Generator(PCG64(SeedSequence(...)))``,
which the kernels reproduce bit for bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crossbar_read", "standard_normals", "read_noise_fill", "device_draws"]


def crossbar_read(active, n_active, g_diff, g_sq, row_g, n_neurons, v_read, v_sigma, noisy, z, lsb, adc_lo, adc_hi,
                  acc, acc_sq, codes):
    """NumPy twin of :func:`hwsim.kernels.rram.crossbar_read`."""
    gd = np.asarray(g_diff, np.float64).reshape(-1, n_neurons)
    gs = np.asarray(g_sq, np.float64).reshape(-1, n_neurons)
    a_sum = np.zeros(n_neurons, np.float64)
    s_sum = np.zeros(n_neurons, np.float64)
    read_g = 0.0
    for a in active[:n_active]:
        a_sum = a_sum + gd[a]
        if noisy:
            s_sum = s_sum + gs[a]
        read_g = read_g + float(row_g[a])
    current = v_read * a_sum
    if noisy:
        current = current + v_sigma * np.sqrt(s_sum) * np.asarray(z[:n_neurons], np.float64)
    r = np.floor(current / lsb + 0.5)
    peak = float(np.abs(r).max()) if n_neurons else 0.0
    acc[:n_neurons] = a_sum
    acc_sq[:n_neurons] = s_sum
    codes[:n_neurons] = np.clip(r, adc_lo, adc_hi).astype(np.int64)
    return read_g, peak


def _generator(entropy) -> np.random.Generator:
    # a uint32 array is taken by SeedSequence as its entropy words unchanged
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(np.asarray(entropy, np.uint32))))


def standard_normals(entropy, out):
    """NumPy twin of :func:`hwsim.kernels.rram.standard_normals`."""
    out[...] = _generator(entropy).standard_normal(out.shape)


def read_noise_fill(seed_words, first_index, out):
    """NumPy twin of :func:`hwsim.kernels.rram.read_noise_fill`."""
    seed = sum(int(w) << (32 * i) for i, w in enumerate(seed_words))
    for b in range(out.shape[0]):
        ss = np.random.SeedSequence([seed, 1, int(first_index) + b])
        out[b] = np.random.Generator(np.random.PCG64(ss)).standard_normal(out.shape[1:])


def device_draws(entropy, axons, neurons, n_axons, n_neurons, z, u):
    """NumPy twin of :func:`hwsim.kernels.rram.device_draws`."""
    rng = _generator(entropy)
    z[...] = rng.standard_normal((axons, neurons, 2))[:n_axons, :n_neurons]
    u[...] = rng.random((axons, neurons, 2))[:n_axons, :n_neurons]

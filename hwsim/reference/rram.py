"""Slow NumPy twins of the RRAM kernels in :mod:`hwsim.kernels.rram` (same names, same signatures).

``crossbar_read`` is vectorised over the columns: each spiking row is added
to the whole accumulator vector, in ascending axon order, so every column
sees the same float64 additions in the same order as the kernel's loops.
The twin of the whole-chip kernel ``rram_chip_run`` is the golden model,
:func:`hwsim.rram.golden.simulate_rram`; the tests compare the two.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crossbar_read"]


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

"""Reference twins of :mod:`hwsim.kernels.core`: same names, same signatures, plain NumPy."""

from __future__ import annotations

import numpy as np


__all__ = ["integrate_spikes", "update_neurons", "core_timestep"]


def integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos, w_neg, lo, hi):
    """``v = sat(v + w[a])`` for each ``a`` in ``axons[:n_spk]`` in order (chip-spec §2.2 step 2)."""
    acc = v.astype(np.int64)
    for a in axons[:n_spk]:
        acc = np.clip(acc + w[a].astype(np.int64), v_min, v_max)  # saturate after every add
    v[:] = acc


def update_neurons(v, bias, threshold, leak_shift, fire, reset_zero, v_min, v_max, fired, spikes, spikes_start):
    """Bias, leak, compare, reset (chip-spec §2.2 step 3); returns the number of neurons fired."""
    x = np.clip(v.astype(np.int64) + bias.astype(np.int64), v_min, v_max)
    if leak_shift > 0:
        x = x - (x >> leak_shift)  # numpy >> on int64 is the arithmetic shift
    f = (x >= threshold) & bool(fire)
    x = np.where(f, 0 if reset_zero else x - threshold, x)
    v[:] = x
    fired[:] = f
    idx = np.flatnonzero(f)
    spikes[spikes_start : spikes_start + idx.size] = idx
    return int(idx.size)


def core_timestep(v, w, bias, axons, n_spk, continuous, threshold, leak_shift, fire, reset_zero, w_pos, w_neg,
                  n_groups, v_min, v_max, start_done_cycles, sram_latency_cycles, fired, spikes, spikes_start,
                  counters, b, t, k):  # fmt: skip
    """START, INTEGRATE, UPDATE of one core timestep, then its counters (chip-spec §2.2, §2.4)."""
    if not continuous:
        v[:] = 0
    integrate_spikes(v, w, axons, n_spk, v_min, v_max, w_pos, w_neg, None, None)
    n_fired = update_neurons(v, bias, threshold, leak_shift, fire, reset_zero, v_min, v_max, fired, spikes,
                             spikes_start)  # fmt: skip
    n = v.shape[0]
    cycles = start_done_cycles + n_spk * n_groups + (sram_latency_cycles if n_spk else 0) + n_groups
    counters[b, t, k, [0, 1, 2, 3, 4, 7]] = (n_spk, n_spk * n_groups, n_spk * n, n, n_fired, cycles)
    return n_fired

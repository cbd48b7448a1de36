"""Reference twin of :mod:`hwsim.kernels.exit_unit`: same name, same signature, plain NumPy.

It scores every (image, timestep) at once from the running sums (``cumsum`` over timesteps), where the
kernel walks each image and stops at its exit: two different routes to the same decisions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exit_timesteps_kernel"]

_DSAT_MAX = 2**24 - 1


def exit_timesteps_kernel(values, rule, threshold, gain_num, exp_lut, ln_lut, exit_t):
    """Each image's timesteps run (chip-spec §1.4) into ``exit_t``; see the kernel's docstring."""
    B, T, K = values.shape
    exit_t[:] = T
    if rule == 0 or B == 0:
        return
    acc = np.cumsum(values.astype(np.int64), axis=1)  # (B, T, K): acc after n = t + 1 timesteps
    top1 = acc.max(axis=2)
    if rule == 1:
        i1 = acc.argmax(axis=2)  # the first maximum: ties to the lowest index
        others = np.where(np.arange(K) == i1[..., None], np.iinfo(np.int64).min, acc)
        done = top1 - others.max(axis=2) >= threshold
    else:
        n = np.arange(1, T + 1, dtype=np.int64)
        gain_t = (int(gain_num) + (n >> 1)) // n
        d = np.minimum(top1[..., None] - acc, _DSAT_MAX)
        k = np.minimum(len(exp_lut) - 1, (d * gain_t[None, :, None]) >> 16)
        e = np.asarray(exp_lut, np.int64)[k]
        z = e.sum(axis=2)
        w = (e * k).sum(axis=2)
        if rule == 2:
            done = z < threshold
        else:
            p = np.frexp(z.astype(np.float64))[1].astype(np.int64) - 1  # exact: z < 2^53
            l_z = (p - 16) * 177 + np.asarray(ln_lut, np.int64)[(z >> (p - 6)) - 64]
            done = z * l_z + 32 * w < threshold * z
    hit = done.any(axis=1)
    exit_t[hit] = done.argmax(axis=1)[hit] + 1

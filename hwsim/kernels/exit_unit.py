"""Numba kernel of the early-exit unit (chip-spec §1.4): each image's exit timestep from its output values.

Every timestep after ``t`` cannot change timestep ``t`` (cores, routes and the exit unit look only
backwards), so the engine simulates all ``T`` timesteps and finds the exit afterwards: this kernel
replays the unit over the ``(B, T, K)`` output values. Golden unit: :class:`hwsim.exit_unit.ExitUnit`.
Slow twin: :mod:`hwsim.reference.exit_unit`. Orchestration: :func:`hwsim.exit_unit.apply_exit`.
"""

from __future__ import annotations

import numpy as np

from hwsim.kernels.decorators import jit

__all__ = ["exit_timesteps_kernel", "RULE_CODES"]

# Rule codes of the kernel's ``rule`` argument (hwsim.exit_unit.EXIT_RULES order).
RULE_CODES = {"none": 0, "margin": 1, "confidence": 2, "entropy": 3}
# chip-spec §1.4 constants (the same as hwsim.exit_unit's; tests/hwsim/test_exit_engine.py checks). They live
# here too because Numba freezes globals into cached machine code and only this folder stamps the cache.
_MARGIN, _CONFIDENCE = 1, 2
_DSAT_MAX = 2**24 - 1
_GAIN_FRACTION_BITS = 16
_LN2_Q8 = 177


@jit
def exit_timesteps_kernel(values, rule, threshold, gain_num, exp_lut, ln_lut, exit_t):
    """Replay the exit unit over every image; write each image's timesteps run to ``exit_t`` (B,) int64.

    ``values`` is ``(B, T, K)``: per image and timestep the output values the unit reads (end-of-timestep
    membranes, or 0/1 spikes). ``rule`` is a :data:`RULE_CODES` code, ``threshold`` and ``gain_num`` the
    rule's registers, ``exp_lut`` (96,) and ``ln_lut`` (64,) int64 the tables of chip-spec §1.4. An image
    ends after the first timestep whose rule says exit (``exit_t = t + 1``), else after ``T``
    (``exit_t = T``; always under rule 0, ``none``). Integer arithmetic in int64: ``dsat * gain_t <
    2^24 * 2^32``; accumulators hold ``T`` sums of ``v_bits <= 32`` values.
    """
    B, T, K = values.shape
    k_max = exp_lut.shape[0] - 1
    acc = np.zeros(K, np.int64)
    for b in range(B):
        exit_t[b] = T
        if rule == 0:
            continue
        acc[:] = 0
        for t in range(T):
            n = t + 1
            for o in range(K):
                acc[o] += np.int64(values[b, t, o])
            i1 = 0
            for o in range(1, K):
                if acc[o] > acc[i1]:
                    i1 = o
            top1 = acc[i1]
            if rule == _MARGIN:
                top2 = acc[1] if i1 == 0 else acc[0]
                for o in range(K):
                    if o != i1 and acc[o] > top2:
                        top2 = acc[o]
                done = top1 - top2 >= threshold
            else:
                gain_t = (gain_num + (n >> 1)) // n  # the host's per-timestep division
                z = np.int64(0)
                w = np.int64(0)
                for o in range(K):
                    d = min(top1 - acc[o], _DSAT_MAX)
                    k = min(k_max, (d * gain_t) >> _GAIN_FRACTION_BITS)
                    z += exp_lut[k]
                    w += exp_lut[k] * k
                if rule == _CONFIDENCE:
                    done = z < threshold
                else:
                    p = _floor_log2(z)  # the leading one's position; z >= 2^16
                    l_z = (p - 16) * _LN2_Q8 + ln_lut[(z >> (p - 6)) - 64]
                    done = z * l_z + 32 * w < threshold * z
            if done:
                exit_t[b] = n
                break


@jit
def _floor_log2(x):
    """``floor(log2 x)`` of a positive integer."""
    p = 0
    while (x >> (p + 1)) > 0:
        p += 1
    return p

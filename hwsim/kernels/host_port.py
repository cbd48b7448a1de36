"""Numba kernel of the host port (chip-spec §1.1): one input row into a spike list, and the host counters.

Golden unit: :func:`hwsim.golden.host_port.host_timestep`. Slow twin:
:mod:`hwsim.reference.host_port`.
"""

from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from hwsim.kernels.decorators import jit
from hwsim.kernels.router import count_routed, route_cycles

__all__ = ["host_timestep", "N_HOST_COUNTERS"]

# Columns of the host counters (hwsim.result.HOST_COUNTER_NAMES order).
N_HOST_COUNTERS = 3
# Bit masks over 8 raster bytes packed in a uint64: bit 0 of each byte, and everything else.
_ONE = np.uint64(1)
_BIT0 = np.uint64(0x0101010101010101)
_NOT_BIT0 = np.uint64(0xFEFEFEFEFEFEFEFE)
# (x & _BIT0) * _GATHER >> 56 moves bit 0 of byte k (bits 8k, little endian) to bit k: the product's term
# for byte k lands on bit 8k + (56 - 7k) = 56 + k, and no two terms share a bit, so nothing carries.
_GATHER = np.uint64(0x0102040810204080)
_56 = np.uint64(56)


@jit
def host_timestep(words, big_endian, route_lo, route_hi, route_hops, max_hops, hop_latency, spikes, start,
                  host_counters):  # fmt: skip
    """Host port, one image and timestep: spike list of an input row plus host counters.

    The row comes as its raw bytes (0 or 1 each, zero-padded to a multiple of 8)
    read as ``uint64`` words, so all-zero stretches cost one test per 8 inputs.
    Writes the ascending indices of the 1s to ``spikes[start:]`` (up to
    ``8 * len(words)`` slots may be touched) and packets, hops, route_cycles
    (chip-spec §1.2) to ``host_counters`` (3,). ``route_*`` are the host's
    routing entries (source range and hop count of each), ``max_hops`` their largest hop count.

    Returns:
        ``(n_spikes, n_bad)``: spiking inputs, and words holding a byte other than 0 and 1.
    """
    c = 0
    bad = 0
    n_words = words.shape[0]
    if big_endian:
        for i in range(n_words):
            x = words[i]
            if x == 0:
                continue
            bad += (x & _NOT_BIT0) != 0
            for k in range(8):
                # byte k of the word in memory order; branch-free compaction
                spikes[start + c] = i * 8 + k
                c += np.int64((x >> np.uint64(8 * (7 - k))) & _ONE)
    else:
        # Eight words (64 inputs) at a time: their spike bits gathered into one 64-bit mask, then one
        # step per spike (count trailing zeros), so the cost follows the spikes, not the inputs.
        stray = np.uint64(0)  # any bit other than bit 0 of a byte, in any word
        for g in range(0, n_words, 8):
            mask = np.uint64(0)
            if g + 8 <= n_words:
                any_set = np.uint64(0)
                for k in range(8):  # silent stretches (most of them at low rates) cost one test
                    any_set |= words[g + k]
                if any_set == 0:
                    continue
                for k in range(8):  # a fixed count: unrolled
                    x = words[g + k]
                    stray |= x & _NOT_BIT0
                    mask |= (((x & _BIT0) * _GATHER) >> _56) << np.uint64(8 * k)
            else:
                for k in range(n_words - g):
                    x = words[g + k]
                    stray |= x & _NOT_BIT0
                    mask |= (((x & _BIT0) * _GATHER) >> _56) << np.uint64(8 * k)
            base = g * 8
            while mask != 0:
                spikes[start + c] = base + np.int64(trailing_zeros(mask))
                c += 1
                mask &= mask - _ONE
        if stray != 0:  # a bad input (the caller rejects it): count its words
            for i in range(n_words):
                bad += (words[i] & _NOT_BIT0) != 0
    packets, hops = count_routed(spikes, start, c, route_lo, route_hi, route_hops, 0, route_lo.shape[0])
    host_counters[0] = packets
    host_counters[1] = hops
    host_counters[2] = route_cycles(packets, max_hops, hop_latency)
    return c, bad

"""Lane words: ``LANES`` signed values packed into one integer, lane ``l`` at bits ``[l*bits +: bits]``.

The layout of the weight SRAM words, bias and membrane words and the spike
ports of the RTL (docs/rtl.md, "Load interface").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pack_signed", "unpack_signed", "weight_words"]


def pack_signed(values: Sequence[int], bits: int, lanes: int) -> int:
    """``values`` (two's complement, ``bits`` each) as one word of ``lanes`` lanes; missing lanes are 0."""
    word = 0
    for lane in range(lanes - 1, -1, -1):
        v = values[lane] if lane < len(values) else 0
        word = (word << bits) | (int(v) & ((1 << bits) - 1))
    return word


def unpack_signed(word: int, bits: int, lanes: int) -> list[int]:
    """The ``lanes`` signed ``bits``-bit values of ``word``, lane 0 first."""
    mask, half = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for lane in range(lanes):
        v = (word >> (lane * bits)) & mask
        out.append(v - (1 << bits) if v >= half else v)
    return out


def weight_words(weights: np.ndarray, lanes: int, w_bits: int) -> list[list[int]]:
    """SRAM words per axon and lane group: lane ``l`` of group ``g`` holds ``weights[axon, g*lanes + l]``."""
    n_axons, n = weights.shape
    groups = -(-n // lanes)
    rows = np.zeros((n_axons, groups * lanes), np.int64)
    rows[:, :n] = weights
    return [[pack_signed(row[g * lanes : (g + 1) * lanes].tolist(), w_bits, lanes) for g in range(groups)]
            for row in rows]

"""Lane words: ``LANES`` signed values packed into one integer, lane ``l`` at bits ``[l*bits +: bits]``.

The layout of the weight SRAM words, bias and membrane words and the spike
ports of the RTL (docs/rtl.md, "Load interface").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pack_signed", "unpack_signed", "unpack_fields", "weight_words"]


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


def unpack_fields(word: int, bits: int, count: int, *, signed: bool) -> np.ndarray:
    """The first ``count`` ``bits``-bit fields of ``word``, field 0 at the lowest bits, as int64 (vectorised).

    The wide result ports of the fast co-simulation path (``NEURONS`` spike bits,
    ``NEURONS * V_BITS`` membrane bits) hold thousands of fields; :func:`unpack_signed`
    would take a Python loop over them.
    """
    n_bytes = -(-(bits * count) // 8)
    raw = np.frombuffer(int(word).to_bytes(max(n_bytes, 1), "little"), np.uint8)
    if bits in (8, 16, 32, 64):  # whole bytes: read the fields directly
        return raw.view(f"<{'i' if signed else 'u'}{bits // 8}")[:count].astype(np.int64)
    field_bits = np.unpackbits(raw, bitorder="little")[: bits * count].reshape(count, bits).astype(np.int64)
    values = field_bits @ (np.int64(1) << np.arange(bits, dtype=np.int64))
    if signed:
        values -= field_bits[:, -1] << bits
    return values


def weight_words(weights: np.ndarray, lanes: int, w_bits: int) -> list[list[int]]:
    """SRAM words per axon and lane group: lane ``l`` of group ``g`` holds ``weights[axon, g*lanes + l]``."""
    n_axons, n = weights.shape
    groups = -(-n // lanes)
    rows = np.zeros((n_axons, groups * lanes), np.int64)
    rows[:, :n] = weights
    return [[pack_signed(row[g * lanes : (g + 1) * lanes].tolist(), w_bits, lanes) for g in range(groups)]
            for row in rows]

"""Find the convolution inside an unrolled weight matrix, exactly, so that NIR export can write it as ``Conv2d``.

A chip layer stores a convolution unrolled (:mod:`mapping.unroll`): the column of output ``(c_out, y, x)``
holds the kernel at the rows of its receptive field. Given the input's ``(C, H, W)`` and the output's
``(C_out, OH, OW)``, :func:`find_conv` recovers a kernel ``(C_out, C_in, kH, kW)``, stride and zero padding
whose unrolled matrix is the layer's block *exactly* (dilation 1, groups 1), or returns None. It never
guesses: every stored weight must be the one kernel tap its offset names, and the kernel, unrolled, must
give no weight the block lacks (counted, see :func:`find_conv`). A kernel whose outer rows or columns are
zero in every channel is found without them (a smaller kernel with less padding); its unrolled matrix is
the same, which is all that a chip layer is. :func:`is_sum_pool` tells a fixed-weight pooling layer
(weights 1 on a window of each channel) from a convolution.

Dense and sparse (``scipy.sparse``) blocks are read from their nonzeros only, a range of columns at a time;
nothing is densified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from hwsim.limits import MAX_ARRAY_ELEMENTS

__all__ = ["ConvStructure", "find_conv", "is_sum_pool", "image_shapes"]

# Strides tried when the output has more than one row (column): every stride up to the input's side is ranked
# by how many positions the offsets `input row - stride x output row` span (the right stride's span the kernel,
# a wrong one's spread over the input), on at most _STRIDE_SAMPLE nonzeros; the _STRIDES_TRIED best of each
# axis are then checked exactly on the whole block.
_STRIDE_SAMPLE = 20_000
_STRIDES_TRIED = 3
# Shapes tried for a network input that no metadata describes (each costs a few passes over the weights).
_IMAGE_CANDIDATES = 12
# Weights read at a time when a block is checked (seven int64 arrays of this length, about 110 MB).
_CHUNK = 2_000_000


@dataclass(frozen=True)
class ConvStructure:
    """A 2-D convolution (cross-correlation, as PyTorch and NIR): dilation 1, groups 1, zero padding.

    Attributes:
        kernel: ``(C_out, C_in, kH, kW)`` int64 weights.
        in_shape: ``(C_in, H, W)`` of the input.
        out_shape: ``(C_out, OH, OW)`` of the output.
        stride, padding: ``(rows, cols)`` each.
    """

    kernel: np.ndarray
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


class _Weights:
    """The nonzero weights of a dense or sparse ``(n_in, n_out)`` block, read in column chunks.

    Each chunk is ``(ci, iy, ix, co, oy, ox, values)`` int64 of about :data:`_CHUNK` weights, so a CIFAR-size
    sparse layer (139 M weights) is checked without a full-size temporary array.
    """

    def __init__(self, block, in_shape: tuple[int, int, int], out_shape: tuple[int, int, int]) -> None:
        self.dense = not sp.issparse(block)
        self.block = np.asarray(block) if self.dense else sp.csc_array(block)
        self.in_shape, self.out_shape = in_shape, out_shape
        n_in, n_out = self.block.shape
        if self.dense:
            step = max(1, _CHUNK // max(n_in, 1))
            self.bounds = [(lo, min(lo + step, n_out)) for lo in range(0, n_out, step)]
        else:
            ends = np.searchsorted(self.block.indptr, np.arange(_CHUNK, self.block.nnz + _CHUNK, _CHUNK), "right")
            cuts = np.unique(np.concatenate(([0], np.clip(ends - 1, 1, n_out), [n_out])))
            self.bounds = list(zip(cuts[:-1].tolist(), cuts[1:].tolist()))

    def _unravel(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
        keep = values != 0  # a sparse block may hold explicit zeros: no synapse
        rows, cols, values = rows[keep], cols[keep], values[keep].astype(np.int64)
        return (*np.unravel_index(rows, self.in_shape), *np.unravel_index(cols, self.out_shape), values)

    def chunks(self):
        for lo, hi in self.bounds:
            if self.dense:
                rows, cols = np.nonzero(self.block[:, lo:hi])
                yield self._unravel(rows, cols + lo, self.block[rows, cols + lo])
            else:
                a, b = self.block.indptr[lo], self.block.indptr[hi]
                cols = np.repeat(np.arange(lo, hi), np.diff(self.block.indptr[lo : hi + 1]))
                yield self._unravel(self.block.indices[a:b], cols, self.block.data[a:b])

    def sample(self) -> tuple[np.ndarray, ...]:
        """At most about :data:`_STRIDE_SAMPLE` weights spread over the whole block (to rank strides)."""
        if self.dense:
            rows, cols = np.nonzero(self.block)
            step = max(1, rows.size // _STRIDE_SAMPLE)
            rows, cols = rows[::step], cols[::step]
            return self._unravel(rows, cols, self.block[rows, cols])
        at = np.unique(np.linspace(0, self.block.nnz - 1, min(self.block.nnz, _STRIDE_SAMPLE)).astype(np.int64))
        cols = np.searchsorted(self.block.indptr, at, "right") - 1
        return self._unravel(self.block.indices[at], cols, self.block.data[at])


def _strides(inp: np.ndarray, out: np.ndarray, size: int, out_size: int) -> list[int]:
    """Strides to try along one axis, fewest input positions spanned by the offsets ``inp - stride * out`` first.

    Border outputs that read padding see fewer taps, so a wrong stride can span as few positions as the
    right one; the first :data:`_STRIDES_TRIED` are each checked exactly by the caller.
    """
    if out_size == 1:
        return [1]  # one output position: no stride to see; any stride with a fitting kernel is the same map
    spans = [(int((d := inp - s * out).max() - d.min()), s) for s in range(1, size + 1)]
    return [s for _, s in sorted(spans)[:_STRIDES_TRIED]]


def _kernel_and_padding(d_min: int, d_max: int, size: int, out_size: int, stride: int) -> tuple[int, int] | None:
    """Smallest ``(kernel, padding)`` holding the offsets ``d_min .. d_max`` (input position minus stride times
    output position, ``= tap - padding``) whose output length ``(size + 2 padding - kernel) // stride + 1`` is
    ``out_size``."""
    first = max(0, -d_min)
    for pad in range(first, first + size + stride * out_size + 2):
        # (size + 2 pad - kernel) // stride == out_size - 1  <=>  kernel in [lo, hi]
        hi = size + 2 * pad - stride * (out_size - 1)
        lo = max(hi - stride + 1, d_max + pad + 1, 1)
        if lo <= hi:
            return lo, pad
    return None


def _valid_outputs(size: int, out_size: int, stride: int, pad: int, kernel: int) -> np.ndarray:
    """Per tap ``t``: how many output positions ``o`` read an input inside ``0 <= o stride - pad + t < size``."""
    pos = np.arange(out_size)[None, :] * stride - pad + np.arange(kernel)[:, None]
    return ((pos >= 0) & (pos < size)).sum(axis=1)


def find_conv(block, in_shape, out_shape, hint: tuple[int, int, int] | None = None) -> ConvStructure | None:
    """The convolution whose unrolled matrix is ``block`` exactly, or None when there is none.

    Args:
        block: ``(C*H*W, C_out*OH*OW)`` weights, dense or ``scipy.sparse``; rows and columns in C-order
            ``(c * H + y) * W + x``.
        in_shape: ``(C, H, W)`` of the input.
        out_shape: ``(C_out, OH, OW)`` of the output.
        hint: ``(kernel, stride, padding)`` the layer was built with (a trained network's ``arch``), tried
            first, checked like any other: a kernel with zero outer taps keeps its size. When the block is
            not that convolution, the geometry is found from the block.

    The check is exact. Every stored weight ``(input (ci, iy, ix), output (co, oy, ox))`` names one tap
    ``(co, ci, iy - oy sy + py, ix - ox sx + px)``; all weights naming a tap must be equal (that value is the
    kernel's) and distinct weights name distinct (tap, output) pairs. So the block's weights are a subset of
    the kernel's unrolled weights, and the two are equal when they are as many: the number of (tap, output)
    pairs whose input lies inside the image, summed over the nonzero taps.
    """
    in_shape = tuple(int(x) for x in in_shape)
    out_shape = tuple(int(x) for x in out_shape)
    (_, h, w), (_, oh, ow) = in_shape, out_shape
    if block.shape != (math.prod(in_shape), math.prod(out_shape)):
        return None
    weights = _Weights(block, in_shape, out_shape)
    _, iy, ix, _, oy, ox, values = weights.sample()
    if values.size == 0:
        return None  # no weight: nothing shows a kernel (an all-zero layer is exported as it is)
    if hint is not None:
        found = _conv_with(np.repeat(hint, 2), weights)
        if found is not None:
            return found
    strides_y, strides_x = _strides(iy, oy, h, oh), _strides(ix, ox, w, ow)
    # offsets of every weight for every stride tried: (min, max) per stride, in one pass over the block
    low = {("y", s): np.inf for s in strides_y} | {("x", s): np.inf for s in strides_x}
    high = dict.fromkeys(low, -np.inf)
    for _, iy, ix, _, oy, ox, _ in weights.chunks():
        if iy.size:
            for axis, s in low:
                d = iy - s * oy if axis == "y" else ix - s * ox
                low[axis, s], high[axis, s] = min(low[axis, s], d.min()), max(high[axis, s], d.max())
    fits_y = [(s, f) for s in strides_y if (f := _kernel_and_padding(int(low["y", s]), int(high["y", s]), h, oh, s))]
    fits_x = [(s, f) for s in strides_x if (f := _kernel_and_padding(int(low["x", s]), int(high["x", s]), w, ow, s))]
    for sy, (kh, py) in fits_y:
        for sx, (kw, px) in fits_x:
            found = _conv_with((kh, kw, sy, sx, py, px), weights)
            if found is not None:
                return found
    return None


def _conv_with(geometry, weights: _Weights) -> ConvStructure | None:
    """The kernel of the geometry ``(kh, kw, sy, sx, py, px)`` if it gives the block exactly, else None."""
    kh, kw, sy, sx, py, px = (int(g) for g in geometry)
    (c_in, h, w), (c_out, oh, ow) = weights.in_shape, weights.out_shape
    if min(kh, kw, sy, sx) < 1 or min(py, px) < 0:
        return None
    if (h + 2 * py - kh) // sy + 1 != oh or (w + 2 * px - kw) // sx + 1 != ow:
        return None
    if c_out * c_in * kh * kw > MAX_ARRAY_ELEMENTS:
        return None  # a kernel larger than any file may hold (and than a real convolution's)
    kernel = np.zeros(c_out * c_in * kh * kw, np.int64)
    seen = np.zeros(kernel.size, bool)
    count = 0
    for ci, iy, ix, co, oy, ox, values in weights.chunks():
        ty, tx = iy - sy * oy + py, ix - sx * ox + px  # the kernel row and column each weight sits at
        if ty.size and (ty.min() < 0 or ty.max() >= kh or tx.min() < 0 or tx.max() >= kw):
            return None
        tap = ((co * c_in + ci) * kh + ty) * kw + tx
        old = seen[tap]
        if not np.array_equal(kernel[tap[old]], values[old]):
            return None  # a weight differs from an earlier one of its tap: not a shared kernel
        kernel[tap] = values
        if not np.array_equal(kernel[tap], values):
            return None  # two weights of one tap differ
        seen[tap] = True
        count += values.size
    kernel = kernel.reshape(c_out, c_in, kh, kw)
    valid = np.outer(_valid_outputs(h, oh, sy, py, kh), _valid_outputs(w, ow, sx, px, kw))  # (kh, kw)
    if int((np.count_nonzero(kernel, axis=(0, 1)) * valid).sum()) != count:
        return None  # the kernel would put weights where the block has none
    return ConvStructure(kernel, (c_in, h, w), (c_out, oh, ow), (sy, sx), (py, px))


def is_sum_pool(conv: ConvStructure) -> bool:
    """True when ``conv`` sums a window of each channel: weight 1 from channel ``c`` to channel ``c``, 0 across."""
    c_out, c_in, kh, kw = conv.kernel.shape
    if c_out != c_in:
        return False
    expected = np.zeros_like(conv.kernel)
    expected[np.arange(c_out), np.arange(c_in)] = 1
    return bool(np.array_equal(conv.kernel, expected))


def image_shapes(n_inputs: int, image_shape=None, out_hw: tuple[int, int] | None = None) -> list[tuple[int, int, int]]:
    """Candidate ``(C, H, W)`` of a network input of ``n_inputs`` values, most likely first.

    From the network metadata's ``image_shape`` when given (``[H, W]`` is one channel; ``[C, H, W]``
    channel first, as NCHW exporters flatten); then images of 1 to 4 channels, at most
    :data:`_IMAGE_CANDIDATES` of them: the ones whose sides have the proportions of ``out_hw`` (the rows
    and columns of the convolution that reads the input) first, square ones first without it. Each is
    only a candidate: :func:`find_conv` accepts a shape only when the weights are exactly a convolution over it.
    """
    shapes = []
    if image_shape is not None:
        dims = [int(d) for d in image_shape]
        if len(dims) == 2:
            shapes.append((1, dims[0], dims[1]))
        elif len(dims) == 3:
            shapes.append((dims[0], dims[1], dims[2]))
    oh, ow = out_hw if out_hw is not None else (1, 1)
    others = set()
    for c in (1, 2, 3, 4):
        pixels = n_inputs // c
        if pixels * c == n_inputs:
            for h in range(1, math.isqrt(pixels) + 1):
                if pixels % h == 0:
                    others |= {(c, h, pixels // h), (c, pixels // h, h)}
    others = sorted(others)
    others.sort(key=lambda s: (abs(s[1] * ow - s[2] * oh), s[0]))  # proportions of the output first
    shapes += [s for s in others[:_IMAGE_CANDIDATES] if s not in shapes]
    return [s for s in shapes if s[0] * s[1] * s[2] == n_inputs]

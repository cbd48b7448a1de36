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

Dense and sparse (``scipy.sparse``) blocks are read from their nonzeros only; nothing is densified.
"""

from __future__ import annotations

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


def _nonzeros(block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, values)`` int64 of the nonzero weights of a dense or sparse ``(n_in, n_out)`` block."""
    if sp.issparse(block):
        coo = sp.coo_array(block)
        keep = coo.data != 0
        return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep].astype(np.int64)
    rows, cols = np.nonzero(block)
    return rows.astype(np.int64), cols.astype(np.int64), np.asarray(block)[rows, cols].astype(np.int64)


def _strides(inp: np.ndarray, out: np.ndarray, size: int, out_size: int) -> list[int]:
    """Strides to try along one axis, fewest input positions spanned by the offsets ``inp - stride * out`` first.

    Border outputs that read padding see fewer taps, so a wrong stride can span as few positions as the
    right one; the first :data:`_STRIDES_TRIED` are each checked exactly by the caller.
    """
    if out_size == 1:
        return [1]  # one output position: no stride to see; any stride with a fitting kernel is the same map
    step = max(1, inp.size // _STRIDE_SAMPLE)
    i, o = inp[::step], out[::step]
    spans = [(int((d := i - s * o).max() - d.min()), s) for s in range(1, size + 1)]
    return [s for _, s in sorted(spans)[:_STRIDES_TRIED]]


def _kernel_and_padding(offsets: np.ndarray, size: int, out_size: int, stride: int) -> tuple[int, int] | None:
    """Smallest ``(kernel, padding)`` holding ``offsets`` (input position minus stride times output position,
    ``= tap - padding``) whose output length ``(size + 2 padding - kernel) // stride + 1`` is ``out_size``."""
    d_min, d_max = int(offsets.min()), int(offsets.max())
    for pad in range(max(0, -d_min), max(0, -d_min) + size + stride + 1):
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
    c_in, h, w = (int(x) for x in in_shape)
    c_out, oh, ow = (int(x) for x in out_shape)
    if block.shape != (c_in * h * w, c_out * oh * ow):
        return None
    rows, cols, values = _nonzeros(block)
    if values.size == 0:
        return None  # no weight: nothing shows a kernel (an all-zero layer is exported as it is)
    ci, iy, ix = np.unravel_index(rows, (c_in, h, w))
    co, oy, ox = np.unravel_index(cols, (c_out, oh, ow))
    if hint is not None:
        found = _conv_with(hint, values, (ci, iy, ix, co, oy, ox), (c_in, h, w), (c_out, oh, ow))
        if found is not None:
            return found
    fits_y = [(s, f) for s in _strides(iy, oy, h, oh) if (f := _kernel_and_padding(iy - s * oy, h, oh, s))]
    fits_x = [(s, f) for s in _strides(ix, ox, w, ow) if (f := _kernel_and_padding(ix - s * ox, w, ow, s))]
    for sy, (kh, py) in fits_y:
        for sx, (kw, px) in fits_x:
            geometry = (kh, kw, sy, sx, py, px)
            found = _conv_with(geometry, values, (ci, iy, ix, co, oy, ox), (c_in, h, w), (c_out, oh, ow))
            if found is not None:
                return found
    return None


def _conv_with(geometry, values, where, in_shape, out_shape) -> ConvStructure | None:
    """The kernel of one geometry ``(k, s, p)`` or ``(kh, kw, sy, sx, py, px)`` if it gives the block exactly."""
    kh, kw, sy, sx, py, px = (int(g) for g in (geometry if len(geometry) == 6 else np.repeat(geometry, 2)))
    ci, iy, ix, co, oy, ox = where
    (c_in, h, w), (c_out, oh, ow) = in_shape, out_shape
    if min(kh, kw, sy, sx) < 1 or min(py, px) < 0:
        return None
    if (h + 2 * py - kh) // sy + 1 != oh or (w + 2 * px - kw) // sx + 1 != ow:
        return None
    ty, tx = iy - sy * oy + py, ix - sx * ox + px  # the kernel row and column each weight sits at
    if ty.min() < 0 or ty.max() >= kh or tx.min() < 0 or tx.max() >= kw:
        return None
    if c_out * c_in * kh * kw > MAX_ARRAY_ELEMENTS:
        return None  # a kernel larger than any file may hold (and than a real convolution's)
    tap = ((co * c_in + ci) * kh + ty) * kw + tx
    kernel = np.zeros(c_out * c_in * kh * kw, np.int64)
    kernel[tap] = values
    if not np.array_equal(kernel[tap], values):
        return None  # two weights of one tap differ: not a shared kernel
    kernel = kernel.reshape(c_out, c_in, kh, kw)
    valid = np.outer(_valid_outputs(h, oh, sy, py, kh), _valid_outputs(w, ow, sx, px, kw))  # (kh, kw)
    if int((np.count_nonzero(kernel, axis=(0, 1)) * valid).sum()) != values.size:
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


def image_shapes(n_inputs: int, image_shape=None) -> list[tuple[int, int, int]]:
    """Candidate ``(C, H, W)`` of a network input of ``n_inputs`` values, most likely first.

    From the network metadata's ``image_shape`` when given (``[H, W]`` is one channel; ``[C, H, W]``
    channel first, as NCHW exporters flatten), else square images of 1, 2, 3 or 4 channels.
    """
    shapes = []
    if image_shape is not None:
        dims = [int(d) for d in image_shape]
        if len(dims) == 2:
            shapes.append((1, dims[0], dims[1]))
        elif len(dims) == 3:
            shapes.append((dims[0], dims[1], dims[2]))
    for c in (1, 2, 3, 4):
        side = int(round((n_inputs / c) ** 0.5))
        if side * side * c == n_inputs and (c, side, side) not in shapes:
            shapes.append((c, side, side))
    return [s for s in shapes if s[0] * s[1] * s[2] == n_inputs]

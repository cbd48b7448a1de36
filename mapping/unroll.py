"""Unroll convolution and pooling into sparse fully connected matrices.

A core computes ``v[j] += w[a, j]`` for every spiking axon ``a``: any linear
map of the spikes is a weight matrix. A convolution (or a pooling window) is
the matrix whose column for output ``(c_out, y, x)`` holds the kernel at the
rows of its receptive field and zeros elsewhere. Tensors are flattened in
C-order, ``index = (c * H + y) * W + x``, as ``torch.flatten`` and NIR's
``Flatten`` do, so a Flatten node is the identity on the flat vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from mapping.errors import MappingError

# entries of the temporary arrays conv2d_matrix fills the matrix with, per step (about 100 MB of int64 and bool)
_FILL_BLOCK = 1 << 22

__all__ = ["conv2d_matrix", "pool2d_matrix", "pair", "conv_output_size"]


def pair(value, name: str) -> tuple[int, int]:
    """``int`` or 1/2-element sequence -> ``(a, b)`` ints."""
    arr = np.asarray(value).ravel()
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size == 2:
        return int(arr[0]), int(arr[1])
    raise MappingError(f"{name} = {value!r}: expected an int or a pair")


def conv_output_size(size: int, pad: int, dilation: int, kernel: int, stride: int) -> int:
    """PyTorch/NIR output length: ``floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1``."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _padding(padding, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise MappingError(f"padding 'same' needs stride 1 (as in PyTorch); got stride {stride}")
            # PyTorch pads dilation*(k-1) in total, the smaller half before the data.
            return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))  # type: ignore[return-value]
        raise MappingError(f"padding = {padding!r}: allowed an int, a pair, 'same' or 'valid'")
    return pair(padding, "padding")


def conv2d_matrix(
    weight: np.ndarray,
    in_shape: Sequence[int],
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> tuple[sp.csr_matrix, tuple[int, int, int]]:
    """Dense-equivalent matrix of a 2-D convolution (cross-correlation, as PyTorch).

    Args:
        weight: ``(C_out, C_in / groups, kH, kW)``.
        in_shape: ``(C_in, H, W)``.
        stride, padding, dilation: ints or pairs; padding may be ``"same"``/``"valid"``.
        groups: Channel groups.

    Returns:
        ``(M, (C_out, OH, OW))`` with ``M`` of shape ``(C_in*H*W, C_out*OH*OW)``:
        ``out_flat = in_flat @ M``. ``M`` is float64 CSR in canonical form (columns ascending in each
        row, int32 indices when they fit): zero padding contributes nothing and zero kernel weights
        are not stored. Built straight into its arrays, never as coordinate lists: the 139 M weights
        of a CIFAR-size 256 -> 256 channel 3x3 conv on 16x16 take the matrix's 1.7 GB and ~100 MB more.

    Raises:
        MappingError: a weight that is not 4-D, channels that do not match ``groups``, a stride or
            dilation < 1, a padding < 0, an input smaller than the (dilated) kernel.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise MappingError(f"Conv2d weight has shape {weight.shape}, expected (C_out, C_in/groups, kH, kW)")
    c_out, c_in_g, kh, kw = weight.shape
    C, H, W = (int(x) for x in in_shape)
    groups = int(np.asarray(groups).ravel()[0])
    if groups < 1 or C != c_in_g * groups or c_out % groups:
        raise MappingError(f"Conv2d: {C} input channels do not match weight {weight.shape} with groups = {groups}")
    sy, sx = pair(stride, "stride")
    dy, dx = pair(dilation, "dilation")
    py, px = _padding(padding, (kh, kw), (dy, dx), (sy, sx))
    if min(sy, sx, dy, dx) < 1 or min(py, px) < 0:
        raise MappingError(
            f"Conv2d: stride ({sy}, {sx}), dilation ({dy}, {dx}), padding ({py}, {px}); "
            "allowed strides and dilations >= 1, paddings >= 0"
        )
    OH, OW = conv_output_size(H, py, dy, kh, sy), conv_output_size(W, px, dx, kw, sx)
    if OH < 1 or OW < 1:
        raise MappingError(f"Conv2d: input {H}x{W} is smaller than the kernel {kh}x{kw} (dilation {dy},{dx})")
    # which output row oy reads input row iy through kernel row ky (-1: none, the stride skips it or it is
    # out of range); likewise for columns. Rows of the kernel reversed: a larger ky reads from a smaller oy,
    # so walking ky downwards visits an input pixel's outputs in ascending order.
    out_y = _tap_outputs(H, OH, sy, py, dy, kh)[:, ::-1]  # (H, kh)
    out_x = _tap_outputs(W, OW, sx, px, dx, kw)[:, ::-1]  # (W, kw)
    # zero kernel entries are no synapses (no stored zeros); a NaN is kept, as ``w != 0`` holds for it
    flipped = weight[:, :, ::-1, ::-1]
    stored = flipped != 0
    per_group = c_out // groups
    n_in, n_out = C * H * W, c_out * OH * OW
    # entries per matrix row: input pixel (iy, ix) of channel ci meets kernel tap (ky, kx) of each output channel
    # of its group whose weight there is nonzero, if the tap reaches an output pixel
    reach_y, reach_x = (out_y >= 0).astype(np.int64), (out_x >= 0).astype(np.int64)
    taps = stored.reshape(groups, per_group, c_in_g, kh, kw).sum(axis=1).reshape(C, kh, kw)
    row_counts = np.einsum("yk,ckl,xl->cyx", reach_y, taps, reach_x)
    indptr64 = np.concatenate(([0], np.cumsum(row_counts, dtype=np.int64)))
    nnz = int(indptr64[-1])
    index_dtype = np.int32 if max(nnz, n_in, n_out) < 2**31 else np.int64
    indptr = indptr64.astype(index_dtype)
    del indptr64
    indices = np.empty(nnz, dtype=index_dtype)
    data = np.empty(nnz, dtype=np.float64)
    # a matrix row's columns ascend as (co, oy, ox): fill an input channel's rows a band of image rows at a time,
    # in C order over (iy, ix, co, ky reversed, kx reversed), keeping the temporaries near _FILL_BLOCK entries
    col_y = np.where(out_y >= 0, out_y * OW, -n_out)  # a missing tap makes the column negative
    col_x = np.where(out_x >= 0, out_x, -n_out)
    band = max(1, _FILL_BLOCK // max(1, W * per_group * kh * kw))
    for ci in range(C):
        g, cl = divmod(ci, c_in_g)
        channels = slice(g * per_group, (g + 1) * per_group)
        col_co = (np.arange(channels.start, channels.stop) * (OH * OW))[None, None, :, None, None]
        kernel = flipped[channels, cl]  # (per_group, kh, kw)
        keep_w = stored[channels, cl]
        for y0 in range(0, H, band):
            y1 = min(H, y0 + band)
            lo, hi = indptr[ci * H * W + y0 * W], indptr[ci * H * W + y1 * W]
            if lo == hi:
                continue
            cols = col_co + col_y[y0:y1, None, None, :, None] + col_x[None, :, None, None, :]
            keep = (cols >= 0) & keep_w[None, None]
            indices[lo:hi] = cols[keep]
            data[lo:hi] = np.broadcast_to(kernel[None, None], keep.shape)[keep]
    m = sp.csr_matrix((data, indices, indptr), shape=(n_in, n_out), copy=False)
    m.has_canonical_format = True  # columns ascend within each row and no (row, column) appears twice
    return m, (c_out, OH, OW)


def _tap_outputs(size: int, out_size: int, stride: int, pad: int, dilation: int, kernel: int) -> np.ndarray:
    """``(size, kernel)``: the output index that input index ``i`` feeds through tap ``k``, or -1 if none.

    Output ``o`` reads input ``o * stride - pad + k * dilation``; so ``o = (i + pad - k * dilation) / stride``
    when that division is exact and ``0 <= o < out_size``.
    """
    offset = np.arange(size)[:, None] + pad - np.arange(kernel)[None, :] * dilation
    out, rest = np.divmod(offset, stride)
    return np.where((rest == 0) & (out >= 0) & (out < out_size), out, -1)


def pool2d_matrix(
    kind: str, in_shape: Sequence[int], kernel_size, stride, padding
) -> tuple[sp.csr_matrix, tuple[int, int, int]]:
    """Matrix of a 2-D sum or average pooling over each channel.

    ``kind = "sum"`` gives weights 1; ``"avg"`` gives ``1 / (kH * kW)`` for every
    window position, padded positions included (PyTorch's ``count_include_pad=True``).
    """
    C, H, W = (int(x) for x in in_shape)
    kh, kw = pair(kernel_size, "kernel_size")
    sy, sx = pair(stride if stride is not None else kernel_size, "stride")
    py, px = pair(padding if padding is not None else 0, "padding")
    OH, OW = conv_output_size(H, py, 1, kh, sy), conv_output_size(W, px, 1, kw, sx)
    if OH < 1 or OW < 1:
        raise MappingError(f"{kind} pooling: input {H}x{W} is smaller than the window {kh}x{kw}")
    value = 1.0 if kind == "sum" else 1.0 / (kh * kw)
    oy, ox = np.meshgrid(np.arange(OH), np.arange(OW), indexing="ij")
    rows, cols = [], []
    for ky in range(kh):
        iy = oy * sy - py + ky
        for kx in range(kw):
            ix = ox * sx - px + kx
            ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            for c in range(C):
                rows.append(c * H * W + (iy * W + ix)[ok])
                cols.append(c * OH * OW + (oy * OW + ox)[ok])
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sp.coo_matrix((np.full(r.size, value), (r, c)), shape=(C * H * W, C * OH * OW))
    return m.tocsr(), (C, OH, OW)

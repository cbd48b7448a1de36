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
        ``out_flat = in_flat @ M``. Zero padding contributes nothing.
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
    OH, OW = conv_output_size(H, py, dy, kh, sy), conv_output_size(W, px, dx, kw, sx)
    if OH < 1 or OW < 1:
        raise MappingError(f"Conv2d: input {H}x{W} is smaller than the kernel {kh}x{kw} (dilation {dy},{dx})")
    oy, ox = np.meshgrid(np.arange(OH), np.arange(OW), indexing="ij")
    rows, cols, vals = [], [], []
    per_group = c_out // groups
    for ky in range(kh):
        iy = oy * sy - py + ky * dy
        for kx in range(kw):
            ix = ox * sx - px + kx * dx
            ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            pix_in = (iy * W + ix)[ok]
            pix_out = (oy * OW + ox)[ok]
            for co in range(c_out):
                g = co // per_group
                for cl in range(c_in_g):
                    w = weight[co, cl, ky, kx]
                    if w == 0:
                        continue
                    ci = g * c_in_g + cl
                    rows.append(ci * H * W + pix_in)
                    cols.append(co * OH * OW + pix_out)
                    vals.append(np.full(pix_in.size, w))
    n_in, n_out = C * H * W, c_out * OH * OW
    if rows:
        m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_in, n_out))
    else:
        m = sp.coo_matrix((n_in, n_out))
    return m.tocsr(), (c_out, OH, OW)


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

"""``mapping.unroll.conv2d_matrix``: the vectorised unrolling against the loop it replaced and a direct convolution.

``_conv2d_matrix_loops`` is the implementation before the vectorisation (a Python loop over every output/input
channel pair and kernel tap, float64 COO lists converted to CSR), kept here as the slow reference: the new
matrix must be the same object in every respect (format, shape, value and index dtypes, ``indptr``,
``indices``, ``data``, no stored zeros). Expected values are also derived without either implementation: each
row of the matrix is the direct convolution of one input pixel (a strided, dilated window sum over the padded
image, written with array slices), and a 3x3 example is worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import mapping.unroll as unroll
from mapping.errors import MappingError
from mapping.unroll import conv2d_matrix, conv_output_size, pair


def _conv2d_matrix_loops(weight, in_shape, stride=1, padding=0, dilation=1, groups=1):
    """The loop implementation of ``conv2d_matrix`` before its vectorisation (argument checks left out)."""
    weight = np.asarray(weight, dtype=np.float64)
    c_out, c_in_g, kh, kw = weight.shape
    C, H, W = (int(x) for x in in_shape)
    sy, sx = pair(stride, "stride")
    dy, dx = pair(dilation, "dilation")
    py, px = unroll._padding(padding, (kh, kw), (dy, dx), (sy, sx))
    OH, OW = conv_output_size(H, py, dy, kh, sy), conv_output_size(W, px, dx, kw, sx)
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


def _direct_conv(x, weight, stride, padding, dilation, groups):
    """PyTorch's cross-correlation of one ``(C, H, W)`` image with zero padding, one kernel tap at a time."""
    c_out, c_in_g, kh, kw = weight.shape
    (sy, sx), (py, px), (dy, dx) = stride, padding, dilation
    _, H, W = x.shape
    OH, OW = (H + 2 * py - dy * (kh - 1) - 1) // sy + 1, (W + 2 * px - dx * (kw - 1) - 1) // sx + 1
    padded = np.pad(x, ((0, 0), (py, py), (px, px)))
    out = np.zeros((c_out, OH, OW))
    per_group = c_out // groups
    for co in range(c_out):
        first_in = (co // per_group) * c_in_g
        for cl in range(c_in_g):
            for ky in range(kh):
                for kx in range(kw):
                    window = padded[first_in + cl, ky * dy : ky * dy + sy * (OH - 1) + 1 : sy,
                                    kx * dx : kx * dx + sx * (OW - 1) + 1 : sx]  # fmt: skip
                    out[co] += weight[co, cl, ky, kx] * window
    return out


def _dense_from_direct_conv(weight, in_shape, stride, padding, dilation, groups):
    """The matrix row of input pixel ``i`` is the convolution of the image that is 1 at ``i`` and 0 elsewhere."""
    n_in = int(np.prod(in_shape))
    basis = np.eye(n_in).reshape(n_in, *in_shape)
    return np.stack([_direct_conv(e, weight, stride, padding, dilation, groups).ravel() for e in basis])


def _assert_same_csr(got, want):
    assert type(got) is type(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.indptr.dtype == want.indptr.dtype and got.indices.dtype == want.indices.dtype
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)  # NaN equals NaN here, -0.0 equals 0.0 (never stored)


def _assert_canonical(m):
    """Columns strictly ascending within every row, checked on the arrays (not the flag the matrix carries)."""
    m.check_format(full_check=True)
    row_of_entry = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    same_row = row_of_entry[1:] == row_of_entry[:-1]
    assert np.all(np.diff(m.indices.astype(np.int64))[same_row] > 0)
    assert m.has_canonical_format


@st.composite
def conv_geometries(draw):
    groups = draw(st.integers(1, 3))
    c_in_g, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(
        st.one_of(
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.integers(0, 3),
            st.just("valid"),
            st.just("same") if stride == (1, 1) else st.just("valid"),
        )
    )
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    # small integers: zero kernel entries are frequent; now and then a NaN or a -0.0
    values = st.one_of(st.integers(-2, 2).map(float), st.sampled_from([np.nan, -0.0, 0.5]))
    size = groups * per_group * c_in_g * kh * kw
    weight = np.array(draw(st.lists(values, min_size=size, max_size=size))).reshape(groups * per_group, c_in_g, kh, kw)
    return weight, (groups * c_in_g, H, W), stride, padding, dilation, groups


@settings(max_examples=300, deadline=None)
@given(conv_geometries())
def test_same_matrix_as_the_loop_implementation(geometry):
    weight, in_shape, stride, padding, dilation, groups = geometry
    try:
        want, want_shape = _conv2d_matrix_loops(weight, in_shape, stride, padding, dilation, groups)
    except ValueError:  # an output of size < 1 (negative dimensions): the real function refuses it by name
        with pytest.raises(MappingError, match="is smaller than the kernel"):
            conv2d_matrix(weight, in_shape, stride, padding, dilation, groups)
        return
    if want_shape[1] < 1 or want_shape[2] < 1:
        with pytest.raises(MappingError, match="is smaller than the kernel"):
            conv2d_matrix(weight, in_shape, stride, padding, dilation, groups)
        return
    got, got_shape = conv2d_matrix(weight, in_shape, stride, padding, dilation, groups)
    assert got_shape == want_shape
    _assert_same_csr(got, want)
    _assert_canonical(got)
    assert np.count_nonzero(got.data == 0) == 0


@settings(max_examples=60, deadline=None)
@given(conv_geometries())
def test_matrix_equals_direct_convolution(geometry):
    weight, in_shape, stride, padding, dilation, groups = geometry
    weight = np.nan_to_num(weight, nan=3.0)
    kh, kw = weight.shape[2:]
    pads = unroll._padding(padding, (kh, kw), dilation, stride)
    out_hw = [conv_output_size(n, p, d, k, s) for n, p, d, k, s in zip(in_shape[1:], pads, dilation, (kh, kw), stride)]
    if min(out_hw) < 1:
        return
    got, shape = conv2d_matrix(weight, in_shape, stride, padding, dilation, groups)
    dense = _dense_from_direct_conv(weight, in_shape, stride, pads, dilation, groups)
    assert dense.shape == (int(np.prod(in_shape)), int(np.prod(shape)))
    np.testing.assert_array_equal(got.toarray(), dense)  # small integers and halves: exact in float64
    # a synapse for every nonzero entry of the dense matrix, none for its zeros
    assert got.nnz == np.count_nonzero(dense)


def test_hand_worked_3x3_image_and_2x2_kernel_with_a_zero_tap():
    """Output (y, x) = 1 in[y, x] + 2 in[y, x+1] + 3 in[y+1, x] (+ 0 in[y+1, x+1], not stored)."""
    m, shape = conv2d_matrix(np.array([[[[1, 2], [3, 0]]]]), (1, 3, 3))
    assert shape == (1, 2, 2)
    want = np.zeros((9, 4))
    for oy in range(2):
        for ox in range(2):
            col = oy * 2 + ox
            want[oy * 3 + ox, col] = 1
            want[oy * 3 + ox + 1, col] = 2
            want[(oy + 1) * 3 + ox, col] = 3
    np.testing.assert_array_equal(m.toarray(), want)
    assert m.nnz == 12 and m.dtype == np.float64
    # row of input pixel (1, 1): it is the 0-tap of output (0, 0), the 3-tap of (0, 1), 2 of (1, 0), 1 of (1, 1)
    np.testing.assert_array_equal(m.indices[m.indptr[4] : m.indptr[5]], [1, 2, 3])
    np.testing.assert_array_equal(m.data[m.indptr[4] : m.indptr[5]], [3, 2, 1])


def test_padding_stores_nothing_for_padded_pixels():
    """A 1x1 image, 3x3 kernel, padding 1: only the centre tap meets a real pixel."""
    m, shape = conv2d_matrix(np.arange(1, 10, dtype=float).reshape(1, 1, 3, 3), (1, 1, 1), padding=1)
    assert shape == (1, 1, 1) and m.nnz == 1 and m[0, 0] == 5


def test_all_zero_kernel_gives_an_empty_matrix():
    m, shape = conv2d_matrix(np.zeros((3, 2, 3, 3)), (2, 5, 4), padding="same")
    want, _ = _conv2d_matrix_loops(np.zeros((3, 2, 3, 3)), (2, 5, 4), padding="same")
    assert shape == (3, 5, 4) and m.shape == (40, 60) and m.nnz == 0
    _assert_same_csr(m, want)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.float32])
def test_other_weight_dtypes_give_the_same_float64_matrix(rng, dtype):
    weight = rng.integers(-3, 4, size=(4, 2, 3, 2)).astype(dtype)
    got, _ = conv2d_matrix(weight, (4, 6, 7), (2, 1), (1, 0), (1, 2), 2)
    want, _ = _conv2d_matrix_loops(weight, (4, 6, 7), (2, 1), (1, 0), (1, 2), 2)
    _assert_same_csr(got, want)


@pytest.mark.parametrize("block", [1, 7, 100, 10**9])
def test_filling_in_bands_of_image_rows_gives_the_same_matrix(rng, monkeypatch, block):
    """Temporaries bounded to ``block`` entries: bands of one image row up to the whole image, rows with no entry."""
    monkeypatch.setattr(unroll, "_FILL_BLOCK", block)
    weight = rng.integers(-1, 2, size=(6, 1, 3, 3)).astype(float)
    weight[:, :, 0, :] = 0  # the first kernel row reads nothing: the last image row (stride 2) has empty rows
    got, _ = conv2d_matrix(weight, (3, 9, 5), 2, 0, 1, 3)
    want, _ = _conv2d_matrix_loops(weight, (3, 9, 5), 2, 0, 1, 3)
    _assert_same_csr(got, want)


@pytest.mark.parametrize(
    "stride,padding,dilation",
    [(0, 0, 1), ((1, -1), 0, 1), (1, -1, 1), (1, (0, -2), 1), (1, 0, 0), (1, 0, (1, -1))],
)
def test_bad_stride_dilation_or_padding_is_refused_by_name(stride, padding, dilation):
    with pytest.raises(MappingError, match=r"allowed strides and dilations >= 1, paddings >= 0"):
        conv2d_matrix(np.ones((1, 1, 2, 2)), (1, 5, 5), stride, padding, dilation)

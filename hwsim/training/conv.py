"""The float training model of convolutional SNNs, and its export to chip layers.

The same neuron model as :mod:`hwsim.training.model` (binary spikes ``[V >= theta]``, box
straight-through estimator, discontinuous or continuous integration with reset by subtraction,
:func:`~hwsim.training.model.spiking_forward` / :func:`~hwsim.training.model.spiking_backward`),
on the layers of a planned architecture (:mod:`hwsim.training.arch`):

- **Convolution**: im2col and a float32 matrix product per layer, over all timesteps and images of a
  group at once (a few output rows at a time, so that the column matrix stays in the cache). Activations
  are kept ``(channels, rows, cols, N)``, the ``N = T * B`` samples innermost (timestep-major), so that
  im2col and col2im copy whole batches at a time; a weight matrix has rows in ``(ky, kx, c_in)`` order and
  one column per output channel: the PyTorch weight ``(C_out, C_in, k, k)`` is
  ``W.reshape(k, k, C_in, C_out).transpose(3, 2, 0, 1)``.
- **Max pooling** ``MPk``: on the chip a fixed-weight spiking layer, weights 1 on the window,
  bias 0, threshold 1, discontinuous, reset to zero. It spikes when at least one input of its window
  spiked in this timestep: the OR of the window, which is the max of binary spikes. The training
  forward pass computes exactly this (the max of 0/1 values). Backward, an input gets the OR's gradient
  when flipping it would flip the OR, i.e. when no other input of its window spiked (all inputs of a
  silent window, the single spiking input of a window with one spike, none when two or more spiked).
- **Average pooling** ``APk``: the same fixed-weight layer with threshold
  :func:`~hwsim.training.arch.avg_pool_threshold` ``= ceil(k*k/2)``: it spikes when at least half of
  its window spiked in this timestep. The forward pass computes exactly that spike,
  ``[sum of the window >= threshold]``, not a float average; backward, the box estimator of the
  neuron (half-width = threshold) times 1 for each input of the window.
- **Dense**: as in the fully connected model; after a convolution or pooling it reads the
  C-order flattening ``(c * rows + y) * cols + x``.

Pooling layers are stateless (discontinuous) in both integration modes, so they compute the
same function of the current timestep's spikes in training and on the chip.

Threads: a batch is split into groups of at most :data:`GROUP_IMAGES` images, each run on its own thread
(as many threads as BLAS may use) with single-threaded BLAS; the groups' gradients are added in group order.
The groups depend on the batch size only, so results are the same bits whatever the thread count.

:func:`to_network` unrolls every layer to its dense ``(n_in, n_out)`` integer matrix with
:func:`mapping.unroll.conv2d_matrix` / :func:`mapping.unroll.pool2d_matrix` and records its
``shape = (channels, rows, cols)`` for the mapper's receptive-field routing.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hwsim.network import Layer, Network
from hwsim.training.arch import Conv, PlannedLayer, Pool, avg_pool_threshold
from hwsim.training.model import FloatParams, spiking_backward, spiking_forward
from hwsim.training.quantize import LayerQuant

__all__ = ["ConvCache", "forward", "backward", "init_params", "to_network", "im2col", "col2im", "pool_threshold",
           "chip_layer_thresholds"]


def pool_threshold(item: Pool) -> int:
    """The integer threshold of a pooling layer on the chip: 1 for max pooling (an OR), ceil(k*k/2) for average."""
    return 1 if item.kind == "max" else avg_pool_threshold(item.size)


def _out_len(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _valid_range(out_len: int, in_len: int, offset: int, stride: int, padding: int) -> tuple[int, int, int]:
    """Output positions ``lo <= o < hi`` whose input ``o * stride - padding + offset`` lies inside ``0 .. in_len - 1``
    (the others read padding zeros), and the input position of ``lo``."""
    lo = max(0, -(-(padding - offset) // stride))
    hi = min(out_len, (in_len - 1 + padding - offset) // stride + 1)
    return lo, max(lo, hi), lo * stride - padding + offset


@functools.lru_cache(maxsize=512)
def _taps(in_hw: tuple[int, int], out_hw: tuple[int, int], rows: tuple[int, int], kernel: int, stride: int,
          padding: int) -> tuple:
    """For every kernel tap ``(ky, kx)`` and the output rows ``rows[0] <= oy < rows[1]``: the output rows
    (counted from ``rows[0]``) and cols that read inside the image, and the input rows and cols they read
    (strided slices); None for a tap that reads only padding there. Cached: the same few geometries recur."""
    (H, W), (oh, ow), (o0, o1) = in_hw, out_hw, rows
    taps = []
    for ky in range(kernel):
        ylo, yhi, iy = _valid_range(oh, H, ky, stride, padding)
        iy += (max(ylo, o0) - ylo) * stride
        ylo, yhi = max(ylo, o0), min(yhi, o1)
        for kx in range(kernel):
            xlo, xhi, ix = _valid_range(ow, W, kx, stride, padding)
            if ylo >= yhi or xlo == xhi:
                taps.append((ky, kx, None))
                continue
            taps.append((ky, kx, ((slice(ylo - o0, yhi - o0), slice(xlo, xhi)),
                                  (slice(iy, iy + stride * (yhi - ylo - 1) + 1, stride),
                                   slice(ix, ix + stride * (xhi - xlo - 1) + 1, stride)))))
    return tuple(taps)


def im2col(a: np.ndarray, kernel: int, stride: int, padding: int, rows: tuple[int, int] | None = None,
           out: np.ndarray | None = None) -> np.ndarray:
    """``(C, H, W, N)`` -> ``(k * k * C, OH * OW * N)``: column ``(oy, ox, n)`` holds the receptive field of output
    pixel ``(oy, ox)`` of sample ``n`` in ``(ky, kx, c)`` row order, input pixel ``(oy * stride - padding + ky, ...)``,
    zeros outside the image. ``rows = (o0, o1)``: only the output rows ``o0 <= oy < o1``; ``out``: a buffer of at
    least that many floats to build the matrix in (the returned matrix is a view of it).

    Built from ``k * k`` strided slice copies, one per kernel tap; with the samples innermost each copies runs of
    ``N`` contiguous floats (the whole batch of every timestep), so the copies run at memory speed. The padding
    is never materialised: each tap copies the outputs that read inside the image and zeroes the rest.
    """
    C, H, W, N = a.shape
    oh, ow = _out_len(H, kernel, stride, padding), _out_len(W, kernel, stride, padding)
    o0, o1 = (0, oh) if rows is None else rows
    shape = (kernel, kernel, C, o1 - o0, ow, N)
    cols = np.empty(shape, a.dtype) if out is None else out.reshape(-1)[: math.prod(shape)].reshape(shape)
    for ky, kx, sl in _taps((H, W), (oh, ow), (o0, o1), kernel, stride, padding):
        tap = cols[ky, kx]
        if sl is None:
            tap[...] = 0
            continue
        (ys, xs), (iys, ixs) = sl
        tap[:, : ys.start] = 0
        tap[:, ys.stop :] = 0
        tap[:, ys, : xs.start] = 0
        tap[:, ys, xs.stop :] = 0
        tap[:, ys, xs] = a[:, iys, ixs]
    return cols.reshape(kernel * kernel * C, -1)


def col2im(d_cols: np.ndarray, in_shape: tuple[int, int, int, int], kernel: int, stride: int, padding: int,
           rows: tuple[int, int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Adjoint of :func:`im2col`: add each receptive-field column back onto the ``(C, H, W, N)`` input pixels it
    was read from (what was read from the padding is dropped). ``rows``: ``d_cols`` holds only those output rows;
    ``out``: the ``in_shape`` array to add into (zeros when omitted), returned."""
    C, H, W, N = in_shape
    oh, ow = _out_len(H, kernel, stride, padding), _out_len(W, kernel, stride, padding)
    o0, o1 = (0, oh) if rows is None else rows
    d = d_cols.reshape(kernel, kernel, C, o1 - o0, ow, N)
    out = np.zeros(in_shape, d_cols.dtype) if out is None else out
    for ky, kx, sl in _taps((H, W), (oh, ow), (o0, o1), kernel, stride, padding):
        if sl is not None:
            (ys, xs), (iys, ixs) = sl
            dst = out[:, iys, ixs]
            np.add(dst, d[ky, kx, :, ys, xs], out=dst)
    return out


#: Floats of one im2col block: a convolution is computed a few output rows at a time so that its column
#: matrix stays in the cache and is never allocated whole (for 32C5s2 on 14x14 and N = 512 samples it would be
#: 80 MB, and fresh memory costs the page faults of a full write).
_BLOCK_FLOATS = 1 << 22


_scratch_buffers = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype, zero: bool = False) -> np.ndarray:
    """A work array of ``shape`` (zeros if ``zero``), this thread's own, reused from call to call: a fresh array
    of MBs costs the page faults of a full write each time (about a fifth of the training step, and the groups'
    threads fault together). Only for arrays that die within the forward or the backward pass that made them."""
    buffers = _scratch_buffers.__dict__.setdefault("buffers", {})
    key, size = (name, np.dtype(dtype)), math.prod(shape)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = np.empty(size, dtype)
    out = buf[:size].reshape(shape)
    if zero:
        out.fill(0)
    return out


def _row_blocks(item: Conv, c_in: int, out_hw: tuple[int, int], n: int) -> list[tuple[int, int]]:
    oh, ow = out_hw
    step = max(1, _BLOCK_FLOATS // (item.kernel * item.kernel * c_in * ow * n))
    return [(o0, min(oh, o0 + step)) for o0 in range(0, oh, step)]


def _conv_forward(a: np.ndarray, w: np.ndarray, item: Conv, out_hw: tuple[int, int]) -> np.ndarray:
    """``W.T @ im2col(a)``, ``(C_out, OH * OW * N)``, block of output rows by block of output rows."""
    C, H, W, N = a.shape
    blocks = _row_blocks(item, C, out_hw, N)
    current = _scratch("current", (w.shape[1], out_hw[0] * out_hw[1] * N), np.result_type(a, w))
    buf = _scratch("cols", (w.shape[0] * (blocks[0][1] - blocks[0][0]) * out_hw[1] * N,), a.dtype)
    per_row = out_hw[1] * N
    for o0, o1 in blocks:
        cols = im2col(a, item.kernel, item.stride, item.padding, rows=(o0, o1), out=buf)
        np.matmul(w.T, cols, out=current[:, o0 * per_row : o1 * per_row])  # BLAS reads w.T in place
    return current


def _conv_backward(a: np.ndarray, w: np.ndarray, d_out: np.ndarray, item: Conv, out_hw: tuple[int, int],
                   input_grad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight gradient ``im2col(a) @ d_out.T`` and (if ``input_grad``) the input's gradient
    ``col2im(W @ d_out)``, recomputing the column matrix block by block as :func:`_conv_forward` built it."""
    C, H, W, N = a.shape
    blocks = _row_blocks(item, C, out_hw, N)
    size = w.shape[0] * (blocks[0][1] - blocks[0][0]) * out_hw[1] * N
    buf = _scratch("cols", (size,), a.dtype)
    d_buf = _scratch("d_cols", (size,), d_out.dtype) if input_grad else None
    d_in = _scratch("d_in", a.shape, d_out.dtype, zero=True) if input_grad else None
    per_row = out_hw[1] * N
    gw = None
    for o0, o1 in blocks:
        cols = im2col(a, item.kernel, item.stride, item.padding, rows=(o0, o1), out=buf)
        d_block = d_out[:, o0 * per_row : o1 * per_row]
        part = cols @ d_block.T  # BLAS reads the transpose in place
        gw = part if gw is None else np.add(gw, part, out=gw)
        if input_grad:
            d_cols = np.matmul(w, d_block, out=d_buf[: cols.size].reshape(cols.shape))
            col2im(d_cols, a.shape, item.kernel, item.stride, item.padding, rows=(o0, o1), out=d_in)
    return gw, d_in


def _windows(a: np.ndarray, size: int) -> np.ndarray:
    """``(C, H, W, N)`` -> ``(C, H//k, k, W//k, k, N)``: a view of the non-overlapping windows (incomplete edges
    dropped)."""
    C, H, W, N = a.shape
    oh, ow = H // size, W // size
    return a[:, : oh * size, : ow * size].reshape(C, oh, size, ow, size, N)


def _unpool(d_win: np.ndarray, in_shape: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Window gradients ``(C, OH, k, OW, k, N)`` (or broadcastable to it) placed on the ``(C, H, W, N)`` input;
    the dropped edges get 0."""
    out = np.zeros(in_shape, d_win.dtype)
    C, oh, ow, N = in_shape[0], in_shape[1] // size, in_shape[2] // size, in_shape[3]
    _windows(out, size)[...] = np.broadcast_to(d_win, (C, oh, size, ow, size, N))
    return out


@dataclass
class ConvCache:
    """What :func:`backward` needs (per group of images, per layer) and the output logits ``(T, B, n_classes)``."""

    saved: list[list[dict]]
    logits: np.ndarray
    groups: list[tuple[int, int]]


#: Images per group: the forward and backward passes run each group of at most this many images of a batch on
#: its own thread (NumPy and BLAS release the GIL), each with single-threaded BLAS. Splitting the products
#: instead, with BLAS's own threads, leaves the element-wise work and copies (about half the time) on one core:
#: OpenBLAS's idle threads keep spinning for a while after every product. The groups depend on the batch size
#: only, never on the thread count, so the results do not either.
GROUP_IMAGES = 32


def _image_groups(n_images: int) -> list[tuple[int, int]]:
    n = max(1, -(-n_images // GROUP_IMAGES))
    return [(n_images * i // n, n_images * (i + 1) // n) for i in range(n)]


_blas = None
_pool: ThreadPoolExecutor | None = None
_pool_threads = 0
_pool_lock = threading.Lock()


def _blas_controller():
    """threadpoolctl's handle on the BLAS libraries, or None when threadpoolctl is missing."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def work_threads() -> int:
    """Threads for the image groups: as many as BLAS may use (``OPENBLAS_NUM_THREADS``, ``threadpoolctl`` limits);
    1 without threadpoolctl, which is needed to hold BLAS's own threads while the groups run."""
    blas = _blas_controller()
    return 1 if blas is None else max([1] + [lib["num_threads"] for lib in blas.info()])


def _in_threads(tasks: list) -> list:
    """Results of the callables ``tasks`` in order, run at most :func:`work_threads` at a time, each with
    ``threads // running`` BLAS threads and the caller's NumPy error state (the trainer turns float overflow
    into an error with ``np.errstate``)."""
    available = work_threads()
    threads = min(available, len(tasks))
    if threads <= 1:
        return [task() for task in tasks]
    global _pool, _pool_threads
    with _pool_lock:
        if _pool_threads < threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _pool_threads = ThreadPoolExecutor(threads, thread_name_prefix="hwsim-train"), threads
        pool = _pool
    errors = np.geterr()

    def run(task):
        with np.errstate(**errors):
            return task()

    with _blas_controller().limit(limits=max(1, available // threads), user_api="blas"):
        futures = [pool.submit(run, task) for task in tasks]
        concurrent.futures.wait(futures)  # all of them, even when one fails, before BLAS gets its threads back
    return [future.result() for future in futures]  # raises what a task raised


def _time_major(a: np.ndarray, T: int, B: int, out: np.ndarray | None = None) -> np.ndarray:
    """An activation whose memory is ``(features, T, B)`` (samples innermost, timestep-major) copied to a
    contiguous ``(T, features, B)`` (into ``out`` if given): the spiking functions step through time, and NumPy's
    loops over a timestep's strided ``(features, B)`` slice run about ten times slower than over a contiguous one."""
    view = a.reshape(-1, T, B).transpose(1, 0, 2)
    if out is None:
        return view.copy()  # always a copy (``a`` may be scratch), even when T = 1 makes the view contiguous
    np.copyto(out, view)
    return out


def _sample_minor(a: np.ndarray, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`_time_major`: ``(T, features, B)`` -> the ``shape + (N,)`` samples-innermost array."""
    view = a.transpose(1, 0, 2)
    if out is None:
        return np.ascontiguousarray(view).reshape(shape + (-1,))
    np.copyto(out.reshape(view.shape), view)
    return out.reshape(shape + (-1,))


def forward(
    plan: list[PlannedLayer],
    params: FloatParams,
    x: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    surrogate: bool = False,
) -> ConvCache:
    """Run the float model of ``plan`` on ``x`` ``(T, B, rows * cols)`` (0/1 spikes).

    ``params`` holds one weight matrix and bias per trainable layer (convolutions and dense layers), in order.
    Arguments as :func:`hwsim.training.model.forward`.

    Inside, activations are ``(channels, rows, cols, N)`` (a dense layer's ``(units, N)``) with the ``N = T * B``
    samples innermost, timestep-major: every im2col slice then copies whole batches, a convolution
    ``W.T @ cols`` lands directly in the next layer's layout, and flattening for a dense layer is a free reshape
    in the chip's C-order ``(c, y, x)``.
    """
    spike_kw = dict(mode=mode, theta=theta, half_width=half_width, surrogate=surrogate)
    groups = _image_groups(x.shape[1])
    done = _in_threads([functools.partial(_forward_group, plan, params, x[:, b0:b1], spike_kw) for b0, b1 in groups])
    logits = done[0][1] if len(done) == 1 else np.concatenate([group_logits for _, group_logits in done], axis=1)
    return ConvCache([saved for saved, _ in done], logits, groups)


def _forward_group(plan: list[PlannedLayer], params: FloatParams, x: np.ndarray,
                   spike_kw: dict) -> tuple[list[dict], np.ndarray]:
    """:func:`forward` of one group of images: what backward needs per layer, and the logits."""
    T, B, n_pixels = x.shape
    _, rows, cols = plan[0].in_shape
    # (T, B, pixels) -> (1, rows, cols, N): the samples innermost
    a = np.ascontiguousarray(x.reshape(T * B, n_pixels).T).reshape(1, rows, cols, T * B)
    saved: list[dict] = []
    p = 0
    for layer in plan:
        item = layer.item
        if isinstance(item, Pool):
            win = _windows(a, item.size)
            entry = {"in_shape": a.shape}
            if item.kind == "max":
                a = win.max(axis=(2, 4))  # OR of binary spikes: exactly the threshold-1 chip layer
                # an input can flip the OR only when no other input of its window spiked
                entry["alone"] = (win.sum(axis=(2, 4))[:, :, None, :, None] - win) == 0
            else:
                total = win.sum(axis=(2, 4))
                thr = pool_threshold(item)
                a = (total >= thr).astype(x.dtype)  # the chip layer: weights 1, threshold thr, >= (chip-spec §2.2)
                entry.update(sum=total, threshold=thr)
            saved.append(entry)
            continue
        w, b = params.weights[p], params.biases[p]
        p += 1
        if isinstance(item, Conv):
            out_shape = (item.channels, layer.out_shape[1], layer.out_shape[2])
            current = _conv_forward(a, w, item, out_shape[1:])
        else:
            a = a.reshape(-1, a.shape[-1])  # C-order (c, y, x) flattening: free in this layout
            out_shape = (item.units,)
            # (n_out, samples): BLAS reads the transposed weights in place
            current = np.matmul(w.T, a, out=_scratch("current", (w.shape[1], a.shape[1]), np.result_type(a, w)))
        current += b[:, None]
        entry = {"input": a}
        saved.append(entry)
        if layer is plan[-1]:
            return saved, current.reshape(-1, T, B).transpose(1, 2, 0).copy()  # a copy: ``current`` is scratch
        v, h = spiking_forward(_time_major(current, T, B), in_place=True, **spike_kw)
        entry["membrane"] = v
        a = _sample_minor(h, out_shape)
    raise AssertionError("the plan ends with a dense output layer (arch.parse_arch checks it)")


def backward(
    plan: list[PlannedLayer],
    params: FloatParams,
    cache: ConvCache,
    d_logits: np.ndarray,
    *,
    mode: str,
    theta: float = 1.0,
    half_width: float = 1.0,
    detach_reset: bool = False,
) -> FloatParams:
    """Gradients w.r.t. every trainable layer's weights and bias, given ``dL/dlogits`` ``(T, B, C)``.

    Every group of images (:data:`GROUP_IMAGES`) on its own thread; the groups' gradients are added in order."""
    kw = dict(mode=mode, theta=theta, half_width=half_width, detach_reset=detach_reset)
    done = _in_threads([functools.partial(_backward_group, plan, params, saved, d_logits[:, b0:b1], kw)
                        for saved, (b0, b1) in zip(cache.saved, cache.groups)])
    total = done[0]
    for grads in done[1:]:
        for mine, theirs in zip(total.weights + total.biases, grads.weights + grads.biases):
            mine += theirs
    return total


def _backward_group(plan: list[PlannedLayer], params: FloatParams, saved: list[dict], d_logits: np.ndarray,
                    kw: dict) -> FloatParams:
    """:func:`backward` of one group of images."""
    mode, theta, half_width, detach_reset = kw["mode"], kw["theta"], kw["half_width"], kw["detach_reset"]
    T, B, n_classes = d_logits.shape
    n_trainable = len(params.weights)
    gw: list[np.ndarray] = [None] * n_trainable  # type: ignore[list-item]
    gb: list[np.ndarray] = [None] * n_trainable  # type: ignore[list-item]
    p = n_trainable
    d_out = d_logits.reshape(T * B, n_classes).T  # dL/d(current) of the layer being processed, (n_out, samples)
    d_a = None  # dL/d(spikes) flowing into the layer below, (C, H, W, N) or (n, N)
    for k in range(len(plan) - 1, -1, -1):
        layer, entry = plan[k], saved[k]
        item = layer.item
        if isinstance(item, Pool):
            d_y = d_a[:, :, None, :, None]  # broadcast over the window
            if item.kind == "avg":
                thr = entry["threshold"]
                # the pooling neuron's own box estimator, half-width = its threshold (as theta for hidden layers)
                box = (np.abs(entry["sum"] - thr) < thr).astype(d_a.dtype)[:, :, None, :, None]
                d_a = _unpool(d_y * box * d_a.dtype.type(0.5 / thr), entry["in_shape"], item.size)
            else:
                d_a = _unpool(d_y * entry["alone"], entry["in_shape"], item.size)
            continue
        p -= 1
        n_out = item.channels if isinstance(item, Conv) else item.units
        if k != len(plan) - 1:
            v = entry["membrane"]
            d_h = _time_major(d_a, T, B, out=_scratch("d_h", v.shape, d_a.dtype))
            d_cur = spiking_backward(d_h, v, mode=mode, theta=theta, half_width=half_width,
                                     detach_reset=detach_reset, in_place=True)
            features_first = (d_cur.shape[1], T, B)
            d_out = _sample_minor(d_cur, (n_out,), out=_scratch("d_out", features_first, d_cur.dtype))
        else:
            d_out = d_out.reshape(n_out, -1)
        inp, w = entry["input"], params.weights[p]
        gb[p] = d_out.sum(axis=1)
        if isinstance(item, Conv):
            gw[p], d_a = _conv_backward(inp, w, d_out, item, layer.out_shape[1:], input_grad=k > 0)
        else:
            gw[p] = inp @ d_out.T  # (n_in, n_out): BLAS reads the transpose in place
            # dense: the flattened input's gradient; the layer below reshapes it (free in this layout)
            if k > 0:
                d_a = np.matmul(w, d_out, out=_scratch("d_in", (w.shape[0], T * B), np.result_type(w, d_out)))
        if k == 0:
            break
        below = plan[k - 1].out_shape
        d_a = d_a.reshape(below + (d_a.shape[-1],))
    return FloatParams(gw, gb)


def init_params(rng: np.random.Generator, plan: list[PlannedLayer], input_activity: float, init_layer) -> FloatParams:
    """Initial weights of every trainable layer with ``init_layer(rng, fan_in, n_out, activity)`` (the fully
    connected trainer's initialisation, with a convolution's fan-in ``C_in * k * k``)."""
    weights, biases = [], []
    for layer in plan:
        if not layer.trainable:
            continue
        n_out = layer.item.channels if isinstance(layer.item, Conv) else layer.item.units
        w, b = init_layer(rng, layer.fan_in, n_out, input_activity if layer.index == 0 else 0.25)
        weights.append(w)
        biases.append(b)
    return FloatParams(weights, biases)


def chip_layer_thresholds(plan: list[PlannedLayer], quant: list[LayerQuant]) -> tuple[list[int], list[float]]:
    """Integer thresholds and float scales of every chip layer (pooling: its fixed threshold, scale 1)."""
    thresholds, scales = [], []
    q = iter(quant)
    for layer in plan:
        if isinstance(layer.item, Pool):
            thresholds.append(pool_threshold(layer.item))
            scales.append(1.0)
        else:
            lq = next(q)
            thresholds.append(lq.threshold)
            scales.append(lq.scale)
    return thresholds, scales


def _dense_int(matrix) -> np.ndarray:
    """A sparse float matrix of integer values as a dense int32 array (rounded while sparse: the dense float64
    matrix of a convolution is hundreds of MB)."""
    ints = matrix.tocsr(copy=True)
    ints.sum_duplicates()
    ints.data = np.rint(ints.data)
    return ints.astype(np.int32).toarray()


def to_network(plan: list[PlannedLayer], quant: list[LayerQuant], *, mode: str, readout: str,
               metadata: dict) -> Network:
    """The chip network: every planned layer one spiking layer of integer weights.

    Convolutions and dense layers run in ``mode`` with reset by subtraction; pooling layers are
    discontinuous with reset to zero (stateless); the output layer is discontinuous, ``fire`` per ``readout``.
    """
    from mapping.unroll import conv2d_matrix, pool2d_matrix

    layers = []
    q = iter(quant)
    for layer in plan:
        item = layer.item
        last = layer is plan[-1]
        if isinstance(item, Pool):
            matrix, shape = pool2d_matrix("sum", layer.in_shape, item.size, item.size, 0)
            assert tuple(shape) == layer.out_shape, (shape, layer.out_shape)
            layers.append(Layer(weights=_dense_int(matrix), bias=np.zeros(layer.n_out, np.int32),
                                threshold=pool_threshold(item), leak_shift=0, integration="discontinuous",
                                reset="zero", fire=True, name=f"{item.kind}pool{layer.index}", shape=shape))
            continue
        lq = next(q)
        if isinstance(item, Conv):
            c_in = layer.in_shape[0]
            # rows (ky, kx, c_in) -> PyTorch's (C_out, C_in, ky, kx)
            kernel = lq.weights.reshape(item.kernel, item.kernel, c_in, item.channels).transpose(3, 2, 0, 1)
            matrix, shape = conv2d_matrix(kernel, layer.in_shape, stride=item.stride, padding=item.padding)
            assert tuple(shape) == layer.out_shape, (shape, layer.out_shape)
            weights = _dense_int(matrix)
            # one bias per output channel, the same at every pixel of that channel (C-order: channel-major)
            bias = np.repeat(lq.bias, shape[1] * shape[2]).astype(np.int32)
            name, shape_kw = f"conv{layer.index}", {"shape": shape}
        else:
            weights, bias = lq.weights, lq.bias
            name, shape_kw = ("output" if last else f"dense{layer.index}"), {}
        layers.append(Layer(weights=weights, bias=bias, threshold=lq.threshold, leak_shift=0,
                            # the output layer restarts every timestep: its membrane is the per-timestep logit
                            integration="discontinuous" if last else mode, reset="subtract",
                            fire=(readout == "spike_count") if last else True, name=name, **shape_kw))
    return Network(layers=layers, metadata=metadata)

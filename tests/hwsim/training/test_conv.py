"""Convolutional SNNs: the exported chip layers against hand-written loops, pooling made exact, the training
forward pass equal to the chip's integers, gradients, and seeded determinism."""

from functools import partial

import numpy as np
import pytest

from hwsim.datasets import load_dataset
from hwsim.network import Network, simulate_network
from hwsim.training import conv
from hwsim.training.arch import Conv, Pool, parse_arch, plan_arch
from hwsim.training.model import FloatParams, loss_and_grad
from hwsim.training.quantize import LayerQuant, dequantize
from hwsim.training.trainer import fit, init_layer

V_BITS = 16


# ------------------------------------------------------------- hand-written reference (plain loops)

def _loop_conv(img, w4, stride, pad):
    """``img (C, H, W)``, ``w4 (C_out, C_in, k, k)`` -> ``(C_out, OH, OW)`` integer cross-correlation, zero padding."""
    c_in, H, W = img.shape
    c_out, _, k, _ = w4.shape
    OH, OW = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    out = np.zeros((c_out, OH, OW), np.int64)
    for co in range(c_out):
        for oy in range(OH):
            for ox in range(OW):
                total = 0
                for ci in range(c_in):
                    for ky in range(k):
                        for kx in range(k):
                            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                            if 0 <= iy < H and 0 <= ix < W:
                                total += int(w4[co, ci, ky, kx]) * int(img[ci, iy, ix])
                out[co, oy, ox] = total
    return out


def _loop_pool_sum(img, size):
    C, H, W = img.shape
    out = np.zeros((C, H // size, W // size), np.int64)
    for c in range(C):
        for oy in range(H // size):
            for ox in range(W // size):
                out[c, oy, ox] = sum(int(img[c, oy * size + dy, ox * size + dx])
                                     for dy in range(size) for dx in range(size))
    return out


class _Neurons:
    """One layer's membranes over time, chip-spec §2.2 without saturation (the test values never reach it)."""

    def __init__(self, shape, threshold, integration, reset):
        self.v = np.zeros(shape, np.int64)
        self.threshold, self.integration, self.reset = threshold, integration, reset

    def step(self, current):
        if self.integration == "discontinuous":
            self.v[...] = 0
        self.v = self.v + current
        fired = self.v >= self.threshold
        self.v = np.where(fired, self.v - self.threshold if self.reset == "subtract" else 0, self.v)
        return fired.astype(np.int64)


def _hand_network(image_shape, layers, raster, mode):
    """Spikes of every hidden layer and the output membranes, computed with loops from the layer descriptions."""
    T = raster.shape[0]
    state = []
    for spec in layers:
        kind = spec["kind"]
        if kind == "pool":
            state.append(_Neurons(spec["out"], spec["threshold"], "discontinuous", "zero"))
        elif kind == "output":
            state.append(None)
        else:
            state.append(_Neurons(spec["out"], spec["threshold"], mode, "subtract"))
    spikes = [[] for _ in layers]
    out_mem = []
    for t in range(T):
        a = raster[t].reshape(1, *image_shape).astype(np.int64)
        for k, spec in enumerate(layers):
            if spec["kind"] == "conv":
                current = _loop_conv(a, spec["w4"], spec["stride"], spec["pad"]) + spec["bias"][:, None, None]
            elif spec["kind"] == "pool":
                current = _loop_pool_sum(a, spec["size"])
            else:
                flat = a.reshape(-1)  # C-order (c, y, x)
                current = np.array([sum(int(flat[i]) * int(spec["w"][i, j]) for i in range(flat.size))
                                    for j in range(spec["w"].shape[1])]) + spec["bias"]
            if spec["kind"] == "output":
                out_mem.append(current)
            else:
                a = state[k].step(current)
                spikes[k].append(a.reshape(-1))
    return [np.array(s) for s in spikes[:-1]], np.array(out_mem)


def _random_quant(rng, plan, thresholds):
    """Integer layers for ``plan``: conv weights drawn as PyTorch ``(C_out, C_in, k, k)`` kernels."""
    quant, kernels = [], []
    t = iter(thresholds)
    for layer in plan:
        if not layer.trainable:
            continue
        if layer.item.__class__.__name__ == "Conv":
            w4 = rng.integers(-3, 5, (layer.item.channels, layer.in_shape[0], layer.item.kernel, layer.item.kernel))
            kernels.append(w4)
            w = w4.transpose(2, 3, 1, 0).reshape(-1, w4.shape[0])  # rows in (ky, kx, c_in) order, a column per C_out
            b = rng.integers(-2, 3, layer.item.channels)
        else:
            w = rng.integers(-4, 5, (layer.n_in, layer.n_out))
            kernels.append(None)
            b = rng.integers(-2, 3, layer.n_out)
        quant.append(LayerQuant(w.astype(np.int32), b.astype(np.int32), next(t), 0.25))
    return quant, kernels


CASES = [
    # arch, image shape, thresholds of the trainable layers (0 = output)
    ("3C3-MP2-4", (4, 6), [4, 0]),
    ("2C3s2p1-AP2-3", (6, 7), [3, 0]),
    ("2C3p0-MP2-2C2s1p0-6-3", (7, 8), [4, 3, 2, 0]),
]


@pytest.mark.parametrize("mode", ["discontinuous", "continuous"])
@pytest.mark.parametrize("arch, image_shape, thresholds", CASES)
def test_exported_network_equals_hand_written_loops(arch, image_shape, thresholds, mode):
    rng = np.random.default_rng(5)
    plan = plan_arch(parse_arch(arch), image_shape, int(arch.split("-")[-1]))
    quant, kernels = _random_quant(rng, plan, thresholds)
    net = conv.to_network(plan, quant, mode=mode, readout="membrane", metadata={})
    T, B = 4, 2
    rasters = (rng.random((B, T, image_shape[0] * image_shape[1])) < 0.5).astype(np.uint8)
    got = simulate_network(net, rasters, V_BITS)

    specs, q, kern = [], iter(quant), iter(kernels)
    for layer in plan:
        item = layer.item
        if not layer.trainable:
            specs.append({"kind": "pool", "size": item.size, "out": layer.out_shape,
                          "threshold": 1 if item.kind == "max" else 2})
            continue
        lq, w4 = next(q), next(kern)
        if w4 is not None:
            specs.append({"kind": "conv", "w4": w4, "stride": item.stride, "pad": item.padding,
                          "bias": lq.bias.astype(np.int64), "out": layer.out_shape, "threshold": lq.threshold})
        else:
            kind = "output" if layer is plan[-1] else "dense"
            specs.append({"kind": kind, "w": lq.weights, "bias": lq.bias.astype(np.int64), "out": layer.out_shape,
                          "threshold": lq.threshold})
    for b in range(B):
        spikes, out_mem = _hand_network(image_shape, specs, rasters[b], mode)
        for k, s in enumerate(spikes):
            np.testing.assert_array_equal(got[k][1][b], s, err_msg=f"layer {k} spikes, image {b}")
        np.testing.assert_array_equal(got[-1][0][b], out_mem)
    # the spikes are neither all 0 nor all 1, so the comparison says something
    hidden = np.concatenate([g[1].ravel() for g in got[:-1]])
    assert 0.05 < hidden.mean() < 0.95
    # every shaped layer carries its (channels, rows, cols)
    assert [layer.shape for layer in net.layers] == [p.out_shape if len(p.out_shape) == 3 else None for p in plan]


@pytest.mark.parametrize("kind, threshold", [("MP", 1), ("AP", 2), ("AP", 5)])
def test_pooling_layer_is_a_fixed_weight_spiking_layer(kind, threshold):
    size = 3 if threshold == 5 else 2
    rng = np.random.default_rng(11)
    plan = plan_arch(parse_arch(f"2C1p0-{kind}{size}-3"), (6, 7), 3)
    quant, _ = _random_quant(rng, plan, [1, 0])
    pool = conv.to_network(plan, quant, mode="continuous", readout="membrane", metadata={}).layers[1]
    assert (pool.threshold, pool.integration, pool.reset, pool.fire, pool.leak_shift) == (
        threshold, "discontinuous", "zero", True, 0)
    assert set(np.unique(pool.weights)) == {0, 1} and not pool.bias.any()
    assert (pool.weights.sum(axis=0) == size * size).all()  # every window complete (edges dropped)
    # run the pooling layer alone on random spikes: OR of the window for MP, at least half of it for AP
    spikes = (rng.random((3, 5, 2 * 6 * 7)) < 0.3).astype(np.uint8)
    out = simulate_network(Network([pool]), spikes, V_BITS)[0][1]
    window_sums = np.zeros((3, 5, 2, 6 // size, 7 // size), np.int64)
    img = spikes.reshape(3, 5, 2, 6, 7)
    for c in range(2):
        for oy in range(6 // size):
            for ox in range(7 // size):
                for dy in range(size):
                    for dx in range(size):
                        window_sums[:, :, c, oy, ox] += img[:, :, c, oy * size + dy, ox * size + dx]
    expected = window_sums >= threshold  # MP: any spike in the window (sum >= 1), i.e. the OR = max of 0/1
    if kind == "MP":
        np.testing.assert_array_equal(expected, img.reshape(3, 5, 2, 6, 7)[..., : 6 // size * size, : 7 // size * size]
                                      .reshape(3, 5, 2, 6 // size, size, 7 // size, size).max(axis=(4, 6)) == 1)
    np.testing.assert_array_equal(out.reshape(expected.shape), expected)
    assert 0 < out.mean() < 1


@pytest.mark.parametrize("mode", ["discontinuous", "continuous"])
@pytest.mark.parametrize("arch, image_shape, thresholds", CASES)
def test_training_forward_pass_is_the_chip_computation(arch, image_shape, thresholds, mode):
    """With scales that are powers of two the float model is exact: its logits are the chip's output membranes
    times the output scale, so every spike of every layer (pooling included) agrees."""
    rng = np.random.default_rng(6)
    n_classes = int(arch.split("-")[-1])
    plan = plan_arch(parse_arch(arch), image_shape, n_classes)
    quant, _ = _random_quant(rng, plan, thresholds)
    # hidden layers: scale theta / threshold = 1 / threshold, a power of two only for 1, 2, 4: use 1 / 4 and
    # threshold 4 everywhere, theta = 1
    quant = [LayerQuant(q.weights, q.bias, 4 if k < len(quant) - 1 else 0, 0.25) for k, q in enumerate(quant)]
    net = conv.to_network(plan, quant, mode=mode, readout="membrane", metadata={})
    T, B = 5, 3
    rasters = (rng.random((B, T, image_shape[0] * image_shape[1])) < 0.5).astype(np.uint8)
    membranes = simulate_network(net, rasters, V_BITS)[-1][0]  # (B, T, n_classes)
    x = rasters.transpose(1, 0, 2).astype(np.float32)
    logits = conv.forward(plan, dequantize(quant), x, mode=mode, theta=1.0).logits  # (T, B, n_classes)
    np.testing.assert_array_equal(logits.transpose(1, 0, 2) / np.float32(0.25), membranes)
    assert np.unique(membranes).size > 5


def _surrogate_loss(plan, params, x, labels, mode, loss="cross_entropy"):
    cache = conv.forward(plan, params, x, mode=mode, surrogate=True)
    return loss_and_grad(cache.logits, labels, loss)[0]


@pytest.mark.parametrize("mode", ["discontinuous", "continuous"])
@pytest.mark.parametrize("arch,loss", [("3C3-2C3s2p1-3", "cross_entropy"), ("2C3p0-4-3", "cross_entropy"),
                                       ("2C3p0-4-3", "per-timestep")])
def test_conv_gradients_match_finite_differences_of_the_surrogate(arch, loss, mode):
    plan = plan_arch(parse_arch(arch), (5, 6), 3)
    rng = np.random.default_rng(1)
    params = conv.init_params(rng, plan, 0.5, init_layer)
    params = FloatParams([w.astype(np.float64) for w in params.weights],
                         [b.astype(np.float64) + 0.1 for b in params.biases])
    x = (rng.random((3, 2, 30)) < 0.5).astype(np.float64)
    labels = np.array([0, 2])
    cache = conv.forward(plan, params, x, mode=mode, surrogate=True)
    _, d_logits = loss_and_grad(cache.logits, labels, loss)
    grads = conv.backward(plan, params, cache, d_logits, mode=mode, detach_reset=False)
    for kind in ("weights", "biases"):
        for k, arr in enumerate(getattr(params, kind)):
            g = getattr(grads, kind)[k]
            assert g.shape == arr.shape
            for idx in list(np.ndindex(arr.shape))[::3]:
                old = arr[idx]
                arr[idx] = old + 1e-6
                up = _surrogate_loss(plan, params, x, labels, mode, loss)
                arr[idx] = old - 1e-6
                down = _surrogate_loss(plan, params, x, labels, mode, loss)
                arr[idx] = old
                assert g[idx] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8), (kind, k, idx)
    assert np.any(grads.weights[0] != 0), "first-layer gradient should not vanish"


@pytest.mark.parametrize("kind", ["MP", "AP"])
def test_pooling_gradient_by_hand(kind):
    """``1C1p0-{MP,AP}2-2`` on three 2x2 images, one timestep: the conv layer's gradient derived by hand.

    Pixel ``i`` has membrane ``v_i = w x_i + b``. The pooling output's gradient is
    ``d_y = sum_j W2[0, j] dL/dz_j``. MP (an OR) passes it to pixel ``i`` when no other pixel of the window
    spiked, as only then flipping pixel ``i`` flips the OR; AP multiplies it by its own box
    ``0.5 / 2 * [|sum - 2| < 2]`` for every pixel. Then ``dL/dw = sum_i d_i g(v_i) x_i``, with the box ``g``
    of the conv neurons (theta = 1, half-width 1).
    """
    plan = plan_arch(parse_arch(f"1C1p0-{kind}2-2"), (2, 2), 2)
    w, b = 1.5, 0.3
    params = FloatParams([np.array([[w]]), np.array([[0.7, -1.2]])], [np.array([b]), np.array([0.1, 0.2])])
    # a silent window, a window with one spike, a window with three spikes
    x = np.array([[[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]]])  # (T=1, B=3, 4)
    cache = conv.forward(plan, params, x, mode="discontinuous")
    d_logits = np.array([[[0.3, -0.5], [0.2, 0.1], [-0.4, 0.6]]])
    grads = conv.backward(plan, params, cache, d_logits, mode="discontinuous")
    gw = gb = 0.0
    pooled = []
    for n in range(3):
        v = [w * x[0, n, i] + b for i in range(4)]  # 0.3 (silent) or 1.8 (spike), both inside the box
        s = [1.0 if vi >= 1.0 else 0.0 for vi in v]
        d_y = 0.7 * d_logits[0, n, 0] + (-1.2) * d_logits[0, n, 1]
        pooled.append(max(s) if kind == "MP" else float(sum(s) >= 2))
        for i in range(4):
            if kind == "MP":
                d_i = d_y if sum(s) - s[i] == 0 else 0.0
            else:
                d_i = d_y * 0.25 * float(abs(sum(s) - 2) < 2)
            g = 0.5 if abs(v[i] - 1.0) < 1.0 else 0.0
            gw += d_i * g * x[0, n, i]
            gb += d_i * g
    assert gb != 0.0 and gw != 0.0
    assert grads.weights[0][0, 0] == pytest.approx(gw)
    assert grads.biases[0][0] == pytest.approx(gb)
    np.testing.assert_allclose(grads.weights[1], (np.array(pooled)[:, None] * d_logits[0]).sum(axis=0, keepdims=True))


# ------------------------------------------------- float reference of the training model (plain loops)
# Activations ``(T, B, C, H, W)`` (the layout of the papers, not the model's), one kernel tap or one pooling
# window at a time; the neuron and its straight-through gradient as the module docstring of
# hwsim.training.model states them.

def _ref_spiking(current, mode):
    v, h = np.zeros_like(current), np.zeros_like(current)
    v_end = np.zeros_like(current[0])
    for t in range(len(current)):
        v[t] = (v_end if mode == "continuous" else 0.0) + current[t]
        h[t] = v[t] >= 1.0
        v_end = v[t] - h[t]
    return v, h


def _ref_spiking_grad(d_h, v, mode, detach_reset):
    g = (np.abs(v - 1.0) < 1.0) * 0.5  # theta = half-width = 1
    d, d_next = np.zeros_like(d_h), np.zeros_like(d_h[0])
    for t in range(len(d_h) - 1, -1, -1):
        d[t] = d_h[t] * g[t]
        if mode == "continuous":
            d[t] += d_next * (1.0 if detach_reset else 1.0 - g[t])
        d_next = d[t]
    return d


def _ref_taps(x, item):
    """Yield ``(ky, kx, slices)``: the padded input read by kernel tap ``(ky, kx)`` at every output pixel."""
    k, s = item.kernel, item.stride
    oh = (x.shape[3] + 2 * item.padding - k) // s + 1
    ow = (x.shape[4] + 2 * item.padding - k) // s + 1
    for ky in range(k):
        for kx in range(k):
            yield ky, kx, (..., slice(ky, ky + s * (oh - 1) + 1, s), slice(kx, kx + s * (ow - 1) + 1, s))


def _ref_forward_backward(plan, params, x, d_logits, mode, detach_reset):
    """Logits ``(T, B, n)`` and the gradients of ``sum(d_logits * logits)`` (the straight-through ones)."""
    T, B, _ = x.shape
    a = x.reshape(T, B, *plan[0].in_shape)
    saved, p = [], 0
    for layer in plan:  # forward
        item = layer.item
        if isinstance(item, Pool):
            s, thr = item.size, conv.pool_threshold(item)
            oh, ow = layer.out_shape[1:]
            out = np.zeros((T, B, *layer.out_shape))
            for oy in range(oh):
                for ox in range(ow):
                    window = a[..., oy * s : oy * s + s, ox * s : ox * s + s]
                    out[..., oy, ox] = window.max(axis=(-2, -1)) if item.kind == "max" else (
                        window.sum(axis=(-2, -1)) >= thr)
            saved.append(a)
            a = out
            continue
        w, b = params.weights[p], params.biases[p]
        p += 1
        if isinstance(item, Conv):
            w4 = w.reshape(item.kernel, item.kernel, layer.in_shape[0], item.channels)
            pad = item.padding
            xp = np.pad(a, ((0, 0), (0, 0), (0, 0), (pad, pad), (pad, pad)))
            current = np.zeros((T, B, *layer.out_shape)) + b[:, None, None]
            for ky, kx, sl in _ref_taps(a, item):
                current += np.einsum("tbchw,co->tbohw", xp[sl], w4[ky, kx])
        else:
            current = a.reshape(T, B, -1) @ w + b
        if layer is plan[-1]:
            saved.append((a, None))
            logits = current
            break
        v, h = _ref_spiking(current, mode)
        saved.append((a, v))
        a = h
    gw, gb = [None] * p, [None] * p
    d = d_logits  # dL/dcurrent of the layer being processed
    for k in range(len(plan) - 1, -1, -1):  # backward
        layer, item = plan[k], plan[k].item
        if isinstance(item, Pool):
            a_in, s, thr = saved[k], item.size, conv.pool_threshold(item)
            d_in = np.zeros_like(a_in)
            for oy in range(layer.out_shape[1]):
                for ox in range(layer.out_shape[2]):
                    window = a_in[..., oy * s : oy * s + s, ox * s : ox * s + s]
                    total = window.sum(axis=(-2, -1))[..., None, None]
                    d_y = d[..., oy, ox][..., None, None]
                    d_in[..., oy * s : oy * s + s, ox * s : ox * s + s] = (
                        d_y * (total - window == 0) if item.kind == "max"
                        else d_y * (0.5 / thr) * (np.abs(total - thr) < thr) * np.ones_like(window))
            d = d_in
            continue
        a_in, v = saved[k]
        if v is not None:
            d = _ref_spiking_grad(d, v, mode, detach_reset)
        p -= 1
        w = params.weights[p]
        if isinstance(item, Conv):
            w4 = w.reshape(item.kernel, item.kernel, layer.in_shape[0], item.channels)
            pad = item.padding
            xp = np.pad(a_in, ((0, 0), (0, 0), (0, 0), (pad, pad), (pad, pad)))
            g4, d_xp = np.zeros_like(w4), np.zeros_like(xp)
            for ky, kx, sl in _ref_taps(a_in, item):
                g4[ky, kx] = np.einsum("tbchw,tbohw->co", xp[sl], d)
                d_xp[sl] += np.einsum("tbohw,co->tbchw", d, w4[ky, kx])
            gw[p], gb[p] = g4.reshape(w.shape), d.sum(axis=(0, 1, 3, 4))
            d = d_xp[..., pad : pad + a_in.shape[3], pad : pad + a_in.shape[4]]
        else:
            gw[p] = np.einsum("tbi,tbo->io", a_in.reshape(T, B, -1), d)
            gb[p] = d.sum(axis=(0, 1))
            d = (d @ w.T).reshape(a_in.shape)
    return logits, FloatParams(gw, gb)


REFERENCE_CASES = [
    # arch, image shape: stride and padding, both poolings with dropped edges, dense after a pooling layer
    ("2C3s2p1-MP2-4", (7, 9)),
    ("3C3p0-AP3-2C2s1p0-5-3", (8, 9)),
    ("2C5s2-3C5s2-4-3", (11, 12)),
    ("MP2-2C3-5", (6, 5)),
]


@pytest.mark.parametrize("mode, detach_reset", [("discontinuous", False), ("continuous", False),
                                                ("continuous", True)])
@pytest.mark.parametrize("arch, image_shape", REFERENCE_CASES)
def test_forward_and_gradients_equal_a_loop_reference(arch, image_shape, mode, detach_reset, monkeypatch):
    """The model's samples-innermost layout, row blocks of im2col, groups of images and threads change nothing but
    float rounding: logits and every gradient equal the plain-loop reference (float64), whole, with im2col blocks
    of one output row, with every image its own group on three threads or on one."""
    n_classes = int(arch.split("-")[-1])
    plan = plan_arch(parse_arch(arch), image_shape, n_classes)
    rng = np.random.default_rng(8)
    params = FloatParams([rng.normal(0.0, 0.6, w.shape) for w in conv.init_params(rng, plan, 0.5, init_layer).weights],
                         [rng.normal(0.3, 0.3, layer.out_shape[0]) for layer in plan if layer.trainable])
    T, B = 3, 4
    x = (rng.random((T, B, image_shape[0] * image_shape[1])) < 0.5).astype(np.float64)
    d_logits = rng.normal(size=(T, B, n_classes))
    ref_logits, ref = _ref_forward_backward(plan, params, x, d_logits, mode, detach_reset)
    results = []
    configs = [(conv._BLOCK_FLOATS, 1, conv.GROUP_IMAGES), (1, 3, 1), (conv._BLOCK_FLOATS, 3, 1),
               (conv._BLOCK_FLOATS, 1, 1)]  # im2col block floats, threads, images per group
    for block_floats, threads, group_images in configs:
        monkeypatch.setattr(conv, "_BLOCK_FLOATS", block_floats)
        monkeypatch.setattr(conv, "work_threads", lambda threads=threads: threads)
        monkeypatch.setattr(conv, "GROUP_IMAGES", group_images)
        cache = conv.forward(plan, params, x, mode=mode)
        grads = conv.backward(plan, params, cache, d_logits, mode=mode, detach_reset=detach_reset)
        np.testing.assert_allclose(cache.logits, ref_logits, rtol=1e-12, atol=1e-12)
        for kind in ("weights", "biases"):
            for got, want in zip(getattr(grads, kind), getattr(ref, kind)):
                assert got.shape == want.shape
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=kind)
        results.append((cache.logits, grads))
    # the spikes are neither all 0 nor all 1 and the first layer learns, so the comparison says something
    assert np.all(ref.weights[0].any(axis=0))
    # the groups of images are the same whatever the number of threads, and so are the results, bit for bit
    (logits_3, grads_3), (logits_1, grads_1) = results[2], results[3]
    np.testing.assert_array_equal(logits_1, logits_3)
    for a, b in zip(grads_1.weights + grads_1.biases, grads_3.weights + grads_3.biases):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kernel, stride, padding, rows", [(3, 1, 1, None), (5, 2, 2, (1, 3)), (2, 3, 1, (0, 1))])
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, rows):
    """``<im2col(a), D> == <a, col2im(D)>`` for every ``a`` and ``D``, blocks of output rows included, and
    im2col's column ``(oy, ox, n)`` is the input pixel ``oy * stride - padding + ky``, zero outside."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 7, 6, 3))
    cols = conv.im2col(a, kernel, stride, padding, rows=rows)
    d = rng.normal(size=cols.shape)
    back = conv.col2im(d, a.shape, kernel, stride, padding, rows=rows)
    assert np.sum(cols * d) == pytest.approx(np.sum(a * back), rel=1e-12)
    oh, ow = (7 + 2 * padding - kernel) // stride + 1, (6 + 2 * padding - kernel) // stride + 1
    o0, o1 = (0, oh) if rows is None else rows
    six = cols.reshape(kernel, kernel, 2, o1 - o0, ow, 3)
    for ky, kx, c, oy, ox in np.ndindex(kernel, kernel, 2, o1 - o0, ow):
        iy, ix = (o0 + oy) * stride - padding + ky, ox * stride - padding + kx
        want = a[c, iy, ix] if 0 <= iy < 7 and 0 <= ix < 6 else 0.0
        np.testing.assert_array_equal(six[ky, kx, c, oy, ox], want)


@pytest.mark.parametrize("arch, n_classes, T", [("2C3-4-1", 1, 1), ("2C3s2-MP2-3", 3, 2), ("2C3-AP2-3", 3, 1)])
def test_a_cache_and_its_gradients_survive_later_passes(arch, n_classes, T):
    """The passes reuse work arrays from call to call: a cache and what it holds must not be among them, not even
    when a timestep or a class makes a transposed copy already contiguous."""
    plan = plan_arch(parse_arch(arch), (5, 5), n_classes)
    rng = np.random.default_rng(4)
    params = conv.init_params(rng, plan, 0.5, init_layer)
    x1, x2 = ((rng.random((T, 2, 25)) < 0.5).astype(np.float32) for _ in range(2))
    d1, d2 = (rng.normal(size=(T, 2, n_classes)).astype(np.float32) for _ in range(2))
    cache = conv.forward(plan, params, x1, mode="continuous")
    logits = cache.logits.copy()
    grads = conv.backward(plan, params, cache, d1, mode="continuous")
    kept = [g.copy() for g in grads.weights + grads.biases]
    other = conv.forward(plan, params, x2, mode="continuous")
    conv.backward(plan, params, other, d2, mode="continuous")
    np.testing.assert_array_equal(cache.logits, logits)
    again = conv.backward(plan, params, cache, d1, mode="continuous")
    for a, b, c in zip(kept, grads.weights + grads.biases, again.weights + again.biases):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_an_overflow_in_a_worker_thread_raises_under_the_callers_error_state(monkeypatch):
    """The trainer turns float32 overflow into an error with ``np.errstate``; the groups of images run on worker
    threads keep that: the hidden membranes reach 6e38 in the second timestep."""
    monkeypatch.setattr(conv, "work_threads", lambda: 2)
    monkeypatch.setattr(conv, "GROUP_IMAGES", 1)
    plan = plan_arch(parse_arch("2-3"), (2, 2), 3)
    params = FloatParams([np.zeros((4, 2), np.float32), np.zeros((2, 3), np.float32)],
                         [np.full(2, 3e38, np.float32), np.zeros(3, np.float32)])
    x = np.ones((3, 2, 4), np.float32)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError, match="overflow"):
        conv.forward(plan, params, x, mode="continuous")
    with np.errstate(over="ignore"):
        cache = conv.forward(plan, params, x, mode="continuous")
    assert np.isinf(cache.saved[1][0]["membrane"][1:]).all()

def _digits_subset(n=160):
    ds = load_dataset("digits")
    return type(ds)(ds.name, ds.x_train[:n], ds.y_train[:n], ds.x_test[:60], ds.y_test[:60], ds.image_shape,
                    ds.classes)


def test_training_is_deterministic_from_the_seed_and_reports_the_chip_accuracy():
    ds = _digits_subset()
    kw = dict(arch="4C3-MP2-10", timesteps=2, epochs=1, w_bits=6, v_bits=12, batch_size=32, lr=5e-3,
              lr_final=1e-3, eval_train_limit=40)
    a, b, c = fit(ds, seed=3, **kw), fit(ds, seed=3, evaluate=False, **kw), fit(ds, seed=4, evaluate=False, **kw)
    for la, lb in zip(a.network.layers, b.network.layers):
        np.testing.assert_array_equal(la.weights, lb.weights)
        np.testing.assert_array_equal(la.bias, lb.bias)
    assert any((la.weights != lc.weights).any() for la, lc in zip(a.network.layers, c.network.layers))
    net = a.network
    assert net.sizes == [64, 4 * 64, 4 * 16, 10]
    assert [layer.shape for layer in net.layers] == [(4, 8, 8), (4, 4, 4), None]
    m = net.metadata
    assert m["arch"] == "4C3-MP2-10" and m["provenance"]["config"]["arch"] == "4C3-MP2-10"
    assert m["thresholds"][1] == 1 and m["scales"][1] == 1.0
    # the reported chip accuracy is the integer simulation of the exported network
    from hwsim.training.evaluate import chip_accuracy

    assert m["results"]["chip_test_accuracy"] == chip_accuracy(net, ds.x_test, ds.y_test, timesteps=2, v_bits=12)
    # the recorded float accuracy is the conv model's (not the fully connected one's)
    from hwsim.training.evaluate import float_accuracy

    plan = plan_arch(parse_arch("4C3-MP2-10"), (8, 8), 10)
    assert m["results"]["float_test_accuracy"] == float_accuracy(
        a.float_params, ds.x_test, ds.y_test, timesteps=2, mode="discontinuous", readout="membrane",
        model_forward=partial(conv.forward, plan))

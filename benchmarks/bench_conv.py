"""Convolutional benchmark: a conv SNN on the engine against a dense im2col NumPy reference.

Run with ``make bench`` (after the engine benchmark) or
``.venv/bin/python benchmarks/bench_conv.py``. In one process it measures:

* the engine (``hwsim.Chip``, full cycle and counter accounting) on a conv
  network ``8C5-MP2-16C5-MP2-10`` over 1 x 28 x 28 inputs (MNIST-sized),
  mapped by the mapper with receptive-field routing on ``mesh8x8_28nm``,
  rate-coded inputs at a mean spike probability of about 0.13, T = 16;
* the same network as a dense batched NumPy float32 reference that computes
  each convolution by im2col (one matrix product per layer and timestep for
  the whole batch), max pooling as a window maximum of the binary spikes,
  and no cycle accounting.

Weights are random int8, conv thresholds calibrated so that about 10 % of
the conv neurons fire per timestep; max pooling is the exact OR neuron the
mapper places (weights 1, threshold 1). Both entries must give the same
output spikes (the sums never saturate a 16-bit membrane: the largest
fan-in is 200 inputs x 128).

Reported per entry: images/s, synaptic events/s (the engine's counted
SOPs), CPU time, peak RSS; for the mapped network: cores, partial-sum
cores, packets per image, nJ/image and latency from the energy model.
Writes ``benchmarks/results/conv.json`` atomically and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from bench_engine import Timed, machine, versions  # same folder; also drops the BLAS env and picks a fresh cache

from hwsim.chip import Chip
from hwsim.config import load_chip_config
from hwsim.encoding import rate_encode
from hwsim.energy import estimate
from hwsim.network import Layer, Network
from hwsim.writers import atomic_write_bytes
from mapping import map_network
from mapping.unroll import conv2d_matrix, pool2d_matrix

RESULTS = Path(__file__).parent / "results" / "conv.json"
IMAGE = (1, 28, 28)
T = 16  # bench_engine.Timed.fields reports its own T, which is also 16
REFERENCE_P = 0.13
CONV_RATE = 0.10
ARCH = "8C5-MP2-16C5-MP2-10"


def stroke_images(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Sparse images: a fraction of pixels on at intensity U(0.6, 1); mean spike probability ~ p."""
    size = int(np.prod(IMAGE))
    on = rng.random((n, size)) < p / 0.8
    return np.where(on, rng.uniform(0.6, 1.0, (n, size)), 0.0)


class ConvNet:
    """The benchmark network twice: as chip layers (unrolled) and as kernels for the im2col reference."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.kernels = [rng.integers(-128, 128, (8, 1, 5, 5)), rng.integers(-128, 128, (16, 8, 5, 5))]
        self.dense = rng.integers(-128, 128, (16 * 7 * 7, 10))
        self.thresholds: list[int] = []
        calib = rate_encode(stroke_images(rng, 16, REFERENCE_P), T, seed=99).reshape(-1, *IMAGE).astype(np.float32)
        x = calib
        for kernel in self.kernels:
            v = conv_im2col(x, kernel.astype(np.float32))
            th = int(np.quantile(v, 1 - CONV_RATE))
            self.thresholds.append(th)
            x = max_pool2(v >= th)
        v = x.reshape(len(x), -1) @ self.dense.astype(np.float32)
        self.thresholds.append(int(np.quantile(v, 0.7)))

    def network(self) -> Network:
        layers, shape = [], IMAGE
        for k, (kernel, th) in enumerate(zip(self.kernels, self.thresholds)):
            m, shape = conv2d_matrix(kernel, shape, padding="same")
            layers.append(self._layer(m.toarray(), th, f"conv{k}", shape))
            m, shape = pool2d_matrix("sum", shape, 2, 2, 0)
            layers.append(self._layer(m.toarray(), 1, f"pool{k}", shape))  # OR of binary spikes: exact max pooling
        layers.append(self._layer(self.dense, self.thresholds[-1], "fc", None))
        return Network(layers, metadata={"name": f"random-{ARCH}", "w_bits": 8, "v_bits": 16,
                                         "image_shape": list(IMAGE[1:])})

    @staticmethod
    def _layer(w: np.ndarray, threshold: int, name: str, shape) -> Layer:
        w = np.rint(w).astype(np.int32)
        return Layer(w, np.zeros(w.shape[1], np.int32), threshold=threshold, integration="discontinuous",
                     reset="zero", name=name, shape=shape)

    def reference(self, rasters: np.ndarray, batch: int = 250) -> np.ndarray:
        """Output spikes ``(B, T, 10)`` from im2col convolutions, float32, whole batch per timestep."""
        kernels = [k.astype(np.float32) for k in self.kernels]
        dense = self.dense.astype(np.float32)
        B = rasters.shape[0]
        out = np.zeros((B, rasters.shape[1], 10), np.uint8)
        for b0 in range(0, B, batch):
            for t in range(rasters.shape[1]):
                x = rasters[b0 : b0 + batch, t].reshape(-1, *IMAGE).astype(np.float32)
                for kernel, th in zip(kernels, self.thresholds):
                    x = max_pool2(conv_im2col(x, kernel) >= th)
                v = x.reshape(len(x), -1) @ dense
                out[b0 : b0 + batch, t] = v >= self.thresholds[-1]
        return out


def conv_im2col(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'same' 2-D cross-correlation of ``(B, C, H, W)`` with ``(C_out, C, k, k)`` by im2col and one matmul."""
    B, C, H, W = x.shape
    k = kernel.shape[-1]
    pad = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, k - 1 - pad), (pad, k - 1 - pad)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # (B, C, H, W, k, k)
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(B * H * W, C * k * k)
    v = cols @ kernel.reshape(len(kernel), -1).T  # (B*H*W, C_out)
    return v.reshape(B, H, W, -1).transpose(0, 3, 1, 2)


def max_pool2(spikes: np.ndarray) -> np.ndarray:
    """2 x 2 max pooling, stride 2, of binary spikes ``(B, C, H, W)`` (an OR), as float32."""
    B, C, H, W = spikes.shape
    return spikes.reshape(B, C, H // 2, 2, W // 2, 2).max(axis=(3, 5)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500, help="images per timed run (default 500)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds over both entries, best is kept")
    parser.add_argument("--chip", default="mesh8x8_28nm", help="chip preset (default mesh8x8_28nm)")
    parser.add_argument("--keep-blas-env", action="store_true", help="do not drop OPENBLAS_CORETYPE/L2_SIZE")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    net = ConvNet(np.random.default_rng(2024))
    network = net.network()
    chip_config = load_chip_config(args.chip)
    t0 = time.perf_counter()
    program = map_network(network, chip_config, placement="greedy")
    map_s = time.perf_counter() - t0
    chip = Chip.from_program(program)
    rasters = rate_encode(stroke_images(np.random.default_rng(5), args.images, REFERENCE_P), T, seed=7)
    t0 = time.perf_counter()
    chip.run(rasters[:2])
    compile_s = time.perf_counter() - t0

    timed = {"engine": Timed(lambda: chip.run(rasters)), "im2col_numpy_float32": Timed(lambda: net.reference(rasters))}
    for _ in range(args.repeats):
        for entry in timed.values():
            entry()
    res = timed["engine"].result
    sops = int(res.counter("synaptic_ops").sum())
    same = bool(np.array_equal(timed["im2col_numpy_float32"].result, res.output_spikes))
    energy = estimate(res, program)
    psum_cores = sum(bool(getattr(cp, "psum_out", False)) for cp in program.cores)
    engine = {"name": "engine_conv", "engine": "hwsim.Chip (numba)", **timed["engine"].fields(args.images, sops)}
    reference = {"name": "im2col_numpy_float32", "engine": "numpy im2col matmul per layer per timestep (no cycles)",
                 **timed["im2col_numpy_float32"].fields(args.images, sops), "same_output_spikes_as_engine": same}
    report = {
        "benchmark": f"hwsim engine on a conv SNN ({ARCH}, 1x28x28, T={T}) against an im2col NumPy reference",
        "network": "random int8 weights, conv thresholds calibrated for ~10% firing, max pooling as OR neurons",
        "chip": args.chip,
        "timing": f"best of {args.repeats} interleaved rounds, wall clock, Numba compile excluded",
        "compile_s": compile_s,
        "map_s": map_s,
        "cores": len(program.cores),
        "partial_sum_cores": psum_cores,
        "packets_per_image": float(res.counter("packets").sum() + res.host_counters[..., 0].sum()) / args.images,
        "energy_nj_per_image": energy.energy_nj_per_image,
        "latency_us_per_image": energy.latency_us_per_image,
        "input_spike_prob": float(rasters.mean()),
        "entries": [engine, reference],
        "ratio_vs_im2col": engine["images_per_s"] / reference["images_per_s"],
        "load_average_at_end": list(os.getloadavg()),
        "machine": machine(),
        "versions": versions(),
    }
    atomic_write_bytes(args.output, (json.dumps(report, indent=2) + "\n").encode())
    print(f"network: {ARCH} on {args.chip}: {report['cores']} cores ({psum_cores} partial-sum), "
          f"{report['packets_per_image']:.0f} packets/image, {report['energy_nj_per_image']:.1f} nJ/image, "
          f"{report['latency_us_per_image']:.1f} us/image; mapped in {map_s:.1f} s, compile {compile_s:.1f} s")
    print(f"{'entry':24s} {'images/s':>10s} {'Gsyn-ev/s':>10s} {'per CPU-s':>10s} {'RSS MB':>13s}")
    for e in (engine, reference):
        print(f"{e['name']:24s} {e['images_per_s']:10.1f} {e['syn_events_per_s'] / 1e9:10.2f} "
              f"{e['syn_events_per_cpu_s'] / 1e9:10.2f} {e['rss_at_start_mb']:6.0f}->{e['peak_rss_mb']:<6.0f}")
    print(f"ratio_vs_im2col {report['ratio_vs_im2col']:.2f}; im2col == engine spikes: {same}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

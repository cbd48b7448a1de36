"""CIFAR-size conv SNNs on a 4,096-core chip: map and simulate without dense unrolled matrices.

Run with ``nice .venv/bin/python benchmarks/bench_cifar.py`` (not part of ``make bench``: minutes and
several GB). Two structures on 3 x 32 x 32 inputs, random int8 weights (never 0, so every kernel tap is a
synapse), conv and pooling thresholds calibrated on the benchmark images so that about 10 % of each
layer's neurons fire per timestep, discontinuous integration, reset to zero, a membrane-readout output:

* VGG-ish ``64C3-128C3-AP2-256C3-256C3-AP2-10`` (the second conv alone is a 65,536 x 131,072 matrix:
  8.6 G entries dense, 75 M as sparse columns);
* ResNet ``64C3-[64C3-64C3+id]-AP2-[64C3-64C3+id]-AP2-10``: two residual blocks with identity skips.
  A block's second conv and its add are one layer reading (branch, skip) (``Layer.inputs``) with
  stacked weights: the 3x3 kernel from the branch and one synapse of weight ``SKIP_WEIGHT`` from the
  same neuron of the skip.

Average pooling ``AP2`` is a 2 x 2 stride-2 window of weight-1 synapses with a calibrated threshold.
Every layer is built directly as a ``scipy.sparse`` CSC matrix (``hwsim.network.Layer`` accepts sparse
weights; the mapper slices them per tile), mapped with ``placement="greedy"`` on ``mesh64x64_28nm`` and run
on the engine (``hwsim.Chip``) for a few rate-coded random images (uniform pixels, mean spike probability
about 0.5) with T = 4. Each network runs in its own process so that its peak RSS is its own.

Reported per network: cores, partial-sum cores, packets per image, nJ/image and latency (``hwsim.energy``),
images/s and synaptic events/s of the engine, map time, engine compile time, peak RSS after building
the network, after mapping and at the end, and the measured firing rate of each layer.
Writes ``benchmarks/results/cifar.json`` atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

RESULTS = Path(__file__).parent / "results" / "cifar.json"
IMAGE = (3, 32, 32)
T = 4
FIRING = 0.10
SKIP_WEIGHT = 64
NETWORKS = {
    "vgg": "64C3-128C3-AP2-256C3-256C3-AP2-10",
    "resnet": "64C3-[64C3-64C3+id]-AP2-[64C3-64C3+id]-AP2-10",
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def conv3x3_csc(rng: np.random.Generator, c_in: int, c_out: int, side: int, skip: bool = False) -> sp.csc_array:
    """'same' 3x3 stride-1 convolution ``(c_in*side*side, c_out*side*side)`` as CSC, built column-pattern first.

    Every output channel has the same row pattern (the 3x3 windows over all input channels), so one
    plane's pattern is tiled ``c_out`` times; rows of a column ascend as (channel, ky, kx). With ``skip``,
    each column gets one more row after the conv's inputs: the same neuron of the skip source.
    """
    hw = side * side
    y, x = np.divmod(np.arange(hw), side)
    ky, kx = np.divmod(np.arange(9), 3)
    iy, ix = y[:, None] + ky[None, :] - 1, x[:, None] + kx[None, :] - 1  # (hw, 9)
    valid = (iy >= 0) & (iy < side) & (ix >= 0) & (ix < side)
    pixel = iy * side + ix
    rows = (np.arange(c_in)[None, :, None] * hw + pixel[:, None, :])  # (hw, c_in, 9), ascending per position
    mask = np.broadcast_to(valid[:, None, :], rows.shape)
    plane_indices = rows[mask].astype(np.int32)
    per_column = mask.reshape(hw, -1).sum(axis=1)
    tap = np.broadcast_to(np.arange(c_in)[None, :, None] * 9 + np.arange(9)[None, None, :], rows.shape)[mask]
    n_in = c_in * hw
    # int8 weights, never 0: values -127..126 shifted so that 0 becomes 127
    kernels = rng.integers(-127, 127, size=(c_out, c_in * 9)).astype(np.int8)
    kernels[kernels >= 0] += 1
    parts_idx, parts_data, counts = [], [], []
    for co in range(c_out):
        idx, data, cnt = plane_indices, kernels[co][tap], per_column
        if skip:  # append the skip synapse to each column: split per column, add one row
            starts = np.concatenate(([0], np.cumsum(per_column)))
            ins = starts[1:]
            idx = np.insert(idx, ins, (n_in + co * hw + np.arange(hw)).astype(np.int32))
            data = np.insert(data, ins, np.int8(SKIP_WEIGHT))
            cnt = per_column + 1
        parts_idx.append(idx)
        parts_data.append(data)
        counts.append(cnt)
    indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts)))).astype(np.int64)
    index_type = np.int32 if indptr[-1] < 2**31 else np.int64
    shape = (n_in + (c_out * hw if skip else 0), c_out * hw)
    return sp.csc_array((np.concatenate(parts_data), np.concatenate(parts_idx).astype(index_type),
                         indptr.astype(index_type)), shape=shape)


def avgpool2_csc(c: int, side: int) -> sp.csc_array:
    """2x2 stride-2 pooling windows, weight 1, as CSC ``(c*side*side, c*(side//2)**2)``."""
    half = side // 2
    oc, oy, ox = np.meshgrid(np.arange(c), np.arange(half), np.arange(half), indexing="ij")
    base = (oc * side + 2 * oy) * side + 2 * ox  # (c, half, half), C-order = column order
    rows = base.reshape(-1, 1) + np.array([0, 1, side, side + 1])[None, :]  # ascending per column
    n_out = c * half * half
    return sp.csc_array((np.ones(4 * n_out, np.int8), rows.ravel().astype(np.int32),
                         np.arange(0, 4 * n_out + 1, 4, dtype=np.int32)), shape=(c * side * side, n_out))


def readout_csc(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    w = rng.integers(-127, 127, size=(n_in, n_out)).astype(np.int8)
    w[w >= 0] += 1
    return w


class Builder:
    """Layers in order, each threshold calibrated on the images' spikes so that ~FIRING of its neurons fire."""

    def __init__(self, rasters: np.ndarray) -> None:
        self.x = rasters.reshape(-1, rasters.shape[-1]).astype(np.float32)  # (images*T, n_inputs)
        self.outputs: list[np.ndarray] = []  # spikes of each layer, (images*T, n_out), for later layers' inputs
        self.layers: list = []
        self.rates: list[float] = []

    def add(self, name: str, weights, shape, inputs=None, fire: bool = True) -> None:
        from hwsim.network import Layer

        sources = inputs if inputs is not None else (len(self.layers) - 1,)
        x = np.concatenate([self.x if s < 0 else self.outputs[s] for s in sources], axis=1)
        # W^T x^T in float32 (exact: |sums| < 2**24); a column block at a time keeps the float copy small
        v = np.empty((x.shape[0], weights.shape[1]), np.float32)
        step = 8192
        for lo in range(0, weights.shape[1], step):
            block = weights[:, lo : lo + step]
            v[:, lo : lo + step] = (block.T.astype(np.float32) @ x.T).T if sp.issparse(block) else x @ block
        threshold = 0
        if fire:  # of the two whole thresholds around the quantile, the one whose firing is closest to FIRING
            low = max(1, int(np.ceil(np.quantile(v, 1 - FIRING))))
            threshold = min((low, low + 1), key=lambda th: abs(float((v >= th).mean()) - FIRING))
        spikes = (v >= threshold).astype(np.float32) if fire else np.zeros_like(v)
        self.rates.append(float(spikes.mean()))
        self.outputs.append(spikes)
        self.layers.append(Layer(weights, np.zeros(weights.shape[1], np.int32), threshold=threshold,
                                 integration="discontinuous", reset="zero", fire=fire, name=name, shape=shape,
                                 inputs=None if inputs is None else tuple(inputs)))


def build(kind: str, rng: np.random.Generator, rasters: np.ndarray):
    from hwsim.network import Network

    b = Builder(rasters)
    if kind == "vgg":
        b.add("conv1", conv3x3_csc(rng, 3, 64, 32), (64, 32, 32))
        b.add("conv2", conv3x3_csc(rng, 64, 128, 32), (128, 32, 32))
        b.add("pool1", avgpool2_csc(128, 32), (128, 16, 16))
        b.add("conv3", conv3x3_csc(rng, 128, 256, 16), (256, 16, 16))
        b.add("conv4", conv3x3_csc(rng, 256, 256, 16), (256, 16, 16))
        b.add("pool2", avgpool2_csc(256, 16), (256, 8, 8))
        b.add("fc", readout_csc(rng, 256 * 8 * 8, 10), None, fire=False)
    else:
        b.add("stem", conv3x3_csc(rng, 3, 64, 32), (64, 32, 32))
        b.add("block1a", conv3x3_csc(rng, 64, 64, 32), (64, 32, 32))
        b.add("block1b_add", conv3x3_csc(rng, 64, 64, 32, skip=True), (64, 32, 32), inputs=(1, 0))
        b.add("pool1", avgpool2_csc(64, 32), (64, 16, 16))
        b.add("block2a", conv3x3_csc(rng, 64, 64, 16), (64, 16, 16))
        b.add("block2b_add", conv3x3_csc(rng, 64, 64, 16, skip=True), (64, 16, 16), inputs=(4, 3))
        b.add("pool2", avgpool2_csc(64, 16), (64, 8, 8))
        b.add("fc", readout_csc(rng, 64 * 8 * 8, 10), None, fire=False)
    net = Network(b.layers, metadata={"name": f"random-{NETWORKS[kind]}", "w_bits": 8, "v_bits": 16,
                                      "timesteps": T, "encoding": "rate"})
    return net, b.rates


def run_one(kind: str, chip_name: str, images: int, check: bool = False) -> dict:
    from hwsim.chip import Chip
    from hwsim.config import load_chip_config
    from hwsim.encoding import rate_encode
    from hwsim.energy import estimate
    from mapping import plan

    rng = np.random.default_rng(2026)
    rasters = rate_encode(np.random.default_rng(5).random((images, int(np.prod(IMAGE)))), T, seed=7)
    t0 = time.perf_counter()
    net, calibrated_rates = build(kind, rng, rasters)
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mb()
    chip_config = load_chip_config(chip_name)
    t0 = time.perf_counter()
    mapped = plan(net, chip_config, placement="greedy")
    map_s = time.perf_counter() - t0
    rss_mapped = peak_rss_mb()
    program = mapped.program
    del mapped
    t0 = time.perf_counter()
    chip = Chip.from_program(program)
    chip.run(rasters[:1])
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res = chip.run(rasters)
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    sops = int(res.counter("synaptic_ops").sum())
    energy = estimate(res, program)
    checked = {}
    if check:  # the whole network by hwsim.network.simulate_network (sparse layers), against the engine
        from hwsim.network import simulate_network

        ref = simulate_network(net, rasters, chip_config.core.v_bits)
        checked = {"same_output_as_simulate_network": bool(np.array_equal(ref[-1][0], res.output_membranes)),
                   "simulated_firing": [float(spikes.mean()) for _, spikes in ref]}
    return {
        "network": kind,
        "architecture": NETWORKS[kind],
        "chip": chip_name,
        "images": images,
        "timesteps": T,
        "input_spike_prob": float(rasters.mean()),
        "layers": [{"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out,
                    "stored_weights": int(layer.weights.nnz if layer.is_sparse else layer.weights.size),
                    "dense_entries": layer.n_in * layer.n_out, "threshold": layer.threshold,
                    "calibrated_firing": rate} for layer, rate in zip(net.layers, calibrated_rates)],
        "cores": len(program.cores),
        "partial_sum_cores": sum(bool(cp.psum_out) for cp in program.cores),
        "packets_per_image": float(res.counter("packets").sum() + res.host_counters[..., 0].sum()) / images,
        "synaptic_events_per_image": sops / images,
        "energy_nj_per_image": energy.energy_nj_per_image,
        "latency_us_per_image": energy.latency_us_per_image,
        "images_per_s": images / run_s,
        "syn_events_per_s": sops / run_s,
        "run_s": run_s,
        "run_cpu_s": cpu_s,
        "build_s": build_s,
        "map_s": map_s,
        "compile_and_first_image_s": compile_s,
        "peak_rss_mb_after_build": rss_built,
        "peak_rss_mb_after_map": rss_mapped,
        "peak_rss_mb": peak_rss_mb(),
        **checked,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4, help="images per network (default 4)")
    parser.add_argument("--chip", default="mesh64x64_28nm", help="chip preset (default mesh64x64_28nm)")
    parser.add_argument("--networks", default="vgg,resnet", help="comma-separated: vgg, resnet")
    parser.add_argument("--check", action="store_true",
                        help="also run simulate_network on the sparse network and compare outputs (more memory)")
    parser.add_argument("--one", choices=sorted(NETWORKS), help=argparse.SUPPRESS)  # the per-network process
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.one:
        import faulthandler
        import signal

        faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints where a long run is
        print(json.dumps(run_one(args.one, args.chip, args.images, args.check)))
        return 0
    from hwsim.writers import atomic_write_bytes

    entries = []
    for kind in args.networks.split(","):
        cmd = [sys.executable, __file__, "--one", kind, "--chip", args.chip, "--images", str(args.images),
               *(["--check"] if args.check else [])]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        entries.append(json.loads(out.strip().splitlines()[-1]))
        e = entries[-1]
        print(f"{kind}: {e['architecture']} on {e['chip']}: {e['cores']} cores ({e['partial_sum_cores']} partial-sum), "
              f"{e['packets_per_image']:.0f} packets/image, {e['energy_nj_per_image']:.0f} nJ/image, "
              f"{e['latency_us_per_image']:.1f} us/image, {e['images_per_s']:.2f} images/s, "
              f"{e['syn_events_per_s'] / 1e6:.1f} M syn-ev/s; map {e['map_s']:.0f} s, "
              f"peak RSS {e['peak_rss_mb']:.0f} MB",
              flush=True)
    report = {
        "benchmark": "CIFAR-size conv SNNs (3x32x32, T=4) mapped with sparse layers and run on the engine",
        "network": "random int8 weights (nonzero), thresholds calibrated for ~10% firing per layer, "
                   "average pooling as weight-1 windows, membrane readout",
        "timing": "one run each, wall clock, Numba compile excluded from images/s; machine shared and loaded",
        "entries": entries,
        "load_average_at_end": list(os.getloadavg()),
    }
    atomic_write_bytes(args.output, (json.dumps(report, indent=2) + "\n").encode())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

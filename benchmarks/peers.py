"""Peer comparison: the issue workload through the engine, a dense NumPy reference, Brian2 and snnTorch.

Run with ``.venv/bin/python benchmarks/peers.py`` (``make bench`` runs it after the engine benchmark).
The workload is ``bench_engine``'s: the 784-256-256-10 LIF network (continuous integration, leak
``v -= v >> 4``, subtract reset, int8 weights, zero bias), Bernoulli inputs at p = 0.1 with every
layer firing at about that rate, T = 16, 1,000 samples. Entries:

* the engine (``hwsim.Chip``, 2 threads, full cycle and counter accounting);
* dense NumPy float32, batch 1,000: per timestep one matrix product per layer for the whole batch (BLAS
  on all cores), then leak, compare, reset; its output spikes must equal the engine's (checked: the sums
  stay exact in float32 and never reach the int16 rails);
* Brian2 in C++ standalone mode (``pip install brian2``, a C++ compiler), when installed: the same weights
  and thresholds as event-driven synapses (``v_post += w``) and a ``run_regularly`` leak; a layer sees its
  inputs one timestep later than on the chip (Brian2 applies a step's spikes after its thresholds), so its
  spikes are not compared; the timed part is the compiled binary's run (``device.run``), not the build;
* snnTorch (``pip install snntorch``, which needs PyTorch), when installed: ``nn.Linear`` + ``snn.Leaky``
  (beta = 15/16, subtract reset), float32, batch 1,000, all torch threads.

A missing peer is skipped with a message. Interleaved rounds, median and spread of each peer's time
over the engine's in the same round. Prints the ratios and merges ``peers`` and ``ratio_vs_dense``
into ``benchmarks/results/latest.json`` (read, update, write atomically).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from bench_engine import (  # same folder; also drops the BLAS env and picks a fresh Numba cache
    DENSE_P,
    ISSUE_SIZES,
    LEAK_SHIFT,
    RESULTS,
    T,
    bernoulli_raster,
    issue_network,
    machine,
    merge_results,
    spread,
    timed_rounds,
    versions,
    with_threads,
)

from hwsim.chip import Chip
from hwsim.config import load_chip_config
from hwsim.network import Network
from mapping import map_network


def dense_numpy(network: Network, raster: np.ndarray) -> np.ndarray:
    """Dense float32 LIF, the whole batch at once; returns the last layer's spikes ``(B, T, n_out)``."""
    ws = [layer.weights.astype(np.float32) for layer in network.layers]
    ths = [np.float32(layer.threshold) for layer in network.layers]
    scale = np.float32(2**LEAK_SHIFT)
    B = raster.shape[0]
    vs = [np.zeros((B, w.shape[1]), np.float32) for w in ws]
    out = np.zeros((B, raster.shape[1], ws[-1].shape[1]), np.uint8)
    for t in range(raster.shape[1]):
        x = raster[:, t].astype(np.float32)
        for w, v, th in zip(ws, vs, ths):
            v += x @ w  # integer sums far below 2^24: exact in float32
            v -= np.floor(v / scale)  # v >> 4 is floor division by 16
            fired = v >= th
            v -= th * fired
            x = fired.astype(np.float32)
        out[:, t] = x
    return out


def brian2_runner(network: Network, raster: np.ndarray, build_dir: Path):
    """The workload as a Brian2 C++ standalone project, built once; returns a function that runs it."""
    import brian2 as b2

    b2.set_device("cpp_standalone", directory=str(build_dir), build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 2
    B, steps, n_in = raster.shape
    b2.defaultclock.dt = 1 * b2.ms
    idx_b, idx_t, idx_i = np.nonzero(raster)
    source = b2.SpikeGeneratorGroup(n_in, idx_i, (idx_b * steps + idx_t) * b2.ms)
    groups, synapses = [], []
    pre = source
    for k, layer in enumerate(network.layers):
        g = b2.NeuronGroup(layer.n_out, "v : 1", threshold=f"v >= {layer.threshold}",
                           reset=f"v -= {layer.threshold}", method="exact", name=f"layer{k}")  # fmt: skip
        # leak once per timestep, and membranes back to 0 at every new sample
        g.run_regularly(f"v = v - floor(v / {2**LEAK_SHIFT})", dt=1 * b2.ms, when="before_thresholds")
        g.run_regularly("v = 0", dt=steps * b2.ms, when="start")
        s = b2.Synapses(pre, g, "w : 1", on_pre="v_post += w", name=f"fc{k}")
        rows, cols = np.nonzero(layer.weights)
        s.connect(i=rows, j=cols)
        s.w = layer.weights[rows, cols].astype(float)
        groups.append(g)
        synapses.append(s)
        pre = g
    monitor = b2.SpikeMonitor(groups[-1])
    b2.run(B * steps * b2.ms)
    b2.device.build(run=False)

    def run() -> int:
        b2.device.run()
        return int(monitor.num_spikes)

    return run


def snntorch_runner(network: Network, raster: np.ndarray):
    """The workload as snnTorch layers; returns a function that runs the whole batch."""
    import snntorch as snn
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    linears, neurons = [], []
    for layer in network.layers:
        lin = torch.nn.Linear(layer.n_in, layer.n_out, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.weights.T.astype(np.float32)))
        linears.append(lin)
        neurons.append(
            snn.Leaky(beta=1 - 2.0**-LEAK_SHIFT, threshold=float(layer.threshold), reset_mechanism="subtract")
        )
    x_all = torch.from_numpy(raster.astype(np.float32))

    @torch.no_grad()
    def run() -> int:
        mems = [n.init_leaky() for n in neurons]
        total = 0
        for t in range(raster.shape[1]):
            x = x_all[:, t]
            for k, (lin, neuron) in enumerate(zip(linears, neurons)):
                x, mems[k] = neuron(lin(x), mems[k])
            total += int(x.sum())
        return total

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    network = issue_network(DENSE_P)
    raster = bernoulli_raster(7, args.samples, ISSUE_SIZES[0], DENSE_P)
    chip = Chip.from_program(map_network(network, load_chip_config("default_28nm"), placement="row_major"))
    chip.run(raster[:2])
    entries = {"engine_2_threads": with_threads(2, lambda: chip.run(raster)),
               "dense_numpy_float32": lambda: dense_numpy(network, raster)}  # fmt: skip
    skipped = {}
    try:
        build = tempfile.mkdtemp(prefix="hwsim-brian2-")
        entries["brian2_cpp_standalone"] = brian2_runner(network, raster, Path(build))
    except ImportError:
        skipped["brian2_cpp_standalone"] = "brian2 is not installed (pip install brian2; needs a C++ compiler)"
    except Exception as exc:  # noqa: BLE001 - a peer that fails to build is reported, not fatal
        skipped["brian2_cpp_standalone"] = f"brian2 failed: {type(exc).__name__}: {exc}"
    try:
        entries["snntorch"] = snntorch_runner(network, raster)
    except ImportError:
        skipped["snntorch"] = "snntorch is not installed (pip install snntorch; needs PyTorch)"
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")

    times, shares, results = timed_rounds(entries, args.repeats)
    engine = results["engine_2_threads"]
    same = bool(np.array_equal(results["dense_numpy_float32"], engine.output_spikes))
    peers = {}
    for name in entries:
        t = np.asarray(times[name])
        peers[name] = {"ms": spread(t * 1e3), "samples_per_s": args.samples / float(np.median(t)),
                       "engine_speedup": spread(t / np.asarray(times["engine_2_threads"]))}  # fmt: skip
    peers["dense_numpy_float32"]["same_output_spikes_as_engine"] = same
    report = {
        "peers": {
            "workload": f"784-256-256-10 LIF, p = {DENSE_P}, T = {T}, {args.samples} samples",
            "entries": peers,
            "skipped": skipped,
            "others_share_per_round": shares,
            "rounds": args.repeats,
            "machine": machine(),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "numba_threads": numba.get_num_threads(),
        },
        "ratio_vs_dense": peers["dense_numpy_float32"]["engine_speedup"]["median"],
    }
    merge_results(args.output, report)
    print(f"{'peer':24s} {'median ms':>10s} {'samples/s':>10s} {'engine speed-up (median [min..max])':>36s}")
    for name, p in peers.items():
        s = p["engine_speedup"]
        print(f"{name:24s} {p['ms']['median']:10.1f} {p['samples_per_s']:10.0f} "
              f"{s['median']:12.2f} [{s['min']:.2f} .. {s['max']:.2f}]")  # fmt: skip
    print(f"dense NumPy == engine output spikes: {same}; load average {os.getloadavg()[0]:.1f}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

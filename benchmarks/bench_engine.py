"""Engine benchmark: the engine against a hand-written event kernel, thread scaling, cost that follows events.

Run with ``make bench`` (``.venv/bin/python benchmarks/bench_engine.py``). In one process, interleaved
rounds (every entry once per round, the order rotated from round to round), it measures:

* the issue workload: a 784-256-256-10 LIF network (continuous integration, leak ``v -= v >> 4``,
  subtract reset, random int8 weights, zero bias) on the default chip (3 cores), Bernoulli input rasters
  at spike probability 0.1, hidden and output thresholds calibrated so those layers fire at about the
  input's rate, T = 16, 1,000 samples; and the same weights at p = 0.02 with thresholds calibrated for
  ~2 % firing (the sparse point);
* the reference workload: 784-1024-1024-10 (discontinuous integration, ~10 % hidden firing, p = 0.13,
  4 + 4 + 1 cores), 1,000 samples, T = 16;
* on each: the engine (``hwsim.Chip.run``, full cycle and counter accounting) on 2 threads and on
  1 thread, and :func:`hand_kernel`: a minimal event-driven Numba loop (sequential, int8 weights,
  int16 membranes, no cycles, no counters, one thread; its arrays 64-byte aligned, its best case).
  The hand kernel's output spikes must equal the engine's (checked);
* thread scaling in separate processes (``--processes``, default 3): each builds the engine anew
  and times 1 and 2 threads in interleaved rounds, so process-to-process variation shows;
* a per-phase profile of the engine at p = 0, 0.02 and 0.1 on one thread (``profile`` in the JSON);
* the golden model on 2 samples of the reference workload (same counters as the engine, checked).

Keys: ``ratio_vs_hand_kernel`` (hand kernel time / engine time on 2 threads, same round, issue
workload, median over rounds, with min/max), ``thread_scaling`` (1-thread / 2-thread time),
``sparsity_efficiency`` = (time ratio) / (event ratio) between p = 0.1 and p = 0.02 on 2 threads,
``reference_syn_events_per_s`` (the engine on 2 threads on the reference workload). Rounds where
other processes took more than 10 % of the machine's CPUs (from ``/proc/stat``, minus this process)
are discarded; when fewer than 3 rounds are left, all rounds are used and ``loaded`` says so.

Timings exclude Numba compilation (a warm-up run first; compile time into a fresh cache is reported).
BLAS fairness: some machines set ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``, which can make OpenBLAS
pick slow kernels; this script re-executes itself without them before importing NumPy
(``--keep-blas-env`` keeps them). ``benchmarks/bench_conv.py`` imports :class:`Timed`,
:func:`machine` and :func:`versions` from here (and with them the same environment).

Writes ``benchmarks/results/latest.json`` atomically: read, update this script's keys, write (other
benchmarks, ``benchmarks/peers.py`` for one, merge their own keys into the same file).
"""

from __future__ import annotations

import os
import sys

_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if "--keep-blas-env" not in sys.argv and any(v in os.environ for v in _BLAS_VARS):
    removed = {v: os.environ.pop(v) for v in _BLAS_VARS if v in os.environ}
    os.environ["HWSIM_BENCH_REMOVED_ENV"] = ";".join(f"{k}={v}" for k, v in removed.items())
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse  # noqa: E402
import atexit  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

if "NUMBA_CACHE_DIR" not in os.environ:
    # a fresh cache, so the reported compile time is a real compile; removed at exit (child processes share it)
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="hwsim-bench-numba-")
    atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], ignore_errors=True)

import numba  # noqa: E402
import numpy as np  # noqa: E402

import hwsim  # noqa: E402
import hwsim.chip as chip_module  # noqa: E402
from hwsim.chip import Chip, _Scratch  # noqa: E402
from hwsim.config import load_chip_config  # noqa: E402
from hwsim.golden import simulate  # noqa: E402
from hwsim.kernels.core import integrate_spikes, update_neurons  # noqa: E402
from hwsim.kernels.host_port import host_timestep  # noqa: E402
from hwsim.network import Layer, Network, simulate_network  # noqa: E402
from mapping import map_network  # noqa: E402
from results_file import merge_results, spread  # noqa: E402  (same folder)

RESULTS = Path(__file__).parent / "results" / "latest.json"
T = 16
ISSUE_SIZES = (784, 256, 256, 10)
REFERENCE_SIZES = (784, 1024, 1024, 10)
LEAK_SHIFT = 4
DENSE_P, SPARSE_P, REFERENCE_P = 0.1, 0.02, 0.13
OTHERS_MAX = 0.10  # a round where other processes used more than this share of all CPUs is discarded


# ------------------------------------------------------------------ workloads
def bernoulli_raster(seed: int, n: int, n_inputs: int, p: float) -> np.ndarray:
    """``(n, T, n_inputs)`` uint8 input spikes, each 1 with probability ``p``."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, T, n_inputs), dtype=np.float32) < p).astype(np.uint8)


def calibrated_layers(weights: list[np.ndarray], raster: np.ndarray, rates: list[float], **modes) -> list[Layer]:
    """Layers with thresholds set (bisection, layer by layer) so that layer k fires at about ``rates[k]``."""
    layers, x = [], raster
    for k, (w, rate) in enumerate(zip(weights, rates)):
        bias = np.zeros(w.shape[1], np.int32)

        def layer(th: int, k=k, w=w, bias=bias) -> Layer:
            return Layer(w, bias, threshold=th, name=f"fc{k}", **modes)

        lo, hi = 0, 32767
        while lo < hi:
            mid = (lo + hi) // 2
            if simulate_network(Network([layer(mid)]), x, 16)[0][1].mean() > rate:
                lo = mid + 1
            else:
                hi = mid
        layers.append(layer(lo))
        x = simulate_network(Network([layers[-1]]), x, 16)[0][1]
    return layers


def issue_network(p: float, seed: int = 2017) -> Network:
    """The issue's 784-256-256-10 LIF network; every layer calibrated to fire at about the input rate ``p``."""
    rng = np.random.default_rng(seed)  # the same weights for every p
    weights = [rng.integers(-128, 128, (a, b)).astype(np.int8) for a, b in zip(ISSUE_SIZES[:-1], ISSUE_SIZES[1:])]
    layers = calibrated_layers(weights, bernoulli_raster(seed + 1, 64, ISSUE_SIZES[0], p), [p] * 3,
                               leak_shift=LEAK_SHIFT, integration="continuous", reset="subtract")  # fmt: skip
    return Network(layers, metadata={"name": f"issue-784-256-256-10-p{p}", "w_bits": 8, "v_bits": 16})


def reference_network(seed: int = 2017) -> Network:
    """784-1024-1024-10, discontinuous integration, ~10 % hidden firing at input p = 0.13."""
    rng = np.random.default_rng(seed)
    weights = [rng.integers(-128, 128, (a, b)).astype(np.int8)
               for a, b in zip(REFERENCE_SIZES[:-1], REFERENCE_SIZES[1:])]  # fmt: skip
    layers = calibrated_layers(weights, bernoulli_raster(seed + 1, 16, REFERENCE_SIZES[0], REFERENCE_P),
                               [0.1, 0.1, 0.3], integration="discontinuous")  # fmt: skip
    return Network(layers, metadata={"name": "reference-784-1024-1024-10", "w_bits": 8, "v_bits": 16})


# ---------------------------------------------------------- the hand kernel
@numba.njit(cache=True, nogil=True, boundscheck=False)
def hand_kernel(raster, w0, w1, w2, th0, th1, th2, leak_shift, continuous, out_spikes):
    """A minimal event-driven 3-layer LIF loop: int8 weights, int16 membranes, no cycles, no counters.

    Semantics of the chip with zero bias and no saturation (the benchmark's sums stay in int16; the
    output spikes are checked against the engine's). Writes the last layer's spikes to ``out_spikes``
    ``(B, T, n_out)``; returns the synaptic events (spikes x fan-out).
    """
    B, steps, n_in = raster.shape
    v0, v1, v2 = np.zeros(w0.shape[1], np.int16), np.zeros(w1.shape[1], np.int16), np.zeros(w2.shape[1], np.int16)
    width = max(n_in, w0.shape[1], w1.shape[1], w2.shape[1])
    src, dst = np.empty(width, np.int32), np.empty(width, np.int32)
    events = 0
    for b in range(B):
        v0[:] = 0
        v1[:] = 0
        v2[:] = 0
        for t in range(steps):
            n = 0
            for i in range(n_in):
                if raster[b, t, i]:
                    src[n] = i
                    n += 1
            for layer in range(3):
                w, v, th = (w0, v0, th0) if layer == 0 else ((w1, v1, th1) if layer == 1 else (w2, v2, th2))
                if not continuous:
                    v[:] = 0
                for q in range(n):
                    a = src[q]
                    for j in range(v.shape[0]):
                        v[j] += w[a, j]
                events += n * v.shape[0]
                m = 0
                for j in range(v.shape[0]):
                    x = v[j] - (v[j] >> leak_shift) if leak_shift > 0 else v[j]
                    if x >= th:
                        x -= th
                        dst[m] = j
                        m += 1
                    v[j] = x
                src, dst, n = dst, src, m
            for q in range(n):
                out_spikes[b, t, src[q]] = 1
    return events


def aligned_weights(layer: Layer) -> np.ndarray:
    """A layer's weights as int8 on a 64-byte boundary (as the engine's weight SRAM)."""
    return _Scratch.aligned(np.ascontiguousarray(layer.weights, np.int8).ravel()).reshape(layer.weights.shape)


class HandKernel:
    """The hand kernel bound to a network (weights copied to 64-byte aligned arrays)."""

    def __init__(self, network: Network) -> None:
        layers = network.layers
        self.weights = [aligned_weights(layer) for layer in layers]
        self.thresholds = [int(layer.threshold) for layer in layers]
        self.leak_shift = int(layers[0].leak_shift)
        self.continuous = layers[0].integration == "continuous"
        self.n_out = layers[-1].n_out

    def __call__(self, raster: np.ndarray) -> tuple[np.ndarray, int]:
        out = np.zeros(raster.shape[:2] + (self.n_out,), np.uint8)
        events = hand_kernel(raster, *self.weights, *self.thresholds, self.leak_shift, self.continuous, out)
        return out, events


# --------------------------------------------------------------- measuring
def _busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (``/proc/stat``, 10 ms resolution)."""
    with open("/proc/stat") as fh:
        values = [int(x) for x in fh.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class Round:
    """A round of entries: how much of the machine's CPU other processes used meanwhile."""

    def __enter__(self) -> Round:
        self.busy, self.cpu, self.wall = _busy_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.wall
        others = (_busy_seconds() - self.busy) - (time.process_time() - self.cpu)
        self.others_share = max(0.0, others) / (wall * os.cpu_count())


def with_threads(n: int, fn):
    def run():
        numba.set_num_threads(n)
        return fn()

    return run


def timed_rounds(entries: dict, rounds: int) -> tuple[dict[str, list[float]], list[float], dict]:
    """Each entry once per round, the order rotated each round; returns (times per entry, others' share per
    round, last result per entry)."""
    times: dict[str, list[float]] = {name: [] for name in entries}
    shares, results = [], {}
    names = list(entries)
    for r in range(rounds):
        with Round() as rnd:
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t0 = time.perf_counter()
                results[name] = entries[name]()
                times[name].append(time.perf_counter() - t0)
        shares.append(rnd.others_share)
    return times, shares, results


def clean_rounds(shares: list[float]) -> tuple[np.ndarray, bool]:
    """Indices of the rounds kept and whether the machine was too loaded to keep only quiet ones."""
    quiet = np.flatnonzero(np.asarray(shares) <= OTHERS_MAX)
    if quiet.size >= 3:
        return quiet, False
    return np.arange(len(shares)), True


def per_round_ratio(times: dict, num: str, den: str, keep: np.ndarray) -> dict:
    return spread(np.asarray(times[num])[keep] / np.asarray(times[den])[keep])


# --------------------------------------------------------------- the profile
@numba.njit(cache=True, nogil=True)
def _repeat_update(v_start, v, bias, threshold, leak_shift, fired, spikes, calls):
    n = 0
    for _ in range(calls):
        v[:] = v_start
        n += update_neurons(v, bias, threshold, leak_shift, True, False, -32768, 32767, fired, spikes, 0)
    return n


@numba.njit(cache=True, nogil=True)
def _repeat_copy(v_start, v, calls):
    for _ in range(calls):
        v[:] = v_start
    return v[0]


@numba.njit(cache=True, nogil=True)
def _repeat_host(words, lo, hi, hops, spikes, counters, calls):
    n = 0
    for c in range(calls):
        row = c % words.shape[0]
        n += host_timestep(words[row], False, lo, hi, hops, 1, 1, spikes, 0, counters[row])[0]
    return n


@numba.njit(cache=True, nogil=True)
def _repeat_integrate(v, w, axon_sets, n_spk, calls):
    # axon_sets (n_sets, n_spk): a different set of rows each call, so rows come from L2 as in a run
    for c in range(calls):
        v[:] = 0
        integrate_spikes(v, w, axon_sets[c % axon_sets.shape[0]], n_spk, -32768, 32767, 127, 128, 0, 0)
    return v[0]


def _axon_sets(rng: np.random.Generator, n_axons: int, n_spk: int, n_sets: int = 64) -> np.ndarray:
    return np.stack([np.sort(rng.choice(n_axons, n_spk, replace=False)) for _ in range(n_sets)]).astype(np.int32)


def _thread_seconds(fn, *args, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        fn(*args)
        best = min(best, time.thread_time() - t0)
    return best


def profile_engine(chip: Chip, network: Network, rasters: dict[float, np.ndarray]) -> dict:
    """Where one thread's time goes, per 1,000 samples, in CPU time of the calling thread (robust to other
    processes; best of 5): ``Chip.run``, its time inside ``chip_pass``, the phases measured by their own
    kernels on this workload's data, the kernel's rest by difference."""
    numba.set_num_threads(1)
    n_neurons = [layer.n_out for layer in network.layers]
    inside = [0.0]
    kernel = chip_module.chip_pass

    def timed_kernel(*args):
        # one thread: the kernel runs in this (the calling) thread, so thread CPU time is its time
        t0 = time.thread_time()
        try:
            return kernel(*args)
        finally:
            inside[0] += time.thread_time() - t0

    rng = np.random.default_rng(3)
    out = {}
    for p, raster in rasters.items():
        B = raster.shape[0]
        calls = B * T
        best_run, best_inside = float("inf"), 0.0
        chip_module.chip_pass = timed_kernel
        try:
            for _ in range(5):
                inside[0] = 0.0
                t0 = time.thread_time()
                result = chip.run(raster)
                run = time.thread_time() - t0
                if run < best_run:
                    best_run, best_inside = run, inside[0]
        finally:
            chip_module.chip_pass = kernel
        spikes_out = result.counter("output_spikes").sum(axis=(0, 1))
        axon_events = result.counter("axon_events").sum(axis=(0, 1))
        # neuron update: each core's 256 (or 10) membranes, a fraction at the measured rate above threshold
        update = 0.0
        for k, n in enumerate(n_neurons):
            rate = float(spikes_out[k]) / (calls * n)
            th = int(network.layers[k].threshold)
            v_start = np.where(rng.random(n) < rate, th + 5, th // 2).astype(np.int16)
            v, bias = _Scratch.empty(n, np.int16), np.zeros(n, np.int16)
            fired, spk = np.empty(n, np.uint8), np.empty(n, np.int16)
            per_call = (_thread_seconds(_repeat_update, v_start, v, bias, th, LEAK_SHIFT, fired, spk, calls)
                        - _thread_seconds(_repeat_copy, v_start, v, calls))  # fmt: skip
            update += max(0.0, per_call)
        # spike scan: the host port on this raster's rows (spike list + its route count)
        words = raster.reshape(calls, -1).view(np.uint64)
        lo, hi, hops = np.array([0]), np.array([ISSUE_SIZES[0]]), np.array([1])
        scan = _thread_seconds(_repeat_host, words, lo, hi, hops, np.empty(words.shape[1] * 8, np.int16),
                               np.zeros((calls, 3), np.int64), calls)  # fmt: skip
        # integrate: the measured axon events of each core, as rows added to its membranes
        integrate = 0.0
        for k, n in enumerate(n_neurons):
            w = aligned_weights(network.layers[k])
            per_step = int(round(axon_events[k] / calls))
            if per_step == 0:
                continue
            axons = _axon_sets(rng, w.shape[0], per_step)
            integrate += _thread_seconds(_repeat_integrate, _Scratch.empty(n, np.int16), w, axons, per_step, calls)
        scale = 1000.0 / B * 1e3  # ms per 1,000 samples
        kernel_ms = best_inside * scale
        phases = {"neuron_update_ms": update * scale, "spike_scan_host_port_ms": scan * scale,
                  "integrate_ms": integrate * scale}  # fmt: skip
        out[f"p{p}"] = {
            "run_ms": best_run * scale,
            "inside_kernel_ms": kernel_ms,
            "python_around_kernel_ms": (best_run - best_inside) * scale,
            **phases,
            "kernel_rest_ms": kernel_ms - sum(phases.values()),
            "synaptic_events": int(result.counter("synaptic_ops").sum()),
        }
    out["note"] = ("1 thread, per 1,000 samples. neuron_update, spike_scan_host_port and integrate: each phase's "
                   "own kernel on this workload's data (CPU time, best of 5; integrate: 64 different row "
                   "sets, so rows come from L2, but not evicted by the input stream as in a run); "
                   "kernel_rest: the kernel's time minus those (axon gather, route counts, counters and cycle "
                   "accounting, output writes); "
                   "python_around_kernel: Chip.run's CPU time minus its time inside chip_pass (allocation, "
                   "tasks, chip-level cycle sums per chunk)")  # fmt: skip
    return out


def alignment_effect() -> dict:
    """ns per weight row added to 256 int16 membranes (78 rows per call, 64 different sets), membranes and
    weights at byte offsets 0 or 16 from a 64-byte boundary: what the engine's aligned arrays remove."""
    rng = np.random.default_rng(0)
    w0 = rng.integers(-128, 128, (784, 256)).astype(np.int8)
    axons = _axon_sets(rng, 784, 78)
    calls = 20_000

    def at(nbytes: int, offset: int) -> np.ndarray:
        return _Scratch.empty(nbytes + offset, np.uint8)[offset:]

    out = {}
    for v_off in (0, 16):
        for w_off in (0, 16):
            v = at(512, v_off).view(np.int16)
            w = at(w0.nbytes, w_off).reshape(w0.shape).view(np.int8)
            w[:] = w0
            secs = _thread_seconds(_repeat_integrate, v, w, axons, 78, calls)
            out[f"v+{v_off}_w+{w_off}_ns_per_row"] = secs / calls / 78 * 1e9
    return out


# ------------------------------------------------------------ thread scaling
def scaling_child(network_file: str, rounds: int) -> dict:
    """One process: the engine on the issue workload, 1 and 2 threads, interleaved rounds."""
    network = Network.load(network_file)
    chip = Chip.from_program(map_network(network, load_chip_config("default_28nm"), placement="row_major"))
    raster = bernoulli_raster(7, 1000, ISSUE_SIZES[0], DENSE_P)
    chip.run(raster[:32])
    entries = {"threads_1": with_threads(1, lambda: chip.run(raster)),
               "threads_2": with_threads(2, lambda: chip.run(raster))}  # fmt: skip
    times, shares, _ = timed_rounds(entries, rounds)
    return {"times": times, "others_share": shares, "weights_offset_mod64": int(chip._plan.weights.w.ctypes.data % 64)}


def thread_scaling_processes(network_file: str, processes: int, rounds: int) -> dict:
    runs = []
    for _ in range(processes):
        cmd = [sys.executable, __file__, "--scaling-child", network_file, "--repeats", str(rounds)]
        runs.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    per_process, all_ratios, one_thread, loaded = [], [], [], False
    for run in runs:
        keep, was_loaded = clean_rounds(run["others_share"])
        loaded |= was_loaded
        ratio = per_round_ratio(run["times"], "threads_1", "threads_2", keep)
        t1 = np.asarray(run["times"]["threads_1"])[keep]
        per_process.append({"thread_scaling": ratio, "one_thread_ms_per_1000": spread(t1 * 1e3),
                            "others_share": run["others_share"], "rounds_kept": int(keep.size),
                            "weights_offset_mod64": run["weights_offset_mod64"]})  # fmt: skip
        all_ratios += list(np.asarray(run["times"]["threads_1"])[keep] / np.asarray(run["times"]["threads_2"])[keep])
        one_thread.append(float(np.median(t1)) * 1e3)
    return {"thread_scaling": spread(all_ratios), "one_thread_ms_median_per_process": one_thread,
            "loaded": loaded, "processes": per_process}  # fmt: skip


# -------------------------------------------------------------------- report
class PeakRSS:
    """Peak resident memory of this process while a block runs (samples /proc every 2 ms)."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @property
    def mb(self) -> float:
        return self.peak / 2**20


class Timed:
    """One benchmark entry (used by bench_conv.py): call it once per round; keeps the best wall time, its CPU
    time, peak RSS."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.seconds = float("inf")
        self.cpu_seconds = 0.0
        self.rss_start_mb = None
        self.peak_rss_mb = 0.0
        self.result = None

    def __call__(self) -> None:
        self.result = None  # let the previous result go before measuring memory
        with PeakRSS() as rss:
            t0, c0 = time.perf_counter(), time.process_time()
            result = self.fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.result = result
        if self.rss_start_mb is None:
            self.rss_start_mb = rss.start / 2**20
        self.peak_rss_mb = max(self.peak_rss_mb, rss.mb)
        if wall < self.seconds:
            self.seconds, self.cpu_seconds = wall, cpu

    def fields(self, images: int, sops: int) -> dict:
        return {
            "images": images,
            "timesteps": T,
            "seconds": self.seconds,
            "images_per_s": images / self.seconds,
            "synaptic_ops": sops,
            "syn_events_per_s": sops / self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "syn_events_per_cpu_s": sops / self.cpu_seconds if self.cpu_seconds else None,
            "rss_at_start_mb": self.rss_start_mb,
            "peak_rss_mb": self.peak_rss_mb,
        }


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")
        blas_cfg = cfg["Build Dependencies"]["blas"]
        blas = blas_cfg.get("name", "") + " " + blas_cfg.get("version", "")
    except Exception:  # noqa: BLE001 - informative only
        pass
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer_unused": "the engine runs its own Python threads (nogil kernels), not parfor",
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
        "blas": blas.strip(),
        "blas_env_removed": os.environ.get("HWSIM_BENCH_REMOVED_ENV", ""),
        "blas_env_now": {v: os.environ.get(v) for v in _BLAS_VARS},
    }


def versions() -> dict:
    return {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "hwsim": hwsim.__version__}  # fmt: skip


# Top-level keys of this script's earlier versions, replaced by "engine_benchmark" and the ratios.
_OLD_KEYS = (
    "benchmark",
    "network",
    "timing",
    "compile_s",
    "compile_note",
    "entries",
    "ratio_vs_golden",
    "speedup_p0.1_to_p0.02",
    "speedup_p0.1_to_p0.02_cpu_time",
    "hidden_firing_rates_reference",
    "targets",
    "load_average_at_end",
    "machine",
    "versions",
)


def entry_summary(times: list[float], keep: np.ndarray, events: int, samples: int) -> dict:
    t = np.asarray(times)[keep]
    return {"ms": spread(t * 1e3), "samples_per_s": samples / float(np.median(t)),
            "syn_events": events, "g_syn_events_per_s": events / float(np.median(t)) / 1e9}  # fmt: skip


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="samples per workload (default 1000)")
    parser.add_argument("--repeats", type=int, default=12, help="interleaved rounds (default 12)")
    parser.add_argument("--processes", type=int, default=3, help="processes of the thread-scaling test (0 = skip)")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-phase profile")
    parser.add_argument("--keep-blas-env", action="store_true", help="do not drop OPENBLAS_CORETYPE/L2_SIZE")
    parser.add_argument("--scaling-child", metavar="NETWORK", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.scaling_child:
        print(json.dumps(scaling_child(args.scaling_child, args.repeats)))
        return 0

    load_at_start = list(os.getloadavg())
    t0 = time.perf_counter()
    nets = {"dense": issue_network(DENSE_P), "sparse": issue_network(SPARSE_P), "reference": reference_network()}
    build_s = time.perf_counter() - t0
    config = load_chip_config("default_28nm")
    chips = {k: Chip.from_program(map_network(n, config, placement="row_major")) for k, n in nets.items()}
    hands = {k: HandKernel(n) for k, n in nets.items()}
    rasters = {"dense": bernoulli_raster(7, args.samples, ISSUE_SIZES[0], DENSE_P),
               "sparse": bernoulli_raster(7, args.samples, ISSUE_SIZES[0], SPARSE_P),
               "reference": bernoulli_raster(7, args.samples, REFERENCE_SIZES[0], REFERENCE_P)}  # fmt: skip

    t0 = time.perf_counter()
    for k in nets:  # compile into the fresh cache
        chips[k].run(rasters[k][:2])
        hands[k](rasters[k][:2])
    compile_s = time.perf_counter() - t0

    entries = {}
    for k in nets:
        entries[f"engine_2t_{k}"] = with_threads(2, lambda k=k: chips[k].run(rasters[k]))
        entries[f"engine_1t_{k}"] = with_threads(1, lambda k=k: chips[k].run(rasters[k]))
        entries[f"hand_{k}"] = lambda k=k: hands[k](rasters[k])
    times, shares, results = timed_rounds(entries, args.repeats)
    keep, loaded = clean_rounds(shares)

    checks, summary = {}, {}
    for k in nets:
        engine = results[f"engine_2t_{k}"]
        hand_spikes, hand_events = results[f"hand_{k}"]
        events = int(engine.counter("synaptic_ops").sum())
        checks[f"hand_kernel_same_output_spikes_{k}"] = bool(np.array_equal(hand_spikes, engine.output_spikes))
        checks[f"hand_kernel_same_events_{k}"] = hand_events == events
        spikes = engine.counter("output_spikes").sum(axis=(0, 1))
        sizes = [layer.n_out for layer in nets[k].layers]
        for name in (f"engine_2t_{k}", f"engine_1t_{k}", f"hand_{k}"):
            summary[name] = entry_summary(times[name], keep, events, args.samples)
        summary[f"engine_2t_{k}"]["firing_rates"] = [float(s) / (args.samples * T * n) for s, n in zip(spikes, sizes)]
        summary[f"engine_2t_{k}"]["input_spike_prob"] = float(rasters[k].mean())

    def ratio(num: str, den: str) -> dict:
        return per_round_ratio(times, num, den, keep)

    events = {k: summary[f"engine_2t_{k}"]["syn_events"] for k in nets}
    event_ratio = events["dense"] / events["sparse"]
    sparsity = {n: spread(np.asarray(times[f"engine_{n}_dense"])[keep] / np.asarray(times[f"engine_{n}_sparse"])[keep]
                          / event_ratio) for n in ("2t", "1t")}  # fmt: skip
    hand_sparsity = spread(np.asarray(times["hand_dense"])[keep] / np.asarray(times["hand_sparse"])[keep] / event_ratio)

    golden_program = chips["reference"].program
    golden = simulate(golden_program, rasters["reference"][:2])
    checks["golden_same_counters_reference"] = bool(
        np.array_equal(golden.counters, results["engine_2t_reference"].counters[:2])
    )

    network_dir = tempfile.mkdtemp(prefix="hwsim-bench-net-")
    atexit.register(shutil.rmtree, network_dir, ignore_errors=True)
    scaling = None
    if args.processes:
        network_file = nets["dense"].save(Path(network_dir) / "issue.npz")
        scaling = thread_scaling_processes(str(network_file), args.processes, max(3, args.repeats // 2))
    profile = None
    if not args.no_profile:
        profile = profile_engine(
            chips["dense"], nets["dense"], {0.0: np.zeros_like(rasters["dense"]), DENSE_P: rasters["dense"]}
        )
        profile["alignment_effect"] = alignment_effect()
        # the sparse point has its own thresholds: profile it on its own network
        profile[f"p{SPARSE_P}"] = profile_engine(chips["sparse"], nets["sparse"], {SPARSE_P: rasters["sparse"]})[
            f"p{SPARSE_P}"
        ]

    hand_ratio = ratio("hand_dense", "engine_2t_dense")
    scaling_stats = scaling["thread_scaling"] if scaling else ratio("engine_1t_dense", "engine_2t_dense")
    keys = {
        "engine_benchmark": {
            "workloads": {
                "dense": "784-256-256-10 LIF (continuous, leak v>>4, subtract reset), int8 weights, "
                f"input p = {DENSE_P}, layers calibrated to fire at ~{DENSE_P}, T = {T}",
                "sparse": f"same weights, input p = {SPARSE_P}, layers calibrated to fire at ~{SPARSE_P}",
                "reference": f"784-1024-1024-10, discontinuous, input p = {REFERENCE_P}, ~10 % hidden firing",
            },
            "samples": args.samples,
            "timing": f"{args.repeats} interleaved rounds (order rotated), wall clock; rounds where other "
            f"processes used > {OTHERS_MAX:.0%} of the CPUs discarded unless fewer than 3 remain",
            "rounds_kept": int(keep.size),
            "others_share_per_round": shares,
            "loaded": loaded,
            "entries": summary,
            "checks": checks,
            "build_s": build_s,
            "compile_s": compile_s,
            "thread_scaling_processes": scaling,
            "profile": profile,
            "load_average_at_start": load_at_start,
            "load_average_at_end": list(os.getloadavg()),
            "machine": machine(),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        "ratio_vs_hand_kernel": hand_ratio["median"],
        "ratio_vs_hand_kernel_spread": hand_ratio,
        "ratio_vs_hand_kernel_reference": ratio("hand_reference", "engine_2t_reference"),
        "ratio_vs_hand_kernel_1_thread": ratio("hand_dense", "engine_1t_dense"),
        "thread_scaling": scaling_stats["median"],
        "thread_scaling_spread": scaling_stats,
        "thread_scaling_same_process": ratio("engine_1t_dense", "engine_2t_dense"),
        "sparsity_efficiency": sparsity["2t"]["median"],
        "sparsity_efficiency_spread": sparsity["2t"],
        "sparsity_efficiency_1_thread": sparsity["1t"],
        "sparsity_efficiency_hand_kernel": hand_sparsity,
        "sparsity_event_ratio": event_ratio,
        "reference_syn_events_per_s": summary["engine_2t_reference"]["g_syn_events_per_s"] * 1e9,
        "issue_syn_events_per_s": summary["engine_2t_dense"]["g_syn_events_per_s"] * 1e9,
        "engine_targets": {
            "ratio_vs_hand_kernel >= 2.0": hand_ratio["median"] >= 2.0,
            "reference >= 40 G synaptic events/s": summary["engine_2t_reference"]["g_syn_events_per_s"] >= 40,
            "thread_scaling >= 1.85": scaling_stats["median"] >= 1.85,
            "sparsity_efficiency >= 0.7": sparsity["2t"]["median"] >= 0.7,
        },
    }
    merge_results(args.output, keys, _OLD_KEYS)
    print_report(keys)
    print(f"wrote {args.output}")
    return 0


def print_report(keys: dict) -> None:
    bench = keys["engine_benchmark"]
    m = bench["machine"]
    print(f"machine: {m['cpu_model']}, {m['usable_cpus']} cpus; load average {bench['load_average_at_start'][0]:.1f}"
          f" -> {bench['load_average_at_end'][0]:.1f}; rounds kept {bench['rounds_kept']}"
          f"{' (LOADED: all rounds used)' if bench['loaded'] else ''}")  # fmt: skip
    print(f"{'entry':24s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'samples/s':>10s} {'G ev/s':>8s}")
    for name, e in bench["entries"].items():
        print(f"{name:24s} {e['ms']['median']:10.1f} {e['ms']['min']:8.1f} {e['ms']['max']:8.1f} "
              f"{e['samples_per_s']:10.0f} {e['g_syn_events_per_s']:8.2f}")  # fmt: skip
    for key in (
        "ratio_vs_hand_kernel_spread",
        "ratio_vs_hand_kernel_reference",
        "ratio_vs_hand_kernel_1_thread",
        "thread_scaling_spread",
        "thread_scaling_same_process",
        "sparsity_efficiency_spread",
        "sparsity_efficiency_1_thread",
        "sparsity_efficiency_hand_kernel",
    ):
        s = keys[key]
        print(f"{key:34s} {s['median']:6.2f}  [{s['min']:.2f} .. {s['max']:.2f}], n = {s['n']}")
    print(f"reference workload: {keys['reference_syn_events_per_s'] / 1e9:.1f} G synaptic events/s (2 threads)")
    print(f"checks: {bench['checks']}")
    if bench["thread_scaling_processes"]:
        per = bench["thread_scaling_processes"]["one_thread_ms_median_per_process"]
        print("1-thread ms per 1000 samples, median per process: " + ", ".join(f"{x:.1f}" for x in per))
    if bench["profile"]:
        for p, row in bench["profile"].items():
            if p.startswith("p"):
                print(f"profile {p}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if k.endswith("_ms")))
        print("alignment: " + ", ".join(f"{k} {v:.2f}" for k, v in bench["profile"]["alignment_effect"].items()))
    print("targets: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in keys["engine_targets"].items()))


if __name__ == "__main__":
    sys.exit(main())

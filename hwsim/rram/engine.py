"""Fast path of an RRAM chip instance: unpack once into arrays, run the Numba kernel in chunks.

Gives the same :class:`~hwsim.result.RunResult` as the golden model
:func:`hwsim.rram.golden.simulate_rram`, bit for bit (tested), including the
read noise: the noise normals of image ``i`` are those of
``SeedSequence([seed, 1, i])``, drawn by the GIL-free kernel
:func:`hwsim.kernels.random.read_noise_fill` (NumPy's numbers, bit for bit) and
handed to the simulation kernel.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hwsim.config import CORE_DONE_CYCLES, CORE_START_CYCLES
from hwsim.encoding import as_raster_batch, encode
from hwsim.errors import InputError
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, RunResult
from hwsim.rram.device import RramChip, program_chip, seed_words
from hwsim.rram.golden import RRAM_COUNTER_NAMES

__all__ = ["PackedRram", "pack", "run_rram", "calibrate_adc_scales", "CALIBRATION_IMAGES", "calibration_count",
           "calibrate_on_images"]

#: Training images the ADC scale registers are calibrated on, at most (docs/rram.md §4); a third of a
#: smaller training split, so that ``hwsim yield --tune`` keeps images for its signature and tuning sets.
CALIBRATION_IMAGES = 300


@dataclass(frozen=True)
class PackedRram:
    """An :class:`RramChip` unpacked into the flat arrays of :func:`hwsim.kernels.rram.rram_chip_run`."""

    arrays: dict
    scalars: dict
    n_cores: int
    n_outputs: int
    neurons: int
    noisy: bool
    # read-noise normals already drawn, keyed by (seed, first_index, B, T): re-running the same images on
    # the same instance (threshold search) reuses them instead of re-seeding B generators
    noise_cache: dict = field(default_factory=dict, compare=False, repr=False)


def pack(rchip: RramChip) -> PackedRram:
    """Unpack a chip instance (program, conductances, registers, routes) into kernel arrays."""
    program = rchip.program
    chip = program.chip
    cfg = chip.rram
    cores = program.cores
    C = len(cores)
    index = {cp.core: k for k, cp in enumerate(cores)}
    n_axons = np.array([cp.n_axons for cp in cores], np.int64)
    n_neurons = np.array([cp.n_neurons for cp in cores], np.int64)
    g_ptr = np.concatenate([[0], np.cumsum(n_axons * n_neurons)]).astype(np.int64)
    in_ptr = np.concatenate([[0], np.cumsum(n_axons)]).astype(np.int64)
    v_ptr = np.concatenate([[0], np.cumsum(n_neurons)]).astype(np.int64)
    n_adcs = cfg.adc_count(chip.core.neurons)
    read_c, conv_c = cfg.read_cycles(chip.clock_mhz), cfg.conversion_cycles(chip.clock_mhz)
    routes = [(k, r) for k, cp in enumerate(cores) for r in cp.routes]
    route_ptr = np.zeros(C + 1, np.int64)
    for k, cp in enumerate(cores):
        route_ptr[k + 1] = route_ptr[k] + len(cp.routes)

    def hops(src_core, r):
        return chip.hops(src_core, r.dest_core)

    arrays = dict(
        order=np.array(sorted(range(C), key=lambda k: (cores[k].stage, k)), np.int64),
        stage=np.array([cp.stage for cp in cores], np.int64),
        n_axons=n_axons,
        n_neurons=n_neurons,
        g_ptr=g_ptr,
        in_ptr=in_ptr,
        v_ptr=v_ptr,
        g_diff=np.concatenate([cb.g_diff_us.ravel() for cb in rchip.crossbars]).astype(np.float64),
        g_sq=np.concatenate([cb.g_sq_us2.ravel() for cb in rchip.crossbars]).astype(np.float64),
        row_g=np.concatenate([cb.row_conductance_us for cb in rchip.crossbars]).astype(np.float64),
        bias=np.concatenate([cp.bias for cp in cores]).astype(np.int64),
        threshold=np.array(rchip.thresholds, np.int64),
        leak_shift=np.array([cp.leak_shift for cp in cores], np.int64),
        discontinuous=np.array([cp.integration == "discontinuous" for cp in cores], np.bool_),
        reset_zero=np.array([cp.reset == "zero" for cp in cores], np.bool_),
        fire=np.array([cp.fire for cp in cores], np.bool_),
        adc_scale=np.array(rchip.adc_scales, np.int64),
        lsb=np.array([rchip.lsb_current_ua(k) for k in range(C)], np.float64),
        xbar_cycles=np.array([read_c + (-(-cp.n_neurons // n_adcs)) * conv_c for cp in cores], np.int64),
        groups=np.array([chip.core.groups(cp.n_neurons) for cp in cores], np.int64),
        out_off=np.array([cp.output_offset if cp.is_output else -1 for cp in cores], np.int64),
        route_ptr=route_ptr,
        route_dest=np.array([index[r.dest_core] for _, r in routes], np.int64),
        route_lo=np.array([r.src_lo for _, r in routes], np.int64),
        route_hi=np.array([r.src_hi for _, r in routes], np.int64),
        route_axoff=np.array([r.axon_offset for _, r in routes], np.int64),
        route_hops=np.array([hops(cores[k].core, r) for k, r in routes], np.int64),
        max_hops=np.array([max((hops(cp.core, r) for r in cp.routes), default=0) for cp in cores], np.int64),
        h_dest=np.array([index[r.dest_core] for r in program.host_routes], np.int64),
        h_lo=np.array([r.src_lo for r in program.host_routes], np.int64),
        h_hi=np.array([r.src_hi for r in program.host_routes], np.int64),
        h_axoff=np.array([r.axon_offset for r in program.host_routes], np.int64),
        h_hops=np.array([chip.hops(0, r.dest_core) for r in program.host_routes], np.int64),
    )
    noisy = bool(cfg.read_noise and cfg.read_noise_sigma > 0)
    scalars = dict(
        host_max_hops=int(arrays["h_hops"].max()),
        v_read=float(cfg.v_read_v),
        # formed as in the golden model: (v_read * sigma) * sqrt(acc_sq) * z
        v_sigma=float(cfg.v_read_v * cfg.read_noise_sigma),
        adc_lo=-float(1 << (cfg.adc_bits - 1)),
        adc_hi=float((1 << (cfg.adc_bits - 1)) - 1),
        v_lo=int(chip.core.v_min),
        v_hi=int(chip.core.v_max),
        barrier_cycles=int(chip.barrier_cycles),
        hop_latency=int(chip.hop_latency_cycles),
        start_cycles=CORE_START_CYCLES,
        done_cycles=CORE_DONE_CYCLES,
    )
    return PackedRram(arrays, scalars, C, program.n_outputs, chip.core.neurons, noisy)


def _run_chunk(packed: PackedRram, rchip: RramChip, raster: np.ndarray, first_index: int, threads: int) -> RunResult:
    from hwsim.kernels.random import read_noise_fill  # compiled on first use only
    from hwsim.kernels.rram import rram_chip_run

    B, T, _ = raster.shape
    C, a, s = packed.n_cores, packed.arrays, packed.scalars
    draw = False  # the workers draw the read noise of their own images (GIL-free kernel), or it is cached
    if packed.noisy:
        key = (rchip.seed, first_index, B, T)
        z = packed.noise_cache.get(key)
        if z is None:
            z = np.empty((B, T, C, packed.neurons), np.float64)
            draw = True
        seed_w = seed_words(rchip.seed)
    else:
        z = np.zeros((1, 1, 1, 1), np.float64)
    out_spikes = np.zeros((B, T, packed.n_outputs), np.uint8)
    out_mem = np.zeros((B, T, packed.n_outputs), np.int32)
    counters = np.zeros((B, T, C, len(COUNTER_NAMES)), np.int64)
    rram_counters = np.zeros((B, T, C, len(RRAM_COUNTER_NAMES)), np.int64)
    read_g = np.zeros((B, T, C), np.float64)
    host_counters = np.zeros((B, T, len(HOST_COUNTER_NAMES)), np.int64)
    ts_cycles = np.zeros((B, T), np.int64)
    adc_peak = np.zeros((B, C), np.float64)
    raster = np.ascontiguousarray(raster, np.uint8)

    def work(lo: int, hi: int) -> None:
        if draw:
            # the same numbers as read_noise_normals(seed, first_index + b, T, C, N) for every image b
            read_noise_fill(seed_w, first_index + lo, z[lo:hi])
        rram_chip_run(
            raster[lo:hi], z[lo:hi] if packed.noisy else z, packed.noisy,
            a["order"], a["stage"], a["n_axons"], a["n_neurons"], a["g_ptr"], a["in_ptr"], a["v_ptr"],
            a["g_diff"], a["g_sq"], a["row_g"], a["bias"], a["threshold"], a["leak_shift"], a["discontinuous"],
            a["reset_zero"], a["fire"], a["adc_scale"], a["lsb"], a["xbar_cycles"], a["groups"], a["out_off"],
            a["route_ptr"], a["route_dest"], a["route_lo"], a["route_hi"], a["route_axoff"], a["route_hops"],
            a["max_hops"], a["h_dest"], a["h_lo"], a["h_hi"], a["h_axoff"], a["h_hops"], s["host_max_hops"],
            s["v_read"], s["v_sigma"], s["adc_lo"], s["adc_hi"], s["v_lo"], s["v_hi"], s["barrier_cycles"],
            s["hop_latency"], s["start_cycles"], s["done_cycles"],
            out_spikes[lo:hi], out_mem[lo:hi], counters[lo:hi], rram_counters[lo:hi], read_g[lo:hi],
            host_counters[lo:hi], ts_cycles[lo:hi], adc_peak[lo:hi],
        )

    # disjoint image ranges on threads (the kernel releases the GIL); each image's result depends
    # only on its own raster and noise, so the split does not change any bit
    n_threads = max(1, min(threads, B))
    bounds = np.linspace(0, B, n_threads + 1).astype(int)
    if n_threads == 1:
        work(0, B)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, bounds[:-1], bounds[1:]))
    if draw and z.nbytes <= 64 << 20:  # keep memory bounded
        packed.noise_cache[key] = z
    return RunResult(
        output_spikes=out_spikes,
        output_membranes=out_mem,
        counters=counters,
        host_counters=host_counters,
        timestep_cycles=ts_cycles,
        core_ids=tuple(cp.core for cp in rchip.program.cores),
        readout=rchip.program.readout,
        extra={"rram_counters": rram_counters, "read_conductance_us": read_g, "adc_peak": adc_peak},
    )


def run_rram(
    rchip: RramChip,
    inputs: np.ndarray,
    timesteps: int | None = None,
    *,
    encoding: str = "rate",
    seed: int = 0,
    first_index: int = 0,
    chunk_size: int = 256,
    packed: PackedRram | None = None,
    threads: int | None = None,
) -> RunResult:
    """Run an RRAM chip instance on rasters or images with the fast path.

    Args:
        rchip: The programmed chip instance.
        inputs: Binary rasters ``(T, n_in)``/``(B, T, n_in)``, or images ``(B, n_in)`` in [0, 1]
            (then ``timesteps`` is required and they are encoded chunk by chunk).
        timesteps: T for images.
        encoding: Encoder for images (chip-spec §3).
        seed: Encoder seed (not the chip seed: the chip's read noise uses ``rchip.seed``).
        first_index: Global index of the first input (seeds its rate code and its read noise).
        chunk_size: Images per kernel call (bounds memory).
        packed: A :func:`pack` of ``rchip`` to reuse (only the thresholds may differ; they are re-read).
        threads: Worker threads (default: the CPU count); results do not depend on it.

    Returns:
        The same :class:`RunResult` as :func:`hwsim.rram.golden.simulate_rram` (without recordings).
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size = {chunk_size!r}: expected an integer >= 1")
    threads = (os.cpu_count() or 1) if threads is None else int(threads)
    if packed is None:
        packed = pack(rchip)
    else:
        packed = dataclasses.replace(
            packed, arrays={**packed.arrays, "threshold": np.array(rchip.thresholds, np.int64)}
        )
    x = np.asarray(inputs)
    n_in = rchip.program.n_inputs
    images = timesteps is not None
    if images:
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != n_in:
            raise InputError(f"images must have shape (n_images, {n_in}); got {x.shape}")
    else:
        x = as_raster_batch(x, n_in)
    parts = []
    for lo in range(0, x.shape[0], chunk_size):
        chunk = x[lo : lo + chunk_size]
        raster = encode(chunk, timesteps, encoding, seed, first_index + lo) if images else chunk
        parts.append(_run_chunk(packed, rchip, raster, first_index + lo, threads))
    if not parts:
        raise InputError("no inputs given")
    return parts[0] if len(parts) == 1 else RunResult.concatenate(parts)


def calibrate_adc_scales(rchip_or_program, rasters: np.ndarray, *, seed: int = 0) -> tuple[int, ...]:
    """ADC scale registers from calibration inputs: per core the smallest power of two 2^s whose
    ADC range holds the largest ideal column sum seen.

    The calibration runs the program on an *ideal* copy of the chip (every non-ideality off, a
    24-bit ADC, scale 1), so ``adc_peak`` is the largest ``|sum of w over the spiking axons|``
    in weight units for the given inputs. Scale ``2^s`` is chosen with
    ``peak / 2^s <= 2^(adc_bits-1) - 1``; a power of two makes ``code x scale`` a shift.

    Args:
        rchip_or_program: An :class:`RramChip` or a :class:`~hwsim.program.ChipProgram` for an RRAM chip.
        rasters: ``(B, T, n_in)`` calibration spikes (e.g. training images).
        seed: Unused by the ideal chip beyond seeding it (kept for reproducibility of the call).
    """
    program = getattr(rchip_or_program, "program", rchip_or_program)
    cfg = program.chip.rram
    ideal_chip = program.chip.replace(rram=dataclasses.replace(cfg.ideal(), adc_bits=24))
    ideal = program_chip(dataclasses.replace(program, chip=ideal_chip), seed)
    peak = run_rram(ideal, rasters).extra["adc_peak"].max(axis=0)
    hi = (1 << (cfg.adc_bits - 1)) - 1
    scales = []
    for p in peak:
        s = 1
        while p / s > hi:
            s *= 2
        scales.append(s)
    return tuple(scales)


def calibration_count(n_train: int) -> int:
    """How many of ``n_train`` training images calibrate the ADC scales: ``min(300, n_train // 3)``."""
    return min(CALIBRATION_IMAGES, int(n_train) // 3)


def calibrate_on_images(program, train_images: np.ndarray, timesteps: int, encoding: str = "rate") -> tuple[int, ...]:
    """ADC scale registers calibrated as ``hwsim yield`` and ``hwsim run`` do (docs/rram.md §4).

    The first :func:`calibration_count` training images, encoded with encoder seed 0 from index 0,
    run on the ideal chip (:func:`calibrate_adc_scales`).

    Args:
        program: A chip program for an RRAM chip.
        train_images: ``(n_train, n_inputs)`` training intensities in [0, 1].
        timesteps: T of the calibration rasters.
        encoding: Input coding.

    Raises:
        InputError: fewer than 3 training images.
    """
    n = calibration_count(np.shape(train_images)[0])
    if n < 1:
        raise InputError(f"ADC calibration needs at least 3 training images; got {np.shape(train_images)[0]}")
    return calibrate_adc_scales(program, encode(np.asarray(train_images)[:n], timesteps, encoding, 0, 0))

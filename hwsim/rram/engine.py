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
from hwsim.exit_unit import ExitRule, apply_exit, parse_exit_rule
from hwsim.kernels.layout import ChipConstants, Crossbars, NeuronArrays, ReadCircuit, RoutingTable, RramOutputs
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, NOC_COUNTER_NAMES, RunResult
from hwsim.rram.device import RramChip, program_chip, seed_words
from hwsim.rram.golden import RRAM_COUNTER_NAMES

__all__ = ["RramEnginePlan", "pack", "run_rram", "calibrate_adc_scales", "CALIBRATION_IMAGES", "calibration_count",
           "calibrate_on_images"]

#: Training images the ADC scale registers are calibrated on, at most (docs/rram.md §4); a third of a
#: smaller training split, so that ``hwsim yield --tune`` keeps images for its signature and tuning sets.
CALIBRATION_IMAGES = 300


@dataclass(frozen=True)
class RramEnginePlan:
    """An :class:`RramChip` unpacked once into the structures :func:`hwsim.kernels.rram.rram_chip_run` takes.

    Per-core arrays are in program order; ``order`` lists the program indices in
    stage order (the order the kernel runs cores in). The structures are those of
    :mod:`hwsim.kernels.layout`; the fields follow :class:`hwsim.chip.EnginePlan`.
    """

    order: np.ndarray
    stage: np.ndarray
    host: RoutingTable  # the host port (one sender); dest = program index
    routes: RoutingTable  # the cores' routing entries (sender k = program core k)
    neurons: NeuronArrays  # start has a last entry: the total neuron count
    crossbars: Crossbars  # axon_start likewise
    consts: ChipConstants
    read: ReadCircuit
    output_offset: np.ndarray  # -1 for cores that are not output cores
    n_outputs: int
    neurons_per_core: int  # the core's neuron count (the read-noise draw per core)
    # read-noise normals already drawn, keyed by (seed, first_index, B, T): re-running the same images on
    # the same instance (threshold search) reuses them instead of re-seeding B generators
    noise_cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_cores(self) -> int:
        return int(self.order.shape[0])

    @property
    def noisy(self) -> bool:
        return bool(self.read.noisy)


def _i64(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))


def pack(rchip: RramChip) -> RramEnginePlan:
    """Unpack a chip instance (program, conductances, registers, routes) into kernel arrays."""
    program = rchip.program
    chip = program.chip
    cfg = chip.rram
    cores = program.cores
    C = len(cores)
    index = {cp.core: k for k, cp in enumerate(cores)}
    n_axons = _i64([cp.n_axons for cp in cores])
    n_neurons = _i64([cp.n_neurons for cp in cores])
    n_adcs = cfg.adc_count(chip.core.neurons)
    read_c, conv_c = cfg.read_cycles(chip.clock_mhz), cfg.conversion_cycles(chip.clock_mhz)

    def ptr(counts) -> np.ndarray:
        return _i64(np.concatenate([[0], np.cumsum(counts)]))

    def table(senders) -> RoutingTable:
        # senders: (mesh core id of the sender, its routes); hops counted from the sender
        hops = [[chip.hops(src, r.dest_core) for r in routes] for src, routes in senders]
        entries = [r for _, routes in senders for r in routes]
        return RoutingTable(
            ptr=ptr([len(routes) for _, routes in senders]),
            dest=_i64([index[r.dest_core] for r in entries]),
            lo=_i64([r.src_lo for r in entries]),
            hi=_i64([r.src_hi for r in entries]),
            offset=_i64([r.axon_offset for r in entries]),
            hops=_i64([h for row in hops for h in row]),
            max_hops=_i64([max(row, default=0) for row in hops]),
        )

    noisy = bool(cfg.read_noise and cfg.read_noise_sigma > 0)
    return RramEnginePlan(
        order=_i64(sorted(range(C), key=lambda k: (cores[k].stage, k))),
        stage=_i64([cp.stage for cp in cores]),
        host=table([(0, program.host_routes)]),
        routes=table([(cp.core, cp.routes) for cp in cores]),
        neurons=NeuronArrays(
            n_neurons=n_neurons,
            start=ptr(n_neurons),
            bias=np.concatenate([cp.bias for cp in cores]).astype(np.int64),
            threshold=_i64(rchip.thresholds),
            leak_shift=_i64([cp.leak_shift for cp in cores]),
            integration=np.array([cp.integration_code for cp in cores], np.uint8),
            reset=np.array([cp.reset_code for cp in cores], np.uint8),
            fire=np.array([cp.fire for cp in cores], np.bool_),
            n_groups=_i64([chip.core.groups(cp.n_neurons) for cp in cores]),
        ),
        crossbars=Crossbars(
            n_axons=n_axons,
            axon_start=ptr(n_axons),
            g_start=ptr(n_axons * n_neurons),
            g_diff=np.concatenate([cb.g_diff_us.ravel() for cb in rchip.crossbars]).astype(np.float64),
            g_sq=np.concatenate([cb.g_sq_us2.ravel() for cb in rchip.crossbars]).astype(np.float64),
            row_g=np.concatenate([cb.row_conductance_us for cb in rchip.crossbars]).astype(np.float64),
            adc_scale=_i64(rchip.adc_scales),
            lsb=np.array([rchip.lsb_current_ua(k) for k in range(C)], np.float64),
            # read + ceil(n_neurons / n_adcs) conversions (chip-spec §7.4)
            read_cycles=_i64([read_c + (-(-cp.n_neurons // n_adcs)) * conv_c for cp in cores]),
        ),
        consts=ChipConstants(
            v_min=int(chip.core.v_min),
            v_max=int(chip.core.v_max),
            start_done_cycles=CORE_START_CYCLES + CORE_DONE_CYCLES,
            sram_latency_cycles=0,  # an RRAM core reads no SRAM
            hop_latency=int(chip.hop_latency_cycles),
            barrier_cycles=int(chip.barrier_cycles),
        ),
        read=ReadCircuit(
            v_read=float(cfg.v_read_v),
            # formed as in the golden model: (v_read * sigma) * sqrt(acc_sq) * z
            v_sigma=float(cfg.v_read_v * cfg.read_noise_sigma),
            noisy=noisy,
            adc_lo=-float(1 << (cfg.adc_bits - 1)),
            adc_hi=float((1 << (cfg.adc_bits - 1)) - 1),
        ),
        output_offset=_i64([cp.output_offset if cp.is_output else -1 for cp in cores]),
        n_outputs=program.n_outputs,
        neurons_per_core=chip.core.neurons,
    )


def _run_chunk(plan: RramEnginePlan, rchip: RramChip, raster: np.ndarray, first_index: int, threads: int) -> RunResult:
    from hwsim.kernels.random import read_noise_fill  # compiled on first use only
    from hwsim.kernels.rram import rram_chip_run

    B, T, _ = raster.shape
    C = plan.n_cores
    draw = False  # the workers draw the read noise of their own images (GIL-free kernel), or it is cached
    if plan.noisy:
        key = (rchip.seed, first_index, B, T)
        z = plan.noise_cache.get(key)
        if z is None:
            z = np.empty((B, T, C, plan.neurons_per_core), np.float64)
            draw = True
        seed_w = seed_words(rchip.seed)
    else:
        z = np.zeros((1, 1, 1, 1), np.float64)
    out = RramOutputs(
        output_spikes=np.zeros((B, T, plan.n_outputs), np.uint8),
        output_membranes=np.zeros((B, T, plan.n_outputs), np.int32),
        counters=np.zeros((B, T, C, len(COUNTER_NAMES)), np.int64),
        host_counters=np.zeros((B, T, len(HOST_COUNTER_NAMES)), np.int64),
        timestep_cycles=np.zeros((B, T), np.int64),
        rram_counters=np.zeros((B, T, C, len(RRAM_COUNTER_NAMES)), np.int64),
        read_conductance_us=np.zeros((B, T, C), np.float64),
        adc_peak=np.zeros((B, C), np.float64),
        output_offset=plan.output_offset,
    )
    raster = np.ascontiguousarray(raster, np.uint8)

    program_arrays = tuple(map(tuple, (plan.host, plan.routes, plan.neurons, plan.crossbars, plan.consts, plan.read)))

    def work(lo: int, hi: int) -> None:
        if draw:
            # the same numbers as read_noise_normals(seed, first_index + b, T, C, N) for every image b
            read_noise_fill(seed_w, first_index + lo, z[lo:hi])
        images = RramOutputs(*(a if name == "output_offset" else a[lo:hi] for name, a in zip(out._fields, out)))
        # plain tuples: Numba types a namedtuple argument through Python on every call (~1 us each)
        rram_chip_run(raster[lo:hi], z[lo:hi] if plan.noisy else z, plan.order, plan.stage, *program_arrays,
                      tuple(images))  # fmt: skip

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
        plan.noise_cache[key] = z
    return RunResult(
        output_spikes=out.output_spikes,
        output_membranes=out.output_membranes,
        counters=out.counters,
        host_counters=out.host_counters,
        timestep_cycles=out.timestep_cycles,
        core_ids=tuple(cp.core for cp in rchip.program.cores),
        readout=rchip.program.readout,
        extra={"rram_counters": out.rram_counters, "read_conductance_us": out.read_conductance_us,
               "adc_peak": out.adc_peak},  # fmt: skip
        noc_counters=_noc_counters(plan, out.counters, out.host_counters),
    )


def _noc_counters(plan: RramEnginePlan, counters: np.ndarray, host_counters: np.ndarray) -> np.ndarray:
    """``(B, T, 3)`` NoC counters of the ideal NoC (RRAM chips have no mesh, chip-spec §1.5): the timestep's
    routing cycles, ``route_cycles_host + sum_s max_{c in s} route_cycles_c`` (§1.2); no buffer writes or stalls."""
    packets = counters[..., COUNTER_NAMES.index("packets")]
    route = np.where(packets > 0, packets + plan.consts.hop_latency * plan.routes.max_hops, 0)
    total = host_counters[..., HOST_COUNTER_NAMES.index("route_cycles")].copy()
    for s in np.unique(plan.stage):
        total += route[..., plan.stage == s].max(axis=-1)
    noc = np.zeros(counters.shape[:2] + (len(NOC_COUNTER_NAMES),), np.int64)
    noc[..., NOC_COUNTER_NAMES.index("route_cycles")] = total
    return noc


def run_rram(
    rchip: RramChip,
    inputs: np.ndarray,
    timesteps: int | None = None,
    *,
    encoding: str = "rate",
    seed: int = 0,
    first_index: int = 0,
    chunk_size: int = 256,
    packed: RramEnginePlan | None = None,
    threads: int | None = None,
    exit_rule: ExitRule | str | None = None,
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
        exit_rule: The early-exit rule (chip-spec §1.4), or None (``none``). All T timesteps run, then
            each image is cut after its exit (:func:`hwsim.exit_unit.apply_exit`).

    Returns:
        The same :class:`RunResult` as :func:`hwsim.rram.golden.simulate_rram` (without recordings).
        Under an exit rule, ``extra["adc_peak"]`` is the one exception: a diagnostic for ADC
        calibration, it stays the peak over all T timesteps (the golden model's is over the timesteps run).
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size = {chunk_size!r}: expected an integer >= 1")
    threads = (os.cpu_count() or 1) if threads is None else int(threads)
    rule = parse_exit_rule(exit_rule, rchip.program.n_outputs)
    if packed is None:
        packed = pack(rchip)
    else:
        packed = dataclasses.replace(packed, neurons=packed.neurons._replace(threshold=_i64(rchip.thresholds)))
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
    result = parts[0] if len(parts) == 1 else RunResult.concatenate(parts)
    return apply_exit(result, rule, copy=False) if rule.enabled else result


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
    return power_of_two_scales(peak, cfg.adc_bits)


def power_of_two_scales(peaks: np.ndarray, adc_bits: int) -> tuple[int, ...]:
    """Per core the smallest power of two ``s`` with ``peak / s <= 2^(adc_bits-1) - 1`` (chip-spec §7.2's rule)."""
    hi = (1 << (adc_bits - 1)) - 1
    scales = []
    for p in peaks:
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

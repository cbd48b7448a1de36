"""The fast engine: a chip that runs chip programs with event-driven Numba kernels.

:class:`Chip` gives exactly the :class:`~hwsim.result.RunResult` of the
golden model (:func:`hwsim.golden.simulate`): the same output spikes and
membranes, the same per-core per-timestep counters and cycles, bit for bit,
in every mode. It differs only in speed: its kernels (:mod:`hwsim.kernels`)
do work in proportion to spikes, run the images of a batch on all Numba
threads, and encode and simulate long runs in chunks so their working memory stays bounded.

Example::

    from hwsim import Chip
    chip = Chip.from_program(program)            # or Chip.from_config("default_28nm").load(program)
    result = chip.run(images, timesteps=16)      # images (B, n_inputs) in [0, 1], rate coded
    result.predictions, result.cycles_per_inference, result.counter("synaptic_ops")
    for part in chip.run_chunks(images, 16):     # the same, one chunk of images at a time (any batch size)
        ...

A result holds ``T x (64 x cores + ~100)`` bytes per image (:func:`result_bytes`, more with ``record``):
:meth:`Chip.run` refuses one above ``max_result_bytes`` (2 GiB by default) before any work, and
:meth:`Chip.run_chunks` streams a batch of any size.
"""

from __future__ import annotations

import queue
import sys
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from hwsim.config import (
    CORE_DONE_CYCLES,
    CORE_START_CYCLES,
    SRAM_READ_LATENCY_CYCLES,
    ChipConfig,
    load_chip_config,
)
from hwsim.encoding import ENCODINGS, as_raster_batch, encode
from hwsim.errors import ConfigError, InputError, ProgramError
from hwsim.exit_unit import ExitRule, apply_exit, parse_exit_rule
from hwsim.kernels import N_COUNTERS, N_HOST_COUNTERS, chip_pass
from hwsim.kernels.layout import (
    ChipConstants,
    ChipOutputs,
    CoreScratch,
    ExitInputs,
    IncomingRoutes,
    MeshNoc,
    NeuronArrays,
    NocScratch,
    PartialSums,
    RoutingTable,
    SpikeLists,
    SramWeights,
)
from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, LINK_COUNTER_NAMES, NOC_COUNTER_NAMES, RunResult
from hwsim.result import result_bytes as run_result_bytes

__all__ = ["Chip", "apply_exit", "result_bytes", "MAX_RESULT_BYTES"]

# Input raster bytes per chunk the engine aims for: a chunk holds fewer than
# ``chunk_size`` images when T x n_inputs is large, so memory stays bounded.
CHUNK_RASTER_BYTES = 64 * 2**20
# Images per micro-batch: every core runs a micro-batch before the next core,
# so its weights are reused from cache. Capped so the per-thread spike lists
# stay below SPIKE_STORE_BYTES.
MICRO_BATCH = 16
SPIKE_STORE_BYTES = 8 * 2**20
# The most a result of Chip.run may take by default (result_bytes): beyond it a batch is refused up front with
# an error naming Chip.run_chunks, rather than exhausting the machine's memory part way through.
MAX_RESULT_BYTES = 2 * 2**30

# How raster bytes sit in the uint64 words the host kernel reads.
_BIG_ENDIAN = sys.byteorder == "big"

# Chip fields that change what a program computes or how many cycles it takes.
_SIMULATED_FIELDS = ("core_type", "mesh_rows", "mesh_cols", "hop_latency_cycles", "barrier_cycles", "core", "noc",
                     "router_buffer_flits")

assert N_COUNTERS == len(COUNTER_NAMES) and N_HOST_COUNTERS == len(HOST_COUNTER_NAMES)


@dataclass(frozen=True)
class EnginePlan:
    """A validated program unpacked once into the structures :func:`hwsim.kernels.chip_pass` takes.

    Per-core arrays are in stage order (the order the kernel runs cores in);
    ``order`` maps them back to program order (the counter columns). The
    structures are those of :mod:`hwsim.kernels.layout`.
    """

    order: np.ndarray  # program index of each core, in stage order
    stage: np.ndarray
    host: RoutingTable  # the host port (one sender)
    routes: RoutingTable  # the cores' routing entries (sender i = core i in stage order)
    incoming: IncomingRoutes  # spike routes into each core (axons)
    psums: PartialSums  # partial-sum cores and the partial-sum routes into each core (neurons)
    neurons: NeuronArrays  # bias int16 (narrow variant) or int64
    weights: SramWeights  # int8 or int16
    consts: ChipConstants
    output_offset: np.ndarray  # -1 for cores that are not output cores
    acc_dtype: type  # membrane scratch type: int16 or int32
    strides: np.ndarray  # spike-list length per sender (host first)
    noc: MeshNoc  # the mesh network-on-chip (enabled under noc = "mesh", chip-spec §1.5)


def _i64(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} = {value!r}: expected an integer >= 1")
    return int(value)


class Chip:
    """A chip (mesh of digital cores) that runs a loaded :class:`ChipProgram` fast.

    Build it with :meth:`from_config` then :meth:`load`, or with
    :meth:`from_program`; then call :meth:`run`. Results equal
    :func:`hwsim.golden.simulate` exactly, whatever the thread count
    (``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``) and the order of
    images in a batch.
    """

    def __init__(self, config: ChipConfig) -> None:
        if not isinstance(config, ChipConfig):
            raise ConfigError(f"config = {config!r}: expected a ChipConfig")
        if config.core_type != "digital":
            raise ConfigError(
                f"chip {config.name!r} has core_type = {config.core_type!r}; hwsim.Chip runs digital cores "
                "(chip-spec §2): for RRAM crossbars use hwsim.rram.program_chip and hwsim.rram.run_rram"
            )
        self.config = config
        self._program: ChipProgram | None = None
        self._plan: EnginePlan | None = None

    # ------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: ChipConfig | str | Path = "default_28nm") -> Chip:
        """A chip with no program yet.

        Args:
            config: A :class:`ChipConfig`, a preset name (``"default_28nm"``, ``"small"``)
                or the path of a chip config ``.toml`` file.

        Raises:
            ConfigError: unknown preset, missing or malformed file.
        """
        if isinstance(config, ChipConfig):
            return cls(config)
        if isinstance(config, (str, Path)):
            return cls(load_chip_config(config))
        raise ConfigError(f"config = {config!r}: expected a ChipConfig, a preset name or a .toml path")

    @classmethod
    def from_program(cls, program: ChipProgram) -> Chip:
        """A chip built for ``program.chip`` with ``program`` loaded."""
        if not isinstance(program, ChipProgram):
            raise ProgramError(f"program = {program!r}: expected a ChipProgram")
        return cls(program.chip).load(program)

    @property
    def program(self) -> ChipProgram | None:
        """The loaded program, or None."""
        return self._program

    def load(self, program: ChipProgram) -> Chip:
        """Validate ``program`` and load it (weights, registers, routes); return ``self``.

        Raises:
            ProgramError: the program breaks a rule of chip-spec §6, or was made for a chip
                with different mesh, NoC or core parameters.
        """
        if not isinstance(program, ChipProgram):
            raise ProgramError(f"program = {program!r}: expected a ChipProgram")
        for name in _SIMULATED_FIELDS:
            mine, theirs = getattr(self.config, name), getattr(program.chip, name)
            if mine != theirs:
                raise ProgramError(
                    f"program is for a chip with {name} = {theirs!r}, this chip has {name} = {mine!r}"
                )
        program.validate()
        self._plan = _pack(program)
        self._program = program
        return self

    # --------------------------------------------------------------------- run
    def run(
        self,
        inputs: np.ndarray,
        timesteps: int | None = None,
        *,
        encoding: str = "rate",
        seed: int = 0,
        chunk_size: int = 256,
        record: bool = False,
        progress: bool = False,
        exit_rule: ExitRule | str | None = None,
        max_result_bytes: int = MAX_RESULT_BYTES,
    ) -> RunResult:
        """Run the loaded program on a batch of inputs.

        Args:
            inputs: Either binary spike rasters, ``(T, n_inputs)`` or ``(B, T, n_inputs)``
                (0/1 integers, floats or booleans), or, when ``timesteps`` is given,
                images ``(B, n_inputs)`` (or one image ``(n_inputs,)``) with intensities
                in [0, 1], encoded chunk by chunk with :func:`hwsim.encoding.encode`
                (image ``i`` uses ``first_index = i``, so its raster does not depend on
                the chunking).
            timesteps: T for images. For rasters leave it None (or equal to the raster's T).
            encoding: one of :data:`hwsim.encoding.ENCODINGS` (images only).
            seed: Base seed of the rate encoder.
            chunk_size: Images encoded and simulated per chunk; bounds the memory of the working arrays
                (chunks are made smaller still when ``T x n_inputs`` is large). The result holds every image.
            record: Also return every core's end-of-timestep membranes and spikes.
            progress: Show a tqdm progress bar over the chunks.
            exit_rule: The early-exit rule (chip-spec §1.4): an :class:`~hwsim.exit_unit.ExitRule`
                (:func:`~hwsim.exit_unit.parse_exit_rule`), text for rules without a scale, or None
                (``none``). The engine runs all T timesteps, then cuts each image after its exit
                (:func:`apply_exit`); under ``noc = "mesh"`` its routing phases run only the timesteps each
                image runs, so ``link_counters`` are those of the cut run (chip-spec §1.5).
            max_result_bytes: The most the result's arrays may take (:func:`result_bytes`; default
                :data:`MAX_RESULT_BYTES`, 2 GiB). A larger batch is refused before any work: stream it with
                :meth:`run_chunks` instead (one chunk's arrays at a time; :func:`hwsim.result.save_chunks` writes
                them to disk), run fewer images, or raise this.

        Returns:
            A :class:`RunResult`, identical to ``hwsim.golden.simulate(program, rasters, record, exit_rule)``.

        Raises:
            ProgramError: no program is loaded.
            InputError: inputs of the wrong shape, type or values, bad timesteps,
                encoding, seed or chunk size; an exit rule that does not parse or a program with
                fewer than 2 outputs under an exit rule; a result larger than ``max_result_bytes``.
        """
        program, plan = self._loaded()
        chunk_size = _check_positive_int("chunk_size", chunk_size)
        rule = parse_exit_rule(exit_rule, program.n_outputs)
        x, T, images = _check_inputs(inputs, timesteps, program.n_inputs, encoding, seed)
        B = int(x.shape[0])
        _check_result_bytes(program, B, T, record, max_result_bytes)
        out = _allocate(program, plan, B, T, record)
        # the kernel writes every chunk straight into its rows of the whole batch's arrays
        links = _zero_links(plan)
        for _, _, _, chunk_links in self._simulate(x, T, images, encoding, seed, chunk_size, record, progress, rule,
                                                   lambda b0, b1: _rows(out, b0, b1)):
            if links is not None:  # per-link sums (chip-spec §1.5): integers, the sum does not depend on the split
                links += chunk_links
        result = _result(program, plan, out, links)
        # timesteps after t never change t: cutting the full run after each exit is the run that stopped there;
        # the NoC ran only the timesteps each image runs, so the link sums are those of the cut run already
        return apply_exit(result, rule, copy=False, link_counters=links) if rule.enabled else result

    def run_chunks(
        self,
        inputs: np.ndarray,
        timesteps: int | None = None,
        *,
        encoding: str = "rate",
        seed: int = 0,
        chunk_size: int = 256,
        record: bool = False,
        progress: bool = False,
        exit_rule: ExitRule | str | None = None,
    ) -> Iterator[RunResult]:
        """:meth:`run`, streamed: one :class:`RunResult` per chunk of consecutive images, in order.

        The arguments are those of :meth:`run`. Chunk ``k`` holds images ``k * c .. (k + 1) * c - 1``, ``c`` the
        chunk size :meth:`run` would use (``chunk_size``, smaller when ``T x n_inputs`` is large); the last one
        may be shorter. :meth:`RunResult.concatenate` of all chunks is :meth:`run`'s result bit for bit
        (``link_counters``, per-link sums under ``noc = "mesh"``, are each chunk's own and add up). Memory is
        bounded by a few chunks whatever the batch (one being encoded, one simulated, one finished), so there is
        no ``max_result_bytes``: a 10-million-image run, or ``record=True`` on a long batch, fits if its chunks
        do. The arguments are checked when the first chunk is asked for.

        Example::

            correct = 0
            for part in chip.run_chunks(images, 16):
                correct += int((part.predictions == labels[:part.batch_size]).sum())
                labels = labels[part.batch_size:]
        """
        program, plan = self._loaded()
        chunk_size = _check_positive_int("chunk_size", chunk_size)
        rule = parse_exit_rule(exit_rule, program.n_outputs)
        x, T, images = _check_inputs(inputs, timesteps, program.n_inputs, encoding, seed)
        # each chunk gets arrays of its own, handed over to the caller with its result
        for _, _, out, links in self._simulate(x, T, images, encoding, seed, chunk_size, record, progress, rule,
                                               lambda b0, b1: _allocate(program, plan, b1 - b0, T, record)):
            result = _result(program, plan, out, links)
            yield apply_exit(result, rule, copy=False, link_counters=links) if rule.enabled else result

    # ---------------------------------------------------------------- internal
    def _loaded(self) -> tuple[ChipProgram, EnginePlan]:
        if self._program is None:
            raise ProgramError("no program loaded: call chip.load(program) first")
        return self._program, self._plan

    def _simulate(self, x: np.ndarray, T: int, images: bool, encoding: str, seed: int, chunk_size: int,
                  record: bool, progress: bool, rule: ExitRule,
                  outputs_for: Callable[[int, int], dict]) -> Iterator[tuple[int, int, dict, np.ndarray | None]]:
        """Simulate the batch ``x`` chunk by chunk; yield ``(b0, b1, out, links)`` as each chunk finishes.

        ``outputs_for(b0, b1)`` gives the arrays the kernel writes images ``b0..b1-1`` into (an
        :func:`_allocate` dict of ``b1 - b0`` rows); ``links`` is the chunk's per-link sums under the mesh NoC
        (None under ideal). The pools are shut down when the generator ends or is closed.
        """
        program, plan = self._program, self._plan
        n_in = program.n_inputs
        B = int(x.shape[0])
        chunk = max(1, min(chunk_size, CHUNK_RASTER_BYTES // (T * n_in)))
        # bytes per spike-list slot: an index (at most 4) and, with partial-sum cores, a membrane value
        slot_bytes = 4 + (np.dtype(plan.acc_dtype).itemsize if plan.psums.out.any() else 0)
        micro = max(1, min(MICRO_BATCH, SPIKE_STORE_BYTES // (T * int(plan.strides.sum()) * slot_bytes)))
        threads = max(1, min(numba.get_num_threads(), -(-B // micro)))
        free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(threads):
            free.put(_Scratch(plan, micro, T))
        exits = _exit_inputs(program, plan, {"mem_col": _output_columns(plan, record)}, rule)

        from tqdm import tqdm

        def prepare(b0: int, b1: int) -> np.ndarray:
            # the chunk's input raster, as the uint64 words the kernel reads
            if images:
                raster = encode(x[b0:b1], T, encoding, int(seed), first_index=b0)
            elif x.dtype == np.uint8 or x.dtype == np.bool_:
                # 0/1 is checked by the kernel on the fly, with no extra pass
                raster = np.ascontiguousarray(x[b0:b1]).view(np.uint8)
            else:
                raster = as_raster_batch(x[b0:b1], n_in)
            return _as_words(raster, n_in)

        pool = ThreadPoolExecutor(threads, thread_name_prefix="hwsim") if threads > 1 else None
        # The next chunk is encoded while this one is simulated. The tasks of chunk k+1 are queued
        # before chunk k is finished, so threads never idle at a chunk boundary; at most three
        # chunks are in memory (one finishing, one running, one being encoded).
        feeder = ThreadPoolExecutor(1, thread_name_prefix="hwsim-encode")
        try:
            with tqdm(total=B, unit="image", disable=not progress, desc="hwsim") as bar:
                starts = list(range(0, B, chunk))
                pending = feeder.submit(prepare, 0, min(B, chunk)) if starts else None
                running = None
                for b0 in starts:
                    b1 = min(B, b0 + chunk)
                    words = pending.result()
                    if b1 < B:
                        pending = feeder.submit(prepare, b1, min(B, b1 + chunk))
                    started = self._start_chunk(words, b0, b1, outputs_for(b0, b1), exits, free, micro, pool)
                    if running is not None:
                        finished = self._finish_chunk(running)
                        bar.update(finished[1] - finished[0])
                        yield finished
                    running = started
                if running is not None:
                    finished = self._finish_chunk(running)
                    bar.update(finished[1] - finished[0])
                    yield finished
        finally:
            feeder.shutdown(cancel_futures=True)
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _start_chunk(self, raster, b0: int, b1: int, out: dict, exits: ExitInputs, free: queue.SimpleQueue,
                     micro: int, pool) -> tuple:  # fmt: skip
        """Simulate images ``b0..b1-1`` into ``out`` (their ``b1 - b0`` rows; queued on the pool, if any); return
        what :meth:`_finish_chunk` needs.

        ``free`` holds the per-thread scratch sets; a task borrows one while it runs.
        """
        plan = self._plan
        Bc, T = raster.shape[0], raster.shape[1]  # raster: (Bc, T, n_words) uint64
        route_cycles = np.empty((Bc, T, len(plan.order)), np.int64)
        outputs = ChipOutputs(
            counters=out["counters"],
            route_cycles=route_cycles,
            host_counters=out["host_counters"],
            mem_out=out["mem_target"],
            spk_out=out["spk_target"],
            mem_col=out["mem_col"],
            spk_col=out["spk_col"],
        )

        # The structures go in as plain tuples: Numba types a namedtuple argument through Python on
        # every call (~1 us each), a plain tuple in C; chip_pass names the fields again.
        program_arrays = tuple(map(tuple, (plan.host, plan.routes, plan.incoming, plan.psums, plan.neurons,
                                           plan.weights, plan.consts)))  # fmt: skip
        outputs = tuple(outputs)

        noc_arrays = (tuple(plan.noc), tuple(exits))
        noc_counters = out["noc_counters"]
        # A thread's per-link sums grow over every task it runs (chip-spec §1.5); a task adds its growth here,
        # so the chunk's own sums are known although tasks of two chunks overlap.
        link_parts: list[np.ndarray] = []

        def images(lo: int, hi: int, s: _Scratch) -> int:
            before = s.noc.links.copy() if plan.noc.enabled else None
            bad = chip_pass(lo, hi, micro, raster, _BIG_ENDIAN, plan.order, *program_arrays, tuple(s.lists),
                            tuple(s.core), outputs, *noc_arrays, tuple(s.noc), noc_counters)  # fmt: skip
            if before is not None:
                link_parts.append(s.noc.links - before)
            return bad

        # Images are independent. Tasks of a few micro-batches go to whichever
        # thread is free (balances the load when other processes share the CPUs);
        # each task borrows one thread's scratch. A call costs tens of microseconds
        # (Numba types every array argument), so tasks are not made smaller than
        # that balance needs, and one thread runs the whole chunk in one call.
        step = 4 * micro
        ranges = [(lo, min(Bc, lo + step)) for lo in range(0, Bc, step)]
        if pool is None:
            s = free.get()
            try:
                results = [images(0, Bc, s)]
            finally:
                free.put(s)
        else:

            def task(lo: int, hi: int) -> int:
                s = free.get()
                try:
                    return images(lo, hi, s)
                finally:
                    free.put(s)

            results = [pool.submit(task, lo, hi) for lo, hi in ranges]
        return b0, b1, out, results, route_cycles, link_parts

    def _finish_chunk(self, started: tuple) -> tuple[int, int, dict, np.ndarray | None]:
        """Wait for a chunk's tasks, check its inputs, add its chip-level cycles; return ``(b0, b1, out, links)``."""
        plan, chip = self._plan, self._program.chip
        b0, b1, out, results, route_cycles, link_parts = started
        bad = sum(r if isinstance(r, (int, np.integer)) else r.result() for r in results)
        if bad:
            raise InputError("input spikes must be binary (0 or 1)")
        counters = out["counters"]
        host_counters = out["host_counters"]
        # Chip-level cycles (chip-spec §1.2): stages in order, the cores of a stage in parallel.
        cycles = counters[..., COUNTER_NAMES.index("cycles")]
        # Under the mesh the kernel wrote the HOST and ROUTE(s) phase lengths there (chip-spec §1.5).
        route_total = host_counters[..., HOST_COUNTER_NAMES.index("route_cycles")]
        total = chip.barrier_cycles + route_total
        for s in np.unique(plan.stage):
            cols = plan.order[plan.stage == s]
            stage_route = route_cycles[..., cols].max(axis=-1)
            total = total + cycles[..., cols].max(axis=-1) + stage_route
            route_total = route_total + stage_route
        out["timestep_cycles"][...] = total
        # the timestep's routing cycles (chip-spec §1.5): under the mesh the phase lengths stand where §1.2's are
        out["noc_counters"][..., NOC_COUNTER_NAMES.index("route_cycles")] = route_total
        links = _zero_links(plan)
        for part in link_parts:
            links += part
        return b0, b1, out, links


class _Scratch:
    """Per-thread working arrays of :func:`hwsim.kernels.chip_pass`, reused across chunks.

    The arrays start on a 64-byte boundary (:meth:`empty`): the membranes are read and written with
    64-byte vectors, and ``malloc`` places a small array at any multiple of 16 bytes, different from
    process to process. Unaligned, vector accesses split across two cache lines: adding int8 weight
    rows to 256 int16 membranes measured 1.15x slower at offset 16 than at offset 0 (benchmarks/bench_engine.py).
    """

    ALIGN = 64

    @classmethod
    def empty(cls, n: int, dtype) -> np.ndarray:
        """An uninitialised ``(n,)`` array whose data start on an ``ALIGN``-byte boundary."""
        itemsize = np.dtype(dtype).itemsize
        raw = np.empty(n * itemsize + cls.ALIGN, np.uint8)
        skip = -raw.ctypes.data % cls.ALIGN
        return raw[skip : skip + n * itemsize].view(dtype)

    @classmethod
    def aligned(cls, array: np.ndarray) -> np.ndarray:
        """A copy of a 1-D array on an ``ALIGN``-byte boundary (the weight SRAM of :func:`_pack` too)."""
        out = cls.empty(array.size, array.dtype)
        out[:] = array
        return out

    def __init__(self, plan: EnginePlan, micro: int, T: int) -> None:
        sizes = micro * T * plan.strides
        dtype = np.int16 if int(plan.strides.max()) <= np.iinfo(np.int16).max else np.int32
        self.lists = SpikeLists(
            store=self.empty(int(sizes.sum()), dtype),
            base=_i64(np.concatenate([[0], np.cumsum(sizes)[:-1]])),
            stride=plan.strides,
            counts=np.zeros((len(plan.strides), micro, T), np.int32),
            # a partial-sum core's membranes, where its spike list would be; none without partial-sum cores
            values=self.empty(int(sizes.sum()) if plan.psums.out.any() else 0, plan.acc_dtype),
        )
        n_max = int(plan.neurons.n_neurons.max())
        self.core = CoreScratch(
            v=self.empty(n_max, plan.acc_dtype),
            axons=self.empty(int(plan.weights.n_axons.max()), np.int32),
            fired=self.empty(n_max, np.uint8),
        )
        self.noc = _noc_scratch(plan.noc, micro, T, int(plan.neurons.n_neurons[plan.output_offset >= 0].sum()))


def _padded(n_inputs: int) -> int:
    return -(-n_inputs // 8) * 8


def _as_words(raster: np.ndarray, n_inputs: int) -> np.ndarray:
    """``(B, T, n_inputs)`` 0/1 bytes -> ``(B, T, n_words)`` uint64, zero-padded rows (a view when possible)."""
    raster = np.ascontiguousarray(raster, dtype=np.uint8)
    n_pad = _padded(n_inputs)
    if n_pad != n_inputs or raster.ctypes.data % 8:
        padded = np.zeros(raster.shape[:2] + (n_pad,), np.uint8)
        padded[..., :n_inputs] = raster
        raster = padded
    return raster.view(np.uint64)


def _check_inputs(inputs, timesteps, n_in: int, encoding: str, seed) -> tuple[np.ndarray, int, bool]:
    """Shape checks of :meth:`Chip.run`; returns (batch array, T, whether it holds images)."""
    x = np.asarray(inputs)
    if timesteps is None:
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise InputError(
                f"inputs have shape {x.shape}: expected a raster (T, n_inputs) or (batch, T, n_inputs), "
                "or images (batch, n_inputs) together with timesteps"
            )
        if x.shape[2] != n_in:
            raise InputError(f"input spikes have {x.shape[2]} inputs; the program expects {n_in}")
        if x.shape[1] < 1:
            raise InputError("input spikes have 0 timesteps; expected at least 1")
        return x, int(x.shape[1]), False
    T = _check_positive_int("timesteps", timesteps)
    if x.ndim == 3:
        if x.shape[1] != T:
            raise InputError(f"timesteps = {T} but the input raster has {x.shape[1]} timesteps")
        if x.shape[2] != n_in:
            raise InputError(f"input spikes have {x.shape[2]} inputs; the program expects {n_in}")
        return x, T, False
    if x.ndim not in (1, 2):
        raise InputError(
            f"inputs have shape {x.shape}: expected images (batch, n_inputs) or a raster (batch, T, n_inputs)"
        )
    if x.ndim == 1:
        x = x[None]
    if x.shape[1] != n_in:
        raise InputError(f"images have {x.shape[1]} pixels; the program expects {n_in} inputs")
    if encoding not in ENCODINGS:
        raise InputError(f"encoding = {encoding!r}: allowed {', '.join(ENCODINGS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed = {seed!r}: expected an integer >= 0")
    return x, T, True


def _pack(program: ChipProgram) -> EnginePlan:
    """Unpack a validated program into kernel arrays (weights in their compact type).

    The digital counterpart of :func:`hwsim.rram.engine.pack` (an RRAM chip instance into a
    :class:`~hwsim.rram.engine.RramEnginePlan`).
    """
    chip, cc = program.chip, program.chip.core
    # Narrow types make wide SIMD: int8 weights with int16 membranes when both fit,
    # else int16 weights with int32 membranes (two kernel variants to compile, not four).
    narrow = cc.w_bits <= 8 and cc.v_bits <= 16
    wdt, bdt, acc = (np.int8, np.int16, np.int16) if narrow else (np.int16, np.int64, np.int32)
    order = tuple(sorted(range(len(program.cores)), key=lambda k: (program.cores[k].stage, k)))
    sender_of = {program.cores[k].core: i + 1 for i, k in enumerate(order)}
    incoming: dict[int, list[tuple[int, int, int, int]]] = {cp.core: [] for cp in program.cores}
    psums_in: dict[int, list[tuple[int, int, int, int]]] = {cp.core: [] for cp in program.cores}
    for r in program.host_routes:
        incoming[r.dest_core].append((r.axon_offset, 0, r.src_lo, r.src_hi))
    for cp in program.cores:
        # a partial-sum core's routes carry partial sums to neurons (chip-spec §1.3), not spikes to axons
        into = psums_in if cp.psum_out else incoming
        for r in cp.routes:
            into[r.dest_core].append((r.axon_offset, sender_of[cp.core], r.src_lo, r.src_hi))
    cores = [program.cores[k] for k in order]
    weights = [np.ascontiguousarray(cp.weights, dtype=wdt) for cp in cores]
    ins = [sorted(incoming[cp.core]) for cp in cores]
    ps_ins = [sorted(psums_in[cp.core]) for cp in cores]
    hops = [[chip.hops(cp.core, r.dest_core) for r in cp.routes] for cp in cores]
    host_hops = [chip.hops(0, r.dest_core) for r in program.host_routes]

    def flat(rows):
        return _i64([x for row in rows for x in row])

    def ptr(rows):
        return _i64(np.concatenate([[0], np.cumsum([len(row) for row in rows])]))

    n = [cp.n_neurons for cp in cores]
    position = {cp.core: i for i, cp in enumerate(cores)}  # stage-order index of each mesh core
    host_hops = _i64(host_hops)
    # the senders of the mesh NoC, in spike-list numbering: the host, then the cores in stage order
    tables = [program.host_routes] + [cp.routes for cp in cores]
    stages = [cp.stage for cp in cores]
    noc = MeshNoc(
        enabled=chip.noc == "mesh",
        rows=int(chip.mesh_rows),
        cols=int(chip.mesh_cols),
        depth=int(chip.router_buffer_flits),
        hop_latency=int(chip.hop_latency_cycles),
        row=_i64(np.arange(chip.n_cores) // chip.mesh_cols),
        col=_i64(np.arange(chip.n_cores) % chip.mesh_cols),
        router=_i64([0] + [cp.core for cp in cores]),  # the host port sits at core 0's router (chip-spec §1.1)
        psum=np.array([False] + [bool(cp.psum_out) for cp in cores]),
        n_sources=_i64([program.n_inputs] + n),
        ptr=ptr(tables),
        dest=flat([[r.dest_core for r in table] for table in tables]),
        lo=flat([[r.src_lo for r in table] for table in tables]),
        hi=flat([[r.src_hi for r in table] for table in tables]),
        group=_i64([i for i in range(len(cores)) if i == 0 or stages[i] != stages[i - 1]] + [len(cores)]),
    )
    return EnginePlan(
        order=_i64(order),
        stage=_i64([cp.stage for cp in cores]),
        host=RoutingTable(
            ptr=_i64([0, len(program.host_routes)]),
            dest=_i64([position[r.dest_core] for r in program.host_routes]),
            lo=_i64([r.src_lo for r in program.host_routes]),
            hi=_i64([r.src_hi for r in program.host_routes]),
            offset=_i64([r.axon_offset for r in program.host_routes]),
            hops=host_hops,
            max_hops=_i64([host_hops.max()]),
        ),
        routes=RoutingTable(
            ptr=ptr([cp.routes for cp in cores]),
            dest=flat([[position[r.dest_core] for r in cp.routes] for cp in cores]),
            lo=flat([[r.src_lo for r in cp.routes] for cp in cores]),
            hi=flat([[r.src_hi for r in cp.routes] for cp in cores]),
            offset=flat([[r.axon_offset for r in cp.routes] for cp in cores]),
            hops=flat(hops),
            max_hops=_i64([max(h, default=0) for h in hops]),
        ),
        incoming=IncomingRoutes(
            ptr=ptr(ins),
            sender=flat([[i[1] for i in row] for row in ins]),
            lo=flat([[i[2] for i in row] for row in ins]),
            hi=flat([[i[3] for i in row] for row in ins]),
            offset=flat([[i[0] for i in row] for row in ins]),
        ),
        psums=PartialSums(
            out=np.array([bool(cp.psum_out) for cp in cores]),
            ptr=ptr(ps_ins),
            sender=flat([[i[1] for i in row] for row in ps_ins]),
            lo=flat([[i[2] for i in row] for row in ps_ins]),
            hi=flat([[i[3] for i in row] for row in ps_ins]),
            offset=flat([[i[0] for i in row] for row in ps_ins]),
        ),
        neurons=NeuronArrays(
            n_neurons=_i64(n),
            start=_i64(np.concatenate([[0], np.cumsum(n)[:-1]])),
            bias=np.ascontiguousarray(np.concatenate([cp.bias for cp in cores]), dtype=bdt),
            threshold=_i64([cp.threshold for cp in cores]),
            leak_shift=_i64([cp.leak_shift for cp in cores]),
            integration=np.array([cp.integration_code for cp in cores], np.uint8),
            reset=np.array([cp.reset_code for cp in cores], np.uint8),
            fire=np.array([bool(cp.fire) for cp in cores]),
            n_groups=_i64([cc.groups(cp.n_neurons) for cp in cores]),
        ),
        weights=SramWeights(
            n_axons=_i64([cp.n_axons for cp in cores]),
            start=_i64(np.concatenate([[0], np.cumsum([w.size for w in weights])[:-1]])),
            w=_Scratch.aligned(np.concatenate([w.ravel() for w in weights])),  # 64-byte aligned (_Scratch)
            w_pos=_i64([max(0, int(w.max())) for w in weights]),
            w_neg=_i64([max(0, -int(w.min())) for w in weights]),
        ),
        consts=ChipConstants(
            v_min=int(cc.v_min),
            v_max=int(cc.v_max),
            start_done_cycles=CORE_START_CYCLES + CORE_DONE_CYCLES,
            sram_latency_cycles=SRAM_READ_LATENCY_CYCLES,
            hop_latency=int(chip.hop_latency_cycles),
            barrier_cycles=int(chip.barrier_cycles),
        ),
        output_offset=_i64([cp.output_offset if cp.is_output else -1 for cp in cores]),
        acc_dtype=acc,
        strides=_i64([_padded(program.n_inputs)] + n),
        noc=noc,
    )


def _noc_scratch(noc: MeshNoc, micro: int, T: int, K: int) -> NocScratch:
    """Per-thread working arrays of the mesh NoC (:data:`~hwsim.kernels.layout.NocScratch`) for ``micro`` images of
    ``T`` timesteps and ``K`` outputs; tiny under ideal."""
    R = noc.rows * noc.cols if noc.enabled else 1
    D = noc.depth if noc.enabled else 1
    return NocScratch(
        buf_dest=np.zeros(R * 5 * D, np.int64),
        buf_out=np.zeros(R * 5 * D, np.int64),
        buf_ready=np.zeros(R * 5 * D, np.int64),
        buf_head=np.zeros(R * 5, np.int64),
        buf_len=np.zeros(R * 5, np.int64),
        pointer=np.zeros(R * 5, np.int64),
        ni_sender=np.full(R, -1, np.int64),
        ni_q=np.zeros(R, np.int64),
        ni_r=np.zeros(R, np.int64),
        ni_dest=np.full(R, -1, np.int64),  # no packet at any network interface
        ni_out=np.zeros(R, np.int64),
        ni_at=np.zeros(R, np.int64),
        ni_n=np.zeros(R, np.int64),
        pending=np.zeros(R, np.int64),
        active=np.zeros(R, np.int64),
        touched=np.zeros(R, np.int64),
        in_active=np.zeros(R, np.uint8),
        popped=np.zeros(5 * R, np.int64),
        links=np.zeros((R, 5, len(LINK_COUNTER_NAMES)), np.int64),
        exit_values=np.zeros((micro, T, K) if noc.enabled else (0, 0, 0), np.int64),
        exit_t=np.zeros(micro, np.int64),
    )


def _zero_links(plan: EnginePlan) -> np.ndarray | None:
    """Per-link sums of nothing yet: zeros ``(routers, 5, len(LINK_COUNTER_NAMES))`` under the mesh NoC, else None."""
    if not plan.noc.enabled:
        return None
    return np.zeros((plan.noc.rows * plan.noc.cols, 5, len(LINK_COUNTER_NAMES)), np.int64)


def _exit_inputs(program: ChipProgram, plan: EnginePlan, out: dict, rule: ExitRule) -> ExitInputs:
    """The exit rule as :func:`hwsim.kernels.chip_pass` reads it: only under the mesh NoC, where the kernel must
    know each image's exit before its routing phases (their per-link sums cannot be cut afterwards). Of ``out``
    (an :func:`_allocate` dict) it reads only ``mem_col``."""
    from hwsim.exit_unit import _EXP_LUT_ARRAY, _LN_LUT_ARRAY
    from hwsim.kernels.exit_unit import RULE_CODES

    cols = np.zeros(program.n_outputs, np.int64)  # output o's column in mem_out/spk_out
    for i, offset in enumerate(plan.output_offset):
        if offset >= 0:
            n = int(plan.neurons.n_neurons[i])
            cols[offset : offset + n] = int(out["mem_col"][i]) + np.arange(n)
    enabled = plan.noc.enabled and rule.enabled
    return ExitInputs(
        rule=RULE_CODES[rule.rule] if enabled else 0,
        threshold=int(rule.threshold) if enabled else 0,
        gain_num=int(rule.gain_num) if enabled else 0,
        exp_lut=_EXP_LUT_ARRAY,
        ln_lut=_LN_LUT_ARRAY,
        membrane=program.readout == "membrane",
        cols=cols,
    )


def _allocate(program: ChipProgram, plan: EnginePlan, B: int, T: int, record: bool) -> dict:
    """Result arrays, plus where the kernel writes membranes and spikes.

    Without ``record`` only output cores write, straight into the output arrays;
    with it every core writes into one ``(B, T, sum n_neurons)`` array, split
    per core afterwards.
    """
    C, n_out = len(program.cores), program.n_outputs
    out = {
        "output_spikes": np.zeros((B, T, n_out), np.uint8),
        "output_membranes": np.zeros((B, T, n_out), np.int32),
        "counters": np.zeros((B, T, C, N_COUNTERS), np.int64),
        "host_counters": np.zeros((B, T, N_HOST_COUNTERS), np.int64),
        "timestep_cycles": np.zeros((B, T), np.int64),
        "noc_counters": np.zeros((B, T, len(NOC_COUNTER_NAMES)), np.int64),
        "record": record,
    }
    if record:
        total = int(plan.neurons.n_neurons.sum())
        out["mem_target"] = np.zeros((B, T, total), np.int32)
        out["spk_target"] = np.zeros((B, T, total), np.uint8)
    else:
        out["mem_target"], out["spk_target"] = out["output_membranes"], out["output_spikes"]
    out["mem_col"] = out["spk_col"] = _output_columns(plan, record)
    return out


# the keys of an _allocate dict whose arrays have a row per image
_PER_IMAGE = ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles", "noc_counters",
              "mem_target", "spk_target")


def _rows(out: dict, b0: int, b1: int) -> dict:
    """Rows ``b0..b1-1`` of an :func:`_allocate` dict, as views (what the kernel writes a chunk into)."""
    return {key: value[b0:b1] if key in _PER_IMAGE else value for key, value in out.items()}


def _output_columns(plan: EnginePlan, record: bool) -> np.ndarray:
    """Where each core's membranes and spikes go in the kernel's target arrays: every core's own columns of the
    ``(B, T, sum n_neurons)`` arrays with ``record``, else the output cores' columns of the outputs (-1: none)."""
    return plan.neurons.start if record else plan.output_offset


def result_bytes(program: ChipProgram, batch: int, timesteps: int, record: bool = False) -> int:
    """Bytes :meth:`Chip.run` holds for the result of ``batch`` images of ``timesteps`` timesteps: the result's
    arrays (:func:`hwsim.result.result_bytes`) and, with ``record``, the kernel's ``(B, T, sum n_neurons)``
    membranes and spikes the result's per-core arrays are copied from (both are held at the end of the run)."""
    recorded = sum(cp.n_neurons for cp in program.cores) if record else 0
    return run_result_bytes(batch, timesteps, program.n_outputs, len(program.cores), 2 * recorded)


def _check_result_bytes(program: ChipProgram, batch: int, timesteps: int, record: bool, limit) -> None:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise InputError(f"max_result_bytes = {limit!r}: expected an integer >= 1")
    need = result_bytes(program, batch, timesteps, record)
    if need > limit:
        raise InputError(
            f"the result of {batch} images x {timesteps} timesteps{' with record=True' if record else ''} would take "
            f"{_gib(need)} of memory, above max_result_bytes = {_gib(limit)}: stream it with Chip.run_chunks "
            "(one chunk of images at a time, same arguments; hwsim.result.save_chunks writes them to disk), "
            "run fewer images at once, "
            + ("record fewer images, " if record else "")
            + f"or pass max_result_bytes >= {need} if the memory is there"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB ({n} bytes)"


def _result(program: ChipProgram, plan: EnginePlan, out: dict, link_counters: np.ndarray | None = None) -> RunResult:
    membranes = core_spikes = None
    if out["record"]:
        membranes = [None] * len(plan.order)
        core_spikes = [None] * len(plan.order)
        for i, k in enumerate(plan.order):
            lo, n = int(plan.neurons.start[i]), int(plan.neurons.n_neurons[i])
            membranes[k] = np.ascontiguousarray(out["mem_target"][:, :, lo : lo + n])
            core_spikes[k] = np.ascontiguousarray(out["spk_target"][:, :, lo : lo + n])
            if plan.output_offset[i] >= 0:
                o = int(plan.output_offset[i])
                out["output_membranes"][:, :, o : o + n] = membranes[k]
                out["output_spikes"][:, :, o : o + n] = core_spikes[k]
    return RunResult(
        output_spikes=out["output_spikes"],
        output_membranes=out["output_membranes"],
        counters=out["counters"],
        host_counters=out["host_counters"],
        timestep_cycles=out["timestep_cycles"],
        core_ids=tuple(cp.core for cp in program.cores),
        readout=program.readout,
        membranes=membranes,
        core_spikes=core_spikes,
        noc_counters=out["noc_counters"],
        link_counters=link_counters,
    )

"""Running a report: encode the images, simulate them on the program's chip, build the :class:`Report`.

:func:`evaluate` is the one entry point (``hwsim run`` and ``hwsim report`` call it); the simulator and the
energy model come from :func:`hwsim.report.backend.backend_of`, and every number from
:func:`hwsim.report.model.build_report`.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from hwsim.encoding import check_timesteps, encode
from hwsim.energy import EnergyTable, load_table
from hwsim.errors import InputError
from hwsim.exit_unit import ExitRule, apply_exit
from hwsim.parallel import TaskPool, program_from_wire, program_to_wire
from hwsim.program import ChipProgram
from hwsim.report.backend import backend_of
from hwsim.report.early_exit import (
    PREFIX_ENCODINGS,
    EarlyExit,
    exit_point,
    first_timesteps,
    fixed_curve_timesteps,
    resolve_exit_rules,
)
from hwsim.report.model import Report, SweepPoint, build_report, prediction_accuracy, raster_layers
from hwsim.report.summary import RunSummary, band_tables, summarize
from hwsim.result import RunResult, result_bytes

__all__ = ["default_sweep", "evaluate", "CHUNK_RESULT_BYTES"]

#: The most one chunk's run (its per-timestep arrays, hwsim.result.result_bytes) may take in a report.
CHUNK_RESULT_BYTES = 256 * 2**20


def default_sweep(timesteps: int) -> list[int]:
    """Powers of two up to ``2 * timesteps`` (at most 32), plus ``timesteps`` itself (docs/energy.md §7)."""
    values = {timesteps}
    t = 1
    while t <= min(2 * timesteps, 32):
        values.add(t)
        t *= 2
    return sorted(values)


def evaluate(
    program: ChipProgram,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    timesteps: int,
    encoding: str = "rate",
    seed: int = 0,
    table: EnergyTable | str | None = None,
    sweep: Sequence[int] | None = None,
    raster_image: int | None = 0,
    simulator: str = "engine",
    chunk_size: int = 256,
    progress: Callable[[str], None] | None = None,
    progress_bar: bool = False,
    meta: dict | None = None,
    instance_seed: int = 0,
    adc_scales: Sequence[int] | None = None,
    calibration_images: np.ndarray | None = None,
    exit_rule: ExitRule | str | None = None,
    exit_sweep: str | Sequence[str] | None = None,
    exit_scale: float | None = None,
    network_metadata: dict | None = None,
    pool: TaskPool | None = None,
) -> Report:
    """Simulate ``program`` on images and build the full report.

    A program for an RRAM chip runs on one manufactured chip instance
    (:func:`hwsim.rram.program_chip` with ``instance_seed``); the main run, the timestep sweep and
    the raster all use that instance and the same ADC scale registers.

    Args:
        program: A validated chip program.
        images: ``(B, n_inputs)`` intensities in [0, 1].
        labels: ``(B,)`` classes, for accuracy.
        timesteps: T of the main run.
        encoding: Input coding (``rate``, ``threshold``, ``latency``).
        seed: Encoder seed; image ``i`` always gets the same raster.
        table: Energy table (default: the chip's technology).
        sweep: Timesteps for the energy/accuracy-versus-T figure; None = :func:`default_sweep`,
            empty = no sweep.
        raster_image: Index of the image whose spikes are recorded, or None.
        simulator: ``"engine"`` (:class:`hwsim.chip.Chip`; :func:`hwsim.rram.run_rram` for RRAM) or
            ``"golden"`` (:func:`hwsim.golden.simulate`; :func:`hwsim.rram.simulate_rram`).
        chunk_size: Images encoded and simulated at a time, fewer if their run would take more than
            :data:`CHUNK_RESULT_BYTES`. Each chunk is summarized (:mod:`hwsim.report.summary`) and dropped, so the
            memory a report takes grows by a few hundred bytes per image whatever the run's ``T``.
        progress: Called with a short message before each step (e.g. ``print``).
        progress_bar: Show a tqdm bar (on stderr) over the images of each run.
        meta: Extra provenance for ``report.json``.
        instance_seed: RRAM chips only: the chip instance (seed of its device draws and read noise).
        adc_scales: RRAM chips only: per-core ADC scale registers; default: calibrated on
            ``calibration_images`` at ``timesteps`` (:func:`hwsim.rram.engine.calibrate_on_images`).
        calibration_images: RRAM chips only: training images ``(n, n_inputs)`` for the calibration.
        exit_rule: Early exit (chip-spec §1.4): ``none`` (default), ``margin:M``, ``confidence:ALPHA``,
            ``entropy:H`` or an :class:`~hwsim.exit_unit.ExitRule`. The network still runs once at the full
            ``timesteps`` (the fixed-T run, also reported: ``accuracy_fixed_t``, ``energy_nj_per_image_fixed_t``);
            the report's own numbers are those of that run cut after each image's exit
            (:func:`hwsim.exit_unit.apply_exit`).
        exit_sweep: Rules for the exit frontier, e.g. ``"confidence:0.5,0.7,0.9,0.99"`` (several rules
            separated by ``;``) or a list of rule texts; each is applied to the same fixed-T run.
        exit_scale: Logit units per integer step of the output layer, for ``confidence`` and ``entropy``;
            default: ``scales[-1]`` of ``network_metadata`` (a membrane readout only), see
            :mod:`hwsim.report.early_exit`.
        network_metadata: Metadata of the network the program was mapped from (``Network.metadata``), for
            the default ``exit_scale``; default: ``program.metadata``.
        pool: Where the simulations run (:func:`hwsim.parallel.task_pool`). None or a thread pool: in this
            process, one run after the other, each spread over the cores by the engine (as before). A Dask
            pool: every (T, chunk of ``chunk_size`` images) of the main run, the timestep sweep and the
            separate runs of a latency-coded exit curve is a task (:func:`_simulate_task`), all submitted at
            once and joined in chunk order; the report is the same bits. The raster recording and the ADC
            calibration of an RRAM chip stay in this process.

    Raises:
        InputError: images or labels of the wrong shape; an RRAM chip without ADC scales or
            calibration images; an exit rule that does not parse, or needs a scale that is not known.
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != program.n_inputs:
        raise InputError(
            f"images have shape {images.shape}; the program expects (n_images, {program.n_inputs})"
        )
    if images.shape[0] < 1:
        raise InputError("no images to run")
    if labels is not None and np.shape(labels) != (images.shape[0],):
        raise InputError(f"labels have shape {np.shape(labels)}; expected ({images.shape[0]},), one per image")
    for T in [timesteps] + list(sweep or []):
        check_timesteps(T)
    if simulator not in ("engine", "golden"):
        raise InputError(f"simulator = {simulator!r}: allowed engine, golden")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InputError(f"chunk_size = {chunk_size!r}: expected an integer >= 1")
    # fewer images per chunk when a chunk's run would hold more than CHUNK_RESULT_BYTES (a large program at a
    # large T); the report does not depend on the chunking
    longest = max([timesteps] + [int(t) for t in (default_sweep(timesteps) if sweep is None else sweep)])
    per_image = result_bytes(1, longest, program.n_outputs, len(program.cores))
    chunk_size = max(1, min(int(chunk_size), CHUNK_RESULT_BYTES // per_image))
    table = load_table(program.chip.technology if table is None else table)
    rules = resolve_exit_rules(program.n_outputs, program.readout, exit_rule, exit_sweep, exit_scale,
                               program.metadata if network_metadata is None else network_metadata)
    say = progress or (lambda msg: None)
    B = images.shape[0]
    info = {"timesteps": timesteps, "encoding": encoding, "seed": seed, "simulator": simulator}
    backend = backend_of(program)
    sim, chip_info = backend.simulator(program, simulator, instance_seed=instance_seed, adc_scales=adc_scales,
                                       calibration_images=calibration_images, timesteps=timesteps,
                                       encoding=encoding, say=say)
    info.update(chip_info)

    def chunks_here(T: int, bar: bool) -> Iterator[RunResult]:
        from tqdm import tqdm

        with tqdm(total=B, unit="image", desc=f"T={T}", disable=not (bar and progress_bar), file=sys.stderr,
                  leave=False) as pbar:
            for b0 in range(0, B, chunk_size):
                part = _simulate_chunk(sim, images, T, encoding, seed, b0, min(B, b0 + chunk_size))
                pbar.update(part.batch_size)
                yield part

    remote = None
    if pool is not None and pool.client is not None:
        # every run this report asks for, as (T, chunk) tasks submitted now, so the workers run the sweep and a
        # latency-coded exit curve while the main run is collected; as in this process, the sweep and the curve
        # take their T = timesteps point from the main run, and a T both ask for runs twice
        runs = [timesteps] + [int(t) for t in (default_sweep(timesteps) if sweep is None else sweep)
                              if t != timesteps]
        if rules.any and encoding not in PREFIX_ENCODINGS:
            runs += [t for t in fixed_curve_timesteps(timesteps) if t != timesteps]
        shared = {"program": program_to_wire(program), "simulator": simulator, "images": images,
                  "encoding": encoding, "seed": int(seed), "instance_seed": int(instance_seed),
                  "adc_scales": None if chip_info.get("adc_scales") is None
                  else [int(a) for a in chip_info["adc_scales"]]}
        remote = _RemoteRuns(pool, shared, runs, B, chunk_size, progress_bar)
    chunks = chunks_here if remote is None else remote.chunks
    try:
        return _evaluate_runs(chunks, sim, program, images, labels, timesteps, encoding, seed, table, sweep, rules,
                              backend, raster_image, info, meta, say, simulator)
    finally:
        if remote is not None:
            remote.cancel()


def _evaluate_runs(chunks, sim, program, images, labels, timesteps, encoding, seed, table, sweep, rules, backend,
                   raster_image, info, meta, say, simulator) -> Report:  # fmt: skip
    """The report from ``chunks(T, bar)``, the chunks of a run at ``T`` in order (simulated in this process or
    collected from the tasks).

    Each run is summarized chunk by chunk (:mod:`hwsim.report.summary`) and its per-timestep arrays dropped, so
    memory grows with the images by the summaries only; the report is that of the whole runs, bit for bit.
    """
    B = images.shape[0]
    prefix = encoding in PREFIX_ENCODINGS

    def summary_of(parts: Iterator[RunResult]) -> RunSummary:
        return RunSummary.concatenate([summarize(r, program, table, backend.energy, full=False) for r in parts])

    say(f"simulating {B} images x {timesteps} timesteps ({simulator})")
    for rule in rules.sweep:
        say(f"exit sweep: {rule.text} (applied to each chunk of the run as it is simulated)")
    # One pass over the fixed-T run gives every number that comes from it: the report's own run (the fixed-T run
    # cut after each image's exit; exact: later timesteps never change earlier ones), the fixed-T run itself, each
    # rule of the exit sweep, and the fixed-T curve's first t timesteps when the coding allows.
    curve_prefixes = [t for t in fixed_curve_timesteps(timesteps) if t < timesteps] if rules.any and prefix else []
    main, fixed, by_rule, by_prefix = [], [], [[] for _ in rules.sweep], [[] for _ in curve_prefixes]
    bands = band_tables(program, table)
    for part in chunks(timesteps, True):
        cut = apply_exit(part, rules.main) if rules.main.enabled else part
        main.append(summarize(cut, program, table, backend.energy, bands=bands))
        if rules.main.enabled:
            fixed.append(summarize(part, program, table, backend.energy, full=False))
        for rule, into in zip(rules.sweep, by_rule):
            into.append(summarize(apply_exit(part, rule), program, table, backend.energy, full=False))
        for t, into in zip(curve_prefixes, by_prefix):
            into.append(summarize(first_timesteps(part, t), program, table, backend.energy, full=False))
    result = RunSummary.concatenate(main)
    fixed = RunSummary.concatenate(fixed) if fixed else result
    points = []
    for T in default_sweep(timesteps) if sweep is None else sweep:
        if T == timesteps:
            r = fixed
        else:
            say(f"sweep: {B} images x {T} timesteps")
            r = summary_of(chunks(int(T), True))
        e = r.energy
        points.append(SweepPoint(int(T), prediction_accuracy(r.predictions, labels), e.energy_nj_per_image,
                                 e.latency_us_per_image, e.sops_per_image))
    early_exit = None
    if rules.any:
        exit_runs = [RunSummary.concatenate(parts) for parts in by_rule]
        prefix_runs = dict(zip(curve_prefixes, (RunSummary.concatenate(parts) for parts in by_prefix)))
        early_exit = _early_exit(rules, fixed, result, exit_runs, prefix_runs, labels, summary_of, chunks, encoding,
                                 say)
    raster = None
    if raster_image is not None:
        if not 0 <= raster_image < B:
            raise InputError(f"raster_image = {raster_image}: expected 0..{B - 1}")
        say(f"recording spikes of image {raster_image}")
        one = encode(images[raster_image : raster_image + 1], timesteps, encoding, seed, first_index=raster_image)
        rec = sim(one, record=True, first_index=raster_image)
        if rules.main.enabled:  # the timesteps the image ran under the exit rule
            ran = int(result.exit_timesteps[raster_image])
            rec, one = first_timesteps(rec, ran), one[:, :ran]
        raster = raster_layers(rec, program, one[0])
        if labels is not None:
            raster["label"] = int(np.asarray(labels)[raster_image])
        raster["prediction"] = int(rec.predictions[0])
    info.update(meta or {})
    return build_report(result, program, labels=labels, table=table, meta=info, sweep=points, raster=raster,
                        early_exit=early_exit)


def _early_exit(rules, fixed: RunSummary, result: RunSummary, exit_runs: list[RunSummary],
                prefix_runs: dict[int, RunSummary], labels, summary_of, chunks, encoding: str,
                say: Callable[[str], None]) -> EarlyExit:  # fmt: skip
    """The exit numbers of a report: the main rule and the sweep (``exit_runs``, the fixed-T run cut by each rule)
    against the fixed-T run, and the fixed-T curve.

    The curve's ``t < T`` points are the first ``t`` timesteps of the fixed-T run when the input coding allows
    (:data:`PREFIX_ENCODINGS`; ``prefix_runs``), else separate runs at ``T = t`` (``chunks(t, bar)``).
    """
    T = fixed.timesteps
    fixed_e = fixed.energy
    fixed_acc = prediction_accuracy(fixed.predictions, labels)

    def point(r: RunSummary):
        return exit_point(r, prediction_accuracy(r.predictions, labels), r.energy, fixed_e)

    main = point(result) if rules.main.enabled else None
    sweep = [point(r) for r in exit_runs]
    curve = []
    for t in fixed_curve_timesteps(T):
        if t == T:
            r = fixed
        elif t in prefix_runs:
            r = prefix_runs[t]
        else:
            say(f"fixed-T curve: T = {t} ({encoding} coding depends on T: a run of its own)")
            r = summary_of(chunks(t, True))
        e = r.energy
        curve.append(SweepPoint(t, prediction_accuracy(r.predictions, labels), e.energy_nj_per_image,
                                e.latency_us_per_image, e.sops_per_image))
    return EarlyExit(rules=rules, main=main, exit_timesteps=result.exit_timesteps if main else None,
                     fixed_accuracy=fixed_acc, fixed_energy_nj=fixed_e.energy_nj_per_image,
                     fixed_latency_us=fixed_e.latency_us_per_image, sweep=sweep, curve=curve)


def _simulate_chunk(sim, images: np.ndarray, T: int, encoding: str, seed: int, b0: int, b1: int) -> RunResult:
    """Images ``b0..b1-1`` at ``T`` timesteps. Image i's raster (chip-spec §3) and an RRAM chip's read noise
    (docs/rram.md §2.5) depend on i alone, not on the chunk."""
    raster = encode(images[b0:b1], T, encoding, seed, first_index=b0)
    return sim(raster, progress=False, first_index=b0)


# ----------------------------------------------------------------- on a Dask pool (docs/distributed.md)

_simulators: dict = {}
_simulators_lock = threading.Lock()
_SIMULATORS_KEPT = 2  # per worker process: a report's chip, and the next study's (an RRAM one keeps its noise)


def _worker_simulator(shared: dict):
    """The simulator of a report's chip on this worker, built once per program, simulator, chip instance and
    ADC scales (the same registers as the report's process: no calibration here)."""
    key = (shared["program"]["digest"], shared["simulator"], shared["instance_seed"],
           None if shared["adc_scales"] is None else tuple(shared["adc_scales"]))
    with _simulators_lock:
        sim = _simulators.get(key)
    if sim is None:
        program = program_from_wire(shared["program"])
        sim, _ = backend_of(program).simulator(
            program, shared["simulator"], instance_seed=shared["instance_seed"], adc_scales=shared["adc_scales"],
            calibration_images=None, timesteps=1, encoding=shared["encoding"], say=lambda message: None)
        with _simulators_lock:
            while len(_simulators) >= _SIMULATORS_KEPT:
                _simulators.pop(next(iter(_simulators)))
            _simulators[key] = sim
    return sim


def _simulate_task(shared: dict, item: tuple[int, int, int]) -> dict:
    """One ``(T, b0, b1)`` chunk of a report, on a worker: plain data in (:func:`hwsim.parallel.program_to_wire`,
    the images, encoding, encoder seed, simulator name, chip instance seed, ADC scales), a
    :meth:`RunResult.to_arrays` back. One engine thread: the worker processes are the parallelism."""
    import numba

    T, b0, b1 = item
    sim = _worker_simulator(shared)
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # this thread's count only (Numba keeps it per thread); the engine reads it
    try:
        return _simulate_chunk(sim, shared["images"], T, shared["encoding"], shared["seed"], b0, b1).to_arrays()
    finally:
        numba.set_num_threads(before)


class _RemoteRuns:
    """The runs of one report as tasks on a Dask pool; :meth:`run` joins one T's chunks in order.

    ``runs`` lists each T as often as the report asks for it; a T's results are dropped after its last use, so
    this process holds one run at a time besides the main one (the workers hold the rest until collected).
    """

    def __init__(self, pool: TaskPool, shared: dict, runs: list[int], B: int, chunk_size: int,
                 progress_bar: bool) -> None:
        self.B, self.progress_bar = B, progress_bar
        self.uses = Counter(int(T) for T in runs)
        handle = pool.share(shared)
        chunks = [(b0, min(B, b0 + chunk_size)) for b0 in range(0, B, chunk_size)]
        self.futures = {T: [pool.executor.submit(_simulate_task, handle, (T, b0, b1)) for b0, b1 in chunks]
                        for T in self.uses}

    def chunks(self, T: int, bar: bool) -> Iterator[RunResult]:
        """The chunks of the run at ``T``, in order, each collected when it is asked for."""
        from tqdm import tqdm

        T = int(T)
        self.uses[T] -= 1
        futures = list(self.futures[T] if self.uses[T] > 0 else self.futures.pop(T))
        with tqdm(total=self.B, unit="image", desc=f"T={T}", disable=not (bar and self.progress_bar),
                  file=sys.stderr, leave=False) as pbar:
            for future in futures:
                part = RunResult.from_arrays(future.result())
                pbar.update(part.batch_size)
                yield part

    def cancel(self) -> None:
        for futures in self.futures.values():
            for future in futures:
                future.cancel()

"""Running a report: encode the images, simulate them on the program's chip, build the :class:`Report`.

:func:`evaluate` is the one entry point (``hwsim run`` and ``hwsim report`` call it); the simulator and the
energy model come from :func:`hwsim.report.backend.backend_of`, and every number from
:func:`hwsim.report.model.build_report`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np

from hwsim.encoding import check_timesteps, encode
from hwsim.energy import EnergyTable, load_table
from hwsim.errors import InputError
from hwsim.exit_unit import ExitRule, apply_exit
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
from hwsim.result import RunResult

__all__ = ["default_sweep", "evaluate"]


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
        chunk_size: Images encoded and simulated at a time (bounds memory).
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

    def run(T: int, bar: bool) -> RunResult:
        from tqdm import tqdm

        parts = []
        with tqdm(total=B, unit="image", desc=f"T={T}", disable=not (bar and progress_bar), file=sys.stderr,
                  leave=False) as pbar:
            for b0 in range(0, B, chunk_size):
                # image i's raster (chip-spec §3) and read noise (docs/rram.md §2.5) depend on i alone, not on the chunk
                raster = encode(images[b0 : b0 + chunk_size], T, encoding, seed, first_index=b0)
                parts.append(sim(raster, progress=False, first_index=b0))
                pbar.update(raster.shape[0])
        return parts[0] if len(parts) == 1 else RunResult.concatenate(parts)

    say(f"simulating {B} images x {timesteps} timesteps ({simulator})")
    fixed = run(timesteps, True)
    # the report's own run: the fixed-T run cut after each image's exit (exact: later timesteps never change earlier)
    result = apply_exit(fixed, rules.main) if rules.main.enabled else fixed
    points = []
    for T in default_sweep(timesteps) if sweep is None else sweep:
        if T == timesteps:
            r = fixed
        else:
            say(f"sweep: {B} images x {T} timesteps")
            r = run(int(T), True)
        e = backend.energy(r, program, table)
        points.append(SweepPoint(int(T), prediction_accuracy(r.predictions, labels), e.energy_nj_per_image,
                                 e.latency_us_per_image, e.sops_per_image))
    early_exit = None
    if rules.any:
        early_exit = _early_exit(rules, fixed, result, labels, program, table, backend, run, encoding, say)
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


def _early_exit(rules, fixed: RunResult, result: RunResult, labels, program: ChipProgram, table: EnergyTable,
                backend, run: Callable[[int, bool], RunResult], encoding: str,
                say: Callable[[str], None]) -> EarlyExit:  # fmt: skip
    """The exit numbers of a report: the main rule and the sweep against the fixed-T run, and the fixed-T curve.

    The curve's ``t < T`` points are the first ``t`` timesteps of the fixed-T run when the input coding allows
    (:data:`PREFIX_ENCODINGS`), else separate runs at ``T = t``.
    """
    T = fixed.timesteps
    fixed_e = backend.energy(fixed, program, table)
    fixed_acc = prediction_accuracy(fixed.predictions, labels)

    def point(r: RunResult):
        e = backend.energy(r, program, table)
        return exit_point(r, prediction_accuracy(r.predictions, labels), e, fixed_e)

    main = point(result) if rules.main.enabled else None
    sweep = []
    for rule in rules.sweep:
        say(f"exit sweep: {rule.text}")
        sweep.append(point(apply_exit(fixed, rule)))
    curve = []
    prefix = encoding in PREFIX_ENCODINGS
    for t in fixed_curve_timesteps(T):
        if t == T:
            r, e = fixed, fixed_e
        else:
            if not prefix:
                say(f"fixed-T curve: T = {t} ({encoding} coding depends on T: a run of its own)")
            r = first_timesteps(fixed, t) if prefix else run(t, True)
            e = backend.energy(r, program, table)
        curve.append(SweepPoint(t, prediction_accuracy(r.predictions, labels), e.energy_nj_per_image,
                                e.latency_us_per_image, e.sops_per_image))
    return EarlyExit(rules=rules, main=main, exit_timesteps=result.exit_timesteps if main else None,
                     fixed_accuracy=fixed_acc, fixed_energy_nj=fixed_e.energy_nj_per_image,
                     fixed_latency_us=fixed_e.latency_us_per_image, sweep=sweep, curve=curve)

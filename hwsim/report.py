"""Reports: accuracy, energy, latency and activity of a chip program on a dataset.

The pipeline is plain data all the way::

    evaluate(program, images, labels, timesteps=...)  -> Report      # simulate + compute every number
    report.to_dict()                                   -> dict        # what report.json holds
    render_table(report_dict)                          -> str         # markdown summary, no arithmetic
    render_figures(report_dict, folder)                -> PNG files   # matplotlib, no arithmetic
    write_report(report, outdir)                       -> outdir      # all of the above, atomically

Numbers are computed in :func:`build_report` (and :mod:`hwsim.energy`), never
in the renderers, so ``report.json`` and the figures always agree.

Files written into the output folder (fixed names): ``report.json``,
``report.csv`` (long format: section, key, value, unit), ``images.csv``
(one row per image), ``report.md`` (the terminal table),
``energy_breakdown.png``, ``timesteps.png`` (only with a timestep sweep) and ``raster.png``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwsim.encoding import encode
from hwsim.energy import EnergyReport, EnergyTable, estimate, layer_name, load_table
from hwsim.errors import HwsimError, InputError
from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES, RunResult

__all__ = [
    "REPORT_FILES",
    "FIGURE_FILES",
    "Report",
    "SweepPoint",
    "ReportError",
    "build_report",
    "energy_of",
    "evaluate",
    "layer_firing_rates",
    "raster_layers",
    "render_table",
    "render_figures",
    "write_report",
    "check_outdir",
    "check_output_path",
    "refuse_inputs_inside",
    "remove_stale_temps",
    "atomic_outdir",
    "default_sweep",
]

REPORT_FILES = ("report.json", "report.csv", "images.csv", "report.md")
FIGURE_FILES = ("energy_breakdown.png", "timesteps.png", "raster.png")  # timesteps.png only with a sweep
REPORT_FORMAT = "hwsim-report"
REPORT_VERSION = 1

# Display names of the energy components (figures and tables).
COMPONENT_LABELS = {
    "core.spike_buffer": "spike buffer (axon scan)",
    "core.weight_sram": "weight SRAM reads",
    "core.accumulator": "accumulate (SOPs)",
    "core.membrane_rf": "membrane register file",
    "core.neuron": "neuron update",
    "core.controller": "core control + clock",
    "core.router": "router (packets)",
    "crossbar.cell": "crossbar cell reads",
    "crossbar.row_driver": "crossbar row drivers",
    "crossbar.adc": "ADC conversions",
    "noc.link": "NoC links (hops)",
    "host.port": "host input port",
    "leakage": "leakage (static)",
}

Simulator = Callable[..., RunResult]


class ReportError(HwsimError):
    """A report cannot be built or written (names the file or value at fault)."""


@dataclass(frozen=True)
class SweepPoint:
    """Accuracy and cost of the same images at one number of timesteps."""

    timesteps: int
    accuracy: float | None
    energy_nj_per_image: float
    latency_us_per_image: float
    sops_per_image: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Report:
    """Everything a report shows, computed; renderers only read it.

    Attributes:
        meta: Provenance: chip, core type, table, dataset, network, timesteps, encoding, seed, engine;
            for an RRAM chip also the chip instance seed and the ADC scale registers.
        energy: Energy and latency per image (:class:`hwsim.energy.EnergyReport`, or its RRAM
            form :class:`hwsim.rram.energy.RramEnergyReport`).
        accuracy: Share of correct predictions, or None without labels.
        labels: ``(B,)`` labels, or None.
        predictions: ``(B,)`` predicted classes.
        firing_rates: Layer -> mean fraction of its neurons firing per timestep (whole run).
        sweep: Accuracy and energy at other numbers of timesteps (same images).
        raster: One image's spikes per layer (see :func:`raster_layers`), or None.
    """

    meta: dict
    energy: EnergyReport
    accuracy: float | None
    labels: np.ndarray | None
    predictions: np.ndarray
    firing_rates: dict[str, float | None]
    sweep: list[SweepPoint] = field(default_factory=list)
    raster: dict | None = None

    def to_dict(self) -> dict:
        """The JSON content of ``report.json`` (headline keys first)."""
        e = self.energy
        summary = e.summary()
        total_nj = e.energy_nj_per_image
        by_component = {k: float(v.mean() / 1e3) for k, v in e.by_component.items()}
        by_layer = {k: float(v.mean() / 1e3) for k, v in e.by_layer.items()}
        share = lambda d: {k: (v / total_nj if total_nj > 0 else 0.0) for k, v in d.items()}  # noqa: E731
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "accuracy": self.accuracy,
            "energy_nj_per_image": summary["energy_nj_per_image"],
            "latency_us_per_image": summary["latency_us_per_image"],
            "throughput_images_per_s": summary["throughput_images_per_s"],
            "sops_per_image": summary["sops_per_image"],
            "pj_per_sop": summary["pj_per_sop"],
            "timesteps": e.timesteps,
            "chip": self.meta.get("chip", ""),
            "core_type": self.meta.get("core_type", "digital"),
            "instance_seed": self.meta.get("instance_seed"),
            "adc_scales": self.meta.get("adc_scales"),
            "n_images": e.n_images,
            "summary": summary,
            "energy_nj_by_component": by_component,
            "energy_share_by_component": share(by_component),
            "component_labels": {k: COMPONENT_LABELS.get(k, k) for k in by_component},
            "energy_nj_by_layer": by_layer,
            "energy_share_by_layer": share(by_layer),
            "energy_pj_by_action": {k: float(v.mean()) for k, v in e.by_action.items()},
            "action_counts_per_image": {k: float(v.mean()) for k, v in e.action_counts.items()},
            "energy_nj_by_core": {str(c): float(e.by_core[:, k].mean() / 1e3) for k, c in enumerate(e.core_ids)},
            "firing_rates": dict(self.firing_rates),
            "sweep": [p.to_dict() for p in self.sweep],
            "raster": self.raster,
            "meta": dict(self.meta),
            "table": {"name": e.table, "version": e.table_version, "global_scale": e.global_scale},
            "clock_mhz": e.clock_mhz,
        }

    def image_rows(self) -> list[dict]:
        """One row per image for ``images.csv``."""
        e = self.energy
        rows = []
        for b in range(e.n_images):
            rows.append({
                "image": b,
                "label": "" if self.labels is None else int(self.labels[b]),
                "prediction": int(self.predictions[b]),
                "energy_nj": float(e.total_pj[b] / 1e3),
                "dynamic_nj": float(e.dynamic_pj[b] / 1e3),
                "static_nj": float(e.static_pj[b] / 1e3),
                "cycles": int(e.cycles[b]),
                "latency_us": float(e.latency_us[b]),
                "sops": int(e.sops[b]),
            })
        return rows


# ----------------------------------------------------------------- computation

def _core_order(program: ChipProgram) -> list[tuple[int, str, int]]:
    """``(index in program.cores, layer name, first neuron in the layer)`` in layer order."""
    rows = []
    for k, cp in enumerate(program.cores):
        m = re.search(r"\[(\d+):\d+\]", cp.label or "")
        lo = int(m.group(1)) if m else (cp.output_offset or 0)
        rows.append((cp.stage, lo, cp.core, k, layer_name(cp.label, cp.stage)))
    rows.sort()
    return [(k, name, lo) for _, lo, _, k, name in rows]


def layer_firing_rates(result: RunResult, program: ChipProgram) -> dict[str, float | None]:
    """Mean fraction of each layer's neurons that fire per timestep, from the ``output_spikes`` counter.

    A membrane-readout layer (``fire = False``) never spikes; its rate is None.
    """
    spikes = result.counters[..., COUNTER_NAMES.index("output_spikes")].sum(axis=(0, 1))  # (C,)
    fired: dict[str, float] = {}
    slots: dict[str, float] = {}
    readout: set[str] = set()
    for k, name, _ in _core_order(program):
        fired[name] = fired.get(name, 0.0) + float(spikes[k])
        slots[name] = slots.get(name, 0.0) + program.cores[k].n_neurons * result.batch_size * result.timesteps
        if not program.cores[k].fire:
            readout.add(name)
    return {name: (None if name in readout else fired[name] / slots[name]) for name in fired}


def raster_layers(result: RunResult, program: ChipProgram, input_raster: np.ndarray, image: int = 0) -> dict:
    """Spikes of one image per layer, as JSON-ready ``[t, neuron]`` pairs.

    Args:
        result: A run made with ``record=True``.
        program: The program that ran.
        input_raster: ``(T, n_inputs)`` input spikes of that image.
        image: Batch index of the image in ``result``.
    """
    if result.core_spikes is None:
        raise ReportError("a spike raster needs a run with record=True")
    T = result.timesteps
    layers: list[dict] = []

    def entry(name: str, spikes: np.ndarray) -> dict:
        t, j = np.nonzero(spikes)
        return {
            "name": name,
            "n_neurons": int(spikes.shape[1]),
            "spikes": np.stack([t, j], axis=1).astype(int).tolist(),
            "firing_rate": float(spikes.mean()) if spikes.size else 0.0,
        }

    layers.append(entry("input", np.asarray(input_raster, np.uint8).reshape(T, -1)))
    parts: dict[str, list[tuple[int, int]]] = {}
    for k, name, lo in _core_order(program):
        parts.setdefault(name, []).append((lo, k))
    for name, pieces in parts.items():
        pieces.sort()
        ks = [k for _, k in pieces]
        layer = entry(name, np.concatenate([result.core_spikes[k][image] for k in ks], axis=1))
        if not program.cores[ks[0]].fire:
            # membrane readout: no spikes to show; keep the end-of-timestep membranes instead
            layer["readout"] = "membrane"
            layer["firing_rate"] = None
            if result.membranes is not None:
                mem = np.concatenate([result.membranes[k][image] for k in ks], axis=1)
                layer["membranes"] = mem.astype(int).tolist()
        layers.append(layer)
    return {"image": int(image), "timesteps": T, "layers": layers}


def default_sweep(timesteps: int) -> list[int]:
    """Powers of two up to ``2 * timesteps`` (at most 32), plus ``timesteps`` itself."""
    values = {timesteps}
    t = 1
    while t <= min(2 * timesteps, 32):
        values.add(t)
        t *= 2
    return sorted(values)


def _accuracy(predictions: np.ndarray, labels: np.ndarray | None) -> float | None:
    if labels is None:
        return None
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def energy_of(result: RunResult, program: ChipProgram, table: EnergyTable | str | None = None) -> EnergyReport:
    """Energy report of a run: :func:`hwsim.energy.estimate` for digital cores,
    :func:`hwsim.rram.energy.rram_energy` for RRAM cores (default table: the chip's technology)."""
    if getattr(program.chip, "core_type", "digital") == "rram":
        from hwsim.rram.energy import rram_energy

        return rram_energy(result, program, program.chip.technology if table is None else table)
    return estimate(result, program, table)


def build_report(
    result: RunResult,
    program: ChipProgram,
    *,
    labels: np.ndarray | None = None,
    table: EnergyTable | str | None = None,
    meta: dict | None = None,
    sweep: Sequence[SweepPoint] = (),
    raster: dict | None = None,
) -> Report:
    """Compute every number of a report from one run (no simulation here).

    For an RRAM chip, ``result`` must come from :mod:`hwsim.rram` (its RRAM counters) and ``meta``
    should name the chip instance (``instance_seed``, ``adc_scales``), as :func:`evaluate` does.

    Raises:
        InputError: labels do not match the batch.
    """
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (result.batch_size,):
            raise InputError(f"labels have shape {labels.shape}; expected ({result.batch_size},), one per image")
    energy = energy_of(result, program, table)
    predictions = result.predictions
    info = {
        "chip": program.chip.name,
        "core_type": getattr(program.chip, "core_type", "digital"),
        "chip_config": program.chip.to_dict(),
        "technology": program.chip.technology,
        "readout": program.readout,
        "n_cores_used": len(program.cores),
    }
    info.update(meta or {})
    return Report(
        meta=info,
        energy=energy,
        accuracy=_accuracy(predictions, labels),
        labels=labels,
        predictions=predictions,
        firing_rates=layer_firing_rates(result, program),
        sweep=list(sweep),
        raster=raster,
    )


def _engine_simulator(program: ChipProgram) -> Simulator:
    try:
        from hwsim.chip import Chip
    except ImportError as exc:
        raise ReportError(
            f"the engine (hwsim.chip.Chip) cannot be imported ({exc}); "
            "the golden model is available with simulator='golden' (slow, Python API only)"
        ) from exc

    chip = Chip.from_program(program)
    return lambda rasters, record=False, progress=False, first_index=0: chip.run(rasters, record=record,
                                                                                  progress=progress)


def _golden_simulator(program: ChipProgram) -> Simulator:
    from hwsim.golden import simulate

    return lambda rasters, record=False, progress=False, first_index=0: simulate(program, rasters, record=record)


def _rram_simulator(rchip, simulator: str) -> Simulator:
    """One RRAM chip instance: the fast path (``engine``) or the golden model.

    ``first_index`` is the global index of the first raster: it seeds the read noise, so an image
    gets the same noise whichever chunk it runs in. Recording runs use the golden model (the fast
    path does not record; both give the same numbers, bit for bit).
    """
    from hwsim.rram.engine import pack, run_rram
    from hwsim.rram.golden import simulate_rram

    packed = pack(rchip) if simulator == "engine" else None

    def sim(rasters, record=False, progress=False, first_index=0):
        if packed is None or record:
            return simulate_rram(rchip, rasters, first_index=first_index, record=record)
        return run_rram(rchip, rasters, first_index=first_index, packed=packed)

    return sim


def _rram_instance(program: ChipProgram, instance_seed: int, adc_scales, calibration_images, timesteps: int,
                   encoding: str, say: Callable[[str], None]):
    """The chip instance ``instance_seed`` of ``program`` with calibrated ADC scale registers."""
    from hwsim.rram.device import program_chip
    from hwsim.rram.engine import calibrate_on_images, calibration_count

    if isinstance(instance_seed, bool) or not isinstance(instance_seed, (int, np.integer)) or instance_seed < 0:
        raise InputError(f"instance_seed = {instance_seed!r}: expected an integer >= 0")
    if adc_scales is None:
        if calibration_images is None:
            raise InputError(
                "an RRAM chip needs its ADC scale registers: pass adc_scales, or calibration_images "
                "(training images; hwsim.rram.engine.calibrate_on_images)"
            )
        calibration_images = np.asarray(calibration_images)
        if calibration_images.ndim != 2 or calibration_images.shape[1] != program.n_inputs:
            raise InputError(f"calibration_images have shape {calibration_images.shape}; "
                             f"expected (n_images, {program.n_inputs})")
        say(f"calibrating ADC scales on {calibration_count(calibration_images.shape[0])} training images "
            "(ideal chip)")
        adc_scales = calibrate_on_images(program, calibration_images, timesteps, encoding)
    say(f"programming chip instance {instance_seed}")
    return program_chip(program, int(instance_seed), tuple(int(v) for v in adc_scales))


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

    Raises:
        InputError: images or labels of the wrong shape; an RRAM chip without ADC scales or
            calibration images.
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
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= 4096:
            raise InputError(f"timesteps = {T!r}: expected an integer in 1..4096")
    if simulator not in ("engine", "golden"):
        raise InputError(f"simulator = {simulator!r}: allowed engine, golden")
    table = load_table(program.chip.technology if table is None else table)
    say = progress or (lambda msg: None)
    B = images.shape[0]
    info = {"timesteps": timesteps, "encoding": encoding, "seed": seed, "simulator": simulator}
    if getattr(program.chip, "core_type", "digital") == "rram":
        rchip = _rram_instance(program, instance_seed, adc_scales, calibration_images, timesteps, encoding, say)
        sim = _rram_simulator(rchip, simulator)
        info.update(instance_seed=rchip.seed, adc_scales=list(rchip.adc_scales))
    else:
        sim = (_engine_simulator if simulator == "engine" else _golden_simulator)(program)

    def run(T: int, bar: bool) -> RunResult:
        from tqdm import tqdm

        parts = []
        with tqdm(total=B, unit="image", desc=f"T={T}", disable=not (bar and progress_bar), file=sys.stderr,
                  leave=False) as pbar:
            for b0 in range(0, B, chunk_size):
                raster = encode(images[b0 : b0 + chunk_size], T, encoding, seed, first_index=b0)
                parts.append(sim(raster, progress=False, first_index=b0))
                pbar.update(raster.shape[0])
        return parts[0] if len(parts) == 1 else RunResult.concatenate(parts)

    say(f"simulating {B} images x {timesteps} timesteps ({simulator})")
    result = run(timesteps, True)
    points = []
    for T in default_sweep(timesteps) if sweep is None else sweep:
        if T == timesteps:
            r = result
        else:
            say(f"sweep: {B} images x {T} timesteps")
            r = run(int(T), True)
        e = energy_of(r, program, table)
        points.append(SweepPoint(int(T), _accuracy(r.predictions, labels), e.energy_nj_per_image,
                                 e.latency_us_per_image, e.sops_per_image))
    raster = None
    if raster_image is not None:
        if not 0 <= raster_image < B:
            raise InputError(f"raster_image = {raster_image}: expected 0..{B - 1}")
        say(f"recording spikes of image {raster_image}")
        one = encode(images[raster_image : raster_image + 1], timesteps, encoding, seed, first_index=raster_image)
        rec = sim(one, record=True, first_index=raster_image)
        raster = raster_layers(rec, program, one[0])
        if labels is not None:
            raster["label"] = int(np.asarray(labels)[raster_image])
        raster["prediction"] = int(rec.predictions[0])
    info.update(meta or {})
    return build_report(result, program, labels=labels, table=table, meta=info, sweep=points, raster=raster)


# ------------------------------------------------------------------ rendering

def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
            return f"{value:.{digits}g}"
        return f"{value:,.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}g}"
    return str(value)


def render_table(data: dict) -> str:
    """The human summary of a ``report.json`` dict as a markdown table (reads numbers, computes none)."""
    s = data["summary"]
    meta = data.get("meta", {})
    acc = data.get("accuracy")
    rows = [
        ("chip", f"{data.get('chip', '')} ({data['table']['name']} table v{data['table']['version']}, "
                 f"scale {data['table']['global_scale']:g}, {data['clock_mhz']:g} MHz)"),
        *([("chip instance", f"seed {data['instance_seed']}, ADC scales {data['adc_scales']}")]
          if data.get("core_type") == "rram" else []),
        ("workload", f"{meta.get('dataset', '?')}, {data['n_images']} images, "
                     f"{data['timesteps']} timesteps, {meta.get('encoding', '?')} coding"),
        ("accuracy", "n/a" if acc is None else f"{100 * acc:.2f} %"),
        ("energy / image", f"{s['energy_nj_per_image']:.4g} nJ (std {s['energy_nj_std']:.3g}, "
                           f"p5-p95 {s['energy_nj_p05']:.4g}-{s['energy_nj_p95']:.4g})"),
        ("  dynamic / leakage", f"{s['dynamic_nj_per_image']:.4g} nJ / {s['static_nj_per_image']:.4g} nJ"),
        ("latency / image", f"{s['latency_us_per_image']:.4g} us ({s['latency_cycles_per_image']:.0f} cycles)"),
        ("throughput", f"{s['throughput_images_per_s']:,.0f} images/s"),
        ("SOPs / image", f"{s['sops_per_image']:,.0f}"),
        ("energy / SOP", "n/a" if s["pj_per_sop"] is None else f"{s['pj_per_sop']:.2f} pJ"),
        ("energy-delay product", f"{s['edp_nj_us']:.4g} nJ*us"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'metric':<{width}} | value |", f"| {'-' * width} | ----- |"]
    lines += [f"| {k:<{width}} | {v} |" for k, v in rows]
    comp = data["energy_nj_by_component"]
    share = data["energy_share_by_component"]
    labels = data.get("component_labels", {})
    lines += ["", "| component | nJ / image | share |", "| --- | --- | --- |"]
    for k in sorted(comp, key=lambda k: -comp[k]):
        lines.append(f"| {labels.get(k, k)} | {comp[k]:.4g} | {100 * share[k]:.1f} % |")
    layer = data["energy_nj_by_layer"]
    lshare = data["energy_share_by_layer"]
    rates = data.get("firing_rates", {})
    lines += ["", "| layer | nJ / image | share | firing rate |", "| --- | --- | --- | --- |"]
    for k, v in layer.items():
        rate = "" if k not in rates else "membrane readout" if rates[k] is None else f"{100 * rates[k]:.1f} %"
        lines.append(f"| {k} | {v:.4g} | {100 * lshare[k]:.1f} % | {rate} |")
    return "\n".join(lines) + "\n"


def _csv_rows(data: dict) -> list[tuple[str, str, object, str]]:
    rows: list[tuple[str, str, object, str]] = []
    units = {
        "energy_nj_per_image": "nJ", "energy_nj_std": "nJ", "energy_nj_min": "nJ", "energy_nj_p05": "nJ",
        "energy_nj_p95": "nJ", "energy_nj_max": "nJ", "dynamic_nj_per_image": "nJ", "static_nj_per_image": "nJ",
        "latency_cycles_per_image": "cycles", "latency_us_per_image": "us", "throughput_images_per_s": "images/s",
        "sops_per_image": "SOPs", "pj_per_sop": "pJ", "edp_nj_us": "nJ*us", "static_power_uw": "uW",
    }
    rows.append(("summary", "accuracy", data["accuracy"], "fraction"))
    rows.append(("summary", "timesteps", data["timesteps"], ""))
    rows.append(("summary", "n_images", data["n_images"], ""))
    for k, v in data["summary"].items():
        rows.append(("summary", k, v, units.get(k, "")))
    for k, v in data["energy_nj_by_component"].items():
        rows.append(("component", k, v, "nJ/image"))
    for k, v in data["energy_nj_by_layer"].items():
        rows.append(("layer", k, v, "nJ/image"))
    for k, v in data["energy_pj_by_action"].items():
        rows.append(("action_energy", k, v, "pJ/image"))
    for k, v in data["action_counts_per_image"].items():
        rows.append(("action_count", k, v, "count/image"))
    for k, v in data["firing_rates"].items():
        rows.append(("firing_rate", k, v, "fraction" if v is not None else "membrane readout"))
    for p in data["sweep"]:
        T = p["timesteps"]
        rows.append(("sweep", f"T={T}:accuracy", p["accuracy"], "fraction"))
        rows.append(("sweep", f"T={T}:energy_nj_per_image", p["energy_nj_per_image"], "nJ"))
        rows.append(("sweep", f"T={T}:latency_us_per_image", p["latency_us_per_image"], "us"))
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    path.write_text(buf.getvalue(), encoding="utf-8")


def render_figures(data: dict, folder: str | Path) -> list[Path]:
    """Draw the report figures from a ``report.json`` dict into ``folder`` (reads numbers, computes none).

    ``timesteps.png`` is drawn only when the report has a timestep sweep; the other figures always.
    Returns the paths written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder = Path(folder)
    out = []
    title = (f"{data.get('meta', {}).get('network', '') or 'network'} on {data.get('chip', '')}, "
             f"T = {data['timesteps']}, {data['energy_nj_per_image']:.4g} nJ/image")

    # 1. energy breakdown by component and by layer
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=(1.25, 1))
    comp = data["energy_nj_by_component"]
    names = sorted(comp, key=lambda k: comp[k])
    labels = data.get("component_labels", {})
    share = data["energy_share_by_component"]
    ax1.barh([labels.get(k, k) for k in names], [comp[k] for k in names], color="tab:blue")
    for y, k in enumerate(names):
        ax1.annotate(f" {100 * share[k]:.1f} %", (comp[k], y), va="center", fontsize=8)
    ax1.set_xlabel("energy per image (nJ)")
    ax1.set_title("by component")
    ax1.margins(x=0.18)
    layer = data["energy_nj_by_layer"]
    lnames = list(layer)
    lshare = data["energy_share_by_layer"]
    ax2.bar(lnames, [layer[k] for k in lnames], color="tab:orange")
    for x, k in enumerate(lnames):
        ax2.annotate(f"{100 * lshare[k]:.1f} %", (x, layer[k]), ha="center", va="bottom", fontsize=8)
    ax2.set_ylabel("energy per image (nJ)")
    ax2.set_title("by layer (dynamic + own leakage)")
    ax2.tick_params(axis="x", labelrotation=20)
    ax2.margins(y=0.15)
    fig.suptitle(title)
    out.append(folder / "energy_breakdown.png")
    fig.savefig(out[-1], dpi=110)

    # 2. energy and accuracy versus timesteps: only with a sweep (--sweep none asks for no figure)
    sweep = data["sweep"]
    if sweep:
        fig = Figure(figsize=(6.5, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        Ts = [p["timesteps"] for p in sweep]
        ax.plot(Ts, [p["energy_nj_per_image"] for p in sweep], "o-", color="tab:blue", label="energy")
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ts, [str(t) for t in Ts])
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("energy per image (nJ)", color="tab:blue")
        ax.set_ylim(bottom=0)
        handles = ax.get_lines()[:]
        if any(p["accuracy"] is not None for p in sweep):
            ax_r = ax.twinx()
            handles += ax_r.plot(Ts, [100 * p["accuracy"] for p in sweep], "s--", color="tab:green",
                                 label="accuracy")
            ax_r.set_ylabel("accuracy (%)", color="tab:green")
            ax_r.set_ylim(0, 100)
        # the T of this report's main run (whose numbers the tables give), also when the sweep leaves it out
        handles.append(ax.axvline(data["timesteps"], color="grey", lw=0.8, ls=":",
                                  label=f"T = {data['timesteps']} of this report"))
        ax.legend(handles=handles, loc="lower right", fontsize=8)
        ax.set_title("energy and accuracy versus timesteps")
        out.append(folder / "timesteps.png")
        fig.savefig(out[-1], dpi=110)

    # 3. spike raster and firing rate per layer for one image
    raster = data.get("raster")
    layers = raster["layers"] if raster else []
    n = max(1, len(layers))
    fig = Figure(figsize=(11, 1.2 + 1.5 * n), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 2, width_ratios=(4, 1), squeeze=False)
    if not layers:
        axes[0, 0].text(0.5, 0.5, "no raster recorded", ha="center", va="center")
    T = raster["timesteps"] if raster else 1
    for i, lay in enumerate(layers):
        ax, axr = axes[i]
        if lay.get("readout") == "membrane" and lay.get("membranes") is not None:
            mem = np.asarray(lay["membranes"], dtype=float)
            lim = max(1.0, float(np.abs(mem).max()))
            im = ax.imshow(mem, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest",
                           extent=(-0.5, lay["n_neurons"] - 0.5, T - 0.5, -0.5))
            fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03, label="membrane")
        else:
            pts = np.asarray(lay["spikes"]).reshape(-1, 2)
            # x = neuron, y = timestep: many neurons, few timesteps reads best this way
            ax.scatter(pts[:, 1], pts[:, 0], s=4 if lay["n_neurons"] > 64 else 12, marker="|", color="black",
                       linewidths=0.8)
            ax.set_xlim(-0.5, lay["n_neurons"] - 0.5)
            ax.set_ylim(T - 0.5, -0.5)
        ax.set_ylabel(f"{lay['name']}\ntimestep", fontsize=9)
        if T <= 16:
            ax.set_yticks(range(T))
            ax.tick_params(axis="y", labelsize=7)
        axr.set_xlim(0, 100)
        axr.set_yticks([])
        if lay["firing_rate"] is None:
            axr.text(50, 0, "membrane readout\n(no spikes)", ha="center", va="center", fontsize=9)
            axr.set_ylim(-1, 1)
        else:
            axr.barh([0], [100 * lay["firing_rate"]], color="tab:red")
            axr.annotate(f" {100 * lay['firing_rate']:.1f} %", (100 * lay["firing_rate"], 0), va="center",
                         fontsize=9)
    if layers:
        axes[-1, 0].set_xlabel("neuron index")
        axes[-1, 1].set_xlabel("firing rate (%)")
        extra = ""
        if raster.get("label") is not None:
            extra = f", label {raster['label']}, predicted {raster['prediction']}"
        fig.suptitle(f"spikes of image {raster['image']}{extra}")
    out.append(folder / "raster.png")
    fig.savefig(out[-1], dpi=110)
    return out


# ------------------------------------------------------------------ output folders
# A command that writes a folder builds it as a hidden sibling ``.NAME.tmp-PID-XXXXXXXX`` and renames it over
# ``NAME`` when complete (the earlier folder is moved aside as ``.NAME.old-PID-XXXXXXXX`` for that instant).
# The PID in the name lets a later run tell a leftover of a killed run from the work of a running one.
_RANDOM_TAIL = r"[a-z0-9_]{8}"  # tempfile.mkdtemp's random part


def _temp_prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temps(outdir: str | Path) -> list[Path]:
    """Remove the hidden temporary folders that killed runs left next to ``outdir``; return what was removed.

    Only folders named exactly as :func:`atomic_outdir` names them (``.NAME.tmp-PID-XXXXXXXX`` and
    ``.NAME.old-PID-XXXXXXXX`` for this ``NAME``) whose process no longer runs are touched. A leftover
    ``.old-`` folder while ``outdir`` itself is missing is the earlier output (the run died between its two
    renames): it is put back as ``outdir`` instead of being removed.
    """
    outdir = Path(os.path.abspath(outdir))
    parent = outdir.parent
    pattern = re.compile(rf"\.{re.escape(outdir.name)}\.(tmp|old)-(\d+)-{_RANDOM_TAIL}")
    removed = []
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir() or _pid_alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not os.path.lexists(outdir):
            os.replace(entry, outdir)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _name_max(folder: Path) -> tuple[int, int]:
    """The longest file name and path the file system holding ``folder`` takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 255, 4096


def check_output_path(path: str | Path, what: str, *, folder: bool) -> Path:
    """Fail before any work if ``path`` cannot be written: the one check behind every output of the CLI.

    Refuses an empty name, a folder where a file is wanted (and a file where a folder is wanted), a path
    under a file, a folder the process cannot create files in, and names too long for the file system
    (including the hidden temporary name the atomic writers use). Creates nothing that stays.

    Args:
        path: The output file or folder.
        what: How the user named it, for the message (e.g. ``"-o/--outdir"``).
        folder: True for an output folder, False for an output file.

    Raises:
        ReportError: one line naming ``what``, the path and the problem.
    """
    text = os.fspath(path)
    kind = "folder" if folder else "file"
    if not text.strip():
        raise ReportError(f"{what} {text!r}: expected a {kind} name, got an empty string")
    if "\0" in text:
        raise ReportError(f"{what} {text!r}: a file name cannot hold a NUL character")
    absolute = Path(os.path.abspath(text))
    ancestor = absolute
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if ancestor == absolute:
        if folder and not absolute.is_dir():
            raise ReportError(f"{what} {text!r} is a file, not a folder; give a folder name")
        if not folder and absolute.is_dir():
            raise ReportError(f"{what} {text!r} is a folder; give a file name")
        ancestor = absolute.parent
    if not ancestor.is_dir():
        raise ReportError(f"{what} {text!r}: {str(ancestor)!r} is a file, so nothing can be created under it")
    name_max, path_max = _name_max(ancestor)
    temp = _temp_prefix(absolute.name, "tmp") + "x" * 8 if folder else f".{absolute.name}.xxxxxxxx.tmp"
    for name in [*absolute.parts[len(ancestor.parts):], temp]:
        if len(os.fsencode(name)) > name_max:
            raise ReportError(f"{what} {text!r}: the name {name[:40]!r}... is {len(os.fsencode(name))} bytes, "
                              f"too long for the file system (at most {name_max} bytes, including the "
                              "temporary name used while writing)")
    if len(os.fsencode(str(absolute.parent / temp))) >= path_max:
        raise ReportError(f"{what} {text!r}: the path is too long for the file system (at most {path_max} bytes)")
    try:  # the real test of writability (os.access says yes to root even on a read-only file system)
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=_temp_prefix(absolute.name, "tmp")))
    except OSError as exc:
        raise ReportError(f"{what} {text!r}: cannot create files in {str(ancestor)!r} "
                          f"({exc.strerror or exc})") from None
    return Path(text)


def refuse_inputs_inside(outdir: str | Path, inputs: dict[str, str | Path | None], what: str = "-o/--outdir") -> None:
    """Refuse to replace a folder that holds one of the inputs (replacing it would delete the input).

    Paths are compared both as written (made absolute) and with every symlink resolved, so an input reached
    through a link into the folder, or a folder reached through a link, is caught too.

    Args:
        outdir: The folder that will be replaced.
        inputs: How the user named each input (e.g. ``"--net"``) -> its path; None entries are skipped.

    Raises:
        ReportError: naming the input, the folder and both resolved paths.
    """
    targets = {os.path.abspath(outdir), os.path.realpath(outdir)}
    for label, path in inputs.items():
        if path is None or os.fspath(path) == "":
            continue
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            for target in targets:
                if candidate == target or candidate.startswith(target.rstrip(os.sep) + os.sep):
                    raise ReportError(
                        f"{label} {str(path)!r} ({candidate}) lies inside the output folder {str(outdir)!r} "
                        f"({target}), which is replaced as a whole: writing would delete the input; "
                        f"choose another {what} or move the input out first"
                    )


def check_outdir(outdir: str | Path, marker: str = "report.json", *,
                 inputs: dict[str, str | Path | None] | None = None, what: str = "-o/--outdir") -> Path:
    """Fail early if ``outdir`` cannot take a new output: see :func:`check_output_path` and
    :func:`refuse_inputs_inside`; a folder is replaced only if it is empty or holds an earlier output.

    Args:
        outdir: Output folder.
        marker: The file that marks an earlier output of the same kind (which may be replaced).
        inputs: The command's input files and folders by option name; none may lie inside ``outdir``.
        what: How the user named the folder, for messages.

    Raises:
        ReportError: naming the folder and why.
    """
    outdir = check_output_path(outdir, what, folder=True)
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / marker).exists():
        raise ReportError(
            f"output folder {str(outdir)!r} is not empty and holds no earlier {marker}; "
            f"refusing to replace it (choose another {what})"
        )
    refuse_inputs_inside(outdir, inputs or {}, what)
    return outdir


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)`` while the block runs, so ``finally``/``except`` clean-ups run.

    Only in the main thread (the only one Python delivers signals to) and only if nobody else handles
    SIGTERM; the earlier handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL, None
    ):
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)  # 143, what a shell reports for a process ended by SIGTERM

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_outdir(outdir: str | Path, marker: str = "report.json") -> Iterator[Path]:
    """Write a whole output folder atomically: yields a temporary folder next to ``outdir``.

    When the ``with`` block completes, the temporary folder replaces ``outdir``
    (an earlier output holding ``marker`` is removed); if the block raises, or
    the process gets SIGINT or SIGTERM, the temporary folder is deleted and
    ``outdir`` is left as it was. Temporary folders that killed runs left
    behind (SIGKILL, power loss) are removed first, see :func:`remove_stale_temps`.

    Raises:
        ReportError: ``outdir`` is a file, or a folder that holds something other than an earlier output.
    """
    outdir = check_outdir(outdir, marker)
    absolute = Path(os.path.abspath(outdir))
    absolute.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(outdir)
    with _sigterm_raises():
        tmp = Path(tempfile.mkdtemp(dir=absolute.parent, prefix=_temp_prefix(absolute.name, "tmp")))
        try:
            yield tmp
            os.chmod(tmp, 0o755)
            old = None
            if outdir.exists():
                old = Path(tempfile.mkdtemp(dir=absolute.parent, prefix=_temp_prefix(absolute.name, "old")))
                os.rmdir(old)
                os.replace(outdir, old)
            try:
                os.replace(tmp, outdir)
            except BaseException:
                if old is not None:
                    os.replace(old, outdir)  # put the earlier output back
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def write_report(report: Report | dict, outdir: str | Path, *, figures: bool = True,
                 extra_files: dict[str, bytes] | None = None) -> Path:
    """Write every report file into ``outdir`` atomically.

    Files go into a temporary folder next to ``outdir``; only when all of them
    are written is it renamed to ``outdir`` (an earlier report there is
    replaced). If anything fails, ``outdir`` is left as it was.

    Args:
        report: A :class:`Report` (or its ``to_dict()``; then ``images.csv`` is not written).
        outdir: Output folder.
        figures: Also draw the PNG figures.
        extra_files: More files to put in the folder, name -> bytes (e.g. the chip program).

    Raises:
        ReportError: ``outdir`` is a file, or a folder that holds something other than an earlier report.
    """
    outdir = check_outdir(outdir)
    data = report.to_dict() if isinstance(report, Report) else report
    with atomic_outdir(outdir) as tmp:
        (tmp / "report.json").write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        _write_csv(tmp / "report.csv", ("section", "key", "value", "unit"), _csv_rows(data))
        if isinstance(report, Report):
            rows = report.image_rows()
            _write_csv(tmp / "images.csv", list(rows[0]), [list(r.values()) for r in rows])
        (tmp / "report.md").write_text(render_table(data), encoding="utf-8")
        if figures:
            render_figures(data, tmp)
        for name, blob in (extra_files or {}).items():
            if Path(name).name != name:
                raise ReportError(f"extra file name {name!r} must be a plain file name")
            (tmp / name).write_bytes(blob)
    return outdir

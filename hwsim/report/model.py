"""The report data: what a report holds (:class:`Report`) and how its numbers come from one run.

Every number of a report is computed here (and in :mod:`hwsim.energy` / :mod:`hwsim.rram.energy`), never in
the renderers, so ``report.json``, the tables and the figures always agree (docs/energy.md §7).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from hwsim.area.model import run_area
from hwsim.energy import EnergyReport, EnergyTable, layer_name
from hwsim.errors import InputError, ReportError
from hwsim.program import ChipProgram
from hwsim.report.backend import backend_of
from hwsim.report.early_exit import EarlyExit
from hwsim.report.noc import noc_summary_of_sums
from hwsim.report.summary import RunSummary, band_tables, summarize
from hwsim.result import COUNTER_NAMES, RunResult

__all__ = [
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "COMPONENT_LABELS",
    "ReportError",
    "SweepPoint",
    "Report",
    "layer_firing_rates",
    "firing_rates_of_sums",
    "raster_layers",
    "prediction_accuracy",
    "build_report",
]

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
    "core.psum_buffer": "partial-sum buffer + merge add",
    "crossbar.cell": "crossbar cell reads",
    "crossbar.row_driver": "crossbar row drivers",
    "crossbar.adc": "ADC conversions",
    "noc.link": "NoC links (hops)",
    "noc.router": "mesh routers (buffers, arbiters)",
    "host.port": "host input port",
    "exit.unit": "early-exit unit",
    "leakage": "leakage (static)",
}

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
        early_exit: The early-exit numbers (exit rule, fixed-T comparison, threshold sweep, fixed-T curve;
            :mod:`hwsim.report.early_exit`), or None when no exit rule was asked (the report is then what it
            was before early exit existed, key for key).
        energy_band_nj: ``(low, high)`` nJ per image with every entry the table marks as an assumption at the
            low / high end of its range (docs/energy.md §10), or None for a table with no marked entries.
    """

    meta: dict
    energy: EnergyReport
    accuracy: float | None
    labels: np.ndarray | None
    predictions: np.ndarray
    firing_rates: dict[str, float | None]
    sweep: list[SweepPoint] = field(default_factory=list)
    raster: dict | None = None
    early_exit: EarlyExit | None = None
    energy_band_nj: tuple[float, float] | None = None
    # (mm², where it comes from, per-block breakdown) of the chip, from a stored synthesis
    # (hwsim.area.model.run_area, docs/area.md); mm² and breakdown None when there is none (the reason instead)
    area: tuple[float | None, str, dict | None] | None = None
    # the mesh network-on-chip's keys (hwsim.report.noc.noc_summary); None under noc = "ideal"
    noc: dict | None = None

    def to_dict(self) -> dict:
        """The JSON content of ``report.json`` (headline keys first)."""
        e = self.energy
        summary = e.summary()
        total_nj = e.energy_nj_per_image
        # per image = the mean over the images, pJ -> nJ (docs/energy.md §7); shares are of that mean total
        by_component = {k: float(v.mean() / 1e3) for k, v in e.by_component.items()}
        by_layer = {k: float(v.mean() / 1e3) for k, v in e.by_layer.items()}
        share = lambda d: {k: (v / total_nj if total_nj > 0 else 0.0) for k, v in d.items()}  # noqa: E731
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "accuracy": self.accuracy,
            "energy_nj_per_image": summary["energy_nj_per_image"],
            "energy_nj_per_image_low": None if self.energy_band_nj is None else self.energy_band_nj[0],
            "energy_nj_per_image_high": None if self.energy_band_nj is None else self.energy_band_nj[1],
            **({} if self.area is None else {"area_mm2": self.area[0], "area_source": self.area[1]}),
            "latency_us_per_image": summary["latency_us_per_image"],
            "throughput_images_per_s": summary["throughput_images_per_s"],
            "sops_per_image": summary["sops_per_image"],
            "pj_per_sop": summary["pj_per_sop"],
            "timesteps": e.timesteps,
            **(self.early_exit.to_dict() if self.early_exit is not None else {}),
            **(self.noc or {}),
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
            **({} if self.area is None or self.area[2] is None else {"area_by_block": self.area[2]}),
        }

    def image_rows(self) -> list[dict]:
        """One row per image for ``images.csv``."""
        return list(self.iter_image_rows())

    def iter_image_rows(self) -> Iterator[dict]:
        """:meth:`image_rows` one at a time (a large run's rows are written without being held all at once)."""
        e = self.energy
        ran = None if self.early_exit is None else self.early_exit.exit_timesteps
        for b in range(e.n_images):
            yield {
                "image": b,
                "label": "" if self.labels is None else int(self.labels[b]),
                "prediction": int(self.predictions[b]),
                "energy_nj": float(e.total_pj[b] / 1e3),
                "dynamic_nj": float(e.dynamic_pj[b] / 1e3),
                "static_nj": float(e.static_pj[b] / 1e3),
                "cycles": int(e.cycles[b]),
                "latency_us": float(e.latency_us[b]),
                "sops": int(e.sops[b]),
                **({} if ran is None else {"timesteps": int(ran[b])}),
            }


def _core_order(program: ChipProgram) -> list[tuple[int, str, int]]:
    """``(index in program.cores, layer name, first neuron in the layer)`` in layer order.

    Layer order is stage, then the first neuron a core holds (from its ``[lo:hi]`` label, else its output
    offset), then core number; names are those of the energy breakdown by layer (docs/energy.md §1).
    """
    rows = []
    for k, cp in enumerate(program.cores):
        m = re.search(r"\[(\d+):\d+\]", cp.label or "")
        lo = int(m.group(1)) if m else (cp.output_offset or 0)
        rows.append((cp.stage, lo, cp.core, k, layer_name(cp.label, cp.stage)))
    rows.sort()
    return [(k, name, lo) for _, lo, _, k, name in rows]


def layer_firing_rates(result: RunResult, program: ChipProgram) -> dict[str, float | None]:
    """Mean fraction of each layer's neurons that fire per timestep, from the ``output_spikes`` counter.

    Per timestep actually run: under an exit rule an image's timesteps after its exit are not counted.
    A membrane-readout layer (``fire = False``) never spikes; its rate is None.
    """
    spikes = result.counters[..., COUNTER_NAMES.index("output_spikes")].sum(axis=(0, 1))  # (C,), chip-spec §2.5
    return firing_rates_of_sums(spikes, int(np.sum(result.exit_timesteps)), program)


def firing_rates_of_sums(core_spikes: np.ndarray, timesteps_run: int,
                         program: ChipProgram) -> dict[str, float | None]:  # fmt: skip
    """:func:`layer_firing_rates` from a run's sums: ``core_spikes`` (counter ``output_spikes`` of each program core
    summed over images and timesteps) and the timesteps its images ran in all (``B * T`` without an exit rule)."""
    spikes = core_spikes
    fired: dict[str, float] = {}
    slots: dict[str, float] = {}
    readout: set[str] = set()
    for k, name, _ in _core_order(program):
        if getattr(program.cores[k], "psum_out", False):
            continue  # a partial-sum core (chip-spec §1.3) holds no neuron of its layer's output: fire = 0, no spikes
        fired[name] = fired.get(name, 0.0) + float(spikes[k])
        slots[name] = slots.get(name, 0.0) + program.cores[k].n_neurons * timesteps_run
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
            # membrane readout (fire = 0, chip-spec §2.3): no spikes to show; keep the end-of-timestep membranes
            layer["readout"] = "membrane"
            layer["firing_rate"] = None
            if result.membranes is not None:
                mem = np.concatenate([result.membranes[k][image] for k in ks], axis=1)
                layer["membranes"] = mem.astype(int).tolist()
        layers.append(layer)
    return {"image": int(image), "timesteps": T, "layers": layers}


def prediction_accuracy(predictions: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Share of predictions equal to their label (chip-spec §2.3 predictions), or None without labels."""
    if labels is None:
        return None
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def build_report(
    result: RunResult | RunSummary,
    program: ChipProgram,
    *,
    labels: np.ndarray | None = None,
    table: EnergyTable | str | None = None,
    meta: dict | None = None,
    sweep: Sequence[SweepPoint] = (),
    raster: dict | None = None,
    early_exit: EarlyExit | None = None,
) -> Report:
    """Compute every number of a report from one run (no simulation here).

    ``result`` is the run, or its :class:`~hwsim.report.summary.RunSummary` (what :func:`evaluate` keeps of a run
    it streams; made with :func:`~hwsim.report.summary.summarize` with ``full=True``, the band tables of ``table``
    and the same ``table``): the report is the same bits either way.

    For an RRAM chip, ``result`` must come from :mod:`hwsim.rram` (its RRAM counters) and ``meta``
    should name the chip instance (``instance_seed``, ``adc_scales``), as :func:`evaluate` does.

    Raises:
        InputError: labels do not match the batch.
    """
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (result.batch_size,):
            raise InputError(f"labels have shape {labels.shape}; expected ({result.batch_size},), one per image")
    backend = backend_of(program)
    if isinstance(result, RunResult):
        result = summarize(result, program, table, backend.energy, bands=band_tables(program, table))
    info = {
        "chip": program.chip.name,
        "core_type": backend.core_type,
        "chip_config": program.chip.to_dict(),
        "technology": program.chip.technology,
        "readout": program.readout,
        "n_cores_used": len(program.cores),
    }
    info.update(meta or {})
    timesteps_run = int(np.sum(result.exit_timesteps))  # B * T without an exit rule
    return Report(
        meta=info,
        energy=result.energy,
        accuracy=prediction_accuracy(result.predictions, labels),
        labels=labels,
        predictions=result.predictions,
        firing_rates=firing_rates_of_sums(result.core_spikes, timesteps_run, program),
        sweep=list(sweep),
        raster=raster,
        early_exit=early_exit,
        energy_band_nj=None if result.band is None else tuple(e.energy_nj_per_image for e in result.band),
        area=run_area(program.chip),
        noc=noc_summary_of_sums(result.noc_sums, result.link_counters, result.batch_size, timesteps_run,
                                program.chip),
    )

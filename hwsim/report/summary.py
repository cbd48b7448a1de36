"""Per-image summaries of runs: every number a report takes from a run, without the run's per-timestep arrays.

A report (:func:`hwsim.report.model.build_report`) needs of its own run the energy of every image with its
breakdowns, the predictions, the timesteps each image ran, and a few sums over all images and timesteps (the
spikes of each core, the NoC counters, the per-link counts); of the other runs it shows (the timestep sweep, each
exit rule, the fixed-T curve) only the predictions, the timesteps run and the energy, latency and synaptic
operations of every image. :func:`summarize` takes these from a :class:`~hwsim.result.RunResult`;
:meth:`RunSummary.concatenate` joins the summaries of consecutive chunks of images.

So :func:`hwsim.report.evaluate` summarizes each chunk of a run as it is simulated and drops its per-timestep
arrays: memory grows by a few hundred bytes per image (the per-image energy breakdowns), not by the run's
``T x (64 x cores + ~120)`` bytes. The report is the same bits: every per-image number is computed image by image
(the same arithmetic on a row, whatever the other rows), the per-image arrays of the chunks are joined before any
mean or percentile is taken over them, and the sums over images are of integers (tests/hwsim/test_streaming.py
compares the report JSON of one-image chunks with that of the whole run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.energy import EnergyReport, EnergyTable, load_table
from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES, RunResult

__all__ = ["RunSummary", "summarize", "band_tables", "join_energy"]

#: ``energy_of(result, program, table) -> EnergyReport`` (:attr:`hwsim.report.backend.Backend.energy`).
EnergyOf = Callable[[RunResult, ChipProgram, EnergyTable], EnergyReport]


@dataclass(frozen=True)
class RunSummary:
    """What a report takes from a run of ``B`` images (see the module docstring).

    Attributes:
        timesteps: T of the run.
        exit_rule: The exit rule the run was cut by (``"none"``: the fixed-T run).
        predictions: ``(B,)`` predicted classes.
        exit_timesteps: ``(B,)`` timesteps each image ran.
        energy: The run's :class:`~hwsim.energy.EnergyReport` (per image). A ``full`` summary keeps every
            breakdown; otherwise only ``total_pj``, ``latency_us`` and ``sops`` (what a sweep or exit point shows:
            ``energy_nj_per_image``, ``latency_us_per_image``, ``sops_per_image``), the other arrays empty.
        band: The run priced with the marked table entries at the low and at the high end of their ranges
            (:func:`band_tables`; totals only, as ``energy`` when not full), or None.
        core_spikes: ``(n_cores,)`` int64, counter ``output_spikes`` of each program core summed over images and
            timesteps (the firing rates).
        noc_sums: ``(len(NOC_COUNTER_NAMES),)`` int64, the NoC counters summed over images and timesteps.
        link_counters: The run's per-link sums (``RunResult.link_counters``), or None.
    """

    timesteps: int
    exit_rule: str
    predictions: np.ndarray
    exit_timesteps: np.ndarray
    energy: EnergyReport
    band: tuple[EnergyReport, EnergyReport] | None
    core_spikes: np.ndarray
    noc_sums: np.ndarray
    link_counters: np.ndarray | None

    @property
    def batch_size(self) -> int:
        return int(self.predictions.shape[0])

    @staticmethod
    def concatenate(parts: Sequence[RunSummary]) -> RunSummary:
        """The summary of consecutive chunks of images of one run, in order (exactly that of the whole run)."""
        first = parts[0]
        if len(parts) == 1:
            return first
        return RunSummary(
            timesteps=first.timesteps,
            exit_rule=first.exit_rule,
            predictions=np.concatenate([p.predictions for p in parts]),
            exit_timesteps=np.concatenate([p.exit_timesteps for p in parts]),
            energy=join_energy([p.energy for p in parts]),
            band=None if first.band is None else tuple(join_energy([p.band[i] for p in parts]) for i in range(2)),
            core_spikes=sum(p.core_spikes for p in parts),
            noc_sums=sum(p.noc_sums for p in parts),
            # as RunResult.concatenate: unknown for the whole when unknown for a part (cut by an exit rule)
            link_counters=None if any(p.link_counters is None for p in parts) else sum(p.link_counters for p in parts),
        )


def band_tables(program: ChipProgram, table: EnergyTable | str | None) -> tuple[EnergyTable, EnergyTable] | None:
    """The table with every entry it marks as an assumption (``range = [lo, hi]``) at the low end, and at the high
    end (docs/energy.md §10); None if it marks no entry. Energy is a sum of non-negative counts times entries, so
    these price a run at the least and the most any combination of the marked entries within their ranges gives."""
    table = load_table(program.chip.technology if table is None else table)
    marked = table.marked_entries()
    if not marked:
        return None
    low, high = ({key: span[end] for key, span in marked.items()} for end in (0, 1))
    return table.with_entry_factors(low), table.with_entry_factors(high)


def summarize(result: RunResult, program: ChipProgram, table: EnergyTable, energy_of: EnergyOf, *,
              full: bool = True, bands: tuple[EnergyTable, EnergyTable] | None = None) -> RunSummary:  # fmt: skip
    """The summary of ``result`` (a run of ``program``), priced with ``table`` by ``energy_of``.

    Args:
        full: Keep every energy breakdown (the report's own run); else only the per-image totals.
        bands: :func:`band_tables`, to price the run at the ends of the marked entries' ranges too.
    """
    energy = energy_of(result, program, table)
    return RunSummary(
        timesteps=result.timesteps,
        exit_rule=result.exit_rule,
        predictions=result.predictions,
        exit_timesteps=np.asarray(result.exit_timesteps, np.int64),
        energy=energy if full else _totals(energy),
        band=None if bands is None else tuple(_totals(energy_of(result, program, t)) for t in bands),
        core_spikes=result.counters[..., COUNTER_NAMES.index("output_spikes")].sum(axis=(0, 1), dtype=np.int64),
        noc_sums=result.noc_counters.sum(axis=(0, 1), dtype=np.int64),
        link_counters=result.link_counters,
    )


def _totals(energy: EnergyReport) -> EnergyReport:
    """``energy`` with only the per-image arrays a sweep or exit point reads: total energy, latency, SOPs."""
    B = energy.n_images
    nothing = np.zeros(0)
    return dataclasses.replace(
        energy,
        dynamic_pj=nothing,
        static_pj=nothing,
        by_action={},
        action_counts={},
        by_component={},
        by_layer={},
        by_core=np.zeros((B, 0)),
        cycles=nothing,
    )


def join_energy(parts: Sequence[EnergyReport]) -> EnergyReport:
    """The energy report of consecutive chunks of images: every per-image array (and every array of a dict of
    breakdowns) joined along the images, the other fields (table, clock, timesteps, ...) those of the first."""
    first = parts[0]
    if len(parts) == 1:
        return first
    joined = {}
    for f in dataclasses.fields(first):
        value = getattr(first, f.name)
        if isinstance(value, np.ndarray):
            joined[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            joined[f.name] = {k: np.concatenate([getattr(p, f.name)[k] for p in parts]) for k in value}
    return dataclasses.replace(first, **joined)

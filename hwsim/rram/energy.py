"""Energy and latency of an RRAM chip run: action counts x the ``rram_28nm`` table (docs/rram.md §3).

The same Accelergy-style model as :mod:`hwsim.energy` (which owns the table
format and loader): the simulator counts actions, the table gives pJ per
action. The RRAM-specific parts are the row drivers, the cell reads and the
ADC conversions; the cell read energy is computed from the conductances
actually read, ``V_read^2 x t_read x sum G`` (counter ``read_conductance_us``:
V^2 x ns x uS = fJ), not from a table number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwsim.energy.model import ActionCounts, EnergyReport, price_actions
from hwsim.energy.table import EnergyTable, load_table
from hwsim.errors import InputError
from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES, RunResult
from hwsim.rram.device import rram_config_of
from hwsim.rram.golden import RRAM_COUNTER_NAMES

__all__ = ["RRAM_ACTIONS", "CELL_READ", "RramEnergyReport", "rram_energy"]

#: What each action counts, in chip-spec §2.5 / §7.5 counters (per core, summed over timesteps).
RRAM_ACTIONS: dict[tuple[str, str], str] = {
    ("crossbar.row_driver", "drive_row"): "row_drives",
    ("crossbar.adc", "conversion_step"): "adc_conversions * 2^adc_bits",
    ("core.spike_buffer", "scan_axon"): "axon_events",
    ("core.accumulator", "add_bit"): "adc_conversions * v_bits",
    ("core.membrane_rf", "access_bit"): "(2 * adc_conversions + 3 * neuron_updates) * v_bits",
    ("core.neuron", "update_bit"): "neuron_updates * v_bits",
    ("core.controller", "cycle"): "cycles",
    ("core.router", "send_packet"): "packets",
    ("noc.link", "hop"): "hops (cores and host)",
    ("host.port", "send_packet"): "host packets",
}
#: Pseudo-key of the cell read energy (computed from conductances, not from the table).
CELL_READ = ("crossbar.cell", "read")


@dataclass(frozen=True)
class RramEnergyReport(EnergyReport):
    """Energy and latency of ``B`` inferences on one RRAM chip instance (arrays are per image).

    The fields are those of :class:`hwsim.energy.EnergyReport` (so :mod:`hwsim.report` renders both
    alike), filled from RRAM action counts: ``by_component`` holds ``crossbar.cell``,
    ``crossbar.row_driver``, ``crossbar.adc``, the digital parts of the core, the NoC, the host port
    and ``leakage``; ``by_layer`` holds ``host``, the layers in stage order and ``idle cores``;
    ``by_core`` is ``(B, n_cores)`` dynamic energy plus the core's own leakage. Each breakdown sums to
    ``total_pj``. ``action_counts`` counts ``crossbar.cell/read`` in cells read (its energy comes from
    the conductances, not the table). ``sops`` are counter ``synaptic_ops``: one synaptic
    operation per (spiking row, neuron column) pair read.
    """

    @property
    def counts(self) -> dict[str, np.ndarray]:
        """Action counts (``"component/action" -> (B,)``), as :attr:`action_counts`."""
        return self.action_counts

    def crossbar_share(self) -> float:
        """Fraction of the energy spent in row drivers, cells and ADCs."""
        xb = sum(v.sum() for k, v in self.by_component.items() if k.startswith("crossbar."))
        return float(xb / self.total_pj.sum()) if self.total_pj.sum() > 0 else 0.0

    def to_dict(self) -> dict:
        """The breakdowns of :meth:`EnergyReport.to_dict`, plus the crossbar share and the RRAM-specific keys."""
        return {
            **super().to_dict(),
            "crossbar_share": self.crossbar_share(),
            "by_action_pj_per_image": {k: float(v.mean()) for k, v in self.by_action.items()},
            "counts_per_image": {k: float(v.mean()) for k, v in self.action_counts.items()},
        }


def rram_energy(result: RunResult, program: ChipProgram, table: EnergyTable | str = "rram_28nm") -> RramEnergyReport:
    """Energy per image of an RRAM chip run (golden model or fast path result), with every breakdown.

    Raises:
        InputError: the result has no RRAM counters or does not belong to the program.
        EnergyTableError: the table lacks an entry.
    """
    cfg = rram_config_of(program.chip)
    if "rram_counters" not in result.extra or "read_conductance_us" not in result.extra:
        raise InputError("run result has no RRAM counters: run it with hwsim.rram (simulate_rram or run_rram)")
    if tuple(result.core_ids) != tuple(cp.core for cp in program.cores):
        raise InputError(f"run result cores {list(result.core_ids)} do not match the program's cores")
    table = load_table(table)
    chip, cc = program.chip, program.chip.core
    c = result.counters.sum(axis=1, dtype=np.int64)  # (B, C, K)
    r = result.extra["rram_counters"].sum(axis=1, dtype=np.int64)

    def get(name: str) -> np.ndarray:
        return c[..., COUNTER_NAMES.index(name)].astype(np.float64)

    def rget(name: str) -> np.ndarray:
        return r[..., RRAM_COUNTER_NAMES.index(name)].astype(np.float64)

    conv = rget("adc_conversions")
    core_counts = {  # (B, C) per program core
        ("crossbar.row_driver", "drive_row"): rget("row_drives"),
        ("crossbar.adc", "conversion_step"): conv * float(1 << cfg.adc_bits),
        ("core.spike_buffer", "scan_axon"): get("axon_events"),
        ("core.accumulator", "add_bit"): conv * cc.v_bits,
        ("core.membrane_rf", "access_bit"): (2 * conv + 3 * get("neuron_updates")) * cc.v_bits,
        ("core.neuron", "update_bit"): get("neuron_updates") * cc.v_bits,
        ("core.controller", "cycle"): get("cycles"),
        ("core.router", "send_packet"): get("packets"),
        ("noc.link", "hop"): get("hops"),
    }
    host_counts = {  # (B,)
        ("noc.link", "hop"): result.host_counter("hops").sum(axis=1).astype(np.float64),
        ("host.port", "send_packet"): result.host_counter("packets").sum(axis=1).astype(np.float64),
    }
    # V^2 x ns x uS = 1e-15 J = 1e-3 pJ, from the conductances actually read
    e_cell = cfg.v_read_v**2 * cfg.t_read_ns * result.extra["read_conductance_us"].sum(axis=1) * 1e-3  # (B, C)
    cycles = result.cycles_per_inference.astype(np.float64)
    counts = ActionCounts(
        core=core_counts,
        host=host_counts,
        runtime_us=cycles / chip.clock_mhz,
        cycles=cycles,
        storage_bits_per_core=2 * cc.neurons * cc.v_bits + cc.axons,  # the crossbar is non-volatile: no leaking bits
        n_mesh_cores=chip.n_cores,
    )
    direct = {CELL_READ: (e_cell, rget("cell_reads").sum(axis=1))}
    return price_actions(result, program, table, counts, direct_core_pj=direct, report_type=RramEnergyReport)

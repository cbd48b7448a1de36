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
_STATIC = ("core.storage", "leak_bit")


@dataclass(frozen=True)
class RramEnergyReport:
    """Energy and latency of ``B`` inferences on an RRAM chip (arrays are per image).

    Attributes:
        table: Table name. clock_mhz: Core clock.
        total_pj, dynamic_pj, static_pj: ``(B,)`` pJ.
        by_action: ``"component/action" -> (B,)`` pJ (incl. ``crossbar.cell/read`` and the leakage).
        counts: ``"component/action" -> (B,)`` action counts.
        cycles: ``(B,)`` chip cycles per inference.
    """

    table: str
    clock_mhz: float
    total_pj: np.ndarray
    dynamic_pj: np.ndarray
    static_pj: np.ndarray
    by_action: dict
    counts: dict
    cycles: np.ndarray

    @property
    def energy_nj_per_image(self) -> float:
        return float(self.total_pj.mean() / 1e3)

    @property
    def latency_us_per_image(self) -> float:
        return float(self.cycles.mean() / self.clock_mhz)

    def crossbar_share(self) -> float:
        """Fraction of the energy spent in row drivers, cells and ADCs."""
        xb = sum(v.sum() for k, v in self.by_action.items() if k.startswith("crossbar."))
        return float(xb / self.total_pj.sum()) if self.total_pj.sum() > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "table": self.table,
            "energy_nj_per_image": self.energy_nj_per_image,
            "latency_us_per_image": self.latency_us_per_image,
            "dynamic_nj_per_image": float(self.dynamic_pj.mean() / 1e3),
            "static_nj_per_image": float(self.static_pj.mean() / 1e3),
            "crossbar_share": self.crossbar_share(),
            "by_action_pj_per_image": {k: float(v.mean()) for k, v in self.by_action.items()},
            "counts_per_image": {k: float(v.mean()) for k, v in self.counts.items()},
        }


def rram_energy(result: RunResult, program: ChipProgram, table: EnergyTable | str = "rram_28nm") -> RramEnergyReport:
    """Energy per image of an RRAM chip run (golden model or fast path result).

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
    c = result.counters.sum(axis=(1, 2), dtype=np.int64)  # (B, K)
    r = result.extra["rram_counters"].sum(axis=(1, 2), dtype=np.int64)

    def get(name: str) -> np.ndarray:
        return c[:, COUNTER_NAMES.index(name)].astype(np.float64)

    def rget(name: str) -> np.ndarray:
        return r[:, RRAM_COUNTER_NAMES.index(name)].astype(np.float64)

    conv = rget("adc_conversions")
    counts = {
        ("crossbar.row_driver", "drive_row"): rget("row_drives"),
        ("crossbar.adc", "conversion_step"): conv * float(1 << cfg.adc_bits),
        ("core.spike_buffer", "scan_axon"): get("axon_events"),
        ("core.accumulator", "add_bit"): conv * cc.v_bits,
        ("core.membrane_rf", "access_bit"): (2 * conv + 3 * get("neuron_updates")) * cc.v_bits,
        ("core.neuron", "update_bit"): get("neuron_updates") * cc.v_bits,
        ("core.controller", "cycle"): get("cycles"),
        ("core.router", "send_packet"): get("packets"),
        ("noc.link", "hop"): get("hops") + result.host_counter("hops").sum(axis=1).astype(np.float64),
        ("host.port", "send_packet"): result.host_counter("packets").sum(axis=1).astype(np.float64),
    }
    s = table.global_scale
    by_action = {f"{k[0]}/{k[1]}": s * table.energy_pj(*k) * n for k, n in counts.items()}
    g_read = result.extra["read_conductance_us"].sum(axis=(1, 2))
    # V^2 x ns x uS = 1e-15 J = 1e-3 pJ
    by_action[f"{CELL_READ[0]}/{CELL_READ[1]}"] = cfg.v_read_v**2 * cfg.t_read_ns * g_read * 1e-3
    dynamic = sum(by_action.values())
    cycles = result.cycles_per_inference.astype(np.float64)
    runtime_us = cycles / chip.clock_mhz
    bits_per_core = 2 * cc.neurons * cc.v_bits + cc.axons
    static = s * table.static_power_uw(*_STATIC) * bits_per_core * chip.n_cores * runtime_us  # uW x us = pJ
    by_action[f"{_STATIC[0]}/{_STATIC[1]}"] = static
    out_counts = {f"{k[0]}/{k[1]}": v for k, v in counts.items()}
    out_counts[f"{CELL_READ[0]}/{CELL_READ[1]}"] = rget("cell_reads")
    return RramEnergyReport(
        table=table.name,
        clock_mhz=float(chip.clock_mhz),
        total_pj=dynamic + static,
        dynamic_pj=dynamic,
        static_pj=static,
        by_action=by_action,
        counts=out_counts,
        cycles=cycles,
    )

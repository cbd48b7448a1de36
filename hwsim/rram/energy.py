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

from hwsim.energy.model import HOST_LAYER, IDLE_LAYER, STATIC_COMPONENT, EnergyReport, key_name, layer_name
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
    B, C = result.batch_size, len(program.cores)
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
    s = table.global_scale
    by_action: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    by_component: dict[str, np.ndarray] = {}
    per_core_dyn = np.zeros((B, C))
    host_dyn = np.zeros(B)

    def add(store: dict, name: str, value: np.ndarray) -> None:
        store[name] = store.get(name, 0) + value

    for key, n in core_counts.items():
        e = s * table.energy_pj(*key) * n  # (B, C)
        per_core_dyn += e
        add(by_action, key_name(key), e.sum(axis=1))
        add(counts, key_name(key), n.sum(axis=1))
        add(by_component, key[0], e.sum(axis=1))
    # V^2 x ns x uS = 1e-15 J = 1e-3 pJ, from the conductances actually read
    e_cell = cfg.v_read_v**2 * cfg.t_read_ns * result.extra["read_conductance_us"].sum(axis=1) * 1e-3  # (B, C)
    per_core_dyn += e_cell
    by_action[key_name(CELL_READ)] = e_cell.sum(axis=1)
    counts[key_name(CELL_READ)] = rget("cell_reads").sum(axis=1)
    by_component[CELL_READ[0]] = e_cell.sum(axis=1)
    for key, n in host_counts.items():
        e = s * table.energy_pj(*key) * n
        host_dyn += e
        add(by_action, key_name(key), e)
        add(counts, key_name(key), n)
        add(by_component, key[0], e)

    cycles = result.cycles_per_inference.astype(np.float64)
    runtime_us = cycles / chip.clock_mhz
    bits_per_core = 2 * cc.neurons * cc.v_bits + cc.axons  # the crossbar is non-volatile: no leaking bits
    core_power_uw = s * table.static_power_uw(*_STATIC) * bits_per_core
    leak_per_core = core_power_uw * runtime_us  # uW x us = pJ
    static = leak_per_core * chip.n_cores
    by_action[key_name(_STATIC)] = static
    counts[key_name(_STATIC)] = np.full(B, float(bits_per_core * chip.n_cores))
    by_component[STATIC_COMPONENT] = static

    by_core = per_core_dyn + leak_per_core[:, None]
    by_layer: dict[str, np.ndarray] = {HOST_LAYER: host_dyn}
    for k, cp in sorted(enumerate(program.cores), key=lambda kc: (kc[1].stage, kc[1].core)):
        add(by_layer, layer_name(cp.label, cp.stage), by_core[:, k])
    by_layer[IDLE_LAYER] = leak_per_core * (chip.n_cores - C)
    dynamic = per_core_dyn.sum(axis=1) + host_dyn
    f64 = lambda d: {k: np.asarray(v, np.float64) for k, v in d.items()}  # noqa: E731
    return RramEnergyReport(
        table=table.name,
        table_version=table.version,
        global_scale=s,
        clock_mhz=float(chip.clock_mhz),
        timesteps=result.timesteps,
        total_pj=dynamic + static,
        dynamic_pj=dynamic,
        static_pj=static,
        by_action=f64(by_action),
        action_counts=f64(counts),
        by_component=f64(by_component),
        by_layer=f64(by_layer),
        by_core=by_core,
        core_ids=tuple(result.core_ids),
        cycles=cycles,
        latency_us=runtime_us,
        sops=result.counter("synaptic_ops").sum(axis=(1, 2)).astype(np.int64),
        static_power_uw=core_power_uw * chip.n_cores,
    )

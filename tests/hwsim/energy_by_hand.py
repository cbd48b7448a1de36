"""Energy per image by hand: a run's counters times the energy table's entries, read from the TOML file
with tomllib, plus leakage = static power x stored bits x mesh cores x runtime (docs/energy.md §1 for the
digital core, docs/rram.md §3 for the RRAM crossbar core).

The independent reference of the report tests: it uses nothing of ``hwsim.energy`` or ``hwsim.rram.energy``
(no action-count table, no pricing code), only the documented formulas written out term by term, including the
partial-sum actions of docs/energy.md §2.1 on chips with ``core.partial_sums``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["table_entries", "digital_energy_pj_per_image", "rram_energy_pj_per_image", "latency_us_per_image"]

TABLES = Path(__file__).resolve().parents[2] / "hwsim" / "energy" / "tables"


def table_entries(name: str) -> tuple[float, dict[tuple[str, str], float]]:
    """(global_scale, {(component, action): energy_pj or static_power_uw}) of ``tables/<name>.toml``."""
    with open(TABLES / f"{name}.toml", "rb") as fh:
        data = tomllib.load(fh)
    values = {}
    for e in data["entry"]:
        values[(e["component"], e["action"])] = e.get("energy_pj", e.get("static_power_uw"))
    return float(data["calibration"]["global_scale"]), values


def _per_image(result, name: str, names: tuple[str, ...], array=None) -> np.ndarray:
    """``(B,)`` sum over timesteps and cores of one counter."""
    a = result.counters if array is None else array
    return a[..., names.index(name)].reshape(a.shape[0], -1).sum(axis=1).astype(np.float64)


def latency_us_per_image(result, chip) -> np.ndarray:
    return result.timestep_cycles.sum(axis=1) / chip.clock_mhz


def _common(result, chip, e) -> tuple[dict, np.ndarray]:
    """Counts of the actions both core types share, and the host's (docs/energy.md §1 table)."""
    from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES

    c = {n: _per_image(result, n, COUNTER_NAMES) for n in COUNTER_NAMES}
    host = {n: _per_image(result, n, HOST_COUNTER_NAMES, result.host_counters) for n in HOST_COUNTER_NAMES}
    v = chip.core.v_bits
    pj = (c["axon_events"] * e[("core.spike_buffer", "scan_axon")]
          + c["neuron_updates"] * v * e[("core.neuron", "update_bit")]
          + c["cycles"] * e[("core.controller", "cycle")]
          + c["packets"] * e[("core.router", "send_packet")]
          + (c["hops"] + host["hops"]) * e[("noc.link", "hop")]
          + host["packets"] * e[("host.port", "send_packet")])
    return c, pj


def digital_energy_pj_per_image(result, chip, table: str = "28nm", program=None) -> np.ndarray:
    """The digital core's energy per image; on a chip with partial sums ``program`` is needed (it says which cores
    send partial sums and which merge them, docs/energy.md §2.1)."""
    scale, e = table_entries(table)
    A, N, P, w, v = chip.core.axons, chip.core.neurons, chip.core.lanes, chip.core.w_bits, chip.core.v_bits
    c, pj = _common(result, chip, e)
    pj = pj + (c["sram_word_reads"] * P * w * e[("core.weight_sram", "read_bit")]
               + c["synaptic_ops"] * v * e[("core.accumulator", "add_bit")]
               + (2 * c["sram_word_reads"] * P + 3 * c["neuron_updates"]) * v * e[("core.membrane_rf", "access_bit")])
    bits_per_core = A * N * w + 2 * N * v + A
    leak = e[("core.storage", "leak_bit")] * bits_per_core * chip.mesh_rows * chip.mesh_cols
    if chip.core.partial_sums:
        pj = pj + _partial_sums_pj(result, program, e)
        leak = leak + e[("core.psum_buffer", "leak_bit")] * N * v * chip.mesh_rows * chip.mesh_cols
    return scale * (pj + leak * latency_us_per_image(result, chip))  # uW x us = pJ


def _partial_sums_pj(result, program, e) -> np.ndarray:
    """docs/energy.md §2.1 term by term: the senders' packets move from send_packet to the partial-sum actions,
    every receiver neuron merges every timestep."""
    from hwsim.result import COUNTER_NAMES

    v = program.chip.core.v_bits
    senders = [k for k, cp in enumerate(program.cores) if cp.psum_out]
    receiver_ids = {r.dest_core for cp in program.cores if cp.psum_out for r in cp.routes}
    receivers = [k for k, cp in enumerate(program.cores) if cp.core in receiver_ids]

    def total(name: str, cores: list[int]) -> np.ndarray:
        return _per_image(result, name, COUNTER_NAMES, result.counters[:, :, cores, :])

    packets, hops = total("packets", senders), total("hops", senders)
    merged = total("neuron_updates", receivers)  # n_neurons per receiver and timestep
    return (packets * (e[("core.router", "send_psum_packet")] - e[("core.router", "send_packet")])
            + packets * v * (e[("core.router", "psum_payload_bit")] + e[("core.psum_buffer", "write_bit")])
            + hops * v * e[("noc.link", "psum_payload_bit")]
            + merged * v * (e[("core.psum_buffer", "read_bit")] + e[("core.psum_buffer", "merge_add_bit")]
                            + 2 * e[("core.membrane_rf", "merge_access_bit")]))


def rram_energy_pj_per_image(result, chip, table: str = "rram_28nm") -> np.ndarray:
    from hwsim.rram.golden import RRAM_COUNTER_NAMES

    scale, e = table_entries(table)
    A, N, v, cfg = chip.core.axons, chip.core.neurons, chip.core.v_bits, chip.rram
    c, pj = _common(result, chip, e)
    r = {n: _per_image(result, n, RRAM_COUNTER_NAMES, result.extra["rram_counters"]) for n in RRAM_COUNTER_NAMES}
    g_us = result.extra["read_conductance_us"].reshape(len(c["cycles"]), -1).sum(axis=1)
    pj = pj + (r["row_drives"] * e[("crossbar.row_driver", "drive_row")]
               + cfg.v_read_v**2 * cfg.t_read_ns * g_us / 1000.0  # V^2 x ns x uS = fJ
               + r["adc_conversions"] * 2**cfg.adc_bits * e[("crossbar.adc", "conversion_step")]
               + r["adc_conversions"] * v * e[("core.accumulator", "add_bit")]
               + (2 * r["adc_conversions"] + 3 * c["neuron_updates"]) * v * e[("core.membrane_rf", "access_bit")])
    bits_per_core = 2 * N * v + A  # the crossbar is non-volatile: no weight bits leak
    leak = e[("core.storage", "leak_bit")] * bits_per_core * chip.mesh_rows * chip.mesh_cols
    return scale * (pj + leak * latency_us_per_image(result, chip))

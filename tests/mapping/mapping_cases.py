"""Shared helpers of the mapping tests (no test functions here; module name unique across tests/)."""

from __future__ import annotations

import numpy as np

from hwsim.golden import simulate
from hwsim.network import simulate_network

__all__ = ["assert_program_matches_network", "part_table"]


def part_table(program) -> dict[int, dict]:
    """Mesh core -> {layer, lo, size} from the program's placement metadata."""
    return {p["core"]: p for p in program.metadata["placement"]["parts"]}


def assert_program_matches_network(program, network, rasters, v_bits) -> int:
    """Golden-model run of ``program`` equals ``simulate_network`` on every layer; return hidden spikes seen."""
    ref = simulate_network(network, rasters, v_bits)
    res = simulate(program, rasters, record=True)
    np.testing.assert_array_equal(res.output_spikes, ref[-1][1])
    np.testing.assert_array_equal(res.output_membranes, ref[-1][0])
    parts = part_table(program)
    for k, core in enumerate(res.core_ids):
        p = parts[core]
        mem, spk = ref[p["layer"]]
        sl = slice(p["lo"], p["lo"] + p["size"])
        np.testing.assert_array_equal(res.core_spikes[k], spk[..., sl], err_msg=f"core {core} spikes")
        np.testing.assert_array_equal(res.membranes[k], mem[..., sl], err_msg=f"core {core} membranes")
    return int(sum(spk.sum() for _, spk in ref[:-1]))

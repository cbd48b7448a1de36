"""Shared helpers of the mapping tests (no test functions here; module name unique across tests/)."""

from __future__ import annotations

import itertools

import numpy as np

from hwsim.golden import simulate
from hwsim.network import simulate_network

__all__ = ["assert_program_matches_network", "part_table", "conv_loop"]


def part_table(program) -> dict[int, dict]:
    """Mesh core -> {layer, lo, size} from the program's placement metadata."""
    return {p["core"]: p for p in program.metadata["placement"]["parts"]}


def assert_program_matches_network(program, network, rasters, v_bits) -> int:
    """Golden-model run of ``program`` equals ``simulate_network`` on every layer; return hidden spikes seen.

    Cores of a tiled layer hold neurons in the tiling's order (``mapping.tiling``), so a core's slice is
    taken from the reordered reference. A partial-sum core's membrane must be the plain sum of its axons'
    weights over the inputs that spiked (the test networks never saturate), and it never spikes.
    """
    from mapping.tiling import tile_network

    tiling = tile_network(network, program.chip)
    ref = simulate_network(network, rasters, v_bits)
    res = simulate(program, rasters, record=True)
    np.testing.assert_array_equal(res.output_spikes, ref[-1][1])
    np.testing.assert_array_equal(res.output_membranes, ref[-1][0])
    parts = part_table(program)
    batch = rasters if rasters.ndim == 3 else rasters[None]
    for k, core in enumerate(res.core_ids):
        p = parts[core]
        order = tiling.layers[p["layer"]].order
        mem, spk = ref[p["layer"]]
        if order is not None:
            mem, spk = mem[..., order], spk[..., order]
        sl = slice(p["lo"], p["lo"] + p["size"])
        if p.get("member", 0) < p.get("chain", 1) - 1:
            cp = program.cores[program.index_of(core)]
            mapped_spikes = [s if lt.order is None else s[..., lt.order] for (_, s), lt in zip(ref, tiling.layers)]
            layer_in = tiling.network.layer_input(p["layer"], batch, mapped_spikes)
            rows = _axon_rows(tiling.network, p["layer"], cp, program)
            expected = layer_in[..., rows].astype(np.int64) @ cp.weights.astype(np.int64)
            np.testing.assert_array_equal(res.membranes[k], expected.reshape(res.membranes[k].shape),
                                          err_msg=f"partial-sum core {core} membranes")
            assert not res.core_spikes[k].any(), f"partial-sum core {core} spiked"
            continue
        np.testing.assert_array_equal(res.core_spikes[k], spk[..., sl], err_msg=f"core {core} spikes")
        np.testing.assert_array_equal(res.membranes[k], mem[..., sl], err_msg=f"core {core} membranes")
    return int(sum(spk.sum() for _, spk in ref[:-1]))


def _axon_rows(network, k, cp, program):
    """Input rows (of layer ``k``'s inputs, sources concatenated) on each axon of ``cp``, read back from the
    routing tables of the program: independent of how the mapper computed them."""
    by_core = {c.core: c for c in program.cores}
    offsets, off = {}, 0
    for s in network.sources(k):
        offsets[s] = off
        off += network.n_inputs if s < 0 else network.layers[s].n_out
    rows = np.full(cp.n_axons, -1)
    for r in program.host_routes:
        if r.dest_core == cp.core:
            rows[r.axon_offset : r.axon_offset + r.src_hi - r.src_lo] = offsets[-1] + np.arange(r.src_lo, r.src_hi)
    parts = part_table(program)
    for src in program.cores:
        if src.psum_out:
            continue
        for r in src.routes:
            if r.dest_core == cp.core:
                sp = parts[src.core]
                lo = offsets[sp["layer"]] + sp["lo"]
                rows[r.axon_offset : r.axon_offset + r.src_hi - r.src_lo] = lo + np.arange(r.src_lo, r.src_hi)
    assert (rows >= 0).all(), f"core {cp.core}: axons fed by no route"
    del by_core
    return rows


def conv_loop(kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """Dense ``(C_in*H*W, C_out*H*W)`` matrix of a 'same' 3x3 (or kxk, odd) convolution, by plain loops."""
    c_out, c_in, k, _ = kernel.shape
    pad = k // 2
    m = np.zeros((c_in * h * w, c_out * h * w), np.int32)
    for co, y, x, ci, ky, kx in itertools.product(range(c_out), range(h), range(w), range(c_in), range(k), range(k)):
        iy, ix = y + ky - pad, x + kx - pad
        if 0 <= iy < h and 0 <= ix < w:
            m[(ci * h + iy) * w + ix, (co * h + y) * w + x] = kernel[co, ci, ky, kx]
    return m

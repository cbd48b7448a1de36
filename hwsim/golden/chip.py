"""Golden model of the whole chip: stages, routers, host port and the barrier (chip-spec §1).

Runs one inference at a time with :class:`GoldenCore` units, in the stage
order of the spec, and counts every packet, hop and cycle.
"""

from __future__ import annotations

import numpy as np

from hwsim.encoding import as_raster_batch
from hwsim.golden.core import GoldenCore
from hwsim.golden.router import route_cycles
from hwsim.errors import ProgramError
from hwsim.program import ChipProgram, Route
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, RunResult

__all__ = ["simulate", "route_cycles"]


def _deliver(spikes: list[int], routes: tuple[Route, ...], inboxes: dict[int, list[int]]) -> int:
    """Send ``spikes`` through a routing table into destination inboxes; return packets sent."""
    packets = 0
    for j in spikes:
        for r in routes:
            if r.src_lo <= j < r.src_hi:
                inboxes[r.dest_core].append(r.axon_offset + (j - r.src_lo))
                packets += 1
    return packets


def _hops_sent(spikes: list[int], routes: tuple[Route, ...], hops_to: dict[int, int]) -> int:
    return sum(hops_to[r.dest_core] for j in spikes for r in routes if r.src_lo <= j < r.src_hi)


def simulate(program: ChipProgram, rasters: np.ndarray, record: bool = False) -> RunResult:
    """Run ``program`` on input spike rasters with the golden model.

    Args:
        program: A validated chip program.
        rasters: ``(T, n_inputs)`` or ``(B, T, n_inputs)`` binary spikes.
        record: Also keep every core's membranes and spikes per timestep.

    Returns:
        A :class:`RunResult`.

    Raises:
        InputError: the raster has the wrong shape or non-binary values.
        ProgramError: the program is for an RRAM chip (use :func:`hwsim.rram.simulate_rram`).
    """
    program.validate()
    chip = program.chip
    if chip.core_type != "digital":
        raise ProgramError(
            f"program is for a chip with core_type = {chip.core_type!r}; hwsim.golden.simulate models digital "
            "cores (chip-spec §2): program an RRAM chip with hwsim.rram.program_chip and run hwsim.rram.simulate_rram"
        )
    batch = as_raster_batch(rasters, program.n_inputs)
    B, T, _ = batch.shape
    cores = program.cores
    C = len(cores)
    n_out = program.n_outputs
    stage_of = {cp.core: cp.stage for cp in cores}
    n_stages = program.n_stages
    host_hops = {c: chip.hops(0, c) for c in stage_of}
    core_hops = {cp.core: {c: chip.hops(cp.core, c) for c in stage_of} for cp in cores}
    host_max_hops = max(host_hops[r.dest_core] for r in program.host_routes)
    max_hops = [max((core_hops[cp.core][r.dest_core] for r in cp.routes), default=0) for cp in cores]

    out_spikes = np.zeros((B, T, n_out), np.uint8)
    out_membranes = np.zeros((B, T, n_out), np.int32)
    counters = np.zeros((B, T, C, len(COUNTER_NAMES)), np.int64)
    host_counters = np.zeros((B, T, len(HOST_COUNTER_NAMES)), np.int64)
    timestep_cycles = np.zeros((B, T), np.int64)
    membranes = [np.zeros((B, T, cp.n_neurons), np.int32) for cp in cores] if record else None
    core_spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores] if record else None
    K = {name: k for k, name in enumerate(COUNTER_NAMES)}

    for b in range(B):
        units = [GoldenCore(chip.core, cp) for cp in cores]  # fresh state per inference
        for t in range(T):
            inboxes: dict[int, list[int]] = {cp.core: [] for cp in cores}
            inputs = [int(i) for i in np.flatnonzero(batch[b, t])]
            host_packets = _deliver(inputs, program.host_routes, inboxes)
            host_route = route_cycles(host_packets, host_max_hops, chip.hop_latency_cycles)
            host_counters[b, t] = (host_packets, _hops_sent(inputs, program.host_routes, host_hops), host_route)
            cycles = chip.barrier_cycles + host_route
            for s in range(n_stages):
                stage_compute, stage_route = 0, 0
                for k, (cp, unit) in enumerate(zip(cores, units)):
                    if cp.stage != s:
                        continue
                    spikes, c = unit.step(inboxes[cp.core])
                    packets = _deliver(spikes, cp.routes, inboxes)
                    c["packets"] = packets
                    c["hops"] = _hops_sent(spikes, cp.routes, core_hops[cp.core])
                    for name, value in c.items():
                        counters[b, t, k, K[name]] = value
                    stage_compute = max(stage_compute, c["cycles"])
                    stage_route = max(stage_route, route_cycles(packets, max_hops[k], chip.hop_latency_cycles))
                    if cp.is_output:
                        lo = cp.output_offset
                        out_spikes[b, t, [lo + j for j in spikes]] = 1
                        out_membranes[b, t, lo : lo + cp.n_neurons] = unit.v
                    if record:
                        membranes[k][b, t] = unit.v
                        core_spikes[k][b, t, spikes] = 1
                cycles += stage_compute + stage_route
            timestep_cycles[b, t] = cycles

    return RunResult(
        output_spikes=out_spikes,
        output_membranes=out_membranes,
        counters=counters,
        host_counters=host_counters,
        timestep_cycles=timestep_cycles,
        core_ids=tuple(cp.core for cp in cores),
        readout=program.readout,
        membranes=membranes,
        core_spikes=core_spikes,
    )

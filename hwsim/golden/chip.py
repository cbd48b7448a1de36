"""Golden model of the whole chip: stages, routers, host port and the barrier (chip-spec §1).

:func:`run_chip` is the one chip schedule, whatever the core type: it runs one
inference at a time, in the stage order of the spec, and counts every packet,
hop and cycle, and carries the partial sums of partial-sum chains (chip-spec
§1.3). The cores are units with a ``step`` (:class:`CoreUnit`): the
digital :class:`~hwsim.golden.core.GoldenCore` here (:func:`simulate`), the
RRAM crossbar core in :mod:`hwsim.rram.golden`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from hwsim.encoding import as_raster_batch
from hwsim.errors import ProgramError
from hwsim.exit_unit import ExitRule, ExitUnit, parse_exit_rule
from hwsim.golden.core import GoldenCore
from hwsim.golden.host_port import host_timestep
from hwsim.golden.noc import mesh_phase
from hwsim.golden.router import deliver, deliver_partial_sums, packets, route_cycles
from hwsim.program import ChipProgram
from hwsim.result import (
    COUNTER_NAMES,
    EXIT_COUNTER_NAMES,
    HOST_COUNTER_NAMES,
    LINK_COUNTER_NAMES,
    NOC_COUNTER_NAMES,
    RunResult,
)

__all__ = ["simulate", "run_chip", "CoreUnit"]


class CoreUnit(Protocol):
    """A core as the chip schedule sees it: its membranes and one timestep."""

    v: list[int]

    def step(self, spiking_axons: list[int], t: int,
             psums: list[int] | None = None) -> tuple[list[int], dict[str, int]]:
        """Timestep ``t`` with these spiking axons (and, for a partial-sum receiver, this partial-sum buffer):
        returns (spiking neurons ascending, activity counters holding at least the
        :data:`~hwsim.result.COUNTER_NAMES` other than packets and hops)."""
        ...

    def partial_sums(self) -> list[tuple[int, int]]:
        """``(neuron, membrane)`` of every nonzero membrane, ascending (sent by a partial-sum core, chip-spec §1.3)."""
        ...


def run_chip(
    program: ChipProgram,
    batch: np.ndarray,
    new_units: Callable[[int], Sequence[CoreUnit]],
    record: bool = False,
    on_step: Callable[[int, int, int, CoreUnit, dict], None] | None = None,
    extra: dict | None = None,
    exit_rule: ExitRule | str | None = None,
) -> RunResult:
    """The chip schedule of chip-spec §1 over a ``(B, T, n_inputs)`` 0/1 raster batch.

    Per timestep: the host port delivers the inputs; then stage by stage every
    core of the stage steps on its inbox (and a partial-sum receiver on its
    partial-sum buffer) and routes its spikes (a partial-sum core: its nonzero
    membranes, chip-spec §1.3); the timestep takes
    ``barrier + host route + sum over stages (max compute + max route) + exit``, where under
    ``noc = "mesh"`` each routing phase lasts what the mesh model measures (chip-spec §1.5).

    With an exit rule (chip-spec §1.4) the exit unit reads the timestep's output values
    (membranes under membrane readout, 0/1 spikes under spike-count readout) after the last stage;
    its cycles join the timestep's, and an image ends after the timestep whose rule says exit:
    later timesteps are not simulated, their rows stay 0.

    Args:
        program: A validated chip program.
        batch: The input rasters.
        new_units: ``new_units(b)`` gives fresh units (state at reset) for image ``b``, in program order;
            the units of partial-sum receivers must run MERGE (:attr:`hwsim.golden.core.GoldenCore.psum_receiver`).
        record: Also keep every core's membranes and spikes per timestep.
        on_step: Called as ``on_step(b, t, k, unit, counters)`` after core ``k`` stepped, to keep
            what a core type reports beyond the digital counters.
        extra: Becomes ``RunResult.extra``.
        exit_rule: An :class:`~hwsim.exit_unit.ExitRule` (or its text, parsed with
            :func:`~hwsim.exit_unit.parse_exit_rule`; rules with a scale need an ExitRule); None is ``none``.

    Raises:
        InputError: an exit rule on a program with fewer than 2 outputs, or a rule text that does not parse.
    """
    chip = program.chip
    B, T, _ = batch.shape
    cores = program.cores
    C = len(cores)
    n_out = program.n_outputs
    rule = parse_exit_rule(exit_rule, n_out)
    mesh_ids = [cp.core for cp in cores]
    host_hops = {c: chip.hops(0, c) for c in mesh_ids}
    core_hops = {cp.core: {c: chip.hops(cp.core, c) for c in mesh_ids} for cp in cores}
    # route cycles use the largest hop count over all of a sender's entries (chip-spec §1.2)
    host_max_hops = max(host_hops[r.dest_core] for r in program.host_routes)
    max_hops = [max((core_hops[cp.core][r.dest_core] for r in cp.routes), default=0) for cp in cores]

    out_spikes = np.zeros((B, T, n_out), np.uint8)
    out_membranes = np.zeros((B, T, n_out), np.int32)
    counters = np.zeros((B, T, C, len(COUNTER_NAMES)), np.int64)
    host_counters = np.zeros((B, T, len(HOST_COUNTER_NAMES)), np.int64)
    timestep_cycles = np.zeros((B, T), np.int64)
    exit_timesteps = np.full(B, T, np.int64)
    exit_counters = np.zeros((B, T, len(EXIT_COUNTER_NAMES)), np.int64)
    noc_counters = np.zeros((B, T, len(NOC_COUNTER_NAMES)), np.int64)
    mesh = chip.noc == "mesh"
    link_counters = np.zeros((chip.n_cores, 5, len(LINK_COUNTER_NAMES)), np.int64) if mesh else None

    def route_phase(injections: dict[int, list[tuple[int, int]]], b: int, t: int) -> int:
        """A routing phase on the mesh (chip-spec §1.5): its length; its counters join image b's timestep t."""
        phase = mesh_phase(chip, injections)
        noc_counters[b, t, NOC_COUNTER_NAMES.index("buffer_writes")] += phase.buffer_writes
        noc_counters[b, t, NOC_COUNTER_NAMES.index("stall_cycles")] += phase.stall_cycles
        link_counters[..., LINK_COUNTER_NAMES.index("packets")] += phase.link_packets
        link_counters[..., LINK_COUNTER_NAMES.index("stall_cycles")] += phase.link_stalls
        return phase.cycles

    membranes = [np.zeros((B, T, cp.n_neurons), np.int32) for cp in cores] if record else None
    core_spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores] if record else None
    K = {name: k for k, name in enumerate(COUNTER_NAMES)}
    # Every core of a chip with partial sums has an N-word buffer (chip-spec §1.3); only the receivers'
    # can ever hold a nonzero word, so only theirs are kept.
    receivers = sorted(program.psum_receivers())

    for b in range(B):
        units = new_units(b)  # fresh state per inference
        exit_unit = ExitUnit(rule, n_out) if rule.enabled else None  # accumulators 0 at every image's start
        for t in range(T):
            # fresh every timestep: both buffers are cleared at its end (chip-spec §2.2 step 5)
            inboxes: dict[int, list[int]] = {cp.core: [] for cp in cores}
            psum_buffers: dict[int, list[int]] = {c: [0] * chip.core.neurons for c in receivers}
            host = host_timestep(batch[b, t], program.host_routes, inboxes, host_hops, host_max_hops,
                                 chip.hop_latency_cycles)  # fmt: skip
            if mesh:  # the HOST phase lasts until its last delivery, from router 0
                host_packets = packets([int(i) for i in np.flatnonzero(batch[b, t])], program.host_routes)
                host = (*host[:2], route_phase({0: host_packets}, b, t))
            host_counters[b, t] = host
            routing = host[HOST_COUNTER_NAMES.index("route_cycles")]
            cycles = chip.barrier_cycles + routing
            for s in range(program.n_stages):
                stage_compute, stage_route = 0, 0
                injections: dict[int, list[tuple[int, int]]] = {}
                for k, (cp, unit) in enumerate(zip(cores, units)):
                    if cp.stage != s:
                        continue
                    spikes, c = unit.step(inboxes[cp.core], t, psum_buffers.get(cp.core))
                    if cp.psum_out:  # never fires (fire = 0): sends its nonzero membranes instead
                        sent = unit.partial_sums()
                        c["packets"], c["hops"] = deliver_partial_sums(sent, cp.routes, psum_buffers,
                                                                       core_hops[cp.core])
                        sources = [j for j, _ in sent]
                    else:
                        c["packets"], c["hops"] = deliver(spikes, cp.routes, inboxes, core_hops[cp.core])
                        sources = spikes
                    if mesh:
                        injections[cp.core] = packets(sources, cp.routes)
                    for name in COUNTER_NAMES:
                        counters[b, t, k, K[name]] = c[name]
                    if on_step is not None:
                        on_step(b, t, k, unit, c)
                    stage_compute = max(stage_compute, c["cycles"])
                    stage_route = max(stage_route, route_cycles(c["packets"], max_hops[k], chip.hop_latency_cycles))
                    if cp.is_output:
                        lo = cp.output_offset
                        out_spikes[b, t, [lo + j for j in spikes]] = 1
                        out_membranes[b, t, lo : lo + cp.n_neurons] = unit.v
                    if record:
                        membranes[k][b, t] = unit.v
                        core_spikes[k][b, t, spikes] = 1
                if mesh:
                    stage_route = route_phase(injections, b, t)
                routing += stage_route
                cycles += stage_compute + stage_route
            noc_counters[b, t, NOC_COUNTER_NAMES.index("route_cycles")] = routing
            done = False
            if exit_unit is not None:  # the EXIT phase, after the last stage's route phase (chip-spec §5.1)
                y = out_membranes[b, t] if program.readout == "membrane" else out_spikes[b, t]
                done, unit_counters = exit_unit.step([int(v) for v in y])
                exit_counters[b, t] = unit_counters
                cycles += unit_counters[EXIT_COUNTER_NAMES.index("cycles")]
            timestep_cycles[b, t] = cycles
            if done:  # the image ends: the host clears the chip and feeds the next one
                exit_timesteps[b] = t + 1
                break

    return RunResult(
        output_spikes=out_spikes,
        output_membranes=out_membranes,
        counters=counters,
        host_counters=host_counters,
        timestep_cycles=timestep_cycles,
        core_ids=tuple(mesh_ids),
        readout=program.readout,
        membranes=membranes,
        core_spikes=core_spikes,
        extra={} if extra is None else extra,
        exit_timesteps=exit_timesteps,
        exit_counters=exit_counters,
        exit_rule=rule.text if rule.enabled else "none",
        noc_counters=noc_counters,
        link_counters=link_counters,
    )


def simulate(program: ChipProgram, rasters: np.ndarray, record: bool = False,
             exit_rule: ExitRule | str | None = None) -> RunResult:  # fmt: skip
    """Run ``program`` on input spike rasters with the golden model.

    Args:
        program: A validated chip program.
        rasters: ``(T, n_inputs)`` or ``(B, T, n_inputs)`` binary spikes.
        record: Also keep every core's membranes and spikes per timestep.
        exit_rule: The early-exit rule (chip-spec §1.4), an :class:`~hwsim.exit_unit.ExitRule` or None (``none``).

    Returns:
        A :class:`RunResult`.

    Raises:
        InputError: the raster has the wrong shape or non-binary values; an exit rule on a program
            with fewer than 2 outputs.
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
    receivers = program.psum_receivers()

    def new_units(b: int) -> list[GoldenCore]:
        return [GoldenCore(chip.core, cp, psum_receiver=cp.core in receivers) for cp in program.cores]

    return run_chip(program, batch, new_units, record, exit_rule=exit_rule)

"""Golden model of the mesh network-on-chip (chip-spec §1.5): one routing phase, cycle by cycle.

Plain and slow on purpose: every router, port, buffer and round-robin pointer
is an object the spec names, and every cycle does the spec's five steps in
order. The engine's kernel (:mod:`hwsim.kernels.noc`) and the RTL routers
(``rtl/snn_mesh_router.v``) are checked against it.

A phase is given as the packets each sender injects, in injection order
(:func:`hwsim.golden.router.packets`); what a packet does at its destination
(an axon bit, a partial-sum word) does not depend on when it arrives, so the
model only returns when each packet arrives, the phase length and the counters.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from hwsim.config import ChipConfig

__all__ = ["PORT_NAMES", "LOCAL", "NORTH", "EAST", "SOUTH", "WEST", "xy_output", "MeshPhase", "mesh_phase"]

# Router ports, in round-robin order (chip-spec §1.5): input and output port numbers alike.
PORT_NAMES = ("local", "north", "east", "south", "west")
LOCAL, NORTH, EAST, SOUTH, WEST = range(5)
# Output port d of a router feeds input port OPPOSITE[d] of the neighbour in direction d.
OPPOSITE = (LOCAL, SOUTH, WEST, NORTH, EAST)
# (row, column) step of each output direction.
STEP = ((0, 0), (-1, 0), (0, 1), (1, 0), (0, -1))


def xy_output(chip: ChipConfig, here: int, dest: int) -> int:
    """The output port a packet at router ``here`` takes towards core ``dest``: X first, then Y, then local."""
    (row, col), (d_row, d_col) = chip.position(here), chip.position(dest)
    if d_col > col:
        return EAST
    if d_col < col:
        return WEST
    if d_row > row:
        return SOUTH
    if d_row < row:
        return NORTH
    return LOCAL


@dataclass
class _Packet:
    dest: int  # mesh index of the destination core
    tag: object  # handed back on delivery (the caller's axon or neuron index)
    ready: int = 1  # first cycle in which it may leave the port it waits in


@dataclass
class MeshPhase:
    """What one routing phase did (chip-spec §1.5).

    Attributes:
        cycles: The phase length: the cycle of the last delivery, 0 without packets.
        deliveries: ``(cycle, dest_core, tag)`` of every packet, in delivery order (by cycle; within a cycle,
            by destination mesh index: a core receives at most one packet per cycle).
        link_packets: ``(n_routers, 5)`` packets through each output port (deliveries for port 0).
        link_stalls: ``(n_routers, 5)`` stall cycles of each output port.
        buffer_writes: Packets written into input buffers (= link traversals).
        stall_cycles: Stall cycles of all output ports.
        injection_done: Per sender's router (mesh index): the cycle its last packet left its network interface.
    """

    cycles: int
    deliveries: list[tuple[int, int, object]]
    link_packets: np.ndarray
    link_stalls: np.ndarray
    buffer_writes: int = 0
    stall_cycles: int = 0
    injection_done: dict[int, int] = field(default_factory=dict)


def mesh_phase(chip: ChipConfig, injections: dict[int, list[tuple[int, object]]]) -> MeshPhase:
    """Run one routing phase of the mesh (chip-spec §1.5) to its last delivery.

    Args:
        chip: The chip (mesh shape, ``hop_latency_cycles``, ``router_buffer_flits``).
        injections: For each sender's router (mesh index; the host's is 0): its packets as
            ``(dest_core, tag)`` in injection order. Senders without packets may be left out.
    """
    n = chip.n_cores
    latency, depth = chip.hop_latency_cycles, chip.router_buffer_flits
    # ports[r][p]: the packets waiting at input port p of router r; port 0 is the network interface's list
    ports = [[deque() for _ in range(5)] for _ in range(n)]
    for r, packets in injections.items():
        ports[r][LOCAL].extend(_Packet(dest, tag) for dest, tag in packets)
    pointer = [[0] * 5 for _ in range(n)]
    neighbour = [[_neighbour(chip, r, d) for d in range(5)] for r in range(n)]
    remaining = sum(len(p) for p in injections.values())
    result = MeshPhase(0, [], np.zeros((n, 5), np.int64), np.zeros((n, 5), np.int64))
    k = 0
    while remaining:
        k += 1
        # 1. requests, from the state at the start of the cycle: per (router, output), the requesting inputs
        requests: dict[tuple[int, int], list[int]] = {}
        for r in range(n):
            for p in range(5):
                if ports[r][p] and ports[r][p][0].ready <= k:
                    requests.setdefault((r, xy_output(chip, r, ports[r][p][0].dest)), []).append(p)
        grants: list[tuple[int, int, int]] = []  # (router, input, output)
        for (r, d), inputs in sorted(requests.items()):
            # 2. back-pressure: the neighbour's buffer as it was at the start of the cycle
            available = d == LOCAL or len(ports[neighbour[r][d]][OPPOSITE[d]]) < depth
            if available:
                # 3. round robin from the pointer
                granted = next(q % 5 for q in range(pointer[r][d], pointer[r][d] + 5) if q % 5 in inputs)
                pointer[r][d] = (granted + 1) % 5
                grants.append((r, granted, d))
            # 4. every request not granted stalls a cycle on its output
            stalled = len(inputs) - (1 if available else 0)
            result.link_stalls[r, d] += stalled
            result.stall_cycles += stalled
        # 5. transfers at the end of the cycle
        for r, p, d in grants:
            packet = ports[r][p].popleft()
            result.link_packets[r, d] += 1
            if p == LOCAL:
                result.injection_done[r] = k
                if ports[r][LOCAL]:
                    ports[r][LOCAL][0].ready = k + 1
            if d == LOCAL:
                result.deliveries.append((k, r, packet.tag))
                remaining -= 1
            else:
                packet.ready = k + latency
                ports[neighbour[r][d]][OPPOSITE[d]].append(packet)
                result.buffer_writes += 1
    result.deliveries.sort(key=lambda delivery: (delivery[0], delivery[1]))
    result.cycles = k
    return result


def _neighbour(chip: ChipConfig, r: int, d: int) -> int:
    """Mesh index of router ``r``'s neighbour through output ``d`` (``r`` itself for port 0, -1 off the mesh)."""
    row, col = chip.position(r)
    row, col = row + STEP[d][0], col + STEP[d][1]
    if not (0 <= row < chip.mesh_rows and 0 <= col < chip.mesh_cols):
        return -1
    return row * chip.mesh_cols + col

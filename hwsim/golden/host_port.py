"""Golden model of the host port (chip-spec §1.1): one input row into the cores' inboxes, and the host counters.

The host is sender 0 of the mesh: it routes the spiking inputs of a timestep
through the host routing table with the same router as every core
(:mod:`hwsim.golden.router`).
"""

from __future__ import annotations

import numpy as np

from hwsim.golden.router import deliver, route_cycles
from hwsim.program import Route

__all__ = ["host_timestep"]


def host_timestep(row: np.ndarray, routes: tuple[Route, ...], inboxes: dict[int, list[int]], hops_to: dict[int, int],
                  max_hops: int, hop_latency_cycles: int) -> tuple[int, int, int]:
    """Deliver the spiking inputs of one raster row (0/1 per input), ascending.

    Returns:
        The host counters ``(packets, hops, route_cycles)`` (:data:`hwsim.result.HOST_COUNTER_NAMES`).
    """
    inputs = [int(i) for i in np.flatnonzero(row)]
    packets, hops = deliver(inputs, routes, inboxes, hops_to)
    return packets, hops, route_cycles(packets, max_hops, hop_latency_cycles)

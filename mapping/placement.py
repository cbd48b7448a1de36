"""Partitioning and traffic-aware placement of layer parts on the 2-D mesh.

Partitioning is :mod:`mapping.tiling`: a layer with more neurons than a core holds is split by
neurons into parts; a flat layer whose input fits one core gives every part its whole input
(multicast), a conv/pool layer is tiled and each tile receives its receptive field, and a part whose
fan-in exceeds a core's axons becomes a partial-sum chain on chips that have them.

Placement minimises the expected spike traffic times hops per timestep,

    cost = sum_parts r_in(p) * hops(core 0, core(p))              (host -> its parts, host port at core 0)
         + sum_{p, q} r_pq * hops(core(p), core(q)),

where ``r_pq`` is the expected number of packets per timestep from part ``p`` to part ``q``: the
spikes of ``p``'s neurons that ``q``'s axons hold (each spike is one packet per routing entry,
i.e. per destination core; chip-spec §1.1), or the partial sums of a partial-sum core to the next
member of its chain; ``r_in(p)`` the expected input spikes ``p``'s axons hold. Rates come from a
calibration run, a user estimate, or the
upper bound "every neuron spikes every timestep". ``anneal`` starts from the
better of a greedy placement and row-major and refines it by simulated
annealing with a seeded generator, keeping the best state seen, so it is
deterministic for a seed and never worse than row-major.

On a chip with ``noc = "mesh"`` (chip-spec §1.5) packets that share a link wait for each other, so the annealing
minimises instead an estimate of the mesh routing cycles per timestep (:func:`mesh_cost`),

    cost_mesh = sum_phases max_links load(phase, link) + packet_hops / n_links,

where a phase is the host's or one stage's routing phase (packets of different phases never meet), a link is
a router output port (the four mesh directions and the local output that ejects into a core, whose load is the
packets the core receives in that phase), ``load`` the expected packets through it along the XY routes, and the
max never below the most packets one sender injects in that phase (one per cycle). A link carries one packet per
cycle, so each phase lasts at least its busiest link's load; the packet-hop term (at most half the first, since
a phase's max load is at least its mean load) breaks ties towards short routes. Under ``noc = "ideal"`` the cost
is packet-hops, as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwsim.config import ChipConfig
from hwsim.golden.noc import EAST, LOCAL, NORTH, SOUTH, WEST
from hwsim.network import Network, simulate_network
from mapping.errors import MappingError
from mapping.tiling import AxonRun, Part, Tiling, axon_runs, tile_network

__all__ = [
    "Part",
    "Traffic",
    "Placement",
    "PLACEMENTS",
    "partition",
    "layer_rates",
    "rates_from_run",
    "traffic",
    "part_axon_runs",
    "part_axon_rows",
    "placement_cost",
    "row_major",
    "greedy",
    "anneal",
    "place",
    "xy_route",
    "link_traffic",
    "hop_matrix",
    "mesh_flows",
    "mesh_link_loads",
    "injection_floor",
    "route_ports",
    "mesh_cost",
]

PLACEMENTS = ("anneal", "greedy", "row_major")


def partition(network: Network, chip: ChipConfig) -> list[Part]:
    """The core parts of ``network`` on ``chip``, layer after layer (:func:`mapping.tiling.tile_network`).

    Parts index the neurons of ``tile_network(network, chip).network`` (shaped layers reordered tile by tile).
    """
    return list(tile_network(network, chip).parts)


# ------------------------------------------------------------------------------------ rates
def rates_from_run(result: Any, program: Any) -> list[float]:
    """Per-layer mean spike probabilities ``[input, layer 0, ...]`` measured in a :class:`RunResult`.

    Works for programs made by this mapper from a chain of layers (the neuron cores of each layer share
    one stage, later layers later stages; partial-sum cores are left out). The input rate is
    host packets divided by the inputs covered by the host routing entries.
    """
    spikes = result.counter("output_spikes").sum(axis=(0, 1))  # per program core
    steps = result.batch_size * result.timesteps
    by_stage: dict[int, list[int]] = {}
    for k, core in enumerate(result.core_ids):
        cp = program.cores[program.index_of(core)]
        if cp.psum_out:
            continue  # a partial-sum core sends partial sums, not its layer's spikes
        by_stage.setdefault(cp.stage, [0, 0])
        by_stage[cp.stage][0] += int(spikes[k])
        by_stage[cp.stage][1] += cp.n_neurons
    covered = sum(r.src_hi - r.src_lo for r in program.host_routes)
    rates = [float(result.host_counter("packets").sum()) / (steps * covered)]
    rates += [s / (steps * n) for _, (s, n) in sorted(by_stage.items())]
    return rates


def layer_rates(network: Network, rates: Any, v_bits: int | None = None) -> tuple[list[np.ndarray], str]:
    """Per-neuron expected spikes per timestep: ``[inputs, layer 0, ..., layer L-1]``.

    Args:
        network: The network.
        rates: None (upper bound: every input and neuron spikes every timestep); a sequence
            of ``L + 1`` numbers (mean spike probability of the inputs and of each layer);
            a dict ``{"input": p, layer_name: p, ...}`` (missing entries: 1.0); or a binary
            input raster ``(T, n_in)``/``(B, T, n_in)`` used for a calibration run with
            :func:`hwsim.network.simulate_network`.
        v_bits: Membrane width for the calibration run (default: network metadata, else 16).

    Returns:
        The per-neuron rates and a one-line description of their source.
    """
    sizes = network.sizes
    if rates is None:
        return [np.ones(n) for n in sizes], "upper bound: every input and neuron spikes every timestep"
    if isinstance(rates, dict):
        names = ["input"] + [layer.name for layer in network.layers]
        unknown = sorted(set(rates) - set(names))
        if unknown:
            raise MappingError(f"rates: unknown layer name(s) {unknown}; names are {names}")
        rates = [float(rates.get(n, 1.0)) for n in names]
    arr = np.asarray(rates)
    is_raster = arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)
    if arr.ndim in (2, 3) and arr.shape[-1] == network.n_inputs and is_raster:
        vb = v_bits or int(network.metadata.get("v_bits", 16))
        raster = arr.astype(np.uint8)
        out = simulate_network(network, raster, vb)
        batch = raster if raster.ndim == 3 else raster[None]
        per = [batch.reshape(-1, network.n_inputs).mean(axis=0)]
        per += [spk.reshape(-1, spk.shape[-1]).mean(axis=0).astype(np.float64) for _, spk in out]
        return per, f"calibration: simulate_network on {batch.shape[0]} raster(s) of {batch.shape[1]} timesteps"
    if arr.ndim == 1 and arr.size == len(sizes) and np.issubdtype(arr.dtype, np.number):
        if np.any(arr < 0) or not np.all(np.isfinite(arr)):
            raise MappingError(f"rates = {list(arr)}: expected finite spike probabilities >= 0")
        return [np.full(n, float(p)) for n, p in zip(sizes, arr)], "user estimate per layer: " + ", ".join(
            f"{p:g}" for p in arr
        )
    raise MappingError(
        f"rates: expected None, {len(sizes)} numbers (input + {len(network.layers)} layers), a dict by layer name, "
        f"or a binary raster (T, {network.n_inputs}) / (B, T, {network.n_inputs}); got {type(rates).__name__} "
        f"of shape {arr.shape}"
    )


# ---------------------------------------------------------------------------------- traffic
@dataclass(frozen=True)
class Traffic:
    """Expected packets per timestep between parts.

    Attributes:
        host: ``(P,)`` packets from the host port to each part.
        flows: ``(src part, dst part, packets)`` for core-to-core traffic.
        part_rates: ``(P,)`` expected output spikes per timestep of each part.
    """

    host: np.ndarray
    flows: tuple[tuple[int, int, float], ...]
    part_rates: np.ndarray


def _source_offsets(network: Network, k: int) -> dict[int, int]:
    """Row of layer ``k``'s weights where each of its sources begins (sources concatenated in order)."""
    offsets, off = {}, 0
    for s in network.sources(k):
        offsets[s] = off
        off += network.n_inputs if s < 0 else network.layers[s].n_out
    return offsets


def part_axon_runs(network: Network, part: Part) -> tuple[AxonRun, ...]:
    """The axon runs of ``part``; a part without runs (made by hand) receives its layer's whole input."""
    if part.axons:
        return part.axons
    return axon_runs(np.arange(network.layers[part.layer].n_in), network, part.layer)


def part_axon_rows(network: Network, part: Part) -> np.ndarray:
    """Rows of the layer's weight matrix that ``part``'s axons receive, in axon order."""
    offsets = _source_offsets(network, part.layer)
    runs = part_axon_runs(network, part)
    return np.concatenate([offsets[r.source] + np.arange(r.lo, r.hi) for r in runs])


def traffic(network: Network, parts: Sequence[Part], rates: list[np.ndarray]) -> Traffic:
    """Packets per timestep implied by the routing of :mod:`mapping.mapper`.

    A spike is one packet per routing entry that covers it, i.e. per destination core whose axons
    hold the neuron (a whole input, or a receptive field). A partial-sum core sends one packet per
    nonzero partial sum; neuron ``j``'s is counted as ``min(1, sum_a r_a)`` over its axons ``a``
    with a nonzero weight into ``j`` (an upper bound on the chance that some input reaches it).
    """
    senders: dict[int, list[int]] = {}
    for i, p in enumerate(parts):
        if not p.is_psum:
            senders.setdefault(p.layer, []).append(i)
    part_rates = np.zeros(len(parts))
    host = np.zeros(len(parts))
    flows: dict[tuple[int, int], float] = {}
    for j, p in enumerate(parts):
        if not p.is_psum:
            part_rates[j] = float(rates[p.layer + 1][p.lo : p.lo + p.size].sum())
        for run in part_axon_runs(network, p):
            if run.source < 0:
                host[j] += float(rates[0][run.lo : run.hi].sum())
                continue
            for i in senders.get(run.source, []):
                q = parts[i]
                a, z = max(run.lo, q.lo), min(run.hi, q.lo + q.size)
                if a < z:
                    flows[(i, j)] = flows.get((i, j), 0.0) + float(rates[run.source + 1][a:z].sum())
    for i, p in enumerate(parts):
        if p.is_psum:
            layer = network.layers[p.layer]
            rows = part_axon_rows(network, p)
            in_rates = np.concatenate([rates[s + 1] for s in network.sources(p.layer)])[rows]
            reach = in_rates @ (layer.weight_block(rows, p.lo, p.lo + p.size) != 0)
            part_rates[i] = float(np.minimum(1.0, reach).sum())
            flows[(i, i + 1)] = flows.get((i, i + 1), 0.0) + part_rates[i]  # the next member of its chain
    return Traffic(host=host, flows=tuple((i, j, r) for (i, j), r in sorted(flows.items())), part_rates=part_rates)


def hop_matrix(chip: ChipConfig) -> np.ndarray:
    """``(n_cores, n_cores)`` XY hop counts (chip-spec §1.1)."""
    r, c = np.divmod(np.arange(chip.n_cores), chip.mesh_cols)
    return np.abs(r[:, None] - r[None, :]) + np.abs(c[:, None] - c[None, :])


def placement_cost(cores: Sequence[int], t: Traffic, chip: ChipConfig) -> float:
    """Expected packet-hops per timestep of a placement (``cores[i]`` = mesh core of part ``i``)."""
    h = hop_matrix(chip)
    cost = sum(float(t.host[i]) * h[0, c] for i, c in enumerate(cores))
    cost += sum(r * h[cores[i], cores[j]] for i, j, r in t.flows)
    return float(cost)


# -------------------------------------------------------------------------------- placers
def row_major(parts: Sequence[Part], chip: ChipConfig) -> list[int]:
    """Parts on cores 0, 1, 2, ... in layer-then-part order (the naive placement)."""
    return list(range(len(parts)))


def _neighbours(n_parts: int, t: Traffic) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per part: indices of the parts it exchanges packets with, and packets per timestep (both directions)."""
    nb: list[dict[int, float]] = [{} for _ in range(n_parts)]
    for i, j, r in t.flows:
        nb[i][j] = nb[i].get(j, 0.0) + r
        nb[j][i] = nb[j].get(i, 0.0) + r
    idx = [np.fromiter(d.keys(), dtype=np.int64, count=len(d)) for d in nb]
    w = [np.fromiter(d.values(), dtype=np.float64, count=len(d)) for d in nb]
    return idx, w


def greedy(parts: Sequence[Part], t: Traffic, chip: ChipConfig) -> list[int]:
    """Place parts in layer order, each on the free core closest (in traffic x hops) to what is placed.

    Ties go to the core nearest the host port, then to the lowest index (deterministic).
    """
    h = hop_matrix(chip).astype(np.float64)
    idx, w = _neighbours(len(parts), t)
    cores = np.full(len(parts), -1, dtype=np.int64)
    taken = np.zeros(chip.n_cores, dtype=bool)
    for i in range(len(parts)):
        placed = cores[idx[i]] >= 0
        cost = t.host[i] * h[0] + h[:, cores[idx[i][placed]]] @ w[i][placed]
        cost[taken] = np.inf
        best = np.flatnonzero(cost <= cost.min() + 1e-9 * max(1.0, abs(cost.min())))
        c = int(best[np.lexsort((best, h[0, best]))[0]])
        cores[i] = c
        taken[c] = True
    return [int(c) for c in cores]


def anneal(
    parts: Sequence[Part],
    t: Traffic,
    chip: ChipConfig,
    *,
    seed: int = 0,
    iterations: int | None = None,
    start: Sequence[int] | None = None,
) -> list[int]:
    """Simulated annealing over moves (part to a free core) and swaps (two parts).

    Deterministic for ``seed``; returns the best placement seen (never worse than ``start``,
    which defaults to the better of :func:`greedy` and :func:`row_major`).
    """
    n = len(parts)
    if getattr(chip, "noc", "ideal") == "mesh":
        return _anneal_mesh(parts, t, chip, seed=seed, iterations=iterations, start=start)
    h = hop_matrix(chip).astype(np.float64)
    if start is None:
        cands = [greedy(parts, t, chip), row_major(parts, chip)]
        start = min(cands, key=lambda c: placement_cost(c, t, chip))
    cores = np.array(start, dtype=np.int64)
    if n == 0 or chip.n_cores == 1:
        return [int(c) for c in cores]
    idx, wts = _neighbours(n, t)
    weight_of = [dict(zip(a.tolist(), b.tolist())) for a, b in zip(idx, wts)]
    host, h0 = t.host, h[0]
    owner = np.full(chip.n_cores, -1, dtype=np.int64)
    owner[cores] = np.arange(n)

    def delta_move(i: int, a: int, b: int) -> float:
        cj = cores[idx[i]]
        return float(host[i] * (h0[b] - h0[a]) + wts[i] @ (h[b, cj] - h[a, cj]))

    def delta(i: int, b: int) -> float:
        a = int(cores[i])
        j = int(owner[b])
        d = delta_move(i, a, b)
        if j >= 0:
            d += delta_move(j, b, a)
            d += 2 * weight_of[i].get(j, 0.0) * h[a, b]  # the i-j link keeps its length when the two swap
        return d

    rng = np.random.default_rng(seed)
    if iterations is None:
        iterations = int(min(200_000, max(5_000, 800 * n)))
    # Initial temperature: mean size of a few random moves, so early uphill moves are often taken.
    probe = [abs(delta(int(rng.integers(n)), int(rng.integers(chip.n_cores)))) for _ in range(64)]
    temps, picks, targets, accept = _schedule(rng, probe, iterations, n, chip.n_cores)
    cost = placement_cost(cores, t, chip)
    best, best_cost = cores.copy(), cost
    for step in range(iterations):
        i, b = int(picks[step]), int(targets[step])
        a = int(cores[i])
        if a == b:
            continue
        d = delta(i, b)
        if d <= 0 or accept[step] < math.exp(-d / temps[step]):
            j = int(owner[b])
            cores[i], owner[b], owner[a] = b, i, j
            if j >= 0:
                cores[j] = a
            cost += d
            if cost < best_cost - 1e-9:
                best, best_cost = cores.copy(), cost
    return [int(c) for c in best]


# ------------------------------------------------------------------ mesh cost (noc = "mesh")
MESH_ITERATIONS = 20_000  # default cap of the mesh refinement (each step reroutes the moved parts' flows)
HOST_PHASE = -1  # the phase key of the host's packets (before every stage)
_PORTS = 5  # router output ports, numbered as chip-spec §1.5: 0 local, 1 north, 2 east, 3 south, 4 west


def mesh_flows(parts: Sequence[Part], t: Traffic) -> list[tuple[int, int, float, int]]:
    """``(source part or -1 for the host, destination part, packets per timestep, phase)`` of every flow with
    packets; the phase is the sender's stage (:attr:`Part.core_stage`), ``-1`` for the host's."""
    flows = [(-1, i, float(r), HOST_PHASE) for i, r in enumerate(t.host) if r > 0]
    flows += [(i, j, float(r), parts[i].core_stage) for i, j, r in t.flows if r > 0]
    return flows


def route_ports(chip: ChipConfig, src: int, dst: int) -> np.ndarray:
    """Link ids ``router * 5 + output port`` a packet from core ``src`` to ``dst`` uses under XY routing
    (:func:`xy_route`), ending with ``dst``'s local output (chip-spec §1.5)."""
    links = []
    for a, b in xy_route(chip, src, dst):
        (ra, ca), (rb, cb) = chip.position(a), chip.position(b)
        port = (EAST if cb > ca else WEST) if ra == rb else (SOUTH if rb > ra else NORTH)
        links.append(a * _PORTS + port)
    links.append(dst * _PORTS + LOCAL)
    return np.array(links, dtype=np.int64)


def injection_floor(flows: list[tuple[int, int, float, int]]) -> dict[int, float]:
    """Per phase, the most packets one sender injects (one per cycle through its local input port)."""
    sent: dict[tuple[int, int], float] = {}
    for src, _, r, phase in flows:
        sent[(phase, src)] = sent.get((phase, src), 0.0) + r
    floor: dict[int, float] = {}
    for (phase, _), r in sent.items():
        floor[phase] = max(floor.get(phase, 0.0), r)
    return floor


def mesh_link_loads(cores: Sequence[int], parts: Sequence[Part], t: Traffic,
                    chip: ChipConfig) -> dict[int, np.ndarray]:
    """Per phase, ``(n_cores * 5,)`` expected packets per timestep through every router output port (index
    ``router * 5 + port``, ports as chip-spec §1.5; the host's packets start at core 0's router)."""
    loads: dict[int, np.ndarray] = {}
    for src, dst, r, phase in mesh_flows(parts, t):
        s = 0 if src < 0 else cores[src]
        load = loads.setdefault(phase, np.zeros(chip.n_cores * _PORTS))
        load[route_ports(chip, s, cores[dst])] += r
    return loads


def _link_count(chip: ChipConfig) -> int:
    """Directed router-to-router links of the mesh plus one local output per router."""
    rows, cols = chip.mesh_rows, chip.mesh_cols
    return 2 * (rows * (cols - 1) + cols * (rows - 1)) + rows * cols


def mesh_cost(cores: Sequence[int], parts: Sequence[Part], t: Traffic, chip: ChipConfig) -> float:
    """The annealing cost on a mesh chip (module docstring): per phase the larger of its busiest link's load and
    its busiest sender's packets, summed over phases, plus packet-hops over the number of links."""
    flows = mesh_flows(parts, t)
    floor = injection_floor(flows)
    loads = mesh_link_loads(cores, parts, t, chip)
    busiest = sum(max(floor.get(ph, 0.0), float(load.max())) for ph, load in loads.items())
    return busiest + placement_cost(cores, t, chip) / _link_count(chip)


def _anneal_mesh(parts: Sequence[Part], t: Traffic, chip: ChipConfig, *, seed: int, iterations: int | None,
                 start: Sequence[int] | None) -> list[int]:
    """:func:`anneal` with :func:`mesh_cost`: the same moves, seeded generator and schedule; per move only the
    flows of the moved parts are rerouted and only their phases' maxima recomputed."""
    n = len(parts)
    if start is None:
        # the packet-hop annealing's result is a candidate too, so the mesh placement is never worse (in this
        # cost) than what the mapper chose before the mesh existed, nor than greedy and row-major
        hops_only = anneal(parts, t, chip.replace(noc="ideal"), seed=seed, iterations=iterations)
        cands = [hops_only, greedy(parts, t, chip), row_major(parts, chip)]
        start = min(cands, key=lambda c: mesh_cost(c, parts, t, chip))
    cores = np.array(start, dtype=np.int64)
    if n == 0 or chip.n_cores == 1:
        return [int(c) for c in cores]
    h = hop_matrix(chip)
    flows = mesh_flows(parts, t)
    floor = injection_floor(flows)
    phases = sorted({f[3] for f in flows})
    slot = {ph: k for k, ph in enumerate(phases)}
    loads = np.zeros((len(phases), chip.n_cores * _PORTS))
    of_part: list[list[int]] = [[] for _ in range(n)]
    for f, (src, dst, _, _) in enumerate(flows):
        if src >= 0:
            of_part[src].append(f)
        if dst != src:
            of_part[dst].append(f)
    routes: dict[tuple[int, int], np.ndarray] = {}

    def route(a: int, b: int) -> np.ndarray:
        key = (a, b)
        if key not in routes:
            routes[key] = route_ports(chip, a, b)
        return routes[key]

    def ends(f: int) -> tuple[int, int]:
        src, dst = flows[f][0], flows[f][1]
        return (0 if src < 0 else int(cores[src])), int(cores[dst])

    for f, (_, _, r, ph) in enumerate(flows):
        loads[slot[ph]][route(*ends(f))] += r
    floors = np.array([floor.get(ph, 0.0) for ph in phases])
    peak = np.maximum(floors, loads.max(axis=1))
    weight = 1.0 / _link_count(chip)
    hops_cost = placement_cost(cores, t, chip)

    def apply(fs: list[int], sign: float) -> float:
        """Add (sign 1) or remove (-1) the flows ``fs`` at the current cores; their packet-hops."""
        total = 0.0
        for f in fs:
            a, b = ends(f)
            r, ph = flows[f][2], slot[flows[f][3]]
            loads[ph][route(a, b)] += sign * r
            total += r * h[a, b]
        return total

    owner = np.full(chip.n_cores, -1, dtype=np.int64)
    owner[cores] = np.arange(n)
    rng = np.random.default_rng(seed)
    if iterations is None:
        iterations = int(min(MESH_ITERATIONS, max(5_000, 800 * n)))

    def trial(i: int, b: int) -> tuple[float, list[int], int, int, float]:
        """Move part ``i`` to core ``b`` (swapping with its owner); returns the cost change and what undoes it."""
        a, j = int(cores[i]), int(owner[b])
        fs = sorted(set(of_part[i]) | (set(of_part[j]) if j >= 0 else set()))
        touched = sorted({slot[flows[f][3]] for f in fs})
        old_hops = apply(fs, -1.0)
        cores[i] = b
        if j >= 0:
            cores[j] = a
        new_hops = apply(fs, 1.0)
        new_peak = np.maximum(floors[touched], loads[touched].max(axis=1))
        d = float(new_peak.sum() - peak[touched].sum()) + weight * (new_hops - old_hops)
        return d, fs, a, j, new_hops - old_hops

    def undo(i: int, fs: list[int], a: int, j: int) -> None:
        apply(fs, -1.0)
        b = int(cores[i])
        cores[i] = a
        if j >= 0:
            cores[j] = b
        apply(fs, 1.0)

    probe = []
    for _ in range(64):
        i, b = int(rng.integers(n)), int(rng.integers(chip.n_cores))
        if b != cores[i]:
            d, fs, a, j, _ = trial(i, b)
            undo(i, fs, a, j)
            probe.append(abs(d))
    temps, picks, targets, accept = _schedule(rng, probe, iterations, n, chip.n_cores)
    cost = float(peak.sum()) + weight * hops_cost
    best, best_cost = cores.copy(), cost
    for step in range(iterations):
        i, b = int(picks[step]), int(targets[step])
        if int(cores[i]) == b:
            continue
        d, fs, a, j, _ = trial(i, b)
        if d <= 0 or accept[step] < math.exp(-d / temps[step]):
            j_new = int(owner[b])
            owner[b], owner[a] = i, j_new
            touched = sorted({slot[flows[f][3]] for f in fs})
            peak[touched] = np.maximum(floors[touched], loads[touched].max(axis=1))
            cost += d
            if cost < best_cost - 1e-9:
                best, best_cost = cores.copy(), cost
        else:
            undo(i, fs, a, j)
    return [int(c) for c in best]


def _schedule(rng: np.random.Generator, probe: list[float], iterations: int, n: int, n_cores: int):
    """The annealing schedule: temperatures cooling geometrically from the mean probe move size to a thousandth
    of it, and every step's part, target core and acceptance draw (drawn in this order from ``rng``)."""
    t0 = max(float(np.mean(probe)) if probe else 0.0, 1e-9)
    temps = t0 * (1e-3) ** (np.arange(iterations) / iterations)
    return temps, rng.integers(0, n, size=iterations), rng.integers(0, n_cores, size=iterations), rng.random(iterations)


@dataclass(frozen=True)
class Placement:
    """Where every part goes, and what the traffic costs.

    Attributes:
        parts: The layer parts.
        cores: Mesh core of each part.
        method: ``"anneal"``, ``"greedy"``, ``"row_major"`` or ``"explicit"``.
        seed: Annealing seed.
        cost: Expected packet-hops per timestep of this placement.
        cost_row_major: The same for the row-major placement.
        traffic: The traffic model used.
        rates_source: Where the rates came from.
        tiling: How the layers were cut (:mod:`mapping.tiling`); its ``network`` (neurons reordered tile by
            tile) is what ``parts`` and the traffic index. None for a placement made without one.
    """

    parts: tuple[Part, ...]
    cores: tuple[int, ...]
    method: str
    seed: int
    cost: float
    cost_row_major: float
    traffic: Traffic
    rates_source: str
    extra: dict = field(default_factory=dict)
    tiling: Tiling | None = None

    def to_dict(self) -> dict:
        saved = self.cost_row_major - self.cost
        return {
            "method": self.method,
            "seed": self.seed,
            "cost_packet_hops_per_timestep": self.cost,
            "cost_row_major_packet_hops_per_timestep": self.cost_row_major,
            "improvement_vs_row_major_percent": 100.0 * saved / self.cost_row_major if self.cost_row_major else 0.0,
            "rates_source": self.rates_source,
            "parts": [{**p.to_dict(), "core": c} for p, c in zip(self.parts, self.cores)],
            **self.extra,
        }


def place(
    network: Network,
    chip: ChipConfig,
    placement: str | Sequence[int] = "anneal",
    *,
    rates: Any = None,
    seed: int = 0,
    iterations: int | None = None,
) -> Placement:
    """Partition ``network`` and place its parts on ``chip``.

    Args:
        placement: ``"anneal"`` (default), ``"greedy"``, ``"row_major"``, or an explicit list of
            mesh cores, one per part in layer-then-part order (a partial-sum chain's members in chain order).
        rates: See :func:`layer_rates`.
        seed: Annealing seed.
        iterations: Annealing steps (default ``min(200000, max(5000, 800 * parts))``).

    Raises:
        MappingError: bad placement list or rates.
    """
    tiling = tile_network(network, chip)
    parts = list(tiling.parts)
    per_neuron, source = layer_rates(tiling.network, rates, chip.core.v_bits)
    t = traffic(tiling.network, parts, per_neuron)
    rm = row_major(parts, chip)
    if isinstance(placement, str):
        if placement not in PLACEMENTS:
            raise MappingError(f"placement = {placement!r}: allowed {', '.join(PLACEMENTS)} or a list of cores")
        if placement == "row_major":
            cores = rm
        elif placement == "greedy":
            cores = greedy(parts, t, chip)
        else:
            cores = anneal(parts, t, chip, seed=seed, iterations=iterations)
        method = placement
    else:
        cores = [int(c) for c in placement]
        if len(cores) != len(parts) or len(set(cores)) != len(parts) or not all(0 <= c < chip.n_cores for c in cores):
            raise MappingError(
                f"placement must list {len(parts)} distinct cores in 0..{chip.n_cores - 1} "
                f"(one per part, layer-then-part order); got {list(placement)}"
            )
        method = "explicit"
    extra = {}
    if getattr(chip, "noc", "ideal") == "mesh":  # the cost the annealing minimised there (mesh_cost)
        extra = {"cost_mesh_busiest_link_per_timestep": mesh_cost(cores, parts, t, chip),
                 "cost_mesh_row_major_busiest_link_per_timestep": mesh_cost(rm, parts, t, chip)}
    return Placement(
        parts=tuple(parts),
        cores=tuple(int(c) for c in cores),
        method=method,
        seed=int(seed),
        cost=placement_cost(cores, t, chip),
        cost_row_major=placement_cost(rm, t, chip),
        traffic=t,
        rates_source=source,
        extra=extra,
        tiling=tiling,
    )


# ------------------------------------------------------------------------------ link load
def xy_route(chip: ChipConfig, src: int, dst: int) -> list[tuple[int, int]]:
    """Directed links ``(core, next core)`` of the dimension-ordered route: along the row (X) first, then the column."""
    (r0, c0), (r1, c1) = chip.position(src), chip.position(dst)
    links, r, c = [], r0, c0
    while c != c1:
        nc = c + (1 if c1 > c else -1)
        links.append((r * chip.mesh_cols + c, r * chip.mesh_cols + nc))
        c = nc
    while r != r1:
        nr = r + (1 if r1 > r else -1)
        links.append((r * chip.mesh_cols + c, nr * chip.mesh_cols + c))
        r = nr
    return links


def link_traffic(p: Placement, chip: ChipConfig) -> dict[tuple[int, int], float]:
    """Expected packets per timestep on every directed mesh link (host traffic enters at core 0)."""
    load: dict[tuple[int, int], float] = {}
    flows = [(0, p.cores[i], float(r)) for i, r in enumerate(p.traffic.host) if r > 0]
    flows += [(p.cores[i], p.cores[j], r) for i, j, r in p.traffic.flows if r > 0]
    for src, dst, r in flows:
        for link in xy_route(chip, src, dst):
            load[link] = load.get(link, 0.0) + r
    return load

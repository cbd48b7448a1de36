"""Ideal against mesh network-on-chip (chip-spec §1.2 vs §1.5) on the seed network and a conv network; docs/noc.md.

``.venv/bin/python benchmarks/noc_compare.py`` writes ``benchmarks/results/noc_compare.json`` (atomically) and
prints a summary. For each workload:

* **ideal vs mesh**: the same program (the mapper's default placement, chosen on the ideal chip) run by the
  engine on the chip with ``noc = "ideal"`` and with ``noc = "mesh"``: routing cycles, chip cycles, stall
  cycles and energy per image. What the cores compute is the same (checked: equal output spikes and counters).
* **per routing phase** (first ``--phase-images`` images): the phases are rebuilt from a recorded run (every
  sender's packets in injection order, :func:`hwsim.golden.router.packets`) and run through the golden mesh
  model (:func:`hwsim.golden.noc.mesh_phase`); their lengths must add up to the engine's routing cycles. Each
  phase's length is compared with
    - the analytic bounds: a core receiving ``P`` packets in a phase needs ``>= P`` cycles (one local output),
      a sender injecting ``P`` packets needs ``>= P``, a link carrying ``L`` packets needs ``>= L``; and
      ``hop_latency_cycles x`` the longest route it carries more (the last packet's hops);
    - the ideal formula of §1.2 for that phase;
    - SANA-FE's link-load heuristic (:func:`sanafe_phase_estimate`).
* **placement** (conv network): the mesh routing cycles of row-major, of the packet-hop annealing (the mapper's
  cost before the mesh) and of the mesh cost's annealing (mapping/placement.py), each run by the engine.

SANA-FE (Boyle et al., IEEE TCAD 2025; github.com/SLAM-Lab/SANA-FE, src/schedule.cpp,
``schedule_messages_timestep_detailed``) estimates a timestep's message latency without simulating the network
cycle by cycle: messages are sent in time order, each sender one after another (``generation_delay``); every
message in flight adds a density ``1 / (hops + 2)`` to each link of its XY route (the sender's injection link,
the links crossed, the receiver's link); a new message's congestion is the density summed along its route; if
it exceeds the route's buffering ``(hops + 1) x buffer_size`` it is blocked by the excess times the mean receive
delay of the messages in flight; its network delay is ``max(min hop delay, congestion x mean receive delay /
(hops + 1))``; a receiver handles one message per ``processing_delay``; a message leaves the NoC when received.
:func:`sanafe_phase_estimate` is that algorithm re-implemented here for one phase with hwsim's timing
(generation and processing delay 1 cycle, minimum hop delay ``hop_latency_cycles x hops``, buffer size
``router_buffer_flits``, links = router output ports plus each sender's injection port; the estimate is the last
message's receive time, since a mesh phase ends at its last delivery), not SANA-FE's code.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_conv import ConvNet, stroke_images  # noqa: E402
from bench_engine import REFERENCE_P, bernoulli_raster, reference_network  # noqa: E402

from hwsim.chip import Chip  # noqa: E402
from hwsim.config import ChipConfig, load_chip_config  # noqa: E402
from hwsim.encoding import rate_encode  # noqa: E402
from hwsim.energy import estimate  # noqa: E402
from hwsim.golden.noc import mesh_phase  # noqa: E402
from hwsim.golden.router import packets  # noqa: E402
from hwsim.report.noc import noc_heatmap, noc_summary  # noqa: E402
from hwsim.result import NOC_COUNTER_NAMES  # noqa: E402
from hwsim.writers import atomic_write_bytes  # noqa: E402
from mapping import plan  # noqa: E402
from mapping.placement import mesh_cost, route_ports  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "noc_compare.json"
T = 16


# ------------------------------------------------------------------ one phase: bounds, ideal, SANA-FE
def phase_bounds(chip: ChipConfig, injections: dict[int, list[tuple[int, int]]]) -> dict:
    """Lower bounds on a phase's length (cycles): busiest receiver, sender and link, and the longest route."""
    received: dict[int, int] = {}
    load: dict[int, int] = {}
    longest = 0
    for src, pkts in injections.items():
        for dest, _ in pkts:
            received[dest] = received.get(dest, 0) + 1
            for link in route_ports(chip, src, dest).tolist():
                load[link] = load.get(link, 0) + 1
            longest = max(longest, chip.hops(src, dest))
    return {
        "hot_spot": max(received.values(), default=0),  # one local output: one delivery per cycle
        "sender": max((len(p) for p in injections.values()), default=0),  # one injection per cycle
        "busiest_link": max(load.values(), default=0),  # one packet per link per cycle
        "latency": chip.hop_latency_cycles * longest + (1 if injections and any(injections.values()) else 0),
    }


def ideal_phase(chip: ChipConfig, injections: dict[int, list[tuple[int, int]]], max_hops: dict[int, int]) -> int:
    """§1.2: the largest ``packets + hop_latency x max_hops`` over the phase's senders (0 without packets)."""
    return max((len(p) + chip.hop_latency_cycles * max_hops[s] for s, p in injections.items() if p), default=0)


def sanafe_phase_estimate(chip: ChipConfig, injections: dict[int, list[tuple[int, int]]]) -> float:
    """SANA-FE's detailed timing heuristic for one phase (module docstring), in cycles."""
    buffer_size = chip.router_buffer_flits
    density: dict[object, float] = {}
    queue: list[tuple[float, int, int, int]] = []  # (sent time, sender, index in its list, tie-break)
    for s, pkts in injections.items():
        if pkts:
            heapq.heappush(queue, (1.0, s, 0, s))  # generation delay 1: the first packet leaves in cycle 1
    in_flight: list[tuple[float, int, list, float]] = []  # (received time, id, links, share)
    finished = {}  # receiver -> time it has processed its last message
    last = 0.0
    serial = 0
    while queue:
        sent, s, k, _ = heapq.heappop(queue)
        last = max(last, sent)
        # messages received by now leave the NoC
        keep = []
        for rec in in_flight:
            if sent >= rec[0]:
                for link in rec[2]:
                    density[link] -= rec[3]
            else:
                keep.append(rec)
        in_flight = keep
        dest = injections[s][k][0]
        hops = chip.hops(s, dest)
        # hops + 2 links: the injection port, the hops crossed, the local output
        links = [("inject", s), *route_ports(chip, s, dest).tolist()]
        congestion = sum(density.get(link, 0.0) for link in links)
        mean_receive = 1.0 if in_flight else 0.0  # every message's processing delay is 1 cycle
        capacity = (hops + 1) * buffer_size
        if congestion > capacity:
            sent += (congestion - capacity) * mean_receive
        network = max(chip.hop_latency_cycles * hops, congestion * mean_receive / (hops + 1))
        earliest = sent + network
        received = max(finished.get(dest, 0.0), earliest)
        finished[dest] = max(finished.get(dest, 0.0) + 1.0, earliest + 1.0)
        last = max(last, received)  # the phase ends at its last delivery (chip-spec §1.5), not after processing
        share = 1.0 / (hops + 2)
        for link in links:
            density[link] = density.get(link, 0.0) + share
        in_flight.append((received, serial, links, share))
        serial += 1
        if k + 1 < len(injections[s]):
            heapq.heappush(queue, (sent + 1.0, s, k + 1, s))
    return last


def recorded_phases(program, rasters: np.ndarray, result) -> list[tuple[int, int, str, dict]]:
    """``(image, timestep, phase name, injections)`` of every routing phase, rebuilt from a recorded run."""
    cores = program.cores
    phases = []
    for b in range(rasters.shape[0]):
        for t in range(rasters.shape[1]):
            host = packets([int(i) for i in np.flatnonzero(rasters[b, t])], program.host_routes)
            phases.append((b, t, "host", {0: host} if host else {}))
            for s in range(program.n_stages):
                inj = {}
                for k, cp in enumerate(cores):
                    if cp.stage != s:
                        continue
                    if cp.psum_out:  # its nonzero end-of-timestep membranes, chip-spec §1.3
                        sources = [int(j) for j in np.flatnonzero(result.membranes[k][b, t])]
                    else:
                        sources = [int(j) for j in np.flatnonzero(result.core_spikes[k][b, t])]
                    pk = packets(sources, cp.routes)
                    if pk:
                        inj[cp.core] = pk
                phases.append((b, t, f"stage{s}", inj))
    return phases


def phase_study(program, rasters: np.ndarray) -> dict:
    """Every phase of ``rasters`` through the golden mesh model, against the bounds, §1.2 and SANA-FE."""
    chip = program.chip
    result = Chip.from_program(program).run(rasters, record=True)
    engine_route = int(result.noc_counters[..., NOC_COUNTER_NAMES.index("route_cycles")].sum())
    max_hops = {0: max(chip.hops(0, r.dest_core) for r in program.host_routes)}
    for cp in program.cores:
        max_hops[cp.core] = max((chip.hops(cp.core, r.dest_core) for r in cp.routes), default=0)
    rows, total, violations = [], 0, 0
    for b, t, name, inj in recorded_phases(program, rasters, result):
        mesh = mesh_phase(chip, inj).cycles
        total += mesh
        bounds = phase_bounds(chip, inj)
        violations += mesh < max(bounds.values()) if inj else 0
        rows.append({"image": b, "timestep": t, "phase": name, "mesh": mesh, "ideal": ideal_phase(chip, inj, max_hops),
                     "sanafe": sanafe_phase_estimate(chip, inj), **bounds})
    if total != engine_route:
        raise SystemExit(f"golden phases sum to {total} routing cycles, the engine counted {engine_route}")
    by_name: dict[str, dict] = {}
    for name in dict.fromkeys(r["phase"] for r in rows):
        sel = [r for r in rows if r["phase"] == name and r["mesh"] > 0]
        if not sel:
            continue
        mean = {k: float(np.mean([r[k] for r in sel])) for k in ("mesh", "ideal", "sanafe", "hot_spot", "sender",
                                                                 "busiest_link", "latency")}
        mean["bound"] = float(np.mean([max(r["hot_spot"], r["sender"], r["busiest_link"], r["latency"]) for r in sel]))
        by_name[name] = {"phases": len(sel), **mean}
    busy = [r for r in rows if r["mesh"] > 0]
    rel = lambda key: float(np.mean([abs(r[key] - r["mesh"]) / r["mesh"] for r in busy]))  # noqa: E731
    tight = float(np.mean([max(r["hot_spot"], r["sender"], r["busiest_link"], r["latency"]) / r["mesh"] for r in busy]))
    return {
        "images": int(rasters.shape[0]),
        "phases_with_packets": len(busy),
        "golden_phase_sum_equals_engine": True,
        "bound_violations": int(violations),
        "mean_bound_over_mesh": tight,
        "mean_abs_rel_error_ideal": rel("ideal"),
        "mean_abs_rel_error_sanafe": rel("sanafe"),
        "by_phase": by_name,
    }


# ------------------------------------------------------------------ whole runs
def per_image(result, program) -> dict:
    noc = result.noc_counters.sum(axis=1)
    e = estimate(result, program)
    return {
        "route_cycles_per_image": float(noc[:, NOC_COUNTER_NAMES.index("route_cycles")].mean()),
        "stall_cycles_per_image": float(noc[:, NOC_COUNTER_NAMES.index("stall_cycles")].mean()),
        "chip_cycles_per_image": float(result.cycles_per_inference.mean()),
        "energy_nj_per_image": e.energy_nj_per_image,
    }


def ideal_vs_mesh(network, chip: ChipConfig, rasters: np.ndarray, iterations: int | None) -> tuple[dict, object]:
    """The mapper's default placement (on the ideal chip), run under both models by the engine."""
    mapped = plan(network, chip, "anneal", iterations=iterations)
    cores = list(mapped.placement.cores)
    mesh_program = plan(network, chip.replace(noc="mesh"), cores).program
    out = {}
    runs = {}
    for name, program in (("ideal", mapped.program), ("mesh", mesh_program)):
        runs[name] = Chip.from_program(program).run(rasters)
        out[name] = per_image(runs[name], program)
    same = (np.array_equal(runs["ideal"].output_spikes, runs["mesh"].output_spikes)
            and np.array_equal(runs["ideal"].counters, runs["mesh"].counters))
    if not same:
        raise SystemExit("ideal and mesh runs computed different spikes or counters")
    out["mesh_over_ideal_route_cycles"] = out["mesh"]["route_cycles_per_image"] / out["ideal"]["route_cycles_per_image"]
    out["mesh_over_ideal_chip_cycles"] = out["mesh"]["chip_cycles_per_image"] / out["ideal"]["chip_cycles_per_image"]
    out["routing_share_of_chip_cycles"] = {k: out[k]["route_cycles_per_image"] / out[k]["chip_cycles_per_image"]
                                           for k in ("ideal", "mesh")}
    out["same_spikes_and_counters"] = True
    out["cores_used"] = len(cores)
    return out, mesh_program, runs["mesh"]


def placement_study(network, chip: ChipConfig, rasters: np.ndarray, iterations: int | None, rates) -> dict:
    """Mesh routing cycles of row-major, packet-hop annealing and mesh-cost annealing (seed 0), with the traffic
    costed at ``rates`` (:func:`mapping.placement.layer_rates`: None = every neuron spikes every timestep)."""
    mesh = chip.replace(noc="mesh")
    hop_cores = list(plan(network, chip, "anneal", rates=rates, iterations=iterations).placement.cores)
    out = {}
    for name, placement in (("row_major", "row_major"), ("anneal_packet_hops", hop_cores),
                            ("anneal_mesh_cost", "anneal")):
        t0 = time.perf_counter()
        mapped = plan(network, mesh, placement, rates=rates, iterations=iterations)
        seconds = time.perf_counter() - t0
        pl = mapped.placement
        result = Chip.from_program(mapped.program).run(rasters)
        out[name] = {**per_image(result, mapped.program),
                     "cost_packet_hops_per_timestep": pl.cost,
                     "cost_mesh_busiest_link_per_timestep": mesh_cost(pl.cores, pl.parts, pl.traffic, mesh),
                     "mapping_seconds": round(seconds, 1)}
    out["rates"] = mapped.placement.rates_source
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32, help="images per engine run (default 32)")
    parser.add_argument("--phase-images", type=int, default=2, help="images of the per-phase study (default 2)")
    parser.add_argument("--iterations", type=int, default=None, help="annealing steps (default: the mapper's)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=None,
                        help="also draw the conv network's mesh heat map (docs/figures/noc_conv_heatmap.png)")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()

    seed_chip = load_chip_config("default_28nm")
    seed_rasters = bernoulli_raster(7, args.images, 784, REFERENCE_P)
    conv = ConvNet(np.random.default_rng(2024))
    conv_chip = load_chip_config("mesh8x8_28nm")
    conv_rasters = rate_encode(stroke_images(np.random.default_rng(5), args.images, 0.13), T, seed=7)
    workloads = {
        "seed": ("reference 784-1024-1024-10 (benchmarks/bench_engine.py), input p = 0.13", reference_network(),
                 seed_chip, seed_rasters),
        "conv": ("random 8C5-MP2-16C5-MP2-10 (benchmarks/bench_conv.py), ~10 % conv firing", conv.network(),
                 conv_chip, conv_rasters),
    }
    results = {}
    for key, (what, network, chip, rasters) in workloads.items():
        print(f"{key}: {what} on {chip.name}", flush=True)
        compare, mesh_program, mesh_run = ideal_vs_mesh(network, chip, rasters, args.iterations)
        entry = {"workload": what, "chip": chip.name, "mesh_shape": f"{chip.mesh_rows}x{chip.mesh_cols}",
                 "hop_latency_cycles": chip.hop_latency_cycles, "router_buffer_flits": chip.router_buffer_flits,
                 "timesteps": int(rasters.shape[1]), "images": int(rasters.shape[0]), **compare,
                 "phases": phase_study(mesh_program, rasters[: args.phase_images])}
        if key == "conv" and args.figure:  # the report's heat map of the mesh run (hwsim/report/noc.py)
            summary = {**noc_summary(mesh_run, mesh_program.chip), "chip": chip.name}
            noc_heatmap(summary, chip.mesh_rows, chip.mesh_cols, args.figure,
                        title=f"{what.split(' (')[0]} on {chip.name}, mesh NoC: "
                              f"{summary['noc_route_cycles_per_image']:.0f} routing cycles/image")
        if key == "conv":
            # the traffic costed at the upper bound (the mapper's default without rates) and at rates measured on
            # 8 calibration images that are not the test images
            calib = rate_encode(stroke_images(np.random.default_rng(11), 8, 0.13), T, seed=3)
            entry["placement"] = {"upper_bound_rates": placement_study(network, chip, rasters, args.iterations, None),
                                  "calibration_rates": placement_study(network, chip, rasters, args.iterations,
                                                                       calib)}
        results[key] = entry
        print(json.dumps({k: v for k, v in entry.items() if k not in ("phases", "placement")}, indent=1), flush=True)
    doc = {
        "benchmark": "ideal vs mesh network-on-chip (docs/noc.md)",
        "command": ".venv/bin/python benchmarks/noc_compare.py" + (f" {' '.join(argv)}" if argv else ""),
        "seconds": round(time.perf_counter() - t_start, 1),
        **results,
    }
    atomic_write_bytes(args.output, (json.dumps(doc, indent=1) + "\n").encode())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

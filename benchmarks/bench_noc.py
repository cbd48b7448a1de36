"""Mesh NoC benchmark: the engine with ``noc = "mesh"`` (chip-spec §1.5) against ``noc = "ideal"`` (§1.2).

Run with ``make bench`` (``.venv/bin/python benchmarks/bench_noc.py``). The workload is the seed network of
``benchmarks/bench_engine.py`` (``reference_network``, also used by ``noc_compare.py``): a random int8
784-1024-1024-10 network on the default 28 nm chip (3 x 3 mesh), hidden thresholds calibrated for about 10 %
firing, Bernoulli inputs with spike probability 0.13 per input per timestep, T = 16. The same mapped program
runs twice in one process, once per NoC model (only ``noc`` differs; the cores compute the same spikes), in
interleaved rounds with the order alternating, so load from other processes hits both alike. Compilation is
excluded (a warm-up run first).

Reports the per-round time ratio (median, min, max over the rounds), images per second of each, and what the
mesh measured (routing cycles per timestep under both models, stall cycles, buffer writes), and merges them
into ``benchmarks/results/latest.json`` under the key ``mesh`` (read, modify, atomic write; other keys kept).
The issue's target: the mesh engine at >= 25 % of the ideal engine's speed (``ratio_mesh_vs_ideal >= 0.25``,
a ratio of images per second).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
from bench_engine import REFERENCE_P, T, bernoulli_raster, reference_network  # same folder (drops BLAS env vars)
from results_file import merge_results, spread

from hwsim.chip import Chip
from hwsim.config import load_chip_config
from hwsim.program import ChipProgram
from mapping import map_network

RESULTS = Path(__file__).parent / "results" / "latest.json"
TARGET = 0.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500, help="images per run (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, at least 3 (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rounds < 3 or args.images < 1:
        parser.error("--rounds must be >= 3 and --images >= 1")
    if args.threads:
        numba.set_num_threads(args.threads)

    chip_config = load_chip_config("default_28nm")
    program = map_network(reference_network(), chip_config, placement="row_major")
    mesh_program = ChipProgram(chip=program.chip.replace(noc="mesh"), cores=program.cores,
                               host_routes=program.host_routes, n_inputs=program.n_inputs).validate()  # fmt: skip
    chips = {"ideal": Chip.from_program(program), "mesh": Chip.from_program(mesh_program)}
    raster = bernoulli_raster(100, args.images, program.n_inputs, REFERENCE_P)
    for chip in chips.values():  # compile
        chip.run(raster[:2])

    times: dict[str, list[float]] = {name: [] for name in chips}
    cpu: dict[str, list[float]] = {name: [] for name in chips}
    results = {}
    for r in range(args.rounds):
        for name in (["ideal", "mesh"] if r % 2 == 0 else ["mesh", "ideal"]):
            t0, c0 = time.perf_counter(), time.process_time()
            results[name] = chips[name].run(raster)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    ideal, mesh = results["ideal"], results["mesh"]
    # the cores computed the same thing; only cycles and NoC counters differ (chip-spec §1.5)
    assert np.array_equal(ideal.output_spikes, mesh.output_spikes) and np.array_equal(ideal.counters, mesh.counters)

    ratios = np.asarray(times["ideal"]) / np.asarray(times["mesh"])  # speed of mesh / speed of ideal, per round
    # the same in CPU time (all threads of this process): less sensitive to other processes on a shared machine
    cpu_ratios = np.asarray(cpu["ideal"]) / np.asarray(cpu["mesh"])
    route_ideal = ideal.noc_counter("route_cycles")
    route_mesh = mesh.noc_counter("route_cycles")
    links = mesh.link_counters
    busiest = np.unravel_index(int(np.argmax(links[:, 1:, 0])), links[:, 1:, 0].shape)
    hidden = [float(x) for x in ideal.counter("output_spikes").sum(axis=(0, 1))
              / (args.images * T * np.array([cp.n_neurons for cp in program.cores]))]  # fmt: skip
    value = {
        "workload": (
            f"bench_engine.py's reference 784-1024-1024-10 (int8, ~10 % hidden firing) on default_28nm (3x3 mesh, "
            f"row-major), Bernoulli inputs p={REFERENCE_P}, T={T}, {args.images} images, router_buffer_flits="
            f"{mesh_program.chip.router_buffer_flits}, hop_latency_cycles={program.chip.hop_latency_cycles}"
        ),
        "ratio_mesh_vs_ideal": spread(ratios),
        "ratio_mesh_vs_ideal_cpu_time": spread(cpu_ratios),
        "target": TARGET,
        "meets_target": bool(np.median(ratios) >= TARGET),
        "ideal_images_per_s": spread(args.images / np.asarray(times["ideal"])),
        "mesh_images_per_s": spread(args.images / np.asarray(times["mesh"])),
        "ideal_seconds": times["ideal"],
        "mesh_seconds": times["mesh"],
        "ideal_cpu_seconds": cpu["ideal"],
        "mesh_cpu_seconds": cpu["mesh"],
        "rounds": args.rounds,
        "numba_threads": numba.get_num_threads(),
        "load_average_at_end": list(os.getloadavg()),
        "input_spike_rate": float(raster.mean()),
        "firing_rate_per_core": hidden,
        "route_cycles_per_timestep": {"ideal": float(route_ideal.mean()), "mesh": float(route_mesh.mean())},
        "timestep_cycles_mean": {"ideal": float(ideal.timestep_cycles.mean()),
                                 "mesh": float(mesh.timestep_cycles.mean())},  # fmt: skip
        "stall_cycles_per_timestep": float(mesh.noc_counter("stall_cycles").mean()),
        "buffer_writes_per_timestep": float(mesh.noc_counter("buffer_writes").mean()),
        "busiest_link": {"router": int(busiest[0]), "port": int(busiest[1]) + 1,
                         "packets": int(links[busiest[0], busiest[1] + 1, 0])},  # fmt: skip
    }
    merge_results(args.output, {"mesh": value})
    r = value["ratio_mesh_vs_ideal"]
    print(f"mesh NoC vs ideal, {args.images} images x T={T}, {args.rounds} rounds, {value['numba_threads']} threads")
    print(f"  ideal: {value['ideal_images_per_s']['median']:.0f} images/s   mesh: "
          f"{value['mesh_images_per_s']['median']:.0f} images/s")  # fmt: skip
    c = value["ratio_mesh_vs_ideal_cpu_time"]
    print(f"  speed ratio mesh/ideal: median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f}); "
          f"target >= {TARGET}: {'met' if value['meets_target'] else 'NOT met'}")
    print(f"  in CPU time: median {c['median']:.2f} (min {c['min']:.2f}, max {c['max']:.2f})")
    print(f"  routing cycles per timestep: ideal {route_ideal.mean():.1f}, mesh {route_mesh.mean():.1f}; "
          f"stalls {value['stall_cycles_per_timestep']:.1f}")
    print(f"  merged into {args.output} under 'mesh'")
    return 0


if __name__ == "__main__":
    sys.exit(main())

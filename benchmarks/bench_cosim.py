"""RTL co-simulation speed: simulated clock cycles per second on Icarus and Verilator, merged into latest.json.

Run with ``make bench`` (``.venv/bin/python benchmarks/bench_cosim.py``). The workload and the measurement are
``tests/rtl/cosim_speed.py``'s (a random 784-256-10 network on ``default_28nm``, 20 timesteps, core by core on
``snn_multicore``, every run checked against the golden model), on the fast testbench path (the
simulation-only wrapper ``tests/rtl/harness/hdl/tb_snn_multicore.v``). Each simulator runs ``--rounds``
times (builds are reused after the first); the key ``cosim_cycles_per_s`` of
``benchmarks/results/latest.json`` gets, per simulator, the spread of cycles/s after loading and in total
(wall clock), cycles per CPU second of the simulator process after loading (less dependent on other load on
the machine) and the load average. A simulator that is not installed is recorded as unavailable, with the
reason. The issue's targets (after loading): Verilator >= 1,000,000 and Icarus >= 50,000 cycles/s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from results_file import merge_results, spread

RTL_TESTS = Path(__file__).resolve().parents[1] / "tests" / "rtl"
sys.path.insert(0, str(RTL_TESTS))

from cosim_speed import measure  # noqa: E402
from harness.build import simulator_missing  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "latest.json"
TARGETS = {"verilator": 1_000_000, "icarus": 50_000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--rounds", type=int, default=3, help="runs per simulator, at least 1 (default 3)")
    parser.add_argument("--timesteps", type=int, default=20, help="timesteps per run (default 20)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.timesteps < 1:
        parser.error("--rounds and --timesteps must be >= 1")

    value: dict = {}
    for sim in args.sim:
        reason = simulator_missing(sim)
        if reason is not None:
            value[sim] = {"available": False, "reason": reason}
            print(f"{sim}: not measured ({reason})")
            continue
        runs = [measure([sim], ["wrapper"], args.timesteps)[0][2] for _ in range(args.rounds)]
        after = spread([r.run_cycles_per_second for r in runs])
        value[sim] = {
            "available": True,
            "after_loading": after,
            "total": spread([r.cycles_per_second for r in runs]),
            "after_loading_per_cpu_s": spread([r.run_cycles / float(r.extra["run_cpu_seconds"]) for r in runs]),
            "cycles_after_loading": runs[0].run_cycles,
            "cycles_total": runs[0].sim_cycles,
            "target_after_loading": TARGETS[sim],
            "meets_target": after["median"] >= TARGETS[sim],
            "load_average_at_end": list(os.getloadavg()),
        }
        print(f"{sim}: {after['median']:,.0f} cycles/s after loading (min {after['min']:,.0f}, max "
              f"{after['max']:,.0f}), {value[sim]['total']['median']:,.0f} in total; target {TARGETS[sim]:,}: "
              f"{'met' if value[sim]['meets_target'] else 'NOT met'}; load average {os.getloadavg()[0]:.1f}")
    value["workload"] = (f"784-256-10 on default_28nm, {args.timesteps} timesteps, snn_multicore through "
                         "tests/rtl/harness/hdl/tb_snn_multicore.v, checked against the golden model")
    value["rounds"] = args.rounds
    merge_results(args.output, {"cosim_cycles_per_s": value})
    print(f"  merged into {args.output} under 'cosim_cycles_per_s'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

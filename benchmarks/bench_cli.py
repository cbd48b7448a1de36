"""CLI start-up benchmark: a warm ``hwsim run --no-figures --quiet`` and ``hwsim --help``, whole processes.

Run with ``make bench`` (``.venv/bin/python benchmarks/bench_cli.py``). It starts the command as a user
does (the ``hwsim`` script next to this interpreter, or ``python -c 'from hwsim.cli import main ...'``),
in a temporary folder, ``--runs`` times (default 7) after ``--warmup`` runs that are not counted (default 1;
the first one fills the Numba cache if it is cold), alternating ``hwsim run`` and ``hwsim --help``. Each run
is timed from outside: wall clock from start to exit, and user + system CPU seconds of the finished child.
Figures are min / median / max; quote the median.

Then one more ``hwsim run`` in a child process that times its own phases (``--phases-child``): interpreter
start-up, imports, loading the network and the dataset, mapping, importing the engine (Numba), loading the
compiled kernels from the Numba cache (and which ones), simulation, the rest of the evaluation (energy,
report), writing the report. That is the breakdown the README quotes.

Merges into ``benchmarks/results/latest.json`` (read, update these keys, write atomically with
:func:`hwsim.writers.atomic_write_bytes`, under a lock on the folder; every other key stays):
``cli_warm_s`` (median wall seconds of the warm run), ``cli_warm`` (its spread, CPU seconds, conditions)
and ``cli_help``, ``cli_breakdown``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import merge_results  # same folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "latest.json"
RUN_ARGS = ["run", "--no-figures", "--quiet"]


def hwsim_command() -> list[str]:
    """The ``hwsim`` console script of this interpreter's environment, else the same entry point via ``-c``."""
    script = Path(sys.executable).parent / "hwsim"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; from hwsim.cli import main; sys.exit(main())"]


def timed_process(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """``(wall_s, cpu_s)`` of one run of ``cmd`` (its output discarded); raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench_cli: {' '.join(cmd)} exited with {done.returncode}: {done.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def measure(runs: int, warmup: int, workdir: Path) -> dict:
    """Warm ``hwsim run`` and ``hwsim --help``, alternating, ``runs`` counted times each."""
    base = hwsim_command()
    # the report goes to a temporary folder, so the run in the repository's hwsim-out/ is left alone
    commands = {"run": [*base, *RUN_ARGS, "-o", str(workdir / "out")], "help": [*base, "--help"]}
    labels = {"run": f"hwsim {' '.join(RUN_ARGS)}", "help": "hwsim --help"}
    first = [timed_process(commands["run"], workdir)[0] for _ in range(warmup)]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            timings[name].append(timed_process(cmd, workdir))
    startup = [timed_process([sys.executable, "-c", "pass"], workdir)[0] for _ in range(runs)]
    result = {name: {"wall_s": spread([w for w, _ in t]), "cpu_s": spread([c for _, c in t]),
                     "command": labels[name]}
              for name, t in timings.items()}  # fmt: skip
    result["run"]["warmup_wall_s"] = first
    result["python_startup_wall_s"] = spread(startup)
    return result


# ------------------------------------------------------------------ phases of one run, in a child process
SIMULATE = "simulate: Chip.run"
EVALUATE_REST = "evaluate: the rest (encoding, energy, report model)"


def phases_child(outdir: str) -> dict:
    """Run ``hwsim run --no-figures --quiet -o outdir`` in this process, timing its phases (wall and CPU)."""
    phases: dict[str, list[float]] = {}

    def add(name: str, wall: float, cpu: float) -> None:
        w, c = phases.setdefault(name, [0.0, 0.0])
        phases[name] = [w + wall, c + cpu]

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def timed(name: str, fn):
        def wrapper(*args, **kwargs):
            w, c = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                add(name, time.perf_counter() - w, time.process_time() - c)

        return wrapper

    w, c = clock()
    import hwsim.cli
    import hwsim.commands.run as run_command

    add("import hwsim.cli and the run command", time.perf_counter() - w, time.process_time() - c)
    w, c = clock()
    import numpy  # noqa: F401  (the first of the run's modules to import it pays for it: shown on its own)

    add("import NumPy", time.perf_counter() - w, time.process_time() - c)
    w, c = clock()
    import hwsim.report

    add("import hwsim.report (energy, area, report models)", time.perf_counter() - w, time.process_time() - c)
    for name, phase in (("load_network", "load the bundled network"), ("load_images", "load the digits dataset"),
                        ("map_with_messages", "mapping (import mapping, tiling, placement annealing)"),
                        ("emit", "write the report files")):  # fmt: skip
        setattr(run_command, name, timed(phase, getattr(run_command, name)))
    evaluate = hwsim.report.evaluate
    loads: list[dict] = []

    def evaluate_with_engine_split(*args, **kwargs):
        w, c = clock()
        import hwsim.chip  # what the engine backend imports first: Numba and the kernel modules
        from numba.core import caching

        add("import the engine (Numba, kernel modules)", time.perf_counter() - w, time.process_time() - c)
        load_overload = caching.Cache.load_overload

        def timed_load(self, sig, target_context):
            start, cpu = time.perf_counter(), time.thread_time()  # one thread loads, under Numba's compile lock
            found = load_overload(self, sig, target_context)
            name = self._name.split()[1] if self._name.startswith("<function ") else self._name  # repr(py_func)
            loads.append({"kernel": name, "s": time.perf_counter() - start, "cpu_s": time.thread_time() - cpu,
                          "from_cache": found is not None})  # fmt: skip
            return found

        caching.Cache.load_overload = timed_load
        chip_run = hwsim.chip.Chip.run
        hwsim.chip.Chip.run = timed(SIMULATE, chip_run)
        try:
            return timed(EVALUATE_REST, evaluate)(*args, **kwargs)
        finally:
            caching.Cache.load_overload = load_overload
            hwsim.chip.Chip.run = chip_run

    hwsim.report.evaluate = evaluate_with_engine_split
    w, c = clock()
    sys.argv = ["hwsim", *RUN_ARGS, "-o", outdir]  # main() as the hwsim script calls it (it then freezes the heap)
    with contextlib.redirect_stdout(io.StringIO()):  # the summary table; this process's stdout carries the JSON
        status = hwsim.cli.main()
    total = [time.perf_counter() - w, time.process_time() - c]
    if status != 0:
        raise SystemExit(f"bench_cli: hwsim run exited with {status}")
    cache = [sum(entry["s"] for entry in loads), sum(entry["cpu_s"] for entry in loads)]
    # nested: "evaluate: the rest" holds the simulation, which holds the cache loads
    sim, rest = phases.pop(SIMULATE), phases[EVALUATE_REST]
    phases[EVALUATE_REST] = [rest[0] - sim[0], rest[1] - sim[1]]
    phases["load the compiled kernels from the Numba cache (with Numba's target set-up)"] = cache
    phases["simulate: Chip.run, without the cache loads"] = [sim[0] - cache[0], sim[1] - cache[1]]
    inside = [name for name in phases if not name.startswith(("import hwsim", "import NumPy"))]
    phases["other work in main() (argument checks, output folder)"] = [
        total[0] - sum(phases[k][0] for k in inside),
        total[1] - sum(phases[k][1] for k in inside),
    ]
    return {
        "phases_s": {k: {"wall": v[0], "cpu": v[1]} for k, v in phases.items()},
        "main_s": {"wall": total[0], "cpu": total[1]},
        "numba_cache_loads": loads,
        "modules_loaded": len(sys.modules),
        "heavy_modules_loaded": sorted(
            m
            for m in ("sklearn", "matplotlib", "scipy.sparse", "scipy.stats", "nir", "h5py", "dask", "distributed")
            if m in sys.modules
        ),
    }


def breakdown(workdir: Path) -> dict:
    """The phases of one warm ``hwsim run``, from a child process; what its phases leave out of the whole
    process's time (interpreter start-up and exit) is a phase of its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phases-child", str(workdir / "out-phases")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench_cli: the phases child failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    phases = result["phases_s"]
    phases["interpreter start-up and exit"] = {"wall": wall - sum(v["wall"] for v in phases.values()),
                                               "cpu": cpu - sum(v["cpu"] for v in phases.values())}  # fmt: skip
    result["process_s"] = {"wall": wall, "cpu": cpu}
    return result


# ------------------------------------------------------------------------------------------ results file
def print_summary(measured: dict, phases: dict) -> None:
    for name in ("run", "help"):
        m = measured[name]
        print(f"{m['command']:40s} wall {fmt(m['wall_s'])}   cpu {fmt(m['cpu_s'])}")
    print(f"{'python -c pass':40s} wall {fmt(measured['python_startup_wall_s'])}")
    print(
        f"\nphases of one warm run (whole process {phases['process_s']['wall']:.3f} s wall, "
        f"{phases['process_s']['cpu']:.3f} s CPU):"
    )
    for name, v in phases["phases_s"].items():
        print(f"  {name:78s} {v['wall']:6.3f} s wall  {v['cpu']:6.3f} s cpu")
    kernels = ", ".join(
        f"{e['kernel']}{'' if e['from_cache'] else ' (not in the cache: compiled)'}"
        for e in phases["numba_cache_loads"]
    )
    print(f"  kernels loaded from the Numba cache: {kernels or 'none'}")


def fmt(s: dict) -> str:
    return f"{s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f} s (min/median/max of {s['n']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs of each command (default 7, at least 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first (default 1)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--phases-child", metavar="OUTDIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases_child:
        print(json.dumps(phases_child(args.phases_child)))
        return 0
    if args.runs < 5 or args.warmup < 1:
        parser.error("--runs must be >= 5 and --warmup >= 1 (a warm Numba cache is the point)")
    load_at_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="hwsim-bench-cli-") as tmp:
        measured = measure(args.runs, args.warmup, Path(tmp))
        phases = breakdown(Path(tmp))
    print_summary(measured, phases)
    conditions = {
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "timing": "whole process, wall clock from start to exit and user+system CPU of the child; "
        "warm Numba cache (warm-up runs first); min/median/max over the counted runs",
    }
    merge_results(
        args.output,
        {
            "cli_warm_s": measured["run"]["wall_s"]["median"],
            "cli_warm": {**measured["run"], "python_startup_wall_s": measured["python_startup_wall_s"], **conditions},
            "cli_help": measured["help"],
            "cli_breakdown": phases,
        },
    )
    print(f"\ncli_warm_s = {measured['run']['wall_s']['median']:.3f} merged into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

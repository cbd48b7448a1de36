"""Calibrate the 28 nm table to Yin et al. (BioCAS 2017): 51.4 and 773 nJ/image on MNIST.

A maintainer's command, not a ``hwsim`` subcommand: it maps and simulates
networks, so it lives with the commands, not in the pricing layer
(:mod:`hwsim.energy`, which only turns counters into energy).

Run ``python -m hwsim.commands.calibrate_energy`` to simulate the two documented
workloads (:data:`WORKLOADS`) on the default chip, print the model's energy
per image with and without the table's fitted factor, and the factor a fresh
fit gives. ``--write`` stores a fresh fit in the table file.

The fit has exactly one free parameter, ``global_scale``, which multiplies
every entry of the table. It minimises the squared log error over the two
points: ``log k = mean(log(target / model))``. What the two workloads are,
and which of their parts are assumptions, is written in ``docs/energy.md`` §4.

``--scheduler local[:N]`` or ``tcp://HOST:PORT`` runs the workloads' simulations
on Dask worker processes (one task per workload, :func:`hwsim.parallel.run_programs`);
building, mapping and pricing stay in this process, and the printed numbers are
the same bits under every scheduler (docs/distributed.md).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from hwsim.config import ChipConfig, load_chip_config
from hwsim.energy.model import EnergyReport, estimate
from hwsim.energy.table import EnergyTable, load_table
from hwsim.energy.workloads import Workload
from hwsim.errors import HwsimError
from hwsim.parallel import INSTALL_HINT, TaskPool, check_scheduler, run_programs, task_pool
from hwsim.program import ChipProgram
from hwsim.result import RunResult
from hwsim.writers import atomic_write_bytes

__all__ = ["WORKLOADS", "ODIN_MNIST", "ODIN", "CalibrationPoint", "Figure", "CrossValidation", "run_workload",
           "run_workloads",
           "calibrate", "fit_scale", "fit_figures", "odin_figures", "yin_figures", "cross_validate", "TOLERANCE",
           "add_arguments", "run", "main", "crossval_main"]

#: Allowed relative error of each calibrated point.
TOLERANCE = 0.05

# Yin et al. BioCAS 2017 (28 nm version): the published range is all that is
# known (papers.md §1.6); which configuration gives which end is NOT known.
WORKLOADS = (
    Workload(
        name="yin-low",
        sizes=(784, 256, 256, 10),
        rates=(0.10, 0.10, 0.10),
        timesteps=1,
        integration="discontinuous",
        encoding="rate",
        n_images=50,
        seed=1,
        target_nj=51.4,
        rationale="smallest plausible design point: a 2-hidden-layer MLP of 256 neurons, one timestep "
        "(Yin et al. report high accuracy already at 1-2 timesteps)",
    ),
    Workload(
        name="yin-high",
        sizes=(784, 1024, 1024, 10),
        rates=(0.10, 0.10, 0.10),
        timesteps=3,
        integration="discontinuous",
        encoding="rate",
        n_images=50,
        seed=1,
        target_nj=773.0,
        rationale="the seed network of the authors' code (784-1024-1024-10, DC mode) with three timesteps",
    ),
)


# ODIN (Frenkel et al., IEEE TBioCAS 2019; papers.md §6): the held-out chip, docs/energy.md §11.
ODIN = {
    "chip": "odin_28nm",
    "pj_per_sop_total": 12.7,
    "pj_per_sop_incremental": 8.43,
    "leakage_uw": 27.3,
    "idle_uw_per_mhz": 1.78,
    "nj_per_mnist_inference": 15.0,
}
ODIN_MNIST = Workload(
    name="odin-mnist",
    sizes=(256, 10),
    rates=(0.10,),
    timesteps=1,
    integration="discontinuous",
    encoding="latency",
    n_images=50,
    seed=1,
    target_nj=ODIN["nj_per_mnist_inference"],
    rationale="ODIN's MNIST test: 16x16 inputs, one fully connected layer of 10 neurons, rank order coding "
    "(one spike per non-zero pixel, in one timestep)",
    image_side=16,
)
# odin-sop: every axon of a 256-256 layer spikes in each of these timesteps, no neuron fires (ODIN's maximum SOP rate)
ODIN_SOP_TIMESTEPS = 4
ODIN_SOP_IMAGES = 2


@dataclass(frozen=True)
class CalibrationPoint:
    """One workload's model energy against its published target."""

    workload: Workload
    report: EnergyReport
    raw_nj: float  # energy per image with global_scale = 1

    @property
    def target_nj(self) -> float:
        return self.workload.target_nj

    def calibrated_nj(self, scale: float) -> float:
        return self.raw_nj * scale

    def error(self, scale: float) -> float:
        """Relative error of the calibrated energy against the target."""
        return self.calibrated_nj(scale) / self.target_nj - 1.0


def _simulate(program: ChipProgram, rasters: np.ndarray) -> RunResult:
    """Run with the engine; the golden model gives the same counters (chip-spec), only slower."""
    try:
        from hwsim.chip import Chip
    except ImportError:
        from hwsim.golden import simulate

        print("hwsim.commands.calibrate_energy: engine not available, using the (slow) golden model", file=sys.stderr)
        return simulate(program, rasters)
    return Chip.from_program(program).run(rasters)


def _simulate_all(jobs: list[tuple[ChipProgram, np.ndarray]], pool: TaskPool | None) -> list[RunResult]:
    """The runs of independent ``(program, rasters)`` jobs, in job order: one Dask task each on a cluster pool,
    else here one after the other (the same bits either way)."""
    if pool is not None and pool.client is not None:
        return run_programs(pool, jobs)
    return [_simulate(program, rasters) for program, rasters in jobs]


def _workload_job(workload: Workload, chip: ChipConfig) -> tuple[ChipProgram, np.ndarray]:
    """Build and map one workload: its program and input rasters."""
    from mapping import map_network

    network = workload.network(chip.core)
    # Row-major placement, given as an explicit list so the calibration does not
    # move when the mapper's default placement heuristic changes.
    n_parts = sum(-(-layer.n_out // chip.core.neurons) for layer in network.layers)
    program = map_network(network, chip, list(range(n_parts)))
    return program, workload.rasters()


def _point(workload: Workload, program: ChipProgram, result: RunResult, table: EnergyTable) -> CalibrationPoint:
    raw = estimate(result, program, table.with_scale(1.0))
    return CalibrationPoint(workload=workload, report=raw, raw_nj=raw.energy_nj_per_image)


def run_workloads(workloads: list[Workload], chip: ChipConfig, table: EnergyTable,
                  pool: TaskPool | None = None) -> list[CalibrationPoint]:
    """Build and map the workloads here, simulate them on ``pool`` (None: here), price them here (table
    unscaled); one point per workload, in order."""
    jobs = [_workload_job(w, chip) for w in workloads]
    results = _simulate_all(jobs, pool)
    return [_point(w, program, result, table) for w, (program, _), result in zip(workloads, jobs, results)]


def run_workload(workload: Workload, chip: ChipConfig, table: EnergyTable,
                 pool: TaskPool | None = None) -> CalibrationPoint:
    """Build, map and simulate one workload; return its energy with the table unscaled."""
    return run_workloads([workload], chip, table, pool)[0]


def fit_scale(points: list[CalibrationPoint]) -> float:
    """The one global factor minimising the squared log error over the points."""
    return float(math.exp(np.mean([math.log(p.target_nj / p.raw_nj) for p in points])))


def calibrate(chip: ChipConfig | str = "default_28nm", table: EnergyTable | str = "28nm",
              pool: TaskPool | None = None) -> tuple[list[CalibrationPoint], float]:
    """Simulate :data:`WORKLOADS` (on ``pool``'s workers if it is a Dask pool); return the points and the freshly
    fitted factor."""
    chip = load_chip_config(chip) if isinstance(chip, str) else chip
    table = load_table(table)
    points = run_workloads(list(WORKLOADS), chip, table, pool)
    return points, fit_scale(points)


@dataclass(frozen=True)
class Figure:
    """One published figure and the model's value for it with ``global_scale = 1``.

    Every modelled quantity here is linear in ``global_scale`` (it multiplies every entry), so the model's value
    at scale ``k`` is ``k * raw``.
    """

    chip: str
    name: str
    unit: str
    published: float
    raw: float
    fit: bool = True  # used in fits and counted as evidence (False: printed only, with ``note``)
    note: str = ""

    def model(self, scale: float) -> float:
        return self.raw * scale

    def error(self, scale: float) -> float:
        return self.model(scale) / self.published - 1.0


def fit_figures(figures: list[Figure]) -> float:
    """The one global factor minimising the squared log error over the figures marked ``fit``."""
    used = [f for f in figures if f.fit]
    return float(math.exp(np.mean([math.log(f.published / f.raw) for f in used])))


def yin_figures(chip: ChipConfig | str = "default_28nm", table: EnergyTable | str = "28nm",
                pool: TaskPool | None = None) -> list[Figure]:
    """Yin et al.'s two published points with the documented workloads (:data:`WORKLOADS`)."""
    points, _ = calibrate(chip, table, pool)
    return [Figure("Yin", f"{p.workload.name} nJ/image", "nJ", p.target_nj, p.raw_nj) for p in points]


def _odin_sop_job(chip: ChipConfig) -> tuple[ChipProgram, np.ndarray]:
    """``odin-sop``: a 256-256 layer, all axons spiking every timestep, thresholds out of reach (no firing)."""
    from mapping import map_network

    from hwsim.network import Layer, Network

    cc = chip.core
    rng = np.random.default_rng(1)
    # non-positive weights keep every membrane at or below 0 < threshold: no neuron fires, as in ODIN's measurement
    w = -rng.integers(0, cc.w_max + 1, size=(cc.axons, cc.neurons)).astype(np.int32)
    layer = Layer(weights=w, bias=np.zeros(cc.neurons, np.int32), threshold=cc.v_max, integration="discontinuous",
                  reset="subtract", fire=True, name="fc0")
    program = map_network(Network(layers=[layer], metadata={"name": "odin-sop"}), chip, [0])
    rasters = np.ones((ODIN_SOP_IMAGES, ODIN_SOP_TIMESTEPS, cc.axons), np.uint8)
    return program, rasters


def odin_figures(table: EnergyTable | str = "28nm", pool: TaskPool | None = None) -> list[Figure]:
    """The model's values, at scale 1, for ODIN's published figures on the ``odin_28nm`` preset (§11)."""
    table = load_table(table)
    chip = load_chip_config(ODIN["chip"])
    jobs = [_odin_sop_job(chip), _workload_job(ODIN_MNIST, chip)]
    sop_result, mnist_result = _simulate_all(jobs, pool)
    sop = estimate(sop_result, jobs[0][0], table.with_scale(1.0))
    sops = float(sop.sops.sum())
    leak_pj = float(sop.static_pj.sum())
    controller_pj = float(sop.by_action["core.controller/cycle"].sum())
    at_v = table.with_scale(1.0).at_voltage(chip.voltage_v)
    mnist = _point(ODIN_MNIST, jobs[1][0], mnist_result, table)
    not_held_out = "not held out: the table's leakage entry is ODIN's 27.3 uW / its stored bits"
    return [
        Figure("ODIN", "pJ/SOP total", "pJ", ODIN["pj_per_sop_total"], float(sop.total_pj.sum()) / sops),
        Figure("ODIN", "pJ/SOP incremental", "pJ", ODIN["pj_per_sop_incremental"],
               (float(sop.total_pj.sum()) - leak_pj - controller_pj) / sops),
        Figure("ODIN", "nJ/MNIST inference", "nJ", ODIN["nj_per_mnist_inference"], mnist.raw_nj),
        Figure("ODIN", "leakage power", "uW", ODIN["leakage_uw"], sop.static_power_uw, fit=False,
               note=not_held_out),
        Figure("ODIN", "idle power per MHz", "uW/MHz", ODIN["idle_uw_per_mhz"],
               at_v.energy_pj("core.controller", "cycle"), fit=False,
               note="hwsim prices the controller per active cycle only (idle cores clock-gated); ODIN's idle "
               "power is a free-running clock: compared, not fitted"),
    ]


@dataclass(frozen=True)
class CrossValidation:
    """Both directions: fit on Yin, predict ODIN; fit on ODIN, predict Yin."""

    yin: list[Figure]
    odin: list[Figure]

    @property
    def scale_from_yin(self) -> float:
        return fit_figures(self.yin)

    @property
    def scale_from_odin(self) -> float:
        return fit_figures(self.odin)


def cross_validate(table: EnergyTable | str = "28nm", pool: TaskPool | None = None) -> CrossValidation:
    """Simulate Yin's two workloads and ODIN's on their chips (table at scale 1; on ``pool``'s workers if it is a
    Dask pool)."""
    table = load_table(table)
    return CrossValidation(yin=yin_figures("default_28nm", table, pool), odin=odin_figures(table, pool))


def _print_figures(title: str, figures: list[Figure], scale: float) -> None:
    print(title)
    print()
    print("| chip | figure | published | model (scale 1) | model | error | |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for f in figures:
        role = "" if f.fit else f.note
        print(f"| {f.chip} | {f.name} | {f.published:g} {f.unit} | {f.raw:.4g} | {f.model(scale):.4g} | "
              f"{100 * f.error(scale):+.1f}% | {role} |")
    print()


def run_crossval(args: argparse.Namespace) -> int:
    """Print both directions of the cross-validation (docs/energy.md §11)."""
    table = load_table(args.table)
    with _pool(args) as pool:
        cv = cross_validate(table, pool)
    k_yin, k_odin = cv.scale_from_yin, cv.scale_from_odin
    print(f"table {table.name} v{table.version}: stored global_scale = {table.global_scale:.4g}")
    print(f"fit on Yin (2 figures): global_scale = {k_yin:.4g}")
    print(f"fit on ODIN (3 energy figures): global_scale = {k_odin:.4g}")
    print()
    _print_figures(f"Fit on Yin (global_scale = {k_yin:.4g}): the fit", cv.yin, k_yin)
    _print_figures(f"Held out, predicted with the Yin fit (global_scale = {k_yin:.4g}, no refit): ODIN at 0.55 V",
                   cv.odin, k_yin)
    _print_figures(f"Reverse: fit on ODIN (global_scale = {k_odin:.4g})", cv.odin, k_odin)
    _print_figures(f"Held out, predicted with the ODIN fit (global_scale = {k_odin:.4g}, no refit): Yin",
                   cv.yin, k_odin)
    return 0


# Sensitivity study (docs/energy.md §10): what moves the Yin workloads' energy.
SENSITIVITY_RATES = (0.05, 0.10, 0.20)
SENSITIVITY_TIMESTEPS = (1, 2, 3, 4, 8)
SENSITIVITY_ENTRY_FACTORS = (0.5, 1.5)  # the issue's +-50 % for each assumed entry
SRAM_BANKING = {"2 KB macros": 0.5, "32 KB macros": 2.0}  # Horowitz: 8 KB 10 pJ, 32 KB 20 pJ per 64-bit read


def _repriced_nj(report: EnergyReport, factors: dict, scale: float) -> float:
    """nJ/image of a run priced at scale 1 with some entries times factors: energy is linear in each entry,
    ``E' = E + (f - 1) * (energy of that entry's actions)``; actions the run never counts cost nothing."""
    total = float(report.total_pj.mean())
    for key, f in factors.items():
        priced = report.by_action.get(f"{key[0]}/{key[1]}")
        total += 0.0 if priced is None else (f - 1.0) * float(priced.mean())
    return total * scale / 1e3


def _workload_sensitivity(w: Workload, chip: ChipConfig, table: EnergyTable,
                          pool: TaskPool | None = None) -> list[dict]:
    import dataclasses

    k = table.global_scale
    # the re-simulated variants (knob, setting, workload), all run together with the documented workload
    variants = [("firing rate", f"{rate:.0%}", dataclasses.replace(w, rates=(rate,) * len(w.rates)))
                for rate in SENSITIVITY_RATES if rate != w.rates[0]]
    variants += [("timesteps", f"T = {T}", dataclasses.replace(w, timesteps=T))
                 for T in SENSITIVITY_TIMESTEPS if T != w.timesteps]
    base, *varied = run_workloads([w] + [v for _, _, v in variants], chip, table, pool)
    nominal = base.raw_nj * k
    settings: list[tuple[str, str, float]] = [("documented", f"rate {w.rates[0]:.0%}, T = {w.timesteps}", nominal)]
    settings += [(knob, setting, p.raw_nj * k) for (knob, setting, _), p in zip(variants, varied)]
    for key in (("core.membrane_rf", "access_bit"), ("core.controller", "cycle"), ("core.spike_buffer", "scan_axon")):
        for f in SENSITIVITY_ENTRY_FACTORS:
            settings.append(("assumed entry", f"{key[0]}/{key[1]} x {f:g}", _repriced_nj(base.report, {key: f}, k)))
    for name, f in SRAM_BANKING.items():
        settings.append(("SRAM banking", f"{name} (read x {f:g})",
                         _repriced_nj(base.report, {("core.weight_sram", "read_bit"): f}, k)))
    marked = table.marked_entries()
    for end, label in ((0, "low"), (1, "high")):
        settings.append(("band", f"all marked entries at their {label} ends",
                         _repriced_nj(base.report, {key: span[end] for key, span in marked.items()}, k)))
    return [{"workload": w.name, "knob": knob, "setting": setting, "nj": nj, "change": nj / nominal - 1}
            for knob, setting, nj in settings]


def sensitivity(chip: ChipConfig | str = "default_28nm", table: EnergyTable | str = "28nm",
                pool: TaskPool | None = None) -> list[dict]:
    """nJ/image of each Yin workload (stored ``global_scale``) as one unknown moves, the others as documented.

    Rows: ``{"workload", "knob", "setting", "nj", "change"}`` (``change`` relative to the documented workload).
    Rates and T re-simulate; entry factors and SRAM banking re-price the documented run.
    """
    chip = load_chip_config(chip) if isinstance(chip, str) else chip
    table = load_table(table)
    rows: list[dict] = []
    for w in WORKLOADS:
        rows += _workload_sensitivity(w, chip, table, pool)
    return rows


def _sensitivity_figure(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.writers import atomic_write_bytes

    names = [w.name for w in WORKLOADS]
    fig, axes = plt.subplots(1, len(names), figsize=(13, 5.5), sharex=True, layout="constrained")
    for ax, name in zip(axes, names):
        mine = [r for r in rows if r["workload"] == name and r["knob"] != "documented"]
        labels = [f"{r['knob']}: {r['setting']}".replace("assumed entry: core.", "").replace(" marked entries", "")
                  for r in mine]
        values = [100 * r["change"] for r in mine]
        colors = ["tab:red" if v > 0 else "tab:blue" for v in values]
        ax.barh(range(len(mine)), values, color=colors)
        ax.set_yticks(range(len(mine)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.8)
        nominal = next(r["nj"] for r in rows if r["workload"] == name and r["knob"] == "documented")
        ax.set_title(f"{name}: {nominal:.1f} nJ/image as documented", fontsize=9)
        ax.set_xlabel("change of nJ/image (%)")
        ax.set_xscale("symlog", linthresh=10)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def run_sensitivity(args: argparse.Namespace) -> int:
    with _pool(args) as pool:
        rows = sensitivity(args.chip, args.table, pool)
    print("| workload | unknown | setting | nJ/image | change |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['workload']} | {r['knob']} | {r['setting']} | {r['nj']:.4g} | {100 * r['change']:+.1f}% |")
    if args.figure:
        _sensitivity_figure(rows, args.figure)
        print(f"\nwrote {args.figure}")
    return 0


def crossval_main(argv: list[str] | None = None) -> int:
    """``python -m hwsim.energy.calibrate``: the cross-validation (``--yin-only``: the old Yin table)."""
    parser = argparse.ArgumentParser(prog="python -m hwsim.energy.calibrate",
                                     description="Fit the energy table on one chip, predict the other (both ways)")
    add_arguments(parser)
    parser.add_argument("--yin-only", action="store_true",
                        help="only the Yin calibration table (what python -m hwsim.commands.calibrate_energy prints)")
    parser.add_argument("--sensitivity", action="store_true",
                        help="the sensitivity table of docs/energy.md §10 (firing rate, T, assumed entries, SRAM "
                        "banking, band) for both Yin workloads")
    parser.add_argument("--figure", metavar="PNG", help="with --sensitivity: also draw it to this file")
    args = parser.parse_args(argv)
    if args.yin_only or args.write:
        return _guarded(run, args, parser.prog)
    if args.sensitivity:
        return _guarded(run_sensitivity, args, parser.prog)
    return _guarded(run_crossval, args, parser.prog)


def _guarded(command, args: argparse.Namespace, prog: str) -> int:
    """``command(args)``, with bad input (a :class:`hwsim.errors.HwsimError`, e.g. a bad ``--scheduler``) as one
    line on stderr and exit status 2, as ``hwsim``'s commands do."""
    try:
        return command(args)
    except HwsimError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


@contextmanager
def _pool(args: argparse.Namespace) -> Iterator[TaskPool | None]:
    """The Dask pool of ``--scheduler`` (checked first: exit 2 before any work), or None for the default: the
    workloads then run here, one after the other, as before the option existed."""
    scheduler = check_scheduler(args.scheduler)
    if not scheduler.is_dask:
        yield None
        return
    print(f"connecting to the Dask scheduler {scheduler.text}" if scheduler.kind == "tcp"
          else f"starting a Dask LocalCluster ({scheduler.text})", file=sys.stderr)
    with task_pool(scheduler) as pool:
        yield pool


def _write_scale(table: EnergyTable, scale: float) -> None:
    text = open(table.path, encoding="utf-8").read()
    new, n = re.subn(r"(?m)^global_scale\s*=\s*[0-9.eE+-]+", f"global_scale = {scale:.4g}", text)
    if n != 1:
        raise SystemExit(f"{table.path}: expected one 'global_scale = ...' line, found {n}")
    atomic_write_bytes(table.path, new.encode())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", default="28nm", help="energy table name or .toml path (default 28nm)")
    parser.add_argument("--chip", default="default_28nm", help="chip preset or .toml (default default_28nm)")
    parser.add_argument("--write", action="store_true", help="store the fitted factor in the table file")
    parser.add_argument("--scheduler", metavar="threads|local[:N]|tcp://HOST:PORT",
                        help="where the workloads' simulations run: threads (default: in this process, one after "
                        "the other), local[:N] (a Dask LocalCluster of N worker processes, default one per CPU) or "
                        f"tcp://HOST:PORT (an existing Dask cluster); Dask needs {INSTALL_HINT}. The printed numbers "
                        "are the same bits under every scheduler (docs/distributed.md)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hwsim.commands.calibrate_energy",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return _guarded(run, parser.parse_args(argv), parser.prog)


def run(args: argparse.Namespace) -> int:
    """Print the calibration table; with ``--write`` store a fresh fit. Exit status 1 if a point misses 5 %."""
    table = load_table(args.table)
    with _pool(args) as pool:
        points, fitted = calibrate(args.chip, table, pool)
    stored = table.global_scale
    print(f"table {table.name} v{table.version}: stored global_scale = {stored:.4g}, fresh fit = {fitted:.4g}")
    print()
    print("| workload | network | T | mode | coding | SOPs/image | model nJ (scale 1) | calibrated nJ | "
          "target nJ | error | pJ/SOP |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for p in points:
        w = p.workload
        err = p.error(stored)
        ok &= abs(err) <= TOLERANCE
        pj = p.report.pj_per_sop * stored if p.report.pj_per_sop else float("nan")
        print(
            f"| {w.name} | {'-'.join(map(str, w.sizes))} | {w.timesteps} | {w.integration} | {w.encoding} | "
            f"{p.report.sops_per_image:.0f} | {p.raw_nj:.1f} | {p.calibrated_nj(stored):.1f} | "
            f"{w.target_nj:g} | {100 * err:+.1f}% | {pj:.2f} |"
        )
    print()
    if args.write:
        _write_scale(table, fitted)
        print(f"wrote global_scale = {fitted:.4g} to {table.path}")
        return 0
    print("within +/-5% with the stored factor" if ok else "NOT within +/-5% with the stored factor")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

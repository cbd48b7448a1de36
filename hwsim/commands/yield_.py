"""``hwsim yield``: Monte Carlo yield of RRAM chip instances, with signature-driven threshold tuning.

Maps a network onto an RRAM chip, samples ``N`` chip instances (seeds), runs
the test set on each, and reports the accuracy distribution, the yield
(fraction of instances with accuracy >= spec), accuracy and yield versus the
device-variation sigma, the energy and latency per image, and, with
``--tune``, the signature-driven test-and-tune flow of Saha et al. (ASP-DAC
2024): out-of-spec devices and yield before and after tuning.

Examples::

    hwsim yield --instances 50 -o yield-out                      # bundled digits network, rram preset
    hwsim yield --sigma 0.3 --array-sigma 0.2 --spec 0.9 --tune -o yield-tune
    hwsim yield --net my_net.npz --chip my_rram.toml --instances 200 --sweep 0,0.1,0.2,0.3
    hwsim yield --instances 1000 --scheduler local:2 -o yield-big     # on 2 Dask worker processes
    hwsim yield --instances 10000 --scheduler tcp://10.0.0.5:8786     # on a Dask cluster (docs/distributed.md)
    hwsim yield --sigma 0.2 --array-sigma 0.3 --spec 0.94 --compare --train-instances 40 -o yield-compare
    hwsim yield --compare --sensitivity "sigma=0,0.2,0.4;array_sigma=0,0.3;stuck=0,0.01" --sensitivity-instances 40

``--compare`` runs every post-manufacture strategy on the study's instances (no tuning, one global factor,
signature-regressed per-chip factors screened and unscreened, per-die ADC recalibration alone and with the
regressed factors, and the oracle, an upper bound searched on the test images; docs/rram.md §7);
``--sensitivity`` repeats it along device sigma, crossbar sigma and stuck-at rate. Threshold factors are
per layer: one knob and one regressor per spiking layer.

The chip instances run on a thread pool by default, or with ``--scheduler`` on
Dask worker processes (:mod:`hwsim.parallel`); ``yield.json`` is the same,
bit for bit, under every scheduler and worker count; so do the instances of
``--tune`` (training the tuner, test-and-tune).

Outputs in ``-o DIR``: ``yield.json`` (every number, per instance),
``accuracy_hist.png``, ``yield_vs_sigma.png``, with ``--tune`` ``tuning.png``, with ``--compare``
``strategies.png`` and with ``--sensitivity`` ``sensitivity.png``.
The folder is written as a whole (a temporary folder renamed when complete,
as ``hwsim run``): an existing ``DIR`` is replaced only if it holds an earlier
``yield.json``, and is left untouched if the run fails. No input (``--net``,
``--chip``, ``--data-dir``) may lie inside ``DIR``: that run is refused before
any work, naming both paths.

The study itself is :func:`hwsim.rram.yield_study.run_yield_study`; this
command parses and checks the options, loads the chip, network and dataset,
calls it, writes the folder and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hwsim.commands.common import (
    check_data_dir,
    check_input_file,
    check_int,
    check_name_or_file,
    check_outputs_match_classes,
    check_seed,
    input_paths,
    load_network,
    map_with_messages,
    network_timesteps,
)
from hwsim.errors import InputError
from hwsim.limits import MAX_INSTANCES, MAX_SEED, MAX_SIGMA, MAX_TIMESTEPS, MAX_TRAIN_INSTANCES, MAX_WORKERS
from hwsim.parallel import SCHEDULER_HELP, check_scheduler, task_pool

__all__ = ["add_arguments", "run", "render_table", "DEFAULT_OUTDIR", "YIELD_FILE"]

DEFAULT_OUTDIR = "hwsim-yield"
YIELD_FILE = "yield.json"  # marks a yield-study folder: only such a folder is replaced by a new study


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--net", metavar="FILE", help="network (.npz or .nir); default: the bundled digits network")
    parser.add_argument("--chip", default="rram", metavar="NAME|FILE",
                        help="RRAM chip preset or .toml file with core_type = 'rram' (default: rram)")
    parser.add_argument("--instances", "-n", type=int, default=50, metavar="N",
                        help="chip instances (seeds) of the Monte Carlo (default 50)")
    parser.add_argument("--sigma", type=float, metavar="S",
                        help="device-to-device variation sigma, a fraction (default: the chip's)")
    parser.add_argument("--array-sigma", type=float, metavar="S",
                        help="crossbar-to-crossbar variation sigma (default: the chip's)")
    parser.add_argument("--spec", type=float, default=0.9, metavar="ACC",
                        help="accuracy spec: an instance passes if its accuracy >= ACC (default 0.9)")
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"),
                        help="dataset (default digits)")
    parser.add_argument("--data-dir", metavar="D", help="folder with the MNIST / Fashion-MNIST IDX files")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N test images")
    parser.add_argument("--timesteps", "-T", type=int, metavar="T", help="timesteps (default: the network's)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first chip seed: instances are seeds SEED..SEED+N-1 (default 0)")
    parser.add_argument("--sweep", default="0,0.1,0.2,0.3,0.4,0.5", metavar="S1,S2,...",
                        help="sigmas of the accuracy/yield-vs-sigma figure ('none' to skip)")
    parser.add_argument("--tune", action="store_true", help="run signature-driven threshold tuning")
    parser.add_argument("--train-instances", type=int, default=30, metavar="M",
                        help="instances (other seeds) that train the tuning regressors (default 30)")
    parser.add_argument("--signature-images", type=int, default=50, metavar="K",
                        help="images in the response signature (default 50)")
    parser.add_argument("--tuning-images", type=int, default=400, metavar="K",
                        help="training images the offline threshold optimiser scores on (default 400)")
    parser.add_argument("--guard", type=float, default=0.0, metavar="G",
                        help="tune instances predicted below spec + G (default 0)")
    parser.add_argument("--compare", action="store_true",
                        help="compare every strategy on the same instances: no tuning, global factor, regressed "
                             "factors screened / every chip, per-die ADC recalibration alone / with the regressed "
                             "factors, and the oracle (an upper bound searched on the test images); "
                             "trains a tuner on --train-instances other seeds (docs/rram.md section 7)")
    parser.add_argument("--sensitivity", metavar="AXIS=V1,V2;...",
                        help="the comparison's yields along each axis: sigma (device-to-device), array_sigma "
                             "(crossbar-to-crossbar) and stuck (stuck-at rate, each of on and off), e.g. "
                             "'sigma=0,0.2,0.4;stuck=0,0.01'; a tuner is trained at every point")
    parser.add_argument("--sensitivity-instances", type=int, metavar="N",
                        help="held-out instances per sensitivity point: the first N of the study's "
                             "(default: all --instances)")
    parser.add_argument("--factor-step", type=float, default=0.05, metavar="S",
                        help="--compare / --sensitivity: step of the threshold-factor grid 0.5..1.5 searched by the "
                             "offline optimiser and the oracle (default 0.05; 0.1 halves the search)")
    parser.add_argument("--oracle-rounds", type=int, default=2, metavar="R",
                        help="--compare / --sensitivity: coordinate-search rounds of the oracle (default 2)")
    parser.add_argument("--cap-g-on", action="store_true",
                        help="cap programmed conductances at G_on after the device variation (off by default, "
                             "chip-spec 7.1 as written; docs/rram.md section 2)")
    parser.add_argument("--levels", type=int, metavar="L",
                        help="conductance levels per cell, 2..1025 (default: the chip's; the rram preset has 129)")
    parser.add_argument("--workers", type=int, metavar="W", help="threads (default: CPU count)")
    parser.add_argument("--scheduler", metavar="threads|local[:N]|tcp://HOST:PORT", help=SCHEDULER_HELP)
    parser.add_argument("-o", "--outdir", default=DEFAULT_OUTDIR, metavar="DIR",
                        help=f"output folder (default {DEFAULT_OUTDIR})")
    parser.add_argument("--json", action="store_true", help="print yield.json on stdout instead of the table")
    parser.add_argument("--no-figures", action="store_true", help="do not draw PNG figures")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages or bars")


def _parse_sigmas(text: str) -> list[float]:
    if text.strip().lower() in ("none", "off", ""):
        return []
    try:
        values = sorted({float(v) for v in text.split(",")})
    except ValueError:
        raise InputError(f"--sweep {text!r}: expected comma-separated sigmas, e.g. 0,0.1,0.2") from None
    if not all(math.isfinite(v) for v in values) or values[0] < 0 or values[-1] > MAX_SIGMA:
        raise InputError(f"--sweep {text!r}: sigmas must be in 0..{MAX_SIGMA:g}")
    return values


def _parse_sensitivity(text: str | None) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """``--sensitivity 'sigma=0,0.2;stuck=0,0.01'`` -> ``(("sigma", (0.0, 0.2)), ("stuck", (0.0, 0.01)))``."""
    from hwsim.rram.strategies import SENSITIVITY_AXES

    if text is None:
        return ()
    allowed = ", ".join(SENSITIVITY_AXES)
    out: dict[str, tuple[float, ...]] = {}
    for part in [p for p in text.split(";") if p.strip()]:
        axis, eq, values = part.partition("=")
        axis = axis.strip()
        if not eq or axis not in SENSITIVITY_AXES:
            raise InputError(f"--sensitivity {text!r}: expected AXIS=V1,V2,... separated by ';' with AXIS one of "
                             f"{allowed}; got {part.strip()!r}")
        if axis in out:
            raise InputError(f"--sensitivity {text!r}: axis {axis} given twice")
        try:
            vals = sorted({float(v) for v in values.split(",")})
        except ValueError:
            raise InputError(f"--sensitivity {text!r}: {axis} needs comma-separated numbers, e.g. "
                             f"{axis}=0,0.1,0.2") from None
        top = 0.5 if axis == "stuck" else MAX_SIGMA  # stuck-on + stuck-off rates must stay a probability
        if not all(math.isfinite(v) for v in vals) or vals[0] < 0 or vals[-1] > top:
            raise InputError(f"--sensitivity {text!r}: {axis} values must be in 0..{top:g}")
        out[axis] = tuple(vals)
    if not out:
        raise InputError(f"--sensitivity {text!r}: expected at least one AXIS=V1,V2,... ({allowed})")
    return tuple(out.items())


def _say(args, message: str, t0: float) -> None:
    if not args.quiet:
        print(f"[{time.perf_counter() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)


@contextmanager
def _bar(args, total: int, desc: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr (none with --quiet); yields its ``update``."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="chip", disable=args.quiet, file=sys.stderr, leave=False) as bar:
        yield bar.update


def _check_args(args) -> list[float]:
    """Every option, before anything is loaded; returns the sigmas of ``--sweep``."""
    check_int("--instances", args.instances, 1, MAX_INSTANCES)
    if not 0.0 <= args.spec <= 1.0:
        raise InputError(f"--spec {args.spec}: expected an accuracy in 0..1")
    for option, sigma in (("--sigma", args.sigma), ("--array-sigma", args.array_sigma)):
        if sigma is not None and not 0.0 <= sigma <= MAX_SIGMA:
            raise InputError(f"{option} {sigma}: expected 0..{MAX_SIGMA:g}")
    tunes = args.tune or args.compare or args.sensitivity is not None
    if tunes:
        check_int("--train-instances", args.train_instances, 3, MAX_TRAIN_INSTANCES)
    check_int("--sensitivity-instances", args.sensitivity_instances, 1, MAX_INSTANCES)
    if args.sensitivity_instances is not None and args.sensitivity is None:
        raise InputError("--sensitivity-instances needs --sensitivity")
    if args.sensitivity_instances is not None and args.sensitivity_instances > args.instances:
        raise InputError(f"--sensitivity-instances {args.sensitivity_instances}: at most --instances "
                         f"({args.instances}); the sensitivity points use the study's first instances")
    check_int("--levels", args.levels, 2, 1025)
    check_int("--oracle-rounds", args.oracle_rounds, 1, 100)
    from hwsim.rram.tuning import factor_grid

    try:
        factor_grid(args.factor_step)
    except InputError as e:
        raise InputError(f"--factor-step: {e}") from None
    check_int("--signature-images", args.signature_images, 1, 2**31 - 1)
    check_int("--tuning-images", args.tuning_images, 1, 2**31 - 1)
    if not -1.0 <= args.guard <= 1.0:
        raise InputError(f"--guard {args.guard}: expected an accuracy margin in -1..1")
    check_int("--workers", args.workers, 1, MAX_WORKERS)
    check_int("--limit", args.limit, 1, 2**31 - 1)
    check_int("--timesteps", args.timesteps, 1, MAX_TIMESTEPS)
    check_seed("--seed", args.seed)
    # the instances are seeds SEED..SEED+N-1 and the tuner's SEED+N..SEED+N+M-1: all must be valid seeds
    last = args.seed + args.instances - 1 + (args.train_instances if tunes else 0)
    if last > MAX_SEED:
        raise InputError(f"--seed {args.seed} with {args.instances} instances reaches seed {last}; "
                         f"seeds must stay in 0..{MAX_SEED}")
    check_input_file("--net", args.net)
    check_name_or_file("--chip", args.chip)
    check_data_dir(args.data_dir)
    check_scheduler(args.scheduler, args.workers)
    return _parse_sigmas(args.sweep), _parse_sensitivity(args.sensitivity)


def _study_chip(args):
    """The chip of ``--chip`` with the ``--sigma`` / ``--array-sigma`` overrides."""
    import dataclasses

    from hwsim.config import load_chip_config
    from hwsim.rram.device import rram_config_of

    chip = load_chip_config(args.chip)
    cfg = rram_config_of(chip)  # refuses a chip with digital cores, naming it
    changes = {}
    if args.sigma is not None:
        changes.update(variation=args.sigma > 0, variation_sigma=args.sigma)
    if args.array_sigma is not None:
        changes.update(array_variation=args.array_sigma > 0, array_sigma=args.array_sigma)
    if args.levels is not None:
        changes.update(levels=args.levels)
    if changes:
        chip = chip.replace(rram=dataclasses.replace(cfg, **changes))
    return chip


def _load_dataset(args, program, net, settings):
    """The dataset of ``--dataset``, checked against the program and the study's need for training images."""
    from hwsim.datasets import load_dataset
    from hwsim.rram.yield_study import training_images_needed

    ds = load_dataset(args.dataset, args.data_dir)
    if ds.x_test.shape[1] != program.n_inputs:
        raise InputError(f"dataset {args.dataset} has {ds.x_test.shape[1]} pixels; the network has "
                         f"{program.n_inputs} inputs (pass a matching --net)")
    check_outputs_match_classes(net.n_outputs, ds)
    need = training_images_needed(ds.x_train.shape[0], settings)
    if need > ds.x_train.shape[0]:
        raise InputError(f"--signature-images + --tuning-images need {need} training images; "
                         f"{args.dataset} has {ds.x_train.shape[0]}")
    return ds


def run(args: argparse.Namespace) -> int:
    from hwsim.outdir import check_outdir

    t0 = time.perf_counter()
    sigmas, sensitivity = _check_args(args)
    # fail before the simulation, not after: a file, a folder holding anything but an earlier yield study, or
    # one that holds an input (replacing it would delete the input)
    outdir = check_outdir(args.outdir, YIELD_FILE,
                          inputs=input_paths(args, {"--net": "net", "--chip": "chip", "--data-dir": "data_dir"}))
    # the executor before any work: an unreachable cluster fails first
    with task_pool(args.scheduler, threads=args.workers) as pool:
        return _run(args, sigmas, sensitivity, outdir, pool, t0)


def _run(args, sigmas: list[float], sensitivity, outdir, pool, t0: float) -> int:
    from hwsim.outdir import atomic_outdir
    from hwsim.rram.figures import study_figures
    from hwsim.rram.yield_study import YieldStudySettings, run_yield_study

    chip = _study_chip(args)
    net, net_name = load_network(args.net, chip, lambda message: _say(args, message, t0))
    settings = YieldStudySettings(
        instances=args.instances, spec=args.spec, timesteps=network_timesteps(net.metadata, args.timesteps),
        encoding=str(net.metadata.get("encoding", "rate") or "rate"), seed=args.seed, sigmas=tuple(sigmas),
        tune=args.tune, train_instances=args.train_instances, signature_images=args.signature_images,
        tuning_images=args.tuning_images, guard=args.guard, workers=args.workers,
        scheduler=args.scheduler, compare=args.compare, sensitivity=sensitivity,
        sensitivity_instances=args.sensitivity_instances, cap_g_on=args.cap_g_on, oracle_rounds=args.oracle_rounds,
        factor_step=args.factor_step,
    )
    _say(args, f"mapping {'-'.join(map(str, net.sizes))} onto {chip.name} ({chip.core_type})", t0)
    program = map_with_messages("yield", net, chip)
    ds = _load_dataset(args, program, net, settings)

    study = run_yield_study(program, ds.x_test[: args.limit], ds.y_test[: args.limit], ds.x_train, ds.y_train,
                            settings, say=lambda message: _say(args, message, t0),
                            bar=lambda total, desc: _bar(args, total, desc), pool=pool)
    data = study.to_dict(network=net_name, sizes=net.sizes, dataset=args.dataset)
    # the whole folder at once: a temporary folder next to it replaces it when every file is written, so
    # no file of an earlier study survives beside the new yield.json, and a failure leaves the old folder
    _say(args, f"writing {outdir}/", t0)
    with atomic_outdir(outdir, YIELD_FILE) as tmp:
        (tmp / YIELD_FILE).write_bytes(json.dumps(data, indent=1, allow_nan=False).encode())
        if not args.no_figures:
            study_figures(tmp, study)
    if args.json:
        json.dump(data, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(data))
        sys.stdout.write(f"\nwrote {outdir}/: {', '.join(sorted(p.name for p in outdir.iterdir()))}\n")
    _say(args, "done", t0)
    return 0


def render_table(data: dict) -> str:
    """Markdown summary of a ``yield.json`` (numbers are read, never computed, here)."""
    s, e = data["summary"], data["energy"]
    rram = data["chip"]["rram"]
    lines = [
        f"# RRAM yield: {data['network']} ({'-'.join(map(str, data['sizes']))}) on {data['chip']['name']}, "
        f"{data['dataset']} ({data['test_images']} test images, T={data['timesteps']})",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| instances (seeds {data['seeds'][0]}..{data['seeds'][1]}) | {s['instances']} |",
        f"| device sigma / array sigma | {rram['variation_sigma']:g} / {rram['array_sigma']:g} |",
        f"| ideal-chip accuracy | {data['ideal_accuracy']:.4f} |",
        f"| accuracy mean ± std | {s['mean']:.4f} ± {s['std']:.4f} |",
        f"| accuracy min / p10 / median / p90 / max | {s['min']:.4f} / {s['p10']:.4f} / {s['median']:.4f} / "
        f"{s['p90']:.4f} / {s['max']:.4f} |",
        f"| spec | accuracy >= {data['spec']:g} |",
        f"| yield | {s['yield']:.3f} ({s['instances'] - s['out_of_spec']}/{s['instances']}) |",
        f"| energy per image (instance 0) | {e['energy_nj_per_image']:.3f} nJ "
        f"(crossbar {100 * e['crossbar_share']:.0f} %) |",
        f"| latency per image | {e['latency_us_per_image']:.3f} us |",
    ]
    sw = data.get("sweep")
    if sw:
        lines += ["", "| sigma | mean accuracy | p10 | yield |", "| --- | --- | --- | --- |"]
        for k, sig in enumerate(sw["sigmas"]):
            lines.append(f"| {sig:g} | {sw['mean_accuracy'][k]:.4f} | {sw['p10_accuracy'][k]:.4f} | "
                         f"{sw['yield'][k]:.3f} |")
    t = data.get("tuning")
    if t:
        corr = "n/a" if t["prediction_corr"] is None else f"{t['prediction_corr']:.2f}"
        # no out-of-spec device before tuning: a relative change is undefined; "+ 0.0" turns -0.0 into 0.0
        change = ("n/a" if t["out_of_spec_before"] == 0
                  else f"{-100 * t['out_of_spec_reduction'] + 0.0:+.1f} %")
        lines += [
            "",
            f"Signature-driven tuning ({t['train_instances']} training instances, {t['signature_images']} "
            f"signature images, knobs on layers {t['tunable_stages']}):",
            "",
            "| | before tuning | after tuning | change |",
            "| --- | --- | --- | --- |",
            f"| out-of-spec devices | {t['out_of_spec_before']} | {t['out_of_spec_after']} | {change} |",
            f"| yield | {100 * t['yield_before']:.1f} % | {100 * t['yield_after']:.1f} % | "
            f"{100 * t['yield_gain']:+.1f} points |",
            f"| mean accuracy | {t['mean_accuracy_before']:.4f} | {t['mean_accuracy_after']:.4f} | "
            f"{t['mean_accuracy_after'] - t['mean_accuracy_before']:+.4f} |",
            "",
            f"Alternative test: accuracy predicted from the signature with RMSE {t['prediction_rmse']:.4f}, "
            f"correlation {corr}; {t['tuned']} tuned ({t['tuned_recovered']} recovered, {t['tuned_broken']} "
            f"pushed out of spec), {t['test_escapes']} test escapes, {t['overkill']} tuned although in spec.",
        ]
    lines += _comparison_lines(data)
    return "\n".join(lines) + "\n"


def _pct(x) -> str:
    return "n/a" if x is None else f"{-100 * x + 0.0:+.0f} %"


def _comparison_lines(data: dict) -> list[str]:
    """The strategy table and the sensitivity yields of a ``yield.json`` (numbers read, not computed)."""
    lines: list[str] = []
    c = data.get("comparison")
    if c:
        lines += [
            "",
            f"Strategies on the same {c['instances']} held-out instances (seeds {c['seeds'][0]}..{c['seeds'][1]}; "
            f"tuner trained on seeds {c['train_seeds'][0]}..{c['train_seeds'][1]}; spec {c['spec']:g}, "
            f"guard {c['guard']:g}):",
            "",
            "| strategy | yield | out-of-spec chips | change in out-of-spec | yield change | mean accuracy |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in c["table"]:
            lines.append(f"| {r['label']} | {100 * r['yield']:.1f} % | {r['out_of_spec']} | "
                         f"{_pct(r['out_of_spec_reduction'])} | {100 * r['yield_gain']:+.1f} points | "
                         f"{r['mean_accuracy']:.4f} |")
        lines += ["", f"Screening tuned {c['tuned_by_screening']} of {c['instances']}; accuracy predicted from the "
                      f"signature with RMSE {c['prediction_rmse_held_out']:.4f} on held-out chips "
                      f"({c['prediction_rmse_train_fit']:.4f} on the training chips it was fitted to)."]
    s = data.get("sensitivity")
    if s:
        for axis, point in s["axes"].items():
            lines += ["", f"Yield vs {axis} ({s['instances']} held-out instances per point):", "",
                      "| strategy | " + " | ".join(f"{v:g}" for v in point["values"]) + " |",
                      "| --- |" + " --- |" * len(point["values"])]
            for name, ys in point["yield"].items():
                lines.append(f"| {name} | " + " | ".join(f"{100 * y:.0f} %" for y in ys) + " |")
    return lines

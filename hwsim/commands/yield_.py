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

Outputs in ``-o DIR``: ``yield.json`` (every number, per instance),
``accuracy_hist.png``, ``yield_vs_sigma.png`` and, with ``--tune``, ``tuning.png``.
The folder is written as a whole (a temporary folder renamed when complete,
as ``hwsim run``): an existing ``DIR`` is replaced only if it holds an earlier
``yield.json``, and is left untouched if the run fails. No input (``--net``,
``--chip``, ``--data-dir``) may lie inside ``DIR``: that run is refused before
any work, naming both paths.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

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
    parser.add_argument("--workers", type=int, metavar="W", help="threads (default: CPU count)")
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


def _say(args, message: str, t0: float) -> None:
    if not args.quiet:
        print(f"[{time.perf_counter() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)


def _bar(args, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="chip", disable=args.quiet, file=sys.stderr, leave=False)


def _clean(x):
    """JSON-safe: NaN/inf to None, NumPy scalars to Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _check_args(args) -> list[float]:
    """Every option, before anything is loaded; returns the sigmas of ``--sweep``."""
    check_int("--instances", args.instances, 1, MAX_INSTANCES)
    if not 0.0 <= args.spec <= 1.0:
        raise InputError(f"--spec {args.spec}: expected an accuracy in 0..1")
    for option, sigma in (("--sigma", args.sigma), ("--array-sigma", args.array_sigma)):
        if sigma is not None and not 0.0 <= sigma <= MAX_SIGMA:
            raise InputError(f"{option} {sigma}: expected 0..{MAX_SIGMA:g}")
    if args.tune:
        check_int("--train-instances", args.train_instances, 3, MAX_TRAIN_INSTANCES)
    check_int("--signature-images", args.signature_images, 1, 2**31 - 1)
    check_int("--tuning-images", args.tuning_images, 1, 2**31 - 1)
    if not -1.0 <= args.guard <= 1.0:
        raise InputError(f"--guard {args.guard}: expected an accuracy margin in -1..1")
    check_int("--workers", args.workers, 1, MAX_WORKERS)
    check_int("--limit", args.limit, 1, 2**31 - 1)
    check_int("--timesteps", args.timesteps, 1, MAX_TIMESTEPS)
    check_seed("--seed", args.seed)
    # the instances are seeds SEED..SEED+N-1 and the tuner's SEED+N..SEED+N+M-1: all must be valid seeds
    last = args.seed + args.instances - 1 + (args.train_instances if args.tune else 0)
    if last > MAX_SEED:
        raise InputError(f"--seed {args.seed} with {args.instances} instances reaches seed {last}; "
                         f"seeds must stay in 0..{MAX_SEED}")
    check_input_file("--net", args.net)
    check_name_or_file("--chip", args.chip)
    check_data_dir(args.data_dir)
    return _parse_sigmas(args.sweep)


def run(args: argparse.Namespace) -> int:
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.outdir import atomic_outdir, check_outdir
    from hwsim.rram.device import program_chip, rram_config_of
    from hwsim.rram.energy import rram_energy
    from hwsim.rram.engine import calibrate_on_images, calibration_count, run_rram
    from hwsim.rram.yield_study import (
        accuracy_summary,
        instance_accuracies,
        instance_seeds,
        sigma_sweep,
        with_rram,
    )

    t0 = time.perf_counter()
    sweep = _check_args(args)
    # fail before the simulation, not after: a file, a folder holding anything but an earlier yield study, or
    # one that holds an input (replacing it would delete the input)
    outdir = check_outdir(args.outdir, YIELD_FILE,
                          inputs=input_paths(args, {"--net": "net", "--chip": "chip", "--data-dir": "data_dir"}))
    chip = load_chip_config(args.chip)
    cfg = rram_config_of(chip)
    changes = {}
    if args.sigma is not None:
        changes.update(variation=args.sigma > 0, variation_sigma=args.sigma)
    if args.array_sigma is not None:
        changes.update(array_variation=args.array_sigma > 0, array_sigma=args.array_sigma)
    if changes:
        import dataclasses

        cfg = dataclasses.replace(cfg, **changes)
        chip = chip.replace(rram=cfg)

    net, net_name = load_network(args.net, chip, lambda message: _say(args, message, t0))
    T = network_timesteps(net.metadata, args.timesteps)
    encoding = str(net.metadata.get("encoding", "rate") or "rate")
    _say(args, f"mapping {'-'.join(map(str, net.sizes))} onto {chip.name} ({chip.core_type})", t0)
    program = map_with_messages("yield", net, chip)

    ds = load_dataset(args.dataset, args.data_dir)
    if ds.x_test.shape[1] != program.n_inputs:
        raise InputError(f"dataset {args.dataset} has {ds.x_test.shape[1]} pixels; the network has "
                         f"{program.n_inputs} inputs (pass a matching --net)")
    check_outputs_match_classes(net.n_outputs, ds)
    x_test, y_test = ds.x_test[: args.limit], ds.y_test[: args.limit]
    # training split: calibration | signature | tuning images, disjoint, in this order
    n_cal = calibration_count(ds.x_train.shape[0])
    need = n_cal + (args.signature_images + args.tuning_images if args.tune else 0)
    if need > ds.x_train.shape[0]:
        raise InputError(f"--signature-images + --tuning-images need {need} training images; "
                         f"{args.dataset} has {ds.x_train.shape[0]}")
    x_train = ds.x_train[:need]
    test_r = encode(x_test, T, encoding, 1, 0)
    train_r = encode(x_train, T, encoding, 0, 0)

    _say(args, f"calibrating ADC scales on {n_cal} training images (ideal chip)", t0)
    scales = calibrate_on_images(program, ds.x_train, T, encoding)
    seeds = instance_seeds(args.instances, args.seed)

    with _bar(args, len(seeds), "instances") as bar:
        acc = instance_accuracies(program, test_r, y_test, seeds, adc_scales=scales, workers=args.workers,
                                  progress=bar.update)
    ideal_prog = with_rram(program, **{f: False for f in ("variation", "array_variation", "read_noise",
                                                          "stuck_faults", "finite_on_off", "ir_drop")})
    ideal_acc = instance_accuracies(ideal_prog, test_r, y_test, [0], adc_scales=scales)[0]
    summary = accuracy_summary(acc, args.spec)

    _say(args, "energy and latency of instance 0", t0)
    energy = rram_energy(run_rram(program_chip(program, seeds[0], adc_scales=scales), test_r), program)

    sweep_res = None
    if sweep:
        with _bar(args, len(seeds) * len(sweep), "sigma sweep") as bar:
            sweep_res = sigma_sweep(with_rram(program, variation=True), test_r, y_test, sweep, seeds,
                                    adc_scales=scales, workers=args.workers, progress=bar.update)

    tuning = None
    outcomes = []
    if args.tune:
        from hwsim.rram.tuning import screen_and_tune, signature_names, train_tuner, tunable_stages, tuning_summary

        sig_set = (train_r[n_cal : n_cal + args.signature_images], ds.y_train[n_cal : n_cal + args.signature_images])
        lo = n_cal + args.signature_images
        tune_set = (train_r[lo : lo + args.tuning_images], ds.y_train[lo : lo + args.tuning_images])
        train_seeds = instance_seeds(args.train_instances, args.seed + args.instances)
        _say(args, f"training the tuner on {len(train_seeds)} instances "
                   f"(seeds {train_seeds[0]}..{train_seeds[-1]})", t0)
        with _bar(args, len(train_seeds), "train tuner") as bar:
            model = train_tuner(program, train_seeds, sig_set, tune_set, (test_r, y_test), adc_scales=scales,
                                workers=args.workers, progress=bar.update)
        with _bar(args, len(seeds), "test + tune") as bar:
            outcomes = screen_and_tune(model, program, seeds, sig_set, (test_r, y_test), args.spec,
                                       adc_scales=scales, guard=args.guard, workers=args.workers,
                                       progress=bar.update)
        tuning = tuning_summary(outcomes, args.spec)
        tuning.update(
            train_instances=len(train_seeds),
            train_seeds=[train_seeds[0], train_seeds[-1]],
            signature_images=args.signature_images,
            tuning_images=args.tuning_images,
            guard=args.guard,
            tunable_stages=tunable_stages(program),
            signature_features=signature_names(program),
            train_mean_factors=model.train_factors.mean(axis=0).tolist(),
            train_accuracy_mean=float(model.train_accuracy.mean()),
        )

    result = {
        "format": "hwsim-yield",
        "version": 1,
        "network": net_name,
        "sizes": net.sizes,
        "chip": chip.to_dict(),
        "dataset": args.dataset,
        "test_images": int(len(y_test)),
        "timesteps": T,
        "encoding": encoding,
        "spec": args.spec,
        "seeds": [seeds[0], seeds[-1]],
        "adc_scales": list(scales),
        "ideal_accuracy": float(ideal_acc),
        "summary": summary,
        "accuracies": acc.tolist(),
        "energy": energy.to_dict(),
        "sweep": sweep_res.to_dict(args.spec) if sweep_res is not None else None,
        "tuning": tuning,
        "instances_tuned": [o.to_dict() for o in outcomes],
    }
    data = _clean(result)
    # the whole folder at once: a temporary folder next to it replaces it when every file is written, so
    # no file of an earlier study survives beside the new yield.json, and a failure leaves the old folder
    _say(args, f"writing {outdir}/", t0)
    with atomic_outdir(outdir, YIELD_FILE) as tmp:
        (tmp / YIELD_FILE).write_bytes(json.dumps(data, indent=1, allow_nan=False).encode())
        if not args.no_figures:
            from hwsim.rram import figures

            figures.accuracy_histogram(
                tmp / "accuracy_hist.png", acc, args.spec, ideal_acc,
                after=np.array([o.accuracy_after for o in outcomes]) if outcomes else None,
                title=f"{args.instances} {chip.name} instances, sigma={cfg.variation_sigma:g}, "
                      f"array sigma={cfg.array_sigma:g}")
            if sweep_res is not None:
                figures.yield_vs_sigma(tmp / "yield_vs_sigma.png", sweep_res, args.spec)
            if outcomes:
                figures.tuning_figure(tmp / "tuning.png", outcomes, args.spec)
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
    return "\n".join(lines) + "\n"

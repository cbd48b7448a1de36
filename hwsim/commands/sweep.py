"""``hwsim sweep``: design-space exploration. Every point of a grid of network and chip parameters is mapped,
simulated and reported: accuracy, nJ/image, latency, throughput; the Pareto fronts are marked.

Examples::

    hwsim sweep --grid "lanes=8,16,32;w_bits=4,8;v_bits=12,16;timesteps=4,8" -o sweep-out
    hwsim sweep --net my_net.npz --chip small --grid "mesh_rows=1,2;exit=none,confidence:0.9" --limit 200
    hwsim sweep --grid "clock_mhz=100,200,400;hop_latency_cycles=1,4" --scheduler local:2 -o s --resume

``--grid`` is ``NAME=V1,V2,...`` items separated by ``;``; the points are every combination, in the grid's
order (the last name varies fastest). Sweepable (:data:`PARAMETERS`):

- network side: ``timesteps``, ``encoding`` (rate, threshold, latency), ``exit`` (an early-exit rule,
  ``none`` / ``margin:M`` / ``confidence:ALPHA`` / ``entropy:H``, chip-spec §1.4);
- chip side: ``mesh_rows``, ``mesh_cols``, ``clock_mhz``, ``hop_latency_cycles``, ``barrier_cycles``, ``voltage_v``,
  ``noc`` (``ideal`` / ``mesh``, chip-spec §1.5; ``--noc`` sets it for every point) and ``router_buffer_flits``;
- core side: ``axons``, ``neurons``, ``lanes``, ``w_bits``, ``v_bits``.

Weight and membrane widths: a network file holds integers quantized for one ``w_bits`` / ``v_bits`` (its
metadata). When the grid sweeps ``w_bits`` or ``v_bits``, the network is re-quantized at every point for that
point's chip widths (the base chip's for the one not swept; unchanged where both are the network's own) after
training (:func:`requantize_network`): each layer's float weights are rebuilt as ``scale * W_int`` (the per-layer
scales of its metadata) and quantized again for the point's widths with the training's own rule
(:func:`hwsim.training.quantize.quantize_layer`: hidden thresholds kept exact in float units, round half to
even, clipped). That is post-training quantization of the stored integers, not quantization-aware
re-training: below the trained width it loses accuracy that QAT at that width might keep, and above it adds
no information. A network without per-layer scales, or with sparse (convolution) layers, is not
re-quantized: its integers run as they are, and points they do not fit are listed with the design rule
(``weights_fit_w_bits``, ``bias_fit_v_bits``, ``threshold_in_range``).

Points that break a design rule are listed with the rule (status ``drc``), a combination the chip
configuration refuses (e.g. ``lanes`` not dividing ``neurons``) with status ``invalid``; neither is dropped.
Mapping runs here, point by point; the simulations run on the executor of ``--scheduler``
(:mod:`hwsim.parallel`), each point as one task that gets the program as plain data and returns numbers, so
the results are the same bits under every scheduler.

Outputs in ``-o DIR``: ``sweep.csv``, ``sweep.json`` and ``pareto.png`` (energy against accuracy, latency
against energy, frontiers marked). Each point's result is stored as it finishes, atomically, in
``DIR/sweep-points/KEY.json`` (KEY: a hash of the point, the network, the base chip, the dataset, the image
count and the seed); ``--resume`` re-uses them after an interruption. ``sweep.json`` is written last, so it
exists only for a complete sweep (a run first removes an earlier one). ``DIR`` must be empty or hold an
earlier sweep, and may not hold an input.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from hwsim.commands.run import add_noc_argument, with_noc
from hwsim.commands.common import (
    check_data_dir,
    check_input_file,
    check_int,
    check_name_or_file,
    check_outputs_match_classes,
    check_positive_float,
    check_seed,
    input_paths,
    load_network,
    network_timesteps,
)
from hwsim.errors import InputError
from hwsim.limits import MAX_TIMESTEPS, MAX_WORKERS
from hwsim.parallel import SCHEDULER_HELP, check_scheduler, program_from_wire, program_to_wire, task_pool

__all__ = [
    "add_arguments",
    "run",
    "PARAMETERS",
    "parse_grid",
    "grid_points",
    "requantize_network",
    "pareto_front",
    "DEFAULT_OUTDIR",
    "SWEEP_FILE",
    "POINTS_DIR",
]

DEFAULT_OUTDIR = "hwsim-sweep"
SWEEP_FILE = "sweep.json"  # written last: exists only for a complete sweep
POINTS_DIR = "sweep-points"  # per-point results (the --resume store); marks a sweep folder from the start
SWEEP_FORMAT = "hwsim-sweep"
POINT_FORMAT = "hwsim-sweep-point"
FORMAT_VERSION = 1
MAX_POINTS = 10_000

# name -> (side, type, lo, hi): "network" options of the run, "chip" fields of ChipConfig, "core" of CoreConfig.
# The ranges are those of the config classes (hwsim/config.py); a combination they refuse is a listed point.
PARAMETERS: dict[str, tuple[str, type, float | None, float | None]] = {
    "timesteps": ("network", int, 1, MAX_TIMESTEPS),
    "encoding": ("network", str, None, None),
    "exit": ("network", str, None, None),
    "mesh_rows": ("chip", int, 1, 64),
    "mesh_cols": ("chip", int, 1, 64),
    "clock_mhz": ("chip", float, 1, 5000),
    "hop_latency_cycles": ("chip", int, 0, 64),
    "barrier_cycles": ("chip", int, 0, 1024),
    "voltage_v": ("chip", float, 0.3, 1.5),
    "noc": ("chip", str, None, None),
    "router_buffer_flits": ("chip", int, 1, 64),
    "axons": ("core", int, 1, 4096),
    "neurons": ("core", int, 1, 4096),
    "lanes": ("core", int, 1, 4096),
    "w_bits": ("core", int, 2, 16),
    "v_bits": ("core", int, 4, 32),
}

# the numbers of a point's report that the sweep keeps (report.json keys)
RESULT_KEYS = ("accuracy", "energy_nj_per_image", "latency_us_per_image", "throughput_images_per_s",
               "sops_per_image", "timesteps", "avg_timesteps", "accuracy_fixed_t", "energy_nj_per_image_fixed_t",
               "noc_route_cycles_per_image", "noc_stall_cycles_per_image")  # the last two: mesh points only
CSV_RESULT_KEYS = ("accuracy", "energy_nj_per_image", "latency_us_per_image", "throughput_images_per_s",
                   "avg_timesteps")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--net", metavar="FILE", help="network (.npz or .nir); default: the bundled digits network")
    parser.add_argument("--chip", default="default_28nm", metavar="NAME|FILE",
                        help="base chip preset or .toml file (default default_28nm); the grid changes its fields")
    add_noc_argument(parser)
    parser.add_argument("--grid", required=True, metavar="NAME=V1,V2;...",
                        help="the parameters and their values, e.g. 'lanes=8,16,32;w_bits=4,8;timesteps=4,8'; "
                        f"allowed names: {', '.join(PARAMETERS)}")
    parser.add_argument("--dataset", default="digits", choices=("digits", "mnist", "fashion-mnist"),
                        help="dataset (default digits)")
    parser.add_argument("--data-dir", metavar="D", help="folder with the MNIST / Fashion-MNIST IDX files")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N test images")
    parser.add_argument("--seed", type=int, default=0, help="input encoder seed (default 0)")
    parser.add_argument("--exit-scale", type=float, metavar="S",
                        help="for exit rules confidence and entropy: logit units per integer step of the output "
                        "layer (default: the network's scales[-1]; a spike-count readout needs it)")
    parser.add_argument("--scheduler", metavar="threads|local[:N]|tcp://HOST:PORT", help=SCHEDULER_HELP)
    parser.add_argument("--workers", type=int, metavar="W", help="threads of the default scheduler (default: CPUs)")
    parser.add_argument("-o", "--outdir", default=DEFAULT_OUTDIR, metavar="DIR",
                        help=f"output folder (default {DEFAULT_OUTDIR})")
    parser.add_argument("--resume", action="store_true",
                        help=f"re-use the points already finished in DIR/{POINTS_DIR}/ (after an interruption)")
    parser.add_argument("--json", action="store_true", help="print sweep.json on stdout instead of the table")
    parser.add_argument("--no-figures", action="store_true", help="do not draw pareto.png")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages or bars")


# ------------------------------------------------------------------ the grid

def _value(name: str, text: str):
    side, kind, lo, hi = PARAMETERS[name]
    t = text.strip()
    if name == "encoding":
        from hwsim.encoding import ENCODINGS

        if t not in ENCODINGS:
            raise InputError(f"--grid: encoding={t!r}: allowed {', '.join(ENCODINGS)}")
        return t
    if name == "noc":
        from hwsim.config import NOC_MODELS

        if t not in NOC_MODELS:
            raise InputError(f"--grid: noc={t!r}: allowed {', '.join(NOC_MODELS)}")
        return t
    if name == "exit":
        from hwsim.report.early_exit import check_exit_texts

        try:
            check_exit_texts(t, None)
        except InputError as exc:
            raise InputError(f"--grid: exit={t!r}: {str(exc).removeprefix('--exit: ')}") from None
        return t
    try:
        value = kind(t)
    except ValueError:
        value = None
    if value is None or (kind is float and not math.isfinite(value)):
        raise InputError(f"--grid: {name}={t!r}: expected {'an integer' if kind is int else 'a number'} in "
                         f"{lo:g}..{hi:g}")
    if not lo <= value <= hi:
        raise InputError(f"--grid: {name}={t!r}: expected {lo:g}..{hi:g}")
    return value


def parse_grid(text: str) -> dict[str, list]:
    """``NAME=V1,V2;NAME=...`` -> ``{name: [values]}`` in the grid's order.

    Raises:
        InputError: an unknown name (the allowed names are listed), a repeated name, a value of the wrong type
            or out of range, an empty item, or more than :data:`MAX_POINTS` points.
    """
    grid: dict[str, list] = {}
    items = [item for item in text.split(";") if item.strip()]
    if not items:
        raise InputError(f"--grid {text!r}: expected NAME=V1,V2,... items separated by ';', "
                         f"e.g. 'lanes=8,16;timesteps=4,8'")
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--grid: {item.strip()!r}: expected NAME=V1,V2,...")
        if name not in PARAMETERS:
            raise InputError(f"--grid: unknown parameter {name!r}; allowed: {', '.join(PARAMETERS)}")
        if name in grid:
            raise InputError(f"--grid: {name} is given twice")
        texts = [v for v in values.split(",") if v.strip()]
        if not texts:
            raise InputError(f"--grid: {name} has no values")
        parsed = [_value(name, v) for v in texts]
        if len(set(map(str, parsed))) != len(parsed):
            raise InputError(f"--grid: {name} repeats a value ({values.strip()})")
        grid[name] = parsed
    count = math.prod(len(v) for v in grid.values())
    if count > MAX_POINTS:
        raise InputError(f"--grid: {count} points; at most {MAX_POINTS}")
    return grid


def grid_points(grid: dict[str, list]) -> list[dict]:
    """Every combination, the last name varying fastest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]


# ------------------------------------------------------------------ re-quantization

def requantize_network(network, w_bits: int, v_bits: int):
    """The network re-quantized for other widths (post-training, from its integers and per-layer scales).

    Layer ``k``'s float weights and biases are ``scales[k] * W_int``, ``scales[k] * b_int``; its float threshold
    ``scales[k] * threshold`` (a threshold of 0, the output layer's, stays 0). They are quantized again by
    :func:`hwsim.training.quantize.quantize_layer` for ``w_bits`` / ``v_bits``; the metadata records the new
    widths, scales and thresholds and where they came from.

    Returns:
        The network itself when the widths are its own (metadata ``w_bits``, ``v_bits``), else a new network;
        None when it cannot be re-quantized (no per-layer ``scales`` in the metadata, or sparse layers).
    """
    from hwsim.network import Network
    from hwsim.training.quantize import quantize_layer

    meta = network.metadata
    if meta.get("w_bits") == w_bits and meta.get("v_bits") == v_bits:
        return network
    scales = meta.get("scales")
    if (not isinstance(scales, list) or len(scales) != len(network.layers)
            or any(layer.is_sparse for layer in network.layers)):
        return None
    layers, new_scales = [], []
    for layer, scale in zip(network.layers, scales):
        s = float(scale)
        theta = None if layer.threshold == 0 else s * layer.threshold
        q = quantize_layer(layer.weights.astype(np.float64) * s, layer.bias.astype(np.float64) * s,
                           w_bits=w_bits, v_bits=v_bits, theta=theta)
        layers.append(dataclasses.replace(layer, weights=q.weights, bias=q.bias, threshold=q.threshold))
        new_scales.append(q.scale)
    metadata = dict(meta, w_bits=w_bits, v_bits=v_bits, scales=new_scales,
                    requantized_from={"w_bits": meta.get("w_bits"), "v_bits": meta.get("v_bits"),
                                      "method": "post-training, hwsim.training.quantize.quantize_layer"})
    if isinstance(meta.get("thresholds"), list):
        metadata["thresholds"] = [layer.threshold for layer in layers]
    return Network(layers=layers, metadata=metadata)


# ------------------------------------------------------------------ points

def _point_chip(base, point: dict):
    """The base chip with the point's chip and core fields (ConfigError if the combination is refused)."""
    chip_changes = {k: v for k, v in point.items() if PARAMETERS[k][0] == "chip"}
    core_changes = {k: v for k, v in point.items() if PARAMETERS[k][0] == "core"}
    core = dataclasses.replace(base.core, **core_changes) if core_changes else base.core
    return base.replace(core=core, **chip_changes)


def _digest_network(network) -> str:
    h = hashlib.sha256(json.dumps([layer.header() for layer in network.layers]).encode())
    h.update(json.dumps(network.metadata, sort_keys=True, default=str).encode())
    for layer in network.layers:
        w = layer.weights
        parts = [w.data, w.indices, w.indptr] if layer.is_sparse else [w]
        for a in [*parts, layer.bias]:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _point_key(point: dict, context: dict) -> str:
    text = json.dumps({"point": point, **context}, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _prepare(point: dict, network, base_chip, defaults: dict) -> dict:
    """Map one point here: a task for the executor, or the point's listing when it cannot run."""
    import warnings

    from hwsim.errors import ConfigError
    from mapping import map_network
    from mapping.errors import DRCError, MappingError

    settings = {"timesteps": point.get("timesteps", defaults["timesteps"]),
                "encoding": point.get("encoding", defaults["encoding"]),
                "exit": point.get("exit", "none")}
    try:
        chip = _point_chip(base_chip, point)
    except ConfigError as exc:
        return {"status": "invalid", "rule": "config", "message": str(exc)}
    net = network
    notes = []
    if "w_bits" in point or "v_bits" in point:
        requantized = requantize_network(network, chip.core.w_bits, chip.core.v_bits)
        if requantized is None:
            notes.append("not re-quantized (the network has no per-layer scales or has sparse layers): "
                         "its integers run as they are")
        else:
            net = requantized
            if net is not network:
                notes.append(f"re-quantized for w_bits={chip.core.w_bits}, v_bits={chip.core.v_bits}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            program = map_network(net, chip)
    except DRCError as exc:
        return {"status": "drc", "rule": exc.rule, "message": str(exc), "notes": notes}
    except (MappingError, ConfigError) as exc:
        return {"status": "mapping", "rule": "", "message": str(exc), "notes": notes}
    notes += [str(w.message) for w in caught]
    if settings["exit"] != "none":  # a rule the network cannot take is the user's error, not a point's
        from hwsim.report.early_exit import resolve_exit_rules

        try:
            resolve_exit_rules(program.n_outputs, program.readout, settings["exit"], None, defaults["exit_scale"],
                               net.metadata)
        except InputError as exc:
            raise InputError(f"--grid: exit={settings['exit']}: {exc}") from None
    return {"status": "run", "notes": notes, "task": {
        "program": program_to_wire(program), "metadata": net.metadata, **settings}}


def _point_task(shared: dict, task: dict) -> dict:
    """Simulate and report one point (runs on a worker; plain arguments, plain numbers back)."""
    from hwsim.report import evaluate

    program = program_from_wire(task["program"])
    rram = {}
    if program.chip.core_type == "rram":
        rram = {"instance_seed": 0, "calibration_images": shared["train_images"]}
    report = evaluate(program, shared["images"], shared["labels"], timesteps=task["timesteps"],
                      encoding=task["encoding"], seed=shared["seed"], sweep=[], raster_image=None,
                      exit_rule=None if task["exit"] == "none" else task["exit"], exit_scale=shared["exit_scale"],
                      network_metadata=task["metadata"], **rram)
    data = report.to_dict()
    return {k: data[k] for k in RESULT_KEYS if k in data}


def pareto_front(x: np.ndarray, y: np.ndarray, *, maximize_y: bool) -> np.ndarray:
    """Indices of the points no other point dominates (lower ``x``; lower ``y``, or higher with ``maximize_y``),
    by ascending ``x``. Equal points are all on the front."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64) * (-1.0 if maximize_y else 1.0)  # minimise both
    front = []
    for i in range(x.size):
        dominated = (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        if not dominated.any():
            front.append(i)
    return np.array(sorted(front, key=lambda i: (x[i], y[i])), np.int64)


# ------------------------------------------------------------------ the command

def _say(args, message: str, t0: float) -> None:
    if not args.quiet:
        print(f"[{time.perf_counter() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)


_KEY_FILE = re.compile(r"[0-9a-f]{24}\.json")


def _load_point(path: Path, key: str) -> dict | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != POINT_FORMAT or data.get("key") != key:
        return None
    return data


def _store_point(points_dir: Path, row: dict) -> None:
    from hwsim.writers import atomic_write_bytes

    atomic_write_bytes(points_dir / f"{row['key']}.json",
                       json.dumps({"format": POINT_FORMAT, "version": FORMAT_VERSION, **row}, indent=1,
                                  allow_nan=False).encode())


def _start_folder(outdir: Path, resume: bool) -> Path:
    """The points folder; removes an earlier sweep's results (sweep.json first) and, without ``resume``, its
    stored points, so the folder never shows a complete sweep that is not this one."""
    points_dir = outdir / POINTS_DIR
    for name in (SWEEP_FILE, "sweep.csv", "pareto.png"):
        (outdir / name).unlink(missing_ok=True)
    points_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for entry in points_dir.iterdir():
            if _KEY_FILE.fullmatch(entry.name):
                entry.unlink()
    return points_dir


def run(args: argparse.Namespace) -> int:
    from hwsim.outdir import _sigterm_raises, check_outdir

    t0 = time.perf_counter()
    grid = parse_grid(args.grid)
    check_int("--limit", args.limit, 1, 2**31 - 1)
    check_int("--workers", args.workers, 1, MAX_WORKERS)
    check_seed("--seed", args.seed)
    check_positive_float("--exit-scale", args.exit_scale)
    check_input_file("--net", args.net)
    check_name_or_file("--chip", args.chip)
    check_data_dir(args.data_dir)
    scheduler = check_scheduler(args.scheduler, args.workers)
    outdir = check_outdir(args.outdir, POINTS_DIR,
                          inputs=input_paths(args, {"--net": "net", "--chip": "chip", "--data-dir": "data_dir"}))
    # the executor first: an unreachable cluster fails before any work or any change to DIR. SIGTERM raises
    # (as in hwsim.outdir) so that a point file being written is removed, not left half-written
    with _sigterm_raises(), task_pool(scheduler, threads=args.workers) as pool:
        return _run(args, grid, scheduler, outdir, pool, t0)


def _run(args, grid: dict, scheduler, outdir: Path, pool, t0: float) -> int:
    from tqdm import tqdm

    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset

    base_chip = with_noc(load_chip_config(args.chip), args.noc)
    network, net_name = load_network(args.net, base_chip, lambda m: _say(args, m, t0))
    ds = load_dataset(args.dataset, args.data_dir)
    if ds.x_test.shape[1] != network.n_inputs:
        raise InputError(f"dataset {args.dataset} has {ds.x_test.shape[1]} pixels; the network has "
                         f"{network.n_inputs} inputs (pass a matching --net)")
    check_outputs_match_classes(network.n_outputs, ds)
    images, labels = ds.x_test[: args.limit], ds.y_test[: args.limit]
    defaults = {"timesteps": network_timesteps(network.metadata, None),
                "encoding": str(network.metadata.get("encoding", "rate") or "rate"), "exit_scale": args.exit_scale}
    points = grid_points(grid)
    context = {"version": FORMAT_VERSION, "network": _digest_network(network), "chip": base_chip.to_dict(),
               "dataset": args.dataset, "test_images": int(len(labels)), "seed": args.seed,
               "exit_scale": args.exit_scale}
    rows = [{"index": i, "key": _point_key(p, context), "point": p} for i, p in enumerate(points)]

    points_dir = _start_folder(outdir, args.resume)
    reused = 0
    todo: list[tuple[int, dict]] = []
    _say(args, f"{len(points)} points: mapping each onto its chip", t0)
    for row in rows:
        stored = _load_point(points_dir / f"{row['key']}.json", row["key"]) if args.resume else None
        if stored is not None:
            row.update({k: stored[k] for k in ("status", "rule", "message", "notes", "result") if k in stored})
            reused += 1
            continue
        prepared = _prepare(row["point"], network, base_chip, defaults)
        row.update(status=prepared["status"], rule=prepared.get("rule", ""), message=prepared.get("message", ""),
                   notes=prepared.get("notes", []), result=None)
        if prepared["status"] == "run":
            row["status"] = "ok"
            todo.append((row["index"], prepared["task"]))
        else:
            _store_point(points_dir, row)
    if reused:
        _say(args, f"--resume: {reused} finished points re-used from {points_dir}/", t0)

    def finished(i: int, result: dict) -> None:
        row = rows[todo[i][0]]
        row["result"] = result
        _store_point(points_dir, row)  # as it finishes: an interruption keeps it for --resume

    if todo:
        _say(args, f"simulating {len(todo)} points on {scheduler.text} ({len(labels)} images each)", t0)
        shared = pool.share({"images": images, "labels": labels, "seed": args.seed, "exit_scale": args.exit_scale,
                             "train_images": ds.x_train if base_chip.core_type == "rram" else None})
        with tqdm(total=len(todo), desc="points", unit="point", disable=args.quiet, file=sys.stderr,
                  leave=False) as bar:
            pool.map(_point_task, shared, [task for _, task in todo], progress=bar.update, on_result=finished)

    data = _sweep_data(rows, grid, network, net_name, base_chip, args, len(labels), defaults)
    _write_outputs(outdir, data, figures=not args.no_figures)
    if args.json:
        json.dump(data, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(data))
        sys.stdout.write(f"\nwrote {outdir}/: {SWEEP_FILE}, sweep.csv"
                         f"{'' if args.no_figures else ', pareto.png'} ({reused} points re-used)\n")
    _say(args, "done", t0)
    return 0


def _sweep_data(rows: list[dict], grid: dict, network, net_name: str, base_chip, args, n_images: int,
                defaults: dict) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    energy = np.array([r["result"]["energy_nj_per_image"] for r in ok], np.float64)
    accuracy = np.array([r["result"]["accuracy"] for r in ok], np.float64)
    latency = np.array([r["result"]["latency_us_per_image"] for r in ok], np.float64)
    ea = [ok[i]["index"] for i in pareto_front(energy, accuracy, maximize_y=True)] if ok else []
    le = [ok[i]["index"] for i in pareto_front(energy, latency, maximize_y=False)] if ok else []
    points = []
    for r in rows:
        points.append({
            "index": r["index"], "key": r["key"], "point": r["point"], "status": r["status"],
            "rule": r.get("rule", ""), "message": r.get("message", ""), "notes": r.get("notes", []),
            **(r["result"] or {}),
            "pareto_energy_accuracy": r["index"] in ea, "pareto_latency_energy": r["index"] in le,
        })
    return {
        "format": SWEEP_FORMAT,
        "version": FORMAT_VERSION,
        "network": net_name,
        "sizes": network.sizes,
        "chip": base_chip.to_dict(),
        "dataset": args.dataset,
        "test_images": n_images,
        "seed": args.seed,
        "defaults": defaults,
        "grid": grid,
        "points": points,
        "pareto": {"energy_accuracy": ea, "latency_energy": le},
        "counts": {s: sum(r["status"] == s for r in rows) for s in ("ok", "drc", "invalid", "mapping")},
    }


def _csv_text(data: dict) -> str:
    names = list(data["grid"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", *names, "status", "rule", *CSV_RESULT_KEYS, "pareto_energy_accuracy",
                     "pareto_latency_energy"])
    for p in data["points"]:
        writer.writerow([p["index"], *(p["point"][n] for n in names), p["status"], p["rule"],
                         *("" if p.get(k) is None else repr(p[k]) for k in CSV_RESULT_KEYS),
                         int(p["pareto_energy_accuracy"]), int(p["pareto_latency_energy"])])
    return buf.getvalue()


def _write_outputs(outdir: Path, data: dict, *, figures: bool) -> None:
    """sweep.csv and pareto.png, then sweep.json (last: its presence means the sweep is complete)."""
    from hwsim.writers import atomic_write_bytes

    atomic_write_bytes(outdir / "sweep.csv", _csv_text(data).encode())
    if figures:
        pareto_figure(outdir / "pareto.png", data)
    atomic_write_bytes(outdir / SWEEP_FILE, json.dumps(data, indent=1, allow_nan=False).encode())


def _label(p: dict, names: list[str]) -> str:
    return ",".join(f"{n}={p['point'][n]}" for n in names)


def pareto_figure(path: Path, data: dict) -> Path:
    """Energy against accuracy and latency against energy of the points that ran, frontiers marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hwsim.writers import figure_png

    fig = Figure(figsize=(11, 4.4), dpi=120)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ok = [p for p in data["points"] if p["status"] == "ok"]
    names = list(data["grid"])
    by_index = {p["index"]: p for p in ok}
    for ax, (xk, yk), front_key, (xl, yl) in (
        (ax1, ("energy_nj_per_image", "accuracy"), "energy_accuracy", ("energy per image (nJ)", "accuracy")),
        (ax2, ("energy_nj_per_image", "latency_us_per_image"), "latency_energy",
         ("energy per image (nJ)", "latency per image (us)")),
    ):
        ax.scatter([p[xk] for p in ok], [p[yk] for p in ok], s=18, color="0.6", label="design points")
        front = [by_index[i] for i in data["pareto"][front_key]]
        if front:
            ax.plot([p[xk] for p in front], [p[yk] for p in front], "o-", color="C3", ms=5, drawstyle="steps-post",
                    label="Pareto front")
            for p in front:
                ax.annotate(_label(p, names), (p[xk], p[yk]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax1.set_title("accuracy against energy")
    ax2.set_title("latency against energy")
    listed = len(data["points"]) - len(ok)
    fig.suptitle(f"{data['network']} on {data['chip']['name']}, {data['dataset']} ({data['test_images']} images): "
                 f"{len(ok)} points" + (f", {listed} not run (design rules / invalid)" if listed else ""), fontsize=9)
    figure_png(fig, path)
    return Path(path)


def render_table(data: dict) -> str:
    """Markdown table of a ``sweep.json`` (numbers are read, never computed, here)."""
    names = list(data["grid"])
    lines = [
        f"# Sweep: {data['network']} ({'-'.join(map(str, data['sizes']))}) on {data['chip']['name']}, "
        f"{data['dataset']} ({data['test_images']} test images)",
        "",
        "| # | " + " | ".join(names) + " | accuracy | nJ/image | latency (us) | images/s | Pareto |",
        "| --- " * (len(names) + 6) + "|",
    ]
    for p in data["points"]:
        values = " | ".join(str(p["point"][n]) for n in names)
        if p["status"] == "ok":
            front = ",".join(x for x, k in (("E-acc", "pareto_energy_accuracy"), ("lat-E", "pareto_latency_energy"))
                             if p[k])
            lines.append(f"| {p['index']} | {values} | {p['accuracy']:.4f} | {p['energy_nj_per_image']:.3f} | "
                         f"{p['latency_us_per_image']:.3f} | {p['throughput_images_per_s']:.0f} | {front} |")
        else:
            why = p["rule"] if p["status"] == "drc" else p["status"]
            lines.append(f"| {p['index']} | {values} | not run: {why} | | | | |")
    c = data["counts"]
    lines += ["", f"{c['ok']} points ran; {c['drc']} break a design rule; {c['invalid']} invalid chip "
              f"configurations; {c['mapping']} not mappable."]
    return "\n".join(lines) + "\n"


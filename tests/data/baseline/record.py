"""Record the outputs that must not change when the code is refactored (issue 13).

This module is both the recording script and the single definition of the runs that
``tests/test_outputs_unchanged.py`` repeats: :data:`CASES` maps a case name to a function
that runs ``hwsim`` (command line in-process through :func:`hwsim.cli.main`, or the Python
API) and returns its outputs, normalised (:func:`normalise_text`), as
``{file name: text or {array name: ndarray}}``.

How the baseline was produced (2026-12-02): from a pristine checkout of commit f532bcb
("README test: the demo numbers it checks are read from the README, not written in the
test"), the last commit before the refactor::

    git -C /work/main worktree add /tmp/baseline f532bcb
    PYTHONPATH=/tmp/baseline /work/main/.venv/bin/python tests/data/baseline/record.py --make-inputs

``--make-inputs`` also (re)writes ``inputs/`` (random networks, rasters, a 4x4 chip file, NIR
graph) with that commit's code; without it the stored inputs are reused, so the test does
not depend on the helpers that made them. Only re-record from the baseline commit (or after
an intended, documented behaviour change): recording from the code under test would make
the test pass by construction.

What is stripped, and why (all in :func:`normalise_text`, applied to every text output):

- absolute paths of the temporary work folder and of ``inputs/`` -> ``<WORK>``, ``<INPUTS>``
  (they differ from run to run);
- JSON keys ``hwsim_version``, ``numpy_version`` (versions), ``date`` (wall clock),
  ``seconds``, ``train_seconds``, ``total_seconds`` (wall-clock timings) -> ``"<stripped>"``:
  report.json ``meta.hwsim_version``; the training provenance in a network file's header
  and the ``--json`` summary of ``hwsim train``;
- ``hwsim train``'s stdout line ``training 0.1 s, total 0.2 s`` -> ``training <t> s, total <t> s``.

Not compared: PNG figures (their bytes depend on matplotlib's version, and figure changes
are allowed by another issue); their names are recorded in ``figures.txt`` and the numbers
they are drawn from are in report.json (``sweep``, ``raster``, breakdowns), yield.json
(``accuracies``, ``sweep``, ``tuning``) and mapping.json (cores, links). Standard error
(progress messages with timings) is not compared either.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BASELINE_DIR", "INPUTS_DIR", "CASES", "Workspace", "normalise_text", "load_baseline", "record"]

BASELINE_DIR = Path(__file__).resolve().parent
INPUTS_DIR = BASELINE_DIR / "inputs"
BASELINE_COMMIT = "f532bcb"

# keys whose values are versions, dates or timings (see the module docstring)
_VOLATILE_KEYS = ("hwsim_version", "numpy_version", "date", "seconds", "train_seconds", "total_seconds")
_VOLATILE_JSON = re.compile(r'("(?:%s)":\s*)("[^"]*"|-?[0-9][0-9.eE+-]*)' % "|".join(_VOLATILE_KEYS))
_TRAIN_TIMING = re.compile(r"training [0-9.]+ s, total [0-9.]+ s")

Outputs = dict  # file name -> str (text) or dict[str, np.ndarray] (arrays)


@dataclass(frozen=True)
class Workspace:
    """Where one case writes (``work``) and reads its stored inputs (``inputs``)."""

    work: Path
    inputs: Path = INPUTS_DIR


def normalise_text(text: str, ws: Workspace) -> str:
    """Strip what legitimately varies from run to run (paths, versions, dates, timings)."""
    text = text.replace(str(ws.work), "<WORK>").replace(str(ws.inputs), "<INPUTS>")
    text = _VOLATILE_JSON.sub(lambda m: m.group(1) + '"<stripped>"', text)
    return _TRAIN_TIMING.sub("training <t> s, total <t> s", text)


# ------------------------------------------------------------------ helpers

def _cli(ws: Workspace, *argv: str) -> str:
    """Run ``hwsim ARGV`` in-process; return its normalised stdout (exit status must be 0)."""
    from hwsim.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([str(a) for a in argv])
    if status != 0:
        raise RuntimeError(f"hwsim {' '.join(map(str, argv))} exited with status {status}")
    return normalise_text(out.getvalue(), ws)


def _npz_outputs(path: Path, ws: Workspace) -> Outputs:
    """A chip program or network file: its JSON header as text, its arrays as arrays."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = arrays.pop("header", None)
    outputs: Outputs = {path.name: arrays}
    if header is not None:
        outputs[path.stem + ".header.json"] = normalise_text(bytes(header).decode("utf-8"), ws)
    return outputs


def _folder_outputs(folder: Path, ws: Workspace) -> Outputs:
    """Every file an output folder holds; PNG figures only by name (``figures.txt``)."""
    outputs: Outputs = {}
    figures = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".png":
            figures.append(path.name)
        elif path.suffix == ".npz":
            outputs.update(_npz_outputs(path, ws))
        else:
            outputs[path.name] = normalise_text(path.read_text(encoding="utf-8"), ws)
    if figures:
        outputs["figures.txt"] = "\n".join(figures) + "\n"
    return outputs


def _run_result_arrays(result, prefix: str = "") -> dict[str, np.ndarray]:
    """Every array of a :class:`hwsim.RunResult` (recordings and extras included)."""
    arrays = {
        "output_spikes": result.output_spikes,
        "output_membranes": result.output_membranes,
        "counters": result.counters,
        "host_counters": result.host_counters,
        "timestep_cycles": result.timestep_cycles,
        "core_ids": np.array(result.core_ids, np.int64),
        "predictions": result.predictions,
        "spike_counts": result.spike_counts,
        "cycles_per_inference": result.cycles_per_inference,
    }
    for k, m in enumerate(result.membranes or []):
        arrays[f"membranes[{k}]"] = m
    for k, s in enumerate(result.core_spikes or []):
        arrays[f"core_spikes[{k}]"] = s
    for name, value in result.extra.items():
        arrays[f"extra[{name}]"] = np.asarray(value)
    return {prefix + k: np.asarray(v) for k, v in arrays.items()}


def _energy_arrays(energy) -> dict[str, np.ndarray]:
    """Every per-image array of an energy report."""
    arrays = {name: getattr(energy, name) for name in
              ("total_pj", "dynamic_pj", "static_pj", "by_core", "cycles", "latency_us", "sops")}
    arrays["core_ids"] = np.array(energy.core_ids, np.int64)
    for group in ("by_action", "action_counts", "by_component", "by_layer"):
        for key, value in getattr(energy, group).items():
            arrays[f"{group}[{key}]"] = value
    return {k: np.asarray(v) for k, v in arrays.items()}


def _json(data) -> str:
    return json.dumps(data, indent=1) + "\n"


def _energy_json(energy) -> str:
    """Scalars of an energy report: ``to_dict()`` plus the properties it does not repeat."""
    data = energy.to_dict()
    data["static_power_uw"] = energy.static_power_uw
    data["notes"] = energy.notes
    return _json(data)


def _inputs(ws: Workspace, name: str) -> dict[str, np.ndarray]:
    with np.load(ws.inputs / name, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# -------------------------------------------------------------------- cases
# Command line: each case writes into its own folder under ws.work.

def case_run_default(ws: Workspace) -> Outputs:
    """`hwsim run` on the embedded default (bundled digits network, default chip), default sweep, figures."""
    out = ws.work / "out"
    stdout = _cli(ws, "run", "--limit", 100, "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_report_threshold_json(ws: Workspace) -> Outputs:
    """`hwsim report` on the program `hwsim run` wrote: threshold coding, T=4, --json, no sweep."""
    run_out, out = ws.work / "run", ws.work / "out"
    _cli(ws, "run", "--limit", 10, "--sweep", "none", "--no-figures", "-q", "-o", run_out)
    stdout = _cli(ws, "report", run_out / "program.npz", "--limit", 40, "--encoding", "threshold", "-T", 4,
                  "--sweep", "none", "--no-figures", "--json", "-q", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_run_small_latency(ws: Workspace) -> Outputs:
    """`hwsim run --chip small` (layer split over cores), latency coding, encoder seed 5, sweep 1,3."""
    out = ws.work / "out"
    stdout = _cli(ws, "run", "--chip", "small", "--limit", 60, "--encoding", "latency", "--seed", 5,
                  "--sweep", "1,3", "--no-figures", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_run_leaky_net_small(ws: Workspace) -> Outputs:
    """`hwsim run --net` of a continuous-integration, leaky, reset-to-zero network, rate coding, T=6."""
    out = ws.work / "out"
    stdout = _cli(ws, "run", "--net", ws.inputs / "digits_leaky_net.npz", "--chip", "small", "--limit", 50,
                  "-T", 6, "--sweep", "2,6", "--no-figures", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_run_rram(ws: Workspace) -> Outputs:
    """`hwsim run --chip rram --instance 3`: one manufactured RRAM chip, ADC scales calibrated."""
    out = ws.work / "out"
    stdout = _cli(ws, "run", "--chip", "rram", "--instance", 3, "--limit", 60, "--sweep", "2,8",
                  "--no-figures", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_report_rram_json(ws: Workspace) -> Outputs:
    """`hwsim report` of an RRAM program on another instance (5), T=4, --json."""
    run_out, out = ws.work / "run", ws.work / "out"
    _cli(ws, "run", "--chip", "rram", "--limit", 5, "--sweep", "none", "--no-figures", "-q", "-o", run_out)
    stdout = _cli(ws, "report", run_out / "program.npz", "--instance", 5, "--limit", 30, "-T", 4,
                  "--sweep", "none", "--no-figures", "--json", "-q", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_map_bundled_auto(ws: Workspace) -> Outputs:
    """`hwsim map` of the bundled network, rates calibrated on its dataset ('auto'), annealing, figure."""
    out = ws.work / "out"
    stdout = _cli(ws, "map", ws.inputs / "bundled_net.npz", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_map_deep_anneal(ws: Workspace) -> Outputs:
    """`hwsim map` of a 6-layer random network on a 4x4 small mesh, rates from a .npy raster, annealing."""
    out = ws.work / "out"
    stdout = _cli(ws, "map", ws.inputs / "deep_net.npz", "--chip", ws.inputs / "small_4x4.toml",
                  "--rates", ws.inputs / "deep_rates.npy", "--seed", 2, "--no-figure", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_map_deep_greedy_uniform(ws: Workspace) -> Outputs:
    """`hwsim map` of the same network, greedy placement, uniform (upper-bound) rates."""
    out = ws.work / "out"
    stdout = _cli(ws, "map", ws.inputs / "deep_net.npz", "--chip", ws.inputs / "small_4x4.toml",
                  "--placement", "greedy", "--rates", "uniform", "--no-figure", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_map_nir(ws: Workspace) -> Outputs:
    """`hwsim map` of a NIR graph (the leaky network exported with mapping.write_nir), row-major, listed rates."""
    out = ws.work / "out"
    stdout = _cli(ws, "map", ws.inputs / "digits_leaky_net.nir", "--chip", "small", "--placement", "row_major",
                  "--rates", "0.2,0.1,0.3", "--no-figure", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_yield_tune(ws: Workspace) -> Outputs:
    """`hwsim yield`: 4 instances, sigma sweep, signature-driven tuning (6 training instances), figures."""
    out = ws.work / "out"
    stdout = _cli(ws, "yield", "--instances", 4, "--sigma", 0.2, "--array-sigma", 0.3, "--spec", 0.95,
                  "--limit", 100, "--sweep", "0.1,0.3", "--tune", "--train-instances", 6,
                  "--signature-images", 20, "--tuning-images", 100, "--workers", 1, "-q", "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_yield_seeds_guard_json(ws: Workspace) -> Outputs:
    """`hwsim yield --json`: seeds 10..12, chip's own sigmas, guard band, no sweep, no figures."""
    out = ws.work / "out"
    stdout = _cli(ws, "yield", "--instances", 3, "--seed", 10, "--spec", 0.97, "--limit", 60, "-T", 4,
                  "--sweep", "none", "--tune", "--train-instances", 4, "--signature-images", 10,
                  "--tuning-images", 60, "--guard", 0.02, "--workers", 1, "--json", "--no-figures", "-q",
                  "-o", out)
    return {"stdout.txt": stdout, **_folder_outputs(out, ws)}


def case_train_discontinuous(ws: Workspace) -> Outputs:
    """`hwsim train` (STE, quantization-aware), 64-24-10, T=4, 15 epochs on 400 images."""
    net = ws.work / "net.npz"
    stdout = _cli(ws, "train", "--hidden", 24, "--timesteps", 4, "--epochs", 15, "--seed", 3, "--limit", 400,
                  "--lr", 0.02, "--no-progress", "--json", ws.work / "train.json", "-o", net)
    return {"stdout.txt": stdout, "train.json": normalise_text((ws.work / "train.json").read_text(), ws),
            **_npz_outputs(net, ws)}


def case_train_continuous_small(ws: Workspace) -> Outputs:
    """`hwsim train --mode continuous` (BPTT) for the small chip, spike-count readout, squared hinge."""
    net = ws.work / "net.npz"
    stdout = _cli(ws, "train", "--hidden", 16, "--timesteps", 3, "--mode", "continuous", "--epochs", 6,
                  "--seed", 1, "--limit", 200, "--chip", "small", "--readout", "spike_count",
                  "--loss", "squared_hinge", "--no-progress", "-o", net)
    return {"stdout.txt": stdout, **_npz_outputs(net, ws)}


def case_train_sweep_timesteps(ws: Workspace) -> Outputs:
    """`hwsim train --load NET --sweep-timesteps`: accuracy of the bundled network versus T."""
    stdout = _cli(ws, "train", "--load", ws.inputs / "bundled_net.npz", "--sweep-timesteps", "1,2,4",
                  "--limit", 100, "--no-progress", "--json", ws.work / "sweep.json")
    return {"stdout.txt": stdout, "sweep.json": normalise_text((ws.work / "sweep.json").read_text(), ws)}


# Python API

def case_api_engine_golden_deep(ws: Workspace) -> Outputs:
    """Chip.run (recorded) and golden.simulate of the deep network on a 4x4 mesh; energy.estimate."""
    import hwsim
    import mapping
    from hwsim.energy import estimate, load_table
    from hwsim.golden import simulate

    network = hwsim.Network.load(ws.inputs / "deep_net.npz")
    chip_config = hwsim.load_chip_config(ws.inputs / "small_4x4.toml")
    rasters = _inputs(ws, "rasters.npz")["deep"]
    program = mapping.map_network(network, chip_config, rates=rasters, seed=1)
    result = hwsim.Chip.from_program(program).run(rasters, record=True)
    golden = simulate(program, rasters[:3], record=True)
    energy = estimate(result, program, load_table("28nm"))
    return {
        **_npz_outputs(program.save(ws.work / "program.npz"), ws),
        "engine.npz": _run_result_arrays(result),
        "golden.npz": _run_result_arrays(golden),
        "energy.npz": _energy_arrays(energy),
        "energy.json": _energy_json(energy),
    }


def case_api_engine_images(ws: Workspace) -> Outputs:
    """The README example: bundled network, default chip, 40 test images encoded by Chip.run; encoders."""
    import hwsim
    import mapping
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.energy import estimate
    from hwsim.training import load_default_network

    digits = load_dataset("digits")
    program = mapping.map_network(load_default_network(), hwsim.load_chip_config("default_28nm"))
    chip = hwsim.Chip.from_program(program)
    arrays = {}
    energies = {}
    for encoding, T in (("rate", 8), ("threshold", 3), ("latency", 5)):
        result = chip.run(digits.x_test[:40], timesteps=T, encoding=encoding, seed=7)
        arrays.update(_run_result_arrays(result, prefix=f"{encoding}:"))
        energies[encoding] = estimate(result, program).to_dict()
        arrays[f"{encoding}:encoded"] = encode(digits.x_test[:6], T, encoding, 7, 3)
    return {"run.npz": arrays, "energy.json": _json(energies)}


def case_api_evaluate_golden_leaky(ws: Workspace) -> Outputs:
    """hwsim.report.evaluate with the golden model on the leaky network (small chip), sweep, raster."""
    import hwsim
    import mapping
    from hwsim.datasets import load_dataset
    from hwsim.report import evaluate

    digits = load_dataset("digits")
    network = hwsim.Network.load(ws.inputs / "digits_leaky_net.npz")
    program = mapping.map_network(network, hwsim.load_chip_config("small"), placement="row_major")
    report = evaluate(program, digits.x_test[:12], digits.y_test[:12], timesteps=5, sweep=[2],
                      raster_image=3, simulator="golden")
    return {"report.json": normalise_text(_json(report.to_dict()), ws), "energy.npz": _energy_arrays(report.energy)}


def case_api_leaky_rasters(ws: Workspace) -> Outputs:
    """Chip.run and golden.simulate of the leaky network on stored rasters (output membranes saturate)."""
    import hwsim
    import mapping
    from hwsim.golden import simulate

    network = hwsim.Network.load(ws.inputs / "digits_leaky_net.npz")
    program = mapping.map_network(network, hwsim.load_chip_config("small"), placement="greedy", rates=None)
    rasters = _inputs(ws, "rasters.npz")["leaky"]
    return {
        "engine.npz": _run_result_arrays(hwsim.Chip.from_program(program).run(rasters, record=True)),
        "golden.npz": _run_result_arrays(simulate(program, rasters[:2], record=True)),
    }


def case_api_rram(ws: Workspace) -> Outputs:
    """RRAM: ADC calibration, one chip instance (conductances), fast path, golden model, rram_energy."""
    import hwsim
    import mapping
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.rram import calibrate_adc_scales, program_chip, rram_energy, run_rram, simulate_rram
    from hwsim.training import load_default_network

    digits = load_dataset("digits")
    program = mapping.map_network(load_default_network(), hwsim.load_chip_config("rram"))
    scales = calibrate_adc_scales(program, encode(digits.x_train[:30], 6, "rate", 0))
    rchip = program_chip(program, seed=7, adc_scales=scales)
    rasters = encode(digits.x_test[:25], 6, "rate", 1)
    fast = run_rram(rchip, rasters)
    golden = simulate_rram(rchip, rasters[:2], record=True)
    energy = rram_energy(fast, program)
    crossbars = {}
    for k, xb in enumerate(rchip.crossbars):
        for name in ("g_plus_us", "g_minus_us", "fault", "g_read_plus_us", "g_read_minus_us"):
            crossbars[f"{k}:{name}"] = np.asarray(getattr(xb, name))
    return {
        "adc_scales.json": _json(list(scales)),
        "crossbars.npz": crossbars,
        "fast.npz": _run_result_arrays(fast),
        "golden.npz": _run_result_arrays(golden),
        "energy.npz": _energy_arrays(energy),
        "energy.json": _energy_json(energy),
    }


def case_api_calibration(ws: Workspace) -> Outputs:
    """calibrate(): the two published workloads (yin-low, yin-high) and the fitted energy-table scale."""
    try:  # where the calibration tool lives since the energy refactor (issue 13)
        from hwsim.commands.calibrate_energy import calibrate
    except ModuleNotFoundError:  # the baseline commit f532bcb
        from hwsim.energy.calibrate import calibrate

    points, fitted = calibrate()
    data = {"fitted_scale": fitted, "points": [
        {"workload": p.workload.name, "raw_nj": p.raw_nj, "target_nj": p.target_nj, "report": p.report.to_dict()}
        for p in points
    ]}
    return {"calibration.json": _json(data)}


def case_api_placement_costs(ws: Workspace) -> Outputs:
    """mapping.example: placement cost of row-major, greedy and anneal on its deep example (4x4 mesh)."""
    from mapping.example import example_costs

    return {"costs.json": _json({seed: example_costs("deep_30-60-64-40-50-10_on_small_4x4", seed) for seed in (0, 1)})}


CASES = {
    name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_") and callable(fn)
}


# ------------------------------------------------------------ storage

def save_outputs(outputs: Outputs, folder: Path) -> None:
    """Write one case's outputs: text files as they are, array bundles as compressed .npz."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, value in outputs.items():
        if isinstance(value, dict):
            np.savez_compressed(folder / name, **value)
        else:
            (folder / name).write_text(value, encoding="utf-8")


def load_baseline(case: str) -> Outputs:
    """The recorded outputs of one case, in the form its case function returns."""
    folder = BASELINE_DIR / case
    outputs: Outputs = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                outputs[path.name] = {k: z[k] for k in z.files}
        else:
            outputs[path.name] = path.read_text(encoding="utf-8")
    return outputs


def make_inputs(inputs: Path = INPUTS_DIR) -> None:
    """Write the stored inputs (seeded, with the baseline commit's code)."""
    import dataclasses

    import mapping
    from hwsim.config import load_chip_config
    from hwsim.testing import random_network, random_raster
    from hwsim.training import load_default_network

    inputs.mkdir(parents=True, exist_ok=True)
    load_default_network().save(inputs / "bundled_net.npz")

    # the deep example of mapping/example.py: 30-60-64-40-50-10 on a 4x4 mesh of small cores
    small = load_chip_config("small")
    (inputs / "small_4x4.toml").write_text(
        (Path(sys.modules["hwsim.config"].__file__).parent / "configs" / "small.toml").read_text()
        .replace('name = "small"', 'name = "small_4x4"')
        .replace("mesh_rows = 2", "mesh_rows = 4").replace("mesh_cols = 2", "mesh_cols = 4"))
    rng = np.random.default_rng(2017)
    w = small.core.w_max
    deep = random_network(rng, [30, 60, 64, 40, 50, 10], small.core, weight_range=(-w, w), threshold=2 * w)
    deep.save(inputs / "deep_net.npz")
    deep_rasters = random_raster(rng, 6, 8, 30, 0.3)
    np.save(inputs / "deep_rates.npy", random_raster(rng, 1, 8, 30, 0.3)[0])

    # a 64-60-10 network on digits inputs (fits the small chip: 60 neurons -> 2 cores, output 1), continuous
    # integration, reset to zero, membrane readout; the hidden layer leaks, the output layer does not and
    # its biases of +-400 drive most output membranes into saturation (12 bits: -2048..2047) within T=6
    leaky = random_network(rng, [64, 60, 10], small.core, integration="continuous", reset="zero",
                           leak_shift=2, threshold=3 * w, fire_output=False)
    out_bias = np.where(np.arange(10) % 2 == 0, 400, -400).astype(np.int32)
    out_bias[:2] = (30, -30)  # two outputs stay in range
    leaky.layers[-1] = dataclasses.replace(leaky.layers[-1], threshold=0, leak_shift=0, bias=out_bias)
    leaky.metadata.update(name="digits-leaky-64-60-10", dataset="digits", timesteps=6, encoding="rate")
    leaky.save(inputs / "digits_leaky_net.npz")
    mapping.write_nir(leaky, inputs / "digits_leaky_net.nir")
    leaky_rasters = random_raster(rng, 5, 7, 64, 0.6)
    np.savez_compressed(inputs / "rasters.npz", deep=deep_rasters, leaky=leaky_rasters)


def record(cases: list[str], make_new_inputs: bool) -> None:
    """Run ``cases`` with the importable hwsim and store their outputs as the baseline."""
    import hwsim

    print(f"recording with hwsim from {Path(hwsim.__file__).parent}", file=sys.stderr)
    if make_new_inputs:
        make_inputs()
    manifest_path = BASELINE_DIR / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"cases": {}}
    for name in cases:
        print(f"  {name}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix=f"hwsim-baseline-{name}-") as tmp:
            outputs = CASES[name](Workspace(Path(tmp)))
        save_outputs(outputs, BASELINE_DIR / name)
        manifest["cases"][name] = CASES[name].__doc__
    import numba

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    manifest.update(
        commit=BASELINE_COMMIT, recorded_with=f"python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"numba {numba.__version__}", recorded_on=f"{cpu}, {os.cpu_count()} CPUs",
        cases=dict(sorted(manifest["cases"].items())))
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"cases to record (default: all of {', '.join(CASES)})")
    parser.add_argument("--make-inputs", action="store_true", help="(re)write inputs/ first")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; cases: {', '.join(CASES)}")
    record(args.cases or list(CASES), args.make_inputs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

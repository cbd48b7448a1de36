"""Executors of hwsim.parallel: --scheduler parsing and its errors, programs on the wire, and a Dask cluster of
2 worker processes giving the same bits as the thread pool (``hwsim yield``, ``hwsim run --sweep``, the energy
calibration's printed tables), with a lost worker's task rerun.

One LocalCluster (2 worker processes) serves the module; the commands reach it as ``--scheduler tcp://...``.
``hwsim sweep`` on ``--scheduler local:2`` is in test_cli_sweep.py.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.commands.calibrate_energy import (
    ODIN,
    ODIN_MNIST,
    WORKLOADS,
    _odin_sop_job,
    _workload_job,
    crossval_main,
)
from hwsim.commands.calibrate_energy import main as calibrate_main
from hwsim.config import load_chip_config
from hwsim.errors import InputError
from hwsim.parallel import (
    INSTALL_HINT,
    Scheduler,
    check_scheduler,
    parse_scheduler,
    program_from_wire,
    program_to_wire,
    task_pool,
)

distributed = pytest.importorskip("distributed")  # the dev extras install it: `make test` runs these

# the mapper's soft width rule (the bundled network on other widths) is not what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore::mapping.errors.DRCWarning")


@pytest.fixture(scope="module")
def dask_address():
    """A LocalCluster of 2 single-threaded worker processes for the module; its tcp:// address."""
    import logging

    # ":0": the scheduler's HTTP server on a free port (None still tries 8787, and warns when another cluster has it)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


# ------------------------------------------------------------------ parsing (no cluster)

@pytest.mark.parametrize("text, expected", [
    (None, Scheduler("threads")),
    ("threads", Scheduler("threads", text="threads")),
    ("local", Scheduler("local", None, text="local")),
    ("local:3", Scheduler("local", 3, text="local:3")),
    ("tcp://10.0.0.5:8786", Scheduler("tcp", address="tcp://10.0.0.5:8786", text="tcp://10.0.0.5:8786")),
    ("tcp://node-1.lab:9000", Scheduler("tcp", address="tcp://node-1.lab:9000", text="tcp://node-1.lab:9000")),
])
def test_parse_scheduler(text, expected):
    assert parse_scheduler(text) == expected


@pytest.mark.parametrize("text, message", [
    ("local:0", "local:N must be an integer in 1.."),
    ("local:x", "local:N must be an integer in 1.."),
    ("tcp://host", "expected tcp://HOST:PORT"),
    ("tcp://host:70000", "port 70000 is outside 1..65535"),
    ("slurm", "expected threads, local, local:N"),
    ("", "expected threads, local, local:N"),
])
def test_parse_scheduler_refuses(text, message):
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_scheduler(text)


def test_workers_option_is_for_threads_only():
    with pytest.raises(InputError, match="--workers 2 sets the threads of the default scheduler"):
        check_scheduler("local:2", workers=2)
    assert check_scheduler(None, workers=2).kind == "threads"


def test_missing_dask_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    assert check_scheduler("threads").kind == "threads"  # the default needs no Dask
    with pytest.raises(InputError, match="pip install 'hwsim\\[distributed\\]'"):
        check_scheduler("local:2")
    # through the command: one line, exit status 2, before any work
    assert main(["yield", "-n", "2", "--scheduler", "local:2", "-q", "-o", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert INSTALL_HINT in err and "Traceback" not in err
    assert not (tmp_path / "y").exists()


def test_bad_scheduler_through_the_command(tmp_path, capsys):
    assert main(["yield", "-n", "2", "--scheduler", "local:0", "-q", "-o", str(tmp_path / "y")]) == 2
    assert "--scheduler 'local:0'" in capsys.readouterr().err


# ------------------------------------------------------------------ programs on the wire

def test_program_wire_round_trip(default_chip):
    from hwsim.training import load_default_network
    from mapping import map_network

    program = map_network(load_default_network(), default_chip)
    wire = program_to_wire(program)
    # plain data only: JSON text and NumPy arrays
    assert isinstance(wire["header"], str) and all(isinstance(a, np.ndarray) for a in wire["arrays"].values())
    back = program_from_wire(wire)
    assert back.header() == program.header()
    for a, b in zip(program.cores, back.cores):
        assert a.weights.dtype == b.weights.dtype and np.array_equal(a.weights, b.weights)
        assert np.array_equal(a.bias, b.bias)
    # the digest (the worker's cache key) follows the content
    changed = dict(wire["arrays"])
    changed["bias_0"] = changed["bias_0"] + 1
    other = program_to_wire(program_from_wire({**wire, "arrays": changed, "digest": "x"}))
    assert other["digest"] != wire["digest"]


def test_cache_slot_claim_skips_a_held_slot_and_moves_loaded_kernels(tmp_path):
    # A fresh process that imported kernels before claiming (as a spawned worker importing the user's main
    # script does) gets the first free slot, and its kernels cache there, not in the folder it inherited.
    import fcntl
    import subprocess

    uid = os.getuid()
    with open(tmp_path / f"hwsim-numba-cache-{uid}-dask-0.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # slot 0 is taken by a live process (this one)
        code = ("import hwsim.kernels.router as r; from hwsim.parallel import claim_numba_cache_dir as c; "
                f"p = c({str(tmp_path)!r}); print(p); print(r.deliver._cache._cache_path); print(c() == p)")
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "inherited")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    slot, kernel_cache, again = out.stdout.split()
    assert slot == str(tmp_path / f"hwsim-numba-cache-{uid}-dask-1")
    assert kernel_cache.startswith(slot + os.sep)
    assert again == "True"  # one slot per process


# ------------------------------------------------------------------ on the cluster

def _yield_json(tmp_path, name: str, *extra: str) -> bytes:
    out = tmp_path / name
    argv = ["yield", "-n", "5", "--limit", "40", "--sweep", "0,0.3", "--no-figures", "-q", "-o", str(out), *extra]
    assert main(argv) == 0
    return (out / "yield.json").read_bytes()


def test_yield_same_bits_on_the_cluster_as_on_threads(tmp_path, dask_address, capsys):
    threads = _yield_json(tmp_path, "threads")
    one_thread = _yield_json(tmp_path, "one", "--workers", "1")
    cluster = _yield_json(tmp_path, "cluster", "--scheduler", dask_address)
    assert cluster == threads == one_thread
    data = json.loads(cluster)
    # each instance's accuracy is that of its own chip seed, run alone in this process
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.rram.engine import calibrate_on_images
    from hwsim.rram.yield_study import instance_accuracies
    from hwsim.training import load_default_network
    from mapping import map_network

    program = map_network(load_default_network(), load_chip_config("rram"))
    ds = load_dataset("digits")
    scales = calibrate_on_images(program, ds.x_train, 8, "rate")
    rasters = encode(ds.x_test[:40], 8, "rate", 1, 0)
    alone = [instance_accuracies(program, rasters, ds.y_test[:40], [seed], adc_scales=scales, workers=1)[0]
             for seed in (4, 0)]
    assert data["accuracies"][4] == alone[0] and data["accuracies"][0] == alone[1]


def test_pool_map_order_errors_and_worker_cache_dirs(dask_address):
    # local functions: pickled by value, so the workers need not import this test module
    def _add_offset(shared, item):
        return shared["offset"] + item

    def _refuse_three(shared, item):
        if item == 3:
            raise InputError("item 3 refused")
        return item

    with task_pool(dask_address) as pool:
        shared = pool.share({"offset": 100})
        assert pool.map(_add_offset, shared, list(range(7))) == [100 + i for i in range(7)]
        with pytest.raises(InputError, match="item 3 refused"):
            pool.map(_refuse_three, None, [1, 3, 5])
        dirs = pool.client.run(lambda: os.environ.get("NUMBA_CACHE_DIR"))
    assert len(dirs) == 2 and len(set(dirs.values())) == 2  # one Numba cache per worker process
    assert all("hwsim-numba-cache-" in d and "-dask-" in d for d in dirs.values())
    assert os.environ.get("NUMBA_CACHE_DIR") not in dirs.values()
    # the next study on the same cluster registers the plugin again: each worker keeps its folder
    with task_pool(dask_address) as pool:
        assert pool.client.run(lambda: os.environ.get("NUMBA_CACHE_DIR")) == dirs


def test_a_lost_worker_task_is_rerun(dask_address, tmp_path):
    marker = str(tmp_path / "crashed-once")

    def crash_once(shared, item):  # pickled by value (a local function): kills its worker process once
        import os as _os

        if item == 2 and not _os.path.exists(marker):
            open(marker, "w").close()
            _os._exit(1)
        return item * 10

    with task_pool(dask_address) as pool:
        assert pool.map(crash_once, None, [0, 1, 2, 3]) == [0, 10, 20, 30]
    assert os.path.exists(marker)  # the worker did die once



# ------------------------------------------------------------------ reports (hwsim run / report) on the cluster

_REPORT_FILES = ("report.json", "report.csv", "images.csv", "report.md")


def _report_files(tmp_path, name: str, argv: list[str]) -> dict[str, bytes]:
    out = tmp_path / name
    assert main([*argv, "--no-figures", "-q", "-o", str(out)]) == 0
    return {f: (out / f).read_bytes() for f in _REPORT_FILES}


def test_run_sweep_same_bits_on_the_cluster_as_in_process(tmp_path, dask_address, capsys):
    # 300 images: two chunks of 256 per T, so the chunks are joined in order; T = 4 with the sweep 1,2,4,8
    argv = ["run", "--limit", "300", "-T", "4", "--sweep", "1,2,4,8"]
    here = _report_files(tmp_path, "here", argv)
    cluster = _report_files(tmp_path, "cluster", [*argv, "--scheduler", dask_address])
    assert cluster == here
    with task_pool(dask_address) as pool:  # the simulations did run as tasks on the cluster
        prefixes = pool.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "simulate_task" in prefixes  # (Dask drops the leading underscore of the task key)
    # the sweep's points are those of separate runs at each T, computed here, in this process, without a sweep
    from hwsim.datasets import load_dataset
    from hwsim.report import evaluate
    from hwsim.training import load_default_network
    from mapping import map_network
    from hwsim.config import load_chip_config

    program = map_network(load_default_network(), load_chip_config("default_28nm"))
    ds = load_dataset("digits", limit=300)
    points = json.loads(cluster["report.json"])["sweep"]
    assert [p["timesteps"] for p in points] == [1, 2, 4, 8]
    alone = evaluate(program, ds.x_test, ds.y_test, timesteps=8, sweep=[]).to_dict()
    assert points[3]["accuracy"] == alone["accuracy"]
    assert points[3]["energy_nj_per_image"] == alone["energy_nj_per_image"]


def test_report_rram_latency_exit_curve_same_bits_on_the_cluster(tmp_path, dask_address, capsys):
    # an RRAM chip instance (its ADC scales calibrated here, sent to the workers) and latency coding under an
    # exit sweep: the fixed-T curve's t < T points are runs of their own, also tasks (T = 2 of the sweep twice)
    from hwsim.config import load_chip_config
    from hwsim.training import load_default_network
    from mapping import map_network

    program_file = tmp_path / "rram_program.npz"
    map_network(load_default_network(), load_chip_config("rram")).save(program_file)
    argv = ["report", str(program_file), "--limit", "30", "-T", "3", "--sweep", "2,3", "--encoding", "latency",
            "--exit-sweep", "margin:1,3", "--instance", "2"]
    here = _report_files(tmp_path, "here", argv)
    cluster = _report_files(tmp_path, "cluster", [*argv, "--scheduler", dask_address])
    assert cluster == here
    data = json.loads(cluster["report.json"])
    assert data["instance_seed"] == 2 and [p["timesteps"] for p in data["fixed_t_curve"]] == [1, 2, 3]


@pytest.mark.parametrize("command", [["run"], ["report", "PROGRAM"]])
def test_run_and_report_refuse_a_bad_scheduler_before_any_work(command, tmp_path, capsys):
    program_file = tmp_path / "program.npz"
    if "PROGRAM" in command:
        from hwsim.config import load_chip_config
        from hwsim.training import load_default_network
        from mapping import map_network

        map_network(load_default_network(), load_chip_config("default_28nm")).save(program_file)
    argv = [str(program_file) if a == "PROGRAM" else a for a in command]
    for bad, message in (("local:0", "--scheduler 'local:0': the worker count N of local:N"),
                         ("tcp://nowhere", "--scheduler 'tcp://nowhere': expected tcp://HOST:PORT")):
        assert main([*argv, "--limit", "2", "--scheduler", bad, "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_run_result_plain_arrays_round_trip():
    # every field, with recordings and RRAM extras: the golden model's result of an RRAM instance
    from hwsim.config import load_chip_config
    from hwsim.encoding import encode
    from hwsim.exit_unit import apply_exit, parse_exit_rule
    from hwsim.result import RunResult
    from hwsim.rram import program_chip
    from hwsim.rram.golden import simulate_rram
    from hwsim.training import load_default_network
    from mapping import map_network

    program = map_network(load_default_network(), load_chip_config("rram"))
    rasters = encode(np.random.default_rng(0).random((3, program.n_inputs)), 4, "rate", 0)
    rec = simulate_rram(program_chip(program, 1, adc_scales=(1,) * len(program.cores)), rasters, record=True)
    rec = apply_exit(rec, parse_exit_rule("margin:1", program.n_outputs))
    data = rec.to_arrays()
    # plain data: arrays, lists of arrays, a dict of arrays, ints and text
    assert isinstance(data["core_ids"], list) and all(type(c) is int for c in data["core_ids"])
    assert all(isinstance(a, np.ndarray) for a in data["membranes"] + data["core_spikes"])
    assert all(isinstance(a, np.ndarray) for a in data["extra"].values()) and data["extra"]
    back = RunResult.from_arrays(data)
    assert back.core_ids == rec.core_ids and back.readout == rec.readout
    assert back.exit_rule == rec.exit_rule == "margin:1"
    for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles",
                 "exit_timesteps", "exit_counters"):
        a, b = getattr(rec, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    for name in ("membranes", "core_spikes"):
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(getattr(rec, name), getattr(back, name)))
    assert sorted(back.extra) == sorted(rec.extra)
    assert all(np.array_equal(back.extra[k], rec.extra[k]) for k in rec.extra)


def test_yield_tune_same_bits_on_the_cluster_as_on_threads(tmp_path, dask_address, capsys):
    tune = ["--tune", "--train-instances", "3", "--signature-images", "6", "--tuning-images", "10",
            "--guard", "0.2", "--sweep", "none"]
    out = {}
    for name, extra in (("threads", []), ("cluster", ["--scheduler", dask_address])):
        assert main(["yield", "-n", "4", "--limit", "30", "--no-figures", "-q", "-o", str(tmp_path / name), *tune,
                     *extra]) == 0
        out[name] = (tmp_path / name / "yield.json").read_bytes()
    assert out["cluster"] == out["threads"]
    with task_pool(dask_address) as pool:  # training and test-and-tune did run as tasks on the cluster
        prefixes = pool.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert {"train_task", "screen_task"} <= set(prefixes)
    data = json.loads(out["cluster"])
    outcomes = data["instances_tuned"]
    # test-and-tune measures each instance's accuracy before tuning on its own: that of the Monte Carlo
    assert [o["accuracy_before"] for o in outcomes] == data["accuracies"]
    assert data["tuning"]["train_instances"] == 3 and data["tuning"]["tuned"] >= 1


def test_run_programs_on_the_cluster_equal_the_engine_here(dask_address):
    # two independent jobs (as an energy calibration's workloads): each the engine's run of its own program
    from hwsim.chip import Chip
    from hwsim.config import load_chip_config
    from hwsim.encoding import encode
    from hwsim.parallel import run_programs
    from hwsim.testing import random_network
    from mapping import map_network

    rng = np.random.default_rng(5)
    jobs = []
    for chip, sizes, T in (("default_28nm", [64, 40, 10], 3), ("small", [64, 20, 10], 2)):
        config = load_chip_config(chip)
        program = map_network(random_network(rng, sizes, config.core, threshold=40), config)
        jobs.append((program, encode(rng.random((7, 64)), T, "rate", 3)))
    done = []
    with task_pool(dask_address) as pool:
        results = run_programs(pool, jobs, progress=done.append)
    assert done == [1, 1]
    for (program, rasters), got in zip(jobs, results):
        want = Chip.from_program(program).run(rasters).to_arrays()
        have = got.to_arrays()
        assert sorted(have) == sorted(want)
        for key, value in want.items():
            if isinstance(value, np.ndarray):
                assert have[key].dtype == value.dtype and np.array_equal(have[key], value), key
            else:
                assert have[key] == value, key
    assert results[1].timesteps == 2 and results[0].timesteps == 3


# ------------------------------------------------------------------ the energy calibration's workloads
# (python -m hwsim.commands.calibrate_energy / hwsim.energy.calibrate --scheduler): one task per workload, the
# printed tables byte for byte those of the default in-process run


def _printed(command, argv: list[str], capsys) -> tuple[int, str]:
    status = command(argv)
    return status, capsys.readouterr().out


def _programs_run_on_the_workers(address: str) -> set[str]:
    """Digests of the programs the cluster's workers have run (their cache of programs received by
    :func:`hwsim.parallel.run_programs`)."""
    with task_pool(address) as pool:
        per_worker = pool.client.run(lambda: list(__import__("hwsim.parallel").parallel._program_cache))
    return {digest for digests in per_worker.values() for digest in digests}


def _digest(job) -> str:
    return program_to_wire(job[0])["digest"]


def test_yin_calibration_same_output_on_the_cluster(dask_address, capsys):
    here = _printed(calibrate_main, [], capsys)
    cluster = _printed(calibrate_main, ["--scheduler", dask_address], capsys)
    assert here[0] == 0 and "| yin-high |" in here[1]
    assert cluster == here
    # the two workloads' programs ran on the workers (not silently in this process)
    chip = load_chip_config("default_28nm")
    assert {_digest(_workload_job(w, chip)) for w in WORKLOADS} <= _programs_run_on_the_workers(dask_address)


def test_cross_validation_same_output_on_the_cluster(dask_address, capsys):
    here = _printed(crossval_main, [], capsys)
    cluster = _printed(crossval_main, ["--scheduler", dask_address], capsys)
    assert here[0] == 0 and "Held out, predicted with the Yin fit" in here[1]
    assert cluster == here
    odin = load_chip_config(ODIN["chip"])
    assert {_digest(_odin_sop_job(odin)), _digest(_workload_job(ODIN_MNIST, odin))} <= \
        _programs_run_on_the_workers(dask_address)


def test_sensitivity_same_output_on_the_cluster(dask_address, capsys):
    here = _printed(crossval_main, ["--sensitivity"], capsys)
    cluster = _printed(crossval_main, ["--sensitivity", "--scheduler", dask_address], capsys)
    assert here[0] == 0 and "| yin-low | timesteps | T = 8 |" in here[1]
    assert cluster == here


@pytest.mark.parametrize("command, argv", [
    (calibrate_main, []),
    (crossval_main, []),
    (crossval_main, ["--yin-only"]),
    (crossval_main, ["--sensitivity"]),
])
@pytest.mark.parametrize("bad, message", [
    ("local:0", "--scheduler 'local:0': the worker count N of local:N must be an integer in 1.."),
    ("tcp://nowhere", "--scheduler 'tcp://nowhere': expected tcp://HOST:PORT"),
    ("slurm", "--scheduler 'slurm': expected threads, local, local:N"),
])
def test_calibration_refuses_a_bad_scheduler_with_one_line_before_any_work(command, argv, bad, message, capsys):
    assert command([*argv, "--scheduler", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before the first table line
    lines = captured.err.splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("python -m hwsim.")
    assert "Traceback" not in captured.err

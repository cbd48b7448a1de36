"""The energy calibration's workloads on a Dask cluster (``--scheduler``): one task per workload, the printed
tables byte for byte those of the default in-process run; a bad ``--scheduler`` exits 2 with one line.

One LocalCluster of 2 worker processes serves the module (the pattern of test_parallel.py); the commands reach it
as ``--scheduler tcp://...``.
"""

from __future__ import annotations

import pytest

from hwsim.commands.calibrate_energy import (
    ODIN,
    ODIN_MNIST,
    WORKLOADS,
    _odin_sop_job,
    _workload_job,
    crossval_main,
    main,
)
from hwsim.config import load_chip_config
from hwsim.parallel import program_to_wire, task_pool

distributed = pytest.importorskip("distributed")  # the dev extras install it: `make test` runs these


@pytest.fixture(scope="module")
def dask_address():
    """A LocalCluster of 2 single-threaded worker processes for the module; its tcp:// address."""
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


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
    here = _printed(main, [], capsys)
    cluster = _printed(main, ["--scheduler", dask_address], capsys)
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
    (main, []),
    (crossval_main, []),
    (crossval_main, ["--yin-only"]),
    (crossval_main, ["--sensitivity"]),
])
@pytest.mark.parametrize("bad, message", [
    ("local:0", "--scheduler 'local:0': the worker count N of local:N must be an integer in 1.."),
    ("tcp://nowhere", "--scheduler 'tcp://nowhere': expected tcp://HOST:PORT"),
    ("slurm", "--scheduler 'slurm': expected threads, local, local:N"),
])
def test_a_bad_scheduler_exits_2_with_one_line_before_any_work(command, argv, bad, message, capsys):
    assert command([*argv, "--scheduler", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before the first table line
    lines = captured.err.splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("python -m hwsim.")
    assert "Traceback" not in captured.err

"""Streaming (issue 19, memory): ``Chip.run_chunks``, the bound on ``Chip.run``'s result, and reports built chunk
by chunk (hwsim/report/summary.py).

Expected values come from independent paths: the golden model run on each chunk's images alone (its own rasters
and per-link counts), the arrays of an actual result (for the size estimate), and the numbers of a report
computed directly from the whole run (``hwsim.energy.estimate``, ``apply_exit`` and the predictions of one
``Chip.run`` of every image), never from the summaries under test.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from test_noc_engine import random_mesh_program

from hwsim.chip import Chip, result_bytes
from hwsim.config import load_chip_config
from hwsim.datasets import load_dataset
from hwsim.encoding import encode
from hwsim.energy import estimate
from hwsim.errors import InputError
from hwsim.exit_unit import apply_exit, parse_exit_rule
from hwsim.golden import simulate
from hwsim.program import ChipProgram
from hwsim.report import evaluate, write_report
from hwsim.result import RunResult
from hwsim.testing import random_network
from hwsim.training import load_default_network
from mapping import map_network

T = 5
N = 10


def assert_same_result(got: RunResult, expected: RunResult) -> None:
    """Every field equal, arrays by dtype, shape and value."""
    for f in dataclasses.fields(RunResult):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), f.name
        elif isinstance(b, list):
            assert len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b)), f.name
        elif f.name == "extra":
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in b), f.name
        else:
            assert a == b, f.name


def ideal_program(small_chip, rng) -> ChipProgram:
    return map_network(random_network(rng, [40, 50, 10], small_chip.core, threshold=30), small_chip)


# ----------------------------------------------------------------- Chip.run_chunks
@pytest.mark.parametrize("noc", ["ideal", "mesh"])
@pytest.mark.parametrize("exit_rule", ["none", "margin:2"])
@pytest.mark.parametrize("record", [False, True])
def test_run_chunks_are_the_golden_runs_of_their_images(small_chip, rng, noc, exit_rule, record):
    program = ideal_program(small_chip, rng) if noc == "ideal" else random_mesh_program(rng, 2, 3)
    images = rng.random((N, program.n_inputs))
    chip = Chip.from_program(program)
    chunks = list(chip.run_chunks(images, T, seed=3, chunk_size=3, record=record, exit_rule=exit_rule))
    # chunks of 3 consecutive images, the last one shorter
    assert [c.batch_size for c in chunks] == [3, 3, 3, 1]
    rasters = encode(images, T, "rate", seed=3)  # image i's raster depends on i only (first_index)
    for k, chunk in enumerate(chunks):
        # each chunk is the golden model's run of its own images, per-link sums included (mesh: its own links)
        alone = simulate(program, rasters[3 * k : 3 * k + 3], record=record, exit_rule=exit_rule)
        assert_same_result(chunk, alone)
        assert (chunk.link_counters is None) == (noc == "ideal")
    # and together they are Chip.run of the whole batch, bit for bit (link sums added up)
    whole = chip.run(images, T, seed=3, chunk_size=3, record=record, exit_rule=exit_rule)
    assert_same_result(RunResult.concatenate(chunks), whole)
    assert_same_result(whole, simulate(program, rasters, record=record, exit_rule=exit_rule))


def test_run_chunks_checks_its_arguments_and_runs_nothing_until_asked(small_chip, rng):
    chip = Chip.from_program(ideal_program(small_chip, rng))
    stream = chip.run_chunks(np.zeros((2, 39)), T)  # a generator: nothing checked before the first chunk
    with pytest.raises(InputError, match="images have 39 pixels; the program expects 40"):
        next(stream)
    with pytest.raises(InputError, match="chunk_size"):
        next(chip.run_chunks(np.zeros((2, 40)), T, chunk_size=0))
    # a consumer that stops early leaves no threads behind and the chip usable
    first = next(chip.run_chunks(np.zeros((5, 40)), T, chunk_size=2))
    assert first.batch_size == 2
    assert chip.run(np.zeros((5, 40)), T).batch_size == 5


# ----------------------------------------------------------------- the bound on Chip.run's result
def result_array_bytes(result: RunResult) -> int:
    arrays = [
        result.output_spikes,
        result.output_membranes,
        result.counters,
        result.host_counters,
        result.timestep_cycles,
        result.noc_counters,
        result.exit_counters,
    ]
    arrays += (result.membranes or []) + (result.core_spikes or [])
    return sum(a.nbytes for a in arrays)


def test_result_bytes_are_those_of_the_result(small_chip, rng):
    program = ideal_program(small_chip, rng)
    C = len(program.cores)
    neurons = sum(cp.n_neurons for cp in program.cores)
    # by hand, per image and timestep: 10 outputs x (1 + 4 bytes), 8 int64 counters per core, 3 host, 1 cycle count,
    # 3 NoC and 4 exit-unit counters; with record every neuron's int32 membrane and uint8 spike, twice
    assert result_bytes(program, 7, T) == 7 * T * (10 * 5 + 8 * (8 * C + 3 + 1 + 3 + 4))
    assert result_bytes(program, 7, T, record=True) == result_bytes(program, 7, T) + 7 * T * 2 * 5 * neurons
    chip = Chip.from_program(program)
    images = rng.random((7, 40))
    assert result_array_bytes(chip.run(images, T)) == result_bytes(program, 7, T)
    # the result keeps one copy of the recording; the kernel's arrays it was split from are the other
    assert result_array_bytes(chip.run(images, T, record=True)) == result_bytes(program, 7, T) + 7 * T * 5 * neurons


def test_run_refuses_a_result_above_the_limit_before_any_work(small_chip, rng):
    program = ideal_program(small_chip, rng)
    chip = Chip.from_program(program)
    images = rng.random((7, 40))
    need = result_bytes(program, 7, T, record=True)
    with pytest.raises(InputError) as caught:
        chip.run(images, T, record=True, max_result_bytes=need - 1)
    message = str(caught.value)
    # names the estimate, the limit and the ways out
    assert f"({need} bytes)" in message and f"({need - 1} bytes)" in message
    assert "Chip.run_chunks" in message and "fewer images" in message and f"max_result_bytes >= {need}" in message
    assert chip.run(images, T, record=True, max_result_bytes=need).batch_size == 7
    for bad in (0, -5, True, 1.5, "1"):
        with pytest.raises(InputError, match="max_result_bytes"):
            chip.run(images, T, max_result_bytes=bad)


def test_the_default_limit_refuses_a_huge_recording_but_the_stream_runs(small_chip, rng):
    program = ideal_program(small_chip, rng)
    chip = Chip.from_program(program)
    # 2 GiB / (T x ~ (10 x 5 + 8 x (8C + 11) + 10 x neurons) bytes): a few tens of thousands of images at T = 64;
    # zeros as images (the images are read a chunk at a time, so the batch itself is a broadcast view)
    images = np.broadcast_to(np.zeros(40), (200_000, 40))
    with pytest.raises(InputError, match="above max_result_bytes = 2.00 GiB"):
        chip.run(images, 64, record=True)
    stream = chip.run_chunks(images, 64, record=True, chunk_size=4)
    assert next(stream).membranes[0].shape[:2] == (4, 64)
    stream.close()


# ----------------------------------------------------------------- reports built chunk by chunk
REPORT_FILES = ("report.json", "report.csv", "images.csv", "report.md")


def report_files(tmp_path, name: str, program, images, labels, **options) -> dict[str, bytes]:
    report = evaluate(program, images, labels, **options)
    out = tmp_path / name
    write_report(report, out, figures=False)
    return {f: (out / f).read_bytes() for f in REPORT_FILES}


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", None)
    return ds.x_test[:9], ds.y_test[:9]


CASES = {
    # exit rule, exit sweep (applied chunk by chunk), the fixed-T curve from the first t timesteps
    "digital, rate, exit": (
        "default_28nm",
        {"encoding": "rate", "exit_rule": "margin:3", "exit_sweep": "margin:1,2,6", "sweep": [1, 2, 8]},
    ),
    # latency coding: the fixed-T curve's points are runs of their own
    "digital, latency, exit sweep": (
        "default_28nm",
        {"encoding": "latency", "exit_sweep": "margin:2,4", "sweep": None},
    ),
    # mesh NoC: link sums added over the chunks (no image exits early at margin 1000: the links are kept)
    "mesh": ("mesh", {"encoding": "rate", "exit_rule": "margin:1000", "sweep": [2, 8]}),
    # one RRAM chip instance: read noise drawn per image index, energy from the conductances read
    "rram": ("rram", {"encoding": "rate", "instance_seed": 2, "sweep": [2, 8]}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_report_streamed_in_one_image_chunks_is_the_whole_runs_report(tmp_path, digits, case):
    chip_name, options = CASES[case]
    chip = load_chip_config("default_28nm").replace(noc="mesh") if chip_name == "mesh" else load_chip_config(chip_name)
    program = map_network(load_default_network(), chip)
    images, labels = digits
    if chip_name == "rram":
        options = {**options, "calibration_images": load_dataset("digits", None).x_train[:50]}
    options = {**options, "timesteps": 8, "seed": 4}
    whole = report_files(tmp_path, "whole", program, images, labels, chunk_size=len(images), **options)
    for chunk_size in (1, 4):  # one image per chunk; chunks of 4, 4 and 1
        streamed = report_files(
            tmp_path, f"chunks{chunk_size}", program, images, labels, chunk_size=chunk_size, **options
        )
        for name in REPORT_FILES:
            assert streamed[name] == whole[name], (chunk_size, name)
    data = json.loads(whole["report.json"])
    if chip_name == "mesh":
        assert data["noc"] == "mesh" and data["noc_links"]  # the link sums survived the joining
    assert len(whole["images.csv"].splitlines()) == len(images) + 1


def test_streamed_report_numbers_equal_those_of_the_whole_run(tmp_path, digits):
    """The report of one-image chunks against numbers taken directly from one Chip.run of all images."""
    chip = load_chip_config("default_28nm")
    program = map_network(load_default_network(), chip)
    images, labels = digits
    rule, swept = "margin:3", "margin:6"
    report = evaluate(
        program,
        images,
        labels,
        timesteps=8,
        seed=4,
        chunk_size=1,
        exit_rule=rule,
        exit_sweep=swept,
        sweep=[2, 8],
        raster_image=None,
    )
    d = report.to_dict()
    fixed = Chip.from_program(program).run(images, 8, seed=4)
    cut = apply_exit(fixed, parse_exit_rule(rule, 10))
    e = estimate(cut, program)
    assert d["energy_nj_per_image"] == float(e.total_pj.mean() / 1e3)
    assert d["summary"]["energy_nj_p95"] == float(np.percentile(e.total_pj / 1e3, 95))
    assert d["latency_us_per_image"] == float(e.latency_us.mean())
    assert d["accuracy"] == float(np.mean(cut.predictions == labels))
    assert d["accuracy_fixed_t"] == float(np.mean(fixed.predictions == labels))
    assert d["energy_nj_per_image_fixed_t"] == float(estimate(fixed, program).total_pj.mean() / 1e3)
    assert d["exit_histogram"] == np.bincount(cut.exit_timesteps, minlength=9)[1:].tolist()
    (point,) = d["exit_sweep"]
    other = apply_exit(fixed, parse_exit_rule(swept, 10))
    assert point["energy_nj_per_image"] == float(estimate(other, program).total_pj.mean() / 1e3)
    assert point["avg_timesteps"] == float(other.exit_timesteps.mean())
    # images.csv rows: the per-image numbers of the cut run
    rows = report.image_rows()
    assert [r["prediction"] for r in rows] == cut.predictions.tolist()
    assert [r["energy_nj"] for r in rows] == (e.total_pj / 1e3).tolist()
    assert [r["timesteps"] for r in rows] == cut.exit_timesteps.tolist()


def test_report_chunks_shrink_for_a_large_run_and_the_report_stays_the_same(tmp_path, digits, monkeypatch):
    import hwsim.report.evaluation as evaluation
    from hwsim.result import result_bytes as run_result_bytes

    program = map_network(load_default_network(), load_chip_config("default_28nm"))
    images, labels = digits
    options = {"timesteps": 8, "seed": 4, "sweep": [2, 8], "exit_sweep": "margin:2"}
    whole = report_files(tmp_path, "whole", program, images, labels, **options)
    # room for 2 images of the longest run (T = 8) per chunk: the 256-image chunks become 2-image chunks
    monkeypatch.setattr(evaluation, "CHUNK_RESULT_BYTES", 2 * run_result_bytes(1, 8, 10, len(program.cores)) + 1)
    assert report_files(tmp_path, "capped", program, images, labels, **options) == whole
    for bad in (0, -1, 2.0, True):
        with pytest.raises(InputError, match="chunk_size"):
            evaluate(program, images, labels, timesteps=8, chunk_size=bad)


# ----------------------------------------------------------------- a streamed run on disk
@pytest.mark.parametrize("noc", ["ideal", "mesh"])
def test_saved_chunks_load_back_as_the_run(tmp_path, small_chip, rng, noc):
    from hwsim.result import RUN_MARKER, load_chunks, save_chunks

    program = ideal_program(small_chip, rng) if noc == "ideal" else random_mesh_program(rng, 2, 3)
    chip = Chip.from_program(program)
    images = rng.random((N, program.n_inputs))
    folder = save_chunks(chip.run_chunks(images, T, record=True, chunk_size=4, exit_rule="margin:2"), tmp_path / "run")
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-000000.npz", "chunk-000001.npz", "chunk-000002.npz",
                                                        RUN_MARKER]  # fmt: skip
    loaded = list(load_chunks(folder))
    assert [c.batch_size for c in loaded] == [4, 4, 2]
    assert_same_result(RunResult.concatenate(loaded), chip.run(images, T, record=True, exit_rule="margin:2"))
    # written again over an earlier run: replaced; never over a folder that holds something else
    save_chunks(chip.run_chunks(images[:3], T), folder)
    assert [c.batch_size for c in load_chunks(folder)] == [3]
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    from hwsim.outdir import OutputPathError

    with pytest.raises(OutputPathError, match="holds no earlier run.json"):
        save_chunks(chip.run_chunks(images, T), other)
    assert (other / "notes.txt").read_text() == "mine"
    with pytest.raises(InputError, match="holds no readable run.json"):
        next(load_chunks(other))
    (folder / "chunk-000000.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="chunk-000000.npz' of a saved run is missing or unreadable"):
        next(load_chunks(folder))

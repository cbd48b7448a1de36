"""``hwsim run`` and ``hwsim report`` end to end: real dataset, mapper, engine and report files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from energy_by_hand import digital_energy_pj_per_image, latency_us_per_image, rram_energy_pj_per_image

from hwsim.cli import main
from hwsim.config import load_chip_config
from hwsim.datasets import load_dataset
from hwsim.encoding import encode
from hwsim.golden import simulate
from hwsim.network import predict
from hwsim.program import ChipProgram
from hwsim.report import FIGURE_FILES, REPORT_FILES
from hwsim.report.area_figure import AREA_FIGURE
from hwsim.testing import random_network

HEADLINE = ("accuracy", "energy_nj_per_image", "latency_us_per_image", "throughput_images_per_s",
            "sops_per_image", "pj_per_sop", "timesteps", "chip")


@pytest.fixture
def net_file(tmp_path):
    """A random 64-32-10 network for the 8x8 digits (the run must not depend on its accuracy)."""
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(11), [64, 32, 10], core, threshold=60)
    net.metadata.update({"timesteps": 3, "encoding": "rate"})
    return net.save(tmp_path / "net.npz")


def run_json(capsys, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out), captured.err


def test_run_default_end_to_end(tmp_path, capsys):
    """The main job with the bundled network (only the image count and sweep are shortened)."""
    out = tmp_path / "out"
    data, err = run_json(capsys, ["run", "--limit", "40", "--sweep", "1,2", "-o", str(out), "--json"])
    for key in HEADLINE:
        assert key in data, key
    assert data["chip"] == "default_28nm" and data["meta"]["dataset"] == "digits"
    assert data["meta"]["simulator"] == "engine"
    assert data["n_images"] == 40
    # The accuracy, independently: the bundled network simulated layer by layer (hwsim.network.predict: no
    # mapper, no chip) on the same rasters (its T = 8, rate coding, seed 0) with the chip's 16-bit membranes.
    # Catches: a run that maps, encodes or decodes wrongly, or scores other images or labels.
    from hwsim.training import load_default_network

    ds = load_dataset("digits", limit=40)
    bundled = load_default_network()
    expected = predict(bundled, encode(ds.x_test, 8, "rate", seed=0), v_bits=16)
    assert data["accuracy"] == np.mean(expected == ds.y_test)
    assert data["accuracy"] > 0.5  # a trained network, far above chance (0.1)
    assert data["energy_nj_per_image"] > 0 and data["pj_per_sop"] > 0
    # + the area figure: default_28nm has a stored synthesis (docs/area.md)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + FIGURE_FILES + ("program.npz", AREA_FIGURE))
    assert "loading dataset digits" in err  # progress is shown (on stderr)


def test_run_with_a_network_file_matches_the_golden_model(tmp_path, capsys, net_file):
    out = tmp_path / "out"
    data, _ = run_json(capsys, ["run", "--net", str(net_file), "--limit", "25", "--sweep", "none",
                                "-o", str(out), "--json", "-q"])
    assert data["timesteps"] == 3  # from the network's metadata
    # independent path: the saved program, the same images, the golden model, and the energy by hand from
    # its counters and the 28nm table's entries (energy_by_hand, no hwsim.energy code). Catches: a report
    # that prices an action with the wrong entry or count, drops leakage or the host, or runs other images.
    program = ChipProgram.load(out / "program.npz")
    ds = load_dataset("digits", limit=25)
    result = simulate(program, encode(ds.x_test, 3, "rate", seed=0))
    by_hand = digital_energy_pj_per_image(result, program.chip, "28nm")
    assert data["energy_nj_per_image"] == pytest.approx(by_hand.mean() / 1e3, rel=1e-9)
    assert data["sops_per_image"] == pytest.approx(result.counter("synaptic_ops").sum() / 25)
    assert data["accuracy"] == pytest.approx(np.mean(result.predictions == ds.y_test))
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["energy_nj_per_image"] == data["energy_nj_per_image"]


def test_report_command_reproduces_the_run(tmp_path, capsys, net_file):
    run_dir, rep_dir = tmp_path / "run", tmp_path / "rep"
    first, _ = run_json(capsys, ["run", "--net", str(net_file), "--limit", "15", "-T", "2", "--sweep", "none",
                                 "-o", str(run_dir), "--json", "-q"])
    second, _ = run_json(capsys, ["report", str(run_dir / "program.npz"), "--limit", "15", "-T", "2",
                                  "--sweep", "1,2", "-o", str(rep_dir), "--json", "-q"])
    for key in ("energy_nj_per_image", "latency_us_per_image", "sops_per_image", "accuracy"):
        assert second[key] == first[key], key
    assert [p["timesteps"] for p in second["sweep"]] == [1, 2]


def test_terminal_table_is_printed(tmp_path, capsys, net_file):
    rc = main(["run", "--net", str(net_file), "--limit", "10", "-T", "1", "--sweep", "none", "--no-figures",
               "-o", str(tmp_path / "o"), "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| energy / image" in out and "nJ" in out and "| accuracy" in out
    assert not (tmp_path / "o" / "raster.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--dataset", "mnist"], "bundled network is trained on digits"),
        (["run", "--net", "no-such-net.npz"], "does not exist"),
        (["run", "--chip", "no_such_chip"], "no such preset"),
        (["run", "--instance", "1"], "--instance applies to RRAM chips"),
        (["run", "--chip", "rram", "--instance", "-1"], "--instance -1"),
        (["run", "--sweep", "0,2"], "--sweep"),
        (["run", "--timesteps", "0"], "--timesteps 0"),
        (["run", "--limit", "0"], "--limit 0"),
        (["run", "--scheduler", "local:0"], "--scheduler 'local:0'"),
        (["run", "--scheduler", "slurm"], "expected threads, local, local:N"),
        (["report", "no-such-program.npz"], "does not exist"),
    ],
)
def test_bad_arguments_give_clear_errors(tmp_path, capsys, argv, message):
    rc = main(argv + ["-o", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err


RRAM_KEYS = ("core_type", "instance_seed", "adc_scales")


@pytest.fixture(scope="module")
def rram_runs(tmp_path_factory):
    """``hwsim run --chip rram`` on instance 0 (twice) and instance 3, 30 test images, sweep 1,2."""
    import contextlib
    import io

    runs = {}
    for name, instance in (("a", "0"), ("b", "0"), ("c", "3")):
        out = tmp_path_factory.mktemp("rram") / name
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["run", "--chip", "rram", "--instance", instance, "--limit", "30", "--sweep", "1,2",
                       "-o", str(out), "--json", "-q"])
        assert rc == 0
        runs[name] = (json.loads(buf.getvalue()), out)
    return runs


def test_run_on_an_rram_chip_end_to_end(rram_runs):
    data, out = rram_runs["a"]
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + FIGURE_FILES + ("program.npz",))
    for key in HEADLINE + RRAM_KEYS:
        assert key in data, key
    assert data["chip"] == "rram" and data["core_type"] == "rram" and data["instance_seed"] == 0
    assert data["n_images"] == 30 and data["accuracy"] > 0.5
    assert data["table"]["name"] == "rram_28nm"
    total = data["energy_nj_per_image"]
    for key in ("energy_nj_by_component", "energy_nj_by_layer", "energy_nj_by_core"):
        parts = data[key]
        if key == "energy_nj_by_core":  # cores, plus the host and the idle cores' leakage
            parts = {**parts, "host": data["energy_nj_by_layer"]["host"],
                     "idle": data["energy_nj_by_layer"]["idle cores"]}
        assert sum(parts.values()) == pytest.approx(total, rel=1e-12), key
    for comp in ("crossbar.cell", "crossbar.row_driver", "crossbar.adc"):
        assert data["energy_nj_by_component"][comp] > 0, comp
    assert [p["timesteps"] for p in data["sweep"]] == [1, 2]
    assert data["raster"]["layers"][1]["spikes"]  # the hidden layer of image 0 spiked
    assert json.loads((out / "report.json").read_text()) == data
    assert "rram" in (out / "report.md").read_text()
    for name in FIGURE_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_rram_run_equals_the_energy_by_hand_of_the_same_instance(rram_runs):
    """Independent path: the saved program, calibration as 'hwsim yield' does it, the golden model (accuracy
    exactly), and the energy by hand from its counters and the rram_28nm table's entries (docs/rram.md §3;
    no hwsim.rram.energy code).
    Catches: an RRAM report that prices cell reads, row drivers or ADC steps wrongly, leaks the crossbar's
    bits, or simulates another instance or other images."""
    from hwsim.rram import calibrate_adc_scales, program_chip, run_rram
    from hwsim.rram.golden import simulate_rram

    data, out = rram_runs["a"]
    program = ChipProgram.load(out / "program.npz")
    ds = load_dataset("digits")
    scales = calibrate_adc_scales(program, encode(ds.x_train[:300], 8, "rate", seed=0))
    assert data["adc_scales"] == list(scales)
    chip = program_chip(program, 0, scales)
    result = simulate_rram(chip, encode(ds.x_test[:30], 8, "rate", seed=0))  # the golden model, not the engine
    by_hand = rram_energy_pj_per_image(result, program.chip, "rram_28nm")
    assert data["energy_nj_per_image"] == pytest.approx(by_hand.mean() / 1e3, rel=1e-9)
    assert data["latency_us_per_image"] == pytest.approx(latency_us_per_image(result, program.chip).mean(),
                                                         rel=1e-12)
    assert data["accuracy"] == pytest.approx(np.mean(result.predictions == ds.y_test[:30]))
    # the sweep runs on the same chip instance
    sweep_result = run_rram(chip, encode(ds.x_test[:30], 2, "rate", seed=0))
    sweep_by_hand = rram_energy_pj_per_image(sweep_result, program.chip, "rram_28nm")
    assert data["sweep"][1]["energy_nj_per_image"] == pytest.approx(sweep_by_hand.mean() / 1e3, rel=1e-9)


def test_rram_instance_is_reproducible_and_matters(rram_runs):
    a, b, c = (rram_runs[k][0] for k in "abc")
    assert a == b  # the same instance, bit for bit
    assert c["instance_seed"] == 3
    assert c["energy_nj_per_image"] != a["energy_nj_per_image"]
    assert c["energy_nj_by_core"] != a["energy_nj_by_core"]


def test_report_command_reproduces_an_rram_run(tmp_path, capsys, rram_runs):
    first, out = rram_runs["c"]
    second, _ = run_json(capsys, ["report", str(out / "program.npz"), "--instance", "3", "--limit", "30",
                                  "--sweep", "1,2", "-o", str(tmp_path / "rep"), "--json", "-q"])
    for key in ("energy_nj_per_image", "latency_us_per_image", "sops_per_image", "accuracy", "adc_scales",
                "energy_nj_by_component", "sweep"):
        assert second[key] == first[key], key


def test_network_that_does_not_fit_the_dataset(tmp_path, capsys):
    core = load_chip_config("default_28nm").core
    path = random_network(np.random.default_rng(1), [100, 10], core).save(tmp_path / "n.npz")
    rc = main(["run", "--net", str(path), "-o", str(tmp_path / "o"), "-q"])
    assert rc == 2
    assert "64 pixels per image" in capsys.readouterr().err


def test_run_refuses_to_overwrite_a_foreign_folder(tmp_path, capsys, net_file):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("keep")
    rc = main(["run", "--net", str(net_file), "--limit", "5", "--sweep", "none", "-o", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "refusing to replace" in err
    assert "simulating" not in err  # refused before any simulation
    assert (tmp_path / "o" / "notes.txt").read_text() == "keep"


def test_closed_stdout_pipe_ends_quietly(tmp_path, net_file):
    """`hwsim run --json | head -1`: no traceback, the report folder is complete, exit 128 + SIGPIPE."""
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hwsim.cli", "run", "--net", str(net_file), "--limit", "5",
           "--sweep", "none", "--no-figures", "--quiet", "--json", "-o", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the report is printed
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err, err
    assert json.loads((out / "report.json").read_text())["n_images"] == 5


def test_threads_scheduler_is_the_default_run(tmp_path, capsys, net_file):
    # --scheduler threads (any case) is the default: the same report files, byte for byte
    files = ("report.json", "report.csv", "images.csv", "report.md")
    out = {}
    for name, extra in (("default", []), ("threads", ["--scheduler", "THREADS"])):
        assert main(["run", "--net", str(net_file), "--limit", "20", "--sweep", "1,2", "--no-figures", "-q",
                     "-o", str(tmp_path / name), *extra]) == 0
        out[name] = [(tmp_path / name / f).read_bytes() for f in files]
    capsys.readouterr()
    assert out["threads"] == out["default"]


def test_run_notes_an_encoding_other_than_the_networks(tmp_path, capsys, net_file):
    """The network records rate coding: --encoding regular runs regular coding (the report says so) with a note
    on stderr naming both; without --encoding, or with the recorded one, or with -q, there is no note."""
    common = ["run", "--net", str(net_file), "--limit", "5", "--sweep", "none", "--no-figures", "--json"]
    data, err = run_json(capsys, common + ["--encoding", "regular", "-o", str(tmp_path / "a")])
    assert data["meta"]["encoding"] == "regular"
    assert "note: the network records 'rate' input encoding" in err and "--encoding regular" in err
    for extra, name in ((["--encoding", "rate"], "b"), ([], "c"), (["--encoding", "regular", "-q"], "d")):
        _, err = run_json(capsys, common + extra + ["-o", str(tmp_path / name)])
        assert "note: the network records" not in err, extra

"""``hwsim yield`` end to end on a small case: files, and yield.json agrees with itself and with the table;
the output folder is written as a whole; the mapper's warnings are one-line messages."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.commands.yield_ import render_table

# Networks made for other membrane widths may trip the soft width rule; these tests are not about it.
pytestmark = pytest.mark.filterwarnings("ignore::mapping.errors.DRCWarning")


def test_yield_command_small_run(tmp_path, capsys):
    out = tmp_path / "y"
    rc = main(["yield", "--instances", "4", "--sigma", "0.4", "--array-sigma", "0.3", "--spec", "0.9",
               "--limit", "60", "--sweep", "0,0.4", "--tune", "--train-instances", "3",
               "--signature-images", "10", "--tuning-images", "30", "--workers", "2", "-q", "-o", str(out)])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["accuracy_hist.png", "tuning.png", "yield.json", "yield_vs_sigma.png"]
    for png in ("accuracy_hist.png", "tuning.png", "yield_vs_sigma.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "yield.json").read_text())
    acc = np.array(data["accuracies"])
    assert len(acc) == 4 and data["test_images"] == 60
    s = data["summary"]
    assert s["yield"] == pytest.approx(np.mean(acc >= 0.9)) and s["mean"] == pytest.approx(acc.mean())
    # the sweep point at the study's sigma is the study itself (same seeds, same chips)
    sw = data["sweep"]
    assert sw["sigmas"] == [0.0, 0.4] and sw["mean_accuracy"][1] == pytest.approx(acc.mean())
    t = data["tuning"]
    before = [o["accuracy_before"] for o in data["instances_tuned"]]
    assert before == pytest.approx(acc.tolist())
    assert t["out_of_spec_before"] == s["out_of_spec"]
    assert data["chip"]["rram"]["variation_sigma"] == 0.4 and data["chip"]["rram"]["array_sigma"] == 0.3
    assert data["energy"]["energy_nj_per_image"] > 0
    table = capsys.readouterr().out
    assert f"| yield | {s['yield']:.3f}" in table and "out-of-spec devices" in table


def test_yield_command_rejects_a_digital_chip(tmp_path, capsys):
    rc = main(["yield", "--chip", "default_28nm", "--instances", "2", "-q", "-o", str(tmp_path / "x")])
    assert rc == 2
    assert "core_type = 'digital'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--instances", "0"], "--instances 0"),
    (["--spec", "1.5"], "--spec 1.5"),
    (["--sweep", "0,a"], "--sweep '0,a'"),
])
def test_yield_command_bad_arguments(tmp_path, capsys, argv, message):
    assert main(["yield", *argv, "-q", "-o", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


# A small study with every output: 3 instances on 40 test images, a sweep and tuning.
SMALL_TUNE = ["--instances", "3", "--limit", "40", "--sigma", "0.4", "--array-sigma", "0.3", "--sweep", "0,0.4",
              "--tune", "--train-instances", "3", "--signature-images", "10", "--tuning-images", "20", "-q"]
SMALL_PLAIN = ["--instances", "2", "--limit", "40", "--sweep", "none", "-q"]


@pytest.fixture(scope="module")
def tuned_study(tmp_path_factory):
    """The folder of an earlier ``--tune`` run (figures included)."""
    out = tmp_path_factory.mktemp("earlier") / "study"
    assert main(["yield", *SMALL_TUNE, "-o", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["accuracy_hist.png", "tuning.png", "yield.json", "yield_vs_sigma.png"]
    return out


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_rerun_without_tune_leaves_no_stale_files(tmp_path, tuned_study, capsys):
    out = tmp_path / "study"
    shutil.copytree(tuned_study, out)
    capsys.readouterr()
    assert main(["yield", *SMALL_PLAIN, "-o", str(out)]) == 0
    # the earlier tuning.png and yield_vs_sigma.png are gone with the earlier study
    assert sorted(os.listdir(out)) == ["accuracy_hist.png", "yield.json"]
    data = json.loads((out / "yield.json").read_text())
    assert data["tuning"] is None and data["sweep"] is None and len(data["accuracies"]) == 2
    assert f"wrote {out}/: accuracy_hist.png, yield.json\n" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["study"]  # no temporary folder left behind


@pytest.mark.parametrize("content", ["thesis.tex", "report.json"])  # unrelated files, or an 'hwsim run' report
def test_refuses_a_folder_that_holds_no_yield_study_before_simulating(tmp_path, capsys, monkeypatch, content):
    import hwsim.rram.yield_study as ys

    def not_reached(*args, **kwargs):
        raise AssertionError("the study ran before the output folder was checked")

    monkeypatch.setattr(ys, "instance_accuracies", not_reached)
    out = tmp_path / "mine"
    out.mkdir()
    (out / content).write_text("precious")
    assert main(["yield", *SMALL_PLAIN, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"output folder '{out}' is not empty and holds no earlier yield.json; refusing to replace it" in err
    assert os.listdir(out) == [content] and (out / content).read_text() == "precious"
    (tmp_path / "file").write_text("x")
    assert main(["yield", *SMALL_PLAIN, "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x"


def test_a_failure_while_drawing_figures_leaves_the_earlier_folder_intact(tmp_path, tuned_study, monkeypatch):
    import hwsim.rram.figures as figures

    out = tmp_path / "study"
    shutil.copytree(tuned_study, out)
    before = _snapshot(out)
    real = figures.accuracy_histogram

    def broken(path, *args, **kwargs):
        real(path, *args, **kwargs)  # a complete first figure, then the failure
        raise RuntimeError("disk full")

    monkeypatch.setattr(figures, "accuracy_histogram", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["yield", *SMALL_PLAIN, "-o", str(out)])
    assert _snapshot(out) == before
    assert sorted(os.listdir(tmp_path)) == ["study"]
    # a failed first run leaves nothing at all
    with pytest.raises(RuntimeError, match="disk full"):
        main(["yield", *SMALL_PLAIN, "-o", str(tmp_path / "fresh")])
    assert sorted(os.listdir(tmp_path)) == ["study"]


def test_design_rule_warning_is_a_one_line_message(tmp_path, capsys, monkeypatch):
    # Whether the bundled network trips a soft rule depends on the rules of the day, so the mapper is
    # wrapped to warn as a soft rule does (warnings.warn(DRCWarning(...))) and then map for real.
    import mapping
    from mapping.errors import DRCWarning

    real = mapping.map_network
    text = "design rule fanout_fits (soft): a made-up soft violation, for this test"

    def warning_mapper(*args, **kwargs):
        warnings.warn(DRCWarning(text), stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(mapping, "map_network", warning_mapper)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["yield", *SMALL_PLAIN, "--no-figures", "-o", str(tmp_path / "y")]) == 0
    assert [str(w.message) for w in caught] == []  # not left to Python's warning machinery
    err = capsys.readouterr().err
    # like 'hwsim run': "hwsim <command>: warning: <message>", printed with -q too, no source line
    assert err == f"hwsim yield: warning: {text}\n"


def test_tuning_table_never_prints_negative_zero(tuned_study):
    data = json.loads((tuned_study / "yield.json").read_text())
    t = data["tuning"]
    # no out-of-spec device before tuning: the relative change is undefined
    t.update(out_of_spec_before=0, out_of_spec_after=0, out_of_spec_reduction=0.0)
    row = next(line for line in render_table(data).splitlines() if line.startswith("| out-of-spec devices"))
    assert row == "| out-of-spec devices | 0 | 0 | n/a |"
    # as many out of spec after as before: 1 - 3/3 = 0 is no change, not "-0.0 %"
    t.update(out_of_spec_before=3, out_of_spec_after=3, out_of_spec_reduction=0.0)
    row = next(line for line in render_table(data).splitlines() if line.startswith("| out-of-spec devices"))
    assert row == "| out-of-spec devices | 3 | 3 | +0.0 % |"
    # 4 -> 1 is a 75 % reduction, printed as a change of -75.0 %
    t.update(out_of_spec_before=4, out_of_spec_after=1, out_of_spec_reduction=0.75)
    row = next(line for line in render_table(data).splitlines() if line.startswith("| out-of-spec devices"))
    assert row == "| out-of-spec devices | 4 | 1 | -75.0 % |"


def test_yield_on_fashion_mnist_from_the_debian_package(tmp_path, capsys, debian_fashion_mnist):
    """The RRAM study end to end on Fashion-MNIST: train for the rram preset, then a small Monte Carlo."""
    net_file = tmp_path / "f.npz"
    assert main(["train", "--dataset", "fashion-mnist", "--hidden", "48", "--chip", "rram", "--epochs", "3",
                 "--limit", "2000", "--seed", "1", "--no-progress", "-o", str(net_file)]) == 0
    capsys.readouterr()
    out = tmp_path / "y"
    rc = main(["yield", "--net", str(net_file), "--dataset", "fashion-mnist", "--limit", "200", "--instances", "3",
               "--sigma", "0.2", "--spec", "0.6", "--sweep", "none", "--workers", "2", "-q", "--no-figures",
               "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    data = json.loads((out / "yield.json").read_text())
    acc = np.array(data["accuracies"])
    assert data["test_images"] == 200 and len(acc) == 3
    assert data["ideal_accuracy"] >= 0.6 and acc.min() >= 0.5  # far above chance (0.1) on real images
    # Instance 0 and the ideal chip, exactly: the golden RRAM model (not the engine the study runs) on the same
    # program, ADC scales and rasters (test images rate-coded with seed 1, as the study does). Catches: a study
    # that scores other images, another instance or uncalibrated scales, which the bounds above cannot see.
    from hwsim.config import ChipConfig
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.network import Network
    from hwsim.rram import program_chip
    from hwsim.rram.golden import simulate_rram
    from hwsim.rram.yield_study import with_rram
    from mapping import map_network

    program = map_network(Network.load(net_file), ChipConfig.from_dict(data["chip"]))
    ds = load_dataset("fashion-mnist", limit=200)
    rasters = encode(ds.x_test, data["timesteps"], data["encoding"], 1)
    scales = data["adc_scales"]
    golden = simulate_rram(program_chip(program, 0, adc_scales=scales), rasters).predictions
    assert acc[0] == np.mean(golden == ds.y_test)
    ideal = with_rram(program, variation=False, array_variation=False, read_noise=False, stuck_faults=False,
                      finite_on_off=False, ir_drop=False)
    golden_ideal = simulate_rram(program_chip(ideal, 0, adc_scales=scales), rasters).predictions
    assert data["ideal_accuracy"] == np.mean(golden_ideal == ds.y_test)
    assert data["summary"]["yield"] == pytest.approx(np.mean(acc >= 0.6))


@pytest.mark.parametrize("argv, message", [
    (["--compare", "--train-instances", "2"], "--train-instances 2"),
    (["--sensitivity", "sigma"], "expected AXIS=V1,V2"),
    (["--sensitivity", "levels=16,32"], "AXIS one of sigma, array_sigma, stuck"),
    (["--sensitivity", "sigma=0,x"], "sigma needs comma-separated numbers"),
    (["--sensitivity", "stuck=0,0.6"], "stuck values must be in 0..0.5"),
    (["--sensitivity", "sigma=0;sigma=0.1"], "axis sigma given twice"),
    (["--sensitivity", ";"], "at least one AXIS"),
    (["--sensitivity-instances", "2"], "--sensitivity-instances needs --sensitivity"),
    (["--instances", "3", "--sensitivity", "sigma=0", "--sensitivity-instances", "5"], "at most --instances (3)"),
    (["--levels", "1"], "--levels 1"),
    (["--compare", "--factor-step", "0.3"], "--factor-step: factor step 0.3"),
    (["--compare", "--oracle-rounds", "0"], "--oracle-rounds 0"),
])
def test_yield_comparison_bad_arguments(tmp_path, capsys, argv, message):
    assert main(["yield", *argv, "-q", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_yield_compare_and_sensitivity_small_run(tmp_path, capsys):
    """--compare and --sensitivity end to end: the JSON's table agrees with its per-instance numbers, the oracle
    bounds every strategy, the sensitivity point at the study's own setting repeats the comparison (same seeds,
    a tuner trained on the same seeds), and the printed table shows the JSON's numbers."""
    out = tmp_path / "c"
    rc = main(["yield", "--instances", "4", "--limit", "50", "--sigma", "0.3", "--array-sigma", "0.3",
               "--spec", "0.9", "--sweep", "none", "--compare", "--train-instances", "3",
               "--signature-images", "10", "--tuning-images", "30", "--factor-step", "0.25",
               "--sensitivity", "array_sigma=0,0.3", "--sensitivity-instances", "4", "--workers", "2", "-q",
               "-o", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["accuracy_hist.png", "sensitivity.png", "strategies.png",
                                                     "yield.json"]
    data = json.loads((out / "yield.json").read_text())
    c = data["comparison"]
    per = c["per_instance"]
    none = [r["accuracy"]["none"] for r in per]
    assert none == data["accuracies"]  # "no tuning" is the study's own Monte Carlo
    for row in c["table"]:
        acc = np.array([r["accuracy"][row["strategy"]] for r in per])
        assert row["out_of_spec"] == int((acc < 0.9).sum()) and row["yield"] == pytest.approx(np.mean(acc >= 0.9))
    assert all(r["accuracy"]["oracle"] >= max(r["accuracy"].values()) for r in per)
    assert c["factor_grid"] == [0.5, 0.75, 1.0, 1.25, 1.5] and c["train_seeds"] == [4, 6]
    point = data["sensitivity"]["axes"]["array_sigma"]
    assert point["values"] == [0.0, 0.3]
    assert [point["yield"][r["strategy"]][1] for r in c["table"]] == [r["yield"] for r in c["table"]]
    table = capsys.readouterr().out
    assert "| oracle: best factors searched on the test images (upper bound) |" in table
    assert "Yield vs array_sigma (4 held-out instances per point):" in table

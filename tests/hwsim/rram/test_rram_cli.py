"""``hwsim yield`` end to end on a small case: files, and yield.json agrees with itself and with the table."""

import json

import numpy as np
import pytest

from hwsim.cli import main

# The bundled network was quantized for 12-bit membranes, the rram preset has 16: a soft design rule warns.
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

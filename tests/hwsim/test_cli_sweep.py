"""``hwsim sweep``: grid errors, points that break a design rule listed with the rule, re-quantization by hand,
the Pareto front, --resume re-using stored points, and a LocalCluster of 2 worker processes giving the same
bits as the thread pool."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.commands.sweep import POINTS_DIR, grid_points, parse_grid, pareto_front, requantize_network
from hwsim.errors import InputError

pytestmark = pytest.mark.filterwarnings("ignore::mapping.errors.DRCWarning")


def _sweep(tmp_path, name: str, grid: str, *extra: str, chip: str = "default_28nm") -> dict:
    out = tmp_path / name
    assert main(["sweep", "--chip", chip, "--grid", grid, "--limit", "30", "-q", "-o", str(out), *extra]) == 0
    return json.loads((out / "sweep.json").read_text())


# ------------------------------------------------------------------ the grid

def test_grid_points_in_order():
    grid = parse_grid("lanes=8,16; timesteps=2,4 ;exit=none,confidence:0.9")
    assert grid == {"lanes": [8, 16], "timesteps": [2, 4], "exit": ["none", "confidence:0.9"]}
    points = grid_points(grid)
    assert len(points) == 8
    assert points[0] == {"lanes": 8, "timesteps": 2, "exit": "none"}
    assert points[1] == {"lanes": 8, "timesteps": 2, "exit": "confidence:0.9"}  # the last name varies fastest
    assert points[-1] == {"lanes": 16, "timesteps": 4, "exit": "confidence:0.9"}
    assert parse_grid("clock_mhz=100,2.5e2")["clock_mhz"] == [100.0, 250.0]


@pytest.mark.parametrize("grid, message", [
    ("volts=1", "unknown parameter 'volts'; allowed: timesteps, encoding, exit, mesh_rows"),
    ("lanes=8;lanes=16", "lanes is given twice"),
    ("lanes=8,8", "lanes repeats a value"),
    ("lanes=", "lanes has no values"),
    ("lanes", "expected NAME=V1,V2"),
    ("lanes=eight", "lanes='eight': expected an integer in 1..4096"),
    ("w_bits=1", "w_bits='1': expected 2..16"),
    ("clock_mhz=nan", "clock_mhz='nan': expected a number"),
    ("encoding=poisson", "encoding='poisson': allowed rate, threshold, latency"),
    ("exit=confidence:2", "exit='confidence:2'"),
    (" ; ", "expected NAME=V1,V2,... items"),
])
def test_bad_grids(grid, message, tmp_path, capsys):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_grid(grid)
    assert main(["sweep", "--grid", grid, "-q", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "hwsim sweep: error: --grid" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # refused before any work


def test_bad_scheduler(tmp_path, capsys):
    assert main(["sweep", "--grid", "lanes=8", "--scheduler", "cluster", "-q", "-o", str(tmp_path / "s")]) == 2
    assert "--scheduler 'cluster': expected threads, local, local:N" in capsys.readouterr().err


# ------------------------------------------------------------------ design rules, re-quantization, Pareto

def test_design_rule_points_are_listed_with_the_rule(tmp_path):
    # small: 2x2 cores of 32 neurons. One mesh row leaves 2 x 32 = 64 neurons for the network's 64 + 10 = 74:
    # neurons_fit_cores. lanes = 5 does not divide 32 neurons: the chip configuration itself is refused.
    data = _sweep(tmp_path, "s", "mesh_rows=1,2;lanes=4,5", chip="small")
    by_point = {(p["point"]["mesh_rows"], p["point"]["lanes"]): p for p in data["points"]}
    assert len(by_point) == 4
    drc = by_point[(1, 4)]
    assert drc["status"] == "drc" and drc["rule"] == "neurons_fit_cores" and "74 neurons" in drc["message"]
    for rows in (1, 2):
        bad = by_point[(rows, 5)]
        assert bad["status"] == "invalid" and bad["rule"] == "config" and "must divide core.neurons" in bad["message"]
    ok = by_point[(2, 4)]
    assert ok["status"] == "ok" and 0 <= ok["accuracy"] <= 1 and ok["energy_nj_per_image"] > 0
    assert data["counts"] == {"ok": 1, "drc": 1, "invalid": 2, "mapping": 0}
    # listed, not dropped: in the CSV too, with the rule
    rows = list(csv.DictReader((tmp_path / "s" / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["drc", "invalid", "ok", "invalid"]
    assert rows[0]["rule"] == "neurons_fit_cores" and rows[0]["accuracy"] == ""
    assert (tmp_path / "s" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_requantize_by_hand():
    from hwsim.training import load_default_network

    net = load_default_network()  # 6-bit weights, 12-bit membranes, per-layer scales in its metadata
    assert requantize_network(net, 6, 12) is net
    q = requantize_network(net, 4, 12)
    s0, s1 = net.metadata["scales"]
    # hidden layer: theta_int = round(theta * w_max / max|W|) with theta = s0 * threshold; scale = theta / theta_int
    w0 = net.layers[0].weights.astype(np.float64) * s0
    theta = s0 * net.layers[0].threshold
    t4 = int(np.clip(np.rint(theta * 7 / np.abs(w0).max()), 1, 2047))
    assert q.layers[0].threshold == t4
    assert np.array_equal(q.layers[0].weights, np.clip(np.rint(w0 / (theta / t4)), -8, 7))
    # output layer: scale max|W| / w_max, threshold 0
    w1 = net.layers[1].weights.astype(np.float64) * s1
    assert q.layers[1].threshold == 0
    assert np.array_equal(q.layers[1].weights, np.clip(np.rint(w1 / (np.abs(w1).max() / 7)), -8, 7))
    assert q.metadata["w_bits"] == 4 and q.metadata["requantized_from"]["w_bits"] == 6
    assert np.abs(q.layers[0].weights).max() <= 7


def test_pareto_front_by_hand():
    energy = np.array([1.0, 2.0, 2.0, 3.0, 0.5])
    accuracy = np.array([0.8, 0.9, 0.85, 0.9, 0.5])
    # 2 is beaten by 1 (same energy, lower accuracy); 3 by 1 (more energy, same accuracy)
    assert pareto_front(energy, accuracy, maximize_y=True).tolist() == [4, 0, 1]
    latency = np.array([5.0, 1.0, 2.0, 0.5, 9.0])
    assert pareto_front(energy, latency, maximize_y=False).tolist() == [4, 0, 1, 3]


# ------------------------------------------------------------------ resume

def test_resume_reuses_stored_points(tmp_path, capsys):
    grid = "lanes=8,16;timesteps=2"
    first = _sweep(tmp_path, "s", grid)
    points_dir = tmp_path / "s" / POINTS_DIR
    stored = sorted(points_dir.iterdir())
    assert [p.name for p in stored] == sorted(f"{p['key']}.json" for p in first["points"])
    # mark one stored point: a resumed sweep must show the mark (it re-used the file, it did not simulate)
    key = first["points"][1]["key"]
    marked = json.loads((points_dir / f"{key}.json").read_text())
    marked["result"]["accuracy"] = 0.123456
    (points_dir / f"{key}.json").write_text(json.dumps(marked))
    # and remove the other: it is simulated again, to the same bits
    (points_dir / f"{first['points'][0]['key']}.json").unlink()
    capsys.readouterr()
    resumed = _sweep(tmp_path, "s", grid, "--resume")
    assert "(1 points re-used)" in capsys.readouterr().out
    assert resumed["points"][1]["accuracy"] == 0.123456
    # (the mark moves the Pareto front)
    unmarked = {k: v for k, v in resumed["points"][0].items() if not k.startswith("pareto_")}
    assert unmarked == {k: v for k, v in first["points"][0].items() if not k.startswith("pareto_")}
    # without --resume every point is simulated again
    fresh = _sweep(tmp_path, "s", grid)
    assert fresh == first


# ------------------------------------------------------------------ the same bits on a LocalCluster

def test_sweep_same_bits_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    grid = "lanes=8,16;timesteps=2,4"
    threads = _sweep(tmp_path, "threads", grid)
    cluster = _sweep(tmp_path, "cluster", grid, "--scheduler", "local:2")
    assert (tmp_path / "threads" / "sweep.json").read_bytes() == (tmp_path / "cluster" / "sweep.json").read_bytes()
    assert (tmp_path / "threads" / "sweep.csv").read_bytes() == (tmp_path / "cluster" / "sweep.csv").read_bytes()
    assert cluster == threads
    # a point's numbers are those of `evaluate` on its chip, run here
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.report import evaluate
    from hwsim.training import load_default_network
    from mapping import map_network

    base = load_chip_config("default_28nm")
    chip = base.replace(core=base.core.__class__(**{**base.core.to_dict(), "lanes": 16}))
    ds = load_dataset("digits")
    report = evaluate(map_network(load_default_network(), chip), ds.x_test[:30], ds.y_test[:30], timesteps=4,
                      sweep=[], raster_image=None).to_dict()
    point = next(p for p in cluster["points"] if p["point"] == {"lanes": 16, "timesteps": 4})
    for key in ("accuracy", "energy_nj_per_image", "latency_us_per_image", "throughput_images_per_s"):
        assert point[key] == report[key]


def test_an_interrupted_sweep_is_not_written_as_complete_and_resumes(tmp_path, monkeypatch, capsys):
    import hwsim.commands.sweep as sweep

    grid = "lanes=8,16;timesteps=2,3"
    complete = _sweep(tmp_path, "whole", grid)
    store = sweep._store_point
    stored = []

    def store_then_interrupt(points_dir, row):  # Ctrl-C after the second point is stored
        store(points_dir, row)
        stored.append(row["key"])
        if len(stored) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "_store_point", store_then_interrupt)
    out = tmp_path / "s"
    assert main(["sweep", "--grid", grid, "--limit", "30", "--workers", "1", "-q", "-o", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (out / "sweep.json").exists() and not (out / "sweep.csv").exists()
    assert sorted(p.name for p in (out / POINTS_DIR).iterdir()) == sorted(f"{k}.json" for k in stored)
    monkeypatch.setattr(sweep, "_store_point", store)
    resumed = _sweep(tmp_path, "s", grid, "--resume")
    assert "(2 points re-used)" in capsys.readouterr().out
    assert resumed == complete


def test_supply_voltage_is_sweepable_and_priced_as_evaluate_prices_it(tmp_path):
    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.report import evaluate
    from hwsim.training import load_default_network
    from mapping import map_network

    result = _sweep(tmp_path, "volt", "voltage_v=0.6,0.9;timesteps=4")
    points = {p["point"]["voltage_v"]: p for p in result["points"]}
    assert set(points) == {0.6, 0.9}
    ds = load_dataset("digits")
    for volts, point in points.items():
        chip = load_chip_config("default_28nm").replace(voltage_v=volts)
        report = evaluate(map_network(load_default_network(), chip), ds.x_test[:30], ds.y_test[:30], timesteps=4,
                          sweep=[], raster_image=None).to_dict()
        assert point["energy_nj_per_image"] == report["energy_nj_per_image"]
        assert point["latency_us_per_image"] == report["latency_us_per_image"]
    # a lower supply costs less energy per image (dynamic ~V^2, leakage ~V), at the same cycles
    assert points[0.6]["energy_nj_per_image"] < points[0.9]["energy_nj_per_image"]
    assert points[0.6]["accuracy"] == points[0.9]["accuracy"]

"""The mesh network-on-chip in reports and commands (hwsim/report/noc.py, --noc): hand-worked numbers.

The hot spot of tests/hwsim/test_energy_noc.py (cores 1 and 2 relay one spike each to core 3 on a 2 x 2 mesh)
is worked out cycle by cycle there; its link counters are (router: packets per output port local, N, E, S, W)
router 0: east 1 (host -> core 1), south 1 (host -> core 2); router 1: local 1, south 1; router 2: local 1,
east 1; router 3: local 2, with the one stall cycle of the run (west waited for north).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from test_energy_noc import _hot_spot

from hwsim.cli import main
from hwsim.config import ChipConfig, CoreConfig
from hwsim.golden import simulate
from hwsim.report import build_report
from hwsim.report.noc import NOC_FIGURE, placement_noc_estimate
from hwsim.report.render import render_table, write_report
from mapping.placement import Part, Traffic

RASTER = np.array([[1, 1]], np.uint8)


def _report(noc: str):
    program = _hot_spot(noc)
    return build_report(simulate(program, RASTER), program)


def test_mesh_report_keys_by_hand():
    data = _report("mesh").to_dict()
    assert data["noc"] == "mesh" and data["mesh_shape"] == [2, 2] and data["router_buffer_flits"] == 4
    # HOST 3 cycles + ROUTE(0) 3 cycles; 4 buffer writes; 1 stall
    assert data["noc_route_cycles_per_image"] == 6
    assert data["noc_stall_cycles_per_image"] == 1
    assert data["noc_buffer_writes_per_image"] == 4
    links = {(lk["router"], lk["port"]): lk for lk in data["noc_links"]}
    assert set(links) == {(0, "east"), (0, "south"), (1, "local"), (1, "south"), (2, "local"), (2, "east"),
                          (3, "local")}
    assert links[(0, "east")]["to_core"] == 1 and links[(2, "east")]["to_core"] == 3
    assert links[(1, "south")]["to_core"] == 3 and links[(3, "local")]["to_core"] == 3
    # utilisation = packets / routing cycles of the run (6)
    assert links[(0, "east")]["utilisation"] == pytest.approx(1 / 6)
    busiest = data["busiest_link"]
    assert (busiest["router"], busiest["port"], busiest["position"]) == (3, "local", [1, 1])
    assert busiest["packets_per_timestep"] == 2 and busiest["utilisation"] == pytest.approx(2 / 6)
    assert busiest["stall_cycles_per_image"] == 1
    json.dumps(data, allow_nan=False)


def test_text_csv_and_heatmap(tmp_path):
    report = _report("mesh")
    text = render_table(report.to_dict())
    assert "| network-on-chip" in text and "6 routing cycles/image" in text and "1 stall cycles/image" in text
    assert "| busiest link" in text and "router 3 (1,1) local: 2 packets/timestep" in text
    out = write_report(report, tmp_path / "out")
    assert (out / NOC_FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = (out / "report.csv").read_text()
    assert "summary,noc_route_cycles_per_image,6.0,cycles" in csv
    assert "noc_link,3:local:stall_cycles_per_image,1.0,cycles" in csv


def test_ideal_reports_have_no_noc_keys(tmp_path):
    report = _report("ideal")
    data = report.to_dict()
    assert not any(k.startswith("noc") or k in ("busiest_link", "mesh_shape") for k in data)
    assert "network-on-chip" not in render_table(data)
    out = write_report(report, tmp_path / "out")
    assert not (out / NOC_FIGURE).exists()


def test_mapping_estimate_by_hand():
    # as tests/mapping/test_placement_mesh.py: the host sends 4 and 2 packets to parts 0 and 1 (stage 0), which
    # send 3 and 5 to part 2; at cores 1, 2, 5 of a 2 x 3 mesh, hop latency 1: host phase max(6 on router 0
    # east, 6 injected) + 1 * 2 hops = 8; stage 0 max(8 on router 2 south and core 5's local output, 5) + 2 = 10
    chip = ChipConfig(name="mesh2x3", mesh_rows=2, mesh_cols=3, hop_latency_cycles=1, noc="mesh",
                      core=CoreConfig(axons=8, neurons=8, lanes=2, w_bits=4, v_bits=8))
    parts = (Part(layer=0, index=0, lo=0, size=1), Part(layer=0, index=1, lo=1, size=1),
             Part(layer=1, index=0, lo=0, size=1))
    traffic = Traffic(host=np.array([4.0, 2.0, 0.0]), flows=((0, 2, 3.0), (1, 2, 5.0)), part_rates=np.zeros(3))
    est = placement_noc_estimate(SimpleNamespace(cores=(1, 2, 5), parts=parts, traffic=traffic), chip)
    assert est["noc_phase_cycles_estimate"] == {"host": 8.0, "stage0": 10.0}
    assert est["noc_route_cycles_per_timestep_estimate"] == 18.0
    busiest = est["busiest_link"]
    assert (busiest["router"], busiest["port"], busiest["packets_per_timestep"]) == (2, "south", 8.0)
    assert busiest["utilisation"] == pytest.approx(8 / 18)


def test_map_writes_the_estimate_and_heatmap_on_a_mesh(tmp_path, capsys):
    out = tmp_path / "prog"
    assert main(["map", "hwsim/data/digits_default.npz", "--chip", "small", "--noc", "mesh", "--iterations", "200",
                 "-o", str(out)]) == 0
    assert "routing cycles/timestep; busiest link router" in capsys.readouterr().out
    data = json.loads((out / "mapping.json").read_text())
    assert data["noc"]["noc"] == "mesh" and data["noc"]["busiest_link"] is not None
    assert data["placement"]["cost_mesh_busiest_link_per_timestep"] > 0
    assert (out / NOC_FIGURE).is_file()


def _refused(capsys, argv, *fragments):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and not out, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("command", ["run", "map hwsim/data/digits_default.npz", "sweep --grid timesteps=1"])
def test_unknown_noc_model_is_an_argparse_error(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([*command.split(), "--noc", "torus"])
    assert exc.value.code == 2
    assert "--noc: invalid choice: 'torus' (choose from 'ideal', 'mesh')" in capsys.readouterr().err


def test_noc_option_errors(capsys, tmp_path):
    _refused(capsys, ["run", "--chip", "rram", "--noc", "mesh", "-q", "-o", str(tmp_path / "r")], "--noc mesh",
             "rram", "ideal")
    _refused(capsys, ["sweep", "--grid", "noc=torus", "-o", str(tmp_path / "s")], "noc='torus'", "ideal, mesh")


def _noc_compare():
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    return importlib.import_module("noc_compare")


def test_noc_compare_bounds_hold_and_sanafe_matches_a_lone_stream():
    from hwsim.golden.noc import mesh_phase

    nc = _noc_compare()
    chip = ChipConfig(name="mesh3x3", mesh_rows=3, mesh_cols=3, hop_latency_cycles=2, noc="mesh",
                      router_buffer_flits=3, core=CoreConfig(axons=8, neurons=8, lanes=2, w_bits=4, v_bits=8))
    # a lone stream of 5 packets over 3 hops: §1.5's check, 5 + 2 * 3 = 11 cycles; SANA-FE's heuristic agrees
    lone = {0: [(5, i) for i in range(5)]}
    assert mesh_phase(chip, lone).cycles == 11 == nc.sanafe_phase_estimate(chip, lone)
    assert nc.phase_bounds(chip, lone) == {"hot_spot": 5, "sender": 5, "busiest_link": 5, "latency": 7}
    rng = np.random.default_rng(0)
    for _ in range(20):  # random phases: the mesh never beats a bound
        inj = {s: [(int(d), k) for k, d in enumerate(rng.integers(0, 9, rng.integers(1, 12)))]
               for s in rng.choice(9, rng.integers(1, 5), replace=False).tolist()}
        assert mesh_phase(chip, inj).cycles >= max(nc.phase_bounds(chip, inj).values())


def test_sweep_grid_takes_noc_and_router_buffer_flits(capsys, tmp_path):
    from hwsim.commands.sweep import _point_chip, grid_points, parse_grid
    from hwsim.config import load_chip_config

    grid = parse_grid("noc=ideal,mesh;router_buffer_flits=1,8")
    assert grid == {"noc": ["ideal", "mesh"], "router_buffer_flits": [1, 8]}
    chips = [_point_chip(load_chip_config("small"), p) for p in grid_points(grid)]
    assert [(c.noc, c.router_buffer_flits) for c in chips] == [("ideal", 1), ("ideal", 8), ("mesh", 1), ("mesh", 8)]
    _refused(capsys, ["sweep", "--grid", "router_buffer_flits=0", "-o", str(tmp_path / "s")],
             "router_buffer_flits='0'", "1..64")


def test_sweep_over_noc_keeps_the_mesh_numbers(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--chip", "small", "--grid", "noc=ideal,mesh;timesteps=2", "--limit", "4", "--no-figures",
                 "-q", "-o", str(out)]) == 0
    points = json.loads((out / "sweep.json").read_text())["points"]
    ideal, mesh = (next(p for p in points if p["point"]["noc"] == m) for m in ("ideal", "mesh"))
    assert "noc_route_cycles_per_image" not in ideal and "noc_stall_cycles_per_image" not in ideal
    assert mesh["noc_route_cycles_per_image"] > 0 and mesh["noc_stall_cycles_per_image"] >= 0
    # the same spikes under both models (chip-spec §1.5): equal accuracy and SOPs
    assert (mesh["accuracy"], mesh["sops_per_image"]) == (ideal["accuracy"], ideal["sops_per_image"])

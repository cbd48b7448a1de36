"""The chip's area in 'hwsim run' reports: area_mm2, the per-block breakdown, the text line and the figure.

Expected values come from the stored synthesis record (hwsim/area/stored/small.json: cell counts and bits
priced by 'hwsim area' when it was written), summed here by hand, not from the code under test.
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from hwsim.area.model import STORED_DIR, run_area
from hwsim.report import evaluate, render_table, write_report
from hwsim.report.area_figure import AREA_FIGURE
from hwsim.testing import random_network
from mapping import map_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _small_report(chip):
    rng = np.random.default_rng(3)
    net = random_network(rng, [40, 30, 10], chip.core, threshold=40)
    program = map_network(net, chip, [0, 1])
    return evaluate(program, rng.random((4, 40)), rng.integers(0, 10, 4), timesteps=2, seed=1, sweep=[],
                    simulator="golden", meta={"dataset": "random", "network": "random-40-30-10"})


def test_breakdown_of_the_small_preset_by_hand(small_chip):
    stored = json.loads((STORED_DIR / "small.json").read_text())
    mm2, source, breakdown = run_area(small_chip)
    by_name = {b["name"]: b for b in stored["blocks"]}
    core_um2 = sum(b["um2"] for b in stored["blocks"] if b["scope"] == "core")
    chip_level_um2 = sum(b["um2"] for b in stored["blocks"] if b["scope"] == "chip")
    assert breakdown["n_cores"] == 4 and breakdown["area_table"] == "28nm"
    assert breakdown["core_mm2"] == pytest.approx(core_um2 / 1e6, abs=2e-6)
    assert breakdown["chip_level_mm2"] == pytest.approx(chip_level_um2 / 1e6, abs=2e-6)
    assert mm2 == breakdown["chip_mm2"] == pytest.approx((4 * core_um2 + chip_level_um2) / 1e6, abs=2e-6)
    assert [b["name"] for b in breakdown["blocks"]] == [b["name"] for b in stored["blocks"]]
    for b in breakdown["blocks"]:
        um2 = by_name[b["name"]]["um2"]
        copies = 4 if b["scope"] == "core" else 1
        assert b["mm2"] == pytest.approx(um2 / 1e6, abs=1e-6), b["name"]
        assert b["chip_mm2"] == pytest.approx(copies * um2 / 1e6, abs=1e-6), b["name"]
        assert b["share_of_chip"] == pytest.approx(copies * um2 / (4 * core_um2 + chip_level_um2), abs=1e-5)
        if b["scope"] == "core":
            assert b["share_of_core"] == pytest.approx(um2 / core_um2, abs=1e-5)
        else:
            assert b["share_of_core"] is None
    assert sum(b["share_of_chip"] for b in breakdown["blocks"]) == pytest.approx(1.0, abs=1e-5)
    # the blocks are all there (SRAM, register files, neuron update, lane accumulators, spike scan,
    # controller, router), the routers one per core
    names = {b["name"] for b in breakdown["blocks"]}
    assert {"weight SRAM", "membrane register file", "neuron update", "lane accumulators", "spike scan",
            "controller", "router"} <= names
    assert next(b for b in breakdown["blocks"] if b["name"] == "router")["instances"] == 4
    assert source == "stored synthesis hwsim/area/stored/small.json, area table 28nm"


def test_run_report_has_the_area_line_csv_row_json_and_figure(small_chip, tmp_path):
    report = _small_report(small_chip)
    data = report.to_dict()
    mm2, source, breakdown = run_area(small_chip)
    assert (data["area_mm2"], data["area_source"], data["area_by_block"]) == (mm2, source, breakdown)
    out = write_report(report, tmp_path / "rep")
    assert (out / AREA_FIGURE).read_bytes()[:8] == PNG_MAGIC
    table = (out / "report.md").read_text()
    line = next(row for row in table.splitlines() if row.startswith("| area "))
    assert f"{mm2:.4g} mm2 (4 x {breakdown['core_mm2']:.4g} mm2 core" in line
    assert "predicted by Yosys synthesis of rtl/ and a sourced area table, not fitted" in line
    assert "hwsim/area/stored/small.json" in line
    with open(out / "report.csv", newline="") as fh:
        rows = {(r["section"], r["key"]): r for r in csv.DictReader(fh)}
    assert float(rows[("summary", "area_mm2")]["value"]) == mm2 and rows[("summary", "area_mm2")]["unit"] == "mm2"


def test_a_chip_without_stored_synthesis_gets_the_reason_and_no_figure(small_chip, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no yosys anywhere: nothing may try to run it
    chip = small_chip.replace(name="small_2_lanes", core=dataclasses.replace(small_chip.core, lanes=2))  # LANES
    report = _small_report(chip)
    data = report.to_dict()
    assert data["area_mm2"] is None and "area_by_block" not in data
    assert "'hwsim area --chip small_2_lanes' computes it" in data["area_source"]
    out = write_report(report, tmp_path / "rep")
    assert not (out / AREA_FIGURE).exists()
    assert f"| area                 | n/a: {data['area_source']} |" in render_table(data)
    with open(out / "report.csv", newline="") as fh:
        assert "area_mm2" not in {r["key"] for r in csv.DictReader(fh)}


def test_a_report_dict_from_before_area_renders_without_it(small_chip):
    data = _small_report(small_chip).to_dict()
    for key in ("area_mm2", "area_source", "area_by_block"):
        del data[key]
    assert "| area " not in render_table(data)


def test_a_mesh_noc_chip_is_not_priced_as_the_stored_ideal_one(small_chip):
    from hwsim.area.model import chip_hdl_params

    mesh = small_chip.replace(noc="mesh", router_buffer_flits=8)
    params = chip_hdl_params(mesh)
    assert params["NOC_MESH"] == 1 and params["BUFFER_FLITS"] == 8
    assert "NOC_MESH" not in chip_hdl_params(small_chip)  # the ideal network keeps the stored parameter sets
    mm2, source, breakdown = run_area(mesh)
    assert mm2 is None and breakdown is None and "no stored synthesis" in source

"""Area from the RTL (hwsim.area, docs/area.md): the table, the model by hand, and a synthesis of the small preset.

The synthesis test needs Yosys (Debian's ``yosys``): it skips visibly without it, except under
``CI=true`` (``.ci/run`` installs it), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from hwsim.area.model import STORED_DIR, Block, block_areas, memory_blocks
from hwsim.area.synth import ModuleGates, SynthesisError, _int_param, _read_stat
from hwsim.area.table import AreaTableError, load_area_table
from hwsim.config import load_chip_config

TABLE_TEXT = Path(__file__).resolve().parents[2] / "hwsim" / "area" / "tables" / "28nm.toml"


@pytest.fixture
def table():
    return load_area_table("28nm")


# ---------------------------------------------------------------- the table


def test_shipped_table_values_and_sources(table):
    assert table.nand2_um2 == 0.40
    assert table.utilisation == 0.70
    assert table.sram_bitcell_um2 == 0.127
    assert table.sram_periphery_factor == 1.6
    assert table.rf_bit_ge == 12.4
    assert table.nand2_equivalents["$_NAND_"] == 1.0
    assert table.nand2_equivalents["$_DFF_P_"] == 5.667
    for key in ("nand2_um2", "utilisation", "sram_bitcell_um2", "sram_periphery_factor", "rf_bit_ge",
                "nand2_equivalents"):
        assert len(table.sources[key]) > 20, key
    for key, (low, high) in table.ranges.items():
        assert low <= getattr(table, key) <= high


def _write_table(tmp_path, text):
    path = tmp_path / "t.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('[logic.nand2_um2]\nvalue = 0.40', '[logic.nand2_um2]\nvalue = "big"', "logic.nand2_um2.value"),
        ("[logic.utilisation]\nvalue = 0.70", "[logic.utilisation]\nvalue = 1.5", "logic.utilisation.value = 1.5"),
        ('"$_NAND_" = 1.0', '"$_NAND_" = 2.0', "$_NAND_ must be 1"),
        ("range = [0.120, 0.160]", "range = [0.130, 0.160]", "sram.bitcell_um2.range"),
        ('format = "hwsim-area-table"', 'format = "other"', "format"),
        ("[sram.periphery_factor]\nvalue = 1.6", "[sram.periphery_factor]\nvalue = 1.6\ncolour = 1",
         "sram.periphery_factor: unknown key(s) colour"),
    ],
)
def test_bad_table_names_the_key(tmp_path, old, new, message):
    text = TABLE_TEXT.read_text()
    assert old in text
    with pytest.raises(AreaTableError, match=re.escape(message)):
        load_area_table(_write_table(tmp_path, text.replace(old, new, 1)))


def test_missing_source_is_refused(tmp_path):
    text = TABLE_TEXT.read_text()
    start = text.index("[sram.bitcell_um2]")
    line = text.index("source =", start)
    end = text.index("\n", line)
    with pytest.raises(AreaTableError, match="sram.bitcell_um2.source"):
        load_area_table(_write_table(tmp_path, text[:line] + text[end:]))


def test_unknown_table_name_lists_the_shipped_ones():
    with pytest.raises(AreaTableError, match="28nm"):
        load_area_table("7nm")


# ---------------------------------------------------------------- the model, by hand


def test_area_arithmetic_by_hand(table):
    # 10 NAND2 + 3 inverters + 2 flip-flops = 10 + 3 * 0.667 + 2 * 5.667 = 23.335 NAND2 equivalents
    ge = table.logic_ge({"$_NAND_": 10, "$_NOT_": 3, "$_DFF_P_": 2})
    assert ge == pytest.approx(23.335)
    assert table.logic_um2(ge) == pytest.approx(23.335 * 0.40 / 0.70)
    # 1 Mbit of SRAM: 1048576 * 0.127 um^2 = 133169.152 um^2 of bitcells, * 1.6 = 213070.64 um^2
    assert table.sram_um2(1 << 20) == pytest.approx(213070.64, abs=0.01)
    # 384 register-file bits at 12.4 GE: 4761.6 GE, 2720.9 um^2
    assert table.rf_um2(384) == pytest.approx(384 * 12.4 * 0.40 / 0.70)
    with pytest.raises(AreaTableError, match=r"\$_LATCH_"):
        table.logic_ge({"$_LATCH_": 1})


def test_memory_bits_of_the_small_preset(table):
    blocks = {b.name: b for b in memory_blocks(load_chip_config("small"), table)}
    assert blocks["weight SRAM"].bits == 64 * 32 * 6
    assert blocks["membrane register file"].bits == 32 * 12
    assert blocks["bias register file"].bits == 32 * 12
    assert "partial-sum buffer" not in blocks


def test_hierarchy_is_summed_per_block_with_instance_counts(table):
    # top: 4 NAND + 2 x router (each 1 DFF + a nested child of 3 NOR) + 1 host port holding a router + 2 black boxes
    router = ModuleGates("$paramod$a\\snn_router", "snn_router", {"SRC": 8}, {"$_DFF_P_": 1}, {"leaf": 1})
    leaf = ModuleGates("leaf", "leaf", {}, {"$_NOR_": 3}, {})
    host_router = ModuleGates("$paramod$b\\snn_router", "snn_router", {"SRC": 4}, {"$_NAND_": 5}, {})
    host = ModuleGates("$paramod$c\\snn_host_port", "snn_host_port", {}, {"$_NOT_": 3},
                       {"$paramod$b\\snn_router": 1})
    top = ModuleGates("snn_chip", "snn_chip", {}, {"$_NAND_": 4},
                      {"$paramod$a\\snn_router": 2, "$paramod$c\\snn_host_port": 1, "snn_core": 2})
    blocks, boxes = block_areas([router, leaf, host_router, host, top], "snn_chip", "chip", table)
    got = {b.name: b for b in blocks}
    assert boxes == {"snn_core": 2}
    assert got["chip glue"].nand2 == pytest.approx(4)
    assert got["router"].nand2 == pytest.approx(2 * (5.667 + 3))  # the nested leaf belongs to the router
    assert got["router"].flip_flops == 2
    assert got["host port"].nand2 == pytest.approx(3 * 0.667 + 5)  # its router is the host port's, not "router"
    assert set(got) == {"chip glue", "router", "host port"}
    assert (got["router"].instances, got["host port"].instances, got["chip glue"].instances) == (2, 1, 1)
    assert all(isinstance(b, Block) and b.um2 == pytest.approx(table.logic_um2(b.nand2)) for b in blocks)


def test_yosys_output_parsing():
    stat = '{\n "modules": {\n  "\\\\top": {\n   "num_cells_by_type": {\n    "$_NAND_": 2\n   }\n  }\n },\n' \
           '       $paramod$1\\child      1\n "design": {}\n}\n'
    assert _read_stat(stat)["modules"]["\\top"]["num_cells_by_type"] == {"$_NAND_": 2}
    assert _int_param("00000000000000000000000000001100") == 12
    assert _int_param("11111111111111111111111111111111") == -1
    assert _int_param(7) == 7
    with pytest.raises(SynthesisError):
        _int_param("x1")


# ---------------------------------------------------------------- synthesis of the small preset


def _need_yosys():
    if shutil.which("yosys") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("yosys is not on PATH (CI=true: .ci/run installs it; the area synthesis must run)")
        pytest.skip("yosys is not on PATH (apt-get install yosys): area synthesis not tested")


# The small preset (64 axons x 32 neurons, 4 lanes, 6-bit weights, 12-bit membranes, 2 x 2 mesh) against its
# stored synthesis, hwsim/area/stored/small.json (Yosys 0.23 with hwsim/area/synth.py's flow, written by
# 'hwsim area --chip small'; 'hwsim run' reads it). Flip-flops are counted by hand from the RTL and must
# match exactly; NAND2 equivalents (a Yosys/ABC result) within 5 % (another Yosys version may map a little
# differently; a larger change means the RTL or the flow changed: update the figure and docs/area.md).
SMALL_FLIP_FLOPS = {
    # snn_ctrl: one-hot state of 5 states (Yosys' FSM recoding) + issue_group, acc_group, upd_group (3 bits
    # each, G_W = log2(32/4)) + acc_en = 5 + 9 + 1
    "controller": 15,
    # snn_spike_scan: the input buffer and the work bitmap, AXONS bits each
    "spike scan": 2 * 64,
    # snn_core: n_neurons (6) + last_group (3) + threshold (12) + leak_shift (4) + 3 mode bits
    "core glue": 6 + 3 + 12 + 4 + 3,
    "lane accumulators": 0,  # combinational
    "neuron update": 0,  # combinational
}


@pytest.mark.slow
def test_small_preset_synthesis_matches_the_stored_gate_counts(tmp_path, monkeypatch, capsys):
    _need_yosys()
    from hwsim.area.model import report_from_record
    from hwsim.cli import main

    monkeypatch.setenv("HWSIM_AREA_CACHE", str(tmp_path / "cache"))  # an empty cache: Yosys really runs
    assert main(["area", "--chip", "small", "-o", str(tmp_path / "out"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "out" / "area.json").read_text())
    assert printed == written
    assert (tmp_path / "out" / "area.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir())
    assert cached == ["snn_chip", "snn_core", "snn_exit_unit"]
    report = report_from_record(written, load_chip_config("small"), load_area_table("28nm"))
    got = {b.name: b for b in report.blocks}
    for name, flops in SMALL_FLIP_FLOPS.items():
        assert got[name].flip_flops == flops, name
    stored = json.loads((STORED_DIR / "small.json").read_text())
    for block in stored["blocks"]:
        if block["kind"] == "logic":
            assert got[block["name"]].nand2 == pytest.approx(block["nand2"], rel=0.05), block["name"]
            assert got[block["name"]].flip_flops == block["flip_flops"], block["name"]
    assert {b.name for b in report.blocks} == {b["name"] for b in stored["blocks"]}
    assert report.chip_mm2 == pytest.approx(stored["chip_mm2"], rel=0.05)


# ---------------------------------------------------------------- area in 'hwsim run' (stored results only)


def test_run_area_comes_from_the_stored_synthesis(table):
    from hwsim.area.model import report_from_record, run_area_mm2

    small = load_chip_config("small")
    stored = json.loads((STORED_DIR / "small.json").read_text())
    mm2, source = run_area_mm2(small)
    # by hand from the stored record: 4 cores x the core's blocks + the chip-level blocks
    core = sum(b["um2"] for b in stored["blocks"] if b["scope"] == "core")
    chip_level = sum(b["um2"] for b in stored["blocks"] if b["scope"] == "chip")
    assert mm2 == pytest.approx((4 * core + chip_level) / 1e6, rel=1e-4)
    assert mm2 == round(report_from_record(stored, small, table).chip_mm2, 6)
    assert "hwsim/area/stored/small.json" in source
    # a file with the same HDL parameters under another name gets the same area
    assert run_area_mm2(small.replace(name="renamed", clock_mhz=100.0))[0] == mm2


def test_run_area_of_unsynthesised_or_rram_chips_is_none():
    from hwsim.area.model import run_area_mm2

    other = load_chip_config("small").replace(mesh_rows=1)
    mm2, source = run_area_mm2(other)
    assert mm2 is None and "hwsim area --chip small" in source
    mm2, source = run_area_mm2(load_chip_config("rram"))
    assert mm2 is None and "RRAM" in source


# ---------------------------------------------------------------- the command's errors (no Yosys needed)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--chip", "rram"], "area synthesis covers the digital core only"),
        (["--chip", "small", "--table", "7nm"], "area table '7nm': no such area table"),
        (["--chip", "nonexistent"], "no such preset"),
        (["--chip", "mesh8x8_28nm"], "64 cores, more than the 16 synthesised by default"),
        (["--chip", "small", "--max-cores", "0"], "--max-cores 0: expected an integer in 1..4096"),
    ],
)
def test_area_command_errors_name_the_input(tmp_path, capsys, argv, message):
    from hwsim.cli import main

    assert main(["area", *argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim area: error:") and message in err
    assert not (tmp_path / "out").exists()

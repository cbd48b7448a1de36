"""The synthesis cache key (hwsim.area.synth.cache_key): what a Yosys run's result depends on, and nothing else.

No Yosys needed: the key takes the Yosys version as a string.
"""

from __future__ import annotations

import shutil

import pytest

from hwsim.area.synth import RTL_DIR, cache_key

PARAMS = {"AXONS": 64, "NEURONS": 32, "LANES": 4, "W_BITS": 6, "V_BITS": 12, "IN_PORTS": 5}
YOSYS = "Yosys 0.23 (git sha1 7ce5011c24b)"


@pytest.fixture
def two_copies(tmp_path):
    """The repository's rtl/ copied into two unrelated folders (as two clones elsewhere would hold it)."""
    a = tmp_path / "clone_a" / "rtl"
    b = tmp_path / "somewhere" / "else" / "rtl"
    for dest in (a, b):
        shutil.copytree(RTL_DIR, dest)
    return a, b


def test_two_copies_of_the_rtl_give_one_key(two_copies):
    a, b = two_copies
    key_a = cache_key("snn_core", PARAMS, rtl_dir=a, yosys=YOSYS)
    assert key_a == cache_key("snn_core", PARAMS, rtl_dir=b, yosys=YOSYS)
    assert key_a == cache_key("snn_core", PARAMS, rtl_dir=RTL_DIR, yosys=YOSYS)  # and the repository's own
    assert len(key_a) == 32 and int(key_a, 16) >= 0
    # the parameters' order does not matter (the script sorts them)
    assert key_a == cache_key("snn_core", dict(reversed(list(PARAMS.items()))), rtl_dir=b, yosys=YOSYS)


def test_a_changed_source_gives_another_key(two_copies):
    a, b = two_copies
    router = b / "snn_router.v"
    router.write_text(router.read_text() + "\n// one comment more\n")
    assert cache_key("snn_core", PARAMS, rtl_dir=a, yosys=YOSYS) != cache_key("snn_core", PARAMS, rtl_dir=b,
                                                                               yosys=YOSYS)
    # a memory read as a black box is part of the key too (its ports are read)
    a_sram = a / "snn_weight_sram.v"
    key = cache_key("snn_core", PARAMS, rtl_dir=a, yosys=YOSYS)
    a_sram.write_text(a_sram.read_text() + "\n")
    assert cache_key("snn_core", PARAMS, rtl_dir=a, yosys=YOSYS) != key


def test_a_renamed_or_new_source_gives_another_key(two_copies):
    a, b = two_copies
    key = cache_key("snn_chip", {"MESH_ROWS": 2}, rtl_dir=a, yosys=YOSYS)
    (b / "snn_mesh_extra.v").write_text("module snn_mesh_extra; endmodule\n")
    assert cache_key("snn_chip", {"MESH_ROWS": 2}, rtl_dir=b, yosys=YOSYS) != key


@pytest.mark.parametrize(
    "change",
    [
        {"params": {**PARAMS, "LANES": 8}},
        {"top": "snn_chip"},
        {"yosys": "Yosys 0.40"},
        {"black_boxes": ("snn_exit_unit",)},
    ],
)
def test_parameters_top_yosys_and_black_boxes_are_in_the_key(change):
    base = {"top": "snn_core", "params": PARAMS, "yosys": YOSYS, "black_boxes": ()}
    changed = {**base, **change}
    assert cache_key(changed["top"], changed["params"], black_boxes=changed["black_boxes"], yosys=changed["yosys"]) \
        != cache_key(base["top"], base["params"], black_boxes=base["black_boxes"], yosys=base["yosys"])

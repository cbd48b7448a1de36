"""The stored synthesis results (hwsim/area/stored/*.json) still describe today's rtl/ and presets.

``hwsim run`` prices a preset's area from these files without running Yosys. If rtl/ changes and nobody
synthesises again, the files silently describe an older chip: this test fails and names the command that
regenerates them.
"""

from __future__ import annotations

import shutil

from hwsim.area.__main__ import main as area_main
from hwsim.area.model import REGENERATE_COMMAND, STORED_DIR, stored_problems
from hwsim.area.synth import RTL_DIR, rtl_digest


def test_stored_results_match_todays_rtl_and_presets():
    problems = stored_problems()
    assert not problems, (
        "stored synthesis results no longer match the repository:\n  " + "\n  ".join(problems)
        + f"\nregenerate them with: {REGENERATE_COMMAND}   (needs Yosys; ~15 min on a cold cache), "
        "then, if the counts changed, the numbers of docs/area.md §3-4, the README and tests/data/baseline"
    )


def test_the_presets_are_stored():
    assert sorted(p.stem for p in STORED_DIR.glob("*.json")) == ["default_28nm", "odin_28nm", "small"]


def test_an_edited_rtl_source_is_detected(tmp_path):
    rtl = tmp_path / "rtl"
    shutil.copytree(RTL_DIR, rtl)
    assert stored_problems(rtl) == stored_problems()  # a copy elsewhere is the same RTL
    scan = rtl / "snn_spike_scan.v"
    scan.write_text(scan.read_text().replace("endmodule", "// edited\nendmodule", 1))
    problems = stored_problems(rtl)
    stored = sorted(p.name for p in STORED_DIR.glob("*.json"))
    assert [p.split(":")[0] for p in problems] == stored  # every stored file, once each
    assert all(rtl_digest(rtl)[:12] in p for p in problems)


def test_check_command(capsys):
    status = area_main(["--check"])
    out = capsys.readouterr().out
    if stored_problems():
        assert status == 1 and REGENERATE_COMMAND in out
    else:
        assert status == 0 and "current: default_28nm, odin_28nm, small" in out


def test_regenerate_refuses_an_unknown_preset(capsys):
    assert area_main(["--regenerate", "mesh8x8_28nm"]) == 2
    err = capsys.readouterr().err
    assert "mesh8x8_28nm: not a stored preset" in err and "small" in err

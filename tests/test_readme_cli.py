"""The README's description of ``hwsim run`` matches the command (issue 12 §5): options that take a value
are shown with one, and the JSON keys it lists come first, in that order. A consistency check between the
README text and the code, not a test of the numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tomllib

from hwsim.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def run_parser():
    import hwsim.commands.run

    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices["run"]
    hwsim.commands.run.add_arguments(sub)
    return sub


def test_options_that_take_a_value_are_shown_with_one():
    paragraph = README.split("`hwsim run --json` prints the report as JSON", 1)[1].split("\n\n", 1)[0]
    shown = dict(re.findall(r"`(--[a-z-]+)( [^`]+)?`", paragraph.split("Options:", 1)[1]))
    assert {"--sweep", "--table", "--no-figures", "--limit", "--seed"} <= set(shown)
    actions = {opt: a for a in run_parser()._actions for opt in a.option_strings}
    for option, value in shown.items():
        takes_value = actions[option].nargs != 0
        assert bool(value) == takes_value, (option, value)


def test_json_keys_listed_in_the_readme_come_first(tmp_path, capsys):
    sentence = README.split("`hwsim run --json` prints the report as JSON", 1)[1].split("then everything", 1)[0]
    listed = re.findall(r"`([a-z_][a-z0-9_]*)`", sentence)  # key names may hold digits (area_mm2)
    assert listed[:2] == ["format", "version"]
    assert main(["run", "--limit", "2", "--sweep", "none", "--no-figures", "-q", "--json", "-o",
                 str(tmp_path / "o")]) == 0
    keys = list(json.loads(capsys.readouterr().out))
    assert keys[: len(listed)] == listed


def test_license_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # a table is deprecated by setuptools >= 77
    requires = project["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)

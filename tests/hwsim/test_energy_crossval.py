"""``python -m hwsim.energy.calibrate``: the documented cross-validation (docs/energy.md §11.2) is what the
stored table gives. If an entry, a workload or the model changes, the documented numbers must be re-derived
from the command's output (and the change explained in §11)."""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

from hwsim.commands.calibrate_energy import ODIN, Figure, crossval_main, fit_figures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def output() -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert crossval_main([]) == 0
    return buf.getvalue()


def _section() -> str:
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    return text.split("### 11.2 Results", 1)[1].split("\n### ", 1)[0]


def test_documented_rows_are_the_commands_output(output):
    rows = [ln for ln in _section().splitlines() if ln.startswith(("| Yin |", "| ODIN |"))]
    assert len(rows) == 14  # Yin fit 2, ODIN predicted 5, ODIN fit 5, Yin predicted 2
    printed = output.splitlines()
    for row in rows:
        assert row in printed, f"docs/energy.md §11.2 row no longer printed by the command: {row}"


def test_documented_factors_are_the_commands_fits(output):
    section = _section()
    for direction in ("Yin", "ODIN"):
        documented = re.search(rf"Fit on {direction}.*?`global_scale = ([0-9.]+)`", section, re.I | re.S).group(1)
        printed = re.search(rf"^fit on {direction} .*: global_scale = ([0-9.]+)$", output, re.M).group(1)
        assert documented == printed, direction


def test_the_held_out_predictions_use_the_other_chips_fit(output):
    """The ODIN rows under 'Held out' are raw x the Yin factor, not an ODIN refit (and the reverse)."""
    k_yin = float(re.search(r"^fit on Yin .*= ([0-9.]+)$", output, re.M).group(1))
    block = output.split("Held out, predicted with the Yin fit", 1)[1].split("Reverse", 1)[0]
    row = next(ln for ln in block.splitlines() if "pJ/SOP total" in ln)
    cells = [c.strip() for c in row.strip("|").split("|")]
    raw, model, err = float(cells[3]), float(cells[4]), float(cells[5].rstrip("%"))
    assert model == pytest.approx(raw * k_yin, rel=2e-3)
    assert err == pytest.approx(100 * (model / ODIN["pj_per_sop_total"] - 1), abs=0.1)


def test_fit_is_the_log_least_squares_factor():
    # by hand: published 10 and 40 against model 5 and 10 -> factors 2 and 4 -> geometric mean sqrt(8)
    figures = [Figure("x", "a", "nJ", 10.0, 5.0), Figure("x", "b", "nJ", 40.0, 10.0),
               Figure("x", "c", "uW", 1.0, 1000.0, fit=False)]
    assert fit_figures(figures) == pytest.approx(math.sqrt(8))
    assert figures[0].error(math.sqrt(8)) == pytest.approx(5 * math.sqrt(8) / 10 - 1)


def test_documented_sensitivity_rows_are_the_commands_output():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert crossval_main(["--sensitivity"]) == 0
    printed = buf.getvalue().splitlines()
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    section = text.split("## 10. Uncertainty", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith(("| yin-low |", "| yin-high |"))]
    assert len(rows) == 34
    for row in rows:
        assert row in printed, f"docs/energy.md §10 sensitivity row no longer printed by the command: {row}"


def test_repricing_shortcut_equals_pricing_with_a_changed_table(small_chip):
    """The sensitivity study re-prices a run linearly; the same factors in the table give the same energy."""
    import numpy as np

    from hwsim.commands.calibrate_energy import _repriced_nj
    from hwsim.energy import estimate, load_table
    from hwsim.golden import simulate
    from hwsim.testing import random_network
    from mapping import map_network

    rng = np.random.default_rng(3)
    program = map_network(random_network(rng, [20, 12, 5], small_chip.core), small_chip, [0, 1])
    result = simulate(program, (rng.random((3, 4, 20)) < 0.3).astype(np.uint8))
    table = load_table("28nm")
    factors = {("core.weight_sram", "read_bit"): 2.0, ("core.storage", "leak_bit"): 4.0,
               ("exit.unit", "multiply"): 0.5}  # the last is never counted without an exit rule
    raw = estimate(result, program, table.with_scale(1.0))
    direct = estimate(result, program, table.with_entry_factors(factors))
    assert _repriced_nj(raw, factors, table.global_scale) == pytest.approx(direct.energy_nj_per_image, rel=1e-12)

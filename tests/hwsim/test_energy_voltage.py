"""Supply voltage (docs/energy.md §9) and the uncertainty ranges of the table (§10)."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig
from hwsim.energy import EnergyTableError, estimate, load_table
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route

TABLE = load_table("28nm")
CHIP = ChipConfig(name="v", mesh_rows=2, mesh_cols=2, core=CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6,
                                                                          v_bits=12))


def _program(chip: ChipConfig) -> ChipProgram:
    core = CoreProgram(core=3, stage=0, weights=np.ones((3, 5), np.int32), bias=np.zeros(5, np.int32),
                       threshold=1, output_offset=0, label="fc0[0:5]")
    return ChipProgram(chip=chip, cores=(core,), host_routes=(Route(3, 0, 3, 0),), n_inputs=3).validate()


def _run(chip: ChipConfig):
    program = _program(chip)
    return estimate(simulate(program, np.array([[1, 0, 1], [0, 1, 0]], np.uint8)), program, TABLE)


def test_unset_voltage_is_the_table_as_stored():
    assert TABLE.at_voltage(None) is TABLE


@pytest.mark.parametrize("volts", [0.45, 0.55, 0.9, 1.2])
def test_dynamic_energy_scales_with_v_squared_and_leakage_with_v(volts):
    base, scaled = _run(CHIP), _run(CHIP.replace(voltage_v=volts))
    # by hand: dynamic entries hold at 0.9 V (reference_voltage_v), the leakage entry at 0.55 V (its voltage_v)
    assert scaled.dynamic_pj[0] == pytest.approx(base.dynamic_pj[0] * (volts / 0.9) ** 2, rel=1e-12)
    assert scaled.static_pj[0] == pytest.approx(base.static_pj[0] * volts / 0.55, rel=1e-12)
    assert scaled.cycles.tolist() == base.cycles.tolist()  # the voltage changes no timing


def test_voltage_needs_a_table_reference_voltage(tmp_path):
    text = open(TABLE.path, encoding="utf-8").read()
    bare = tmp_path / "bare.toml"
    # without reference_voltage_v (and the entries' own voltage_v, which need it) the table still loads ...
    lines = [ln for ln in text.splitlines() if not ln.startswith(("reference_voltage_v", "voltage_v"))]
    bare.write_text("\n".join(lines) + "\n")
    t = load_table(bare)
    assert t.at_voltage(None) is t
    # ... but refuses a chip voltage
    with pytest.raises(EnergyTableError, match="states no reference_voltage_v"):
        t.at_voltage(0.6)
    # an entry's own voltage needs the table's reference voltage
    only_entry = tmp_path / "entry.toml"
    only_entry.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("reference_voltage_v")))
    with pytest.raises(EnergyTableError, match="voltage_v needs the table's reference_voltage_v"):
        load_table(only_entry)


@pytest.mark.parametrize("line, words", [
    ("reference_voltage_v = 5.0", "reference_voltage_v = 5.0: out of range"),
    ("reference_voltage_v = -1", "must be > 0"),
])
def test_bad_reference_voltage(tmp_path, line, words):
    text = open(TABLE.path, encoding="utf-8").read().replace("reference_voltage_v = 0.9", line)
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(EnergyTableError, match=words):
        load_table(f)


@pytest.mark.parametrize("span, words", [
    ("[1.2, 1.5]", r"low <= 1 <= high"),
    ("[0.5]", r"expected \[low, high\]"),
    ("[0.0, 1.5]", r"range\[0\] = 0.0: must be > 0"),
])
def test_bad_ranges_are_refused(tmp_path, span, words):
    text = open(TABLE.path, encoding="utf-8").read().replace("range = [0.5, 1.5]", f"range = {span}", 1)
    f = tmp_path / "t.toml"
    f.write_text(text)
    with pytest.raises(EnergyTableError, match=words):
        load_table(f)


def test_a_range_needs_its_source(tmp_path):
    text = open(TABLE.path, encoding="utf-8").read()
    cut = text.index("range_source", text.index("range = [0.5, 1.5]"))
    end = text.index("\n", cut)
    f = tmp_path / "t.toml"
    f.write_text(text[:cut] + text[end + 1:])
    with pytest.raises(EnergyTableError, match="range_source"):
        load_table(f)

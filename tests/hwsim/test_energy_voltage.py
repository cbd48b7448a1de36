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


# ------------------------------------------------------------------ uncertainty band (docs/energy.md §10)
def _table_with_marked_at(end: int, tmp_path) -> object:
    """The 28 nm table file with every marked entry's value multiplied, in the TOML text, by its range end."""
    import tomllib

    data = tomllib.loads(open(TABLE.path, encoding="utf-8").read())
    lines = []
    for e in data["entry"]:
        if "range" in e:
            for field in ("energy_pj", "static_power_uw"):
                if field in e:
                    e[field] = e[field] * e["range"][end]
        lines.append("[[entry]]\n" + "".join(
            f"{k} = {v!r}\n" if not isinstance(v, str) else f"{k} = {v!r}\n".replace("'", '"')
            for k, v in e.items() if k not in ("range", "range_source", "voltage_v", "source", "per")
        ) + 'source = "test"\n')
    head = (f'format = "hwsim-energy-table"\nversion = "t"\ntechnology = "28nm"\n[units]\nenergy = "pJ"\n'
            f'static_power = "uW"\n[calibration]\nglobal_scale = {TABLE.global_scale!r}\nsource = "test"\n')
    f = tmp_path / f"end{end}.toml"
    f.write_text(head + "\n".join(lines))
    return load_table(f)


def test_band_is_every_marked_entry_at_its_range_ends(tmp_path):
    from hwsim.report import build_report

    program = _program(CHIP)
    result = simulate(program, np.array([[1, 0, 1], [0, 1, 1]], np.uint8))
    data = build_report(result, program).to_dict()
    low = estimate(result, program, _table_with_marked_at(0, tmp_path)).energy_nj_per_image
    high = estimate(result, program, _table_with_marked_at(1, tmp_path)).energy_nj_per_image
    assert data["energy_nj_per_image_low"] == pytest.approx(low, rel=1e-12)
    assert data["energy_nj_per_image_high"] == pytest.approx(high, rel=1e-12)
    assert low < data["energy_nj_per_image"] < high
    keys = list(data)
    assert keys[keys.index("energy_nj_per_image") + 1: keys.index("energy_nj_per_image") + 3] == [
        "energy_nj_per_image_low", "energy_nj_per_image_high"]


def test_a_table_without_marked_entries_has_no_band(tmp_path):
    from hwsim.report import build_report
    from hwsim.report.render import render_table

    text = open(TABLE.path, encoding="utf-8").read()
    f = tmp_path / "unmarked.toml"
    f.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith(("range =", "range_source ="))))
    program = _program(CHIP)
    result = simulate(program, np.array([[1, 0, 1]], np.uint8))
    data = build_report(result, program, table=load_table(f)).to_dict()
    assert data["energy_nj_per_image_low"] is None and data["energy_nj_per_image_high"] is None
    assert "(band" not in render_table(data)
    marked = build_report(result, program).to_dict()
    line = next(ln for ln in render_table(marked).splitlines() if ln.startswith("| energy / image"))
    assert line.endswith(f"(band {marked['energy_nj_per_image_low']:.4g}-{marked['energy_nj_per_image_high']:.4g}) |")


def test_rram_table_marks_the_shared_digital_entries_as_28nm_does():
    digital, rram = load_table("28nm"), load_table("rram_28nm")
    shared = (set(digital.entries) & set(rram.entries)) - {("core.weight_sram", "read_bit")}
    for key in shared:
        assert rram.entries[key].range == digital.entries[key].range, key
    assert rram.entries[("crossbar.adc", "conversion_step")].range == (0.5, 2.0)

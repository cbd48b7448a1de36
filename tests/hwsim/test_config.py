"""Chip configs: presets load, bad values give errors that name the key, the value and the range."""

import pytest

from hwsim.config import ChipConfig, CoreConfig, load_chip_config, preset_names
from hwsim.errors import ConfigError


def test_default_preset_holds_the_seed_network():
    chip = load_chip_config()
    assert chip.name == "default_28nm"
    # 784-1024-1024-10: fan-in <= axons, and 4 + 4 + 1 cores of 256 neurons fit the mesh
    assert chip.core.axons >= 1024
    needed = sum(-(-n // chip.core.neurons) for n in (1024, 1024, 10))
    assert needed <= chip.n_cores


def test_presets_round_trip_through_dict():
    for name in preset_names():
        chip = load_chip_config(name)
        assert ChipConfig.from_dict(chip.to_dict()) == chip


def test_load_by_path(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('name = "mine"\nmesh_rows = 2\n[core]\naxons = 16\nneurons = 8\nlanes = 2\n')
    chip = load_chip_config(p)
    assert (chip.name, chip.mesh_rows, chip.core.axons, chip.core.lanes) == ("mine", 2, 16, 2)


def test_hops_are_manhattan():
    chip = load_chip_config()  # 3 x 3
    assert chip.hops(0, 8) == 4 and chip.hops(2, 6) == 4 and chip.hops(4, 4) == 0 and chip.hops(1, 4) == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("mesh_rows = 0\n", r"mesh_rows = 0: out of range, allowed 1..64"),
        ("colour = 3\n", r"unknown key\(s\) colour"),
        ("[core]\nspeed = 1\n", r"core: unknown key\(s\) speed"),
        ("[core]\nw_bits = 1\n", r"core.w_bits = 1: out of range, allowed 2..16"),
        ("[core]\nneurons = 10\nlanes = 4\n", r"core.lanes = 4: must divide core.neurons = 10"),
        ("[core]\nw_bits = 8\nv_bits = 8\n", r"core.v_bits = 8: must exceed core.w_bits = 8"),
        ('mesh_cols = "3"\n', r"mesh_cols = '3': expected an integer"),
        ("clock_mhz = -5\n", r"clock_mhz = -5: out of range"),
        ("mesh_rows = \n", r"not valid TOML"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_chip_config(p)


def test_missing_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="presets: .*default_28nm"):
        load_chip_config("no_such_chip")


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_chip_config("/nonexistent/chip.toml")


def test_hdl_params_come_from_the_config():
    cc = CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12)
    assert cc.to_hdl_params() == {"AXONS": 64, "NEURONS": 32, "LANES": 4, "W_BITS": 6, "V_BITS": 12}


@pytest.mark.parametrize("preset", ["default_28nm", "small"])
def test_ranges_written_in_the_preset_files_are_the_enforced_ones(preset, tmp_path):
    """A `# lo..hi` comment in a preset is what hwsim.config accepts: both ends load, one step beyond fails."""
    import re
    from pathlib import Path

    import hwsim

    path = Path(hwsim.__file__).parent / "configs" / f"{preset}.toml"
    lines = path.read_text().splitlines()
    checked = 0
    for i, line in enumerate(lines):
        found = re.match(r"^(\w+) = ([\d.]+)\s+# (\d+)\.\.(\d+)\b", line)
        if not found:
            continue
        key, value, lo, hi = found.group(1), found.group(2), int(found.group(3)), int(found.group(4))
        step = 1 if "." not in value else 0.5
        for candidate, ok in ((lo, True), (hi, True), (lo - step, False), (hi + step, False)):
            text = lines[:i] + [f"{key} = {candidate}"] + lines[i + 1:]
            # the other fields are set so that only the range of `key` can fail (v_bits > w_bits, lanes | neurons)
            others = {"w_bits": {"v_bits": 32}, "v_bits": {"w_bits": 2}, "neurons": {"lanes": 1}}.get(key, {})
            text = [next((f"{k} = {v}" for k, v in others.items() if ln.startswith(f"{k} =")), ln) for ln in text]
            f = tmp_path / f"{key}_{candidate}.toml"
            f.write_text("\n".join(text) + "\n")
            if ok:
                load_chip_config(f)
            else:
                with pytest.raises(ConfigError, match=key):
                    load_chip_config(f)
        checked += 1
    assert checked >= 8  # mesh, clock, NoC and core ranges are all annotated


# ----------------------------------------------------------------------------------- malformed files (issue 12)
@pytest.mark.parametrize(
    "content, message",
    [
        (b'name = "\xff\xfe"\n', r"chip config file '.*bad.toml': byte 8 \(0xff\) is not UTF-8; expected UTF-8 text"),
        (b"mesh_rows = " + b"[" * 5000 + b"]" * 5000 + b"\n",
         r"bad.toml': data nested more than 32 levels deep; allowed at most 32"),
        (b"core = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
         r"bad.toml': data nested more than 32 levels deep; allowed at most 32"),
        # dotted keys nest without recursion in the parser; the limit still holds for the data
        (b"[" + b".".join([b"core"] * 40) + b"]\nx = 1\n", r"data nested more than 32 levels deep; allowed at most 32"),
        (b"", r"bad.toml' is empty \(no TOML keys\); expected chip parameters such as name, mesh_rows"),
        (b"# only a comment\n\n", r"is empty \(no TOML keys\)"),
        (b"mesh_rows = 1" + b"0" * 5000 + b"\n", r"bad.toml' is not valid TOML"),
        (b"mesh_rows = [" + b"1, " * 1000 + b"]\n",
         r"^.*mesh_rows = \[1, 1, 1, 1, 1, 1, \.\.\.\]: expected an integer"),
    ],
)
def test_malformed_chip_files_are_config_errors(tmp_path, content, message):
    p = tmp_path / "bad.toml"
    p.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_chip_config(p)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300  # one short line


def test_a_folder_or_an_oversized_file_is_refused_before_reading(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match=r"chip config file '.*dir.toml' is a folder; expected a file"):
        load_chip_config(tmp_path / "dir.toml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(ConfigError, match=r"big.toml' has 1048579 bytes; allowed at most 1048576"):
        load_chip_config(big)


@pytest.mark.parametrize("name", ["", "../configs/small", "small.json", 3])
def test_names_that_are_not_presets_are_refused(name):
    with pytest.raises(ConfigError, match=r"chip config .*(no such preset or .toml file; presets: default_28nm|"
                                          r"expected a preset name or a .toml path)"):
        load_chip_config(name)


def test_one_bit_adc_is_refused():
    """A signed 1-bit ADC reads -1 or 0: no positive column sum, so no ADC scale can calibrate it."""
    from hwsim.config import RramConfig

    with pytest.raises(ConfigError, match=r"rram.adc_bits = 1: out of range, allowed 2..24"):
        RramConfig(adc_bits=1)
    assert RramConfig(adc_bits=2).adc_bits == 2


@pytest.mark.parametrize(
    "axons, w_bits, v_bits, lowest",
    [
        # (2^(b-1) - 1) x 2^(v_bits-2) >= axons x 2^(w_bits-1), solved by hand for the smallest b
        (8, 2, 4, 4),  # 16 weight units, scale up to 4: 4 positive codes -> 2^(b-1) >= 5 -> b = 4
        (2, 2, 4, 2),  # 4 units, scale 4: 1 code -> b = 2
        (1024, 8, 9, 12),  # 131072 units, scale 128: 1024 codes -> 2^(b-1) >= 1025 -> b = 12
        (64, 6, 12, 3),  # the RRAM tests' core: 2048 units, scale 1024: 2 codes -> b = 3
    ],
)
def test_the_adc_must_reach_the_largest_column_sum(axons, w_bits, v_bits, lowest):
    """Otherwise no adc_scale register value could calibrate some programs (chip-spec §7.7)."""
    from hwsim.config import RramConfig

    core = CoreConfig(axons=axons, neurons=8, lanes=1, w_bits=w_bits, v_bits=v_bits)

    def chip(bits):
        return ChipConfig(core=core, core_type="rram", rram=RramConfig(adc_bits=bits, adc_mux=1))

    assert chip(lowest).rram.adc_bits == lowest
    if lowest > 2:
        with pytest.raises(ConfigError, match=rf"rram.adc_bits = {lowest - 1}: too few for core.axons = {axons}, "
                                              rf".*; allowed adc_bits >= {lowest}$"):
            chip(lowest - 1)


# ------------------------------------------------------------------ every accepted value simulates (issue 12)
# Both ends of every range of chip-spec §4 and §7, written here from the spec tables, with the other fields
# moved only as far as the cross-field rules need (v_bits > w_bits, lanes | neurons, adc_mux | neurons).
_CORE = dict(axons=8, neurons=8, lanes=2, w_bits=6, v_bits=12)
CHIP_EXTREMES = [
    ({"mesh_rows": 1, "mesh_cols": 1}, {}),
    ({"mesh_rows": 64}, {}),
    ({"mesh_cols": 64}, {}),
    ({"clock_mhz": 1}, {}),
    ({"clock_mhz": 5000}, {}),
    ({"hop_latency_cycles": 0}, {}),
    ({"hop_latency_cycles": 64}, {}),
    ({"barrier_cycles": 0}, {}),
    ({"barrier_cycles": 1024}, {}),
    ({}, {"axons": 1}),
    ({}, {"axons": 4096}),
    ({}, {"neurons": 1, "lanes": 1}),
    ({}, {"neurons": 4096, "lanes": 4096}),
    ({}, {"lanes": 1}),
    ({}, {"w_bits": 2, "v_bits": 4}),
    ({}, {"w_bits": 16, "v_bits": 32}),
]
RRAM_EXTREMES = [
    {"levels": 2}, {"levels": 1025}, {"g_on_us": 0.1}, {"g_on_us": 1e4}, {"on_off_ratio": 1.5},
    {"on_off_ratio": 1e9}, {"v_read_v": 0.01}, {"v_read_v": 2.0}, {"t_read_ns": 0.1}, {"t_read_ns": 1e4},
    {"adc_bits": 2}, {"adc_bits": 24}, {"adc_mux": 1}, {"adc_mux": 8}, {"adc_conversion_ns": 0.1},
    {"adc_conversion_ns": 1e4}, {"variation_sigma": 0.0, "array_sigma": 0.0, "read_noise_sigma": 0.0},
    {"variation_sigma": 3.0, "array_sigma": 3.0, "read_noise_sigma": 1.0},
    {"variation_sigma": 3.0, "variation_distribution": "normal"}, {"stuck_on_rate": 1.0, "stuck_off_rate": 0.0},
    {"stuck_on_rate": 0.0, "stuck_off_rate": 1.0}, {"wire_resistance_ohm": 0.0}, {"wire_resistance_ohm": 1e3},
]


def _simulate_tiny_network(chip):
    """Map a small random network onto ``chip`` and run it on the golden model and the fast engine."""
    import numpy as np

    from hwsim.golden import simulate
    from hwsim.testing import random_network, random_raster
    from mapping.mapper import map_network

    cc = chip.core
    # fan-ins fit the axons, layers fit the neurons and the mesh (one core: one layer)
    hidden = min(5, cc.neurons, cc.axons)
    sizes = [min(6, cc.axons), hidden, min(3, cc.neurons)] if chip.n_cores > 1 else [min(6, cc.axons), 3]
    rng = np.random.default_rng(0)
    program = map_network(random_network(rng, sizes, cc), chip)
    raster = random_raster(rng, 3, 4, sizes[0], 0.6)
    if chip.core_type == "digital":
        from hwsim.chip import Chip
        from hwsim.energy.model import estimate

        golden, fast = simulate(program, raster), Chip.from_program(program).run(raster)
        estimate(fast, program)
    else:
        from hwsim.rram.device import program_chip
        from hwsim.rram.energy import rram_energy
        from hwsim.rram.engine import calibrate_adc_scales, run_rram
        from hwsim.rram.golden import simulate_rram

        scales = calibrate_adc_scales(program, raster)
        assert all(1 <= s <= cc.v_max for s in scales)  # every calibrated scale fits its register
        rchip = program_chip(program, 1, adc_scales=scales)
        golden, fast = simulate_rram(rchip, raster), run_rram(rchip, raster)
        rram_energy(fast, program)
    for name in ("output_spikes", "output_membranes", "counters", "timestep_cycles"):
        assert np.array_equal(getattr(golden, name), getattr(fast, name)), name


@pytest.mark.parametrize("chip_fields, core_fields", CHIP_EXTREMES)
@pytest.mark.parametrize("core_type", ["digital", "rram"])
def test_range_ends_of_the_chip_simulate(chip_fields, core_fields, core_type):
    """Any config validation accepts must simulate (with pytest's -W error, an overflow warning fails too)."""
    from hwsim.config import RramConfig

    core = CoreConfig(**{**_CORE, **core_fields})
    rram = RramConfig(adc_mux=1, adc_bits=16) if core_type == "rram" else None  # 16 bits reach 4096 axons
    _simulate_tiny_network(ChipConfig(core=core, mesh_rows=2, mesh_cols=2, core_type=core_type, rram=rram)
                           .replace(**chip_fields))


@pytest.mark.parametrize("rram_fields", RRAM_EXTREMES)
# with w_bits = 2 and v_bits = 4 an 8-axon core needs adc_bits >= 4 (chip-spec §7.7); 2 axons allow 2 bits
@pytest.mark.parametrize("core_fields", [{}, {"w_bits": 16, "v_bits": 32}, {"w_bits": 2, "v_bits": 4, "axons": 2}])
def test_range_ends_of_the_rram_model_simulate(rram_fields, core_fields):
    from hwsim.config import RramConfig

    chip = ChipConfig(core=CoreConfig(**{**_CORE, **core_fields}), mesh_rows=2, mesh_cols=2, core_type="rram",
                      rram=RramConfig(**{"adc_mux": 1, **rram_fields}))
    _simulate_tiny_network(chip)


# ------------------------------------------------------------------------ partial sums (chip-spec §1.3, §4)
def test_partial_sums_are_off_by_default_and_written_only_when_on():
    import dataclasses

    off = load_chip_config()  # default_28nm: unchanged by partial sums, so its files keep their bytes
    assert off.core.partial_sums is False and "partial_sums" not in off.to_dict()["core"]
    on = off.replace(core=dataclasses.replace(off.core, partial_sums=True))
    assert on.to_dict()["core"]["partial_sums"] is True
    assert ChipConfig.from_dict(on.to_dict()) == on and ChipConfig.from_dict(off.to_dict()) == off


@pytest.mark.parametrize("name, rows", [("mesh8x8_28nm", 8), ("mesh16x16_28nm", 16)])
def test_mesh_presets_have_partial_sums_and_the_default_cores(name, rows):
    chip = load_chip_config(name)
    assert (chip.mesh_rows, chip.mesh_cols, chip.core.partial_sums) == (rows, rows, True)
    assert (chip.core.axons, chip.core.neurons, chip.core.lanes) == (1024, 256, 16)
    assert chip.core_type == "digital"


def test_partial_sums_in_a_chip_file(tmp_path):
    p = tmp_path / "psum.toml"
    p.write_text('name = "psum"\n[core]\npartial_sums = true\n')
    assert load_chip_config(p).core.partial_sums is True
    p.write_text('name = "psum"\n[core]\npartial_sums = 1\n')
    with pytest.raises(ConfigError, match=r"core.partial_sums = 1: expected true or false"):
        load_chip_config(p)


def test_partial_sums_are_refused_on_rram_chips(tmp_path):
    from hwsim.config import RramConfig

    with pytest.raises(ConfigError, match=r"core.partial_sums = true needs core_type = 'digital': RRAM cores have no "
                                          r"partial-sum chains in this version \(chip-spec §1.3\)"):
        ChipConfig(core=CoreConfig(partial_sums=True), core_type="rram", rram=RramConfig(adc_mux=1, adc_bits=16))
    p = tmp_path / "rram_psum.toml"
    p.write_text('name = "x"\ncore_type = "rram"\n[core]\npartial_sums = true\n[rram]\nadc_mux = 1\nadc_bits = 16\n')
    with pytest.raises(ConfigError, match=r"core.partial_sums = true needs core_type = 'digital'"):
        load_chip_config(p)


# ------------------------------------------------------------------------------ supply voltage (issue 16)
def test_voltage_is_unset_by_default_and_written_only_when_set():
    chip = load_chip_config("default_28nm")
    assert chip.voltage_v is None and "voltage_v" not in chip.to_dict()
    set_ = chip.replace(voltage_v=0.7)
    assert set_.to_dict()["voltage_v"] == 0.7
    assert ChipConfig.from_dict(set_.to_dict()) == set_


@pytest.mark.parametrize("value", [0.29, 1.51, "0.9", True])
def test_voltage_out_of_range_is_refused(value, tmp_path):
    f = tmp_path / "v.toml"
    toml_value = {True: "true"}.get(value, repr(value)) if isinstance(value, (bool, str)) else value
    f.write_text(f'name = "v"\nvoltage_v = {toml_value}\n')
    with pytest.raises(ConfigError, match=r"voltage_v = .*0\.3\.\.1\.5"):
        load_chip_config(f)


def test_odin_preset_is_odins_published_organisation():
    """ODIN (Frenkel et al. 2019): one core of 256 x 256 4-bit synapses, 0.55 V, 75 MHz."""
    chip = load_chip_config("odin_28nm")
    assert (chip.n_cores, chip.core.axons, chip.core.neurons, chip.core.w_bits) == (1, 256, 256, 4)
    assert chip.voltage_v == 0.55 and chip.clock_mhz == 75.0
    assert chip.core.axons * chip.core.neurons * chip.core.w_bits == 64 * 1024 * 4  # 64k x 4-bit synapse SRAM

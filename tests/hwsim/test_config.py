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

"""``hwsim run --exit / --exit-sweep / --exit-scale`` and ``evaluate(exit_rule=...)`` (chip-spec §1.4, issue 15).

Expected values come from independent paths: the golden model with the exit unit in its loop
(:func:`hwsim.golden.simulate` with ``exit_rule``), separate runs at smaller T, the energy by hand
(tests/hwsim/energy_by_hand.py reads the TOML entries with tomllib), and chip-spec §1.4's counter table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from energy_by_hand import digital_energy_pj_per_image, table_entries

from hwsim.chip import Chip
from hwsim.cli import main
from hwsim.config import load_chip_config
from hwsim.datasets import load_dataset
from hwsim.encoding import encode
from hwsim.errors import InputError
from hwsim.exit_unit import parse_exit_rule
from hwsim.golden import simulate
from hwsim.program import ChipProgram
from hwsim.report import evaluate
from hwsim.report.early_exit import PREFIX_ENCODINGS, first_timesteps, parse_exit_sweep
from hwsim.testing import random_network
from hwsim.training import load_default_network
from mapping import map_network

N_IMAGES = 30
T = 8  # the bundled network's timesteps
K = 10
V_BITS = 16  # default_28nm


def run_cli(capsys, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return captured.out


def run_json(capsys, argv):
    return json.loads(run_cli(capsys, argv))


def base_argv(out, *extra):
    return ["run", "--limit", str(N_IMAGES), "--sweep", "none", "--no-figures", "-q", "-o", str(out), *extra]


def exit_pj_per_timestep_by_hand(rule: str) -> float:
    """chip-spec §1.4's counters for K = 10 outputs, one timestep, times the 28nm table's entries."""
    cycles, acc, mul, lut = {"margin": (K + 1, K, 0, 0), "confidence": (2 * K + 2, K, K, K),
                             "entropy": (2 * K + 3, K, 2 * K + 2, K + 1)}[rule]
    scale, e = table_entries("28nm")
    return scale * (3 * acc * (V_BITS + 13) * e[("exit.unit", "add_bit")] + mul * e[("exit.unit", "multiply")]
                    + lut * e[("exit.unit", "lut_read")] + cycles * e[("exit.unit", "cycle")])


@pytest.fixture(scope="module")
def golden_exit_run():
    """The bundled network's program, on the first N_IMAGES digits, simulated by the golden model with
    ``confidence:0.9`` in the loop (the image stops after its exit) and without a rule."""
    net = load_default_network()
    chip = load_chip_config("default_28nm")
    program = map_network(net, chip)
    ds = load_dataset("digits", limit=N_IMAGES)
    raster = encode(ds.x_test, T, "rate", seed=0)
    rule = parse_exit_rule("confidence:0.9", K, scale=net.metadata["scales"][-1])
    return program, chip, ds, simulate(program, raster, exit_rule=rule), simulate(program, raster)


# ------------------------------------------------------------------------------------------- --exit RULE
def test_exit_confidence_json_matches_the_golden_model_with_the_unit_in_the_loop(tmp_path, capsys, golden_exit_run):
    program, chip, ds, golden, golden_fixed = golden_exit_run
    data = run_json(capsys, base_argv(tmp_path / "out", "--exit", "confidence:0.9", "--json"))
    for key in ("exit_rule", "avg_timesteps", "max_timesteps", "exit_histogram", "energy_nj_per_image_fixed_t",
                "accuracy_fixed_t", "energy_saving", "latency_us_per_image_fixed_t", "latency_saving"):
        assert key in data, key
    assert data["exit_rule"] == "confidence:0.9" and data["timesteps"] == T
    # sane values
    assert 1 <= data["avg_timesteps"] <= data["max_timesteps"] <= T
    assert len(data["exit_histogram"]) == T and sum(data["exit_histogram"]) == N_IMAGES
    assert data["energy_saving"] == pytest.approx(1 - data["energy_nj_per_image"] / data["energy_nj_per_image_fixed_t"],
                                                  rel=1e-12)
    assert 0 < data["energy_saving"] < 1  # the bundled network exits early on most digits
    # the golden model, which stops each image inside its loop
    run = golden.exit_timesteps
    assert data["exit_histogram"] == np.bincount(run, minlength=T + 1)[1:].tolist()
    assert data["avg_timesteps"] == pytest.approx(run.mean()) and data["max_timesteps"] == run.max()
    assert data["accuracy"] == np.mean(golden.predictions == ds.y_test)
    assert data["accuracy_fixed_t"] == np.mean(golden_fixed.predictions == ds.y_test)
    # energy: the digital model on the timesteps run plus the exit unit, both by hand
    per_image = digital_energy_pj_per_image(golden, chip) + run * exit_pj_per_timestep_by_hand("confidence")
    assert data["energy_nj_per_image"] == pytest.approx(per_image.mean() / 1e3, rel=1e-9)
    assert data["energy_nj_by_component"]["exit.unit"] == pytest.approx(
        run.mean() * exit_pj_per_timestep_by_hand("confidence") / 1e3, rel=1e-9)
    assert data["energy_nj_per_image_fixed_t"] == pytest.approx(
        digital_energy_pj_per_image(golden_fixed, chip).mean() / 1e3, rel=1e-9)
    # latency counts only the timesteps run, EXIT cycles included
    assert data["latency_us_per_image"] == pytest.approx(golden.timestep_cycles.sum(axis=1).mean() / chip.clock_mhz)


def test_fixed_t_numbers_equal_a_run_without_exit(tmp_path, capsys):
    plain = run_json(capsys, base_argv(tmp_path / "a", "--json"))
    exits = run_json(capsys, base_argv(tmp_path / "b", "--exit", "margin:40", "--json"))
    assert exits["accuracy_fixed_t"] == plain["accuracy"]
    assert exits["energy_nj_per_image_fixed_t"] == plain["energy_nj_per_image"]
    assert exits["latency_us_per_image_fixed_t"] == plain["latency_us_per_image"]
    assert exits["exit_scale"] is None  # margin needs no scale
    # images.csv gains the timesteps each image ran
    rows = (tmp_path / "b" / "images.csv").read_text().splitlines()
    assert rows[0].endswith(",timesteps")
    assert sum(int(r.rsplit(",", 1)[1]) for r in rows[1:]) == round(exits["avg_timesteps"] * N_IMAGES)


def test_exit_none_is_the_run_without_the_option(tmp_path, capsys):
    plain = run_cli(capsys, base_argv(tmp_path / "a", "--json"))
    none = run_cli(capsys, base_argv(tmp_path / "b", "--json", "--exit", "none"))
    assert none.replace(str(tmp_path / "b"), "OUT") == plain.replace(str(tmp_path / "a"), "OUT")
    assert "exit_rule" not in json.loads(none) and "fixed_t_curve" not in json.loads(none)
    for name in ("report.md", "report.csv", "images.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    table = run_cli(capsys, base_argv(tmp_path / "c", "--exit", "none"))
    assert "early exit" not in table and "exit frontier" not in table


def test_text_report_shows_the_exit_summary(tmp_path, capsys):
    text = run_cli(capsys, base_argv(tmp_path / "out", "--exit", "entropy:0.2"))
    assert "| early exit | value |" in text and "| rule | entropy:0.2 (scale" in text
    assert f"of T = {T})" in text and "| saving | energy" in text
    assert "| early-exit unit |" in text and "| exit unit |" in text  # component and layer rows
    assert f"| fixed T = {T} |" in text  # the fixed-T curve


def test_exit_scale_overrides_the_network_metadata(tmp_path, capsys):
    a = run_json(capsys, base_argv(tmp_path / "a", "--exit", "confidence:0.9", "--json"))
    assert a["exit_scale"] == load_default_network().metadata["scales"][-1]
    assert a["exit_scale_source"].startswith("network metadata")
    # a much larger scale makes every softmax peaked: each image exits after its first timestep
    b = run_json(capsys, base_argv(tmp_path / "b", "--exit", "confidence:0.9", "--exit-scale", "1000", "--json"))
    assert b["exit_scale"] == 1000.0 and b["exit_scale_source"].startswith("given")
    assert b["exit_histogram"][0] == N_IMAGES and b["max_timesteps"] == 1
    assert b["exit_registers"] == {"rule": "confidence", "threshold": 72818, "gain_num": 1000 * 2**19}


# ------------------------------------------------------------------------------------------ bad rules
def refused(capsys, argv, *fragments):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hwsim run: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert out == ""
    return lines[0]


@pytest.mark.parametrize("argv, fragments", [
    (["--exit", "confidence:2"], ["--exit", "0 < ALPHA <= 1"]),
    (["--exit", "fast"], ["--exit", "'fast' is not understood", "margin:M"]),
    (["--exit", "margin:1.5"], ["--exit", "whole number"]),
    (["--exit", "entropy:x"], ["--exit", "'x' is not a number"]),
    (["--exit-sweep", "confidence"], ["--exit-sweep 'confidence'", "RULE:V1,V2"]),
    (["--exit-sweep", "confidence:0.5,,0.9"], ["--exit-sweep", "RULE:V1,V2"]),
    (["--exit-sweep", "none:1"], ["--exit-sweep", "rule none"]),
    (["--exit-sweep", "margin:2;confidence:7"], ["--exit-sweep", "0 < ALPHA <= 1"]),
    (["--exit-scale", "-1"], ["--exit-scale -1"]),
    (["--exit-scale", "nan"], ["--exit-scale nan"]),
])
def test_bad_exit_options_are_refused_before_any_work(tmp_path, capsys, argv, fragments):
    # without -q every command prints 'loading ...' first: one line means refused before any work
    refused(capsys, ["run", "-o", str(tmp_path / "out"), *argv], *fragments)
    assert not (tmp_path / "out").exists()


def test_a_network_without_scales_needs_exit_scale(tmp_path, capsys):
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(5), [64, 16, 10], core, threshold=40)
    net.layers[-1].fire = False  # membrane readout, but no recorded scales
    assert "scales" not in net.metadata
    path = net.save(tmp_path / "net.npz")
    line = refused(capsys, ["run", "-q", "--net", str(path), "-o", str(tmp_path / "out"), "--exit", "entropy:0.1"],
                   "needs the output layer's scale", "--exit-scale")
    assert "entropy:0.1" in line
    # margin compares the accumulated values themselves: no scale needed
    data = run_json(capsys, ["run", "-q", "--net", str(path), "-o", str(tmp_path / "out"), "--limit", "5",
                             "--sweep", "none", "--no-figures", "--exit", "margin:3", "--json"])
    assert data["exit_rule"] == "margin:3"


def test_a_spike_count_readout_needs_exit_scale(tmp_path, capsys):
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(5), [64, 16, 10], core, threshold=40)
    assert net.layers[-1].fire  # spike-count readout
    net.metadata["scales"] = [0.1, 0.1]  # membrane scales: no meaning for spike counts
    path = net.save(tmp_path / "net.npz")
    refused(capsys, ["run", "-q", "--net", str(path), "-o", str(tmp_path / "out"), "--exit", "confidence:0.9"],
            "spike-count readout", "--exit-scale", "margin:M")


# ------------------------------------------------------------------------------------ sweep and figure
def test_sweep_writes_the_frontier_and_the_fixed_t_curve_equals_real_runs(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "--limit", str(N_IMAGES), "--sweep", "none", "-q", "-o", str(out), "--json",
            "--exit", "confidence:0.9", "--exit-sweep", "confidence:0.5,0.9,0.99;margin:40"]
    data = run_json(capsys, argv)
    png = (out / "exit_frontier.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert [p["rule"] for p in data["exit_sweep"]] == ["confidence:0.5", "confidence:0.9", "confidence:0.99",
                                                       "margin:40"]
    by_rule = {p["rule"]: p for p in data["exit_sweep"]}
    # the sweep's confidence:0.9 is the report's own rule, applied to the same run
    assert by_rule["confidence:0.9"]["energy_nj_per_image"] == data["energy_nj_per_image"]
    assert by_rule["confidence:0.9"]["exit_histogram"] == data["exit_histogram"]
    # a higher confidence threshold never exits earlier
    assert by_rule["confidence:0.5"]["avg_timesteps"] <= by_rule["confidence:0.9"]["avg_timesteps"] \
        <= by_rule["confidence:0.99"]["avg_timesteps"]
    for p in data["exit_sweep"]:
        assert sum(p["exit_histogram"]) == N_IMAGES
        assert p["energy_saving"] == pytest.approx(1 - p["energy_nj_per_image"] / data["energy_nj_per_image_fixed_t"])
    curve = data["fixed_t_curve"]
    assert [p["timesteps"] for p in curve] == list(range(1, T + 1))
    assert curve[-1]["energy_nj_per_image"] == data["energy_nj_per_image_fixed_t"]
    # the fixed-T curve comes from the one run cut after t timesteps: it must equal real runs at T = t
    for t in (1, 3):
        real = run_json(capsys, base_argv(tmp_path / f"T{t}", "--json", "-T", str(t)))
        assert curve[t - 1]["accuracy"] == real["accuracy"]
        assert curve[t - 1]["energy_nj_per_image"] == real["energy_nj_per_image"]
        assert curve[t - 1]["latency_us_per_image"] == real["latency_us_per_image"]
        assert curve[t - 1]["sops_per_image"] == real["sops_per_image"]


def test_sweep_without_exit_rule_keeps_the_fixed_t_report(tmp_path, capsys):
    plain = run_json(capsys, base_argv(tmp_path / "a", "--json"))
    swept = run_json(capsys, base_argv(tmp_path / "b", "--json", "--exit-sweep", "margin:20,40"))
    assert "exit_rule" not in swept and len(swept["exit_sweep"]) == 2
    for key in ("accuracy", "energy_nj_per_image", "latency_us_per_image", "energy_nj_by_component"):
        assert swept[key] == plain[key], key


@pytest.mark.parametrize("text, rules", [
    ("confidence:0.5,0.7,0.9,0.99", ["confidence:0.5", "confidence:0.7", "confidence:0.9", "confidence:0.99"]),
    ("margin:2, 4; entropy:0.1", ["margin:2", "margin:4", "entropy:0.1"]),
    ("none", []),
])
def test_parse_exit_sweep(text, rules):
    assert parse_exit_sweep(text) == rules


# ------------------------------------------------------------------ truncation is a run at smaller T (engine)
def _small_program():
    chip = load_chip_config("small")
    net = random_network(np.random.default_rng(3), [20, 24, 6], chip.core, threshold=12)
    return map_network(net, chip)


@pytest.mark.parametrize("encoding", PREFIX_ENCODINGS)
def test_first_timesteps_of_a_run_equal_a_run_at_smaller_t(encoding):
    program = _small_program()
    images = np.random.default_rng(4).random((7, 20))
    chip = Chip.from_program(program)
    full = chip.run(images, 6, encoding=encoding, seed=2, record=True)
    for t in (1, 4):
        cut, real = first_timesteps(full, t), chip.run(images, t, encoding=encoding, seed=2, record=True)
        for name in ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles",
                     "exit_timesteps", "exit_counters"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(real, name), err_msg=name)
        for k in range(len(program.cores)):
            np.testing.assert_array_equal(cut.membranes[k], real.membranes[k])
            np.testing.assert_array_equal(cut.core_spikes[k], real.core_spikes[k])


def test_latency_coding_is_not_a_prefix_code():
    """Why the fixed-T curve runs latency coding at each t separately (PREFIX_ENCODINGS leaves it out)."""
    images = np.random.default_rng(4).random((5, 20))
    assert not np.array_equal(encode(images, 8, "latency")[:, :3], encode(images, 3, "latency"))
    for encoding in PREFIX_ENCODINGS:
        np.testing.assert_array_equal(encode(images, 8, encoding, seed=1)[:, :3], encode(images, 3, encoding, seed=1))


def test_latency_coding_curve_uses_separate_runs():
    program = _small_program()
    images = np.random.default_rng(4).random((6, 20))
    labels = np.arange(6) % 6
    rep = evaluate(program, images, labels, timesteps=4, encoding="latency", sweep=[], raster_image=None,
                   exit_rule="margin:2")
    curve = rep.to_dict()["fixed_t_curve"]
    for t in (1, 2):
        real = evaluate(program, images, labels, timesteps=t, encoding="latency", sweep=[], raster_image=None)
        assert curve[t - 1]["energy_nj_per_image"] == real.energy.energy_nj_per_image
        assert curve[t - 1]["accuracy"] == real.accuracy


# -------------------------------------------------------------------------------------------- Python API
def test_evaluate_exit_rule_equals_the_golden_model(golden_exit_run):
    program, chip, ds, golden, _ = golden_exit_run
    scale = load_default_network().metadata["scales"][-1]
    rep = evaluate(program, ds.x_test, ds.y_test, timesteps=T, sweep=[], exit_rule="confidence:0.9",
                   exit_scale=scale, raster_image=2)
    np.testing.assert_array_equal(rep.predictions, golden.predictions)
    np.testing.assert_array_equal(rep.early_exit.exit_timesteps, golden.exit_timesteps)
    # firing rates per timestep actually run
    hidden = [k for k, cp in enumerate(program.cores) if cp.fire]
    spikes = sum(golden.counter("output_spikes")[..., k].sum() for k in hidden)
    neurons = sum(program.cores[k].n_neurons for k in hidden)
    (name,) = [n for n, r in rep.firing_rates.items() if r is not None]
    assert rep.firing_rates[name] == pytest.approx(spikes / (neurons * golden.exit_timesteps.sum()))
    # the raster shows the timesteps image 2 ran
    assert rep.raster["timesteps"] == golden.exit_timesteps[2]
    assert rep.raster["prediction"] == golden.predictions[2]


def test_evaluate_needs_a_scale_for_a_bare_program(golden_exit_run):
    program, _, ds, _, _ = golden_exit_run
    saved = ChipProgram(chip=program.chip, cores=program.cores, host_routes=program.host_routes,
                        n_inputs=program.n_inputs, metadata={"network": "x"})
    with pytest.raises(InputError, match="exit_scale=S"):
        evaluate(saved, ds.x_test[:3], ds.y_test[:3], timesteps=2, sweep=[], exit_rule="confidence:0.9")
    with pytest.raises(InputError, match="rule none has no threshold"):
        evaluate(saved, ds.x_test[:3], ds.y_test[:3], timesteps=2, sweep=[], exit_sweep=["none"])


# ------------------------------------------------------------------------------------------- RRAM chips
def test_rram_exit_equals_the_golden_model_with_the_unit_in_the_loop(tmp_path, capsys):
    """An RRAM chip instance: the report cuts the fixed-T run (read noise and all) after each exit; the golden
    model stops inside its loop. Energy by hand from the rram_28nm table (docs/rram.md §3, docs/energy.md §2.2)."""
    from energy_by_hand import rram_energy_pj_per_image

    from hwsim.rram import calibrate_adc_scales, program_chip
    from hwsim.rram.golden import simulate_rram

    n = 12
    out = tmp_path / "out"
    data = run_json(capsys, ["run", "--chip", "rram", "--limit", str(n), "--sweep", "none", "--no-figures", "-q",
                             "-o", str(out), "--exit", "confidence:0.9", "--json"])
    program = ChipProgram.load(out / "program.npz")
    ds = load_dataset("digits")
    scales = calibrate_adc_scales(program, encode(ds.x_train[:300], T, "rate", seed=0))
    rule = parse_exit_rule("confidence:0.9", K, scale=load_default_network().metadata["scales"][-1])
    result = simulate_rram(program_chip(program, 0, scales), encode(ds.x_test[:n], T, "rate", seed=0),
                           exit_rule=rule)
    assert data["exit_histogram"] == np.bincount(result.exit_timesteps, minlength=T + 1)[1:].tolist()
    assert data["accuracy"] == np.mean(result.predictions == ds.y_test[:n])
    scale, e = table_entries("rram_28nm")
    c = result.exit_counters.sum(axis=1)  # (B, 4): cycles, acc_updates, multiplies, lut_reads
    exit_pj = scale * (3 * c[:, 1] * (program.chip.core.v_bits + 13) * e[("exit.unit", "add_bit")]
                       + c[:, 2] * e[("exit.unit", "multiply")] + c[:, 3] * e[("exit.unit", "lut_read")]
                       + c[:, 0] * e[("exit.unit", "cycle")])
    by_hand = rram_energy_pj_per_image(result, program.chip, "rram_28nm") + exit_pj
    assert data["energy_nj_per_image"] == pytest.approx(by_hand.mean() / 1e3, rel=1e-9)


# ----------------------------------------------------------------------------------------- hwsim report
def test_report_command_takes_the_exit_options(tmp_path, capsys):
    scale = load_default_network().metadata["scales"][-1]
    ran = run_json(capsys, base_argv(tmp_path / "run", "--exit", "confidence:0.9", "--json"))
    program = str(tmp_path / "run" / "program.npz")
    # a program file records no output-layer scale
    rc = main(["report", program, "-q", "-o", str(tmp_path / "a"), "--exit", "confidence:0.9"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "--exit-scale" in err
    again = run_json(capsys, ["report", program, "--limit", str(N_IMAGES), "--sweep", "none", "--no-figures", "-q",
                              "-o", str(tmp_path / "b"), "--exit", "confidence:0.9", "--exit-scale", repr(scale),
                              "--json"])
    for key in ("accuracy", "energy_nj_per_image", "exit_histogram", "energy_nj_per_image_fixed_t", "energy_saving"):
        assert again[key] == ran[key], key

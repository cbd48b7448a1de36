"""Reports: numbers against independent references, the files, atomic writing, figures."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from energy_by_hand import digital_energy_pj_per_image

from hwsim.encoding import encode
from hwsim.errors import InputError
from hwsim.golden import simulate
from hwsim.network import simulate_network
from hwsim.outdir import OutputPathError
from hwsim.report import (
    FIGURE_FILES,
    REPORT_FILES,
    default_sweep,
    evaluate,
    layer_firing_rates,
    render_table,
    write_report,
)
from hwsim.report.area_figure import AREA_FIGURE
from hwsim.testing import random_network
from mapping import map_network

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def setup(small_chip):
    rng = np.random.default_rng(7)
    net = random_network(rng, [40, 50, 10], small_chip.core, threshold=40)
    program = map_network(net, small_chip, [0, 1, 3])
    images = rng.random((12, 40))
    labels = rng.integers(0, 10, 12)
    return net, program, images, labels


@pytest.fixture
def report(setup):
    net, program, images, labels = setup
    return evaluate(program, images, labels, timesteps=3, seed=5, sweep=[1, 3], simulator="golden",
                    meta={"dataset": "random", "network": "random-40-50-10"})


def test_numbers_match_an_independent_run(setup, report):
    net, program, images, labels = setup
    rasters = encode(images, 3, "rate", seed=5)
    result = simulate(program, rasters)
    # energy by hand from the golden model's counters and the 28nm table's entries (no hwsim.energy code).
    # Catches: a wrong price, count or leakage term in the report's energy, and a report of other images.
    by_hand = digital_energy_pj_per_image(result, program.chip, "28nm")
    d = report.to_dict()
    assert d["energy_nj_per_image"] == pytest.approx(by_hand.mean() / 1e3, rel=1e-9)
    assert d["latency_us_per_image"] == pytest.approx(result.cycles_per_inference.mean() / 200.0)
    assert d["throughput_images_per_s"] == pytest.approx(1e6 / (result.cycles_per_inference.mean() / 200.0))
    assert d["sops_per_image"] == pytest.approx(result.counter("synaptic_ops").sum() / 12)
    assert d["pj_per_sop"] == pytest.approx(by_hand.sum() / result.counter("synaptic_ops").sum(), rel=1e-9)
    # accuracy against the direct layer-by-layer reference simulator (no chip, no mapper)
    out = simulate_network(net, rasters, program.chip.core.v_bits)[-1][1]
    predictions = np.argmax(out.astype(np.int64).sum(axis=1), axis=1)
    assert d["accuracy"] == pytest.approx(np.mean(predictions == labels))
    assert d["timesteps"] == 3 and d["chip"] == "small" and d["n_images"] == 12
    # breakdowns add up to the total
    assert sum(d["energy_nj_by_component"].values()) == pytest.approx(d["energy_nj_per_image"])
    assert sum(d["energy_nj_by_layer"].values()) == pytest.approx(d["energy_nj_per_image"])
    assert sum(d["energy_share_by_layer"].values()) == pytest.approx(1.0)
    # the sweep point at the main T is the main run; T = 1 costs less
    sweep = {p["timesteps"]: p for p in d["sweep"]}
    assert sweep[3]["energy_nj_per_image"] == pytest.approx(d["energy_nj_per_image"])
    assert sweep[1]["energy_nj_per_image"] < sweep[3]["energy_nj_per_image"]


def test_firing_rates_and_raster_match_the_reference(setup, report):
    net, program, images, labels = setup
    rasters = encode(images, 3, "rate", seed=5)
    layers = simulate_network(net, rasters, program.chip.core.v_bits)
    rates = report.firing_rates
    assert rates["fc0"] == pytest.approx(layers[0][1].mean())
    assert rates["fc1"] == pytest.approx(layers[1][1].mean())
    raster = report.raster
    assert raster["image"] == 0 and raster["timesteps"] == 3
    names = [lay["name"] for lay in raster["layers"]]
    assert names == ["input", "fc0", "fc1"]
    ref = [rasters[0]] + [spk[0] for _, spk in layers]  # image 0 of every layer
    for lay, expected in zip(raster["layers"], ref):
        got = np.zeros_like(expected)
        for t, j in lay["spikes"]:
            got[t, j] = 1
        assert np.array_equal(got, expected), lay["name"]  # fc0 spans two cores: order must be right
        assert lay["firing_rate"] == pytest.approx(expected.mean())


def test_membrane_readout_layer_has_no_firing_rate(small_chip):
    rng = np.random.default_rng(3)
    net = random_network(rng, [20, 10], small_chip.core, fire_output=False)
    program = map_network(net, small_chip, [2])
    result = simulate(program, rng.integers(0, 2, (2, 2, 20)))
    assert layer_firing_rates(result, program) == {"fc0": None}
    rep = evaluate(program, rng.random((2, 20)), None, timesteps=2, sweep=[], simulator="golden")
    lay = rep.raster["layers"][1]
    assert lay["readout"] == "membrane" and len(lay["membranes"]) == 2
    assert "membrane readout" in render_table(rep.to_dict())
    assert rep.accuracy is None


def test_report_files_are_written_with_fixed_names(tmp_path, report):
    out = write_report(report, tmp_path / "rep")
    # + the area figure: the small preset has a stored synthesis (docs/area.md)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + FIGURE_FILES + (AREA_FIGURE,))
    data = json.loads((out / "report.json").read_text())
    for key in ("accuracy", "energy_nj_per_image", "latency_us_per_image", "throughput_images_per_s",
                "sops_per_image", "pj_per_sop", "timesteps", "chip"):
        assert key in data
    assert data["energy_nj_per_image"] == pytest.approx(report.energy.energy_nj_per_image)
    with open(out / "report.csv", newline="") as fh:
        rows = {(r["section"], r["key"]): r for r in csv.DictReader(fh)}
    assert float(rows[("summary", "energy_nj_per_image")]["value"]) == pytest.approx(data["energy_nj_per_image"])
    assert rows[("summary", "energy_nj_per_image")]["unit"] == "nJ"
    with open(out / "images.csv", newline="") as fh:
        images = list(csv.DictReader(fh))
    assert len(images) == 12
    assert np.mean([float(r["energy_nj"]) for r in images]) == pytest.approx(data["energy_nj_per_image"])
    assert (out / "report.md").read_text() == render_table(data)
    for name in FIGURE_FILES:
        blob = (out / name).read_bytes()
        assert blob.startswith(PNG_MAGIC) and len(blob) > 10_000, name


def test_terminal_table_shows_the_headline_numbers(report):
    d = report.to_dict()
    text = render_table(d)
    assert f"{100 * d['accuracy']:.2f} %" in text
    assert f"{d['energy_nj_per_image']:.4g} nJ" in text
    assert f"{d['summary']['pj_per_sop']:.2f} pJ" in text
    assert "throughput" in text and "SOPs / image" in text


def test_writing_replaces_an_earlier_report_atomically(tmp_path, report, monkeypatch):
    out = tmp_path / "rep"
    write_report(report, out, figures=False)
    before = (out / "report.json").read_bytes()

    import hwsim.report.figures as rp

    def broken(data, folder):
        (folder / "energy_breakdown.png").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(rp, "render_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(report, out)
    # the earlier report is untouched and no temporary folder is left behind
    assert (out / "report.json").read_bytes() == before
    assert not (out / "energy_breakdown.png").exists()
    assert sorted(os.listdir(tmp_path)) == ["rep"]
    # a failed first run leaves nothing at all
    with pytest.raises(RuntimeError):
        write_report(report, tmp_path / "fresh")
    assert sorted(os.listdir(tmp_path)) == ["rep"]


def test_refuses_to_replace_a_folder_that_is_not_a_report(tmp_path, report):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(OutputPathError, match="refusing to replace"):
        write_report(report, tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        write_report(report, tmp_path / "file")


def test_bad_inputs_are_named(setup):
    net, program, images, labels = setup
    with pytest.raises(Exception, match=r"expects \(n_images, 40\)"):
        evaluate(program, images[:, :30], labels, timesteps=2, simulator="golden")
    with pytest.raises(Exception, match="labels have shape"):
        evaluate(program, images, labels[:3], timesteps=2, sweep=[], simulator="golden")
    with pytest.raises(Exception, match="simulator = 'fast'"):
        evaluate(program, images, labels, timesteps=2, simulator="fast")


def test_default_sweep():
    assert default_sweep(8) == [1, 2, 4, 8, 16]
    assert default_sweep(3) == [1, 2, 3, 4]
    assert default_sweep(1) == [1, 2]
    assert default_sweep(100) == [1, 2, 4, 8, 16, 32, 100]


# ------------------------------------------------------------------- RRAM chips

@pytest.fixture(scope="module")
def bundled_rram():
    """The bundled digits network mapped onto the ideal ``rram`` preset (as tests/hwsim/rram/rram_cases.py
    builds ideal chips: every non-ideality off, an ADC wide enough for scale 1) and onto ``default_28nm``."""
    import dataclasses
    import warnings

    from hwsim.config import load_chip_config
    from hwsim.datasets import load_dataset
    from hwsim.training import load_default_network

    net = load_default_network()
    rram = load_chip_config("rram")
    ideal = rram.replace(rram=dataclasses.replace(rram.rram.ideal(), adc_bits=16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DRCWarning: the bundled net's 12-bit membranes on 16-bit chips
        programs = {name: map_network(net, chip) for name, chip in
                    (("digital", load_chip_config("default_28nm")), ("ideal", ideal), ("rram", rram))}
    ds = load_dataset("digits")
    return programs, ds.x_train, ds.x_test[:40], ds.y_test[:40]


def test_ideal_rram_preset_reports_what_the_digital_chip_does(bundled_rram):
    programs, x_train, x, y = bundled_rram
    d = evaluate(programs["digital"], x, y, timesteps=8, sweep=[])
    r = evaluate(programs["ideal"], x, y, timesteps=8, sweep=[], calibration_images=x_train)
    assert r.meta["adc_scales"] == [1] * len(programs["ideal"].cores)
    assert r.accuracy == d.accuracy and (r.predictions == d.predictions).all()
    assert r.firing_rates == d.firing_rates
    # the spikes (and output membranes) of every layer of the recorded image
    assert r.raster["layers"] == d.raster["layers"]
    assert r.to_dict()["core_type"] == "rram" and d.to_dict()["core_type"] == "digital"


def test_rram_report_breakdowns_sum_and_do_not_depend_on_chunks(bundled_rram):
    from hwsim.rram.energy import RramEnergyReport

    programs, x_train, x, y = bundled_rram
    kw = dict(timesteps=4, sweep=[2], instance_seed=7, calibration_images=x_train)
    rep = evaluate(programs["rram"], x, y, **kw)
    e = rep.energy
    assert isinstance(e, RramEnergyReport) and rep.meta["instance_seed"] == 7
    for name, parts in (("component", e.by_component), ("layer", e.by_layer), ("action", e.by_action)):
        np.testing.assert_allclose(sum(parts.values()), e.total_pj, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(e.by_core.sum(axis=1) + e.by_layer["host"] + e.by_layer["idle cores"], e.total_pj,
                               rtol=1e-12)
    assert list(e.by_layer)[0] == "host" and list(e.by_layer)[-1] == "idle cores"
    # read noise is seeded per image: chunks of 7 images give the same bits as one chunk
    again = evaluate(programs["rram"], x, y, chunk_size=7, **kw)
    assert again.to_dict() == rep.to_dict()
    golden = evaluate(programs["rram"], x[:5], y[:5], simulator="golden", **kw)
    fast = evaluate(programs["rram"], x[:5], y[:5], **kw)
    assert golden.to_dict()["energy_nj_by_core"] == fast.to_dict()["energy_nj_by_core"]


def test_rram_report_needs_adc_scales_or_calibration_images(bundled_rram, tmp_path):
    programs, _, x, y = bundled_rram
    with pytest.raises(InputError, match="ADC scale registers"):
        evaluate(programs["rram"], x, y, timesteps=2, sweep=[])
    with pytest.raises(InputError, match="instance_seed"):
        evaluate(programs["rram"], x, y, timesteps=2, sweep=[], adc_scales=[1, 1], instance_seed=-1)
    rep = evaluate(programs["rram"], x[:6], y[:6], timesteps=2, sweep=[1], adc_scales=[2, 2])
    out = write_report(rep, tmp_path / "r")
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES + FIGURE_FILES)
    table = render_table(rep.to_dict())
    assert "| chip instance" in table and "ADC conversions" in table and "crossbar cell reads" in table

"""The mapping summary (mapping/summary.py) and the ``hwsim map`` command: files written, numbers consistent
with the program and the placement, the written program runs and gives the network's spikes, errors name the rule."""

import json

import numpy as np
import pytest
from mapping_cases import assert_program_matches_network

from hwsim.cli import main
from hwsim.program import ChipProgram
from hwsim.testing import random_network, random_raster
from mapping import plan, write_nir
from mapping.summary import OUTPUT_FILES, build_report, render_markdown, write_outputs


@pytest.fixture
def chip3x3(small_chip):
    return small_chip.replace(mesh_rows=3, mesh_cols=3)


def test_report_numbers(chip3x3, rng):
    net = random_network(rng, [40, 50, 20, 7], chip3x3.core)
    mapped = plan(net, chip3x3, rates=[0.5, 0.25, 0.125, 0.0625])
    rep = build_report(mapped)
    json.dumps(rep)  # JSON-serialisable
    cores = {c["core"]: c for c in rep["cores"]}
    assert set(cores) == {cp.core for cp in mapped.program.cores}
    for cp in mapped.program.cores:
        c = cores[cp.core]
        assert (c["neurons"], c["axons"]) == cp.weights.shape[::-1]
        assert c["nonzero_synapses"] == np.count_nonzero(cp.weights)
        assert c["synapse_bits"] == cp.weights.size * chip3x3.core.w_bits
        assert c["expected_spikes_per_timestep"] == pytest.approx(
            {0: 0.25, 1: 0.125, 2: 0.0625}[cp.stage] * cp.n_neurons
        )
    # a 40 -> 50 layer: 2 parts of 25 neurons, each 40 x 25 synapses
    assert [c["neurons"] for c in rep["cores"] if c["layer"] == 0] == [25, 25]
    assert rep["totals"]["synapses_stored"] == 40 * 50 + 50 * 20 + 20 * 7
    assert rep["host"]["packets_per_timestep"] == pytest.approx(0.5 * 40 * 2)  # multicast to 2 parts
    assert sum(link["packets_per_timestep"] for link in rep["links"]) == pytest.approx(
        rep["placement"]["cost_packet_hops_per_timestep"]
    )
    md = render_markdown(rep)
    assert f"{rep['placement']['cost_packet_hops_per_timestep']:.3g}" in md
    assert md.count("\n| ") >= len(rep["cores"]) + len(net.layers)


def test_write_outputs(tmp_path, chip3x3, rng):
    net = random_network(rng, [40, 50, 20], chip3x3.core)
    paths = write_outputs(plan(net, chip3x3), tmp_path / "out")
    assert {p.name for p in paths.values()} == set(OUTPUT_FILES.values())
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.mark.parametrize("suffix", [".npz", ".nir"])
def test_cli_map_writes_a_runnable_program(tmp_path, chip3x3, rng, capsys, suffix):
    net = random_network(rng, [40, 50, 20, 7], chip3x3.core, threshold=10, weight_range=(-20, 31))
    chip_toml = tmp_path / "chip.toml"
    chip_toml.write_text(
        'name = "small3"\nmesh_rows = 3\nmesh_cols = 3\n[core]\naxons = 64\nneurons = 32\nlanes = 4\n'
        "w_bits = 6\nv_bits = 12\n"
    )
    src = tmp_path / f"net{suffix}"
    net.save(src) if suffix == ".npz" else write_nir(net, src)
    out = tmp_path / "prog"
    rc = main(["map", str(src), "--chip", str(chip_toml), "--rates", "0.4,0.2,0.2,0.1", "--seed", "3", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "packet-hops per timestep" in text and "| core |" in text
    program = ChipProgram.load(out / "program.npz")
    rep = json.loads((out / "mapping.json").read_text())
    assert rep["placement"]["seed"] == 3 and rep["placement"]["method"] == "anneal"
    assert [p["core"] for p in rep["placement"]["parts"]] == [p["core"] for p in program.metadata["placement"]["parts"]]
    rasters = random_raster(rng, 2, 5, 40, 0.4)
    assert_program_matches_network(program, net, rasters, 12)


def test_cli_rates_raster_file_and_row_major(tmp_path, chip3x3, rng, capsys):
    net = random_network(rng, [40, 20, 7], chip3x3.core)
    net.save(tmp_path / "n.npz")
    np.save(tmp_path / "r.npy", random_raster(rng, 2, 4, 40, 0.3))
    rc = main(
        [
            "map",
            str(tmp_path / "n.npz"),
            "--chip",
            "small",
            "--placement",
            "row_major",
            "--rates",
            str(tmp_path / "r.npy"),
            "-o",
            str(tmp_path / "o"),
            "--no-figure",
        ]
    )
    assert rc == 0
    rep = json.loads((tmp_path / "o" / "mapping.json").read_text())
    assert rep["placement"]["rates_source"].startswith("calibration")
    assert [p["core"] for p in rep["placement"]["parts"]] == [0, 1]
    assert not (tmp_path / "o" / "mesh.png").exists()


def test_cli_drc_error_names_the_rule(tmp_path, rng, capsys, small_chip):
    net = random_network(rng, [100, 10], small_chip.core)  # fan-in ~100 > 64 axons
    net.save(tmp_path / "n.npz")
    fanin = max(int((net.layers[0].weights[:, j] != 0).sum()) for j in range(10))  # inputs one neuron uses
    assert fanin > 64
    assert main(["map", str(tmp_path / "n.npz"), "--chip", "small", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"design rule fanin_le_axons violated at layer 0 (fc0): needs fan-in {fanin}" in err
    assert "chip small has no partial sums" in err and "mesh8x8_28nm, mesh16x16_28nm" in err
    assert not (tmp_path / "o").exists()


def test_cli_bad_rates(tmp_path, rng, capsys, small_chip):
    net = random_network(rng, [10, 5], small_chip.core)
    net.save(tmp_path / "n.npz")
    assert main(["map", str(tmp_path / "n.npz"), "--chip", "small", "--rates", "fast", "-o", str(tmp_path)]) == 2
    assert "--rates 'fast'" in capsys.readouterr().err

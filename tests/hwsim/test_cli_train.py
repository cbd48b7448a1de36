"""``hwsim train``: trains, writes a loadable network with provenance, evaluates existing files, clear errors."""

import json

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.datasets import load_dataset
from hwsim.encoding import encode
from hwsim.network import Network, predict


def test_train_writes_network_and_summary(tmp_path, capsys):
    out, summary = tmp_path / "net.npz", tmp_path / "s.json"
    rc = main(["train", "--dataset", "digits", "--hidden", "16", "--epochs", "3", "--timesteps", "2", "--seed", "4",
               "--chip", "small", "--no-progress", "-o", str(out), "--json", str(summary),
               "--sweep-timesteps", "1,2"])
    assert rc == 0
    net = Network.load(out)
    assert net.sizes == [64, 16, 10]
    m = net.metadata
    assert m["w_bits"] == 6 and m["v_bits"] == 12 and m["chip"] == "small"  # from the small preset
    assert m["provenance"]["seed"] == 4 and m["provenance"]["epochs"] == 3
    assert m["provenance"]["command"].startswith("hwsim train --dataset digits")
    data = json.loads(summary.read_text())
    assert set(data["accuracy_vs_timesteps"]) == {"1", "2"}
    assert data["accuracy_vs_timesteps"]["2"] == m["results"]["chip_test_accuracy"]
    text = capsys.readouterr().out
    assert "quantized, chip-simulated" in text and "maps onto small" in text

    rc = main(["train", "--load", str(out), "--sweep-timesteps", "2", "--json", str(summary)])
    assert rc == 0
    again = json.loads(summary.read_text())
    assert again["chip_test_accuracy"] == m["results"]["chip_test_accuracy"]


def test_train_errors(tmp_path, capsys):
    assert main(["train", "--dataset", "digits"]) == 2
    assert "no output file: pass -o NET.npz" in capsys.readouterr().err
    assert main(["train", "--hidden", "16,x", "-o", str(tmp_path / "n.npz")]) == 2
    assert "--hidden = '16,x': expected comma-separated integers" in capsys.readouterr().err
    missing = str(tmp_path / "none")
    assert main(["train", "--dataset", "mnist", "--data-dir", missing, "-o", str(tmp_path / "n.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_mentions_modes(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--mode {discontinuous,continuous}" in text and "--data-dir DIR" in text


def test_fashion_mnist_from_debian_package_trains_and_runs(tmp_path, capsys, debian_fashion_mnist):
    """Debian's Fashion-MNIST, found without --data-dir: train a small network, then run it on the chip."""
    net_file = tmp_path / "fmnist.npz"
    rc = main(["train", "--dataset", "fashion-mnist", "--limit", "3000", "--hidden", "64", "--epochs", "4",
               "--seed", "0", "--no-progress", "-o", str(net_file)])
    assert rc == 0, capsys.readouterr().err
    net = Network.load(net_file)
    assert net.sizes == [784, 64, 10] and net.metadata["dataset"] == "fashion-mnist"
    trained = net.metadata["results"]["chip_test_accuracy"]
    # 3,000 images, 4 epochs: ~76 % measured; chance is 10 %, a broken loader or encoder is near it
    assert trained >= 0.70
    capsys.readouterr()

    out = tmp_path / "out"
    rc = main(["run", "--net", str(net_file), "--dataset", "fashion-mnist", "--limit", "300", "--sweep", "none",
               "--no-figures", "--quiet", "--json", "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    data = json.loads(captured.out)
    assert data["meta"]["dataset"] == "fashion-mnist" and data["n_images"] == 300
    # The chip's accuracy, exactly: the same network simulated layer by layer (no mapper, no chip) on the
    # same rasters with the default chip's 16-bit membranes. Catches: a run that maps, encodes or decodes
    # the IDX images differently from the trainer's evaluation.
    ds = load_dataset("fashion-mnist", limit=300)
    rasters = encode(ds.x_test, int(net.metadata["timesteps"]), str(net.metadata["encoding"]), seed=0)
    assert data["accuracy"] == np.mean(predict(net, rasters, v_bits=16) == ds.y_test)
    assert data["accuracy"] >= 0.70
    assert data["sops_per_image"] > 0 and data["energy_nj_per_image"] > 0


def test_load_takes_a_nir_graph_like_the_npz_it_was_exported_from(tmp_path, capsys):
    import mapping
    from hwsim.training import default_network_path, load_default_network

    nir_file = mapping.write_nir(load_default_network(), tmp_path / "digits.nir")
    results = {}
    for name, path in (("npz", default_network_path()), ("nir", nir_file)):
        summary = tmp_path / f"{name}.json"
        # the NIR graph carries no dataset or width metadata, so both runs name them
        rc = main(["train", "--load", str(path), "--dataset", "digits", "--chip", "small", "--timesteps", "4",
                   "--json", str(summary)])
        assert rc == 0, capsys.readouterr().err
        results[name] = json.loads(summary.read_text())["chip_test_accuracy"]
    assert results["nir"] == results["npz"] > 0.9


@pytest.mark.parametrize("flag", ["--lr", "--lr-final"])
def test_zero_learning_rate_is_an_error_not_the_default(tmp_path, capsys, flag):
    rc = main(["train", "--dataset", "digits", "--epochs", "1", flag, "0", "--no-progress",
               "-o", str(tmp_path / "n.npz")])
    assert rc == 2
    assert "learning rates must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "n.npz").exists()


def test_train_arch_writes_a_conv_network_of_chip_layers(tmp_path, capsys):
    out, summary = tmp_path / "conv.npz", tmp_path / "s.json"
    rc = main(["train", "--dataset", "digits", "--arch", "4C3-P2-10", "--limit", "200", "--epochs", "2",
               "--timesteps", "2", "--chip", "small", "--eval-train-limit", "50", "--no-progress",
               "-o", str(out), "--json", str(summary)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "network 4C3-P2-10 (1x8x8 -> 4x8x8 -> 4x4x4 -> 10)" in captured.err
    net = Network.load(out)
    assert net.sizes == [64, 256, 64, 10]
    assert [layer.shape for layer in net.layers] == [(4, 8, 8), (4, 4, 4), None]
    assert [layer.name for layer in net.layers] == ["conv0", "maxpool1", "output"]
    pool = net.layers[1]
    assert (pool.threshold, pool.reset, pool.integration) == (1, "zero", "discontinuous")
    m = net.metadata
    assert m["arch"] == "4C3-MP2-10" and m["w_bits"] == 6
    assert "--arch 4C3-P2-10" in m["provenance"]["command"]
    # the summary's chip accuracy is the integer simulation of the saved network on the spec's rasters
    ds = load_dataset("digits", limit=200)
    rasters = encode(ds.x_test, 2, "rate", seed=0)
    assert json.loads(summary.read_text())["chip_test_accuracy"] == np.mean(predict(net, rasters, 12) == ds.y_test)


@pytest.mark.parametrize("argv, message", [
    (["--arch", "4C3-P2-10", "--hidden", "16"], "--hidden and --arch both give the network"),
    (["--arch", "4C3-Q2-10"], "--arch '4C3-Q2-10': item 2 'Q2' is not a layer; allowed items: NCk[sS][pP]"),
    (["--arch", "4C3-P2-7"], "the output layer has 7 neurons but the dataset has 10 classes"),
])
def test_train_arch_errors(tmp_path, capsys, argv, message):
    rc = main(["train", "--dataset", "digits", "--epochs", "1", "--no-progress", *argv, "-o", str(tmp_path / "n.npz")])
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "n.npz").exists()


def test_help_documents_the_arch_notation(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--arch ARCH" in text and "16C5-MP2-32C5-MP2-10" in text
    assert "OR of the window" in text and "ceil(k*k/2)" in text


def test_train_names_a_preset_with_partial_sums_when_the_chip_is_too_small(tmp_path, capsys):
    # 16C3 on 8x8 digits is 16 * 64 = 1,024 neurons: more than the small chip's 4 cores of 32 neurons hold;
    # mesh8x8_28nm (64 cores of 256 neurons, the smallest preset with partial sums) holds it in 4 + 1 cores.
    rc = main(["train", "--dataset", "digits", "--arch", "16C3-10", "--limit", "100", "--epochs", "1",
               "--timesteps", "2", "--chip", "small", "--eval-train-limit", "20", "--no-progress",
               "-o", str(tmp_path / "c.npz")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "note: the network does not map onto small" in err
    assert "maps onto mesh8x8_28nm: " in err and "of 64 cores (use --chip mesh8x8_28nm" in err


def test_train_per_timestep_loss_is_accepted_and_recorded(tmp_path, capsys):
    out = tmp_path / "pt.npz"
    rc = main(["train", "--dataset", "digits", "--limit", "200", "--hidden", "8", "--epochs", "1", "-T", "2",
               "--mode", "continuous", "--loss", "per-timestep", "--chip", "small", "--no-progress", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    m = Network.load(out).metadata
    assert m["provenance"]["config"]["loss"] == "per-timestep"
    assert "--loss per-timestep" in m["provenance"]["command"]


@pytest.mark.parametrize("bad", ["tet", "per_timestep", ""])
def test_train_refuses_an_unknown_loss_naming_the_allowed_ones(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "digits", "--loss", bad, "-o", str(tmp_path / "n.npz")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --loss: invalid choice" in err and repr(bad) in err
    # the allowed names (quoted or not, as the Python version formats them)
    assert all(name in err.split("choose from", 1)[1] for name in ("cross_entropy", "squared_hinge", "per-timestep"))
    assert "Traceback" not in err and not (tmp_path / "n.npz").exists()


def test_recorded_command_keeps_the_train_accuracy_sample_size(tmp_path, capsys):
    """--eval-train-limit changes the recorded results, so the recorded command must carry it."""
    out = tmp_path / "net.npz"
    argv = ["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--timesteps", "2", "--no-progress",
            "--eval-train-limit", "50", "-o", str(out)]
    assert main(argv) == 0
    m = Network.load(out).metadata
    assert "--eval-train-limit 50" in m["provenance"]["command"]
    assert m["results"]["n_train_evaluated"] == 50
    assert main(argv[:-4] + ["-o", str(out)]) == 0
    m = Network.load(out).metadata
    # default: all training images up to 10,000 (the digits have fewer)
    assert "--eval-train-limit" not in m["provenance"]["command"]
    assert m["results"]["n_train_evaluated"] == m["provenance"]["n_train"] < 10000

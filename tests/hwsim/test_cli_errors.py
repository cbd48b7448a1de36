"""Bad arguments and output paths: one line on stderr, exit status 2, before any work (issue 12 §2, §3).

"Before any work" is checked on the progress messages: without ``-q`` every command prints ``loading ...``
before it loads a network or a dataset, so an error line with nothing before it was raised first.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from hwsim.cli import main
from hwsim.config import load_chip_config
from hwsim.limits import MAX_INSTANCES, MAX_ITERATIONS, MAX_SEED
from hwsim.testing import random_network


@pytest.fixture
def digits_net(tmp_path):
    """A random 64-16-10 network for the 8x8 digits, saved outside every output folder of the tests."""
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(5), [64, 16, 10], core, threshold=40)
    net.metadata.update({"timesteps": 2, "encoding": "rate"})
    folder = tmp_path / "inputs"
    folder.mkdir()
    return net.save(folder / "net.npz")


def refused(capsys, argv, *fragments):
    """Run the CLI; assert exit 2, exactly one stderr line naming every fragment, nothing on stdout."""
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line, so also: no progress message, i.e. refused before any work
    assert lines[0].startswith(f"hwsim {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "allow_pickle" not in err and "unsafe" not in err
    assert out == ""
    return lines[0]


# ----------------------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["run", "--seed", "-1"], ["--seed -1", f"0..{MAX_SEED}"]),
        (["run", "--seed", str(MAX_SEED + 1)], [f"--seed {MAX_SEED + 1}"]),
        (["run", "--timesteps", "-1"], ["--timesteps -1", "1..4096"]),
        (["run", "--net", ""], ["--net ''", "empty"]),
        (["run", "--net", "a\0b.npz"], ["NUL character"]),
        (["run", "--table", "missing-table.toml"], ["--table 'missing-table.toml'", "does not exist"]),
        (["run", "--data-dir", "no-such-folder"], ["--data-dir 'no-such-folder'", "does not exist"]),
        (["run", "--data-dir", ""], ["--data-dir ''", "empty string"]),
        (["run", "--table", ""], ["--table ''", "empty string"]),
        (["train", "--json", "", "-o", "n.npz"], ["--json ''", "empty string"]),
        (["run", "--sweep", "1,,4"], ["--sweep '1,,4'"]),
        (["report", "missing-program.npz"], ["'missing-program.npz'", "does not exist"]),
        (["yield", "--instances", "1000000000"], ["--instances 1000000000", f"1..{MAX_INSTANCES}"]),
        (["yield", "--seed", "-1"], ["--seed -1"]),
        (["yield", "--seed", str(MAX_SEED), "--instances", "2"], [f"reaches seed {MAX_SEED + 1}"]),
        (["yield", "--timesteps", "-1"], ["--timesteps -1"]),
        (["yield", "--workers", "0"], ["--workers 0"]),
        (["yield", "--sigma", "nan"], ["--sigma nan"]),
        (["train", "--lr", "inf", "-o", "n.npz"], ["--lr inf", "finite"]),
        (["train", "--lr-final", "nan", "-o", "n.npz"], ["--lr-final nan"]),
        (["train", "--hidden", "64,,64", "-o", "n.npz"], ["--hidden = '64,,64'"]),
        (["train", "--hidden", "", "-o", "n.npz"], ["--hidden = ''"]),
        (["train", "--epochs", "0", "-o", "n.npz"], ["--epochs 0", "1..100000"]),
        (["train", "--timesteps", "-1", "-o", "n.npz"], ["--timesteps -1"]),
        (["train", "--seed", "-1", "-o", "n.npz"], ["--seed -1"]),
        (["train", "--sweep-timesteps", "1,5000", "-o", "n.npz"], ["--sweep-timesteps 5000"]),
        (["train", "--load", ""], ["--load ''"]),
    ],
)
def test_bad_arguments_are_refused_before_loading(tmp_path, capsys, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, *fragments)
    assert not (tmp_path / "n.npz").exists()
    assert sorted(os.listdir(tmp_path)) == []  # no output folder, no temporary folder


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--iterations", "-1"], ["--iterations -1", f"1..{MAX_ITERATIONS}"]),
        (["--iterations", "10000000000"], ["--iterations 10000000000"]),
        (["--seed", "-1"], ["--seed -1"]),
        (["--rates", "dataset:0"], ["--rates 'dataset:0'", "1..10000"]),
        (["--rates", "datasets"], ["--rates 'datasets'", "expected 'auto'"]),
        (["--rates", "0.5,,0.1"], ["--rates '0.5,,0.1'"]),
        (["--rates", "missing.npy"], ["--rates 'missing.npy'", "no such file"]),
        (["--dt", "-1"], ["--dt -1"]),
    ],
)
def test_bad_map_arguments_are_refused_before_loading(tmp_path, capsys, monkeypatch, digits_net, extra, fragments):
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["map", str(digits_net), *extra, "-o", "prog"], *fragments)
    assert not (tmp_path / "prog").exists()


def test_rates_npy_holding_objects_is_refused_without_numpy_advice(tmp_path, capsys, digits_net):
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    line = refused(capsys, ["map", str(digits_net), "--rates", str(objects), "-o", str(tmp_path / "p")],
                   "Python objects", "dtype object")
    assert "pickle" not in line


def test_rates_npy_declaring_a_huge_shape_is_refused_before_allocating(tmp_path, capsys, digits_net):
    huge = tmp_path / "huge.npy"
    with huge.open("wb") as fh:  # a valid header for a (10**6, 10**6) bool array and no data
        np.lib.format.write_array_header_1_0(fh, {"descr": "|b1", "fortran_order": False, "shape": (10**6, 10**6)})
    refused(capsys, ["map", str(digits_net), "--rates", str(huge), "-o", str(tmp_path / "p")],
            "declares shape (1000000, 1000000)", "at most")


def test_network_metadata_timesteps_must_be_a_whole_number(tmp_path, capsys):
    core = load_chip_config("default_28nm").core
    net = random_network(np.random.default_rng(2), [64, 16, 10], core)
    net.metadata.update({"timesteps": 2.5})
    path = net.save(tmp_path / "half.npz")
    rc = main(["run", "--net", str(path), "-q", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1
    assert "timesteps" in err and "2.5" in err
    assert not (tmp_path / "o").exists()


def test_network_whose_outputs_do_not_match_the_classes_is_refused(tmp_path, capsys):
    core = load_chip_config("default_28nm").core
    path = random_network(np.random.default_rng(3), [64, 64], core).save(tmp_path / "wide.npz")
    for argv in (["run", "--net", str(path), "-o", str(tmp_path / "o")],
                 ["train", "--load", str(path)],
                 ["yield", "--net", str(path), "--instances", "1", "--sweep", "none", "-o", str(tmp_path / "y")]):
        rc = main(argv + ["-q"] if argv[0] != "train" else argv)
        out, err = capsys.readouterr()
        assert rc == 2, err
        assert "64 outputs but dataset digits has 10 classes" in err, err
        assert "simulating" not in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "y").exists()


def test_train_checks_the_design_rules_before_training(tmp_path, capsys):
    line = refused(capsys, ["train", "--hidden", "100000", "--no-progress", "-o", str(tmp_path / "n.npz")],
                   "does not fit chip default_28nm", "design rule")
    assert "64-100000-10" in line
    assert not (tmp_path / "n.npz").exists()


def test_run_help_does_not_claim_to_train(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "train or load" not in text
    assert "map a trained network" in text


# -------------------------------------------------------------------------------------- output paths
def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (root ignores permission bits: use /sys then)."""
    if os.geteuid() == 0:
        assert os.path.isdir("/sys"), "no /sys: cannot make an unwritable folder as root"
        return "/sys"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return str(locked)


def output_cases(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    return {
        "unwritable": (os.path.join(unwritable_folder(tmp_path), "hwsim-test-out"), "cannot create files in"),
        "under a file": (str(tmp_path / "a-file" / "out"), "is a file, so nothing can be created under it"),
        "empty": ("", "empty string"),
        "NUL": (str(tmp_path / "a\0b"), "NUL character"),
        "too long": (str(tmp_path / ("x" * 300)), "too long for the file system"),
        # 250 bytes fit, but not the hidden temporary name the atomic writer puts next to it
        "temporary name too long": (str(tmp_path / ("y" * 250)), "too long for the file system"),
    }


@pytest.mark.parametrize("case", ["unwritable", "under a file", "empty", "NUL", "too long",
                                  "temporary name too long"])
@pytest.mark.parametrize("command", ["run", "report", "map", "yield", "train"])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, capsys, digits_net, command, case):
    path, fragment = output_cases(tmp_path)[case]
    if command == "train":
        path = path + ".npz" if path else path
    argv = {
        "run": ["run", "--net", str(digits_net), "-o", path],
        "report": ["report", str(digits_net), "-o", path],  # any existing file: the path is checked first
        "map": ["map", str(digits_net), "-o", path],
        "yield": ["yield", "--net", str(digits_net), "-o", path],
        "train": ["train", "-o", path],
    }[command]
    refused(capsys, argv, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "a-folder", "inputs"] + (
        ["locked"] if os.geteuid() != 0 else [])


def test_map_to_an_existing_file_and_train_to_a_folder_are_refused(tmp_path, capsys, digits_net):
    target = tmp_path / "taken"
    target.write_text("keep")
    refused(capsys, ["map", str(digits_net), "-o", str(target)], "is a file, not a folder")
    assert target.read_text() == "keep"
    refused(capsys, ["train", "-o", str(tmp_path)], "is a folder; give a file name")
    refused(capsys, ["train", "-o", str(tmp_path / "n.npz"), "--json", str(tmp_path)], "--json", "is a folder")
    assert not (tmp_path / "n.npz").exists()


def test_train_output_and_summary_must_differ(tmp_path, capsys):
    same = str(tmp_path / "n.npz")
    refused(capsys, ["train", "-o", same, "--json", same], "name the same file")


# ------------------------------------------------------------------------------------- error mapping
def test_file_system_errors_become_one_line_and_status_2(tmp_path, capsys, monkeypatch, digits_net):
    import hwsim.report

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "o" / "report.json"))

    monkeypatch.setattr(hwsim.report, "write_report", disk_full)
    rc = main(["run", "--net", str(digits_net), "--limit", "2", "--sweep", "none", "-q", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"hwsim run: error: {tmp_path / 'o' / 'report.json'}: No space left on device\n"


def test_an_internal_bug_keeps_its_traceback(tmp_path, monkeypatch, digits_net):
    """Only bad input and the environment map to status 2: a bug in hwsim propagates (exit 1, traceback)."""
    import hwsim.report

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(hwsim.report, "evaluate", bug)
    with pytest.raises(KeyError, match="a bug"):
        main(["run", "--net", str(digits_net), "--limit", "2", "-q", "-o", str(tmp_path / "o")])
    monkeypatch.setattr(hwsim.report, "evaluate", lambda *a, **k: (_ for _ in ()).throw(OSError("no errno")))
    with pytest.raises(OSError, match="no errno"):  # an OSError that is no failed system call is a bug too
        main(["run", "--net", str(digits_net), "--limit", "2", "-q", "-o", str(tmp_path / "o")])

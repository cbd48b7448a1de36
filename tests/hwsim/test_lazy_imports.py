"""Start-up cost of the command line: what `import hwsim.cli` and a default `hwsim run` import (no timing).

Each check runs in a fresh interpreter (a subprocess) and reads its ``sys.modules``: this test process has
imported everything already.
"""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hwsim
import hwsim.training as training
import mapping
from hwsim.datasets import DatasetError, load_dataset, read_digits_csv

REPO = Path(__file__).resolve().parents[2]

# Heavy packages no default path needs (scikit-learn's import alone pulls in scipy.stats, ~0.8 s).
NEVER_ON_DEFAULT_PATH = ["sklearn", "matplotlib", "scipy.sparse", "scipy.stats", "nir", "h5py", "dask",
                         "distributed", "hwsim.training.trainer", "mapping.nir_import", "mapping.nir_export"]


def _modules_after(code: str) -> set[str]:
    """The module names loaded in a fresh interpreter after ``code``, which must not print."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_numeric_package():
    # Catches: hwsim/__init__.py importing its submodules eagerly again (NumPy + SciPy ~0.4 s before --help)
    loaded = _modules_after("import hwsim.cli")
    heavy = {"numpy", "scipy", "numba", "tqdm", *NEVER_ON_DEFAULT_PATH}
    assert not heavy & loaded, f"import hwsim.cli loaded {sorted(heavy & loaded)}"


def test_default_run_leaves_heavy_packages_unloaded(tmp_path):
    # Catches: the digits loader importing sklearn.datasets, Network importing scipy.sparse for a dense
    # network, the mapper importing the NIR reader for a Network it already has, hwsim.training loading the trainer
    out = tmp_path / "out"
    argv = ["run", "--no-figures", "--quiet", "--limit", "4", "--sweep", "none", "-o", str(out)]
    loaded = _modules_after(
        "import contextlib, io\nfrom hwsim.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main({argv!r}) == 0"
    )
    assert (out / "report.json").is_file()
    assert "hwsim.chip" in loaded and "mapping.mapper" in loaded  # the run did simulate and map
    assert not set(NEVER_ON_DEFAULT_PATH) & loaded, f"hwsim run loaded {sorted(set(NEVER_ON_DEFAULT_PATH) & loaded)}"


def test_digits_are_scikit_learns_digits():
    # The CSV reader against scikit-learn's own loader: same pixels, same labels, same order
    from sklearn.datasets import load_digits

    from hwsim.datasets import _digits_arrays

    bunch = load_digits()
    pixels, labels = _digits_arrays()
    assert pixels.shape == (1797, 64)
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)
    # and the split built on them holds every image once
    ds = load_dataset("digits")
    assert sorted(map(bytes, np.rint(np.concatenate([ds.x_train, ds.x_test]) * 16).astype(np.uint8))) == sorted(
        map(bytes, bunch.data.astype(np.uint8)))


def test_a_small_hand_written_digits_file_reads_row_by_row(tmp_path):
    rows = [list(range(17)) + [0] * 47 + [3], [16] * 64 + [9]]
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(",".join(map(str, r)) for r in rows) + "\n").encode()))
    pixels, labels = read_digits_csv(path)
    assert pixels.shape == (2, 64) and pixels[0, :17].tolist() == list(range(17)) and pixels[1].tolist() == [16] * 64
    assert labels.tolist() == [3, 9]


@pytest.mark.parametrize("text, problem", [
    ("1,2,3\n", "does not hold rows of 64 pixels"),  # short row
    (",".join(["0"] * 64 + ["10"]) + "\n", "label in 0..9"),  # label out of range
    (",".join(["17"] * 64 + ["1"]) + "\n", "pixels in 0..16"),  # pixel out of range
    ("0,x\n", "unreadable"),
    ("", "does not hold rows"),
])
def test_a_damaged_digits_file_is_named_in_the_error(tmp_path, text, problem):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DatasetError, match=problem) as err:
        read_digits_csv(path)
    assert str(path) in str(err.value)


def test_not_gzip_is_unreadable(tmp_path):
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(b"0,1,2\n")
    with pytest.raises(DatasetError, match="unreadable"):
        read_digits_csv(path)


def test_lazy_package_names_resolve_as_before():
    # every name a package file exported eagerly is still there, from the module that defines it
    for package in (hwsim, mapping, training):
        for name in package.__all__:
            value = getattr(package, name)
            assert value is not None and name in dir(package)
    from hwsim.network import Network
    from mapping.mapper import map_network

    assert hwsim.Network is Network and mapping.map_network is map_network
    from hwsim.report import evaluate

    assert hwsim.report.evaluate is evaluate  # a submodule by attribute
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        hwsim.not_a_name  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute '_private'"):
        mapping._private  # noqa: B018


def test_only_the_hwsim_process_skips_the_final_garbage_collection():
    # main() as the `hwsim` script calls it (no argv) freezes the heap, so the interpreter's exit does not
    # collect it; a caller passing argv (a test, a longer-lived process) keeps a normal heap.
    script = ("import contextlib, gc, io, sys\nfrom hwsim.cli import main\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    main([])\n    frozen_after_argv = gc.get_freeze_count()\n"
              "    sys.argv = ['hwsim']\n    main()\n"
              "print(frozen_after_argv, gc.get_freeze_count())")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after_argv, after_script = map(int, done.stdout.split())
    assert after_argv == 0 and after_script > 0

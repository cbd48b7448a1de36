"""Fuzz the command line of every subcommand (run, train, map, report, yield, sweep, area) in-process.

Each example starts from a fast, valid command line of one subcommand and applies one or two
mutations: an option set to a boundary or malformed value (negative, zero, huge, inf/nan, empty,
not a number, a list where a number goes), an input path that is missing, a folder, the wrong kind
of file, or a file inside the output folder, an output path that is empty, too long, under a file,
an existing file, a non-empty unrelated folder, or a folder holding the command's input; a token
dropped, a flag added, an unknown option. Values that would legitimately run for minutes (a million
chip instances, 100,000 epochs) are left out: the point is the error paths. So is every ``--scheduler``
that would start or reach a Dask cluster (``local``, ``local:N``, a well-formed ``tcp://HOST:PORT``): the
values here are ``threads`` (the in-process default) and malformed ones, refused before any work. ``hwsim area``
runs Yosys for minutes on a valid command line, so its examples always hold one value refused before synthesis
(and run with no ``yosys`` on PATH, so a value that is not refused fails the test instead of synthesising).

The sandbox of every example holds valid inputs (``inputs/``), an earlier ``hwsim run`` output
(``prev/``), an earlier yield study (``prevyield/``) and map output (``prevmap/``), and a plain file
(``notes.txt``); the property is checked by ``fuzz_cases.check_cli``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import gzip
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_cases import Sandbox, budget, check_cli, run_cli
from hwsim.config import PRESET_DIR

LONG = "a" * 300  # longer than a file name may be (255 bytes on Linux file systems)
BAD_INTS = ["-1", "0", "-0", "1e3", "2.5", "inf", "nan", "-inf", "", " ", "abc", "1,2", "0x10", "9" * 30,
            "-2147483649", "10000000000", "1_0"]
BAD_FLOATS = ["-1", "0", "-0.0", "1e-320", "1e308", "inf", "-inf", "nan", "", "abc", "1,2", "0x1p3", "9" * 400]

SEED = ["0", "1", "4294967295", "4294967296", "-1", "10000000000", "2**32", "nan", "", "x"]
TIMESTEPS = ["1", "2", "3", "4096", "4097", "-1", "0", "2.5", "", "x", "10000000000"]
LIMIT = ["1", "2", "3", "10000000000", "-1", "0", "2.5", "", "x"]
SWEEP = ["none", "off", "", "1", "1,2", "2,1", "1,1", "0", "0,1", "-1", "1,4096", "4097", "1,,2", ",", "1.5", "x",
         "1 2", "nan", "inf", "9" * 30]

NET_PATHS = ["inputs/net.npz", "inputs/graph.nir", "inputs/program.npz", "", "missing.npz", "missing.nir", "inputs",
             "notes.txt", "inputs/chip.toml", "prev/program.npz", LONG + ".npz", "inputs/net.NPZ", "inputs/net.npz/x"]
PROGRAM_PATHS = ["inputs/program.npz", "prev/program.npz", "inputs/rram_program.npz", "inputs/net.npz", "",
                 "missing.npz", "inputs", "notes.txt", "inputs/graph.nir", LONG + ".npz"]
CHIPS = ["default_28nm", "small", "rram", "inputs/chip.toml", "inputs/rram.toml", "", "nonexistent", "inputs",
         "inputs/net.npz", "notes.txt", "small.toml", LONG, "inputs/empty.toml"]
TABLES = ["28nm", "rram_28nm", "inputs/table.toml", "", "nonexistent", "inputs/net.npz", "notes.txt", "inputs",
          LONG + ".toml", "inputs/chip.toml"]
DATA_DIRS = ["inputs/data", "", "missing", "notes.txt", "inputs", LONG]
DATASETS = ["digits", "mnist", "fashion-mnist", "", "cifar", "DIGITS"]
# /proc/...: a folder no one can create files in (permissions do not stop root, /proc does)
FOLDER_OUTPUTS = ["out", "new/deep/out", "", "notes.txt", "notes.txt/out", LONG, "prev", "prevyield", "prevmap",
                  "inputs", "../outside", ".", "..", "out/", "/proc/hwsim-fuzz-out"]
RATES = ["uniform", "auto", "dataset", "dataset:0", "dataset:-1", "dataset:2", "dataset:x", "dataset:10000000000",
         "dataset:", "0.1,0.2", "0.1", "0.5,0.5,0.5", "1.5,2", "nan,0.1", "inf", "-0.1", "", "inputs/rates.npy",
         "inputs/obj.npy", "missing.npy", "notes.txt", "inputs/bad_shape.npy", "inputs/float.npy"]

# --scheduler: the default in any spelling, and malformed values (never a well-formed Dask one: see above)
SCHEDULERS = ["threads", "THREADS", " threads ", "", " ", "local:0", "local:-1", "local:x", "local:", "local:1.5",
              "LOCAL:0", "local:100000", "local:2:3", "local2", "tcp://", "tcp://host", "tcp://host:0",
              "tcp://host:70000", "tcp://:8786", "tcp://a b:1", "tcp://host:port", "udp://host:1", "slurm", "dask",
              "\u00e9"]

COMMON = {  # run and report
    "--dataset": DATASETS,
    "--data-dir": DATA_DIRS,
    "--timesteps": TIMESTEPS,
    "-T": TIMESTEPS,
    "--encoding": ["rate", "threshold", "latency", "regular", "", "poisson"],
    "--limit": LIMIT,
    "--seed": SEED,
    "--table": TABLES,
    "--instance": ["0", "1", "-1", "4294967296", "x", ""],
    "--sweep": SWEEP,
    "--scheduler": SCHEDULERS,
    "-o": FOLDER_OUTPUTS,
    "--outdir": FOLDER_OUTPUTS,
}
COMMON_FLAGS = ["--json", "--no-figures", "-q", "--quiet"]
NOC = ["ideal", "mesh", "", " mesh", "MESH", "torus", "ideal,mesh"]

COMMANDS = {
    "run": {
        "base": ["run", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", "out"],
        "options": {**COMMON, "--net": NET_PATHS, "--chip": CHIPS, "--noc": NOC},
        "flags": COMMON_FLAGS,
        "outputs": ("-o", "--outdir"),
    },
    "report": {
        "base": ["report", "inputs/program.npz", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
                 "-o", "out"],
        "options": dict(COMMON),
        "positional": PROGRAM_PATHS,
        "flags": COMMON_FLAGS,
        "outputs": ("-o", "--outdir"),
    },
    "map": {
        "base": ["map", "inputs/net.npz", "--rates", "uniform", "--iterations", "20", "--no-figure", "-o", "out"],
        "options": {
            "--chip": CHIPS,
            "--placement": ["anneal", "greedy", "row_major", "", "random"],
            "--noc": NOC,
            "--seed": SEED,
            "--iterations": ["0", "1", "2", "-1", "2000001", "10000000000", "1.5", "", "x"],
            "--rates": RATES,
            "--dt": BAD_FLOATS + ["1e-4", "1"],
            "--reset": ["zero", "subtract", "", "none"],
            "-o": ["out", "", "notes.txt", "notes.txt/out", LONG, "inputs", "prevmap", "inputs/net.npz", "new/out",
                   "/proc/hwsim-fuzz-out"],
            "--outdir": ["out", "", "notes.txt"],
        },
        "positional": NET_PATHS,
        "flags": ["--no-figure"],
        "outputs": ("-o", "--outdir"),
    },
    "train": {
        "base": ["train", "--limit", "20", "--epochs", "1", "--hidden", "4", "-T", "1", "--no-progress",
                 "--eval-train-limit", "5", "-o", "net.npz"],
        "options": {
            "--dataset": DATASETS,
            "--data-dir": DATA_DIRS,
            "--limit": ["1", "2", "10", "-1", "0", "x", ""],
            "--hidden": ["4", "4,4", "64,,64", "", ",", "0", "-4", "4.5", "x", "100000", "4097", "1" * 30, "4 4"],
            "--timesteps": ["1", "2", "0", "-1", "4097", "x", ""],
            "-T": ["1", "2", "0", "-1", "4097", ""],
            "--mode": ["discontinuous", "continuous", "", "other"],
            "--readout": ["membrane", "spike_count", "", "x"],
            "--encoding": ["rate", "threshold", "latency", "regular", "", "x"],
            "--chip": CHIPS,
            "--w-bits": ["1", "2", "8", "16", "17", "0", "-1", "x", ""],
            "--v-bits": ["3", "4", "12", "32", "33", "0", "-1", "x", ""],
            "--epochs": ["1", "2", "0", "-1", "100001", "10000000000", "1.5", "x", ""],
            "--seed": SEED,
            "--batch-size": ["1", "2", "0", "-1", "10000000000", "x", ""],
            "--lr": BAD_FLOATS + ["0.01"],
            "--lr-final": BAD_FLOATS + ["0.001"],
            "--loss": ["cross_entropy", "squared_hinge", "", "mse"],
            "--train-timesteps": ["1", "0", "-1", "4097", "x", ""],
            "--eval-train-limit": ["1", "0", "-1", "x", ""],
            "-o": ["net.npz", "sub/new.npz", "", "notes.txt/x.npz", "inputs", LONG + ".npz", "prev", ".", "net.txt",
                   "/proc/hwsim-fuzz.npz"],
            "--output": ["net.npz", "", "inputs"],
            "--load": NET_PATHS,
            "--sweep-timesteps": ["1,2", "1", "0", "-1", "1,,2", "", "x", "4097", "2,1"],
            "--augment": ["shift:1", "shift:2,flip", "flip", "shift:0", "shift:65", "shift", "rot:3", "", ",",
                          "flip,flip", "shift:x", "FLIP"],
            "--init": NET_PATHS,
            "--json": ["summary.json", "", "inputs", "notes.txt/x.json", LONG + ".json", "net.npz", "prev",
                       "/proc/hwsim-fuzz.json"],
        },
        "flags": ["--no-qat", "--no-progress"],
        "outputs": ("-o", "--output", "--json"),
    },
    "yield": {
        "base": ["yield", "--limit", "2", "-T", "1", "--instances", "1", "--train-instances", "3",
                 "--signature-images", "4", "--tuning-images", "8", "--sweep", "none", "--no-figures", "-q",
                 "-o", "out"],
        "options": {
            "--net": NET_PATHS,
            "--chip": CHIPS,
            "--instances": ["1", "2", "0", "-1", "100001", "1000000000", "1.5", "x", ""],
            "-n": ["1", "0", "-1", "x"],
            "--sigma": BAD_FLOATS + ["0", "0.2", "3", "3.01"],
            "--array-sigma": BAD_FLOATS + ["0", "0.2", "3.01"],
            "--spec": BAD_FLOATS + ["0", "0.5", "1", "1.01"],
            "--dataset": DATASETS,
            "--data-dir": DATA_DIRS,
            "--limit": LIMIT,
            "--timesteps": TIMESTEPS,
            "-T": ["1", "0", "-1", "4097"],
            "--seed": SEED,
            "--sweep": ["none", "", "0", "0,0.1", "0.1,0", "-0.1", "3.01", "nan", "inf", "x", "0,,1", ","],
            "--train-instances": ["3", "2", "0", "-1", "10001", "x", ""],
            "--signature-images": ["1", "4", "0", "-1", "10000000000", "x", ""],
            "--tuning-images": ["1", "8", "0", "-1", "10000000000", "x", ""],
            "--guard": BAD_FLOATS + ["0", "0.05"],
            "--sensitivity": ["sigma=0.1", "sigma=0.1,0.2;stuck=0.01", "", ";", "sigma", "sigma=", "x=1", "sigma=-1",
                              "sigma=nan", "stuck=2", "array_sigma=0.1;array_sigma=0.2", "sigma=0.1,,0.2"],
            "--sensitivity-instances": ["1", "0", "-1", "x", ""],
            "--factor-step": BAD_FLOATS + ["0.1", "1", "2"],
            "--oracle-rounds": ["1", "0", "-1", "x", ""],
            "--levels": ["2", "16", "1", "1026", "0", "x", ""],
            "--workers": ["1", "2", "0", "-1", "1025", "10000000000", "x", ""],
            "--scheduler": SCHEDULERS,
            "-o": FOLDER_OUTPUTS,
            "--outdir": ["out", "", "prevyield"],
        },
        "flags": ["--tune", "--compare", "--cap-g-on", "--json", "--no-figures", "-q", "--quiet"],
        "outputs": ("-o", "--outdir"),
    },
    "sweep": {
        "base": ["sweep", "--grid", "timesteps=1", "--limit", "2", "--no-figures", "-q", "-o", "out"],
        "options": {
            "--grid": ["timesteps=1", "timesteps=1,2", "lanes=8,16", "timesteps=1;encoding=latency",
                       "timesteps=1;exit=margin:2", "w_bits=4", "", ";", "x", "=1", "timesteps", "timesteps=",
                       "timesteps=0", "timesteps=4097", "timesteps=1.5", "timesteps=1,,2", "timesteps=1;timesteps=2",
                       "bogus=1", "lanes=0", "lanes=3", "mesh_rows=65", "clock_mhz=nan", "clock_mhz=inf",
                       "clock_mhz=-1", "encoding=poisson", "exit=margin:x", "exit=confidence:2", "exit=", "w_bits=1",
                       "v_bits=33", "TIMESTEPS=1", " timesteps = 1 ", "noc=mesh", "noc=ideal,mesh", "noc=torus",
                       "noc=", "router_buffer_flits=1", "router_buffer_flits=0", "router_buffer_flits=65",
                       "noc=mesh;router_buffer_flits=1,4", "noc=mesh;hop_latency_cycles=0"],
            "--net": NET_PATHS,
            "--chip": CHIPS,
            "--dataset": DATASETS,
            "--data-dir": DATA_DIRS,
            "--limit": LIMIT,
            "--seed": SEED,
            "--exit-scale": BAD_FLOATS + ["1"],
            "--noc": NOC,
            "--scheduler": SCHEDULERS,
            "--workers": ["1", "2", "0", "-1", "1025", "10000000000", "x", ""],
            "-o": FOLDER_OUTPUTS,
            "--outdir": ["out", "", "prev", "inputs"],
        },
        "flags": ["--resume", "--json", "--no-figures", "-q", "--quiet"],
        "outputs": ("-o", "--outdir"),
    },
}
JUNK_TOKENS = ["--bogus", "-", "--", "-x", "--limit=", "--=", "\u00e9", "", "--help", "-h", "run", "map", "--version",
               "--json=1", "-q=1"]


# ----------------------------------------------------------------------------- the sandbox's files


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@functools.cache
def _assets() -> Path:
    """A folder with the files every example starts from (built once per process)."""
    from hwsim.cli import main
    from hwsim.config import load_chip_config
    from hwsim.training import default_network_path, load_default_network
    from mapping import map_network, write_nir

    root = Path(tempfile.mkdtemp(prefix="hwsim-fuzz-assets-"))
    inputs = root / "inputs"
    inputs.mkdir()
    shutil.copy(default_network_path(), inputs / "net.npz")
    network = load_default_network()
    write_nir(network, inputs / "graph.nir")
    map_network(network, load_chip_config("default_28nm")).save(inputs / "program.npz")
    map_network(network, load_chip_config("rram")).save(inputs / "rram_program.npz")
    shutil.copy(PRESET_DIR / "default_28nm.toml", inputs / "chip.toml")
    shutil.copy(PRESET_DIR / "rram.toml", inputs / "rram.toml")
    (inputs / "empty.toml").write_bytes(b"")
    shutil.copy(PRESET_DIR.parent / "energy" / "tables" / "28nm.toml", inputs / "table.toml")
    rng = np.random.default_rng(0)
    np.save(inputs / "rates.npy", (rng.random((4, 64)) < 0.2).astype(np.uint8))
    np.save(inputs / "float.npy", rng.random((4, 64)))
    np.save(inputs / "bad_shape.npy", np.zeros((2, 3, 4, 5), np.uint8))
    np.save(inputs / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = inputs / "data"
    data.mkdir()
    for prefix, n in (("train", 20), ("t10k", 6)):
        (data / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(_idx(rng.integers(0, 256, size=(n, 8, 8), dtype=np.uint8)), mtime=0))
        (data / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx((np.arange(n) % 10).astype(np.uint8)))
    (root / "notes.txt").write_text("a plain file\n")
    for argv in (["run", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", str(root / "prev")],
                 ["yield", "--limit", "2", "-T", "1", "--instances", "1", "--sweep", "none", "--no-figures", "-q",
                  "-o", str(root / "prevyield")],
                 ["map", str(inputs / "net.npz"), "--rates", "uniform", "--iterations", "20", "--no-figure",
                  "-o", str(root / "prevmap")]):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0, argv
    return root


def _populate(sandbox: Sandbox) -> None:
    shutil.copytree(_assets(), sandbox.work, dirs_exist_ok=True)


# ----------------------------------------------------------------------------- argument vectors


def _set_option(argv: list[str], option: str, value: str) -> list[str]:
    argv = list(argv)
    if option in argv[1:]:
        k = argv.index(option, 1)
        if k + 1 < len(argv):
            argv[k + 1] = value
            return argv
    return argv + [option, value]


@st.composite
def argument_vectors(draw, command: str) -> list[str]:
    spec = COMMANDS[command]
    argv = list(spec["base"])
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        kind = draw(st.sampled_from(["option"] * 8 + ["positional", "drop", "flag", "junk", "equals"]))
        if kind == "option" or (kind == "positional" and "positional" not in spec):
            option = draw(st.sampled_from(sorted(spec["options"])))
            argv = _set_option(argv, option, draw(st.sampled_from(spec["options"][option])))
        elif kind == "positional":
            argv[1] = draw(st.sampled_from(spec["positional"]))
        elif kind == "drop":
            del argv[draw(st.integers(1, len(argv) - 1))]
        elif kind == "flag":
            argv.append(draw(st.sampled_from(spec["flags"])))
        elif kind == "equals":  # --option=value, the same option twice (argparse keeps the last)
            option = draw(st.sampled_from(sorted(o for o in spec["options"] if o.startswith("--"))))
            argv.append(f"{option}={draw(st.sampled_from(spec['options'][option]))}")
        else:
            argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(JUNK_TOKENS)))
    # never ask for work that legitimately takes long: keep the image count small
    has_limit = "--limit" in argv or any(a.startswith("--limit=") for a in argv)
    if command in ("run", "report", "yield", "sweep") and not has_limit:
        argv += ["--limit", "2"]
    return argv


def _paths_in(argv: list[str], spec: dict) -> tuple[list[str], list[str]]:
    """(outputs, inputs) named in ``argv``: values of the output options, and every other existing path."""
    outputs = []
    for k, token in enumerate(argv):
        for option in spec["outputs"]:
            if token == option and k + 1 < len(argv):
                outputs.append(argv[k + 1])
            elif token.startswith(option + "="):
                outputs.append(token.split("=", 1)[1])
    inputs = [t for t in argv[1:] if t and t not in outputs]
    return outputs, inputs


def _check(argv: list[str]) -> None:
    command = argv[0]
    spec = COMMANDS[command]
    with Sandbox() as sandbox:
        _populate(sandbox)
        sandbox.freeze()
        outputs, inputs = _paths_in(argv, spec)
        existing_inputs = [t for t in inputs if len(t) < 255 and (sandbox.work / t).exists()]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=outputs, inputs=existing_inputs)


# Each test catches, for its subcommand: an argument that is not validated (a traceback or another
# exit status), validated only after the work (files written, then exit 2), an input inside the
# output folder deleted when the folder is replaced (issue 12 §1), an output path that fails after
# writing, a message on more than one line, and any warning that reaches the user. The explicit
# examples are the classes issue 12 lists (and ones earlier fuzz runs found); they run every time.


def _with(command: str, *pairs: str) -> list[str]:
    """The command's baseline with ``option, value`` pairs set."""
    argv = list(COMMANDS[command]["base"])
    for option, value in zip(pairs[::2], pairs[1::2]):
        argv = _set_option(argv, option, value)
    return argv


@budget(quick=12, fuzz=300)
@example(argv=_with("run", "--seed", "-1"))
@example(argv=_with("run", "--timesteps", "-1"))
@example(argv=_with("run", "--table", "missing.toml"))
@example(argv=_with("run", "--net", ""))
@example(argv=_with("run", "--net", "inputs/program.npz"))
@example(argv=_with("run", "-o", "inputs"))
@example(argv=_with("run", "--net", "prev/program.npz", "-o", "prev"))
@example(argv=_with("run", "--chip", "rram", "--instance", "-1"))
@given(argv=argument_vectors("run"))
def test_run_arguments(argv):
    _check(argv)


@budget(quick=12, fuzz=300)
@example(argv=_with("report", "-o", "prev"))
@example(argv=["report", "prev/program.npz", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
               "-o", "prev"])
@example(argv=_with("report", "--sweep", "0,1"))
@given(argv=argument_vectors("report"))
def test_report_arguments(argv):
    _check(argv)


@budget(quick=12, fuzz=300)
@example(argv=_with("map", "--iterations", "-1"))
@example(argv=_with("map", "--iterations", "10000000000"))
@example(argv=_with("map", "--rates", "dataset:0"))
@example(argv=_with("map", "--rates", "inputs/obj.npy"))
@example(argv=_with("map", "-o", "inputs/net.npz"))
@example(argv=_with("map", "--seed", "-1"))
@given(argv=argument_vectors("map"))
def test_map_arguments(argv):
    _check(argv)


@budget(quick=12, fuzz=300)
@example(argv=_with("train", "--lr", "inf"))
@example(argv=_with("train", "--lr", "1e308"))
@example(argv=_with("train", "--v-bits", "4"))
@example(argv=_with("train", "--hidden", "64,,64"))
@example(argv=_with("train", "--hidden", ""))
@example(argv=_with("train", "--hidden", "100000"))
@example(argv=_with("train", "--epochs", "0"))
@example(argv=_with("train", "--json", "inputs"))
@example(argv=_with("train", "-o", "inputs"))
@example(argv=_with("train", "--seed", "-1"))
@given(argv=argument_vectors("train"))
def test_train_arguments(argv):
    _check(argv)


@budget(quick=8, fuzz=200)
@example(argv=_with("yield", "--instances", "1000000000"))
@example(argv=_with("yield", "--seed", "-1"))
@example(argv=_with("yield", "-o", "prev"))
@given(argv=argument_vectors("yield"))
def test_yield_arguments(argv):
    _check(argv)


@budget(quick=10, fuzz=200)
@example(argv=_with("sweep", "--grid", "timesteps=0"))
@example(argv=_with("sweep", "--grid", "bogus=1"))
@example(argv=_with("sweep", "--grid", ""))
@example(argv=_with("sweep", "--scheduler", "local:0"))
@example(argv=_with("sweep", "--scheduler", "local:2", "--workers", "2"))  # threads are for the default only
@example(argv=_with("sweep", "-o", "prev"))  # a report folder, not a sweep's
@example(argv=_with("sweep", "--net", "prev/program.npz"))
@given(argv=argument_vectors("sweep"))
def test_sweep_arguments(argv):
    _check(argv)


# Catches: a malformed --scheduler (or --workers with a Dask scheduler) on a command that has it, not refused
# up front with exit status 2 and one line naming the option, before anything is loaded or written.
@budget(quick=8, fuzz=120)
@example(argv=_with("run", "--scheduler", "tcp://host"))
@example(argv=_with("report", "--scheduler", "local:x"))
@example(argv=_with("yield", "--scheduler", "local:2", "--workers", "2"))
@example(argv=_with("sweep", "--scheduler", "tcp://host:70000"))
@given(argv=st.builds(lambda command, value: _with(command, "--scheduler", value),
                      st.sampled_from(["run", "report", "yield", "sweep"]),
                      st.sampled_from([v for v in SCHEDULERS if v.strip().lower() != "threads"])))
def test_malformed_scheduler_is_refused_up_front(argv):
    with Sandbox() as sandbox:
        _populate(sandbox)
        sandbox.freeze()
        outcome = run_cli(argv, sandbox.work)
        check_cli(outcome, sandbox, outputs=["out"])
    assert outcome.code == 2, outcome.describe()
    assert "--scheduler" in outcome.stderr or "--workers" in outcome.stderr, outcome.describe()


# Catches: the data-loss class of issue 12 §1 directly, on every command that replaces a folder:
# an input read from inside the output folder must survive (or the command must refuse).
@budget(quick=6, fuzz=60)
@given(argv=st.sampled_from([
    ["report", "prev/program.npz", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", "prev"],
    ["run", "--net", "prev/net.npz", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", "prev"],
    ["run", "--chip", "prev/chip.toml", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
     "-o", "prev"],
    ["run", "--table", "prev/table.toml", "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
     "-o", "prev"],
    ["yield", "--net", "prevyield/net.npz", "--limit", "2", "-T", "1", "--instances", "1", "--sweep", "none",
     "--no-figures", "-q", "-o", "prevyield"],
    ["map", "prevmap/net.npz", "--rates", "uniform", "--iterations", "20", "--no-figure", "-o", "prevmap"],
    ["map", "prevmap/program.npz", "--rates", "uniform", "--iterations", "20", "--no-figure", "-o", "prevmap"],
    ["run", "--dataset", "mnist", "--data-dir", "prev/data", "--net", "inputs/net.npz", "--limit", "2", "-T", "1",
     "--sweep", "none", "--no-figures", "-q", "-o", "prev"],
    ["train", "--load", "prev/program.npz", "--limit", "4", "-T", "1", "--no-progress", "--json", "prev"],
]))
def test_inputs_inside_the_output_folder_survive(argv):
    with Sandbox() as sandbox:
        _populate(sandbox)
        for folder in ("prev", "prevyield", "prevmap"):  # inputs placed inside earlier outputs
            shutil.copy(sandbox.work / "inputs/net.npz", sandbox.work / folder / "net.npz")
            shutil.copy(sandbox.work / "inputs/chip.toml", sandbox.work / folder / "chip.toml")
            shutil.copy(sandbox.work / "inputs/table.toml", sandbox.work / folder / "table.toml")
        shutil.copytree(sandbox.work / "inputs/data", sandbox.work / "prev/data")
        sandbox.freeze()
        outputs, inputs = _paths_in(argv, COMMANDS[argv[0]])
        existing = [t for t in inputs if (sandbox.work / t).exists()]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=outputs, inputs=existing)


# Catches: the top level (no command, an unknown one, --help, --version) exiting with another status
# or a traceback.
@budget(quick=10, fuzz=60)
@given(argv=st.lists(st.sampled_from(JUNK_TOKENS + ["run", "yield", "--help", "report", "--version", "x"]),
                     max_size=2))
def test_top_level_arguments(argv):
    if any(t in ("run", "yield", "report", "map", "train") for t in argv) and not any(
            t in ("--help", "-h", "--version") for t in argv):
        argv = [t for t in argv if t not in ("run", "yield", "report", "map", "train")]  # no full jobs here
    with Sandbox() as sandbox:
        sandbox.freeze()
        check_cli(run_cli(argv, sandbox.work), sandbox)


# ----------------------------------------------------------------------------- hwsim area (no synthesis)

# Values of `hwsim area`'s options each refused before Yosys runs, whatever the other options say (so no
# --max-cores that only a chip with fewer cores passes, and no chip refused only by the default --max-cores).
AREA_REFUSED = {
    "--chip": ["", "nonexistent", "inputs", "inputs/net.npz", "notes.txt", "small.toml", LONG, "inputs/empty.toml",
               "rram", "inputs/rram.toml", "inputs/table.toml", "inputs/chip.toml/x", "\u00e9"],
    "--table": ["", "nonexistent", "notes.txt", "inputs", "inputs/net.npz", "inputs/chip.toml", LONG + ".toml",
                "inputs/table.toml", "rram_28nm", "inputs/empty.toml", "missing.toml"],
    "-o": ["", "notes.txt", "notes.txt/out", LONG, "prev", "prevyield", "prevmap", "inputs", ".", "..",
           "/proc/hwsim-fuzz-out", "inputs/chip.toml"],
    "--outdir": ["", "notes.txt", "prev", "inputs"],
    "--max-cores": ["0", "-1", "-0", "4097", "10000000000", "1.5", "1e3", "inf", "nan", "", " ", "x", "0x10", "1,2",
                    "9" * 30],
}
AREA_BASE = ["area", "--no-figures", "-o", "out"]
AREA_FLAGS = ["--json", "--no-figures", "--no-cache"]
AREA_JUNK = [t for t in JUNK_TOKENS if t not in ("--help", "-h", "--version")]


@st.composite
def refused_area_vectors(draw) -> list[str]:
    """``hwsim area`` with one refused value, plus up to two mutations that cannot make it valid (other options
    set to refused or valid values, flags, junk tokens anywhere: the refused value stays the last of its
    option's)."""
    bad_option = draw(st.sampled_from(sorted(AREA_REFUSED)))
    others = sorted(o for o in AREA_REFUSED if o != bad_option and {o, bad_option} != {"-o", "--outdir"})
    valid = {"--chip": ["default_28nm", "small", "odin_28nm", "inputs/chip.toml"], "--table": ["28nm"],
             "-o": ["out", "new/deep/out"], "--outdir": ["out"], "--max-cores": []}
    argv = _set_option(AREA_BASE, bad_option, draw(st.sampled_from(AREA_REFUSED[bad_option])))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["option", "option", "flag", "junk"]))
        if kind == "option":
            option = draw(st.sampled_from(others))
            value = draw(st.sampled_from(AREA_REFUSED[option] + valid[option]))
            k = argv.index(bad_option)  # set before the refused option: argparse keeps the last of each
            argv = argv[:k] + [option, value] + argv[k:]
        elif kind == "flag":
            argv.append(draw(st.sampled_from(AREA_FLAGS)))
        else:
            argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(AREA_JUNK)))
    return argv


@contextlib.contextmanager
def _no_yosys():
    """PATH holds an empty folder only: should a command line get past the checks, the test fails at once (Yosys
    missing) instead of synthesising for minutes; the synthesis cache is an empty folder too. (Outside the
    sandbox, whose files the property watches.)"""
    with tempfile.TemporaryDirectory(prefix="hwsim-fuzz-no-bin-") as empty:
        with mock.patch.dict(os.environ, {"PATH": empty, "HWSIM_AREA_CACHE": os.path.join(empty, "cache")}):
            yield


# Catches: a malformed or unusable `hwsim area` argument that is not refused with exit status 2 and one line
# before synthesis (a traceback, a second line, files written, or Yosys looked for).
@budget(quick=12, fuzz=300)
@example(argv=_set_option(AREA_BASE, "--chip", "nonexistent"))
@example(argv=_set_option(AREA_BASE, "--chip", "inputs/empty.toml"))
@example(argv=_set_option(AREA_BASE, "--chip", "rram"))  # no RRAM crossbar core in rtl/
@example(argv=_set_option(AREA_BASE, "--chip", "mesh8x8_28nm"))  # 64 cores, more than the default --max-cores 16
@example(argv=_set_option(AREA_BASE, "--max-cores", "8"))  # default_28nm has 9 cores
@example(argv=_set_option(_set_option(AREA_BASE, "--chip", "small"), "--max-cores", "3"))  # small: 4 cores
@example(argv=_set_option(AREA_BASE, "--max-cores", "0"))
@example(argv=_set_option(AREA_BASE, "--max-cores", "4097"))
@example(argv=_set_option(AREA_BASE, "--max-cores", "x"))
@example(argv=_set_option(AREA_BASE, "--table", "nonexistent"))
@example(argv=_set_option(AREA_BASE, "--table", "inputs/table.toml"))  # an energy table, not an area table
@example(argv=_set_option(AREA_BASE, "--table", "rram_28nm"))
@example(argv=_set_option(AREA_BASE, "-o", "prev"))  # a report folder, not an area one
@example(argv=_set_option(AREA_BASE, "-o", "notes.txt"))
@example(argv=_set_option(AREA_BASE, "-o", ""))
@example(argv=_set_option(AREA_BASE, "-o", "inputs/chip.toml"))
@example(argv=["area", "--chip", "inputs/chip.toml", "--no-figures", "-o", "inputs"])  # the input's own folder
@given(argv=refused_area_vectors())
def test_area_arguments_refused_before_synthesis(argv):
    with Sandbox() as sandbox:
        _populate(sandbox)
        sandbox.freeze()
        outputs = [argv[k + 1] for k, t in enumerate(argv[:-1]) if t in ("-o", "--outdir")]
        inputs = [t for t in argv[1:] if t and t not in outputs and len(t) < 255 and (sandbox.work / t).exists()]
        with _no_yosys():
            outcome = run_cli(argv, sandbox.work)
        check_cli(outcome, sandbox, outputs=outputs, inputs=inputs)
    assert outcome.code == 2, outcome.describe()
    assert "synthesising" not in outcome.stderr and "yosys" not in outcome.stderr.lower(), outcome.describe()

"""Fuzz the IDX dataset reader and the commands that read MNIST-style folders (``--data-dir``).

Baseline: a tiny valid dataset (12 train and 6 test images of 4x4 pixels, labels 0..9), written as
the four IDX files the loader looks for, raw or gzip-compressed. One mutation per example: a
header field (magic, type byte, dimension count, a dimension: 0, huge), the data cut or extended,
a label out of range, a file missing, replaced by a folder, or by random bytes, a broken gzip stream.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_cases import Mutated, Sandbox, budget, check_cli, check_loader, run_cli
from hwsim.config import load_chip_config
from hwsim.datasets import load_dataset, read_idx
from hwsim.testing import random_network

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, written here from the format (not with the code under test)."""
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def baseline_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = {
        FILES[0]: rng.integers(0, 256, size=(12, 4, 4), dtype=np.uint8),
        FILES[1]: (np.arange(12) % 10).astype(np.uint8),
        FILES[2]: rng.integers(0, 256, size=(6, 4, 4), dtype=np.uint8),
        FILES[3]: (np.arange(6) % 10).astype(np.uint8),
    }
    return {k: idx_bytes(v) for k, v in arrays.items()}


BASELINE = baseline_files()


def _mutate_idx(draw, data: bytes) -> tuple[str, bytes]:
    dims = data[3]
    kind = draw(st.sampled_from(["magic", "type", "ndim", "dim", "dim", "cut", "extend", "label", "random", "empty"]))
    if kind == "magic":
        b = draw(st.sampled_from([b"\x00\x01", b"\xff\xff", b"PK"]))
        return f"magic starts {b!r}", b + data[2:]
    if kind == "type":  # 0x09 signed byte, 0x0B short, 0x0D float, 0x0E double
        t = draw(st.sampled_from([0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
        return f"type byte 0x{t:02x}", data[:2] + bytes([t]) + data[3:]
    if kind == "ndim":
        n = draw(st.sampled_from([0, 1, 2, 3, 4, 255]))
        return f"dimension count {n}", data[:3] + bytes([n]) + data[4:]
    if kind == "dim":
        k = draw(st.integers(0, dims - 1))
        value = draw(st.sampled_from([0, 1, 2, 3, 5, 28, 2**16, 2**31, 2**32 - 1]))
        return f"dimension {k} = {value}", data[:4 + 4 * k] + struct.pack(">I", value) + data[8 + 4 * k:]
    if kind == "cut":
        at = draw(st.integers(0, len(data) - 1))
        return f"cut at byte {at} of {len(data)}", data[:at]
    if kind == "extend":
        return "one byte too many", data + b"\x00"
    if kind == "label":
        value = draw(st.sampled_from([10, 255]))
        return f"last byte {value}", data[:-1] + bytes([value])
    if kind == "empty":
        return "zero-length", b""
    junk = draw(st.binary(max_size=64))
    return f"random bytes {junk!r}", junk


@st.composite
def idx_folders(draw) -> tuple[str, tuple[Mutated, ...]]:
    """(what was mutated, the files as Mutated(name, bytes)): one of the four mutated; gzip-compressed or not."""
    files = dict(BASELINE)
    target = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["content"] * 6 + ["missing", "folder", "bad_gzip", "zero_pixels"]))
    if kind == "content":
        what, files[target] = _mutate_idx(draw, files[target])
        what = f"{target}: {what}"
    elif kind == "zero_pixels":  # IDX images of 0x0 pixels, counts consistent (issue 12 §2)
        files[FILES[0]] = idx_bytes(np.zeros((12, 0, 0), np.uint8))
        files[FILES[2]] = idx_bytes(np.zeros((6, 0, 0), np.uint8))
        what = "images of 0x0 pixels"
    else:
        files[target] = {"missing": None, "folder": "folder", "bad_gzip": "bad_gzip"}[kind]
        what = f"{target}: {kind}"
    compress = draw(st.booleans())
    out = []
    for name, data in files.items():
        if data is None:
            continue
        if data == "folder":
            out.append(Mutated(name, b"<folder>"))
        elif data == "bad_gzip":
            out.append(Mutated(name + ".gz", gzip.compress(BASELINE[name])[:-9] + b"\x00" * 9))
        elif compress:
            out.append(Mutated(name + ".gz", gzip.compress(data, mtime=0)))
        else:
            out.append(Mutated(name, data))
    return what + (", gzip" if compress else ""), tuple(out)


def _write(sandbox: Sandbox, folder: tuple[Mutated, ...]) -> str:
    d = sandbox.work / "data"
    d.mkdir()
    for f in folder[1]:
        if f.data == b"<folder>":
            (d / f.what).mkdir()
        else:
            (d / f.what).write_bytes(f.data)
    return "data"


# Catches: read_idx or load_dataset letting struct.error, a reshape ValueError (0x0 images),
# ZeroDivisionError, gzip's BadGzipFile/EOFError, IsADirectoryError or MemoryError (a huge
# declared dimension) escape instead of a DatasetError naming the file.
ZERO_PIXELS = ("images of 0x0 pixels (issue 12 §2)", (
    Mutated(FILES[0], idx_bytes(np.zeros((12, 0, 0), np.uint8))), Mutated(FILES[1], BASELINE[FILES[1]]),
    Mutated(FILES[2], idx_bytes(np.zeros((6, 0, 0), np.uint8))), Mutated(FILES[3], BASELINE[FILES[3]])))


@budget(quick=60, fuzz=1200)
@example(folder=ZERO_PIXELS)
@given(folder=idx_folders())
def test_idx_dataset_loader_accepts_or_names_the_problem(folder):
    with Sandbox() as sandbox:
        d = sandbox.work / _write(sandbox, folder)
        check_loader(lambda: load_dataset("mnist", d), f"load_dataset of {folder[0]}")
        for f in folder[1]:
            ndim = 3 if "images" in f.what else 1
            check_loader(lambda f=f, ndim=ndim: read_idx(d / f.what, ndim=ndim), f"read_idx of {folder[0]}")


def test_baseline_reads_back():
    """The baseline files decode to what was written (the reader agrees with idx_bytes)."""
    with Sandbox() as sandbox:
        (folder := sandbox.work / "data").mkdir()
        for name, data in BASELINE.items():
            (folder / name).write_bytes(data)
        ds = load_dataset("mnist", folder)
        assert ds.x_train.shape == (12, 16) and ds.x_test.shape == (6, 16)
        np.testing.assert_array_equal(ds.y_train, np.arange(12) % 10)


# Catches: commands that read a dataset folder (train, run, report) turning a corrupt IDX file
# into a traceback, or writing their output before the dataset fails to load.
@budget(quick=8, fuzz=250)
@example(folder=ZERO_PIXELS, command="train")
@given(folder=idx_folders(), command=st.sampled_from(["train", "run"]))
def test_commands_reading_a_malformed_dataset_exit_0_or_2(folder, command):
    with Sandbox() as sandbox:
        d = _write(sandbox, folder)
        if command == "run":
            random_network(np.random.default_rng(0), [16, 4, 10], load_chip_config("default_28nm").core).save(
                sandbox.work / "net.npz")
        sandbox.freeze()
        if command == "train":
            argv = ["train", "--dataset", "mnist", "--data-dir", d, "--limit", "6", "--epochs", "1", "--hidden", "4",
                    "-T", "1", "--no-progress", "--eval-train-limit", "4", "-o", "net.npz"]
            outputs = ["net.npz"]
        else:  # a 16-input network: the baseline's 4x4 images run
            argv = ["run", "--dataset", "mnist", "--data-dir", d, "--net", "net.npz", "--limit", "2", "-T", "1",
                    "--sweep", "none", "--no-figures", "-q", "-o", "out"]
            outputs = ["out"]
        inputs = [d] + (["net.npz"] if command == "run" else [])
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=outputs, inputs=inputs)

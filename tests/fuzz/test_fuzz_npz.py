"""Fuzz the network and chip-program loaders and the commands that read them, with malformed ``.npz`` files.

Baselines are valid files (the bundled digits network; programs mapped from it onto a digital and
an RRAM chip); each example applies one mutation (see ``npz_mutations``). Loaders must return or
raise a one-line HwsimError; ``hwsim map``, ``run --net`` and ``report`` must exit 0 or 2 with one
line and leave no file behind when they fail.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_cases import Mutated, Sandbox, budget, check_cli, check_loader, run_cli
from hwsim.config import load_chip_config
from hwsim.network import Network
from hwsim.program import ChipProgram
from npz_mutations import mutated_npz


@functools.cache
def network_bytes() -> bytes:
    from hwsim.training import default_network_path

    return default_network_path().read_bytes()


@functools.cache
def program_bytes(chip: str) -> bytes:
    from hwsim.training import load_default_network
    from mapping import map_network

    program = map_network(load_default_network(), load_chip_config(chip))
    with tempfile.TemporaryDirectory() as tmp:
        return program.save(Path(tmp) / "program.npz").read_bytes()


def _place(sandbox: Sandbox, case: Mutated, name: str, path_kind: str) -> str:
    if path_kind == "folder":
        (sandbox.work / name).mkdir()
    elif path_kind == "file":
        (sandbox.work / name).write_bytes(case.data)
    return name  # "missing": nothing there


path_kinds = st.sampled_from(["file"] * 10 + ["folder", "missing"])


def _rebuilt(header_text: bytes | None = None, member: tuple[str, bytes] | None = None) -> bytes:
    """The bundled network file with its header text or one member replaced."""
    from npz_mutations import _npy, npz_bytes, unpack

    _, arrays = unpack(network_bytes())
    members = {k: _npy(v) for k, v in arrays.items()}
    if header_text is not None:
        members["header"] = _npy(np.frombuffer(header_text, np.uint8))
    if member is not None:
        members[member[0]] = member[1]
    return npz_bytes(members)


def _issue_cases() -> list[Mutated]:
    """The .npz classes issue 12 §2 lists, run every time."""
    from npz_mutations import _npy, unpack

    header, _ = unpack(network_bytes())
    return [
        Mutated("a JSON header nested 100,000 levels deep", _rebuilt(b"[" * 100_000 + b"]" * 100_000)),
        Mutated("weights_0 declares shape (10**12,)",
                _rebuilt(member=("weights_0", _npy(declared=(10**12,), dtype="<i4", payload=b"\0" * 64)))),
        Mutated("a zero-length file", b""),
        Mutated("metadata is a list", _rebuilt(json.dumps({**header, "metadata": [1, 2]}).encode())),
        Mutated("timesteps 2.5 in the metadata",
                _rebuilt(json.dumps({**header, "metadata": {**header["metadata"], "timesteps": 2.5}}).encode())),
    ]


def _explicit(test):
    for case in reversed(_issue_cases()):
        test = example(case=case, path_kind="file")(test)
    return test


@st.composite
def network_files(draw) -> Mutated:
    return draw(mutated_npz(network_bytes(), "bundled network"))


@st.composite
def program_files(draw) -> Mutated:
    chip = draw(st.sampled_from(["default_28nm", "default_28nm", "rram"]))
    return draw(mutated_npz(program_bytes(chip), f"program for {chip}"))


# Catches: Network.load letting RecursionError (deep JSON), MemoryError (a huge declared member
# shape), UnicodeDecodeError, TypeError/ValueError from wrong JSON types or member dtypes, or
# NumPy's pickle error (with its allow_pickle advice) escape; and a program file read as a network.
@budget(quick=60, fuzz=1200)
@_explicit
@given(case=st.one_of(network_files(), program_files()), path_kind=path_kinds)
def test_network_loader_accepts_or_names_the_problem(case, path_kind):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "net.npz", path_kind)
        check_loader(lambda: Network.load(sandbox.work / name), f"Network.load of {case!r}")


# Catches: the same classes in ChipProgram.load and its validation (a program whose registers,
# routes or chip section are of the wrong type or out of range).
@budget(quick=60, fuzz=1200)
@_explicit
@given(case=st.one_of(program_files(), network_files()), path_kind=path_kinds)
def test_program_loader_accepts_or_names_the_problem(case, path_kind):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "program.npz", path_kind)
        check_loader(lambda: ChipProgram.load(sandbox.work / name), f"ChipProgram.load of {case!r}")


def _cli_budget():
    return budget(quick=10, fuzz=250)


# Catches: a network file that loads but breaks mapping or simulation later (e.g. non-integer
# timesteps, an output width that does not match the dataset) as a traceback, and a failed run
# leaving its output folder.
@_cli_budget()
@given(case=network_files(), path_kind=path_kinds, command=st.sampled_from(["run", "map", "train"]))
def test_commands_reading_a_malformed_network_exit_0_or_2(case, path_kind, command):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "net.npz", path_kind)
        sandbox.freeze()
        if command == "run":
            argv = ["run", "--net", name, "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
                    "-o", "out"]
        elif command == "map":
            argv = ["map", name, "--rates", "uniform", "--iterations", "5", "--no-figure", "-o", "out"]
        else:
            argv = ["train", "--load", name, "--limit", "4", "-T", "1", "--no-progress"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[name])


# Catches: a program that loads but fails in the engine, the RRAM model or the energy report
# (e.g. registers at the edge of their range) with a traceback.
@_cli_budget()
@given(case=program_files(), path_kind=path_kinds)
def test_report_on_a_malformed_program_exits_0_or_2(case, path_kind):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "program.npz", path_kind)
        sandbox.freeze()
        argv = ["report", name, "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", "out"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[name])


def test_baselines_are_valid():
    """The mutations start from files every loader accepts (else the fuzz would only test one error)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "net.npz").write_bytes(network_bytes())
        assert Network.load(Path(tmp) / "net.npz").sizes == [64, 64, 10]
        for chip in ("default_28nm", "rram"):
            (Path(tmp) / "program.npz").write_bytes(program_bytes(chip))
            assert ChipProgram.load(Path(tmp) / "program.npz").n_inputs == 64


@st.composite
def rates_files(draw) -> Mutated:
    """A ``--rates`` spike raster (.npy) for the 64-input bundled network: valid, or malformed in one way."""
    from npz_mutations import _npy

    rng = np.random.default_rng(draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(["valid_2d", "valid_3d", "float", "bool", "int_2", "negative", "nan", "object",
                                 "huge", "wrong_inputs", "4d", "empty", "scalar", "truncated", "random", "zero",
                                 "npz", "fortran", "big_endian"]))
    raster = (rng.random((4, 64)) < 0.3).astype(np.uint8)
    if kind == "valid_2d":
        return Mutated("a valid (T, 64) raster", _npy(raster))
    if kind == "valid_3d":
        return Mutated("a valid (B, T, 64) raster", _npy(raster.reshape(2, 2, 64)))
    if kind == "float":
        return Mutated("float spike probabilities", _npy(rng.random((4, 64))))
    if kind == "bool":
        return Mutated("a bool raster", _npy(raster.astype(bool)))
    if kind == "int_2":
        return Mutated("an int64 raster holding 2", _npy(raster.astype(np.int64) * 2))
    if kind == "negative":
        return Mutated("an int8 raster holding -1", _npy(-raster.astype(np.int8)))
    if kind == "nan":
        return Mutated("a float raster holding NaN", _npy(np.full((4, 64), np.nan)))
    if kind == "object":
        return Mutated("an object array (pickled)", _npy(np.array([{"a": 1}], dtype=object), pickled=True))
    if kind == "huge":
        shape = draw(st.sampled_from([(10**12, 64), (2**31, 2**31, 64), (1 << 40,)]))
        return Mutated(f"declared shape {shape}, a few bytes of data", _npy(declared=shape, dtype="|u1",
                                                                              payload=b"\x00" * 64))
    if kind == "wrong_inputs":
        return Mutated("a (T, 63) raster", _npy(raster[:, :63].copy()))
    if kind == "4d":
        return Mutated("a 4-D raster", _npy(raster.reshape(1, 2, 2, 64)))
    if kind == "empty":
        return Mutated("a (0, 64) raster", _npy(raster[:0]))
    if kind == "scalar":
        return Mutated("a scalar", _npy(np.array(1, np.uint8)))
    if kind == "truncated":
        full = _npy(raster)
        at = draw(st.integers(0, len(full) - 1))
        return Mutated(f"a raster cut at byte {at} of {len(full)}", full[:at])
    if kind == "random":
        data = draw(st.binary(max_size=200))
        return Mutated(f"random bytes {data[:40]!r}", data)
    if kind == "zero":
        return Mutated("zero-length", b"")
    if kind == "fortran":
        return Mutated("a Fortran-order raster", _npy(np.asfortranarray(raster)))
    if kind == "big_endian":
        return Mutated("a big-endian uint16 raster", _npy(raster.astype(">u2")))
    return Mutated("an .npz archive named .npy", network_bytes())


# Catches: `hwsim map --rates FILE.npy` loading a raster it should refuse (pickled objects, a huge declared
# shape, values other than 0/1, the wrong input count) as a traceback, a MemoryError or NumPy's pickle advice.
@budget(quick=10, fuzz=250)
@given(case=rates_files(), path_kind=path_kinds)
def test_map_with_a_malformed_rates_raster_exits_0_or_2(case, path_kind):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "rates.npy", path_kind)
        (sandbox.work / "net.npz").write_bytes(network_bytes())
        sandbox.freeze()
        argv = ["map", "net.npz", "--rates", name, "--iterations", "5", "--no-figure", "-o", "out"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[name, "net.npz"])

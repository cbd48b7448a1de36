"""Fuzz the network and chip-program loaders and the commands that read them, with malformed ``.npz`` files.

Baselines are valid files (the bundled digits network; programs mapped from it onto a digital and
an RRAM chip); each example applies one mutation (see ``npz_mutations``). Loaders must return or
raise a one-line HwsimError; ``hwsim map``, ``run --net`` and ``report`` must exit 0 or 2 with one
line and leave no file behind when they fail.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hypothesis import given
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
@given(case=st.one_of(network_files(), program_files()), path_kind=path_kinds)
def test_network_loader_accepts_or_names_the_problem(case, path_kind):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, "net.npz", path_kind)
        check_loader(lambda: Network.load(sandbox.work / name), f"Network.load of {case!r}")


# Catches: the same classes in ChipProgram.load and its validation (a program whose registers,
# routes or chip section are of the wrong type or out of range).
@budget(quick=60, fuzz=1200)
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

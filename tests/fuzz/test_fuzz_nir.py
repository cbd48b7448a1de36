"""Fuzz the NIR reader (``mapping.load_network`` on ``.nir`` HDF5 files) and ``hwsim map`` / ``run --net``.

Baselines: the bundled digits network exported with ``write_nir``, and a convolutional graph
(Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> LIF on 8x8 images). One mutation per example,
made with h5py on the written file: a dataset replaced by a value of the wrong type, rank or size
(strings where numbers are, one-dimensional ``edges``, zero strides and kernels, NaN, a weight
declared 200000 x 200000 without data), an item deleted, a group turned into a dataset and back,
groups nested 2,000 deep, or the file's bytes damaged.
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import h5py
import nir
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_cases import Mutated, Sandbox, budget, check_cli, check_loader, run_cli
from hwsim.config import load_chip_config

DT = 1e-4


def _conv_graph() -> nir.NIRGraph:
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d(input_shape=np.array([8, 8]), weight=rng.integers(-3, 4, size=(2, 1, 3, 3)).astype(float),
                           stride=1, padding=1, dilation=1, groups=1, bias=np.array([0.5, -0.5])),
        "if1": nir.IF(r=np.full((2, 8, 8), 1 / DT), v_threshold=np.full((2, 8, 8), 1.0)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.integers(-2, 3, size=(10, 32)).astype(float), bias=np.zeros(10)),
        "lif": nir.LIF(tau=np.full(10, DT), r=np.ones(10), v_leak=np.zeros(10), v_threshold=np.full(10, 0.5)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    seq = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(seq[:-1], seq[1:])), metadata={"dt": DT}, type_check=False)


@functools.cache
def baseline(name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.nir"
        if name == "digits":
            from hwsim.training import load_default_network
            from mapping import write_nir

            write_nir(load_default_network(), path)
        else:
            nir.write(path, _conv_graph())
        return path.read_bytes()


@functools.cache
def items(name: str) -> tuple[tuple[str, str], ...]:
    """(path, "group" | "dataset") of every item in a baseline file."""
    found = []
    with h5py.File(io.BytesIO(baseline(name)), "r") as fh:
        fh.visititems(lambda p, o: found.append((p, "group" if isinstance(o, h5py.Group) else "dataset")))
    return tuple(found)


VALUES = {
    "string": b"abc",
    "empty string": b"",
    "unicode string": "\u00e9\u4e2d",
    "zero": 0.0,
    "minus one": -1,
    "nan": np.nan,
    "inf": np.inf,
    "huge": 1e300,
    "bool": True,
    "int 2**62": 2**62,
    "empty array": np.zeros(0),
    "1-D edges": np.array([b"input", b"output"]),
    "strings array": np.array([b"a", b"b", b"c"]),
    "2x2 zeros": np.zeros((2, 2)),
    "3-D": np.ones((2, 2, 2)),
    "int array": np.arange(5),
    "complex": np.array([1 + 2j]),
    "negative shape": np.array([-1, 8, 8]),
    "zeros 4": np.zeros(4, np.int64),
}


@st.composite
def nir_files(draw) -> Mutated:
    name = draw(st.sampled_from(["digits", "conv", "conv"]))
    data = baseline(name)
    kind = draw(st.sampled_from(["replace"] * 6 + ["delete", "swap_kind", "huge", "deep", "unknown_node", "bytes"]))
    if kind == "bytes":
        how = draw(st.sampled_from(["empty", "truncate", "flip", "random", "npz"]))
        if how == "empty":
            return Mutated("zero-length .nir file", b"")
        if how == "truncate":
            at = draw(st.integers(0, len(data) - 1))
            return Mutated(f"{name} graph cut at byte {at} of {len(data)}", data[:at])
        if how == "flip":
            at, x = draw(st.integers(0, len(data) - 1)), draw(st.integers(1, 255))
            return Mutated(f"{name} graph, byte {at} xor {x}", data[:at] + bytes([data[at] ^ x]) + data[at + 1:])
        if how == "random":
            return Mutated("random bytes", draw(st.binary(max_size=512)))
        from hwsim.training import default_network_path

        return Mutated("an .npz network named .nir", default_network_path().read_bytes())
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as fh:
        paths = items(name)
        path, what = draw(st.sampled_from(paths))
        if kind == "replace":
            label = draw(st.sampled_from(sorted(VALUES)))
            del fh[path]
            fh.create_dataset(path, data=VALUES[label])
            desc = f"{path} = {label}"
        elif kind == "delete":
            del fh[path]
            desc = f"{path} deleted"
        elif kind == "swap_kind":
            del fh[path]
            if what == "group":
                fh.create_dataset(path, data=np.zeros(3))
                desc = f"{path} is a dataset instead of a group"
            else:
                fh.create_group(path)
                desc = f"{path} is an empty group instead of a dataset"
        elif kind == "huge":  # declared, never written: the file stays small
            weights = [p for p, w in paths if p.endswith(("/weight", "/bias", "/tau", "/v_threshold", "/shape"))]
            target = draw(st.sampled_from(weights))
            shape = draw(st.sampled_from([(200_000, 200_000), (10**12,), (2**20, 2**20, 4)]))
            del fh[target]
            fh.create_dataset(target, shape=shape, dtype="f8", chunks=tuple(min(s, 64) for s in shape))
            desc = f"{target} declared with shape {shape}"
        elif kind == "deep":
            depth = draw(st.sampled_from([50, 500, 2000]))
            where = draw(st.sampled_from(["node/nodes/deep", "node/metadata/deep", "node/nodes/fc/metadata/deep"
                                          if name == "conv" else "node/nodes/hidden0/metadata/deep"]))
            g = fh.require_group(where.rsplit("/", 1)[0])
            g = g.create_group("deep")
            for _ in range(depth):
                g = g.create_group("g")
            g.create_dataset("type", data=b"Affine")
            desc = f"groups nested {depth} deep under {where}"
        else:
            node = fh["node/nodes"].create_group("extra")
            node.create_dataset("type", data=draw(st.sampled_from([b"Affine", b"Unknown", b"", b"NIRGraph"])))
            desc = "an unconnected extra node"
    return Mutated(f"{name} graph, {desc}", buf.getvalue())


def edited(name: str, desc: str, edit) -> Mutated:
    """A baseline graph with ``edit(h5py_file)`` applied: the explicit examples below."""
    buf = io.BytesIO(baseline(name))
    with h5py.File(buf, "r+") as fh:
        edit(fh)
    return Mutated(f"{name} graph, {desc}", buf.getvalue())


def _replace(path: str, value):
    def edit(fh):
        del fh[path]
        fh.create_dataset(path, data=value)

    return edit


def _declare(path: str, shape: tuple[int, ...]):
    def edit(fh):
        del fh[path]
        fh.create_dataset(path, shape=shape, dtype="f8", chunks=tuple(min(s, 64) for s in shape))

    return edit


def _nest(depth: int):
    def edit(fh):
        g = fh["node/nodes"].create_group("deep")
        for _ in range(depth):
            g = g.create_group("g")

    return edit


# The NIR classes issue 12 §2 lists, run every time (the generator finds them only sometimes).
ISSUE_CASES = [
    ("digits", "node/edges = 1-D", _replace("node/edges", np.array([b"input", b"hidden0"]))),
    ("digits", "hidden0 bias of 4 for 64 outputs", _replace("node/nodes/hidden0/bias", np.zeros(4))),
    ("digits", "metadata dt = 'fast'", _replace("node/metadata/dt", b"fast")),
    ("digits", "hwsim_threshold = 'x'", _replace("node/nodes/output_1/metadata/hwsim_threshold", b"x")),
    ("digits", "hwsim_threshold = [1, 2]", _replace("node/nodes/output_1/metadata/hwsim_threshold",
                                                    np.array([1, 2]))),
    ("conv", "Conv2d stride 0", _replace("node/nodes/conv/stride", 0)),
    ("conv", "SumPool2d kernel 0", _replace("node/nodes/pool/kernel_size", np.array([0, 0]))),
    ("digits", "nodes is a dataset", _replace("node/nodes", np.zeros(3))),
    ("digits", "groups nested 2000 deep", _nest(2000)),
    ("digits", "weight declared 200000 x 200000", _declare("node/nodes/hidden0/weight", (200_000, 200_000))),
]


def _explicit(examples):
    """Decorate a test with one Hypothesis ``example`` per issue case (built lazily, at decoration)."""
    def wrap(test):
        for name, desc, edit in reversed(examples):
            test = example(case=edited(name, desc, edit), path_kind="file")(test)
        return test

    return wrap


@functools.cache
def _default_chip():
    return load_chip_config("default_28nm")


def _place(sandbox: Sandbox, case: Mutated, path_kind: str) -> str:
    name = "graph.nir"
    if path_kind == "folder":
        (sandbox.work / name).mkdir()
    elif path_kind == "file":
        (sandbox.work / name).write_bytes(case.data)
    return name


path_kinds = st.sampled_from(["file"] * 10 + ["folder", "missing"])


# Catches: the NIR reader letting KeyError, TypeError, ValueError, IndexError, RecursionError
# (deep groups), MemoryError (a huge declared weight), h5py's OSError or nir's own exceptions
# escape instead of a one-line MappingError naming the node and the field.
@budget(quick=60, fuzz=1000)
@_explicit(ISSUE_CASES)
@given(case=nir_files(), path_kind=path_kinds)
def test_nir_loader_accepts_or_names_the_problem(case, path_kind):
    from mapping import load_network

    with Sandbox() as sandbox:
        name = _place(sandbox, case, path_kind)
        check_loader(lambda: load_network(sandbox.work / name, _default_chip()), f"load_network of {case!r}")


# Catches: a graph the reader accepts that then breaks mapping, simulation or the report, and a
# failed command that leaves files behind.
@budget(quick=10, fuzz=250)
@given(case=nir_files(), path_kind=path_kinds, command=st.sampled_from(["map", "run"]))
def test_commands_reading_a_malformed_graph_exit_0_or_2(case, path_kind, command):
    with Sandbox() as sandbox:
        name = _place(sandbox, case, path_kind)
        sandbox.freeze()
        if command == "map":
            argv = ["map", name, "--rates", "uniform", "--iterations", "5", "--no-figure", "-o", "out"]
        else:
            argv = ["run", "--net", name, "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q",
                    "-o", "out"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[name])


def test_baselines_load():
    """Both baselines are valid 64-input graphs, so a mutation is the only thing wrong with an example."""
    from mapping import load_network

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("digits", "conv"):
            path = Path(tmp) / f"{name}.nir"
            path.write_bytes(baseline(name))
            assert load_network(path, _default_chip()).n_inputs == 64

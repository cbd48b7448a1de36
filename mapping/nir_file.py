"""NIR graphs as data: reading ``.nir`` (HDF5) files safely, and checking a graph's structure.

:func:`read_nir_dict` reads a file into the dictionary form of ``NIRGraph.to_dict()`` with ``h5py``,
without the ``nir`` package's node constructors. It walks the groups without recursion, refuses
links (a soft or external link could point anywhere, or loop), checks every dataset's declared shape
and type against :data:`~hwsim.limits.MAX_ARRAY_ELEMENTS` and :data:`~hwsim.limits.MAX_FILE_ARRAY_BYTES`
before reading it, and decodes strings as UTF-8. :func:`check_graph_data` checks the shape of the
graph itself (nodes, edges, metadata) for files and in-memory graphs alike. Both raise
:class:`~mapping.errors.MappingError` naming the entry, the value and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.limits import MAX_ARRAY_ELEMENTS, MAX_FILE_ARRAY_BYTES, MAX_NESTING_DEPTH
from hwsim.readers import check_regular_file, shorten
from mapping.errors import MappingError

__all__ = ["read_nir_dict", "check_graph_data", "plain", "CARRIED_METADATA"]

# Network metadata that the export carries in the graph metadata (as "hwsim_<key>") and the import
# restores: what `hwsim map --rates auto`, `hwsim train --load` and the soft rule v_bits_match_network read.
CARRIED_METADATA = ("dataset", "classes", "image_shape", "timesteps", "encoding", "encoding_seed", "w_bits", "v_bits")

# Dataset kinds read as numbers (bool, int, uint, float) or text (fixed bytes, h5py variable-length strings).
_NUMBER_KINDS = "biuf"


def plain(value: Any) -> Any:
    """A metadata value as plain Python (h5py returns bytes, NumPy scalars and arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray):
        return plain(value.tolist()) if value.ndim else plain(value.item())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(
            f"{where}: byte {exc.start} (0x{raw[exc.start]:02x}) is not UTF-8; expected UTF-8 text"
        ) from None


def _dataset_value(item: Any, where: str, budget: list[int]) -> Any:
    """The value of one HDF5 dataset, after checking its declared type and size."""
    import h5py

    shape = item.shape
    if shape is None:  # an HDF5 "null" dataspace holds no value
        raise MappingError(f"{where}: an empty (null) dataset; expected numbers or text")
    string_info = h5py.check_string_dtype(item.dtype)
    if string_info is None and item.dtype.kind not in _NUMBER_KINDS:
        raise MappingError(f"{where}: dataset of type {item.dtype}; allowed numbers or text")
    count = math.prod(shape)
    if count > MAX_ARRAY_ELEMENTS:
        raise MappingError(
            f"{where}: dataset declares shape {tuple(shape)}; allowed at most {MAX_ARRAY_ELEMENTS} elements"
        )
    budget[0] += count * item.dtype.itemsize
    if budget[0] > MAX_FILE_ARRAY_BYTES:
        raise MappingError(
            f"{where}: the datasets up to this one declare {budget[0]} bytes; allowed at most "
            f"{MAX_FILE_ARRAY_BYTES} bytes per file"
        )
    value = item[()]
    if string_info is None:
        return value
    if isinstance(value, bytes):
        return _decode(value, where)
    if isinstance(value, np.ndarray):  # an array of strings: decode each
        flat = [_decode(v, where) if isinstance(v, bytes) else v for v in value.ravel().tolist()]
        return np.array(flat, dtype=object).reshape(value.shape)
    return value


def read_nir_dict(path: str | Path) -> dict:
    """Read a ``.nir`` (HDF5) file into the dictionary form of ``NIRGraph.to_dict()``.

    Raises:
        MappingError: the file is missing, a folder, not HDF5, not a NIR file, nested deeper than
            :data:`~hwsim.limits.MAX_NESTING_DEPTH` groups, holds a link, a dataset of another type
            than numbers or text, or more data than the limits allow.
    """
    import h5py  # optional heavy import, only for .nir files

    path = Path(path)
    size = check_regular_file(path, "NIR file", MappingError)
    if size == 0:
        raise MappingError(f"{path}: not a NIR (HDF5) file: the file is empty (0 bytes)")
    budget = [0]
    try:
        with h5py.File(path, "r") as fh:
            root = fh.get("node", getlink=True)
            if root is None:
                raise MappingError(f"{path}: not a NIR file (no 'node' group)")
            if not isinstance(root, h5py.HardLink) or not isinstance(fh["node"], h5py.Group):
                raise MappingError(f"{path}: 'node' is not a group; expected the NIR graph group")
            data: dict = {}
            stack = [(fh["node"], data, "node", 1)]
            while stack:
                group, out, name, depth = stack.pop()
                if depth > MAX_NESTING_DEPTH:
                    raise MappingError(
                        f"{path}: group {name!r} is nested {depth} levels deep; allowed at most {MAX_NESTING_DEPTH}"
                    )
                for key in group:
                    where = f"{path}: {name}/{key}"
                    link = group.get(key, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        raise MappingError(f"{where} is a {type(link).__name__}; allowed only groups and datasets")
                    item = group[key]
                    if isinstance(item, h5py.Group):
                        out[key] = {}
                        stack.append((item, out[key], f"{name}/{key}", depth + 1))
                    elif isinstance(item, h5py.Dataset):
                        out[key] = _dataset_value(item, where, budget)
                    else:
                        raise MappingError(f"{where} is a {type(item).__name__}; allowed only groups and datasets")
    except (OSError, RuntimeError) as exc:  # h5py raises RuntimeError for damaged metadata inside the file
        raise MappingError(f"{path}: not a NIR (HDF5) file, or a damaged one ({exc})") from None
    check_graph_data(data)
    return data


def _check_string(value: Any, where: str) -> None:
    """A name in a graph: a str, or UTF-8 bytes as h5py returns them."""
    if isinstance(value, bytes):
        _decode(value, where)
    elif not isinstance(value, str):
        raise MappingError(f"{where} = {shorten(value)}; expected a string")


def check_graph_data(data: Any) -> None:
    """Check the structure of a graph in ``to_dict()`` form before anything reads it.

    ``nodes`` must be a table of node tables, each with a string ``type``; ``edges`` a list of
    ``(source, destination)`` name pairs; ``metadata`` (optional) a table whose ``dt``, when given,
    is one positive finite number of seconds.

    Raises:
        MappingError: naming the entry, the value and what is allowed.
    """
    if not isinstance(data, dict) or "nodes" not in data or "edges" not in data:
        raise MappingError("NIR graph without 'nodes' and 'edges'")
    nodes = data["nodes"]
    if not isinstance(nodes, dict):
        raise MappingError(
            f"NIR graph: nodes = {shorten(nodes)}; expected a group (table) of nodes, one per node name"
        )
    for key, node in nodes.items():
        if not isinstance(node, dict) or "type" not in node:
            raise MappingError(f"NIR node {key!r}: no 'type' entry; expected a node group with a 'type' string")
        _check_string(node["type"], f"NIR node {key!r}: type")
        meta = node.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise MappingError(f"NIR node {key!r}: metadata = {shorten(meta)}; expected a group (table)")
    edges = data["edges"]
    arr = np.asarray(edges, dtype=object) if not isinstance(edges, np.ndarray) else edges
    if arr.size and (arr.ndim != 2 or arr.shape[1] != 2):
        raise MappingError(
            f"NIR graph: edges of shape {arr.shape}; expected an (n, 2) list of (source, destination) node names"
        )
    for k, pair in enumerate(arr if arr.size else ()):
        for end in pair:
            _check_string(end, f"NIR graph: edge {k}")
    metadata = data.get("metadata")
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise MappingError(f"NIR graph: metadata = {shorten(metadata)}; expected a group (table)")
    if "name" in metadata:
        _check_string(metadata["name"], "NIR graph metadata name")
    if "dt" in metadata:
        dt = metadata["dt"]
        value = np.asarray(dt)
        if value.size != 1 or value.dtype.kind not in "iuf":
            raise MappingError(f"NIR graph metadata dt = {shorten(plain(dt))}; expected one number of seconds > 0")

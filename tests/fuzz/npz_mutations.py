"""Malformed ``.npz`` files (hwsim network and chip-program files) for the fuzz suite.

A valid file is unpacked into its JSON header and its members, one mutation is applied, and the
archive is rebuilt by hand (``zipfile`` + the ``.npy`` header writer), so members can declare shapes
their data does not have, hold pickled objects, or be truncated, which ``np.savez`` cannot make.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
from hypothesis import strategies as st

from fuzz_cases import Mutated

__all__ = ["unpack", "npz_bytes", "mutated_npz"]


def unpack(data: bytes) -> tuple[Any, dict[str, np.ndarray]]:
    """(header object, {member: array}) of a valid hwsim ``.npz`` file."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(bytes(arrays["header"]).decode()), arrays


def _npy(array: np.ndarray | None = None, *, declared: tuple[int, ...] | None = None, dtype: str = "<i4",
         payload: bytes | None = None, pickled: bool = False) -> bytes:
    """The bytes of one ``.npy`` member: ``array``, or a header declaring ``declared``/``dtype`` with ``payload``."""
    buf = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(buf, array, allow_pickle=pickled)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": declared})
    return buf.getvalue() + (payload or b"")


def npz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)
    return buf.getvalue()


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (a tuple of keys/indices) into a JSON tree, the root included."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:12]):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    if not path:
        return value
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


JSON_VALUES = [None, True, False, 0, 1, -1, 2, 2.5, 1e-300, 1e300, float("inf"), float("-inf"), float("nan"),
               2**31, 2**63, 2**64 + 1, -(2**63) - 1, 10**30, "", "x", "rate", "membrane", "subtract", "zero",
               "continuous", "digits", "rram", "0", "1.5", "a" * 1000, [], [0], [1, 2], [[1]], {}, {"a": 1},
               {"format": "hwsim-network"}]
json_value = st.one_of(st.sampled_from(JSON_VALUES), st.integers(-(2**40), 2**40), st.text(max_size=10),
                       st.lists(st.integers(-5, 70), max_size=4))

DTYPES = ["<f8", "<f4", "|b1", "<i8", "|u1", "<u8", "<i2", "<c16", "<U3", "|V4", "<M8[s]", ">i4"]


@st.composite
def _mutate_header(draw, header: Any) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "add", "deep", "text"]))
    if kind == "deep":  # json.loads recurses once per level
        depth = draw(st.sampled_from([50, 1000, 5000, 100_000]))
        inner = draw(st.sampled_from(["list", "dict"]))
        text = "[" * depth + "]" * depth if inner == "list" else '{"a":' * depth + "1" + "}" * depth
        where = draw(st.sampled_from(["root", "metadata"]))
        what = f"header: {inner} nested {depth} deep at the {where}"
        if where == "root":
            return what, text.encode()
        return what, json.dumps({**header, "metadata": "@@"}).replace('"@@"', text).encode()
    if kind == "text":
        raw = json.dumps(header).encode()
        choice = draw(st.sampled_from(["truncate", "non_utf8", "empty", "bom", "trailing"]))
        if choice == "truncate":
            at = draw(st.integers(0, len(raw) - 1))
            return f"header JSON cut at byte {at}", raw[:at]
        if choice == "non_utf8":
            at = draw(st.integers(0, len(raw)))
            return f"header with bytes ff fe inserted at {at}", raw[:at] + b"\xff\xfe" + raw[at:]
        if choice == "empty":
            return "empty header", b""
        if choice == "bom":
            return "header with a UTF-8 BOM", b"\xef\xbb\xbf" + raw
        return "header JSON followed by garbage", raw + b" garbage"
    header = json.loads(json.dumps(header))
    paths = _paths(header)
    path = draw(st.sampled_from(paths))
    where = "/".join(map(str, path)) or "(root)"
    if kind == "value":
        value = draw(json_value)
        header = _set(header, path, value)
        what = f"header {where} = {json.dumps(value)[:60]}"
    elif kind == "delete" and path:
        header = _set(header, path, None, delete=True)
        what = f"header {where} deleted"
    elif kind == "add":
        parents = [p for p in paths if isinstance(_get(header, p), dict)]
        parent = draw(st.sampled_from(parents))
        key, value = draw(st.sampled_from(["extra", "n_in", "label", "name", "threshold", "layers"])), draw(json_value)
        _get(header, parent)[key] = value
        what = f"header {'/'.join(map(str, parent)) or '(root)'} gets {key} = {json.dumps(value)[:60]}"
    else:
        what = "header unchanged"
    return what, json.dumps(header).encode()


def _get(obj: Any, path: tuple) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@st.composite
def _mutate_member(draw, members: dict[str, np.ndarray]) -> tuple[str, dict[str, bytes]]:
    out = {k: _npy(v) for k, v in members.items()}
    names = [k for k in members if k != "header"]
    name = draw(st.sampled_from(names + ["header"]))
    a = members[name]
    kind = draw(st.sampled_from(["drop", "rename", "dtype", "shape", "huge", "truncated", "pickled", "extra",
                                 "values"]))
    what = f"member {name}: {kind}"
    if kind == "drop":
        del out[name]
    elif kind == "rename":
        new = draw(st.sampled_from(["weights_9", "bias_9", "weights", "Header", "weights_0/x"]))
        out[new] = out.pop(name)
        what += f" to {new}"
    elif kind == "dtype":
        dtype = draw(st.sampled_from(DTYPES))
        what += f" {dtype}"
        try:
            converted = a.astype(dtype)
        except (TypeError, ValueError):
            converted = np.zeros(a.shape, dtype)
        out[name] = _npy(converted)
    elif kind == "shape":
        choice = draw(st.sampled_from(["transpose", "flat", "extra_dim", "empty", "scalar", "fortran", "wider"]))
        what += f" {choice}"
        if choice == "transpose":
            b = a.T
        elif choice == "flat":
            b = a.reshape(-1)
        elif choice == "extra_dim":
            b = a[None]
        elif choice == "empty":
            b = a[:0]
        elif choice == "scalar":
            b = np.asarray(a.reshape(-1)[0] if a.size else 0, a.dtype)
        elif choice == "fortran":
            b = np.asfortranarray(a)
        else:
            b = np.concatenate([a, a[:1]]) if a.ndim and len(a) else a
        out[name] = _npy(np.ascontiguousarray(b) if choice != "fortran" else b)
    elif kind == "huge":  # a declared shape no machine can hold; the data is a few bytes
        declared = draw(st.sampled_from([(10**12,), (200_000, 200_000), (2**31, 2**31), (1 << 40, 1), (2**62,)]))
        what += f" declared shape {declared}"
        out[name] = _npy(declared=declared, dtype=a.dtype.str, payload=b"\x00" * 64)
    elif kind == "truncated":
        full = _npy(a)
        at = draw(st.integers(0, len(full) - 1))
        out[name] = full[:at]
        what += f" at byte {at} of {len(full)}"
    elif kind == "pickled":  # an object array: loading it would unpickle (execute) data
        out[name] = _npy(np.array([{"a": 1}, None], dtype=object), pickled=True)
    elif kind == "extra":
        extra = draw(st.sampled_from(["weights_2", "bias_2", "notes", "weights_1"]))
        out[extra] = _npy(np.zeros((3, 3), np.int32))
        what += f" {extra} = zeros((3, 3))"
    else:  # extreme values of the right dtype and shape
        value = draw(st.sampled_from(["max", "min", "nan", "zero"]))
        what += f" one entry {value}"
        b = a.copy()
        if b.size:
            if np.issubdtype(b.dtype, np.integer):
                info = np.iinfo(b.dtype)
                b.flat[draw(st.integers(0, b.size - 1))] = {"max": info.max, "min": info.min}.get(value, 0)
            out[name] = _npy(b)
    return what, out


@st.composite
def mutated_npz(draw, valid: bytes, label: str) -> Mutated:
    """``valid`` (an hwsim .npz file) with one mutation: of its header, of a member, or of the file's bytes."""
    header, arrays = unpack(valid)
    where = draw(st.sampled_from(["header"] * 4 + ["member"] * 4 + ["file"] * 2))
    if where == "header":
        members = {k: _npy(v) for k, v in arrays.items()}
        what, text = draw(_mutate_header(header))
        members["header"] = _npy(np.frombuffer(text, np.uint8))
        return Mutated(f"{label}, {what}", npz_bytes(members))
    if where == "member":
        what, members = draw(_mutate_member(arrays))
        return Mutated(f"{label}, {what}", npz_bytes(members))
    kind = draw(st.sampled_from(["empty", "random", "truncate", "flip", "npy", "pickle", "text"]))
    if kind == "empty":
        return Mutated("zero-length file", b"")
    if kind == "random":
        data = draw(st.binary(max_size=512))
        return Mutated(f"random bytes {data[:40]!r}", data)
    if kind == "truncate":
        at = draw(st.integers(0, len(valid) - 1))
        return Mutated(f"{label} cut at byte {at} of {len(valid)}", valid[:at])
    if kind == "flip":
        at, x = draw(st.integers(0, len(valid) - 1)), draw(st.integers(1, 255))
        return Mutated(f"{label} with byte {at} xor {x}", valid[:at] + bytes([valid[at] ^ x]) + valid[at + 1:])
    if kind == "npy":
        return Mutated("a lone .npy file, not an archive", _npy(np.zeros(4, np.int32)))
    if kind == "pickle":
        return Mutated("a pickle stream", b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94.")
    return Mutated("a JSON text file", b'{"format": "hwsim-network", "version": 1}')

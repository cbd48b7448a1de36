"""Bounded readers for the files users give hwsim: TOML configs, JSON headers and ``.npz`` archives.

Every loader of the project reads through these functions, so each kind of bad file gets the same clear
one-line error (a :class:`~hwsim.errors.HwsimError` subclass chosen by the caller) instead of a
``UnicodeDecodeError``, ``RecursionError``, ``MemoryError``, ``zipfile.BadZipFile`` or ``OSError``:

- the path must be an existing regular file (not a folder), non-empty and readable;
- text must be UTF-8; TOML and JSON must parse and nest at most :data:`~hwsim.limits.MAX_NESTING_DEPTH` levels;
- every ``.npy`` member of an archive is checked from its header (dtype, shape) against
  :data:`~hwsim.limits.MAX_ARRAY_ELEMENTS` (:data:`~hwsim.limits.MAX_SPARSE_WEIGHTS` for the members a caller
  names as a sparse layer's stored weights) and :data:`~hwsim.limits.MAX_FILE_ARRAY_BYTES` *before* any array is
  allocated, and object arrays are refused without ever being unpickled.

Nothing read is ever executed: TOML goes through ``tomllib``, JSON through ``json``, arrays through
``numpy.lib.format`` with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import math
import os
import re
import reprlib
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from hwsim.errors import HwsimError
from hwsim.limits import (
    MAX_ARRAY_ELEMENTS,
    MAX_FILE_ARRAY_BYTES,
    MAX_HEADER_BYTES,
    MAX_NESTING_DEPTH,
    MAX_SPARSE_WEIGHTS,
    MAX_TOML_BYTES,
)

__all__ = [
    "shorten",
    "check_regular_file",
    "read_bytes",
    "decode_utf8",
    "check_nesting",
    "parse_json",
    "read_toml",
    "toml_names",
    "load_named_toml",
    "read_npy",
    "read_npz",
    "npz_json_header",
    "NPY_KINDS",
]

ErrorType = type[HwsimError]

#: NumPy dtype kinds an archive member may hold: booleans, signed and unsigned integers, floats.
NPY_KINDS = "biuf"
_KIND_NAMES = "booleans, integers or floats"

# Compression methods np.savez / np.savez_compressed write; anything else is not one of our files.
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 6
_SHORT.maxlevel = 3


def shorten(value: Any) -> str:
    """``repr(value)`` cut to about one short line, for error messages about values read from files.

    Line breaks (NumPy prints 2-D arrays on several lines) become single spaces: messages are one line.
    """
    return " ".join(_SHORT.repr(value).split())


def check_regular_file(path: Path, what: str, error: ErrorType, hint: str = "") -> int:
    """Refuse a missing path, a folder or a special file; return the file's size in bytes.

    Args:
        path: The path the user gave.
        what: What the file should be, e.g. ``"chip config file"``; starts the message.
        error: The exception type to raise.
        hint: Appended to the "does not exist" message (how to make such a file).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist{hint}") from None
    except OSError as exc:  # permission denied on a parent, a name too long, a loop of links
        reason = exc.strerror or exc
        raise error(f"{what} {str(path)!r} cannot be opened ({reason}); expected a readable file") from None
    except ValueError:  # the operating system takes no NUL byte in a path
        raise error(f"{what} {str(path)!r} contains a NUL byte; expected a file name") from None
    if path.is_dir():
        raise error(f"{what} {str(path)!r} is a folder; expected a file")
    if not path.is_file():
        raise error(f"{what} {str(path)!r} is not a regular file (a device, pipe or socket); expected a file")
    return int(st.st_size)


def read_bytes(path: Path, what: str, error: ErrorType, max_bytes: int, hint: str = "") -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` bytes.

    Raises:
        error: missing, a folder, unreadable, or larger than ``max_bytes``.
    """
    size = check_regular_file(path, what, error, hint)
    if size > max_bytes:
        raise error(f"{what} {str(path)!r} has {size} bytes; allowed at most {max_bytes}")
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc}); expected a readable file") from None
    if len(raw) > max_bytes:  # the file grew since stat()
        raise error(f"{what} {str(path)!r} has more than {max_bytes} bytes; allowed at most {max_bytes}")
    return raw


def decode_utf8(raw: bytes, where: str, error: ErrorType) -> str:
    """``raw`` as text; the message names the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{where}: byte {exc.start} (0x{raw[exc.start]:02x}) is not UTF-8; expected UTF-8 text"
        ) from None


def check_nesting(value: Any, where: str, error: ErrorType, limit: int = MAX_NESTING_DEPTH) -> None:
    """Refuse data with tables or lists nested more than ``limit`` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            raise error(f"{where}: data nested more than {limit} levels deep; allowed at most {limit}")
        stack.extend((child, depth + 1) for child in children)


def _too_deep(where: str, error: ErrorType) -> HwsimError:
    return error(
        f"{where}: data nested more than {MAX_NESTING_DEPTH} levels deep; allowed at most {MAX_NESTING_DEPTH}"
    )


def parse_json(raw: bytes, where: str, error: ErrorType, max_bytes: int = MAX_HEADER_BYTES) -> Any:
    """Parse UTF-8 JSON of at most ``max_bytes`` bytes and :data:`MAX_NESTING_DEPTH` levels.

    Raises:
        error: too long, not UTF-8, not JSON, or nested too deeply.
    """
    if len(raw) > max_bytes:
        raise error(f"{where}: {len(raw)} bytes of JSON; allowed at most {max_bytes}")
    text = decode_utf8(raw, where, error)
    try:
        value = json.loads(text)
    except RecursionError:
        # json recurses once per level; deeper than the interpreter's stack is far beyond the limit
        raise _too_deep(where, error) from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
        raise error(f"{where}: not valid JSON ({exc}); expected a JSON object") from None
    check_nesting(value, where, error)
    return value


def _dotted_key_depth(text: str) -> int:
    """The most dots in one line's key or table header: an upper bound on the nesting that line declares.

    tomllib takes time quadratic in the parts of a dotted key (a 100,000-part header took 18 s), so the depth is
    bounded before parsing. Quoted keys holding a dot are over-counted, which errs on the side of refusing.
    """
    depth = 0
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped[0] == "#":
            continue
        head = stripped if stripped[0] == "[" else stripped.split("=", 1)[0]
        depth = max(depth, head.count("."))
    return depth


def read_toml(path: Path, what: str, error: ErrorType, expected: str) -> dict:
    """Read a TOML file: a regular file, at most :data:`MAX_TOML_BYTES` bytes, UTF-8, not empty.

    Args:
        path: The file.
        what: Its kind, e.g. ``"chip config"``; messages start with ``"<what> file '<path>'"``.
        error: The exception type to raise.
        expected: What a useful file holds, for the message when it holds no keys at all.

    Raises:
        error: as for :func:`read_bytes`, or not UTF-8, not valid TOML, nested too deeply, or empty.
    """
    where = f"{what} file {str(path)!r}"
    raw = read_bytes(path, f"{what} file", error, MAX_TOML_BYTES)
    text = decode_utf8(raw, where, error)
    if _dotted_key_depth(text) > MAX_NESTING_DEPTH:
        raise _too_deep(where, error)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise _too_deep(where, error) from None
    except ValueError as exc:  # TOMLDecodeError, or an integer of more digits than Python converts
        raise error(f"{where} is not valid TOML: {exc}") from None
    check_nesting(data, where, error)
    if not data:
        raise error(f"{where} is empty (no TOML keys); expected {expected}")
    return data


def toml_names(directory: Path) -> list[str]:
    """Stems of the ``.toml`` files in ``directory`` (the names of the shipped presets or tables)."""
    return sorted(p.stem for p in directory.glob("*.toml"))


def load_named_toml(
    name_or_path: Any, directory: Path, what: str, kind: str, error: ErrorType, expected: str
) -> tuple[Path, dict]:
    """Read a TOML file given by name (``directory/<name>.toml``) or by a path ending in ``.toml``.

    The one preset-or-path loader of the project (chip configs, energy tables).

    Args:
        name_or_path: A shipped name such as ``"default_28nm"``, or a ``.toml`` path.
        directory: Where the shipped files are.
        what: What the file is, e.g. ``"chip config"``.
        kind: What a shipped file is called, e.g. ``"preset"``; listed in the message for an unknown name.
        error: The exception type to raise.
        expected: What a useful file holds (see :func:`read_toml`).

    Returns:
        ``(path, data)``.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise error(f"{what} = {shorten(name_or_path)}: expected a {kind} name or a .toml path")
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix != ".toml":
        names = toml_names(directory)
        if text not in names:  # also refuses "", "../x" and other names that are not shipped files
            raise error(f"{what} {text!r}: no such {kind} or .toml file; {kind}s: {', '.join(names)}")
        path = directory / f"{text}.toml"
    return path, read_toml(path, what, error, expected)


def _npy_header(fh: Any, where: str, error: ErrorType) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise error(
            f"{where} has .npy format version {version[0]}.{version[1]}; allowed 1.0 or 2.0 (as np.save writes)"
        )
    return tuple(int(n) for n in shape), dtype


def _checked_npy_header(
    fh: Any, where: str, error: ErrorType, max_elements: int = MAX_ARRAY_ELEMENTS, what_limit: str = "per array"
) -> int:
    """Read a ``.npy`` header and refuse what hwsim never loads; return the bytes the array declares."""
    shape, dtype = _npy_header(fh, where, error)
    if dtype.hasobject or dtype.kind not in NPY_KINDS or dtype.fields is not None:
        raise error(f"{where} has dtype {dtype}; allowed {_KIND_NAMES} (never pickled objects)")
    count = math.prod(shape)
    if any(n < 0 for n in shape) or count > max_elements:
        raise error(f"{where} declares shape {shape}; allowed at most {max_elements} elements {what_limit}")
    return count * dtype.itemsize


def read_npy(path: str | os.PathLike, what: str, error: ErrorType, max_bytes: int = MAX_FILE_ARRAY_BYTES) -> np.ndarray:
    """One ``.npy`` array, checked from its header (dtype, shape, at most ``max_bytes``) before it is read.

    Raises:
        error: missing, a folder, empty, not a ``.npy`` file, corrupt or truncated, an array of objects
            or of another kind than booleans, integers or floats, or larger than the limits.
    """
    path = Path(path)
    size = check_regular_file(path, what, error)
    where = f"{path}: not a {what}"
    if size == 0:
        raise error(f"{where}: the file is empty (0 bytes); expected a .npy array")
    try:
        with path.open("rb") as fh:
            declared = _checked_npy_header(fh, f"{where}: the array", error)
            if declared > max_bytes:
                raise error(f"{where}: the array declares {declared} bytes; allowed at most {max_bytes}")
            fh.seek(0)
            return np.lib.format.read_array(fh, allow_pickle=False)
    except HwsimError:
        raise
    except (OSError, EOFError, ValueError) as exc:  # a bad magic string, a malformed header, truncated data
        raise error(f"{where}: corrupt file ({' '.join(str(exc).split())}); expected a .npy array") from None


def read_npz(
    path: str | os.PathLike,
    what: str,
    error: ErrorType,
    *,
    missing_hint: str = "",
    format_hint: str = "",
    large_members: re.Pattern | None = None,
) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` archive, each checked from its header before it is read.

    Args:
        path: The archive.
        what: What it should be, e.g. ``"hwsim network file"``; messages say ``"<path>: not a <what>: ..."``.
        error: The exception type to raise.
        missing_hint: Appended to the "does not exist" message (how to make such a file).
        format_hint: Appended to the "expected an .npz archive" message (which reader takes such a file).
        large_members: Members (names without ``.npy``) that this pattern matches in full hold a sparse
            layer's stored weights (``hwsim.network`` CSC ``data`` and ``indices``): they may have up to
            :data:`~hwsim.limits.MAX_SPARSE_WEIGHTS` elements instead of :data:`MAX_ARRAY_ELEMENTS`.

    Raises:
        error: missing, a folder, empty, not a zip archive, a corrupt or truncated member, a member
            that is not a ``.npy`` array of booleans, integers or floats, or arrays larger than
            :data:`MAX_ARRAY_ELEMENTS` each (:data:`MAX_SPARSE_WEIGHTS` for ``large_members``) or
            :data:`MAX_FILE_ARRAY_BYTES` together.
    """
    path = Path(path)
    size = check_regular_file(path, what, error, missing_hint)
    if size == 0:
        raise error(f"{path}: not a {what}: the file is empty (0 bytes); expected an .npz archive")
    if not zipfile.is_zipfile(path):
        # np.load would take any other file for a pickle and say so, which misleads
        raise error(f"{path}: not a {what}: expected an .npz archive{format_hint}")
    try:
        with zipfile.ZipFile(path) as zf:
            members = []
            total = 0
            for info in zf.infolist():
                where = f"{path}: not a {what}: member {info.filename!r}"
                if not info.filename.endswith(".npy"):
                    raise error(f"{where} is not a .npy array; allowed only .npy members (as np.savez writes)")
                if info.flag_bits & 0x1:
                    raise error(f"{where} is encrypted; allowed plain stored or deflate members (as np.savez writes)")
                if info.compress_type not in _ZIP_METHODS:
                    raise error(
                        f"{where} uses compression method {info.compress_type}; allowed stored or deflate "
                        "(as np.savez writes)"
                    )
                large = large_members is not None and large_members.fullmatch(info.filename[: -len(".npy")])
                limit = (MAX_SPARSE_WEIGHTS, "per sparse layer") if large else (MAX_ARRAY_ELEMENTS, "per array")
                with zf.open(info) as fh:
                    total += _checked_npy_header(fh, where, error, *limit)
                if total > MAX_FILE_ARRAY_BYTES:
                    raise error(
                        f"{where}: the arrays up to this one declare {total} bytes; allowed at most "
                        f"{MAX_FILE_ARRAY_BYTES} bytes per file"
                    )
                members.append(info)
            arrays = {}
            for info in members:
                with zf.open(info) as fh:
                    arrays[info.filename[: -len(".npy")]] = np.lib.format.read_array(fh, allow_pickle=False)
    except HwsimError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        # a damaged archive: a bad CRC, truncated or garbled compressed data, a malformed .npy header;
        # object dtypes were refused above, so no message here can be NumPy's advice about pickles
        raise error(
            f"{path}: not a {what}: corrupt archive ({exc}); expected an .npz archive as hwsim writes it"
        ) from None
    return arrays


def npz_json_header(arrays: dict[str, np.ndarray], path: str | os.PathLike, what: str, error: ErrorType) -> dict:
    """The JSON object hwsim keeps in the ``header`` member of its ``.npz`` files (UTF-8 bytes as uint8).

    Raises:
        error: no ``header`` member, not 1-D bytes, too long, not UTF-8 JSON, nested too deeply, or not an object.
    """
    where = f"{path}: not a {what}"
    raw = arrays.get("header")
    if raw is None:
        raise error(f"{where}: no 'header' member; expected the JSON header hwsim writes")
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise error(f"{where}: header member has shape {raw.shape} and dtype {raw.dtype}; expected 1-D uint8 bytes")
    header = parse_json(raw.tobytes(), f"{where}: header", error)
    if not isinstance(header, dict):
        raise error(f"{where}: header is a JSON {type(header).__name__}; expected a JSON object")
    return header

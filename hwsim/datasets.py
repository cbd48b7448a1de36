"""Image datasets for training and running networks, loaded offline.

Three datasets, all returned as the same :class:`Dataset` (pixels float32 in
[0, 1], one row per image; labels int64):

- ``digits``: the 8x8 handwritten digits that ship with scikit-learn
  (1797 images, no download; read from its CSV file without importing
  scikit-learn), split once into train/test with a fixed seed (stratified,
  20 % held out).
- ``mnist`` and ``fashion-mnist``: the standard IDX files
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``) in a
  directory. Fashion-MNIST is found without ``data_dir`` when Debian's
  ``dataset-fashion-mnist`` package is installed
  (``/usr/share/datasets/fashion-mnist``).

Nothing is downloaded at run time. IDX files are parsed with
:func:`numpy.frombuffer` after checking the magic number, the dimensions and
the file size, so a truncated or foreign file gives a message that names the
file and what was expected, never a NumPy traceback.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwsim.errors import InputError
from hwsim.limits import MAX_IDX_BYTES, MAX_IMAGE_SIDE
from hwsim.readers import check_regular_file

__all__ = [
    "Dataset",
    "DatasetError",
    "DATASETS",
    "load_dataset",
    "read_idx",
    "read_digits_csv",
    "find_data_dir",
    "DIGITS_TEST_FRACTION",
    "DIGITS_SPLIT_SEED",
]

DATASETS = ("digits", "mnist", "fashion-mnist")

#: Share of each digit class held out for testing, and the seed of the split.
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 20170919  # arXiv submission date of Yin et al.; any fixed value would do

_FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

# Where each IDX dataset is looked for when no data_dir is given (first hit wins).
_DEFAULT_DIRS = {
    "mnist": ["~/data/mnist", "/usr/share/datasets/mnist"],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist", "~/data/fashion-mnist"],
}

_HOW_TO_GET = {
    "mnist": (
        "get the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from a MNIST mirror into one "
        "directory and pass it with --data-dir (or set HWSIM_DATA_DIR)"
    ),
    "fashion-mnist": (
        "on Debian/Ubuntu run 'apt-get install dataset-fashion-mnist' (installs "
        "/usr/share/datasets/fashion-mnist), or put the four IDX files from "
        "github.com/zalandoresearch/fashion-mnist into one directory and pass it with --data-dir"
    ),
}

# IDX data-type codes (byte 3 of the magic number); only unsigned bytes are used by (Fashion-)MNIST.
_IDX_UBYTE = 0x08

# Pixels of one 8x8 digits image.
_DIGITS_PIXELS = 64


class DatasetError(InputError):
    """A dataset is unknown, missing or corrupt; the message says which file and how to get it."""


@dataclass(frozen=True)
class Dataset:
    """Images and labels, split into train and test.

    Attributes:
        name: ``digits``, ``mnist`` or ``fashion-mnist``.
        x_train: ``(n_train, n_pixels)`` float32 intensities in [0, 1].
        y_train: ``(n_train,)`` int64 labels in ``0..len(classes)-1``.
        x_test: ``(n_test, n_pixels)`` float32 intensities in [0, 1].
        y_test: ``(n_test,)`` int64 labels.
        image_shape: ``(rows, cols)`` of one image; ``rows * cols == n_pixels``.
        classes: Class names, index = label.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]
    classes: list[str]

    @property
    def n_pixels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """One line: name, sizes and image shape."""
        r, c = self.image_shape
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test images of {r}x{c} pixels, "
                f"{self.n_classes} classes")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, limit: int | None = None) -> Dataset:
    """Load a dataset by name; never downloads anything.

    Args:
        name: One of :data:`DATASETS`.
        data_dir: Directory of IDX files for ``mnist`` / ``fashion-mnist``.
            When omitted: ``$HWSIM_DATA_DIR/<name>``, then the default places
            (``~/data/mnist``; ``/usr/share/datasets/fashion-mnist``). Ignored
            for ``digits``.
        limit: Keep only the first ``limit`` images of each split (for quick runs).

    Raises:
        DatasetError: unknown name, bad limit, files missing or corrupt.
    """
    if name not in DATASETS:
        raise DatasetError(f"dataset = {name!r}: allowed {', '.join(DATASETS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise DatasetError(f"limit = {limit!r}: expected a positive integer or None")
    if name == "digits":
        ds = _load_digits()
    else:
        ds = _load_idx_dataset(name, find_data_dir(name, data_dir))
    if limit is not None:
        ds = Dataset(ds.name, ds.x_train[:limit], ds.y_train[:limit], ds.x_test[:limit], ds.y_test[:limit],
                     ds.image_shape, ds.classes)
    return ds


def _load_digits() -> Dataset:
    pixels, labels = _digits_arrays()
    x = (np.asarray(pixels, np.float64) / 16.0).astype(np.float32)  # pixel values are 0..16
    y = np.asarray(labels, np.int64)
    # Stratified split with its own generator, independent of scikit-learn's splitter versions.
    rng = np.random.Generator(np.random.PCG64(DIGITS_SPLIT_SEED))
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        k = int(round(DIGITS_TEST_FRACTION * len(idx)))
        test[rng.permutation(idx)[:k]] = True
    return Dataset("digits", x[~test], y[~test], x[test], y[test], (8, 8), [str(d) for d in range(10)])


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as ``(pixels (n, 64), labels (n,))``, the arrays of ``sklearn.datasets.load_digits``.

    Read straight from the CSV file scikit-learn ships, found without importing scikit-learn: importing
    ``sklearn.datasets`` costs about 0.8 s (it imports SciPy's statistics), more than the whole default
    ``hwsim run`` needs. Falls back to ``load_digits`` if a scikit-learn release keeps the file elsewhere.
    """
    csv = _sklearn_digits_csv()
    if csv is None:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return np.asarray(bunch.data), np.asarray(bunch.target)
    return read_digits_csv(csv)


def _sklearn_digits_csv() -> Path | None:
    """``sklearn/datasets/data/digits.csv.gz`` of the installed scikit-learn (located, not imported), or None."""
    spec = importlib.util.find_spec("sklearn")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    found = [Path(d) / "datasets" / "data" / "digits.csv.gz" for d in folders]
    return next((f for f in found if f.is_file()), None)


def read_digits_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (n, 64), labels (n,))`` int64 from scikit-learn's gzipped digits CSV file: one image a line,
    64 pixel values 0..16, then the label 0..9, separated by commas.

    Raises:
        DatasetError: the file is unreadable or does not hold such rows.
    """
    try:
        text = gzip.decompress(Path(path).read_bytes()).decode("ascii")
        values = np.fromstring(text.replace("\n", ",").strip(","), dtype=np.int64, sep=",")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"digits: {path} is unreadable ({exc}); reinstall scikit-learn") from None
    columns = _DIGITS_PIXELS + 1
    table = values.reshape(-1, columns) if values.size and values.size % columns == 0 else None
    if table is None or not (0 <= table[:, :-1].min() and table[:, :-1].max() <= 16 and 0 <= table[:, -1].min()
                             and table[:, -1].max() <= 9):
        raise DatasetError(f"digits: {path} does not hold rows of {_DIGITS_PIXELS} pixels in 0..16 and a label in "
                           "0..9; reinstall scikit-learn")
    return table[:, :-1], table[:, -1]


def find_data_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Directory holding the IDX files of ``name``.

    Raises:
        DatasetError: ``data_dir`` is not a directory, or no default place holds the files.
    """
    if data_dir is not None:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise DatasetError(f"{name}: data directory {str(path)!r} does not exist; {_HOW_TO_GET[name]}")
        return path
    candidates = []
    env = os.environ.get("HWSIM_DATA_DIR")
    if env:
        candidates.append(Path(env).expanduser() / name)
    candidates += [Path(p).expanduser() for p in _DEFAULT_DIRS[name]]
    for path in candidates:
        if _find_file(path, "train-images-idx3-ubyte") is not None:
            return path
    raise DatasetError(
        f"{name}: no IDX files found (looked in {', '.join(str(p) for p in candidates)}); {_HOW_TO_GET[name]}"
    )


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_dataset(name: str, directory: Path) -> Dataset:
    try:
        return _read_idx_dataset(name, directory)
    except DatasetError as exc:
        if _HOW_TO_GET[name] in str(exc):
            raise
        # a file is there but unusable: say how to get a good copy, as for a missing one
        raise DatasetError(f"{exc}; to replace the files: {_HOW_TO_GET[name]}") from None


def _read_idx_dataset(name: str, directory: Path) -> Dataset:
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_required(name, directory, f"{prefix}-images-idx3-ubyte", ndim=3)
        labels = _read_required(name, directory, f"{prefix}-labels-idx1-ubyte", ndim=1)
        rows, cols = images.shape[1:]
        if not (1 <= rows <= MAX_IMAGE_SIDE and 1 <= cols <= MAX_IMAGE_SIDE):
            raise DatasetError(
                f"{name}: {directory}/{prefix}-images-idx3-ubyte holds images of {rows}x{cols} pixels; "
                f"allowed 1..{MAX_IMAGE_SIDE} rows and columns"
            )
        if images.shape[0] < 1:
            raise DatasetError(
                f"{name}: {directory}/{prefix}-images-idx3-ubyte holds 0 images; expected at least 1"
            )
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{name}: {directory}/{prefix}-images-idx3-ubyte has {images.shape[0]} images but "
                f"{prefix}-labels-idx1-ubyte has {labels.shape[0]} labels; expected the same count"
            )
        if labels.size and labels.max() > 9:
            raise DatasetError(
                f"{name}: {directory}/{prefix}-labels-idx1-ubyte holds label {int(labels.max())}; expected 0..9"
            )
        parts[split] = (images, labels)
    shape = parts["train"][0].shape[1:]
    if parts["test"][0].shape[1:] != shape:
        raise DatasetError(
            f"{name}: train images are {shape[0]}x{shape[1]} but test images are "
            f"{parts['test'][0].shape[1]}x{parts['test'][0].shape[2]}; expected the same size"
        )
    n_pixels = shape[0] * shape[1]

    def pixels(a: np.ndarray) -> np.ndarray:
        return (a.reshape(len(a), n_pixels).astype(np.float32) / np.float32(255.0))

    classes = _FASHION_CLASSES if name == "fashion-mnist" else [str(d) for d in range(10)]
    return Dataset(
        name,
        pixels(parts["train"][0]), parts["train"][1].astype(np.int64),
        pixels(parts["test"][0]), parts["test"][1].astype(np.int64),
        (int(shape[0]), int(shape[1])), list(classes),
    )


def _read_required(name: str, directory: Path, stem: str, ndim: int) -> np.ndarray:
    path = _find_file(directory, stem)
    if path is None:
        raise DatasetError(
            f"{name}: missing file {directory}/{stem}[.gz] (expected an IDX file with {ndim} dimension(s)); "
            f"{_HOW_TO_GET[name]}"
        )
    return read_idx(path, ndim=ndim)


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or raw) into a uint8 array.

    The format: 2 zero bytes, a type byte (``0x08`` = unsigned byte), the
    number of dimensions, then one big-endian uint32 per dimension, then the
    data in C order. The header is read first and the size it declares is
    checked against :data:`~hwsim.limits.MAX_IDX_BYTES` before the data is read,
    so neither a corrupt header nor a gzip bomb can make us allocate more.

    Args:
        path: The file; gzip-compressed when its name ends in ``.gz``.
        ndim: Expected number of dimensions (3 for images, 1 for labels), or None for any.

    Raises:
        DatasetError: the file is missing, not gzip when named ``.gz``, has a wrong magic
            number or dimension count, declares more than ``MAX_IDX_BYTES`` of data, or its
            size does not match its header.
    """
    path = Path(path)
    check_regular_file(path, "IDX file", DatasetError)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as fh:
            return _read_idx_stream(path, fh, ndim)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); the file is corrupt or not gzip-compressed") from None


def _read_idx_stream(path: Path, fh, ndim: int | None) -> np.ndarray:
    head = fh.read(4)
    if len(head) < 4:
        raise DatasetError(f"{path}: {len(head)} bytes, too short for an IDX header (expected at least 4)")
    zero, dtype_code, dims = struct.unpack(">HBB", head)
    expected_magic = f"0x0000080{ndim}" if ndim is not None else "0x000008NN"
    if zero != 0 or dtype_code != _IDX_UBYTE:
        raise DatasetError(
            f"{path}: magic number 0x{int.from_bytes(head, 'big'):08x}, expected {expected_magic} "
            "(IDX, unsigned bytes); not an IDX file or a different data type"
        )
    if ndim is not None and dims != ndim:
        raise DatasetError(
            f"{path}: magic number 0x{int.from_bytes(head, 'big'):08x} says {dims} dimension(s), "
            f"expected {expected_magic} ({ndim} dimension(s))"
        )
    header_len = 4 + 4 * dims
    sizes = fh.read(4 * dims)
    if len(sizes) < 4 * dims:
        raise DatasetError(
            f"{path}: truncated header ({4 + len(sizes)} bytes, expected {header_len} for {dims} dims)"
        )
    shape = struct.unpack(f">{dims}I", sizes)
    n_data = math.prod(shape)
    shown = "x".join(map(str, shape))
    if n_data > MAX_IDX_BYTES:
        raise DatasetError(
            f"{path}: header declares data of shape {shown} ({n_data} bytes); allowed at most {MAX_IDX_BYTES} bytes"
        )
    data = fh.read(n_data + 1)  # one byte more shows trailing data without reading all of it
    expected = header_len + n_data
    if len(data) != n_data:
        size = f"more than {expected}" if len(data) > n_data else str(header_len + len(data))
        raise DatasetError(
            f"{path}: {size} bytes, expected {expected} ({header_len}-byte header + data of shape "
            f"{shown}); the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)

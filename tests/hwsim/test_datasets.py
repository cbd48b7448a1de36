"""Dataset loaders: the embedded digits split, IDX parsing (gz and raw) and clear errors."""

import gzip
import struct

import numpy as np
import pytest

from hwsim.datasets import DatasetError, find_data_dir, load_dataset, read_idx


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write(path, data: bytes, gz: bool):
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _make_idx_dir(tmp_path, gz=True, n_train=5, n_test=3, rows=4, cols=3):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        _write(tmp_path / name, _idx_bytes(a), gz)
    return arrays


def test_digits_split_is_fixed_stratified_and_normalised():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1438, 64) and ds.x_test.shape == (359, 64)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.image_shape == (8, 8) and ds.classes == [str(d) for d in range(10)]
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    # every class holds out round(20 %) of its images
    from sklearn.datasets import load_digits

    y_all = load_digits().target
    for c in range(10):
        assert np.sum(ds.y_test == c) == round(0.2 * np.sum(y_all == c))
    # pixel values are k / 16 (digits have 17 grey levels)
    np.testing.assert_allclose(ds.x_train * 16, np.rint(ds.x_train * 16), atol=1e-5)
    # train and test are disjoint and together the whole set (compare as byte rows; duplicates counted)
    again = load_dataset("digits")
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    np.testing.assert_array_equal(ds.y_train, again.y_train)
    all_rows = sorted(row.tobytes() for row in np.rint(load_digits().data).astype(np.uint8))
    ours = sorted(np.rint(x * 16).astype(np.uint8).tobytes()
                  for x in np.concatenate([ds.x_train, ds.x_test]))
    assert ours == all_rows


def test_limit_keeps_first_images():
    ds = load_dataset("digits", limit=10)
    full = load_dataset("digits")
    assert len(ds.y_train) == 10 and len(ds.y_test) == 10
    np.testing.assert_array_equal(ds.x_train, full.x_train[:10])


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_loads(tmp_path, gz):
    arrays = _make_idx_dir(tmp_path, gz=gz)
    ds = load_dataset("mnist", tmp_path)
    assert ds.image_shape == (4, 3)
    np.testing.assert_allclose(ds.x_train, arrays["train-images-idx3-ubyte"].reshape(5, 12) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.x_test.dtype == np.float32 and ds.y_test.dtype == np.int64
    fashion = load_dataset("fashion-mnist", tmp_path)
    assert fashion.classes[0] == "T-shirt/top" and fashion.classes[9] == "Ankle boot"


def test_read_idx_exact_bytes(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = _write(tmp_path / "x-idx3-ubyte", _idx_bytes(a), gz=False)
    np.testing.assert_array_equal(read_idx(path, ndim=3), a)


def test_missing_file_names_it_and_how_to_get_it(tmp_path):
    _make_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"missing file .*t10k-labels-idx1-ubyte\[\.gz\].*IDX"):
        load_dataset("mnist", tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(DatasetError, match="does not exist.*dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path / "nope")


def test_no_default_dir_lists_places(tmp_path, monkeypatch):
    monkeypatch.setenv("HWSIM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetError, match=r"no IDX files found \(looked in .*mnist"):
        find_data_dir("mnist")


def test_env_data_dir_is_searched(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    _make_idx_dir(tmp_path / "mnist")
    monkeypatch.setenv("HWSIM_DATA_DIR", str(tmp_path))
    assert find_data_dir("mnist") == tmp_path / "mnist"


def test_wrong_magic(tmp_path):
    _make_idx_dir(tmp_path, gz=False)
    # an int32 IDX (type 0x0C) instead of unsigned bytes
    (tmp_path / "train-images-idx3-ubyte").write_bytes(struct.pack(">HBB", 0, 0x0C, 3) + b"\0" * 12)
    with pytest.raises(DatasetError, match=r"magic number 0x00000c03, expected 0x00000803"):
        load_dataset("mnist", tmp_path)


def test_labels_file_in_place_of_images(tmp_path):
    arrays = _make_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(arrays["train-labels-idx1-ubyte"]))
    with pytest.raises(DatasetError, match=r"says 1 dimension\(s\), expected 0x00000803"):
        load_dataset("mnist", tmp_path)


def test_truncated_file(tmp_path):
    arrays = _make_idx_dir(tmp_path, gz=False)
    good = _idx_bytes(arrays["t10k-images-idx3-ubyte"])
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(good[:-5])
    with pytest.raises(DatasetError, match=rf"{len(good) - 5} bytes, expected {len(good)} .*3x4x3.*truncated"):
        load_dataset("mnist", tmp_path)


def test_corrupt_gzip(tmp_path):
    _make_idx_dir(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"this is not gzip data")
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz: cannot read .*corrupt or not gzip"):
        load_dataset("mnist", tmp_path)


def test_count_mismatch_and_bad_labels(tmp_path):
    arrays = _make_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(arrays["train-labels-idx1-ubyte"][:4]))
    with pytest.raises(DatasetError, match="has 5 images but train-labels-idx1-ubyte has 4 labels"):
        load_dataset("mnist", tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([0, 1, 2, 3, 12])))
    with pytest.raises(DatasetError, match="holds label 12; expected 0..9"):
        load_dataset("mnist", tmp_path)


def test_too_short_header(tmp_path):
    (tmp_path / "f").write_bytes(b"\0\0")
    with pytest.raises(DatasetError, match="2 bytes, too short for an IDX header"):
        read_idx(tmp_path / "f")


def test_unknown_name_and_bad_limit():
    with pytest.raises(DatasetError, match="dataset = 'cifar': allowed digits, mnist, fashion-mnist"):
        load_dataset("cifar")
    with pytest.raises(DatasetError, match="limit = 0"):
        load_dataset("digits", limit=0)


def test_debian_fashion_mnist_found_automatically(debian_fashion_mnist):
    ds = load_dataset("fashion-mnist", limit=100)
    assert ds.image_shape == (28, 28) and ds.x_train.shape == (100, 784)
    assert ds.y_train[:3].tolist() == [9, 0, 0]  # first labels of the published training set


def test_corrupt_files_also_say_how_to_get_good_ones(tmp_path):
    arrays = _make_idx_dir(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(arrays["train-labels-idx1-ubyte"][:4]))
    with pytest.raises(DatasetError, match=r"has 5 images but .*; to replace the files: get the four IDX files"):
        load_dataset("mnist", tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(arrays["train-labels-idx1-ubyte"]))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\0\0")
    with pytest.raises(DatasetError, match=r"too short for an IDX header .*; to replace the files: on Debian/Ubuntu"):
        load_dataset("fashion-mnist", tmp_path)


# ----------------------------------------------------------------------------- sizes and limits (issue 12)
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "rows, cols, n, message",
    [
        (0, 0, 5, r"holds images of 0x0 pixels; allowed 1..4096 rows and columns"),
        (4, 0, 5, r"holds images of 4x0 pixels; allowed 1..4096 rows and columns"),
        (4097, 1, 1, r"holds images of 4097x1 pixels; allowed 1..4096 rows and columns"),
        (4, 3, 0, r"holds 0 images; expected at least 1"),
    ],
)
def test_image_sizes_outside_the_limits(tmp_path, gz, rows, cols, n, message):
    _make_idx_dir(tmp_path, gz=gz)
    _write(tmp_path / "train-images-idx3-ubyte", _idx_bytes(np.zeros((n, rows, cols))), gz)
    _write(tmp_path / "train-labels-idx1-ubyte", _idx_bytes(np.zeros(n)), gz)
    with pytest.raises(DatasetError, match=r"mnist: .*train-images-idx3-ubyte " + message):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "shape, declared",
    [
        ((60000, 60000, 60000), 216_000_000_000_000),
        ((2**32 - 1,) * 3, (2**32 - 1) ** 3),  # beyond int64: the size is computed exactly, not wrapped
    ],
)
def test_declared_sizes_beyond_the_limit_are_refused_from_the_header(tmp_path, gz, shape, declared):
    header = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", *shape)
    path = _write(tmp_path / "big", header, gz)
    with pytest.raises(DatasetError, match=rf"header declares data of shape {'x'.join(map(str, shape))} "
                                           rf"\({declared} bytes\); allowed at most 1073741824 bytes"):
        read_idx(path, ndim=3)


def test_trailing_data_and_a_truncated_header(tmp_path):
    good = _idx_bytes(np.zeros((2, 2, 2)))
    (tmp_path / "long").write_bytes(good + b"\0" * 100)
    with pytest.raises(DatasetError, match=r"more than 24 bytes, expected 24 .*2x2x2\); the file is truncated"):
        read_idx(tmp_path / "long", ndim=3)
    (tmp_path / "cut").write_bytes(good[:10])
    with pytest.raises(DatasetError, match=r"truncated header \(10 bytes, expected 16 for 3 dims\)"):
        read_idx(tmp_path / "cut", ndim=3)
    (tmp_path / "dir").mkdir()
    with pytest.raises(DatasetError, match=r"IDX file '.*dir' is a folder; expected a file"):
        read_idx(tmp_path / "dir")


def test_truncated_gzip_stream(tmp_path):
    _make_idx_dir(tmp_path, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])  # the end of the deflate stream and the gzip trailer are gone
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz: (cannot read .*corrupt or not gzip|"
                                           r"\d+ bytes, expected \d+ .*truncated)"):
        load_dataset("mnist", tmp_path)

"""Bounded readers: every malformed network or program archive is one HwsimError subclass with a one-line
message naming what is wrong and what is allowed, decided before any array is allocated."""

import zipfile

import numpy as np
import pytest

from hwsim.config import ChipConfig, CoreConfig, load_chip_config, preset_names
from hwsim.errors import ConfigError, ProgramError
from hwsim.limits import MAX_ARRAY_ELEMENTS, MAX_FILE_ARRAY_BYTES, MAX_NESTING_DEPTH
from hwsim.network import Network, NetworkFileError
from hwsim.program import ChipProgram
from hwsim.readers import check_nesting, parse_json
from hwsim.testing import npy_declaring, random_network, rewrite_npz_members
from mapping.mapper import map_network

CHIP = ChipConfig(name="t", mesh_rows=1, mesh_cols=3, core=CoreConfig(axons=8, neurons=8, lanes=2, w_bits=6, v_bits=12))


@pytest.fixture(params=["network", "program"])
def saved(request, tmp_path):
    """``(path of a good file, its loader, its error type, what the messages call it)``."""
    net = random_network(np.random.default_rng(0), [6, 5, 3], CHIP.core)
    if request.param == "network":
        return net.save(tmp_path / "good.npz"), Network.load, NetworkFileError, "hwsim network file"
    return map_network(net, CHIP).save(tmp_path / "good.npz"), ChipProgram.load, ProgramError, "hwsim chip program"


def _refused(load, error, path, message):
    with pytest.raises(error, match=message) as info:
        load(path)
    text = str(info.value)
    assert "\n" not in text and len(text) < 400, text  # one line
    assert "allow_pickle" not in text and "unsafe" not in text  # never NumPy's advice to unpickle
    return text


def test_good_files_load(saved):
    path, load, _, _ = saved
    assert load(path) is not None


def test_header_nested_100000_levels(saved, tmp_path):
    path, load, error, what = saved
    deep = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)
    bad = rewrite_npz_members(path, tmp_path / "deep.npz", {"header": deep})
    _refused(load, error, bad, rf"not a {what}: header: data nested more than {MAX_NESTING_DEPTH} levels deep; "
                               rf"allowed at most {MAX_NESTING_DEPTH}")


@pytest.mark.parametrize("member", ["weights_0", "bias_1", "header"])
def test_a_member_declaring_a_huge_shape_is_refused_from_its_header(saved, tmp_path, member):
    """(10**12,) int32 would be 3.6 TiB: the limit is checked from the .npy header, nothing is allocated."""
    path, load, error, what = saved
    bad = rewrite_npz_members(path, tmp_path / "huge.npz", {member: npy_declaring((10**12,))})
    _refused(load, error, bad, rf"not a {what}: member '{member}.npy' declares shape \(1000000000000,\); "
                               rf"allowed at most {MAX_ARRAY_ELEMENTS} elements per array")


def test_arrays_declaring_more_bytes_together_than_the_file_limit(saved, tmp_path):
    path, load, error, what = saved
    per_member = MAX_ARRAY_ELEMENTS  # int64: 512 MiB each, each under the per-array limit
    n = MAX_FILE_ARRAY_BYTES // (per_member * 8)  # together exactly the limit; the file's own arrays tip it over
    extra = {f"extra_{k}": npy_declaring((per_member,), "<i8") for k in range(n)}
    bad = rewrite_npz_members(path, tmp_path / "many.npz", extra)
    _refused(load, error, bad, rf"not a {what}: member 'extra_{n - 1}.npy': the arrays up to this one declare "
                               rf"\d+ bytes; allowed at most {MAX_FILE_ARRAY_BYTES} bytes per file")


def test_empty_truncated_and_foreign_files(saved, tmp_path):
    path, load, error, what = saved
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _refused(load, error, empty, rf"not a {what}: the file is empty \(0 bytes\); expected an .npz archive")
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _refused(load, error, truncated, rf"not a {what}")
    (tmp_path / "dir.npz").mkdir()
    _refused(load, error, tmp_path / "dir.npz", rf"{what} '.*dir.npz' is a folder; expected a file")


def test_members_that_are_not_plain_arrays(saved, tmp_path):
    path, load, error, what = saved
    with zipfile.ZipFile(tmp_path / "text.npz", "w") as zf:
        zf.writestr("notes.txt", "hello")
    _refused(load, error, tmp_path / "text.npz",
             r"member 'notes.txt' is not a .npy array; allowed only .npy members")
    objects = rewrite_npz_members(path, tmp_path / "obj.npz", {"weights_0": npy_declaring((2,), "|O")})
    _refused(load, error, objects, r"member 'weights_0.npy' has dtype object; allowed booleans, integers or floats")
    strings = rewrite_npz_members(path, tmp_path / "str.npz", {"bias_0": np.array(["a", "b"])})
    _refused(load, error, strings, r"member 'bias_0.npy' has dtype <U1; allowed booleans, integers or floats")


@pytest.mark.parametrize(
    "header, message",
    [
        (b"\xff\xfe{}", r"header: byte 0 \(0xff\) is not UTF-8; expected UTF-8 text"),
        (b"{'a': 1}", r"header: not valid JSON \(.*\); expected a JSON object"),
        (b"[1, 2]", r"header is a JSON list; expected a JSON object"),
        (b"1" * 5000, r"header: not valid JSON \(.*digits.*\); expected a JSON object"),
    ],
)
def test_headers_that_are_not_json_objects(saved, tmp_path, header, message):
    path, load, error, what = saved
    bad = rewrite_npz_members(path, tmp_path / "bad.npz", {"header": np.frombuffer(header, np.uint8)})
    _refused(load, error, bad, rf"not a {what}: {message}")
    wrong_type = rewrite_npz_members(path, tmp_path / "f.npz", {"header": np.zeros(4, np.float32)})
    _refused(load, error, wrong_type, r"header member has shape \(4,\) and dtype float32; expected 1-D uint8 bytes")
    missing = rewrite_npz_members(path, tmp_path / "none.npz", {"header": None})
    _refused(load, error, missing, r"no 'header' member; expected the JSON header hwsim writes")


def test_nesting_is_counted_without_recursion():
    deep: list = []
    for _ in range(100_000):  # built iteratively; a recursive walk would overflow the stack
        deep = [deep]
    with pytest.raises(ProgramError, match=rf"x: data nested more than {MAX_NESTING_DEPTH} levels deep"):
        check_nesting(deep, "x", ProgramError)
    ok: list = []
    for _ in range(MAX_NESTING_DEPTH - 2):
        ok = [ok]
    check_nesting({"a": ok}, "x", ProgramError)  # an object and MAX - 1 lists: exactly at the limit, accepted
    with pytest.raises(ProgramError, match="nested more than"):
        check_nesting({"a": [ok]}, "x", ProgramError)  # one level more
    assert parse_json(b'{"a": [[1]]}', "x", ProgramError) == {"a": [[1]]}


def test_read_npy_checks_the_header_before_reading(tmp_path):
    from hwsim.errors import InputError
    from hwsim.readers import read_npy

    good = tmp_path / "r.npy"
    np.save(good, np.eye(3, dtype=np.uint8))
    np.testing.assert_array_equal(read_npy(good, "raster", InputError), np.eye(3, dtype=np.uint8))
    cases = {
        "huge.npy": (npy_declaring((10**12,)), r"the array declares shape \(1000000000000,\); allowed at most 6"),
        "over.npy": (npy_declaring((100,), "<i8"), r"the array declares 800 bytes; allowed at most 500"),
        "obj.npy": (npy_declaring((2,), "|O"), r"the array has dtype object; allowed booleans, integers or floats"),
        "cut.npy": (good.read_bytes()[:-4], r"corrupt file \(.*\); expected a .npy array"),
        "text.npy": (b"hello", r"corrupt file \(.*\); expected a .npy array"),
        "empty.npy": (b"", r"the file is empty \(0 bytes\)"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=rf"{name}: not a raster: {message}") as info:
            read_npy(tmp_path / name, "raster", InputError, max_bytes=500)
        assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("text", [
    "[" + ".".join(["a"] * 100_000) + "]\nx = 1\n",  # a table header 100,000 parts deep
    ".".join(["a"] * 100_000) + " = 1\n",  # a dotted key as deep
])
def test_deep_dotted_toml_keys_are_refused_before_parsing(text, tmp_path, monkeypatch):
    """tomllib is quadratic in a dotted key's parts (18 s for 100,000): the depth must be refused without parsing.

    Catches: the pre-parse bound removed (tomllib.loads would be called and trip the patched parser).
    """
    import hwsim.readers as readers

    def parser_must_not_run(_text):
        raise AssertionError("tomllib.loads was called on a file the pre-parse bound should refuse")

    monkeypatch.setattr(readers.tomllib, "loads", parser_must_not_run)
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"nested more than {MAX_NESTING_DEPTH} levels deep"):
        load_chip_config(path)


def test_the_presets_pass_the_dotted_key_bound():
    """Catches: a bound so tight that a valid file (every preset, one level of tables) is refused."""
    for name in preset_names():
        assert isinstance(load_chip_config(name), ChipConfig)

"""Fuzz the chip config and energy-table loaders and ``hwsim run --chip FILE`` / ``--table FILE`` with malformed TOML.

Each example starts from a shipped preset (a valid file) and applies one mutation: a value replaced
by a boundary or wrong-typed literal, a line dropped, duplicated or added, a table renamed, the
bytes truncated or corrupted, deep nesting, or a path that is no file at all. The loader must return
a config or raise a one-line HwsimError; the CLI must exit 0 or 2 with one line, and a config the
loader accepts must simulate (issue 12 §2: "every value validation accepts must simulate").
"""

from __future__ import annotations

import re
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz_cases import Mutated, Sandbox, budget, check_cli, check_loader, run_cli
from hwsim.config import PRESET_DIR, load_chip_config

PRESETS = {p.stem: p.read_text() for p in sorted(PRESET_DIR.glob("*.toml"))}
_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*?)(\s*#.*)?$")

INT_LITERALS = ["-1", "0", "1", "2", "3", "4", "7", "8", "15", "16", "17", "24", "25", "31", "32", "33", "63",
                "64", "65", "1023", "1024", "1025", "4096", "4097", "65536", "2147483648",
                "9223372036854775807", "-9223372036854775808", "0x7fffffff", "1_000_000"]
FLOAT_LITERALS = ["0.0", "-0.0", "1e-320", "0.001", "0.5", "1.0", "1.5", "3.0", "3.0000001", "100.0", "1e9",
                  "1e308", "inf", "-inf", "nan", "+inf"]
OTHER_LITERALS = ['"x"', '""', '"rram"', '"digital"', '"lognormal"', '"normal"', '"28nm"', '"rram_28nm"',
                  '"../../../etc/passwd"', '"\\u0000"', "true", "false", "[]", "[1, 2]", '["a"]', "{}",
                  "{ a = 1 }", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z"]
BROKEN_LITERALS = ["", "=", "[[", "0x", "1..2", '"unterminated', "1e", "--1", "{ a = }"]
literal = st.one_of(
    st.sampled_from(INT_LITERALS + FLOAT_LITERALS + OTHER_LITERALS + BROKEN_LITERALS),
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
UNKNOWN_LINES = ["extra = 1", "core_type = \"rram\"", "core_type = \"analog\"", "[rram]", "[rram]\nlevels = 2",
                 "[core]", "[core.deeper]\nx = 1", "mesh_rows = 1", "[energy]\nx = 1", "name.sub = 1"]


def _replace_value(text: str, index: int, value: str) -> str:
    lines = text.splitlines()
    assignments = [k for k, line in enumerate(lines) if _ASSIGNMENT.match(line)]
    k = assignments[index % len(assignments)]
    m = _ASSIGNMENT.match(lines[k])
    lines[k] = f"{m.group(1)}{m.group(2)}{m.group(3)}{value}{m.group(5) or ''}"
    return "\n".join(lines) + "\n"


def _deep(depth: int, kind: str) -> str:
    if kind == "array":
        return "x = " + "[" * depth + "]" * depth + "\n"
    if kind == "inline":
        return "x = " + "{a = " * depth + "1" + "}" * depth + "\n"
    # a table header with a deep dotted key; tomllib parses dotted keys in quadratic time (100,000 levels take
    # 18 s), so they stay at 3,000 levels here: the suite tests the error path, not the parser's speed
    return "[" + ".".join(["a"] * min(depth, 3000)) + "]\n"


@st.composite
def toml_files(draw, sources: dict[str, str] = PRESETS) -> Mutated:
    """One of ``sources`` (name -> valid TOML text) with one mutation."""
    name = draw(st.sampled_from(sorted(sources)))
    text = sources[name]
    lines = text.splitlines()
    kind = draw(st.sampled_from(["value", "value", "value", "drop", "duplicate", "add", "rename_table",
                                 "truncate", "bytes", "deep", "empty", "random"]))
    if kind == "value":
        index, value = draw(st.integers(0, 200)), draw(literal)
        new = _replace_value(text, index, value)
        changed = next((line for line in new.splitlines() if line not in lines), "(no change)")
        return Mutated(f"{name}: {changed.strip()}", new.encode())
    if kind == "drop":
        k = draw(st.integers(0, len(lines) - 1))
        return Mutated(f"{name} without line {lines[k]!r}", "\n".join(lines[:k] + lines[k + 1:]).encode())
    if kind == "duplicate":
        k = draw(st.integers(0, len(lines) - 1))
        return Mutated(f"{name} with line {lines[k]!r} twice", "\n".join(lines[:k + 1] + lines[k:]).encode())
    if kind == "add":
        k, extra = draw(st.integers(0, len(lines))), draw(st.sampled_from(UNKNOWN_LINES))
        return Mutated(f"{name} with {extra!r} at line {k}", "\n".join(lines[:k] + [extra] + lines[k:]).encode())
    if kind == "rename_table":
        new = draw(st.sampled_from(["[cores]", "[rram]", "[core]", "[[core]]", "[ core ]", "[core.x]", "",
                                    "[entry]", "[[entries]]", "[units]", "[[units]]", "[calibration.x]"]))
        return Mutated(f"{name} with its first table renamed {new!r}",
                       re.sub(r"^\[\[?(core|rram|entry|units|calibration)\]\]?$", new, text, count=1,
                              flags=re.M).encode())
    data = text.encode()
    if kind == "truncate":
        at = draw(st.integers(0, len(data)))
        return Mutated(f"{name} cut at byte {at} of {len(data)}", data[:at])
    if kind == "bytes":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\r"])))
        cut = draw(st.integers(0, 4))
        return Mutated(f"{name} with bytes {junk!r} at {at} replacing {cut}", data[:at] + junk + data[at + cut:])
    if kind == "deep":
        depth = draw(st.sampled_from([2, 100, 999, 1000, 3000, 100_000]))
        how = draw(st.sampled_from(["array", "inline", "dotted"]))
        return Mutated(f"{name} plus an {how} nested {depth} deep", data + _deep(depth, how).encode())
    if kind == "empty":
        data = draw(st.sampled_from([b"", b"\n", b"# only a comment\n", b"\xef\xbb\xbf"]))
        return Mutated(f"empty file {data!r}", data)
    data = draw(st.binary(max_size=256))
    return Mutated(f"random bytes {data[:60]!r}", data)


def _write_chip(sandbox: Sandbox, case: Mutated, path_kind: str) -> str:
    """Put the config where the command will look; return the argument that names it."""
    if path_kind == "folder":  # a folder named like a config file
        (sandbox.work / "chip.toml").mkdir()
        return "chip.toml"
    if path_kind == "missing":
        return "missing.toml"
    name = {"toml": "chip.toml", "upper": "chip.TOML", "nested": "cfg/chip.toml"}[path_kind]
    path = sandbox.work / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(case.data)
    return name


path_kinds = st.sampled_from(["toml"] * 8 + ["folder", "missing", "upper", "nested"])

# The chip-config classes issue 12 §2 lists, run every time: (file, how it is named).
ISSUE_CASES = [
    (Mutated("rram: adc_bits = 1 (accepted, then overflowed in the engine)",
             _replace_value(PRESETS["rram"], [line.split("=")[0].strip() for line in PRESETS["rram"].splitlines()
                                              if _ASSIGNMENT.match(line)].index("adc_bits"), "1").encode()), "toml"),
    (Mutated("non-UTF-8 bytes", b"\xff\xfe" + PRESETS["small"].encode()), "toml"),
    (Mutated("an array nested 5,000 deep", PRESETS["small"].encode() + _deep(5000, "array").encode()), "toml"),
    (Mutated("a folder named chip.toml", b""), "folder"),
    (Mutated("an empty file", b""), "toml"),
]


def _explicit_with(**extra):
    """Decorate a test with one Hypothesis ``example`` per issue case (``extra``: its other arguments)."""
    def wrap(test):
        for case, path_kind in reversed(ISSUE_CASES):
            test = example(case=case, path_kind=path_kind, **extra)(test)
        return test

    return wrap


_explicit = _explicit_with()



# Catches: a config loader that lets TOMLDecodeError, UnicodeDecodeError, RecursionError,
# IsADirectoryError, TypeError (wrong value types) or OverflowError out instead of a ConfigError.
@budget(quick=60, fuzz=1500)
@_explicit
@given(case=toml_files(), path_kind=path_kinds)
def test_chip_config_loader_accepts_or_names_the_problem(case, path_kind):
    with Sandbox() as sandbox:
        arg = _write_chip(sandbox, case, path_kind)
        check_loader(lambda: load_chip_config(str(sandbox.work / arg)), f"load_chip_config({arg}) of {case!r}")


# Catches: a value that validation accepts but the simulator cannot handle (e.g. adc_bits = 1
# overflowing in the RRAM engine), CLI paths that let a config error out as a traceback, and a
# failed run that still writes its output folder.
@budget(quick=8, fuzz=300)
@_explicit
@given(case=toml_files(), path_kind=path_kinds)
def test_run_with_malformed_chip_exits_0_or_2(case, path_kind):
    with Sandbox() as sandbox:
        arg = _write_chip(sandbox, case, path_kind)
        sandbox.freeze()
        argv = ["run", "--chip", arg, "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures", "-q", "-o", "out"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[arg])


# Catches: the same for a yield study (calibration, instances, the sigma sweep and tuning read the
# RRAM parameters differently from a run).
@budget(quick=4, fuzz=200)
@_explicit_with(tune=False)
@given(case=toml_files({"rram": PRESETS["rram"]}), path_kind=path_kinds, tune=st.booleans())
def test_yield_with_malformed_rram_chip_exits_0_or_2(case, path_kind, tune):
    with Sandbox() as sandbox:
        arg = _write_chip(sandbox, case, path_kind)
        sandbox.freeze()
        argv = ["yield", "--chip", arg, "--limit", "2", "-T", "1", "--instances", "1", "--sweep", "0,0.2",
                "--no-figures", "-q", "-o", "out"]
        if tune:
            argv += ["--tune", "--train-instances", "3", "--signature-images", "4", "--tuning-images", "8"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[arg])


# Catches: chip names that are not files (empty, a path with a folder, a preset with .toml
# appended) reaching the file system as something other than a ConfigError.
@budget(quick=10, fuzz=200)
@given(name=st.one_of(st.sampled_from(["", " ", ".", "..", "/", "small.toml", "default_28nm.toml", "../small",
                                        "configs/small", "a" * 300 + ".toml", "a" * 300,
                                        "~/x.toml", "/dev/null.toml", "/proc/self/status"]),
                      st.text(max_size=20)))
def test_chip_config_names_that_are_not_files(name):
    name = name.replace("\x00", "")  # argv cannot hold a NUL byte
    check_loader(lambda: load_chip_config(name), f"load_chip_config({name!r})")


TABLES = {p.stem: p.read_text() for p in sorted((PRESET_DIR.parent / "energy" / "tables").glob("*.toml"))}


# Catches: the energy-table loader (also a TOML file, --table FILE) letting a parse, type, value or
# structure error out as anything but a one-line error: a missing entry, a string where pJ go, a
# negative or infinite energy, [[entry]] turned into a table.
@budget(quick=30, fuzz=800)
@given(case=toml_files(TABLES), path_kind=path_kinds)
def test_energy_table_loader_accepts_or_names_the_problem(case, path_kind):
    from hwsim.energy import load_table

    with Sandbox() as sandbox:
        arg = _write_chip(sandbox, case, path_kind)
        check_loader(lambda: load_table(str(sandbox.work / arg)), f"load_table({arg}) of {case!r}")


# Catches: a table that loads but breaks the energy report of a run.
@budget(quick=5, fuzz=200)
@given(case=toml_files(TABLES), path_kind=path_kinds)
def test_run_with_a_malformed_energy_table_exits_0_or_2(case, path_kind):
    with Sandbox() as sandbox:
        arg = _write_chip(sandbox, case, path_kind)
        sandbox.freeze()
        chip = "rram" if "rram" in case.what.split(":")[0].split(" ")[0] else "default_28nm"
        argv = ["run", "--chip", chip, "--table", arg, "--limit", "2", "-T", "1", "--sweep", "none", "--no-figures",
                "-q", "-o", "out"]
        check_cli(run_cli(argv, sandbox.work), sandbox, outputs=["out"], inputs=[arg])

"""Every name in the block table of docs/rtl.md ("Blocks and their names") is real.

For each row: the chip-spec sections (``§N`` / ``§N.M``) are headings of
docs/chip-spec.md and a quoted docs/rtl.md section is a heading there; every
``hwsim.…`` name in the golden-unit and kernel columns imports; the RTL file
exists and declares the module of its file name; the test module exists and
is named ``test_<module>.py``. The table must list every RTL module once.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

__all__ = ["block_table", "resolve"]

REPO = Path(__file__).resolve().parents[1]
RTL_DOC = REPO / "docs" / "rtl.md"
SPEC = REPO / "docs" / "chip-spec.md"
HEADING = "## Blocks and their names"
COLUMNS = ["block", "spec section", "golden unit", "kernel", "RTL module", "test module"]


def block_table(text: str) -> list[dict[str, str]]:
    """Rows of the block table as ``{column: cell}``; raises if the table is missing or malformed."""
    lines = text.splitlines()
    if HEADING not in lines:
        raise AssertionError(f"docs/rtl.md has no section {HEADING!r}")
    rows: list[list[str]] = []
    for line in lines[lines.index(HEADING) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    if len(rows) < 3 or rows[0] != COLUMNS:
        raise AssertionError(f"block table header must be {COLUMNS}, got {rows[0] if rows else None}")
    body = rows[2:]
    for row in body:
        if len(row) != len(COLUMNS):
            raise AssertionError(f"block table row with {len(row)} cells: {row}")
    return [dict(zip(COLUMNS, row)) for row in body]


def resolve(name: str) -> object:
    """Import ``a.b.c.Attr.attr``: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)  # AttributeError names what is missing
        return obj
    raise ModuleNotFoundError(f"no module in {name!r} imports")


def spec_sections() -> set[str]:
    return {m.group(1) for m in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", SPEC.read_text(), re.M)}


def rtl_doc_headings() -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#{2,3} (.+)$", RTL_DOC.read_text(), re.M)}


ROWS = block_table(RTL_DOC.read_text())


def test_table_lists_every_rtl_module_once() -> None:
    listed = [re.search(r"`rtl/(\w+)\.v`", row["RTL module"]).group(1) for row in ROWS]
    on_disk = sorted(p.stem for p in (REPO / "rtl").glob("*.v"))
    assert sorted(listed) == on_disk, f"table lists {sorted(listed)}, rtl/ holds {on_disk}"


def test_blocks_the_issue_names_are_rows() -> None:
    blocks = {row["block"].lstrip("- ").strip() for row in ROWS}
    for block in ("core", "integrate: spike scan", "integrate: lane accumulate", "integrate: weight SRAM",
                  "neuron update", "controller", "router", "host port", "multicore", "chip", "group RF",
                  "lowest-set encoder"):
        assert block in blocks, f"block {block!r} missing from the table"


@pytest.mark.parametrize("row", ROWS, ids=[row["block"].lstrip("- ") for row in ROWS])
def test_every_name_in_the_row_is_real(row: dict[str, str]) -> None:
    where = f"block table, row {row['block']!r}"
    # spec section
    cell = row["spec section"]
    sections = re.findall(r"§(\d+(?:\.\d+)?)", cell)
    doc_refs = re.findall(r'docs/rtl\.md "([^"]+)"', cell)
    assert sections or doc_refs, f"{where}: no spec section named in {cell!r}"
    known = spec_sections()
    for sec in sections:
        assert sec in known, f"{where}: chip-spec has no section {sec} (headings: {sorted(known)})"
    for heading in doc_refs:
        assert heading in rtl_doc_headings(), f"{where}: docs/rtl.md has no heading {heading!r}"
    # golden unit and kernel: every fully qualified name imports
    for column in ("golden unit", "kernel"):
        cell = row[column]
        names = re.findall(r"`(hwsim\.[\w.]+)`", cell)
        if not cell.startswith("-"):
            assert names, f"{where}: the {column} column names nothing importable: {cell!r}"
        for name in names:
            try:
                resolve(name)
            except (ImportError, AttributeError) as exc:
                raise AssertionError(f"{where}: {column} {name!r} does not exist ({exc})") from None
    # RTL module: the file exists and declares the module of its name
    match = re.fullmatch(r"`rtl/(\w+)\.v`", row["RTL module"])
    assert match, f"{where}: RTL module cell must be `rtl/<module>.v`, got {row['RTL module']!r}"
    module = match.group(1)
    path = REPO / "rtl" / f"{module}.v"
    assert path.is_file(), f"{where}: {path} does not exist"
    assert re.search(rf"^module {module}\b", path.read_text(), re.M), f"{where}: {path} declares no module {module}"
    # test module: tests/rtl/test_<module>.py exists
    expected = f"`tests/rtl/test_{module}.py`"
    assert row["test module"] == expected, f"{where}: test module must be {expected}, got {row['test module']!r}"
    assert (REPO / "tests" / "rtl" / f"test_{module}.py").is_file(), f"{where}: {expected} does not exist"


def test_checker_rejects_a_wrong_name() -> None:
    """The checks can fail: a renamed golden unit, a missing heading and a missing file are caught."""
    with pytest.raises(AttributeError):
        resolve("hwsim.golden.core.NoSuchUnit")
    with pytest.raises(ModuleNotFoundError):
        resolve("nosuchpackage.x")
    assert "99.9" not in spec_sections()
    broken = RTL_DOC.read_text().replace("| block | spec section |", "| block | section |", 1)
    with pytest.raises(AssertionError, match="header"):
        block_table(broken)

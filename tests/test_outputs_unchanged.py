"""Reports, counters and energies stay bit for bit those recorded before the refactor (issue 13).

``tests/data/baseline/record.py`` defines the runs (command line in-process and Python API) and
recorded their outputs into ``tests/data/baseline/<case>/`` from commit f532bcb, before the
refactor. Each test here repeats one run with the code under test and compares every output
exactly: text byte for byte (report.json, CSV, markdown, stdout, program headers), arrays by
dtype, shape and bytes (so floats must be equal bit for bit: -0.0 differs from 0.0, NaN equals
only the same NaN). What is stripped before comparing (paths, versions, dates, timings) and what
is not compared (PNG figures, stderr) is listed in record.py's docstring.

A mismatch fails with the case, the file, and the first differences (JSON by key path, text by
line, arrays by index). If a difference is an intended behaviour change, it needs a spec change
first and then a new baseline recorded from a commit that has it, never from unreviewed code.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

_RECORD_PATH = Path(__file__).resolve().parent / "data" / "baseline" / "record.py"
_spec = importlib.util.spec_from_file_location("hwsim_baseline_record", _RECORD_PATH)
record = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = record  # dataclasses look their module up there
_spec.loader.exec_module(record)

MAX_LISTED = 8  # differences listed per file


# ----------------------------------------------------------------- comparison

def _scalar_equal(a, b) -> bool:
    """Exact equality of JSON scalars: same type, and floats by repr (bit for bit, -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    return repr(a) == repr(b) if isinstance(a, float) else a == b


def _json_differences(expected, got, path: str = "") -> list[str]:
    """Key paths where two parsed JSON documents differ."""
    where = path or "(top level)"
    if isinstance(expected, dict) and isinstance(got, dict):
        out = [f"{path}/{k}: missing (expected {expected[k]!r:.80})" for k in expected if k not in got]
        out += [f"{path}/{k}: unexpected key (value {got[k]!r:.80})" for k in got if k not in expected]
        for k in expected:
            if k in got:
                out += _json_differences(expected[k], got[k], f"{path}/{k}")
        if not out and list(expected) != list(got):
            out.append(f"{where}: same keys in another order: expected {list(expected)}, got {list(got)}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where}: expected a list of {len(expected)}, got {len(got)}"]
        out = []
        for k, (e, g) in enumerate(zip(expected, got)):
            out += _json_differences(e, g, f"{path}[{k}]")
        return out
    if isinstance(expected, (dict, list)) or isinstance(got, (dict, list)) or not _scalar_equal(expected, got):
        return [f"{where}: expected {expected!r:.120}, got {got!r:.120}"]
    return []


def _text_differences(name: str, expected: str, got: str) -> list[str]:
    if expected == got:
        return []
    if name.endswith(".json"):
        try:
            found = _json_differences(json.loads(expected), json.loads(got))
        except json.JSONDecodeError:
            found = []
        if found:
            more = [f"... and {len(found) - MAX_LISTED} more"] if len(found) > MAX_LISTED else []
            return found[:MAX_LISTED] + more
    e_lines, g_lines = expected.splitlines(), got.splitlines()
    if e_lines == g_lines:  # only line endings or the final newline differ
        return [f"same lines, different bytes (expected {len(expected)} characters, got {len(got)})"]
    if len(e_lines) != len(g_lines):
        diff = list(difflib.unified_diff(e_lines, g_lines, "expected", "got", n=0, lineterm=""))
        cut = [f"... ({len(diff) - 2 * MAX_LISTED} more diff lines)"] if len(diff) > 2 * MAX_LISTED else []
        return [f"expected {len(e_lines)} lines, got {len(g_lines)}:"] + diff[2 : 2 + 2 * MAX_LISTED] + cut
    differing = [k for k, (e, g) in enumerate(zip(e_lines, g_lines)) if e != g]
    out = [f"{len(differing)} of {len(e_lines)} lines differ, first:"]
    for k in differing[:3]:
        out += [f"line {k + 1} expected {e_lines[k]!r:.200}", f"line {k + 1}      got {g_lines[k]!r:.200}"]
    return out


def _array_differences(expected: dict, got: dict) -> list[str]:
    out = [f"{k}: missing" for k in expected if k not in got]
    out += [f"{k}: unexpected array" for k in got if k not in expected]
    for key in expected:
        if key not in got:
            continue
        e, g = np.asarray(expected[key]), np.asarray(got[key])
        if e.dtype != g.dtype or e.shape != g.shape:
            out.append(f"{key}: expected {e.dtype}{list(e.shape)}, got {g.dtype}{list(g.shape)}")
            continue
        if e.tobytes() == g.tobytes():
            continue
        # element by element on the raw bytes, so that floats compare bit for bit
        raw = np.dtype((np.void, e.dtype.itemsize))
        differs = np.ascontiguousarray(e).view(raw) != np.ascontiguousarray(g).view(raw)
        where = np.argwhere(differs.reshape(e.shape))
        listed = ", ".join(
            f"[{', '.join(map(str, idx))}] expected {e[tuple(idx)].item()!r} got {g[tuple(idx)].item()!r}"
            for idx in where[:3]
        )
        out.append(f"{key}: {len(where)} of {e.size} elements differ: {listed}")
    return out[:MAX_LISTED] + ([f"... and {len(out) - MAX_LISTED} more arrays"] if len(out) > MAX_LISTED else [])


def compare_outputs(expected: dict, got: dict) -> list[str]:
    """Every difference between recorded and new outputs of one case, as readable lines."""
    problems = [f"{name}: missing (the run no longer writes it)" for name in expected if name not in got]
    problems += [f"{name}: new output, not in the baseline" for name in got if name not in expected]
    for name in expected:
        if name not in got:
            continue
        e, g = expected[name], got[name]
        if isinstance(e, dict) != isinstance(g, dict):
            problems.append(f"{name}: expected {'arrays' if isinstance(e, dict) else 'text'}, got the other")
            continue
        found = _array_differences(e, g) if isinstance(e, dict) else _text_differences(name, e, g)
        problems += [f"{name}: {line}" for line in found]
    return problems


# ---------------------------------------------------------------------- tests

@pytest.mark.parametrize("case", list(record.CASES))
def test_outputs_unchanged(case, tmp_path):
    expected = record.load_baseline(case)
    got = record.CASES[case](record.Workspace(tmp_path))
    problems = compare_outputs(expected, got)
    if problems:
        files = sorted({p.split(":", 1)[0] for p in problems})
        pytest.fail(
            f"case {case!r} ({record.CASES[case].__doc__}) differs from the outputs recorded at commit "
            f"{record.BASELINE_COMMIT} (tests/data/baseline/{case}/) in {', '.join(files)}:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


def test_baseline_covers_every_case():
    folders = {p.name for p in record.BASELINE_DIR.iterdir() if p.is_dir() and p.name not in ("inputs", "__pycache__")}
    assert folders == set(record.CASES), "baseline folders and record.CASES disagree"
    manifest = json.loads((record.BASELINE_DIR / "MANIFEST.json").read_text())
    assert manifest["commit"] == record.BASELINE_COMMIT
    assert set(manifest["cases"]) == set(record.CASES)


def test_baseline_holds_nothing_that_varies():
    """The recorded text is normalised: no temporary paths, versions, dates or timings left in it."""
    keys = "hwsim_version|numpy_version|date|seconds|train_seconds|total_seconds"
    volatile = re.compile(r'"(%s)":\s*("[^"]*"|[^,}\s]+)' % keys)
    for case in record.CASES:
        for name, value in record.load_baseline(case).items():
            if isinstance(value, dict):
                continue
            assert "/tmp" not in value and str(record.BASELINE_DIR) not in value, f"{case}/{name}: a path remains"
            kept = [m.group(0) for m in volatile.finditer(value) if m.group(2) != '"<stripped>"']
            assert not kept, f"{case}/{name}: {kept}"
            assert not re.search(r"training [0-9.]+ s", value), f"{case}/{name}: a timing remains"


def test_normalise_text_strips_what_varies(tmp_path):
    ws = record.Workspace(tmp_path, inputs=Path("/data/inputs"))
    text = (
        f'wrote {tmp_path}/out/report.json from /data/inputs/net.npz\n'
        '{"hwsim_version": "9.9", "date": "2030-01-01T00:00:00+00:00", "seconds": 1.5, "train_seconds": 2e-3, '
        '"total_seconds": 12, "numpy_version": "3.0", "energy_nj_per_image": 24.5}\n'
        "T=4, rate encoding; training 0.1 s, total 12.0 s\n"
    )
    assert record.normalise_text(text, ws) == (
        "wrote <WORK>/out/report.json from <INPUTS>/net.npz\n"
        '{"hwsim_version": "<stripped>", "date": "<stripped>", "seconds": "<stripped>", "train_seconds": '
        '"<stripped>", "total_seconds": "<stripped>", "numpy_version": "<stripped>", "energy_nj_per_image": 24.5}\n'
        "T=4, rate encoding; training <t> s, total <t> s\n"
    )


def test_comparison_catches_one_bit_and_one_character():
    """The comparison itself: a last-bit float change, -0.0, a reordered key or one character all fail."""
    baseline = {
        "report.json": '{"a": 1.0, "b": {"c": [1, 2.5]}}\n',
        "stdout.txt": "line 1\nline 2\n",
        "run.npz": {"x": np.array([0.1, 0.0, np.nan]), "n": np.arange(6, dtype=np.int64).reshape(2, 3)},
    }
    assert compare_outputs(baseline, baseline) == []
    nudged = np.array([np.nextafter(0.1, 1.0), 0.0, np.nan])
    cases = {
        "run.npz: x: 1 of 3 elements differ": {**baseline, "run.npz": {**baseline["run.npz"], "x": nudged}},
        "run.npz: x: 1 of 3 elements differ: [1]": {
            **baseline, "run.npz": {**baseline["run.npz"], "x": np.array([0.1, -0.0, np.nan])}},
        "run.npz: n: expected int64[2, 3], got int32[2, 3]": {
            **baseline, "run.npz": {**baseline["run.npz"], "n": baseline["run.npz"]["n"].astype(np.int32)}},
        "report.json: /b/c[1]: expected 2.5, got 2.5000000000000004": {
            **baseline, "report.json": '{"a": 1.0, "b": {"c": [1, 2.5000000000000004]}}\n'},
        "report.json: /a: expected 1.0, got 1": {**baseline, "report.json": '{"a": 1, "b": {"c": [1, 2.5]}}\n'},
        "report.json: (top level): same keys in another order": {
            **baseline, "report.json": '{"b": {"c": [1, 2.5]}, "a": 1.0}\n'},
        "report.json: same lines, different bytes": {**baseline, "report.json": '{"a": 1.0, "b": {"c": [1, 2.5]}}'},
        "stdout.txt: 1 of 2 lines differ": {**baseline, "stdout.txt": "line 1\nline 2.\n"},
        "stdout.txt: line 2      got 'line 2.'": {**baseline, "stdout.txt": "line 1\nline 2.\n"},
        "stdout.txt: expected 2 lines, got 3": {**baseline, "stdout.txt": "line 1\nline 2\nline 3\n"},
        "stdout.txt: +line 3": {**baseline, "stdout.txt": "line 1\nline 2\nline 3\n"},
        "figures.txt: new output": {**baseline, "figures.txt": "a.png\n"},
        "stdout.txt: missing": {k: v for k, v in baseline.items() if k != "stdout.txt"},
    }
    for expected_message, changed in cases.items():
        problems = compare_outputs(baseline, changed)
        assert any(p.startswith(expected_message) for p in problems), (expected_message, problems)

"""``make mutate``: mutation testing of rtl/ against the RTL tests (issue 13 §6).

A mutant is rtl/ with one small change (operators in :mod:`.verilog`). Each
mutant is written to a copy of rtl/ in a temporary folder; the RTL tests are
pointed at that copy (``HWSIM_RTL_DIR``) with their own build folder
(``HWSIM_SIM_BUILD``), so rtl/ and sim_build/ are never touched. A mutant is

* **killed** when a relevant test fails (or hangs past its time limit:
  *killed by timeout*),
* **survived** when every relevant test passes,
* **compile error** when Icarus cannot compile the mutated sources with
  default parameters; such mutants are not faults a test could find and are
  left out of the score (the sample draws another mutant in their place),
* **equivalent** when ``equivalent.toml`` lists it with a reason; never run,
  left out of the score, listed in the report.

Relevant tests of a module: ``tests/rtl/test_<m>.py`` for the module itself
and every module that instantiates it (transitively), plus any test file that
builds one of those modules as its top level; own test first, then by
distance. ``test_lint.py`` is static (it checks warnings, not behaviour) and
never counts.

Results per (mutant, test file) are cached in ``<out>/cache.json`` under a
fingerprint of the original rtl/, the test file, the harness and the test
files it imports; an unchanged test file is not run again for a mutant (the
golden model in hwsim/ is not part of the fingerprint: pass ``--no-cache``
after changing it).

Run ``python -m tests.rtl.mutation --help`` (or ``make mutate``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .verilog import OPERATORS, find_sites, instantiated_modules, module_names

__all__ = [
    "MutationError",
    "Mutant",
    "Outcome",
    "Equivalent",
    "REPO",
    "DEFAULT_SAMPLE",
    "DEFAULT_SEED",
    "enumerate_mutants",
    "apply_mutant",
    "load_equivalents",
    "sample_candidates",
    "relevant_tests",
    "render_markdown",
    "terminate_on_sigterm",
    "main",
]

REPO = Path(__file__).resolve().parents[3]
RTL_DIR = REPO / "rtl"
TESTS_DIR = REPO / "tests" / "rtl"
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")
DEFAULT_OUT = REPO / "mutation-out"
DEFAULT_SAMPLE = 60
DEFAULT_SEED = 13
# Test files that never count: static checks, not behaviour.
EXCLUDED_TESTS = ("test_lint.py",)
# Bump when the operators or the outcome rules change: invalidates the cache.
TOOL_VERSION = "2"
MIN_TIMEOUT_S = 120.0
# A failure with one of these is the Python side breaking, not the RTL: the mutant's verdict is "error".
_SETUP_FAILURE = re.compile(r"\b(ImportError|ModuleNotFoundError|SyntaxError|AttributeError: module '[\w.]+' has no)\b")
ICARUS_COMPILE_TIMEOUT_S = 120.0
RETRY_PAUSE_S = 60.0


class MutationError(ValueError):
    """Bad input to the mutation tool (a one-line message naming what is wrong)."""


@dataclass(frozen=True)
class Mutant:
    """One single-point change of one rtl/ file.

    ``key`` (file, line text with its spacing collapsed, operator, original,
    replacement, occurrence) is stable while the line itself is unchanged,
    wherever the line moves; ``id`` is a short hash of it.
    """

    file: str
    line: int
    line_text: str
    operator: str
    start: int
    end: int
    original: str
    replacement: str
    occurrence: int

    @property
    def module(self) -> str:
        return self.file.removesuffix(".v")

    @property
    def key(self) -> tuple:
        return (self.file, self.line_text, self.operator, self.original, self.replacement, self.occurrence)

    @property
    def id(self) -> str:
        return hashlib.sha1(json.dumps(self.key).encode()).hexdigest()[:10]

    def describe(self) -> dict:
        return {"id": self.id, "file": f"rtl/{self.file}", "line": self.line, "operator": self.operator,
                "original": self.original, "replacement": self.replacement, "occurrence": self.occurrence}


@dataclass
class Outcome:
    """What happened to one mutant: ``status`` is killed, timeout, survived, compile-error, equivalent or error."""

    status: str
    detail: str = ""
    killed_by: str = ""
    seconds: float = 0.0
    tests: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Equivalent:
    """An ``equivalent.toml`` entry: a mutant judged equivalent, and why."""

    file: str
    line: str
    operator: str
    original: str
    replacement: str
    occurrence: int
    reason: str

    @property
    def key(self) -> tuple:
        return (self.file, self.line, self.operator, self.original, self.replacement, self.occurrence)


# ----------------------------------------------------------------------------- mutants
def enumerate_mutants(sources: dict[str, str]) -> list[Mutant]:
    """Every mutant of ``sources`` (file name -> text), in file then source order."""
    mutants = []
    for name in sorted(sources):
        text = sources[name]
        lines = text.splitlines()
        seen: dict[tuple, int] = defaultdict(int)
        for site in find_sites(text):
            line = text.count("\n", 0, site.start) + 1
            line_text = " ".join(lines[line - 1].split())   # spacing inside the line does not matter
            base = (line_text, site.operator, site.original, site.replacement)
            occurrence = seen[base]
            seen[base] += 1
            mutants.append(Mutant(name, line, line_text, site.operator, site.start, site.end,
                                  site.original, site.replacement, occurrence))
    return mutants


def apply_mutant(text: str, mutant: Mutant) -> str:
    """``text`` (the original file of ``mutant``) with the mutation applied."""
    if text[mutant.start:mutant.end] != mutant.original:
        raise MutationError(f"mutant {mutant.id}: rtl/{mutant.file} changed since the mutants were listed")
    return text[:mutant.start] + mutant.replacement + text[mutant.end:]


def diff_lines(text: str, mutant: Mutant) -> tuple[str, str]:
    """The original and the mutated source lines touched by ``mutant`` (joined, stripped)."""
    first = text.rfind("\n", 0, mutant.start) + 1
    last = text.find("\n", mutant.end)
    last = len(text) if last < 0 else last
    before = text[first:last]
    after = before[:mutant.start - first] + mutant.replacement + before[mutant.end - first:]

    def squash(s: str) -> str:
        return " ".join(s.split())

    return squash(before), squash(after)


# ----------------------------------------------------------------------------- equivalents
def load_equivalents(path: Path) -> list[Equivalent]:
    """Entries of an ``equivalent.toml`` (``[[mutant]]`` tables); a missing file is an empty list."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise MutationError(f"{path}: not valid TOML ({exc})") from None
    entries = data.get("mutant", [])
    if not isinstance(entries, list):
        raise MutationError(f"{path}: 'mutant' must be an array of tables ([[mutant]])")
    required = ("file", "line", "operator", "original", "replacement", "reason")
    out = []
    for k, entry in enumerate(entries):
        missing = [key for key in required if not isinstance(entry.get(key), str) or not entry.get(key).strip()]
        if missing:
            raise MutationError(f"{path}: entry {k + 1} needs non-empty string fields {', '.join(missing)}")
        unknown = set(entry) - set(required) - {"occurrence"}
        if unknown:
            raise MutationError(f"{path}: entry {k + 1} has unknown fields {', '.join(sorted(unknown))}; "
                                f"allowed {', '.join(required)}, occurrence")
        if entry["operator"] not in OPERATORS:
            raise MutationError(f"{path}: entry {k + 1} operator {entry['operator']!r} unknown; "
                                f"allowed {', '.join(OPERATORS)}")
        occurrence = entry.get("occurrence", 0)
        if not isinstance(occurrence, int) or occurrence < 0:
            raise MutationError(f"{path}: entry {k + 1} occurrence must be an integer >= 0")
        out.append(Equivalent(entry["file"], " ".join(entry["line"].split()), entry["operator"], entry["original"],
                              entry["replacement"], occurrence, entry["reason"].strip()))
    return out


# ----------------------------------------------------------------------------- sampling
def _interleaved(mutants: list[Mutant], rng: random.Random) -> list[Mutant]:
    """``mutants`` of one module in a seeded order that takes the operators in turn."""
    by_op: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_op[m.operator].append(m)
    ops = sorted(by_op)
    for op in ops:
        rng.shuffle(by_op[op])
    rng.shuffle(ops)
    order = []
    while any(by_op[op] for op in ops):
        for op in ops:
            if by_op[op]:
                order.append(by_op[op].pop(0))
    return order


def _quotas(counts: dict[str, int], sample: int) -> dict[str, int]:
    """Split ``sample`` over modules: a floor share each (``sample // (2 * modules)``, at least 1, capped by what a
    module has), the rest in proportion to the modules' mutant counts (largest remainder, ties by name)."""
    total = sum(counts.values())
    sample = min(sample, total)
    floor = max(1, sample // (2 * len(counts)))
    quotas = {m: min(c, floor) for m, c in counts.items()}
    while sum(quotas.values()) < sample:
        left = sample - sum(quotas.values())
        room = {m: counts[m] - quotas[m] for m in counts if counts[m] > quotas[m]}
        weight = sum(room.values())
        exact = {m: left * r / weight for m, r in room.items()}
        add = {m: min(room[m], int(exact[m])) for m in room}
        if sum(add.values()) == 0:
            # the remainders: one more each to the largest fractional parts
            for m in sorted(room, key=lambda m: (-(exact[m] - int(exact[m])), m))[:left]:
                add[m] = 1
        for m, k in add.items():
            quotas[m] += k
    return quotas


def sample_candidates(mutants: list[Mutant], sample: int | None, seed: int) -> dict[str, tuple[int, list[Mutant]]]:
    """Per module: ``(quota, candidates in draw order)``.

    The run takes candidates in order until ``quota`` of them are neither
    equivalent nor compile errors. ``sample=None`` means every mutant.
    Deterministic in ``(mutants, sample, seed)``.
    """
    by_module: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_module[m.module].append(m)
    counts = {m: len(v) for m, v in by_module.items()}
    quotas = counts if sample is None else _quotas(counts, sample)
    return {m: (quotas[m], _interleaved(by_module[m], random.Random(f"{seed}:{m}"))) for m in sorted(by_module)}


# ----------------------------------------------------------------------------- tests
def _instantiators(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> modules that instantiate it directly."""
    known = {name for text in sources.values() for name in module_names(text)}
    parents: dict[str, set[str]] = {m: set() for m in known}
    for text in sources.values():
        own = set(module_names(text))
        for child in instantiated_modules(text, known - own):
            parents[child] |= own
    return parents


def relevant_tests(module: str, sources: dict[str, str], tests_dir: Path) -> list[Path]:
    """Test files of ``module`` and of every module above it, nearest first."""
    parents = _instantiators(sources)
    distance = {module: 0}
    frontier = [module]
    while frontier:
        nxt = []
        for m in frontier:
            for p in sorted(parents.get(m, ())):
                if p not in distance:
                    distance[p] = distance[m] + 1
                    nxt.append(p)
        frontier = nxt
    chosen: dict[Path, int] = {}
    for path in sorted(tests_dir.glob("test_*.py")):
        if path.name in EXCLUDED_TESTS:
            continue
        text = path.read_text()
        for m, d in distance.items():
            if path.name == f"test_{m}.py" or re.search(rf"""toplevel\s*=\s*["']{m}["']""", text):
                chosen[path] = min(d, chosen.get(path, d))
    return sorted(chosen, key=lambda p: (chosen[p], p.name != f"test_{module}.py", p.name))


def _local_imports(path: Path, tests_dir: Path, seen: set[Path]) -> None:
    """Add ``path`` and the tests_dir modules it imports (transitively) to ``seen``."""
    if path in seen or not path.exists():
        return
    seen.add(path)
    for mod in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", path.read_text(), re.M):
        candidate = tests_dir / f"{mod}.py"
        if candidate.exists():
            _local_imports(candidate, tests_dir, seen)


def fingerprint_of_test(test: Path, rtl_sources: dict[str, str], tests_dir: Path) -> str:
    """Hash of everything one test file's verdict on a mutant depends on (besides hwsim/ and the mutant)."""
    files: set[Path] = set()
    _local_imports(test, tests_dir, files)
    files |= set((tests_dir / "harness").glob("*.py"))
    files |= {tests_dir / "conftest.py", tests_dir.parent / "conftest.py"}
    digest = hashlib.sha256(TOOL_VERSION.encode())
    for path in sorted(p for p in files if p.exists()):
        digest.update(str(path.relative_to(tests_dir.parent)).encode() + b"\0" + path.read_bytes())
    for name in sorted(rtl_sources):
        digest.update(name.encode() + b"\0" + rtl_sources[name].encode())
    return digest.hexdigest()[:16]


def _summary(output: str) -> str:
    """The most telling line of a pytest run: its first FAILED/ERROR line, else its last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    # pytest's short summary ("FAILED tests/...::case - message"), not the simulator's log lines
    for kind in ("FAILED", "ERROR"):
        for ln in lines:
            if re.match(rf"{kind} \S+::", ln):
                return ln[:300]
    return lines[-1][:300] if lines else ""


def _run_pytest(test: Path, rtl_dir: Path, build_dir: Path, timeout_s: float) -> tuple[str, str, float]:
    """Run one test file on ``rtl_dir``; returns (status, summary, seconds), status passed/failed/timeout/error."""
    env = dict(os.environ)
    env.update({"HWSIM_RTL_DIR": str(rtl_dir), "HWSIM_SIM_BUILD": str(build_dir), "SIM": "icarus", "WAVES": "0",
                "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "300"})
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "-n", "0", str(test)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        # the whole session: pytest and the simulator it started
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", f"no verdict within {timeout_s:.0f} s", time.monotonic() - t0
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM): leave no simulator behind
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
        if re.search(r"\bskipped\b", out.splitlines()[-1] if out.strip() else ""):
            return "error", "tests were skipped: " + _summary(out), seconds
        return "passed", _summary(out), seconds
    if proc.returncode == 1:
        # A broken import of the test's own Python side (e.g. hwsim half edited) is not a kill.
        if _SETUP_FAILURE.search(out):
            return "error", "test set-up failed: " + _summary(out), seconds
        return "failed", _summary(out), seconds
    return "error", f"pytest exit {proc.returncode}: {_summary(out)}", seconds


def _run_pytest_retrying(test: Path, rtl_dir: Path, build_dir: Path, timeout_s: float,
                         retries: int) -> tuple[str, str, float]:
    """:func:`_run_pytest`, run again (after a pause) while the verdict is "error".

    An error is the test's Python side failing to set up (an import, a skip),
    which in a shared working tree is often someone's edit in progress.
    """
    for attempt in range(retries + 1):
        status, summary, seconds = _run_pytest(test, rtl_dir, build_dir, timeout_s)
        if status != "error" or attempt == retries:
            return status, summary, seconds
        _log(f"  {test.name}: {summary}; trying again in {RETRY_PAUSE_S:.0f} s")
        time.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")


def _compile_check(rtl_dir: Path, work: Path) -> str | None:
    """Icarus' first error on the sources in ``rtl_dir`` (default parameters), or None when they compile."""
    cmd = ["iverilog", "-g2012", "-o", str(work / "check.vvp")] + [str(p) for p in sorted(rtl_dir.glob("*.v"))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=ICARUS_COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"iverilog did not finish within {ICARUS_COMPILE_TIMEOUT_S:.0f} s"
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        return (errors[0] if errors else f"iverilog exit {proc.returncode}").replace(str(rtl_dir) + "/", "")[:300]
    return None


def _write_tree(root: Path, sources: dict[str, str]) -> Path:
    rtl = root / "rtl"
    rtl.mkdir(parents=True)
    for name, text in sources.items():
        (rtl / name).write_text(text)
    return rtl


# ----------------------------------------------------------------------------- output
def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scores(records: list[dict]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    per: dict[str, dict[str, int]] = {}
    for r in records:
        row = per.setdefault(r["module"], {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0,
                                           "compile-error": 0, "error": 0})
        row[r["status"]] += 1
    total = {k: sum(row[k] for row in per.values()) for k in ("killed", "timeout", "survived", "equivalent",
                                                                "compile-error", "error")}
    return dict(sorted(per.items())), total


def render_markdown(report: dict) -> str:
    """The markdown report of a run (``report`` as written to ``report.json``)."""
    t = report["total"]
    scored = t["killed"] + t["timeout"] + t["survived"]
    errors = f", {t['error']} errors (tool or test set-up)" if t["error"] else ""
    lines = [
        "# Mutation testing of rtl/",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Score: **{t['killed'] + t['timeout']} / {scored}** non-equivalent mutants killed "
        f"({t['timeout']} of them by timeout); {t['equivalent']} equivalent, {t['compile-error']} compile errors "
        f"(both left out of the score){errors}.",
        "",
        "| module | killed / scored | by timeout | survived | equivalent | compile error |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m, row in report["modules"].items():
        n = row["killed"] + row["timeout"] + row["survived"]
        lines.append(f"| {m} | {row['killed'] + row['timeout']} / {n} | {row['timeout']} | {row['survived']} | "
                     f"{row['equivalent']} | {row['compile-error']} |")
    sections = (("Survivors", "survived"), ("Equivalent mutants", "equivalent"),
                ("Compile errors (left out)", "compile-error"), ("Errors (tool or test set-up)", "error"))
    for title, status in sections:
        rows = [r for r in report["mutants"] if r["status"] == status]
        lines += ["", f"## {title}", ""]
        if not rows:
            lines.append("None.")
            continue
        for r in rows:
            lines.append(f"- `{r['file']}:{r['line']}` {r['operator']} (`{r['id']}`): "
                         f"`{r['original']}` -> `{r['replacement']}`")
            lines.append(f"  - `- {r['before']}`")
            lines.append(f"  - `+ {r['after']}`")
            if r.get("detail"):
                lines.append(f"  - {r['detail']}")
    if report.get("stale_equivalents"):
        lines += ["", "## Stale entries of equivalent.toml (match no mutant)", ""]
        lines += [f"- {e['file']}: `{e['line']}` {e['operator']} `{e['original']}` -> `{e['replacement']}`"
                  for e in report["stale_equivalents"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- run
def _read_sources(rtl_dir: Path) -> dict[str, str]:
    sources = {p.name: p.read_text() for p in sorted(rtl_dir.glob("*.v"))}
    if not sources:
        raise MutationError(f"no Verilog sources (*.v) in {rtl_dir}")
    return sources


def _load_cache(path: Path, use: bool) -> dict:
    if not use or not path.exists():
        return {"baseline": {}, "results": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"baseline": {}, "results": {}}
    return {"baseline": data.get("baseline", {}), "results": data.get("results", {})}


def _log(msg: str) -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace) -> int:
    sources = _read_sources(RTL_DIR)
    mutants = enumerate_mutants(sources)
    equivalents = load_equivalents(args.equivalent)
    eq_by_key = {e.key: e for e in equivalents}
    all_keys = {m.key for m in mutants}
    stale = [asdict(e) for e in equivalents if e.key not in all_keys]
    for e in stale:
        _log(f"warning: equivalent.toml entry matches no mutant: {e['file']}: {e['line']!r} {e['operator']}")

    if args.module:
        unknown = sorted(set(args.module) - {m.module for m in mutants})
        if unknown:
            raise MutationError(f"--module {', '.join(unknown)}: no such module; "
                                f"allowed {', '.join(sorted({m.module for m in mutants}))}")
        mutants = [m for m in mutants if m.module in args.module]
    if args.mutant:
        by_id = {m.id: m for m in mutants}
        unknown = [i for i in args.mutant if i not in by_id]
        if unknown:
            raise MutationError(f"--mutant {', '.join(unknown)}: no such mutant id (see --list)")
        plan = {m: (len(ids), [by_id[i] for i in ids])
                for m, ids in _group_ids(args.mutant, by_id).items()}
    else:
        plan = sample_candidates(mutants, None if args.all else args.sample, args.seed)

    out: Path = args.out
    cache_path = out / "cache.json"
    cache = _load_cache(cache_path, not args.no_cache)
    tests_of = {m: relevant_tests(m, sources, TESTS_DIR) for m in plan}
    fingerprints = {t: fingerprint_of_test(t, sources, TESTS_DIR) for ts in tests_of.values() for t in ts}

    if args.list:
        for module, (quota, candidates) in plan.items():
            _log(f"{module}: quota {quota} of {len(candidates)}; tests "
                 f"{', '.join(t.name for t in tests_of[module]) or '(none)'}")
            for m in candidates[:quota] if not args.all else candidates:
                a, b = diff_lines(sources[m.file], m)
                _log(f"  {m.id} rtl/{m.file}:{m.line} {m.operator}: {a}  =>  {b}")
        return 0

    missing = [m for m, ts in tests_of.items() if not ts]
    if missing:
        raise MutationError(f"no test file covers module(s) {', '.join(missing)} (looked for tests/rtl/test_<m>.py)")

    records: list[dict] = []
    command = args.command_line
    t_start = time.monotonic()

    def save() -> None:
        per, total = _scores(records)
        report = {"command": command, "seed": args.seed, "sample": None if args.all else args.sample,
                  "modules": per, "total": total, "mutants": records, "stale_equivalents": stale}
        _atomic_write(out / "report.json", json.dumps(report, indent=1) + "\n")
        _atomic_write(out / "report.md", render_markdown(report))
        if not args.no_cache:
            _atomic_write(cache_path, json.dumps(cache, indent=0, sort_keys=True) + "\n")

    with tempfile.TemporaryDirectory(prefix="hwsim-mutate-") as tmp_root:
        tmp = Path(tmp_root)
        # baseline: every test used must pass on the unmutated RTL, else every mutant would look killed
        base_rtl = _write_tree(tmp / "baseline", sources)
        needed = sorted({t for ts in tests_of.values() for t in ts})
        baseline_s: dict[Path, float] = {}
        for test in needed:
            fp = fingerprints[test]
            if fp in cache["baseline"]:
                baseline_s[test] = cache["baseline"][fp]
                continue
            _log(f"baseline: {test.name} ...")
            status, summary, seconds = _run_pytest_retrying(test, base_rtl, tmp / "baseline" / "sim_build", 3600.0,
                                                            args.retries)
            if status != "passed":
                raise MutationError(f"baseline: {test.relative_to(REPO)} does not pass on the unmutated rtl/ "
                                    f"({status}: {summary}); fix that first")
            baseline_s[test] = seconds
            cache["baseline"][fp] = seconds
            if not args.no_cache:
                _atomic_write(cache_path, json.dumps(cache, indent=0, sort_keys=True) + "\n")
            _log(f"baseline: {test.name} passed in {seconds:.0f} s")
        shutil.rmtree(tmp / "baseline", ignore_errors=True)
        # the module's own test first, then the quickest: most mutants die in the first file that runs
        for module, tests in tests_of.items():
            tests.sort(key=lambda t: (t.name != f"test_{module}.py", baseline_s[t], t.name))

        for module, (quota, candidates) in plan.items():
            scored = 0
            for m in candidates:
                if scored >= quota:
                    break
                before, after = diff_lines(sources[m.file], m)
                rec = dict(m.describe(), module=module, before=before, after=after)
                eq = eq_by_key.get(m.key)
                if eq is not None:
                    records.append(dict(rec, status="equivalent", detail=eq.reason))
                    _log(f"[{len(records)}] {m.id} rtl/{m.file}:{m.line} {m.operator}: equivalent (equivalent.toml)")
                    save()
                    continue
                work = tmp / m.id
                mutated = dict(sources)
                mutated[m.file] = apply_mutant(sources[m.file], m)
                rtl = _write_tree(work, mutated)
                error = _compile_check(rtl, work)
                if error is not None:
                    records.append(dict(rec, status="compile-error", detail=error))
                    _log(f"[{len(records)}] {m.id} rtl/{m.file}:{m.line} {m.operator}: compile error ({error})")
                    shutil.rmtree(work, ignore_errors=True)
                    save()
                    continue
                outcome = Outcome("survived")
                t0 = time.monotonic()
                for test in tests_of[module]:
                    fp = fingerprints[test]
                    cached = cache["results"].get(fp, {}).get(m.id)
                    if cached is None:
                        limit = max(MIN_TIMEOUT_S, args.timeout_factor * baseline_s[test])
                        status, summary, seconds = _run_pytest_retrying(test, rtl, work / "sim_build", limit,
                                                                        args.retries)
                        cached = {"status": status, "summary": summary}
                        if status != "error":
                            cache["results"].setdefault(fp, {})[m.id] = cached
                    outcome.tests.append(test.name)
                    if cached["status"] == "failed":
                        outcome = Outcome("killed", cached["summary"], test.name, tests=outcome.tests)
                        break
                    if cached["status"] == "timeout":
                        outcome = Outcome("timeout", cached["summary"], test.name, tests=outcome.tests)
                        break
                    if cached["status"] == "error":
                        outcome = Outcome("error", cached["summary"], test.name, tests=outcome.tests)
                        break
                outcome.seconds = round(time.monotonic() - t0, 1)
                shutil.rmtree(work, ignore_errors=True)
                if outcome.status == "survived":
                    outcome.detail = "passed: " + ", ".join(outcome.tests)
                records.append(dict(rec, status=outcome.status, detail=outcome.detail, killed_by=outcome.killed_by,
                                    seconds=outcome.seconds))
                if outcome.status != "error":
                    scored += 1
                _log(f"[{len(records)}] {m.id} rtl/{m.file}:{m.line} {m.operator} {m.original!r} -> "
                     f"{m.replacement!r}: {outcome.status} {outcome.killed_by} ({outcome.seconds:.0f} s, "
                     f"{time.monotonic() - t_start:.0f} s total)")
                save()
            if scored < quota:
                _log(f"{module}: only {scored} scorable mutants for a quota of {quota}")
    save()
    per, total = _scores(records)
    scored_n = total["killed"] + total["timeout"] + total["survived"]
    _log(f"score {total['killed'] + total['timeout']} / {scored_n} killed; {total['survived']} survived, "
         f"{total['equivalent']} equivalent, {total['compile-error']} compile errors, {total['error']} errors; "
         f"report in {out / 'report.md'}")
    return 1 if total["error"] else 0


def _group_ids(ids: list[str], by_id: dict[str, Mutant]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        groups[by_id[i].module].append(i)
    return dict(sorted(groups.items()))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.rtl.mutation",
                                description="Mutation testing of rtl/ against the RTL tests (Icarus, one worker).")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                      help=f"scorable mutants to draw, spread over all modules (default {DEFAULT_SAMPLE})")
    what.add_argument("--all", action="store_true", help="every mutant")
    what.add_argument("--mutant", action="append", metavar="ID", help="only this mutant (repeatable; ids: --list)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"sampling seed (default {DEFAULT_SEED})")
    p.add_argument("--module", action="append", metavar="NAME", help="only mutants of this module (repeatable)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default mutation-out/)")
    p.add_argument("--equivalent", type=Path, default=EQUIVALENT_FILE, help="equivalent-mutant list (TOML)")
    p.add_argument("--timeout-factor", type=float, default=4.0,
                   help=f"time limit per test file = factor x its unmutated time, at least {MIN_TIMEOUT_S:.0f} s")
    p.add_argument("--retries", type=int, default=3,
                   help="runs again of a test file whose Python side fails to set up (default 3, a minute apart)")
    p.add_argument("--no-cache", action="store_true", help="run every test again (ignore <out>/cache.json)")
    p.add_argument("--list", action="store_true", help="list the selected mutants and their tests; run nothing")
    return p


def terminate_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so the temporary rtl/ copies and the running test are cleaned up."""

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    args.command_line = " ".join(["python -m tests.rtl.mutation", *argv]).strip()
    try:
        if args.sample is not None and args.sample < 1:
            raise MutationError(f"--sample {args.sample}: must be >= 1")
        if args.retries < 0:
            raise MutationError(f"--retries {args.retries}: must be >= 0")
        if args.timeout_factor <= 0:
            raise MutationError(f"--timeout-factor {args.timeout_factor}: must be > 0")
        args.out = args.out.resolve()
        return run(args)
    except MutationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

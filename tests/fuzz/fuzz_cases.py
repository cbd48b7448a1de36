"""Shared machinery of the fuzz suite: example budgets, sandboxes, the in-process CLI and the property.

The property every fuzz test checks (issue 12 §2, §4; README's error-handling promise):

* a loader either returns or raises a :class:`hwsim.errors.HwsimError` whose message is one
  non-empty line; any other exception type is a bug (it would be a traceback and exit 1);
* ``hwsim.cli.main(argv)`` returns 0, or 2 with exactly one line on stderr naming the problem
  (after argparse's usage block, for argument errors), and never raises, never returns another
  status, never lets a Python warning out;
* no file outside the command's output changes: every example runs in a fresh sandbox (the
  current directory during the run) and the sandbox, a sibling folder and the package's data
  files are compared before and after. A failed command leaves no file behind at all.

Budgets: ``make test`` runs the ``quick`` profile (a few examples per test, the whole suite well
under a minute on one core); ``make fuzz`` sets ``HYPOTHESIS_PROFILE=fuzz`` for thousands of cases.
Both are derandomized, so a run is reproducible and CI is deterministic.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import resource
import shlex
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings

import hwsim.config
from hwsim.errors import HwsimError

__all__ = [
    "PROFILE",
    "budget",
    "Sandbox",
    "CliOutcome",
    "run_cli",
    "check_cli",
    "check_loader",
    "PACKAGE_DATA_DIRS",
    "Mutated",
]

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
if PROFILE not in ("quick", "fuzz"):
    raise RuntimeError(
        f"HYPOTHESIS_PROFILE={PROFILE!r}: the fuzz suite knows 'quick' (make test) and 'fuzz' (make fuzz)"
    )

# Files a command must never touch, whatever its arguments: the package's own data.
PACKAGE_DATA_DIRS = [Path(hwsim.config.__file__).parent / d for d in ("configs", "data", "energy/tables")]

# Address space a single example may add before an allocation fails with MemoryError: a loader
# that trusts a huge declared size then fails fast (and the test reports it) instead of swapping
# the shared machine to death.
EXAMPLE_MEMORY_BYTES = 3 << 30


def budget(quick: int, fuzz: int) -> settings:
    """Hypothesis settings with ``quick`` examples under ``make test`` and ``fuzz`` under ``make fuzz``."""
    return settings(
        max_examples=fuzz if PROFILE == "fuzz" else quick,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class Mutated:
    """Generated file contents with a short description of how they were made: Hypothesis prints the
    description (not kilobytes of bytes) for a failing example."""

    __slots__ = ("what", "data")

    def __init__(self, what: str, data: bytes) -> None:
        self.what = what
        self.data = data

    def __repr__(self) -> str:
        return f"<{self.what}; {len(self.data)} bytes>"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash (files), ``"dir"`` (folders) or ``"link"``, for everything under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = "link" if p.is_symlink() else "dir"
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = "link" if p.is_symlink() or not p.is_file() else _digest(p)
    return out


@contextlib.contextmanager
def memory_cap(extra_bytes: int = EXAMPLE_MEMORY_BYTES) -> Iterator[None]:
    """Cap this process's address space at its current size + ``extra_bytes`` while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as fh:
        current = int(fh.read().split()[0]) * resource.getpagesize()
    cap = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class Sandbox:
    """A fresh temporary folder for one example: ``work/`` (the current directory while a command runs),
    ``outside/`` (a sibling holding a file no command is asked to write) and ``tmp/`` (the command's
    ``tempfile`` folder, so that temporary files it leaves behind are seen).

    ``freeze()`` records the tree; ``changes()`` lists what differs since then.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hwsim-fuzz-"))
        self.work = self.root / "work"
        self.outside = self.root / "outside"
        self.tmp = self.root / "tmp"  # the temporary folder of the command under test: leftovers show up here
        self.work.mkdir()
        self.outside.mkdir()
        self.tmp.mkdir()
        (self.outside / "keep.txt").write_text("a file next to the working folder; no command may touch it\n")
        self._before: dict[str, str] = {}
        self._package_before: dict[str, dict[str, str]] = {}

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def freeze(self) -> None:
        self._before = snapshot(self.root)
        self._package_before = {str(d): snapshot(d) for d in PACKAGE_DATA_DIRS}

    def before(self) -> dict[str, str]:
        return dict(self._before)

    def changes(self) -> tuple[dict[str, str], dict[str, str]]:
        """(before, after) restricted to the paths that differ, sandbox-relative."""
        after = snapshot(self.root)
        keys = set(self._before) | set(after)
        diff = {k for k in keys if self._before.get(k) != after.get(k)}
        return {k: self._before[k] for k in diff if k in self._before}, {k: after[k] for k in diff if k in after}

    def package_changes(self) -> list[str]:
        changed = []
        for d, before in self._package_before.items():
            after = snapshot(Path(d))
            changed += [f"{d}/{k}" for k in set(before) | set(after) if before.get(k) != after.get(k)]
        return changed


@dataclass
class CliOutcome:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    warnings: list[str]

    def describe(self) -> str:
        return (f"hwsim {shlex.join(self.argv)}\n  exit status {self.code}\n  stderr:\n"
                + "".join(f"    | {line}\n" for line in self.stderr.splitlines()[-15:])
                + ("  warnings: " + "; ".join(self.warnings) + "\n" if self.warnings else ""))


def run_cli(argv: Sequence[str], cwd: Path) -> CliOutcome:
    """``hwsim.cli.main(argv)`` in this process with ``cwd`` as the current directory.

    Any exception other than ``SystemExit`` propagates: that is the traceback the property forbids,
    and Hypothesis then shrinks the input that caused it.
    """
    from hwsim.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_tempdir = os.getcwd(), tempfile.tempdir
    os.chdir(cwd)
    tempfile.tempdir = str(Path(cwd).parent / "tmp") if (Path(cwd).parent / "tmp").is_dir() else old_tempdir
    try:
        with warnings.catch_warnings(record=True) as caught, memory_cap():
            warnings.simplefilter("always")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(argv))
                except SystemExit as exc:  # argparse errors (2) and --help (0)
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = old_tempdir
    return CliOutcome(list(argv), code, out.getvalue(), err.getvalue(),
                      [f"{w.category.__name__}: {w.message}" for w in caught])


# One line naming the problem: "hwsim CMD: error: ..." (the CLI's own) or argparse's "hwsim CMD: error: ...".
_ERROR_LINE = re.compile(r"^hwsim(?: [a-z_]+)?: error: \S.{8,}$")
_WARNING_LINE = re.compile(r"^hwsim(?: [a-z_]+)?: warning: ")
# NumPy's advice that must never reach a user (issue 12 §2): loading files unsafely.
_FORBIDDEN_ADVICE = ("allow_pickle", "unsafe")


_QUIET_FLAGS = ("-q", "--quiet")  # train has none: its --no-progress only hides the bar, not its summary lines
_PROBLEM = re.compile(r"error|traceback|exception|File \"", re.IGNORECASE)


def _error_lines(stderr: str, quiet: bool) -> list[str]:
    """The lines of ``stderr`` that may name a problem.

    Quiet (``-q``): every line except argparse's usage block and warning lines, so a failed quiet
    command must print exactly its one error line. Otherwise progress messages and bars
    are expected too, and only lines that look like a problem (an error, a traceback) count.
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    kept, in_usage = [], False
    for line in lines:
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        if _WARNING_LINE.match(line):
            continue
        if quiet or _PROBLEM.search(line):
            kept.append(line)
    return kept


def check_cli(outcome: CliOutcome, sandbox: Sandbox, outputs: Sequence[str] = (), inputs: Sequence[str] = ()) -> None:
    """Assert the CLI property for one run.

    Args:
        outcome: The run.
        sandbox: Its sandbox, frozen before the run.
        outputs: The output paths named on the command line (relative to ``sandbox.work``). On
            success, a file that existed before may change only inside one of these, only if that
            folder held an earlier output of hwsim (a marker file), and only if it is not an input.
        inputs: Input paths named on the command line; they must survive any run unchanged.
    """
    what = outcome.describe()
    assert outcome.code in (0, 2), f"exit status must be 0 or 2:\n{what}"
    assert not outcome.warnings, f"a Python warning escaped to the user:\n{what}"
    before, after = sandbox.changes()
    assert not sandbox.package_changes(), f"the package's data files changed: {sandbox.package_changes()}\n{what}"
    leftovers = [k for k in after if ".tmp" in Path(k).name or Path(k).name.startswith(".hwsim")]
    assert not leftovers, f"temporary files left behind: {leftovers}\n{what}"
    if outcome.code == 2:
        lines = _error_lines(outcome.stderr, quiet=any(flag in outcome.argv for flag in _QUIET_FLAGS))
        assert len(lines) == 1, f"exit 2 needs exactly one line naming the problem on stderr, got {len(lines)}:\n{what}"
        assert _ERROR_LINE.match(lines[0]), f"the error line must read 'hwsim CMD: error: <what is wrong>':\n{what}"
        last = [line for line in outcome.stderr.splitlines() if line.strip()][-1]
        assert last == lines[0], f"the error line must be the last line on stderr:\n{what}"
        assert not any(a in lines[0] for a in _FORBIDDEN_ADVICE), f"the message repeats NumPy's advice:\n{what}"
        assert not before and not after, (
            f"a failed command changed files: removed/changed {sorted(before)}, new/changed {sorted(after)}\n{what}"
        )
        return
    work = sandbox.work.resolve()
    prefix = os.path.relpath(work, sandbox.root.resolve())
    marker_names = ("report.json", "yield.json", "mapping.json")
    replaceable = []
    for out in outputs:
        target = (work / out).resolve()
        rel = os.path.relpath(target, sandbox.root.resolve())
        if rel.startswith(".."):
            continue
        if any(f"{rel}/{m}" in sandbox.before() for m in marker_names):
            replaceable.append(rel)
    protected_inputs = {os.path.relpath((work / i).resolve(), sandbox.root.resolve()) for i in inputs}
    for path in before:
        inside_output = any(path == r or path.startswith(r + "/") for r in replaceable)
        assert inside_output and path not in protected_inputs, (
            f"a file that existed before the run changed or vanished: {path}\n{what}"
        )
    for path in after:
        assert path.startswith(prefix + "/") or path in before, (
            f"a file appeared outside the working folder: {path}\n{what}"
        )


def check_loader(load: Callable[[], object], what: str) -> object | None:
    """Call ``load()``; it may return, or raise a HwsimError with a one-line message. Returns its result or None."""
    with warnings.catch_warnings(record=True) as caught, memory_cap():
        warnings.simplefilter("always")
        try:
            result = load()
        except HwsimError as exc:
            message = str(exc)
            assert message.strip(), f"{what}: {type(exc).__name__} with an empty message"
            assert "\n" not in message.strip(), f"{what}: the message is not one line: {message!r}"
            assert not any(a in message for a in _FORBIDDEN_ADVICE), (
                f"{what}: the message repeats NumPy's advice: {message!r}"
            )
            result = None
    assert not caught, f"{what}: a Python warning escaped: {[str(w.message) for w in caught]}"
    return result

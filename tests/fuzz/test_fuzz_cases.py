"""The fuzz suite's property checker itself: every breach it exists to catch is caught.

Each case replaces ``hwsim.cli.main`` with a stand-in that misbehaves in one way and checks that
``check_cli`` (or ``run_cli``) fails; the well-behaved stand-ins must pass. Catches: a checker that
has gone blind (a fuzz suite that cannot fail).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import pytest

import hwsim.cli
from fuzz_cases import Sandbox, check_cli, check_loader, run_cli
from hwsim.errors import ConfigError


def _error(message: str) -> int:
    print(f"hwsim run: error: {message}", file=sys.stderr)
    return 2


def _write_out(argv) -> int:
    Path("out").mkdir()
    (Path("out") / "report.json").write_text("{}")
    return 0


BREACHES = {
    "exit status 1": lambda argv: 1,
    "exit status 3": lambda argv: 3,
    "two error lines": lambda argv: (print("hwsim run: error: one\nhwsim run: error: two", file=sys.stderr), 2)[1],
    "no error line": lambda argv: 2,
    "an error without the command prefix": lambda argv: (print("ValueError: bad", file=sys.stderr), 2)[1],
    "NumPy's pickle advice": lambda argv: _error("cannot load: pass allow_pickle=True to load it"),
    "a warning": lambda argv: (warnings.warn("careful", RuntimeWarning, stacklevel=1), 0)[1],
    "input deleted on success": lambda argv: (Path("inputs/net.npz").unlink(), 0)[1],
    "input changed on success": lambda argv: (Path("inputs/net.npz").write_bytes(b"x"), 0)[1],
    "output written, then exit 2": lambda argv: (_write_out(argv), _error("too late"))[1],
    "a file outside the working folder": lambda argv: ((Path("..") / "outside" / "new.txt").write_text("x"), 0)[1],
    "the sibling folder's file changed": lambda argv: ((Path("..") / "outside" / "keep.txt").write_text("x"), 0)[1],
    "a temporary file left behind": lambda argv: (tempfile.mkstemp(), 0)[1],
    "an atomic-write leftover": lambda argv: (Path("out.tmp-123").write_text("x"), 0)[1],
}


def _sandbox_with_input() -> Sandbox:
    sandbox = Sandbox()
    (sandbox.work / "inputs").mkdir()
    (sandbox.work / "inputs" / "net.npz").write_bytes(b"a network")
    sandbox.freeze()
    return sandbox


@pytest.mark.parametrize("breach", sorted(BREACHES))
def test_each_breach_is_caught(monkeypatch, breach):
    monkeypatch.setattr(hwsim.cli, "main", BREACHES[breach])
    with _sandbox_with_input() as sandbox:
        with pytest.raises(AssertionError):
            check_cli(run_cli(["run"], sandbox.work), sandbox, outputs=["out"], inputs=["inputs/net.npz"])


def test_an_exception_propagates(monkeypatch):
    def crash(argv):
        raise KeyError("boom")

    monkeypatch.setattr(hwsim.cli, "main", crash)
    with _sandbox_with_input() as sandbox:
        with pytest.raises(KeyError):
            run_cli(["run"], sandbox.work)


@pytest.mark.parametrize("behaviour", ["one error line", "usage then the error", "output on success", "help"])
def test_good_behaviour_passes(monkeypatch, behaviour):
    def usage(argv):
        print("usage: hwsim run [-h]\n            [--limit N]", file=sys.stderr)
        return _error("argument --limit: invalid int value: 'x'")

    def help_(argv):
        raise SystemExit(0)

    fake = {"one error line": lambda argv: _error("--limit -1: expected a positive number of images"),
            "usage then the error": usage, "output on success": _write_out, "help": help_}[behaviour]
    monkeypatch.setattr(hwsim.cli, "main", fake)
    with _sandbox_with_input() as sandbox:
        outcome = run_cli(["run"], sandbox.work)
        check_cli(outcome, sandbox, outputs=["out"], inputs=["inputs/net.npz"])


def test_loader_checker():
    def two_lines():
        raise ConfigError("first line\nsecond line")

    def advice():
        raise ConfigError("x.npz: Object arrays cannot be loaded when allow_pickle=False")

    def other():
        raise TypeError("int() argument must be a string")

    for bad in (two_lines, advice):
        with pytest.raises(AssertionError):
            check_loader(bad, bad.__name__)
    with pytest.raises(TypeError):
        check_loader(other, "other")
    assert check_loader(lambda: 5, "fine") == 5
    assert check_loader(lambda: (_ for _ in ()).throw(ConfigError("core.axons = 0: allowed 1..4096")), "ok") is None


def test_quiet_commands_print_only_their_error(monkeypatch):
    # With -q, a progress line before the error is a breach; without it, progress lines are expected.
    def chatty(argv):
        print("[   0.0 s] loading dataset digits", file=sys.stderr)
        return _error("--limit -1: expected a positive number of images")

    monkeypatch.setattr(hwsim.cli, "main", chatty)
    with _sandbox_with_input() as sandbox:
        check_cli(run_cli(["run"], sandbox.work), sandbox)
        with pytest.raises(AssertionError):
            check_cli(run_cli(["run", "-q"], sandbox.work), sandbox)


def test_the_error_line_comes_last(monkeypatch):
    def late(argv):
        _error("--limit -1: expected a positive number of images")
        print("[   0.1 s] done", file=sys.stderr)
        return 2

    monkeypatch.setattr(hwsim.cli, "main", late)
    with _sandbox_with_input() as sandbox:
        with pytest.raises(AssertionError):
            check_cli(run_cli(["run"], sandbox.work), sandbox)

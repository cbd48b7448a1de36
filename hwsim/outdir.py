"""Output folders written as a whole: path checks before any work, atomic replacement, clean-up.

Every command that writes a folder (``hwsim run``, ``report``, ``map``, ``yield``) and every output file of
the CLI goes through here, so all outputs are checked and replaced the same way:

- :func:`check_output_path` fails before any work if a file or folder cannot be written there;
- :func:`check_outdir` also refuses a folder that holds something other than an earlier output of the same
  kind (recognised by its *marker* file, e.g. ``report.json``) or that holds one of the inputs;
- :func:`atomic_outdir` builds the folder as a hidden sibling ``.NAME.tmp-PID-XXXXXXXX`` and renames it over
  ``NAME`` when complete (the earlier folder is moved aside as ``.NAME.old-PID-XXXXXXXX`` for that instant);
  a failure, SIGINT or SIGTERM leaves ``NAME`` as it was;
- :func:`remove_stale_temps` removes what killed runs left behind. The PID in the temporary names lets a
  later run tell a leftover of a killed run from the work of a running one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hwsim.errors import HwsimError

__all__ = [
    "OutputPathError",
    "check_output_path",
    "refuse_inputs_inside",
    "check_outdir",
    "remove_stale_temps",
    "atomic_outdir",
]


class OutputPathError(HwsimError):
    """An output file or folder cannot be written where asked (names the option, the path and the problem)."""


_RANDOM_TAIL = r"[a-z0-9_]{8}"  # tempfile.mkdtemp's random part


def _temp_prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temps(outdir: str | Path) -> list[Path]:
    """Remove the hidden temporary folders that killed runs left next to ``outdir``; return what was removed.

    Only folders named exactly as :func:`atomic_outdir` names them (``.NAME.tmp-PID-XXXXXXXX`` and
    ``.NAME.old-PID-XXXXXXXX`` for this ``NAME``) whose process no longer runs are touched. A leftover
    ``.old-`` folder while ``outdir`` itself is missing is the earlier output (the run died between its two
    renames): it is put back as ``outdir`` instead of being removed.
    """
    outdir = Path(os.path.abspath(outdir))
    parent = outdir.parent
    pattern = re.compile(rf"\.{re.escape(outdir.name)}\.(tmp|old)-(\d+)-{_RANDOM_TAIL}")
    removed = []
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir() or _pid_alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not os.path.lexists(outdir):
            os.replace(entry, outdir)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _name_max(folder: Path) -> tuple[int, int]:
    """The longest file name and path the file system holding ``folder`` takes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 255, 4096


def check_output_path(path: str | Path, what: str, *, folder: bool) -> Path:
    """Fail before any work if ``path`` cannot be written: the one check behind every output of the CLI.

    Refuses an empty name, a folder where a file is wanted (and a file where a folder is wanted), a path
    under a file, a folder the process cannot create files in, and names too long for the file system
    (including the hidden temporary name the atomic writers use). Creates nothing that stays.

    Args:
        path: The output file or folder.
        what: How the user named it, for the message (e.g. ``"-o/--outdir"``).
        folder: True for an output folder, False for an output file.

    Raises:
        OutputPathError: one line naming ``what``, the path and the problem.
    """
    text = os.fspath(path)
    kind = "folder" if folder else "file"
    if not text.strip():
        raise OutputPathError(f"{what} {text!r}: expected a {kind} name, got an empty string")
    if "\0" in text:
        raise OutputPathError(f"{what} {text!r}: a file name cannot hold a NUL character")
    absolute = Path(os.path.abspath(text))
    ancestor = absolute
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if ancestor == absolute:
        if folder and not absolute.is_dir():
            raise OutputPathError(f"{what} {text!r} is a file, not a folder; give a folder name")
        if not folder and absolute.is_dir():
            raise OutputPathError(f"{what} {text!r} is a folder; give a file name")
        ancestor = absolute.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{what} {text!r}: {str(ancestor)!r} is a file, so nothing can be created under it")
    name_max, path_max = _name_max(ancestor)
    temp = _temp_prefix(absolute.name, "tmp") + "x" * 8 if folder else f".{absolute.name}.xxxxxxxx.tmp"
    for name in [*absolute.parts[len(ancestor.parts):], temp]:
        if len(os.fsencode(name)) > name_max:
            raise OutputPathError(f"{what} {text!r}: the name {name[:40]!r}... is {len(os.fsencode(name))} bytes, "
                              f"too long for the file system (at most {name_max} bytes, including the "
                              "temporary name used while writing)")
    if len(os.fsencode(str(absolute.parent / temp))) >= path_max:
        raise OutputPathError(f"{what} {text!r}: the path is too long for the file system "
                              f"(at most {path_max} bytes)")
    try:  # the real test of writability (os.access says yes to root even on a read-only file system)
        os.rmdir(tempfile.mkdtemp(dir=ancestor, prefix=_temp_prefix(absolute.name, "tmp")))
    except OSError as exc:
        raise OutputPathError(f"{what} {text!r}: cannot create files in {str(ancestor)!r} "
                          f"({exc.strerror or exc})") from None
    return Path(text)


def refuse_inputs_inside(outdir: str | Path, inputs: dict[str, str | Path | None], what: str = "-o/--outdir") -> None:
    """Refuse to replace a folder that holds one of the inputs (replacing it would delete the input).

    Paths are compared both as written (made absolute) and with every symlink resolved, so an input reached
    through a link into the folder, or a folder reached through a link, is caught too.

    Args:
        outdir: The folder that will be replaced.
        inputs: How the user named each input (e.g. ``"--net"``) -> its path; None entries are skipped.

    Raises:
        OutputPathError: naming the input, the folder and both resolved paths.
    """
    targets = {os.path.abspath(outdir), os.path.realpath(outdir)}
    for label, path in inputs.items():
        if path is None or os.fspath(path) == "":
            continue
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            for target in targets:
                if candidate == target or candidate.startswith(target.rstrip(os.sep) + os.sep):
                    raise OutputPathError(
                        f"{label} {str(path)!r} ({candidate}) lies inside the output folder {str(outdir)!r} "
                        f"({target}), which is replaced as a whole: writing would delete the input; "
                        f"choose another {what} or move the input out first"
                    )


def check_outdir(outdir: str | Path, marker: str, *,
                 inputs: dict[str, str | Path | None] | None = None, what: str = "-o/--outdir") -> Path:
    """Fail early if ``outdir`` cannot take a new output: see :func:`check_output_path` and
    :func:`refuse_inputs_inside`; a folder is replaced only if it is empty or holds an earlier output.

    Args:
        outdir: Output folder.
        marker: The file that marks an earlier output of the same kind (which may be replaced).
        inputs: The command's input files and folders by option name; none may lie inside ``outdir``.
        what: How the user named the folder, for messages.

    Raises:
        OutputPathError: naming the folder and why.
    """
    outdir = check_output_path(outdir, what, folder=True)
    if outdir.is_dir() and any(outdir.iterdir()) and not (outdir / marker).exists():
        raise OutputPathError(
            f"output folder {str(outdir)!r} is not empty and holds no earlier {marker}; "
            f"refusing to replace it (choose another {what})"
        )
    refuse_inputs_inside(outdir, inputs or {}, what)
    return outdir


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)`` while the block runs, so ``finally``/``except`` clean-ups run.

    Only in the main thread (the only one Python delivers signals to) and only if nobody else handles
    SIGTERM; the earlier handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL, None
    ):
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)  # 143, what a shell reports for a process ended by SIGTERM

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_outdir(outdir: str | Path, marker: str) -> Iterator[Path]:
    """Write a whole output folder atomically: yields a temporary folder next to ``outdir``.

    When the ``with`` block completes, the temporary folder replaces ``outdir``
    (an earlier output holding ``marker`` is removed); if the block raises, or
    the process gets SIGINT or SIGTERM, the temporary folder is deleted and
    ``outdir`` is left as it was. Temporary folders that killed runs left
    behind (SIGKILL, power loss) are removed first, see :func:`remove_stale_temps`.

    Raises:
        OutputPathError: ``outdir`` is a file, or a folder that holds something other than an earlier output.
    """
    outdir = check_outdir(outdir, marker)
    absolute = Path(os.path.abspath(outdir))
    absolute.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(outdir)
    with _sigterm_raises():
        tmp = Path(tempfile.mkdtemp(dir=absolute.parent, prefix=_temp_prefix(absolute.name, "tmp")))
        try:
            yield tmp
            os.chmod(tmp, 0o755)
            old = None
            if outdir.exists():
                old = Path(tempfile.mkdtemp(dir=absolute.parent, prefix=_temp_prefix(absolute.name, "old")))
                os.rmdir(old)
                os.replace(outdir, old)
            try:
                os.replace(tmp, outdir)
            except BaseException:
                if old is not None:
                    os.replace(old, outdir)  # put the earlier output back
                raise
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


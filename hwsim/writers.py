"""Writing files so that nothing is half-written: a reader sees the old file or the whole new one.

Output folders as a whole (replace, refuse, clean up after a signal) are :mod:`hwsim.outdir`'s job;
reading files from users is :mod:`hwsim.readers`'.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "figure_png"]


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a hidden temporary file in the same folder (so the final rename stays on one
    file system), are flushed to disk, and replace ``path`` in one ``os.replace``. On any
    exception, ``KeyboardInterrupt`` and ``SystemExit`` included, the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file owner-only; give it the mode a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def figure_png(fig, path: str | Path | None = None, *, dpi: float | None = None) -> bytes:
    """A matplotlib figure as PNG bytes (cropped to its content), also written atomically to ``path`` if given.

    ``dpi`` None keeps matplotlib's default for saving (the figure's own dpi).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    data = buf.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data

"""Compile options of every Numba kernel, in one place (as numbagg's ``decorators.py``).

Kernels are compiled lazily, on their first call, never at import time.
``cache=True`` keeps compiled machine code on disk between processes (tests
give each worker its own ``NUMBA_CACHE_DIR``; concurrent writers to one cache
can corrupt it, numba #4807). ``fastmath`` stays off: every kernel here must be
bit-exact. ``error_model="numpy"`` drops the Python division-by-zero checks;
kernels guard their divisions themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numba

__all__ = ["COMPILE_OPTIONS", "jit"]

COMPILE_OPTIONS: dict = {
    "nogil": True,
    "cache": True,
    "fastmath": False,
    "error_model": "numpy",
    "boundscheck": False,
}


def jit(fn: Callable) -> Callable:
    """Compile a kernel with the project's options.

    Kernels are serial and release the GIL (``nogil``): the engine runs them on
    disjoint image ranges from a pool of Python threads, which needs no
    ``parallel=True`` (parfor) compilation and makes results trivially
    independent of the thread count.
    """
    return numba.njit(**COMPILE_OPTIONS)(fn)


"""Compile options of every Numba kernel, in one place (as numbagg's ``decorators.py``).

Kernels are compiled lazily, on their first call, never at import time.
``cache=True`` keeps compiled machine code on disk between processes (tests
give each worker its own ``NUMBA_CACHE_DIR``; concurrent writers to one cache
can corrupt it, numba #4807). ``fastmath`` stays off: every kernel here must be
bit-exact. ``error_model="numpy"`` drops the Python division-by-zero checks;
kernels guard their divisions themselves.

Kernels call kernels of other modules of this package (``chip_pass`` calls the
core, host port and router kernels), and a cached kernel contains the machine
code of everything it calls. Numba stamps a cache entry with the source of the
caller's own file only (numba #1833), so an edit of ``router.py`` would leave a
stale ``chip_pass`` in the cache. :func:`package_source_stamp` stamps every
kernel with the source of the whole package instead: any edit of any kernel
file recompiles them all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numba
from numba.core import caching

__all__ = ["COMPILE_OPTIONS", "jit", "package_source_stamp", "KERNEL_DIR"]

COMPILE_OPTIONS: dict = {
    "nogil": True,
    "cache": True,
    "fastmath": False,
    "error_model": "numpy",
    "boundscheck": False,
}

#: The folder of the kernel modules; every ``.py`` file in it is part of every kernel's cache stamp.
KERNEL_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _digest(files: tuple[tuple[str, float, int], ...]) -> bytes:
    h = hashlib.sha256()
    for name, _, _ in files:
        h.update(name.encode())
        h.update((KERNEL_DIR.parent / name).read_bytes())
    return h.digest()


def package_source_stamp() -> bytes:
    """SHA-256 over the names and contents of every ``.py`` file of :data:`KERNEL_DIR` and of ``hwsim/neuron.py``
    (memoised on mtime/size)."""
    files = []
    # hwsim/neuron.py too: the kernels compare with its mode codes, which Numba freezes into the machine code
    for path in [*sorted(KERNEL_DIR.glob("*.py")), KERNEL_DIR.parent / "neuron.py"]:
        st = os.stat(path)
        files.append((path.relative_to(KERNEL_DIR.parent).as_posix(), st.st_mtime, st.st_size))
    return _digest(tuple(files))


def _package_stamped(base: type) -> type:
    # A locator of Numba's own kind (same cache folder) that answers only for kernel files and
    # stamps them with the whole package (see the module docstring).
    class Locator(base):
        def get_source_stamp(self):
            return package_source_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != KERNEL_DIR:
                return None
            return super().from_function(py_func, py_file)

    Locator.__name__ = Locator.__qualname__ = f"PackageStamped{base.__name__}"
    return Locator


# Numba's locator list is a class attribute of its (internal) CacheImpl; if a release renames it,
# kernels keep Numba's per-file stamp (correct for users, stale only while editing kernels).
_LOCATORS = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
if isinstance(_LOCATORS, list) and not any(getattr(c, "__name__", "").startswith("PackageStamped") for c in _LOCATORS):
    _LOCATORS[:0] = [_package_stamped(c) for c in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator,
                                                   caching.UserWideCacheLocator)]


def jit(fn: Callable) -> Callable:
    """Compile a kernel with the project's options.

    Kernels are serial and release the GIL (``nogil``): the engine runs them on
    disjoint image ranges from a pool of Python threads, which needs no
    ``parallel=True`` (parfor) compilation and makes results trivially
    independent of the thread count.
    """
    return numba.njit(**COMPILE_OPTIONS)(fn)

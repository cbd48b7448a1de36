"""Package namespaces that import their submodules on first use (PEP 562 module ``__getattr__``).

``import hwsim.cli`` runs ``hwsim/__init__.py`` first, and ``import hwsim.training.bundled`` runs
``hwsim/training/__init__.py``: a package file that imported every submodule would make each command pay
for all of them (NumPy, SciPy, Numba, the trainer, the NIR reader). With :func:`lazy_exports` a package
lists its public names and where they live; ``from hwsim import Network`` and ``mapping.map_network``
work as before, and import their module only when first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on first use.

    Args:
        package: The package's ``__name__``.
        exports: Submodule (full name) -> the public names it defines.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level. A name of ``exports`` is imported from
        its submodule and stored in the package (later lookups are plain attribute reads); any other public
        name is tried as a submodule (``import hwsim; hwsim.report.evaluate`` worked when the package file
        imported its submodules eagerly); anything else raises ``AttributeError``.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        namespace = sys.modules[package]
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
            setattr(namespace, name, value)
            return value
        if not name.startswith("_"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise  # the submodule exists but one of its own imports is missing
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__

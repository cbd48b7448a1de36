"""Errors of the mapper: a network that does not fit a chip, or breaks a design rule."""

from __future__ import annotations

from hwsim.errors import HwsimError

__all__ = ["MappingError", "DRCError", "DRCWarning"]


class MappingError(HwsimError):
    """The network cannot be mapped onto the chip; the message names the rule and the layer."""


class DRCError(MappingError):
    """A design rule is violated.

    Attributes:
        rule: Name of the violated rule (also the name of its check function in :mod:`mapping.drc`).
        layer: The layer or graph node at fault ("" when the rule is about the whole network).
        needed: What the network needs.
        available: What the chip offers.
    """

    def __init__(self, rule: str, layer: str, needed: str, available: str) -> None:
        self.rule, self.layer, self.needed, self.available = rule, layer, needed, available
        where = f" at {layer}" if layer else ""
        super().__init__(f"design rule {rule} violated{where}: needs {needed}; the chip has {available}")


class DRCWarning(UserWarning):
    """A soft design rule: the mapping works but approximates the source network."""

"""Exceptions raised for bad input. Each message names the field, the value and what is allowed."""

__all__ = ["HwsimError", "ConfigError", "ProgramError", "InputError", "ReportError"]


class HwsimError(ValueError):
    """Base class of every error hwsim raises for bad input."""


class ConfigError(HwsimError):
    """A chip or core configuration is malformed or out of range."""


class ProgramError(HwsimError):
    """A chip program (weights, registers, routes) does not fit the chip."""


class InputError(HwsimError):
    """Input spikes or images have the wrong shape, type or values."""


class ReportError(HwsimError):
    """A report cannot be built or written (names the file or value at fault)."""

"""hwsim: a cycle-accurate simulator of a spike-sparse neuromorphic accelerator."""

from hwsim.lazy_imports import lazy_exports

__version__ = "0.1.0"

# Loaded on first use, so that `import hwsim.cli` (`hwsim --help`) or `import hwsim.errors` imports neither
# NumPy nor SciPy nor Numba, and each command only what it uses.
_EXPORTS = {
    "hwsim.config": ("ChipConfig", "CoreConfig", "load_chip_config"),
    "hwsim.errors": ("ConfigError", "HwsimError", "InputError", "ProgramError"),
    "hwsim.network": ("Layer", "Network"),
    "hwsim.program": ("ChipProgram", "CoreProgram", "Route"),
    "hwsim.result": ("RunResult",),
    "hwsim.chip": ("Chip",),
}

__all__ = [*(name for names in _EXPORTS.values() for name in names), "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

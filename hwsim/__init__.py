"""hwsim: a cycle-accurate simulator of a spike-sparse neuromorphic accelerator."""

from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.errors import ConfigError, HwsimError, InputError, ProgramError
from hwsim.network import Layer, Network
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import RunResult

__version__ = "0.1.0"

__all__ = [
    "ChipConfig",
    "CoreConfig",
    "load_chip_config",
    "ConfigError",
    "HwsimError",
    "InputError",
    "ProgramError",
    "Layer",
    "Network",
    "ChipProgram",
    "CoreProgram",
    "Route",
    "RunResult",
    "Chip",
    "__version__",
]


def __getattr__(name: str):
    # The engine imports Numba; load it only when asked for, so `import hwsim` stays fast.
    if name == "Chip":
        from hwsim.chip import Chip

        return Chip
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")

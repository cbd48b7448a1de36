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
    "__version__",
]

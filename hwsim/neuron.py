"""The neuron's registers and modes, declared once (chip-spec §2.1 registers, §2.2 update).

A network layer (:class:`hwsim.network.Layer`) and a core program (:class:`hwsim.program.CoreProgram`)
both carry these fields by inheriting :class:`NeuronFields`; the golden units, the kernels and the RTL
testbenches read the modes through :attr:`NeuronFields.integration_code` / :attr:`NeuronFields.reset_code`,
whose values are the register encodings of chip-spec §2.1. Adding a mode means: the spec, the enum
below, the golden unit, the kernel, the RTL and their tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from hwsim.errors import HwsimError
from hwsim.readers import shorten

__all__ = [
    "Integration", "Reset", "INTEGRATION_MODES", "RESET_MODES", "CONTINUOUS_CODE", "RESET_ZERO_CODE", "NeuronFields",
]


class Integration(Enum):
    """What a membrane does at the start of a timestep (chip-spec §2.2 step 1).

    The value is the name used in files and messages; the position is the register code (§2.1).
    """

    DISCONTINUOUS = "discontinuous"  # code 0: every membrane restarts at 0
    CONTINUOUS = "continuous"  # code 1: membranes keep their value


class Reset(Enum):
    """What a spike does to its membrane (chip-spec §2.2 step 4); position = register code."""

    SUBTRACT = "subtract"  # code 0: v - threshold
    ZERO = "zero"  # code 1: v = 0


INTEGRATION_MODES: tuple[str, ...] = tuple(m.value for m in Integration)
RESET_MODES: tuple[str, ...] = tuple(m.value for m in Reset)
#: Register codes the kernels compare with (the engines pack :attr:`NeuronFields.integration_code` and
#: :attr:`NeuronFields.reset_code` per core); this file is part of the kernels' cache stamp.
CONTINUOUS_CODE: int = INTEGRATION_MODES.index(Integration.CONTINUOUS.value)
RESET_ZERO_CODE: int = RESET_MODES.index(Reset.ZERO.value)


@dataclass(kw_only=True)
class NeuronFields:
    """The registers every neuron of one layer or core shares (chip-spec §2.1).

    Attributes:
        threshold: Firing threshold; its legal range is the container's (network: the widest chip's
            register; program: ``0 .. 2^(v_bits-1)-1`` of its chip).
        leak_shift: ``v -= v >> leak_shift`` each timestep; 0 = no leak.
        integration: ``"discontinuous"`` or ``"continuous"`` (:class:`Integration`).
        reset: ``"subtract"`` or ``"zero"`` (:class:`Reset`).
        fire: True for spiking neurons, False for membrane readout (no spikes).
    """

    threshold: int
    leak_shift: int = 0
    integration: str = Integration.DISCONTINUOUS.value
    reset: str = Reset.SUBTRACT.value
    fire: bool = True

    def _check_modes(self, where: str, error: type[HwsimError]) -> None:
        """Refuse a mode outside its enum, and a ``fire`` that is not a bool; stores ``fire`` as a bool."""
        for name, allowed in (("integration", INTEGRATION_MODES), ("reset", RESET_MODES)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise error(f"{where}: {name} = {shorten(value)}, allowed {', '.join(allowed)}")
        if not isinstance(self.fire, (bool, np.bool_)):
            raise error(f"{where}: fire = {shorten(self.fire)}, allowed True (spiking) or False (membrane readout)")
        self.fire = bool(self.fire)

    @property
    def integration_code(self) -> int:
        """Register code of :attr:`integration` (chip-spec §2.1): 0 discontinuous, 1 continuous."""
        return INTEGRATION_MODES.index(self.integration)

    @property
    def reset_code(self) -> int:
        """Register code of :attr:`reset` (chip-spec §2.1): 0 subtract, 1 zero."""
        return RESET_MODES.index(self.reset)

    def neuron_header(self) -> dict:
        """The five fields as JSON values, in declaration order (the file headers' keys)."""
        return {
            "threshold": int(self.threshold),
            "leak_shift": int(self.leak_shift),
            "integration": self.integration,
            "reset": self.reset,
            "fire": bool(self.fire),
        }

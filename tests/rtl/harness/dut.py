"""cocotb-side helpers shared by the block testbenches: parameters, seed, clock."""

from __future__ import annotations

import json
import os

from .build import CLOCK_PERIOD_NS

__all__ = ["block_parameters", "block_seed", "check_parameters", "start_clock"]


def block_parameters(dut) -> dict[str, int]:
    """The Verilog parameters :func:`harness.run_block` built the DUT with, checked against the DUT itself.

    Read back from the DUT where the simulator exposes them, so a stale
    build cannot pass silently.
    """
    params = {k: int(v) for k, v in json.loads(os.environ["HWSIM_PARAMS"]).items()}
    check_parameters(dut, params)
    return params


def block_seed() -> int:
    """The random seed the pytest side chose for this run (fixed per case, so runs repeat exactly)."""
    return int(os.environ.get("HWSIM_SEED", "0"))


def check_parameters(dut, expected: dict[str, int]) -> None:
    """Raise if a parameter the DUT exposes differs from ``expected``."""
    for name, value in expected.items():
        try:
            got = int(getattr(dut, name).value)
        except AttributeError:
            continue  # a simulator that does not expose parameters
        if got != value:
            raise AssertionError(f"DUT parameter {name} = {got}, expected {value}")


def start_clock(dut) -> None:
    """Start ``dut.clk`` (low first), period ``CLOCK_PERIOD_NS``."""
    from cocotb.clock import Clock

    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)

"""Block test of ``rtl/snn_group_rf.v``: the register file of lane-group words (membranes, biases).

Random sequences of writes, clears (alone and together with a write: the
clear wins) and idle cycles, cycle by cycle, against a model written here
from the module's contract; both combinational read ports are checked at
random addresses after every edge, and changing a read address alone must
change the read data at once (no clock).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block, start_clock
from hwsim.config import CoreConfig, load_chip_config

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["rf_parameters"]

pytestmark = pytest.mark.rtl

CYCLES = 800


def rf_parameters(core: CoreConfig) -> dict[str, int]:
    """DEPTH / WIDTH / ADDR_W of a core's membrane and bias register files, as ``snn_core`` instantiates them."""
    hdl = core.to_hdl_params()
    groups = hdl["NEURONS"] // hdl["LANES"]
    return {"DEPTH": groups, "WIDTH": hdl["LANES"] * hdl["V_BITS"], "ADDR_W": max(1, (groups - 1).bit_length())}


if cocotb is not None:

    @cocotb.test()
    async def group_rf_sequence(dut) -> None:
        """Writes, clears, clear-with-write and idle cycles; both read ports compared every cycle."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        depth, width = params["DEPTH"], params["WIDTH"]
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)

        def rand_word() -> int:
            return int.from_bytes(rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)

        for sig in ("clr", "we", "waddr", "wdata", "raddr_a", "raddr_b"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        dut.clr.value = 1  # the words start undefined: clear once
        await fall
        memory = [0] * depth
        for n in range(CYCLES):
            op = rng.choice(["write", "write", "write", "clear", "clear+write", "idle"])
            a = int(rng.integers(0, depth))
            word = rand_word()
            dut.clr.value = int(op in ("clear", "clear+write"))
            dut.we.value = int(op in ("write", "clear+write"))
            dut.waddr.value, dut.wdata.value = a, word
            await fall
            if op.startswith("clear"):
                memory = [0] * depth
            elif op == "write":
                memory[a] = word
            for _ in range(2):  # two read-address pairs per cycle: the ports are combinational
                ra, rb = int(rng.integers(0, depth)), int(rng.integers(0, depth))
                dut.raddr_a.value, dut.raddr_b.value = ra, rb
                await Timer(1, "ns")
                got_a, got_b = int(dut.rdata_a.value), int(dut.rdata_b.value)
                assert got_a == memory[ra], f"cycle {n} ({op}): port A @ {ra} expected {memory[ra]:#x}, RTL {got_a:#x}"
                assert got_b == memory[rb], f"cycle {n} ({op}): port B @ {rb} expected {memory[rb]:#x}, RTL {got_b:#x}"
            dut.clr.value, dut.we.value = 0, 0


CONFIGS = {
    "small": lambda: load_chip_config("small").core,
    "default_28nm": lambda: load_chip_config("default_28nm").core,
    "one-group": lambda: CoreConfig(axons=4, neurons=8, lanes=8, w_bits=4, v_bits=9),
    "three-groups": lambda: CoreConfig(axons=4, neurons=12, lanes=4, w_bits=4, v_bits=9),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_snn_group_rf_runner(request: pytest.FixtureRequest, config: str) -> None:
    """Build ``snn_group_rf`` with the config's group count and word width and run the sequence test."""
    params = rf_parameters(CONFIGS[config]())
    run_block(request.node.name, toplevel="snn_group_rf", test_module="test_snn_group_rf", params=params,
              seed=len(config))

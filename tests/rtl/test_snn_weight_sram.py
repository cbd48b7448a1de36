"""Block test of ``rtl/snn_weight_sram.v``: the single-port synchronous weight SRAM (chip-spec §2.1).

Random sequences of reads, writes and idle cycles, cycle by cycle, against a
model written here from the module's contract: an address read in cycle k
appears on ``rdata`` in cycle ``k + SRAM_READ_LATENCY_CYCLES`` (the golden
model's constant, 1), ``rdata`` holds while ``en`` is low, and a write
changes the memory but not ``rdata``. Every word of a small SRAM and the
first and last words of a preset-sized one are written and read back.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block, start_clock
from hwsim.config import SRAM_READ_LATENCY_CYCLES, CoreConfig, load_chip_config

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["sram_parameters"]

pytestmark = pytest.mark.rtl

CYCLES = 1500


def sram_parameters(core: CoreConfig) -> dict[str, int]:
    """DEPTH / WIDTH / ADDR_W of a core's weight SRAM, as ``snn_core`` instantiates it."""
    hdl = core.to_hdl_params()
    depth = hdl["AXONS"] * (hdl["NEURONS"] // hdl["LANES"])
    return {"DEPTH": depth, "WIDTH": hdl["LANES"] * hdl["W_BITS"], "ADDR_W": max(1, (depth - 1).bit_length())}


if cocotb is not None:

    @cocotb.test()
    async def sram_sequence(dut) -> None:
        """Writes, reads and idle cycles; ``rdata`` compared with the model every cycle."""
        from cocotb.triggers import FallingEdge

        assert SRAM_READ_LATENCY_CYCLES == 1, "this testbench models a read latency of 1 cycle"
        params = block_parameters(dut)
        depth, width = params["DEPTH"], params["WIDTH"]
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        dut.en.value, dut.we.value, dut.addr.value, dut.wdata.value = 0, 0, 0, 0
        start_clock(dut)
        await fall

        def rand_word() -> int:
            return int.from_bytes(rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)

        # Fill: every word of a small SRAM; the edges and a random sample of a large one.
        if depth <= 512:
            fill = list(range(depth))
        else:
            fill = sorted({0, 1, depth - 2, depth - 1, *rng.integers(0, depth, 300).tolist()})
        memory: dict[int, int] = {}
        for a in fill:
            memory[a] = rand_word()
            dut.en.value, dut.we.value, dut.addr.value, dut.wdata.value = 1, 1, a, memory[a]
            await fall
        rdata = None  # rdata before the first read is undefined
        known = sorted(memory)
        for n in range(CYCLES):
            op = rng.choice(["read", "read", "write", "idle", "we-without-en"])
            a = int(rng.choice(known))
            if op == "read":
                dut.en.value, dut.we.value, dut.addr.value = 1, 0, a
            elif op == "write":
                memory[a] = rand_word()
                dut.en.value, dut.we.value, dut.addr.value, dut.wdata.value = 1, 1, a, memory[a]
            elif op == "we-without-en":  # no access at all: memory and rdata unchanged
                dut.en.value, dut.we.value, dut.addr.value, dut.wdata.value = 0, 1, a, rand_word()
            else:
                dut.en.value, dut.we.value, dut.addr.value = 0, 0, a
            await fall  # the rising edge in between performed the access
            if op == "read":
                rdata = memory[a]
            if rdata is not None:
                got = int(dut.rdata.value)
                assert got == rdata, f"cycle {n} ({op} @ {a}): rdata expected {rdata:#x}, RTL {got:#x}"
        # Read every known word back in a burst: one word per cycle, latency 1.
        for a in known:
            dut.en.value, dut.we.value, dut.addr.value = 1, 0, a
            await fall
            got = int(dut.rdata.value)
            assert got == memory[a], f"read-back @ {a}: expected {memory[a]:#x}, RTL {got:#x}"


CONFIGS = {
    "small": lambda: load_chip_config("small").core,
    "default_28nm": lambda: load_chip_config("default_28nm").core,
    "tiny-odd": lambda: CoreConfig(axons=3, neurons=10, lanes=5, w_bits=3, v_bits=8),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_snn_weight_sram_runner(request: pytest.FixtureRequest, config: str) -> None:
    """Build ``snn_weight_sram`` with the config's SRAM shape and run the sequence test."""
    params = sram_parameters(CONFIGS[config]())
    run_block(request.node.name, toplevel="snn_weight_sram", test_module="test_snn_weight_sram", params=params,
              seed=len(config))

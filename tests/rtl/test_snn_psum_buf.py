"""Block test of ``rtl/snn_psum_buf.v``: a core's partial-sum buffer (chip-spec §1.3, §2.2 steps 1b and 5).

Cycle by cycle against a model written here from the module's contract:
every word is 0 after reset; each cycle up to ``PORTS`` packets write
distinct words (a word is written at most once per cycle, as validation
guarantees per timestep), while MERGE reads a random lane group and,
sometimes, clears it at the same edge; a packet that writes into the group
being cleared is kept (written after the clear). The combinational read
port is checked after every edge at several groups, and a reset in the
middle empties the buffer again.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block, start_clock, unpack_signed
from hwsim.config import CoreConfig, load_chip_config

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["psum_buf_parameters"]

pytestmark = pytest.mark.rtl

CYCLES = 600


def psum_buf_parameters(core: CoreConfig, ports: int) -> dict[str, int]:
    """Parameters of a core's partial-sum buffer as ``snn_core`` instantiates it (``ports`` = its IN_PORTS)."""
    hdl = core.to_hdl_params()
    groups = hdl["NEURONS"] // hdl["LANES"]
    return {"NEURONS": hdl["NEURONS"], "LANES": hdl["LANES"], "V_BITS": hdl["V_BITS"],
            "N_W": max(1, (hdl["NEURONS"] - 1).bit_length()), "G_W": max(1, (groups - 1).bit_length()),
            "PORTS": ports}


if cocotb is not None:

    @cocotb.test()
    async def psum_buf_sequence(dut) -> None:
        """Writes on every port, group reads and clears (also together with a write), reset; checked every cycle."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        n, lanes, v_bits, ports = params["NEURONS"], params["LANES"], params["V_BITS"], params["PORTS"]
        n_w = params["N_W"]
        groups = n // lanes
        v_min, v_max = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        for sig in ("rst_n", "wr_valid", "wr_neuron", "wr_value", "rd_group", "rd_clr"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        await fall
        await fall  # at least one rising edge in reset
        dut.rst_n.value = 1
        model = [0] * n

        async def check(where: str) -> None:
            for g in sorted({0, groups - 1, int(rng.integers(0, groups))}):
                dut.rd_group.value = g
                await Timer(1, "ns")  # combinational read
                got = unpack_signed(int(dut.rd_word.value), v_bits, lanes)
                exp = model[g * lanes:(g + 1) * lanes]
                assert got == exp, f"{where}: group {g} expected {exp}, RTL {got}"

        await fall
        await check("after reset")
        reset_done = False
        for cycle in range(CYCLES):
            clear = bool(rng.random() < 0.25)
            g_clr = int(rng.integers(0, groups))
            words = [int(j) for j in rng.choice(n, size=min(int(rng.integers(0, ports + 1)), n), replace=False)]
            if clear and words and rng.random() < 0.5:  # a packet into the group being cleared: kept
                j = g_clr * lanes + int(rng.integers(0, lanes))
                if j not in words:
                    words[0] = j
            valid, neuron_bus, value_bus, writes = 0, 0, 0, []
            for p, j in zip(rng.choice(ports, size=len(words), replace=False), words):
                # rails, 0 and values in between
                value = int(rng.choice([v_min, v_max, 0, int(rng.integers(v_min, v_max + 1))]))
                valid |= 1 << int(p)
                neuron_bus |= j << (int(p) * n_w)
                value_bus |= (value & ((1 << v_bits) - 1)) << (int(p) * v_bits)
                writes.append((j, value))
            dut.wr_valid.value, dut.wr_neuron.value, dut.wr_value.value = valid, neuron_bus, value_bus
            dut.rd_group.value, dut.rd_clr.value = g_clr, int(clear)
            await fall
            if clear:
                model[g_clr * lanes:(g_clr + 1) * lanes] = [0] * lanes
            for j, value in writes:
                model[j] = value
            dut.wr_valid.value, dut.rd_clr.value = 0, 0
            await check(f"cycle {cycle} ({len(writes)} writes, clear group {g_clr if clear else None})")
            if cycle >= CYCLES // 2 and not reset_done and any(model):  # reset a buffer that holds values
                reset_done = True
                dut.rst_n.value = 0
                await fall
                dut.rst_n.value = 1
                model = [0] * n
                await check("after a reset in the middle")
        assert reset_done, "the sequence never filled a word after its midpoint"


CONFIGS = {
    # (core, ports): the small chip's 2 x 2 mesh gives its cores 5 ports (4 cores + host).
    "small-5ports": (lambda: load_chip_config("small").core, 5),
    "default_28nm-10ports": (lambda: load_chip_config("default_28nm").core, 10),
    "one-group-1port": (lambda: CoreConfig(axons=4, neurons=8, lanes=8, w_bits=4, v_bits=9), 1),
    "odd-25-lanes-3ports": (lambda: CoreConfig(axons=100, neurons=50, lanes=25, w_bits=7, v_bits=13), 3),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_snn_psum_buf_runner(request: pytest.FixtureRequest, config: str) -> None:
    """Build ``snn_psum_buf`` as the config's core would and run the sequence test."""
    core, ports = CONFIGS[config]
    run_block(request.node.name, toplevel="snn_psum_buf", test_module="test_snn_psum_buf",
              params=psum_buf_parameters(core(), ports), seed=len(config))

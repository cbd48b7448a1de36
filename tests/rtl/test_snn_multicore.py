"""Co-simulation of whole mapped networks on ``rtl/snn_multicore.v`` against ``hwsim.golden.simulate``.

The testbench is host and router (docs/rtl.md, "Multi-core flow"): per
timestep it runs the stages in order, core by core, feeding every core the
spikes that the RTL cores of earlier stages produced (the testbench of
``test_snn_core.py``). Every core's spikes, membranes and cycles must equal the
golden model exactly. Chip-level cycles are an RTL output of ``snn_chip`` only
(``test_snn_chip.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

from harness import compare_with_golden, hdl_parameters, run_block, run_case
from hwsim.config import load_chip_config
from hwsim.golden import core_cycles
from hwsim.program import ChipProgram, CoreProgram
from hwsim.testing import random_network, random_raster
from mapping import map_network
from test_snn_core import TB, cosim_program

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["TB", "CASES"]

pytestmark = pytest.mark.rtl

if cocotb is not None:

    @cocotb.test()
    async def cosim_network(dut) -> None:
        """Run the network case the pytest runner wrote (``$HWSIM_RTL_CASE``) core by core."""
        await cosim_program(dut)

    @cocotb.test()
    async def clock_gate_glitch_free(dut) -> None:
        """Selecting a core while ``clk`` is high must not clock it before the next rising edge.

        The per-core clock gate latches its enable only while ``clk`` is low. The
        testbench selects core 1 and raises ``start`` in the middle of a high phase:
        the core must take ``start`` at the next rising edge, so it runs exactly
        golden ``core_cycles(0, G)`` cycles counted from there. A gate that let the
        enable through while ``clk`` is high would clock the core at once, and it
        would finish a cycle early.
        """
        from cocotb.triggers import FallingEdge, RisingEdge, Timer
        from cocotb.utils import get_sim_time

        from harness import CLOCK_PERIOD_NS

        chip = load_chip_config(os.environ["HWSIM_CHIP"])
        tb = TB(dut, chip)
        await tb.start()
        cc = chip.core
        cp = CoreProgram(core=1, stage=0, weights=np.zeros((4, cc.lanes * 2), np.int32),
                         bias=np.arange(cc.lanes * 2, dtype=np.int32), threshold=3, routes=(), output_offset=0)
        await tb.select(1)
        await tb.load_core(cp)
        await tb.clear_membranes()
        for glitch_ns in (CLOCK_PERIOD_NS // 4, CLOCK_PERIOD_NS // 2 - 1):  # early and late in the high phase
            await tb.select(0)
            await FallingEdge(dut.clk)
            await RisingEdge(dut.clk)
            await Timer(glitch_ns, "ns")  # clk is high
            dut.core_sel.value, dut.start.value = 1, 1
            await FallingEdge(dut.clk)  # as if start were driven here: the next rising edge samples it
            t0 = get_sim_time("ns")
            await FallingEdge(dut.clk)
            dut.start.value = 0
            for _ in range(3 + 2 * cc.neurons // cc.lanes):
                if dut.done.value:
                    break
                await FallingEdge(dut.clk)
            assert dut.done.value, "core 1 never reached DONE"
            cycles = round((get_sim_time("ns") - t0) / CLOCK_PERIOD_NS)
            expected = core_cycles(0, chip.core.groups(cp.n_neurons))
            assert cycles == expected, (f"core 1 selected {glitch_ns} ns into a high clock phase ran {cycles} cycles, "
                                        f"golden core_cycles {expected}: it was clocked before the rising edge")
            await FallingEdge(dut.clk)


Case = Callable[[], tuple[ChipProgram, np.ndarray]]


def _random_case(
    preset: str, seed: int, sizes: tuple[int, ...], *, timesteps: int, batch: int, p: float,
    placement="row_major", **kwargs
) -> Case:
    def make():
        chip = load_chip_config(preset)
        rng = np.random.default_rng(seed)
        net = random_network(rng, sizes, chip.core, **kwargs)
        program = map_network(net, chip, placement)
        return program, random_raster(rng, batch, timesteps, sizes[0], p)

    return make


def _digits_case() -> tuple[ChipProgram, np.ndarray]:
    """The bundled trained digits network on two test images, rate-encoded."""
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.training import default_network_path, load_default_network

    if not default_network_path().exists():
        pytest.skip(f"the bundled digits network {default_network_path()} does not exist yet")
    net = load_default_network()
    chip = load_chip_config("small")
    program = map_network(net, chip)
    data = load_dataset("digits")
    timesteps = int(net.metadata.get("timesteps", 8))
    encoding = str(net.metadata.get("encoding", "rate"))
    return program, encode(data.x_test[:2], timesteps, encoding, seed=0)


CASES: dict[str, Case] = {
    # 40-50-20 on the small chip: the hidden layer splits over two cores that multicast to one.
    "small-2layer": _random_case("small", 21, (40, 50, 20), timesteps=6, batch=2, p=0.3),
    # Continuous integration, leak, zero reset, membrane readout on the output core.
    "small-continuous-readout": _random_case(
        "small", 22, (64, 32, 10), timesteps=6, batch=1, p=0.4,
        integration="continuous", leak_shift=2, reset="zero", fire_output=False,
    ),
    # Three stages with the annealing placer, so hops and route cycles vary per core.
    "small-3layer-anneal": _random_case("small", 23, (30, 24, 16, 10), timesteps=5, batch=1, p=0.35,
                                        placement="anneal"),
    # All inputs silent, then all spiking.
    "small-silent": _random_case("small", 24, (40, 20, 8), timesteps=2, batch=1, p=0.0),
    "small-all-spiking": _random_case("small", 25, (64, 40, 8), timesteps=2, batch=1, p=1.0),
    # The default 28 nm chip (1024 x 256 x 16 lanes): 200-300-10 on three cores, two timesteps.
    "default_28nm": _random_case("default_28nm", 26, (200, 300, 10), timesteps=2, batch=1, p=0.2),
    "digits": _digits_case,
}


@pytest.mark.parametrize("case", list(CASES))
def test_snn_multicore_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_multicore`` for the case's chip, run the network core by core, compare with the golden model."""
    program, rasters = CASES[case]()
    assert len(program.cores) >= 2 and program.n_stages >= 2  # a real multi-core, multi-stage network
    rtl = run_case(request.node.name, toplevel="snn_multicore", test_module="test_snn_multicore", program=program,
                   rasters=rasters, testcase="cosim_network")
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]
    if case == "small-silent":
        # Nothing reaches the chip: no core integrates, only START + G UPDATE + DONE.
        groups = np.array([program.chip.core.groups(cp.n_neurons) for cp in program.cores])
        assert np.all(rtl.core_cycles == groups + 2)


@pytest.mark.parametrize("preset", ["small"])
def test_snn_multicore_clock_gate(request: pytest.FixtureRequest, preset: str) -> None:
    """Build ``snn_multicore`` for the preset and run the clock-gate test (no program case)."""
    params = hdl_parameters(load_chip_config(preset), "snn_multicore")
    run_block(request.node.name, toplevel="snn_multicore", test_module="test_snn_multicore", params=params,
              testcase="clock_gate_glitch_free", extra_env={"HWSIM_CHIP": preset})

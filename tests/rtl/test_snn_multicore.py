"""Co-simulation of whole mapped networks on ``rtl/snn_multicore.v`` against ``hwsim.golden.simulate``.

The testbench is host and router (docs/rtl.md, "Multi-core flow"): per
timestep it runs the stages in order, core by core, feeding every core the
spikes that the RTL cores of earlier stages produced (the testbench of
``test_snn_core.py``). Every core's spikes, membranes and cycles must equal the
golden model exactly. Chip-level cycles are an RTL output of ``snn_chip`` only
(``test_snn_chip.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from harness import compare_with_golden, run_case
from hwsim.config import load_chip_config
from hwsim.program import ChipProgram
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
                   rasters=rasters)
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]
    if case == "small-silent":
        # Nothing reaches the chip: no core integrates, only START + G UPDATE + DONE.
        groups = np.array([program.chip.core.groups(cp.n_neurons) for cp in program.cores])
        assert np.all(rtl.core_cycles == groups + 2)

"""Co-simulation of one ``rtl/snn_core.v`` against the golden core (chip-spec §2, §5).

Every case is a one-core program: the RTL's spikes, end-of-timestep membranes
and cycles per timestep must equal ``hwsim.golden.simulate`` exactly. Cases
cover every neuron mode, leak settings, saturation, silent and all-spiking
inputs, partial lane groups and both presets (``small`` and ``default_28nm``).
A few cases also check hand-derived numbers, independent of the golden model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from hwsim.config import ChipConfig, load_chip_config
from hwsim.program import ChipProgram
from rtl_cosim import TB, compare_with_golden, cosim_program, run_case, single_core_program

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["TB", "CASES"]

pytestmark = pytest.mark.rtl

if cocotb is not None:

    @cocotb.test()
    async def cosim_case(dut) -> None:
        """Run the case the pytest runner wrote (``$HWSIM_RTL_CASE``) and record the RTL's results."""
        await cosim_program(dut)


# ----------------------------------------------------------------------------- cases
Case = Callable[[], tuple[ChipProgram, np.ndarray]]


def _random_core(
    chip: ChipConfig,
    seed: int,
    *,
    n_axons: int,
    n_neurons: int,
    timesteps: int,
    batch: int = 1,
    p: float = 0.3,
    threshold: int = 40,
    bias_range: tuple[int, int] = (-8, 8),
    **regs,
) -> tuple[ChipProgram, np.ndarray]:
    cc = chip.core
    rng = np.random.default_rng(seed)
    weights = rng.integers(cc.w_min, cc.w_max + 1, size=(n_axons, n_neurons))
    bias = rng.integers(bias_range[0], bias_range[1] + 1, size=n_neurons)
    program = single_core_program(chip, weights, bias, threshold=threshold, **regs)
    rasters = (rng.random((batch, timesteps, n_axons)) < p).astype(np.uint8)
    return program, rasters


def _mode_case(integration: str, reset: str, fire: bool) -> Case:
    def make():
        # 30 neurons: the last of 8 lane groups (4 lanes) is partial.
        seed = {"discontinuous": 0, "continuous": 1}[integration] * 4 + (reset == "zero") * 2 + fire
        return _random_core(
            load_chip_config("small"), seed, n_axons=48, n_neurons=30, timesteps=6, batch=2,
            integration=integration, reset=reset, fire=fire,
        )

    return make


def _leak_case(leak_shift: int) -> Case:
    def make():
        # Continuous, biases of both signs: leaks act on positive and negative membranes.
        return _random_core(
            load_chip_config("small"), 10 + leak_shift, n_axons=64, n_neurons=32, timesteps=8,
            integration="continuous", leak_shift=leak_shift, threshold=300, bias_range=(-200, 200), p=0.4,
        )

    return make


def _saturation_case() -> tuple[ChipProgram, np.ndarray]:
    """Weights at the extremes, biases at the rails, all axons spiking: every add can saturate.

    Even neurons: axons 0..39 weigh +31, axons 40..63 weigh -32; odd neurons
    the other way round. Biases cycle through +2047, -2048, 0, 0. Continuous
    membrane readout, so membranes pile up against the rails across timesteps.
    """
    chip = load_chip_config("small")
    w = np.empty((64, 32), np.int32)
    w[:40, 0::2], w[40:, 0::2] = 31, -32
    w[:40, 1::2], w[40:, 1::2] = -32, 31
    bias = np.array([2047, -2048, 0, 0] * 8, np.int32)
    program = single_core_program(chip, w, bias, threshold=0, integration="continuous", fire=False)
    return program, np.ones((1, 4, 64), np.uint8)


def _saturation_fire_case() -> tuple[ChipProgram, np.ndarray]:
    """Rail threshold (v_max) and rail biases with spiking neurons and zero reset."""
    chip = load_chip_config("small")
    rng = np.random.default_rng(7)
    w = rng.choice(np.array([-32, -31, 30, 31]), size=(64, 32)).astype(np.int32)
    bias = rng.choice(np.array([-2048, -1000, 0, 1000, 2047]), size=32).astype(np.int32)
    program = single_core_program(chip, w, bias, threshold=2047, integration="continuous", reset="zero")
    return program, (rng.random((2, 5, 64)) < 0.7).astype(np.uint8)


def _silent_case() -> tuple[ChipProgram, np.ndarray]:
    """No input spike at all: zero-skipping makes INTEGRATE cost nothing; biases still drive membranes."""
    chip = load_chip_config("small")
    rng = np.random.default_rng(3)
    w = rng.integers(-32, 32, size=(64, 32))
    bias = rng.integers(-50, 60, size=32)
    program = single_core_program(chip, w, bias, threshold=100, leak_shift=2, integration="continuous")
    return program, np.zeros((1, 5, 64), np.uint8)


def _all_spiking_case() -> tuple[ChipProgram, np.ndarray]:
    """Every axon of a full core spikes every timestep (worst-case cycles)."""
    chip = load_chip_config("small")
    rng = np.random.default_rng(4)
    w = rng.integers(-32, 32, size=(64, 32))
    bias = rng.integers(-8, 9, size=32)
    program = single_core_program(chip, w, bias, threshold=20, reset="zero")
    return program, np.ones((1, 3, 64), np.uint8)


def _one_neuron_case() -> tuple[ChipProgram, np.ndarray]:
    """The smallest core in use: one axon, one neuron (one partial lane group)."""
    return _random_core(load_chip_config("small"), 5, n_axons=1, n_neurons=1, timesteps=6, p=0.5,
                        threshold=10, integration="continuous")


def _default_case() -> tuple[ChipProgram, np.ndarray]:
    """The default 28 nm core (1024 x 256, 16 lanes), kept to two timesteps for Icarus."""
    return _random_core(load_chip_config("default_28nm"), 6, n_axons=300, n_neurons=250, timesteps=2,
                        p=0.25, threshold=200, bias_range=(-64, 64))


CASES: dict[str, Case] = {
    **{
        f"{i[:4]}-{r}-{'fire' if f else 'readout'}": _mode_case(i, r, f)
        for i in ("discontinuous", "continuous")
        for r in ("subtract", "zero")
        for f in (True, False)
    },
    "leak1": _leak_case(1),
    "leak3": _leak_case(3),
    "leak11": _leak_case(11),  # v_bits - 1, the largest legal shift
    "saturation": _saturation_case,
    "saturation-fire": _saturation_fire_case,
    "silent": _silent_case,
    "all-spiking": _all_spiking_case,
    "one-neuron": _one_neuron_case,
    "default_28nm": _default_case,
}


# ----------------------------------------------------------------------------- runner
@pytest.mark.parametrize("case", list(CASES))
def test_snn_core_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_core`` for the case's chip, co-simulate, compare exactly with the golden model."""
    program, rasters = CASES[case]()
    rtl = run_case(request.node.name, toplevel="snn_core", test_module="test_snn_core", program=program, rasters=rasters)
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]

    # Hand-derived checks (chip-spec §2.2 and §2.4), independent of hwsim.golden.
    cc = program.chip.core
    G = cc.groups(program.cores[0].n_neurons)
    n_spk = rasters.sum(axis=2)
    expected_cycles = 1 + n_spk * G + (n_spk > 0) + G + 1
    assert np.array_equal(rtl.core_cycles[..., 0], expected_cycles)
    if case == "silent":
        assert np.all(rtl.core_cycles == 1 + G + 1)
    if case == "all-spiking":
        assert np.all(rtl.core_cycles == 1 + 64 * 8 + 1 + 8 + 1)  # 523
    if case == "saturation":
        v = rtl.membranes[0][0]
        # Neuron 2 (bias 0): +31 x 40 then -32 x 24 each timestep, saturating at +2047 per add:
        # 0 -> 1240 -> 472 | 1712 -> 944 | 2047 (sat) -> 1279 | 2047 (sat) -> 1279.
        assert v[:, 2].tolist() == [472, 944, 1279, 1279]
        # Neuron 3 (bias 0), mirrored: -32 x 40 saturates at -2048 first in timestep 1.
        # 0 -> -1280 -> -536 | -1816 -> -1072 | -2048 (sat) -> -1304 | -2048 (sat) -> -1304.
        assert v[:, 3].tolist() == [-536, -1072, -1304, -1304]
        # Neuron 0: bias +2047 pins it to the positive rail; neuron 1: bias -2048 to the negative one.
        assert v[:, 0].tolist() == [2047] * 4 and v[:, 1].tolist() == [-2048] * 4
        assert not rtl.spikes[0].any()  # membrane readout never spikes

"""Co-simulation of one ``rtl/snn_core.v`` against the golden core (chip-spec §2, §5), and the core testbench.

Every case is a one-core program: the RTL's spikes, end-of-timestep membranes
and cycles per timestep must equal ``hwsim.golden.simulate`` exactly. Cases
cover every neuron mode, leak settings, saturation, silent and all-spiking
inputs, partial lane groups, both presets (``small`` and ``default_28nm``) and
a core left on its documented reset values (no register written). A few
cases also check hand-derived numbers, independent of the golden model.

The testbench here (:class:`TB`, :func:`cosim_program`) also drives
``snn_multicore`` (``test_snn_multicore.py``), and ``snn_chip``'s testbench
extends :class:`TB` (``test_snn_chip.py``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from harness import (
    CLOCK_PERIOD_NS,
    check_parameters,
    case_dir_from_env,
    compare_with_golden,
    hdl_parameters,
    pack_signed,
    read_case,
    run_case,
    save_npz,
    single_core_program,
    unpack_signed,
    weight_words,
)
from hwsim.config import ChipConfig, load_chip_config
from hwsim.golden import deliver
from hwsim.program import ChipProgram, CoreProgram

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["TB", "CASES", "RESET_REGISTERS", "cosim_program"]

pytestmark = pytest.mark.rtl

# Load-interface encodings of rtl/snn_core.v (docs/rtl.md, "Load interface").
LD_WEIGHT, LD_BIAS, LD_REG, LD_CMD = 0, 1, 2, 3
REG_N_NEURONS, REG_THRESHOLD, REG_LEAK_SHIFT, REG_MODES = 0, 1, 2, 3
CMD_CLEAR_MEMBRANES = 0
MODE_PSUM_RX_BIT = 3  # REG_MODES bit 3: partial-sum receiver (PARTIAL_SUMS = 1)
# The core's registers after reset, as docs/rtl.md ("Load interface") documents them
# (n_neurons = NEURONS is added per config).
RESET_REGISTERS = {"threshold": 0, "leak_shift": 0, "integration": "discontinuous", "reset": "subtract", "fire": True}
RESET_MODE_CODES = {"integration": 0, "reset": 0}  # register codes after reset: discontinuous, subtract


# ----------------------------------------------------------------------------- testbench
class TB:
    """cocotb driver of ``snn_core`` / ``snn_multicore``: clock, reset, load, spikes in, run, readout.

    Every input is driven at a falling clock edge and every output sampled at
    a falling edge, so the DUT samples stable values at the rising edges
    whatever the simulator's scheduling.
    """

    def __init__(self, dut, chip: ChipConfig) -> None:
        import cocotb
        from cocotb.triggers import FallingEdge

        self.dut = dut
        self.log = cocotb.log
        cc = chip.core
        self.multicore = dut._name in ("snn_multicore", "snn_chip") or hasattr(dut, "core_sel")
        top = dut._name if dut._name in ("snn_core", "snn_multicore", "snn_chip") else (
            "snn_multicore" if self.multicore else "snn_core")
        expected = hdl_parameters(chip, top)
        # Read the parameters back from the DUT so a stale build cannot pass silently.
        check_parameters(dut, expected)
        self.lanes, self.w_bits, self.v_bits = cc.lanes, cc.w_bits, cc.v_bits
        self.groups_max = cc.neurons // cc.lanes
        self.max_core_cycles = 3 + cc.axons * self.groups_max + 1 + self.groups_max
        self.fall = FallingEdge(dut.clk)
        self.sim_cycles_busy = 0

    async def start(self) -> None:
        """Start the clock and hold reset for two cycles."""
        from cocotb.clock import Clock

        dut = self.dut
        for sig, value in (("rst_n", 0), ("ld_valid", 0), ("ld_kind", 0), ("ld_addr", 0), ("ld_data", 0),
                           ("in_valid", 0), ("in_axon", 0), ("start", 0), ("rd_group", 0)):
            getattr(dut, sig).value = value
        if self.multicore:
            dut.core_sel.value = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
        for _ in range(3):
            await self.fall
        dut.rst_n.value = 1
        await self.fall

    async def select(self, inst: int) -> None:
        if self.multicore:
            self.dut.core_sel.value = inst

    async def _write(self, kind: int, addr: int, data: int) -> None:
        dut = self.dut
        dut.ld_valid.value = 1
        dut.ld_kind.value = kind
        dut.ld_addr.value = addr
        dut.ld_data.value = data
        await self.fall

    async def load_core(self, cp: CoreProgram, *, registers: bool = True, psum_receiver: bool = False) -> None:
        """Write registers (unless ``registers`` is False: reset values kept), biases and weights of ``cp``.

        ``psum_receiver`` sets the modes register's partial-sum receiver bit (MERGE, chip-spec §1.3;
        only cores built with PARTIAL_SUMS = 1 have it).
        """
        if registers:
            # REG_MODES bit fields (docs/rtl.md, "Load interface"); the codes are chip-spec §2.1's.
            modes = (cp.integration_code | (cp.reset_code << 1) | (int(bool(cp.fire)) << 2)
                     | (int(psum_receiver) << MODE_PSUM_RX_BIT))
            await self._write(LD_REG, REG_N_NEURONS, cp.n_neurons)
            await self._write(LD_REG, REG_THRESHOLD, int(cp.threshold))
            await self._write(LD_REG, REG_LEAK_SHIFT, int(cp.leak_shift))
            await self._write(LD_REG, REG_MODES, modes)
        bias = [int(x) for x in cp.bias]
        for g in range(-(-cp.n_neurons // self.lanes)):
            await self._write(LD_BIAS, g, pack_signed(bias[g * self.lanes : (g + 1) * self.lanes], self.v_bits,
                                                      self.lanes))
        for a, per_group in enumerate(weight_words(np.asarray(cp.weights), self.lanes, self.w_bits)):
            for g, word in enumerate(per_group):
                await self._write(LD_WEIGHT, a * self.groups_max + g, word)
        self.dut.ld_valid.value = 0
        await self.fall

    async def clear_membranes(self) -> None:
        """Membranes of the selected core to 0 (start of an inference)."""
        await self._write(LD_CMD, CMD_CLEAR_MEMBRANES, 0)
        self.dut.ld_valid.value = 0
        await self.fall

    async def send_spikes(self, axons: list[int]) -> None:
        """One AER event per cycle into the selected core's input-spike buffer."""
        dut = self.dut
        for a in axons:
            dut.in_valid.value = 1
            dut.in_axon.value = a
            await self.fall
        dut.in_valid.value = 0

    async def run_timestep(self, n_neurons: int) -> tuple[list[int], list[int], int]:
        """Pulse ``start``; return (spiking neurons ascending, end-of-timestep membranes, cycles).

        Spikes and membranes come from the output port (``out_spikes``,
        ``out_v``) in the UPDATE cycles; cycles are counted from ``start``
        sampled to ``done``, inclusive.
        """
        from cocotb.triggers import RisingEdge, with_timeout
        from cocotb.utils import get_sim_time

        dut = self.dut
        while dut.busy.value:  # start is sampled only in IDLE (the DONE cycle returns to IDLE)
            await self.fall
        dut.start.value = 1
        t0 = get_sim_time("ns")  # falling edge F0; the next rising edge samples start
        await self.fall  # F1, in the START cycle
        dut.start.value = 0
        if not dut.out_valid.value and not dut.done.value:
            # INTEGRATE runs without Python: wait for the first UPDATE cycle.
            await with_timeout(RisingEdge(dut.out_valid), self.max_core_cycles * CLOCK_PERIOD_NS, "ns")
            await self.fall
        spikes: list[int] = []
        groups: list[int] = []
        membranes: list[int] = []
        while not dut.done.value:
            if not dut.out_valid.value:
                raise AssertionError(
                    f"after UPDATE group(s) {groups} neither out_valid nor done is high at {get_sim_time('ns')} ns"
                )
            g = int(dut.out_group.value)
            bits = dut.out_spikes.value.to_unsigned()
            groups.append(g)
            membranes += unpack_signed(dut.out_v.value.to_unsigned(), self.v_bits, self.lanes)
            for lane in range(self.lanes):
                if bits >> lane & 1:
                    j = g * self.lanes + lane
                    if j >= n_neurons:
                        raise AssertionError(f"idle lane fired: neuron {j} >= n_neurons {n_neurons}")
                    spikes.append(j)
            if len(groups) > self.groups_max:
                raise AssertionError(f"UPDATE lasted more than {self.groups_max} cycles: groups {groups}")
            await self.fall
        n_groups = -(-n_neurons // self.lanes)
        if groups != list(range(n_groups)):
            raise AssertionError(f"UPDATE groups on the spike port were {groups}, expected 0..{n_groups - 1}")
        cycles = round((get_sim_time("ns") - t0) / CLOCK_PERIOD_NS)
        self.sim_cycles_busy += cycles
        return spikes, membranes[:n_neurons], cycles

    async def read_membranes(self, n_neurons: int) -> list[int]:
        """End-of-timestep membranes of the selected core, one lane group per cycle."""
        dut = self.dut
        values: list[int] = []
        n_groups = -(-n_neurons // self.lanes)
        dut.rd_group.value = 0
        for g in range(n_groups):
            await self.fall
            values += unpack_signed(dut.rd_v.value.to_unsigned(), self.v_bits, self.lanes)
            dut.rd_group.value = min(g + 1, self.groups_max - 1)
        return values[:n_neurons]


async def cosim_program(dut) -> None:
    """cocotb body: run the case in ``$HWSIM_RTL_CASE`` on the DUT and write ``rtl_results.npz``.

    The testbench is the host and the router (``snn_core`` and ``snn_multicore``
    have none): per timestep it delivers the raster through the host routing
    table, then runs the cores stage by stage (core by core), each fed with the
    packets that the RTL cores of earlier stages produced through their routing
    tables. Packets go through the golden router unit (``hwsim.golden.deliver``);
    the RTL router is tested on its own (``test_snn_router.py``) and inside
    ``snn_chip``. With ``$HWSIM_RTL_NO_REGISTERS``
    set, no register is written and no membrane cleared: the cores run on their
    reset values.
    """
    from cocotb.utils import get_sim_time

    case_dir = case_dir_from_env()
    registers = not os.environ.get("HWSIM_RTL_NO_REGISTERS")
    program, rasters = read_case(case_dir)
    cores = program.cores
    if dut._name == "snn_core" and (len(cores) != 1 or cores[0].core != 0):
        raise AssertionError("snn_core runs one-core programs on mesh core 0; use snn_multicore")
    wall0 = time.perf_counter()
    tb = TB(dut, program.chip)
    await tb.start()
    t_start = get_sim_time("ns")
    for cp in cores:
        await tb.select(cp.core)
        await tb.load_core(cp, registers=registers)
    t_loaded, wall_loaded = get_sim_time("ns"), time.perf_counter()
    B, T, _ = rasters.shape
    C = len(cores)
    spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores]
    membranes = [np.zeros((B, T, cp.n_neurons), np.int64) for cp in cores]
    core_cycles = np.zeros((B, T, C), np.int64)
    order = sorted(range(C), key=lambda k: (cores[k].stage, k))
    no_hops = {cp.core: 0 for cp in cores}  # the testbench counts no hops
    for b in range(B):
        if registers:
            for cp in cores:
                await tb.select(cp.core)
                await tb.clear_membranes()
        elif any(cp.integration_code != RESET_MODE_CODES["integration"] for cp in cores):
            raise AssertionError("a core on its reset values integrates discontinuously; the program says otherwise")
        for t in range(T):
            inbox: dict[int, list[int]] = {cp.core: [] for cp in cores}
            deliver([int(i) for i in np.flatnonzero(rasters[b, t])], program.host_routes, inbox, no_hops)
            for k in order:
                cp = cores[k]
                await tb.select(cp.core)
                await tb.send_spikes(inbox[cp.core])
                fired, v_out, cycles = await tb.run_timestep(cp.n_neurons)
                spikes[k][b, t, fired] = 1
                core_cycles[b, t, k] = cycles
                membranes[k][b, t] = v_out
                if t == T - 1:
                    # The readout port must show what the output port reported in UPDATE.
                    # Checked at the end of every inference (it costs one testbench cycle
                    # per lane group, so not every timestep).
                    v_rd = await tb.read_membranes(cp.n_neurons)
                    if v_rd != v_out:
                        j = next(i for i, (x, y) in enumerate(zip(v_rd, v_out)) if x != y)
                        raise AssertionError(
                            f"inference {b}, timestep {t}, core {cp.core}, neuron {j}: readout port "
                            f"rd_v = {v_rd[j]} but out_v reported {v_out[j]} in UPDATE"
                        )
                deliver(fired, cp.routes, inbox, no_hops)
        tb.log.info("inference %d/%d done", b + 1, B)
    t_end, wall_end = get_sim_time("ns"), time.perf_counter()
    sim_cycles = round((t_end - t_start) / CLOCK_PERIOD_NS)
    arrays = {f"spikes_{k}": s for k, s in enumerate(spikes)}
    arrays.update({f"membranes_{k}": v for k, v in enumerate(membranes)})
    save_npz(
        case_dir / "rtl_results.npz",
        core_cycles=core_cycles,
        sim_cycles=np.int64(sim_cycles),
        busy_cycles=np.int64(tb.sim_cycles_busy),
        wall_seconds=np.float64(wall_end - wall0),
        run_cycles=np.int64(round((t_end - t_loaded) / CLOCK_PERIOD_NS)),
        run_seconds=np.float64(wall_end - wall_loaded),
        simulator=np.str_(os.environ.get("HWSIM_RTL_SIM", "?")),
        **arrays,
    )
    print(f"co-simulation: {sim_cycles} cycles in {wall_end - wall0:.2f} s", file=sys.stderr)


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


def _reset_values_case() -> tuple[ChipProgram, np.ndarray]:
    """A full ``small`` core on its reset values: the testbench writes weights and biases, no register.

    The golden program holds the documented reset values (``RESET_REGISTERS``,
    ``n_neurons = NEURONS``). Neurons 0..3 have zero weights and bias 0, so
    their membrane is exactly 0 every timestep: they fire only because the
    reset threshold is 0 (``v >= 0``). Positive membranes fire and keep their
    value (subtract 0), negative ones stay silent, so a wrong reset value of
    the threshold, the reset mode, fire, leak, integration or ``n_neurons``
    changes spikes or membranes.
    """
    chip = load_chip_config("small")
    cc = chip.core
    rng = np.random.default_rng(8)
    w = rng.integers(cc.w_min, cc.w_max + 1, size=(cc.axons, cc.neurons))
    w[:, :4] = 0
    bias = rng.integers(-40, 41, size=cc.neurons)
    bias[:4] = 0
    program = single_core_program(chip, w, bias, **RESET_REGISTERS)
    cp = program.cores[0]
    assert cp.n_neurons == cc.neurons
    assert (cp.integration_code, cp.reset_code) == (RESET_MODE_CODES["integration"], RESET_MODE_CODES["reset"])
    return program, (rng.random((1, 4, cc.axons)) < 0.3).astype(np.uint8)


def _update_saturation_case() -> tuple[ChipProgram, np.ndarray]:
    """The bias add of UPDATE clamps at both rails, and the clamped value then leaks and fires.

    Continuous integration, biases of +-2047 and +-1500 push membranes over
    both rails of the 12-bit membrane in UPDATE (not only in INTEGRATE), leak
    shift 1 halves the clamped value, and the threshold (900) lies between the
    leaked rail (1024) and the leaked values without clamping, so a clamp
    that is off by one or missing changes membranes and spikes.
    """
    chip = load_chip_config("small")
    rng = np.random.default_rng(9)
    w = rng.integers(-32, 32, size=(64, 32))
    bias = np.array([2047, -2048, 1500, -1500] * 8, np.int32)
    program = single_core_program(chip, w, bias, threshold=900, leak_shift=1, integration="continuous",
                                  reset="subtract")
    return program, (rng.random((1, 8, 64)) < 0.5).astype(np.uint8)


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
    "reset-values": _reset_values_case,
    "update-saturation": _update_saturation_case,
}
# Cases whose testbench writes no register and clears no membrane (the core's reset values).
NO_REGISTER_CASES = {"reset-values"}


# ----------------------------------------------------------------------------- runner
@pytest.mark.parametrize("case", list(CASES))
def test_snn_core_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_core`` for the case's chip, co-simulate, compare exactly with the golden model."""
    program, rasters = CASES[case]()
    env = {"HWSIM_RTL_NO_REGISTERS": "1"} if case in NO_REGISTER_CASES else {}
    rtl = run_case(request.node.name, toplevel="snn_core", test_module="test_snn_core", program=program,
                   rasters=rasters, extra_env=env)
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
    if case == "reset-values":
        # Hand-derived: neurons 0..3 (no weights, bias 0) sit at exactly 0 and fire on threshold 0, every timestep.
        assert rtl.spikes[0][0, :, :4].all() and not rtl.membranes[0][0, :, :4].any()
        assert rtl.spikes[0].shape[-1] == cc.neurons
    if case == "update-saturation":
        low, high = update_clamps(program, rasters)
        assert low > 0 and high > 0, f"the case must clamp at both rails in UPDATE: {low} low, {high} high"


def update_clamps(program: ChipProgram, rasters: np.ndarray) -> tuple[int, int]:
    """How often ``v + bias`` in UPDATE left the membrane range (below, above), by the golden core's phases.

    Measures the stimulus, not the RTL: a case meant to exercise both clamps
    of the neuron update must really reach them.
    """
    from hwsim.golden import GoldenCore

    cp, cc = program.cores[0], program.chip.core
    lo, hi = -(1 << (cc.v_bits - 1)), (1 << (cc.v_bits - 1)) - 1
    below = above = 0
    for b in range(rasters.shape[0]):
        unit = GoldenCore(cc, cp)
        for t in range(rasters.shape[1]):
            unit.start()
            unit.integrate([int(a) for a in np.flatnonzero(rasters[b, t])])
            raw = [v + int(x) for v, x in zip(unit.v, cp.bias)]
            below += sum(x < lo for x in raw)
            above += sum(x > hi for x in raw)
            unit.update()
    return below, above

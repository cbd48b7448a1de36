"""The fast co-simulation path: mapped networks on ``snn_multicore`` through the testbench wrapper, vs the golden model.

Same flow and same checks as ``test_snn_multicore.py`` (cocotb is host and
router, core by core, stage by stage; every core's cycles, spikes and
membranes, the readout port at the end of every inference and the UPDATE
port protocol), but the per-cycle driving is done by the simulation-only
wrapper ``tests/rtl/harness/hdl/tb_snn_multicore.v``: it plays each core's
load words from a ``$readmemh`` file through the ordinary load port, sends a
core timestep's AER events, pulses ``start`` and records the UPDATE port,
and cocotb awaits once per command instead of once per cycle
(docs/rtl.md, "Co-simulation speed"). ``snn_multicore`` itself is unchanged.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from harness import (
    CLOCK_PERIOD_NS,
    case_dir_from_env,
    check_parameters,
    compare_with_golden,
    hdl_parameters,
    pack_signed,
    read_case,
    run_case,
    save_npz,
    unpack_fields,
)
from hwsim.config import ChipConfig
from hwsim.golden import deliver
from hwsim.program import ChipProgram, CoreProgram
from hwsim.writers import atomic_write_bytes
from test_snn_core import LD_BIAS, LD_CMD, LD_REG, LD_WEIGHT, CMD_CLEAR_MEMBRANES, REG_LEAK_SHIFT, REG_MODES
from test_snn_core import REG_N_NEURONS, REG_THRESHOLD
from test_snn_multicore import CASES

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["FastTB", "cosim_program_fast", "load_words", "FAST_TOP"]

pytestmark = pytest.mark.rtl

FAST_TOP = "tb_snn_multicore"
# Commands of the wrapper (its header).
CMD_LOAD, CMD_STEP, CMD_READ, CMD_WRITE = 1, 2, 3, 4
# res_error bits of the wrapper, in bit order.
PROTOCOL_ERRORS = (
    "UPDATE groups out of order on the spike port",
    "an idle lane (neuron >= n_neurons) fired",
    "neither out_valid nor done in a cycle after UPDATE began",
    "UPDATE lasted more cycles than there are lane groups",
    "no done within the longest possible core timestep",
    "the UPDATE groups seen at done were not 0 .. G-1",
)


def load_words(cp: CoreProgram, chip: ChipConfig) -> list[tuple[int, int, int]]:
    """``(ld_kind, ld_addr, ld_data)`` of every load write of ``cp``, in ``TB.load_core``'s order.

    Registers, then one bias word per lane group, then weight word ``axon * G + group``
    (``G = NEURONS / LANES``) per axon and group in use; ``ld_data`` as an unsigned word.
    """
    cc = chip.core
    lanes, groups_max = cc.lanes, cc.neurons // cc.lanes
    modes = cp.integration_code | (cp.reset_code << 1) | (int(bool(cp.fire)) << 2)
    words = [(LD_REG, REG_N_NEURONS, cp.n_neurons), (LD_REG, REG_THRESHOLD, int(cp.threshold)),
             (LD_REG, REG_LEAK_SHIFT, int(cp.leak_shift)), (LD_REG, REG_MODES, modes)]
    n_groups = cc.groups(cp.n_neurons)
    bias = [int(x) for x in cp.bias]
    words += [(LD_BIAS, g, pack_signed(bias[g * lanes : (g + 1) * lanes], cc.v_bits, lanes)) for g in range(n_groups)]
    # Weight words, vectorised over axons (lane l of group g at bits [l*W_BITS +: W_BITS]); Python ints, as a
    # word of LANES * W_BITS bits can exceed 64.
    w = np.zeros((cp.n_axons, n_groups * lanes), np.int64)
    w[:, : cp.n_neurons] = np.asarray(cp.weights)
    fields = (w & ((1 << cc.w_bits) - 1)).reshape(cp.n_axons, n_groups, lanes).astype(object)
    packed = sum(fields[..., lane] << (lane * cc.w_bits) for lane in range(lanes))
    words += [(LD_WEIGHT, a * groups_max + g, int(packed[a, g])) for a in range(cp.n_axons) for g in range(n_groups)]
    return words


class FastTB:
    """cocotb side of ``tb_snn_multicore``: one ``await`` per command, results read at command boundaries."""

    def __init__(self, dut, chip: ChipConfig) -> None:
        from cocotb.triggers import ValueChange

        self.dut = dut
        self.chip = chip
        check_parameters(dut, hdl_parameters(chip, FAST_TOP))  # a stale build cannot pass silently
        cc = chip.core
        self.lanes, self.v_bits, self.neurons = cc.lanes, cc.v_bits, cc.neurons
        groups = cc.neurons // cc.lanes
        waddr_w = max((cc.axons * groups - 1).bit_length(), 1)
        self.ld_w = max(cc.lanes * cc.v_bits, 32)
        self.lda_w = max(waddr_w, 2)
        self.ack = ValueChange(dut.ack)
        names = ("req", "cmd", "cmd_core", "cmd_count", "cmd_file", "cmd_spikes", "cmd_word", "res_spikes", "res_v",
                 "res_cycles", "res_error", "res_error_info")
        self.handles = {name: getattr(dut, name) for name in names}
        self.req = 0
        self.sim_cycles_busy = 0
        self.load_files: dict[int, int] = {}  # file index -> words

    async def start(self) -> None:
        """Hold reset for two cycles (as ``TB.start``); the wrapper makes its own clock, checked here."""
        from cocotb.triggers import FallingEdge
        from cocotb.utils import get_sim_time

        dut = self.dut
        for sig in ("rst_n", "req", "cmd", "cmd_core", "cmd_count", "cmd_file", "cmd_spikes", "cmd_word"):
            getattr(dut, sig).value = 0
        fall = FallingEdge(dut.clk)
        for _ in range(3):
            await fall
        t0 = get_sim_time("ns")
        dut.rst_n.value = 1
        await fall
        period = get_sim_time("ns") - t0
        if period != CLOCK_PERIOD_NS:  # every cycle count of the harness assumes it
            raise AssertionError(f"the wrapper's clock period is {period} ns, the harness expects {CLOCK_PERIOD_NS} ns")

    def word(self, kind: int, addr: int, data: int) -> int:
        """One load word ``{ld_kind, ld_addr, ld_data}`` as the wrapper reads it."""
        return (kind << (self.lda_w + self.ld_w)) | (addr << self.ld_w) | (data & ((1 << self.ld_w) - 1))

    def write_load_file(self, directory, index: int, words: list[tuple[int, int, int]]) -> None:
        """``tb_load_<index>.hex`` in ``directory`` (the simulator's working directory)."""
        text = "".join(f"{self.word(*w):x}\n" for w in words)
        atomic_write_bytes(directory / f"tb_load_{index}.hex", text.encode())
        self.load_files[index] = len(words)

    async def _command(self, cmd: int, core: int, **fields: int) -> None:
        # Called at the falling edge where the previous command's ack toggled (or reset ended): the wrapper's
        # state machine has already run at this edge, so it takes the command at the next falling edge.
        handles = self.handles
        handles["cmd"].value, handles["cmd_core"].value = cmd, core
        for name, value in fields.items():
            handles[name].value = value
        self.req ^= 1
        handles["req"].value = self.req
        await self.ack

    async def load(self, core: int, index: int) -> None:
        """Play load file ``index`` into ``core`` through the load port, one word per cycle."""
        await self._command(CMD_LOAD, core, cmd_count=self.load_files[index], cmd_file=index)

    async def clear_membranes(self, core: int) -> None:
        await self._command(CMD_WRITE, core, cmd_word=self.word(LD_CMD, CMD_CLEAR_MEMBRANES, 0))

    async def run_timestep(self, core: int, axons: list[int], n_neurons: int) -> tuple[list[int], np.ndarray, int]:
        """AER events for ``axons``, one timestep of ``core``: (spiking neurons ascending, membranes, cycles)."""
        bitmap = 0
        for a in axons:
            bitmap |= 1 << a
        await self._command(CMD_STEP, core, cmd_spikes=bitmap, cmd_count=n_neurons)
        handles = self.handles
        errors = int(handles["res_error"].value)
        if errors:
            what = "; ".join(text for bit, text in enumerate(PROTOCOL_ERRORS) if errors >> bit & 1)
            raise AssertionError(
                f"core {core}: {what} (first in cycle {int(handles['res_error_info'].value)} after start)"
            )
        cycles = int(handles["res_cycles"].value)
        spikes = unpack_fields(handles["res_spikes"].value.to_unsigned(), 1, n_neurons, signed=False)
        membranes = unpack_fields(handles["res_v"].value.to_unsigned(), self.v_bits, n_neurons, signed=True)
        self.sim_cycles_busy += cycles
        return np.flatnonzero(spikes).tolist(), membranes, cycles

    async def read_membranes(self, core: int, n_neurons: int) -> np.ndarray:
        """End-of-timestep membranes of ``core`` through the readout port, one lane group per cycle."""
        await self._command(CMD_READ, core, cmd_count=n_neurons)
        return unpack_fields(self.handles["res_v"].value.to_unsigned(), self.v_bits, n_neurons, signed=True)


async def cosim_program_fast(dut) -> None:
    """cocotb body: run ``$HWSIM_RTL_CASE`` on ``tb_snn_multicore`` and write ``rtl_results.npz``.

    The flow of ``test_snn_core.cosim_program`` with the wrapper's commands:
    load every core, then per inference clear the membranes and per timestep
    deliver the raster through the host routes and run the cores in stage
    order, each fed with the packets that the RTL cores of earlier stages
    produced (``hwsim.golden.deliver``); the readout port must agree with the
    UPDATE port at the end of every inference.
    """
    from cocotb.utils import get_sim_time

    case_dir = case_dir_from_env()
    program, rasters = read_case(case_dir)
    cores = program.cores
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tb = FastTB(dut, program.chip)
    await tb.start()
    t_start = get_sim_time("ns")
    for k, cp in enumerate(cores):
        tb.write_load_file(case_dir, k, load_words(cp, program.chip))
        await tb.load(cp.core, k)
    t_loaded, wall_loaded, cpu_loaded = get_sim_time("ns"), time.perf_counter(), time.process_time()
    B, T, _ = rasters.shape
    C = len(cores)
    spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores]
    membranes = [np.zeros((B, T, cp.n_neurons), np.int64) for cp in cores]
    core_cycles = np.zeros((B, T, C), np.int64)
    order = sorted(range(C), key=lambda k: (cores[k].stage, k))
    no_hops = {cp.core: 0 for cp in cores}  # the testbench counts no hops
    for b in range(B):
        for cp in cores:
            await tb.clear_membranes(cp.core)
        for t in range(T):
            inbox: dict[int, list[int]] = {cp.core: [] for cp in cores}
            deliver([int(i) for i in np.flatnonzero(rasters[b, t])], program.host_routes, inbox, no_hops)
            for k in order:
                cp = cores[k]
                fired, v_out, cycles = await tb.run_timestep(cp.core, inbox[cp.core], cp.n_neurons)
                spikes[k][b, t, fired] = 1
                core_cycles[b, t, k] = cycles
                membranes[k][b, t] = v_out
                if t == T - 1:
                    v_rd = await tb.read_membranes(cp.core, cp.n_neurons)
                    bad = np.flatnonzero(v_rd != v_out)
                    if bad.size:
                        j = int(bad[0])
                        raise AssertionError(
                            f"inference {b}, timestep {t}, core {cp.core}, neuron {j}: readout port "
                            f"rd_v = {v_rd[j]} but out_v reported {v_out[j]} in UPDATE"
                        )
                deliver(fired, cp.routes, inbox, no_hops)
    t_end, wall_end, cpu_end = get_sim_time("ns"), time.perf_counter(), time.process_time()
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
        # CPU seconds of the simulator process (model and cocotb), which a loaded machine does not inflate.
        cpu_seconds=np.float64(cpu_end - cpu0),
        run_cpu_seconds=np.float64(cpu_end - cpu_loaded),
        **arrays,
    )
    print(f"fast co-simulation: {sim_cycles} cycles in {wall_end - wall0:.2f} s", file=sys.stderr)


if cocotb is not None:

    @cocotb.test()
    async def cosim_network_fast(dut) -> None:
        """Run the network case the pytest runner wrote (``$HWSIM_RTL_CASE``) through the wrapper."""
        await cosim_program_fast(dut)


# The cases of test_snn_multicore.py that the fast path runs too: every neuron mode, three stages, silent
# and all-spiking inputs, the default chip and the trained digits network.
FAST_CASES = ("small-2layer", "small-continuous-readout", "small-3layer-anneal", "small-silent", "small-all-spiking",
              "default_28nm", "digits")


@pytest.mark.parametrize("case", FAST_CASES)
def test_snn_multicore_fast_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build the wrapper for the case's chip, run the network through it, compare exactly with the golden model."""
    program, rasters = CASES[case]()
    rtl = run_case(request.node.name, toplevel=FAST_TOP, test_module="test_snn_multicore_fast", program=program,
                   rasters=rasters, testcase="cosim_network_fast")
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]
    # Chip-spec §2.4 by hand, independent of hwsim.golden: core cycles = 1 + n_spk*G + (n_spk > 0) + G + 1,
    # with n_spk the distinct axons each core received (the RTL's spikes of earlier stages, routed).
    groups = np.array([program.chip.core.groups(cp.n_neurons) for cp in program.cores])
    if case == "small-silent":
        assert np.all(rtl.core_cycles == groups + 2)
    integrate = rtl.core_cycles - groups - 2
    assert np.all((integrate == 0) | ((integrate > groups) & ((integrate - 1) % groups == 0))), (
        "INTEGRATE must be n_spk*G issue cycles plus one drain cycle, or none"
    )


def test_snn_multicore_fast_check_bites(request: pytest.FixtureRequest) -> None:
    """The fast path's results are compared strictly: one changed spike, membrane, cycle or register is caught.

    Runs ``small-2layer`` through the wrapper (it must match the golden model), then checks that the
    scoreboard rejects the same RTL results with one value changed, and rejects them against the golden
    model of a program whose first core's threshold is one higher.
    """
    program, rasters = CASES["small-2layer"]()
    rtl = run_case(request.node.name, toplevel=FAST_TOP, test_module="test_snn_multicore_fast", program=program,
                   rasters=rasters, testcase="cosim_network_fast")
    compare_with_golden(program, rasters, rtl)
    k = 0
    b, t, j = 0, rasters.shape[1] - 1, int(np.argmax(rtl.membranes[k][0, -1] != 0))
    spikes = [s.copy() for s in rtl.spikes]
    spikes[k][b, t, j] ^= 1
    membranes = [v.copy() for v in rtl.membranes]
    membranes[k][b, t, j] += 1
    cycles = rtl.core_cycles.copy()
    cycles[b, t, k] += 1
    for field, value, message in (("spikes", spikes, "spike expected"), ("membranes", membranes, "membrane expected"),
                                  ("core_cycles", cycles, "core cycles expected")):
        with pytest.raises(AssertionError, match=message):
            compare_with_golden(program, rasters, replace(rtl, **{field: value}))
    cp = program.cores[k]
    other = ChipProgram(chip=program.chip, cores=(replace(cp, threshold=cp.threshold + 1), *program.cores[1:]),
                        host_routes=program.host_routes, n_inputs=program.n_inputs).validate()
    with pytest.raises(AssertionError, match="expected"):
        compare_with_golden(other, rasters, rtl)


@pytest.mark.parametrize("chip_name", ["small", "default_28nm"])
def test_tb_snn_multicore_lint(chip_name: str, tmp_path) -> None:
    """The wrapper is warning-free Verilog-2005 for Icarus and for Verilator -Wall (with --timing: its clock)."""
    import shutil
    import subprocess

    from harness import RTL_DIR, hdl_sources, verilator_env
    from harness.build import TESTBENCH_HDL_DIR
    from hwsim.config import load_chip_config

    params = hdl_parameters(load_chip_config(chip_name), FAST_TOP)
    wrapper = TESTBENCH_HDL_DIR / f"{FAST_TOP}.v"
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not on PATH")
    cmd = ["iverilog", "-g2005", "-Wall", "-s", FAST_TOP, "-o", str(tmp_path / "a.out"), str(wrapper)]
    cmd += [f"-P{FAST_TOP}.{k}={v}" for k, v in params.items()] + [str(p) for p in hdl_sources()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr
    reason = verilator_env()
    if reason is not None:
        pytest.skip(reason)
    cmd = ["verilator", "--lint-only", "-Wall", "--timing", f"-I{RTL_DIR}", "--top-module", FAST_TOP, str(wrapper)]
    proc = subprocess.run(cmd + [f"-G{k}={v}" for k, v in params.items()], capture_output=True, text=True)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr and "%Error" not in proc.stderr, proc.stderr

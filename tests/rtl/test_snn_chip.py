"""Co-simulation of whole mapped networks on ``rtl/snn_chip.v`` against ``hwsim.golden.simulate``.

Unlike ``test_snn_multicore.py`` the testbench is neither host nor router
here: it loads the program (weights, registers, routing tables, stages, chip
registers), writes each timestep's input spikes into the host input buffer and
pulses ``start`` once per timestep. The RTL sequences barrier, host routing,
the stages and their routing itself (chip-spec §5.1). Compared exactly with the
golden model, every timestep:

* every core's spikes and end-of-timestep membranes (readout ports after
  ``done``; the spike and membrane output port of one core per timestep, rotating,
  must agree with them);
* every core's cycles, packets and route cycles, the host's packets and route
  cycles (RTL counters);
* the length of every phase (BARRIER, HOST, CORES(s), ROUTE(s)) from the
  ``phase`` pins, and the chip timestep cycles, counted by the RTL (``ts_cycles``)
  and measured by the testbench from ``start`` to ``done``: chip-spec §1.2;
* the chip's output spikes and membranes.

With an early-exit rule (``$HWSIM_EXIT_RULE``, set by ``test_snn_chip_exit.py``)
the testbench also loads the exit registers and the output map, writes
``gain_t`` before every timestep, clears the exit accumulators with the
membranes at the start of every image, and ends an image after the timestep
whose ``exit`` is high (chip-spec §1.4), recording the decisions, the exit
counters, the prediction and the accumulators; the EXIT phase is one more
column of the phase lengths.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from harness import (
    CLOCK_PERIOD_NS,
    RtlRun,
    case_dir_from_env,
    compare_with_golden,
    read_case,
    run_case,
    save_npz,
    unpack_signed,
)
from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.exit_unit import EXIT_COUNTER_NAMES, ExitRule
from hwsim.golden import route_cycles
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping import map_network
from test_snn_core import TB as CoreTB
from test_snn_exit_unit import RULE_CODES, rule_threshold_word

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["TB", "CASES", "compare_chip_with_golden", "compare_exit_counts_with_golden", "phase_names"]

pytestmark = pytest.mark.rtl

# Load-interface kinds of rtl/snn_chip.v beyond the core's 0..3 (docs/rtl.md, "Chip top level").
K_ROUTE, K_CORE_REG, K_HOST_ROUTE, K_CHIP_REG = 4, 5, 6, 7
CREG_USED, CREG_STAGE, CREG_N_ROUTES, CREG_PSUM_OUT = 0, 1, 2, 3
CHIP_HOST_N_ROUTES, CHIP_HOP_LATENCY, CHIP_BARRIER = 0, 1, 2
# Early-exit chip registers (docs/rtl.md, "Early exit").
CHIP_EXIT_CONTROL, CHIP_EXIT_THRESHOLD, CHIP_EXIT_GAIN, CHIP_EXIT_MAP, CHIP_EXIT_CLEAR = 3, 4, 5, 6, 7
# Values of the `phase` pins.
PH_IDLE, PH_BARRIER, PH_HOST, PH_CORES, PH_ROUTE, PH_EXIT = 0, 1, 2, 3, 4, 5


def phase_names(n_stages: int) -> list[str]:
    """Names of the columns of ``phase_cycles``: barrier, host, then cores/route per stage, then exit."""
    return (["barrier", "host route"] + [f"{kind} stage {s}" for s in range(n_stages) for kind in ("cores", "route")]
            + ["exit"])


def exit_rule_to_env(rule: ExitRule) -> dict[str, str]:
    """The ``extra_env`` that hands an exit rule to the chip testbench."""
    return {"HWSIM_EXIT_RULE": json.dumps({"rule": rule.rule, "threshold": rule.threshold,
                                           "gain_num": rule.gain_num, "text": rule.text})}


def exit_rule_from_env() -> ExitRule | None:
    text = os.environ.get("HWSIM_EXIT_RULE")
    return ExitRule(**json.loads(text)) if text else None


# ----------------------------------------------------------------------------- cocotb side
class TB(CoreTB):
    """cocotb driver of ``snn_chip``: reset, loading a whole program, one timestep per ``start``, readout.

    Reuses the core loader of ``test_snn_core.TB`` (``ld_kind`` 0..3 reach the
    core picked by ``core_sel``). Inputs change at falling edges, outputs are
    sampled at falling edges.
    """

    def __init__(self, dut, chip: ChipConfig) -> None:
        super().__init__(dut, chip)
        self.chip = chip
        try:
            self.routes_max = int(dut.ROUTES.value)
            self.host_inputs = int(dut.HOST_INPUTS.value)
        except AttributeError:  # a simulator that does not expose parameters: the RTL defaults
            self.routes_max = chip.n_cores
            cc = chip.core
            self.host_inputs = min(4096, cc.axons * chip.n_cores) if cc.partial_sums else cc.axons

    async def start(self) -> None:
        """Start the clock and hold reset for three cycles."""
        from cocotb.clock import Clock

        dut = self.dut
        for sig in ("rst_n", "core_sel", "ld_valid", "ld_kind", "ld_addr", "ld_data", "in_valid", "in_index",
                    "start", "rd_group", "exit_acc_index"):
            getattr(dut, sig).value = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
        for _ in range(3):
            await self.fall
        dut.rst_n.value = 1
        await self.fall

    async def _table(self, kind: int, routes: tuple[Route, ...], who: str) -> None:
        if len(routes) > self.routes_max:
            raise AssertionError(f"{who}: {len(routes)} routing entries, snn_chip has ROUTES = {self.routes_max}")
        for e, r in enumerate(routes):
            for field, value in enumerate((r.dest_core, r.src_lo, r.src_hi, r.axon_offset)):
                await self._write(kind, 4 * e + field, int(value))

    async def load_program(self, program: ChipProgram, *, chip_registers: bool = True) -> None:
        """Chip registers, then every used core (memories, registers, stage, table), then the host table.

        ``chip_registers=False`` leaves hop latency and barrier at their reset
        values (docs/rtl.md: chip registers 0); the host table length is still written.
        """
        chip = program.chip
        if program.n_inputs > self.host_inputs:
            raise AssertionError(f"{program.n_inputs} network inputs, snn_chip has HOST_INPUTS = {self.host_inputs}")
        if chip_registers:
            await self._write(K_CHIP_REG, CHIP_HOP_LATENCY, chip.hop_latency_cycles)
            await self._write(K_CHIP_REG, CHIP_BARRIER, chip.barrier_cycles)
        receivers = program.psum_receivers()
        for cp in program.cores:
            if not 0 <= cp.stage < chip.n_cores:
                raise AssertionError(f"core {cp.core}: stage {cp.stage}, snn_chip holds stages 0..{chip.n_cores - 1}")
            await self.select(cp.core)
            await self.load_core(cp, psum_receiver=cp.core in receivers)
            await self._write(K_CORE_REG, CREG_USED, 1)
            await self._write(K_CORE_REG, CREG_STAGE, cp.stage)
            if chip.core.partial_sums:  # the register exists only with PARTIAL_SUMS = 1
                await self._write(K_CORE_REG, CREG_PSUM_OUT, int(bool(cp.psum_out)))
            await self._table(K_ROUTE, cp.routes, f"core {cp.core}")
            await self._write(K_CORE_REG, CREG_N_ROUTES, len(cp.routes))
        await self._table(K_HOST_ROUTE, program.host_routes, "host")
        await self._write(K_CHIP_REG, CHIP_HOST_N_ROUTES, len(program.host_routes))
        self.dut.ld_valid.value = 0
        await self.fall

    async def load_exit(self, program: ChipProgram, rule: ExitRule) -> None:
        """The output map (output ``o`` = neuron ``j`` of core ``c``), then the exit control and threshold registers."""
        K = program.n_outputs
        try:
            max_outputs = int(self.dut.MAX_OUTPUTS.value)
        except AttributeError:  # a simulator that does not expose parameters: the RTL default
            max_outputs = 64
        if K > max_outputs:
            raise AssertionError(f"{K} outputs, snn_chip has MAX_OUTPUTS = {max_outputs}")
        outputs = [cp for cp in program.cores if cp.is_output]
        for cp in outputs:
            await self.select(cp.core)
            for j in range(cp.n_neurons):
                await self._write(K_CHIP_REG, CHIP_EXIT_MAP, ((cp.output_offset + j) << 16) | j)
        # An entry past MAX_OUTPUTS (here the last output's neuron) must be ignored, not wrap onto output 0.
        await self._write(K_CHIP_REG, CHIP_EXIT_MAP, (max_outputs << 16) | (outputs[-1].n_neurons - 1))
        spike_readout = int(bool(outputs[0].fire))  # one readout for all output cores (chip-spec §6)
        await self._write(K_CHIP_REG, CHIP_EXIT_CONTROL, RULE_CODES[rule.rule] | (spike_readout << 2) | (K << 16))
        await self._write(K_CHIP_REG, CHIP_EXIT_THRESHOLD, rule_threshold_word(rule))
        self.dut.ld_valid.value = 0
        await self.fall

    async def write_chip_register(self, addr: int, value: int) -> None:
        """One chip register write (kind 7) while the chip is idle: the exit gain, the accumulator clear."""
        await self._write(K_CHIP_REG, addr, value)
        self.dut.ld_valid.value = 0

    async def read_exit(self, n_outputs: int) -> tuple[list[int], int, list[int]]:
        """The exit unit after a timestep: its counters, the prediction and the accumulators 0..K-1."""
        dut = self.dut
        counters = [int(getattr(dut, f"exit_{name}").value) for name in EXIT_COUNTER_NAMES]
        top = int(dut.exit_top.value)
        acc_bits = self.v_bits + 13
        accs = []
        for o in range(n_outputs):
            dut.exit_acc_index.value = o
            await self.fall
            v = dut.exit_acc.value.to_unsigned()
            accs.append(v - (1 << acc_bits) if v >> (acc_bits - 1) else v)
        return counters, top, accs

    async def send_inputs(self, inputs: list[int]) -> None:
        """One AER event per cycle into the host input buffer (not part of the timestep)."""
        dut = self.dut
        for i in inputs:
            dut.in_valid.value = 1
            dut.in_index.value = i
            await self.fall
        dut.in_valid.value = 0

    async def run_timestep(self, watch_core: int, n_neurons: int, max_cycles: int) -> dict:
        """Pulse ``start`` and follow the timestep cycle by cycle until ``done``.

        Returns the cycles measured from the falling edge where ``start`` is
        driven to the falling edge where ``done`` is high (the cycle after
        ``start`` is sampled through the ``done`` cycle, inclusive), the
        ``(phase, stage)`` of every cycle, and the spikes and membranes that
        the watched core (``core_sel``) showed on its output port in UPDATE.
        """
        from cocotb.utils import get_sim_time

        dut = self.dut
        dut.core_sel.value = watch_core
        while dut.busy.value:
            await self.fall
        dut.start.value = 1
        t0 = get_sim_time("ns")
        await self.fall
        dut.start.value = 0
        trace: list[tuple[int, int]] = []
        groups: list[int] = []
        spikes: list[int] = []
        membranes: list[int] = []
        while True:
            trace.append((int(dut.phase.value), int(dut.phase_stage.value)))
            if dut.out_valid.value:
                g = int(dut.out_group.value)
                groups.append(g)
                bits = dut.out_spikes.value.to_unsigned()
                membranes += unpack_signed(dut.out_v.value.to_unsigned(), self.v_bits, self.lanes)
                spikes += [g * self.lanes + lane for lane in range(self.lanes) if bits >> lane & 1]
            if dut.done.value:
                break
            if not dut.busy.value:
                raise AssertionError(f"the chip went idle without done at {get_sim_time('ns')} ns")
            if len(trace) > max_cycles:
                raise AssertionError(f"no done within {max_cycles} cycles of start")
            await self.fall
        cycles = round((get_sim_time("ns") - t0) / CLOCK_PERIOD_NS)
        self.sim_cycles_busy += cycles
        n_groups = -(-n_neurons // self.lanes)
        if groups != list(range(n_groups)):
            raise AssertionError(f"core {watch_core}: UPDATE groups on the spike port were {groups}, "
                                 f"expected 0..{n_groups - 1}")
        bad = [j for j in spikes if j >= n_neurons]
        if bad:
            raise AssertionError(f"core {watch_core}: idle lane fired: neuron {bad[0]} >= n_neurons {n_neurons}")
        return {"cycles": cycles, "trace": trace, "spikes": spikes, "membranes": membranes[:n_neurons]}

    async def read_core(self, core: int, n_neurons: int) -> tuple[list[int], list[int], tuple[int, int, int]]:
        """Spikes (ascending), membranes and (core cycles, route cycles, packets) of ``core``'s last timestep."""
        dut = self.dut
        dut.core_sel.value = core
        fired: list[int] = []
        values: list[int] = []
        counters = (0, 0, 0)
        for g in range(-(-n_neurons // self.lanes)):
            dut.rd_group.value = g
            await self.fall
            values += unpack_signed(dut.rd_v.value.to_unsigned(), self.v_bits, self.lanes)
            bits = dut.rd_spikes.value.to_unsigned()
            fired += [g * self.lanes + lane for lane in range(self.lanes) if bits >> lane & 1]
            if g == 0:
                counters = (int(dut.rd_core_cycles.value), int(dut.rd_route_cycles.value), int(dut.rd_packets.value))
        bad = [j for j in fired if j >= n_neurons]
        if bad:
            raise AssertionError(f"core {core}: spike bitmap holds neuron {bad[0]} >= n_neurons {n_neurons}")
        return fired, values[:n_neurons], counters


def _phase_cycles(trace: list[tuple[int, int]], n_stages: int) -> np.ndarray:
    """Cycles per phase (columns of :func:`phase_names`); raises if the phases are out of order."""
    out = np.zeros(2 + 2 * n_stages + 1, np.int64)
    order = []
    for ph, stage in trace:
        if ph == PH_BARRIER:
            col = 0
        elif ph == PH_HOST:
            col = 1
        elif ph in (PH_CORES, PH_ROUTE) and stage < n_stages:
            col = 2 + 2 * stage + (ph == PH_ROUTE)
        elif ph == PH_EXIT:
            col = 2 + 2 * n_stages
        else:
            raise AssertionError(f"phase pins ({ph}, stage {stage}) inside a timestep")
        if not order or order[-1] != col:
            order.append(col)
        out[col] += 1
    if order != sorted(set(order)):
        names = phase_names(n_stages)
        raise AssertionError(f"phases out of order: {[names[c] for c in order]}")
    return out


async def cosim_chip(dut) -> None:
    """cocotb body: run the case in ``$HWSIM_RTL_CASE`` on ``snn_chip`` and write ``rtl_results.npz``."""
    from cocotb.utils import get_sim_time

    case_dir = case_dir_from_env()
    program, rasters = read_case(case_dir)
    chip, cores = program.chip, program.cores
    wall0 = time.perf_counter()
    tb = TB(dut, chip)
    await tb.start()
    t_start = get_sim_time("ns")
    # HWSIM_CHIP_REGS_AT_RESET=1: the case relies on the reset values of hop latency and barrier.
    await tb.load_program(program, chip_registers=os.environ.get("HWSIM_CHIP_REGS_AT_RESET") != "1")
    rule = exit_rule_from_env()
    if rule is not None:
        await tb.load_exit(program, rule)
    t_loaded, wall_loaded = get_sim_time("ns"), time.perf_counter()
    B, T, _ = rasters.shape
    C, S = len(cores), program.n_stages
    spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores]
    membranes = [np.zeros((B, T, cp.n_neurons), np.int64) for cp in cores]
    core_cycles = np.zeros((B, T, C), np.int64)
    core_route_cycles = np.zeros((B, T, C), np.int64)
    core_packets = np.zeros((B, T, C), np.int64)
    host_packets = np.zeros((B, T), np.int64)
    host_route = np.zeros((B, T), np.int64)
    ts_rtl = np.zeros((B, T), np.int64)
    ts_tb = np.zeros((B, T), np.int64)
    phases = np.zeros((B, T, 2 + 2 * S + 1), np.int64)
    K = program.n_outputs
    exit_decisions = np.zeros((B, T), np.int64)
    exit_timesteps = np.full(B, T, np.int64)
    exit_counters = np.zeros((B, T, len(EXIT_COUNTER_NAMES)), np.int64)
    exit_top = np.zeros((B, T), np.int64)
    exit_acc = np.zeros((B, T, K), np.int64)
    # A generous bound on one timestep: every core serially at its maximum, every packet, every hop, the exit unit.
    cc = chip.core
    max_cycles = (chip.barrier_cycles + (C + 1) * (2 + cc.axons * (cc.neurons // cc.lanes) + 1 + cc.neurons // cc.lanes
                  + cc.neurons * tb.routes_max + 64 * (chip.mesh_rows + chip.mesh_cols)) + cc.axons * tb.routes_max
                  + 2 * K + 3)
    for b in range(B):
        for cp in cores:
            await tb.select(cp.core)
            await tb.clear_membranes()
        if rule is not None:  # the start of an image: the accumulators too (chip-spec §1.4)
            await tb.write_chip_register(CHIP_EXIT_CLEAR, 0)
        for t in range(T):
            k_watch = (b * T + t) % C
            if rule is not None:  # the host's division, once per timestep: n = t + 1 timesteps so far
                await tb.write_chip_register(CHIP_EXIT_GAIN, rule.gain(t + 1))
            await tb.send_inputs([int(i) for i in np.flatnonzero(rasters[b, t])])
            run = await tb.run_timestep(cores[k_watch].core, cores[k_watch].n_neurons, max_cycles)
            exit_decisions[b, t] = int(dut.exit.value)  # sampled in the done cycle
            ts_tb[b, t] = run["cycles"]
            phases[b, t] = _phase_cycles(run["trace"], S)
            for k, cp in enumerate(cores):
                fired, v, counters = await tb.read_core(cp.core, cp.n_neurons)
                spikes[k][b, t, fired] = 1
                membranes[k][b, t] = v
                core_cycles[b, t, k], core_route_cycles[b, t, k], core_packets[b, t, k] = counters
                if k == k_watch and (fired != run["spikes"] or v != run["membranes"]):
                    what = "spikes" if fired != run["spikes"] else "membranes"
                    raise AssertionError(
                        f"inference {b}, timestep {t}, core {cp.core}: {what} on the readout port differ from "
                        f"the output port in UPDATE ({fired if what == 'spikes' else v} vs "
                        f"{run['spikes'] if what == 'spikes' else run['membranes']})"
                    )
            ts_rtl[b, t] = int(dut.ts_cycles.value)
            host_packets[b, t] = int(dut.host_packets.value)
            host_route[b, t] = int(dut.host_route_cycles.value)
            if rule is not None:
                counters, exit_top[b, t], accs = await tb.read_exit(K)
                exit_counters[b, t] = counters
                exit_acc[b, t] = accs
                if exit_decisions[b, t]:  # the host ends the image: no further timesteps
                    exit_timesteps[b] = t + 1
                    break
        tb.log.info("inference %d/%d done", b + 1, B)
    t_end, wall_end = get_sim_time("ns"), time.perf_counter()
    sim_cycles = round((t_end - t_start) / CLOCK_PERIOD_NS)
    arrays = {f"spikes_{k}": s for k, s in enumerate(spikes)}
    arrays.update({f"membranes_{k}": v for k, v in enumerate(membranes)})
    save_npz(
        case_dir / "rtl_results.npz",
        core_cycles=core_cycles,
        core_route_cycles=core_route_cycles,
        core_packets=core_packets,
        host_packets=host_packets,
        host_route_cycles=host_route,
        timestep_cycles_rtl=ts_rtl,
        timestep_cycles_tb=ts_tb,
        phase_cycles=phases,
        exit_decisions=exit_decisions,
        exit_timesteps=exit_timesteps,
        exit_counters=exit_counters,
        exit_top=exit_top,
        exit_acc=exit_acc,
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
    async def cosim_network(dut) -> None:
        """Run the network case the pytest runner wrote (``$HWSIM_RTL_CASE``) on the chip top level."""
        await cosim_chip(dut)


# ----------------------------------------------------------------------------- scoreboard
def compare_exit_counts_with_golden(gold, extra: dict, exit_rule: ExitRule | None) -> None:
    """Assert the RTL's timesteps run per image and exit counters of every timestep (0 after an image's end,
    all 0 under rule none) equal the golden run ``gold`` made with the same rule (chip-spec §1.4).

    Raises:
        AssertionError: naming the first image, or image and timestep, that differs.
    """
    got_ts, exp_ts = extra["exit_timesteps"], gold.exit_timesteps
    if not np.array_equal(got_ts, exp_ts):
        b = int(np.flatnonzero(got_ts != exp_ts)[0])
        rule = exit_rule.text if exit_rule is not None else "none"
        raise AssertionError(f"inference {b}: timesteps run expected {int(exp_ts[b])} (golden exit), "
                             f"RTL {int(got_ts[b])} (rule {rule})")
    bad = np.argwhere(extra["exit_counters"] != gold.exit_counters)
    if bad.size:
        b, t, i = (int(v) for v in bad[0])
        raise AssertionError(f"inference {b}, timestep {t}: exit counter {EXIT_COUNTER_NAMES[i]} expected "
                             f"{int(gold.exit_counters[b, t, i])}, RTL {int(extra['exit_counters'][b, t, i])}")


def compare_chip_with_golden(program: ChipProgram, rasters: np.ndarray, rtl: RtlRun,
                             exit_rule: ExitRule | None = None) -> None:  # fmt: skip
    """Assert that the RTL's routing and chip cycles equal the golden model's, per timestep.

    Per inference and timestep: the host's packets and route cycles, every
    core's packets and route cycles (``packets + hop_latency * max_hops``),
    every phase length, and the timestep cycles as counted by the RTL and as
    measured by the testbench, all against ``hwsim.golden.simulate``. With
    ``exit_rule`` (chip-spec §1.4): against ``simulate(..., exit_rule=exit_rule)``,
    over the timesteps each image ran; also the timesteps run per image, the
    EXIT phase's length and the exit counters of every timestep (0 after an image's end).

    Raises:
        AssertionError: naming the first mismatch (inference, timestep, sender or phase, expected vs got).
    """
    from hwsim.golden import simulate

    rasters = rasters if rasters.ndim == 3 else rasters[None]
    gold = simulate(program, rasters, record=True, exit_rule=exit_rule)
    chip, cores = program.chip, program.cores
    x = rtl.extra
    if exit_rule is not None:
        compare_exit_counts_with_golden(gold, x, exit_rule)
    k_exit_cycles = EXIT_COUNTER_NAMES.index("cycles")
    hl = chip.hop_latency_cycles
    k_pk, k_cyc = COUNTER_NAMES.index("packets"), COUNTER_NAMES.index("cycles")
    h_pk, h_rc = HOST_COUNTER_NAMES.index("packets"), HOST_COUNTER_NAMES.index("route_cycles")
    max_hops = [max((chip.hops(cp.core, r.dest_core) for r in cp.routes), default=0) for cp in cores]
    names = phase_names(program.n_stages)
    B, T = rasters.shape[:2]
    for b in range(B):
        ran = int(gold.exit_timesteps[b])  # T under rule none
        for key in ("timestep_cycles_rtl", "timestep_cycles_tb"):
            assert not x[key][b, ran:].any(), f"inference {b}: the RTL ran timesteps after the image's end ({ran})"
        assert not gold.timestep_cycles[b, ran:].any(), f"inference {b}: golden cycles after the image's end"
        for t in range(ran):
            where = f"inference {b}, timestep {t}"
            g_host = gold.host_counters[b, t]
            for what, exp, got in (("packets", g_host[h_pk], x["host_packets"][b, t]),
                                   ("route cycles", g_host[h_rc], x["host_route_cycles"][b, t])):
                if int(exp) != int(got):
                    raise AssertionError(f"{where}, host: {what} expected {int(exp)}, RTL got {int(got)}")
            exp_route = []
            for k, cp in enumerate(cores):
                packets = int(gold.counters[b, t, k, k_pk])
                exp_route.append(route_cycles(packets, max_hops[k], hl))
                for what, exp, got in (("packets", packets, x["core_packets"][b, t, k]),
                                       ("route cycles", exp_route[k], x["core_route_cycles"][b, t, k])):
                    if int(exp) != int(got):
                        raise AssertionError(f"{where}, core {cp.core}: {what} expected {exp}, RTL got {int(got)}")
            exp_phases = [chip.barrier_cycles, int(g_host[h_rc])]
            for s in range(program.n_stages):
                members = [k for k, cp in enumerate(cores) if cp.stage == s]
                exp_phases.append(max((int(gold.counters[b, t, k, k_cyc]) for k in members), default=0))
                exp_phases.append(max((exp_route[k] for k in members), default=0))
            exp_phases.append(int(gold.exit_counters[b, t, k_exit_cycles]))  # EXIT (0 under rule none)
            got_phases = [int(v) for v in x["phase_cycles"][b, t]]
            for name, exp, got in zip(names, exp_phases, got_phases):
                if exp != got:
                    raise AssertionError(f"{where}: phase {name} expected {exp} cycles, RTL took {got} "
                                         f"(phases expected {exp_phases}, RTL {got_phases})")
            exp_t = int(gold.timestep_cycles[b, t])
            for how, key in (("counted by the RTL (ts_cycles)", "timestep_cycles_rtl"),
                             ("measured start -> done", "timestep_cycles_tb")):
                got = int(x[key][b, t])
                if got != exp_t:
                    raise AssertionError(f"{where}: chip timestep cycles expected {exp_t}, {how} {got} "
                                         f"(phases expected {exp_phases}, RTL {got_phases})")


# ----------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """A co-simulation case: a factory of ``(program, rasters)`` and the stages the program must have at least."""

    make: Callable[[], tuple[ChipProgram, np.ndarray]]
    min_stages: int = 2


def _chip(preset: str, **changes) -> ChipConfig:
    chip = load_chip_config(preset)
    return chip.replace(**changes) if changes else chip


def _random(chip: ChipConfig, seed: int, sizes: tuple[int, ...], *, timesteps: int, batch: int, p: float,
            placement: str = "row_major", silent: tuple[int, ...] = (), **kwargs) -> Callable:
    def make():
        rng = np.random.default_rng(seed)
        net = random_network(rng, sizes, chip.core, **kwargs)
        program = map_network(net, chip, placement)
        rasters = random_raster(rng, batch, timesteps, sizes[0], p)
        rasters[:, list(silent)] = 0
        return program, rasters

    return make


def _digits() -> tuple[ChipProgram, np.ndarray]:
    """The bundled trained digits network on the default 28 nm chip, two rate-encoded test digits."""
    from hwsim.datasets import load_dataset
    from hwsim.encoding import encode
    from hwsim.training import default_network_path, load_default_network
    from mapping.errors import DRCWarning

    if not default_network_path().exists():
        pytest.skip(f"the bundled digits network {default_network_path()} does not exist yet")
    net = load_default_network()
    with warnings.catch_warnings():
        # Trained for v_bits = 12 (the small chip); on 16-bit membranes it only saturates later.
        warnings.simplefilter("ignore", DRCWarning)
        program = map_network(net, load_chip_config("default_28nm"))
    data = load_dataset("digits")
    timesteps = int(net.metadata.get("timesteps", 8))
    return program, encode(data.x_test[:2], timesteps, str(net.metadata.get("encoding", "rate")), seed=0)


def _handmade() -> tuple[ChipProgram, np.ndarray]:
    """A hand-written program on the small chip, with structure that the mapper never produces.

    Stage 2 holds no core (skipped at no cost), core 3 (stage 0) feeds both
    stage 1 and stage 3 (a skip connection, and two entries into core 1 for
    two neuron ranges), the host feeds stage 0 and stage 3 directly, and some
    neurons of core 1 are not routed at all (their spikes send nothing).
    """
    chip = SMALL
    rng = np.random.default_rng(38)
    cc = chip.core

    def core(core: int, stage: int, n_axons: int, n_neurons: int, routes: tuple[Route, ...], **kw) -> CoreProgram:
        return CoreProgram(core=core, stage=stage, weights=rng.integers(-6, cc.w_max + 1, (n_axons, n_neurons)),
                           bias=rng.integers(-2, 3, n_neurons), threshold=int(rng.integers(8, 40)), routes=routes,
                           label=f"hand{core}", **kw)

    cores = (
        core(3, 0, 40, 24, (Route(1, 0, 16, 0), Route(0, 8, 24, 20), Route(1, 20, 24, 40))),
        core(1, 1, 44, 20, (Route(0, 0, 12, 0),)),
        core(0, 3, 46, 10, (), output_offset=0),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(3, 0, 40, 0), Route(0, 30, 40, 36)),
                          n_inputs=40).validate()
    return program, random_raster(rng, 1, 4, 40, 0.35)


def _westward() -> tuple[ChipProgram, np.ndarray]:
    """Hand-written 2 x 3 mesh program whose packets travel from columns 2 and 1 back to lower columns.

    Hop latency 2, so every hop count changes the route cycles. Core ``c`` sits at
    row ``c // 3``, column ``c % 3``: core 5 (1, 2) sends to core 4 (1, 1; 1 hop) and
    to core 0 (0, 0; 3 hops), core 2 (0, 2) to core 4 (2 hops), core 4 to core 0
    (2 hops); the host (at core 0) feeds cores 5 (3 hops) and 2 (2 hops). Every
    routing entry but one has a lower source bound above 0.
    """
    chip = WESTWARD_CHIP
    rng = np.random.default_rng(42)
    cc = chip.core

    def core(core: int, stage: int, n_axons: int, n_neurons: int, routes: tuple[Route, ...], **kw) -> CoreProgram:
        return CoreProgram(core=core, stage=stage, weights=rng.integers(-4, cc.w_max + 1, (n_axons, n_neurons)),
                           bias=rng.integers(-2, 3, n_neurons), threshold=int(rng.integers(10, 30)), routes=routes,
                           label=f"west{core}", **kw)

    cores = (
        core(5, 0, 40, 24, (Route(4, 4, 20, 0), Route(0, 10, 24, 13))),
        core(2, 0, 30, 20, (Route(4, 6, 20, 16),)),
        core(4, 1, 30, 16, (Route(0, 3, 16, 0),)),
        core(0, 2, 27, 10, (), output_offset=0),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(5, 0, 40, 0), Route(2, 5, 35, 0)),
                          n_inputs=40).validate()
    return program, random_raster(rng, 1, 4, 40, 0.4)


def _northward() -> tuple[ChipProgram, np.ndarray]:
    """Hand-written 3 x 1 mesh program whose packets travel from row 2 back to rows 1 and 0.

    Hop latency 3. Core ``c`` sits at row ``c``: core 2 sends to core 1 (1 hop:
    a row difference between two rows that are both above 0) and to core 0
    (2 hops), core 1 to core 0 (1 hop); the host (at core 0) feeds core 2
    (2 hops). Lower source bounds above 0 throughout.
    """
    chip = NORTHWARD_CHIP
    rng = np.random.default_rng(43)
    cc = chip.core

    def core(core: int, stage: int, n_axons: int, n_neurons: int, routes: tuple[Route, ...], **kw) -> CoreProgram:
        return CoreProgram(core=core, stage=stage, weights=rng.integers(-4, cc.w_max + 1, (n_axons, n_neurons)),
                           bias=rng.integers(-2, 3, n_neurons), threshold=int(rng.integers(10, 30)), routes=routes,
                           label=f"north{core}", **kw)

    cores = (
        core(2, 0, 36, 28, (Route(1, 2, 26, 0), Route(0, 12, 28, 20))),
        core(1, 1, 24, 20, (Route(0, 5, 20, 0),)),
        core(0, 2, 36, 10, (), output_offset=0),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(2, 4, 40, 0),), n_inputs=40).validate()
    return program, random_raster(rng, 1, 4, 40, 0.4)


# ----------------------------------------------------------------------------- partial sums (chip-spec §1.3)
def _psum_core(rng: np.random.Generator, chip: ChipConfig, core: int, stage: int, n_axons: int, n_neurons: int,
               routes: tuple[Route, ...], *, w_range: tuple[int, int] = (-12, 16), zero_frac: float = 0.3,
               **kw) -> CoreProgram:
    """A partial-sum core (psum_out: fire 0, discontinuous, leak 0, bias 0, chip-spec §6) with random weights.

    ``zero_frac`` of the weights are 0, so some neurons end a timestep at exactly 0 (their partial sums are
    skipped). ``w_range`` is inclusive.
    """
    w = rng.integers(w_range[0], w_range[1] + 1, (n_axons, n_neurons))
    w[rng.random(w.shape) < zero_frac] = 0
    return CoreProgram(core=core, stage=stage, weights=w, bias=np.zeros(n_neurons, np.int64), threshold=0,
                       fire=False, routes=routes, label=f"psum{core}", psum_out=True, **kw)


def _neuron_core(rng: np.random.Generator, chip: ChipConfig, core: int, stage: int, n_axons: int, n_neurons: int,
                 routes: tuple[Route, ...], **kw) -> CoreProgram:
    """An ordinary neuron core with random weights, biases and threshold (``kw`` overrides registers)."""
    cc = chip.core
    kw.setdefault("threshold", int(rng.integers(8, 30)))
    return CoreProgram(core=core, stage=stage, weights=rng.integers(-10, cc.w_max + 1, (n_axons, n_neurons)),
                       bias=rng.integers(-2, 3, n_neurons), routes=routes, label=f"n{core}", **kw)


def _psum_chain2() -> tuple[ChipProgram, np.ndarray]:
    """A chain of 2 whose receiver also gets host spikes, then an ordinary stage.

    Host inputs 0..29 drive the partial-sum core 0 (stage 0), inputs 30..63 the receiver core 1
    (stage 1), which gets core 0's 24 partial sums (one entry, neurons 0..23) and sends spikes to the
    output core 3 (stage 2). Timestep 2 is silent: core 0 ends at 0 everywhere and sends nothing,
    while core 1 still pays its MERGE cycles.
    """
    chip = PSUM_SMALL
    rng = np.random.default_rng(50)
    cores = (
        _psum_core(rng, chip, 0, 0, 30, 24, (Route(1, 0, 24, 0),)),
        _neuron_core(rng, chip, 1, 1, 34, 24, (Route(3, 0, 24, 0),)),
        _neuron_core(rng, chip, 3, 2, 24, 10, (), output_offset=0),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(0, 0, 30, 0), Route(1, 30, 64, 0)),
                          n_inputs=64).validate()
    rasters = random_raster(rng, 1, 4, 64, 0.35)
    rasters[:, 2] = 0
    return program, rasters


def _psum_chain3() -> tuple[ChipProgram, np.ndarray]:
    """A chain of 3 cores (two partial-sum cores), multicast partial sums, and a receiver that also gets spikes.

    Core 3 (stage 0, partial sums) sends every neuron to core 1 (stage 1, a partial-sum core that is
    itself a receiver) and, through a second entry, neurons 4..15 to neurons 0..11 of core 2 (stage 1,
    an ordinary receiver): two packets for those neurons, in table order. Core 1 sends its partial
    sums to core 0 (stage 2, receiver, output), and in the same route phase core 2 sends core 0 spikes
    (axons 0..11), so partial-sum and spike packets reach one core in the same cycles; the host also
    feeds core 0 directly (axons 12..25). Hop latency 2 (core 3 to core 0 is 2 hops).
    """
    chip = PSUM_SMALL.replace(name="small-psum-hl2", hop_latency_cycles=2)
    rng = np.random.default_rng(51)
    cores = (
        _psum_core(rng, chip, 3, 0, 20, 20, (Route(1, 0, 20, 0), Route(2, 4, 16, 0))),
        _psum_core(rng, chip, 1, 1, 22, 20, (Route(0, 0, 20, 0),)),
        _neuron_core(rng, chip, 2, 1, 22, 12, (Route(0, 0, 12, 0),)),
        _neuron_core(rng, chip, 0, 2, 26, 20, (), output_offset=0, reset="zero", leak_shift=1),
    )
    host = (Route(3, 0, 20, 0), Route(1, 20, 42, 0), Route(2, 42, 64, 0), Route(0, 50, 64, 12))
    program = ChipProgram(chip=chip, cores=cores, host_routes=host, n_inputs=64).validate()
    return program, random_raster(rng, 1, 4, 64, 0.4)


def _psum_offsets() -> tuple[ChipProgram, np.ndarray]:
    """Partial-sum entries with ``src_lo > 0`` and ``axon_offset > 0``, two senders into one receiver.

    Cores 0 and 2 (stage 0, partial sums) fill disjoint neuron ranges of core 1 (stage 1, receiver,
    continuous integration, membrane readout): core 0's neurons 3..14 go to neurons 0..11, core 2's
    neurons 0..7 to neurons 12..19 and its neurons 10..13 to 20..23, so both routers inject into core
    1 in the same cycles; neurons 24..27 of core 1 get no partial sum. Mostly zero weights, so many
    partial sums are 0 and skipped.
    """
    chip = PSUM_SMALL.replace(name="small-psum-hl0", hop_latency_cycles=0, barrier_cycles=0)
    rng = np.random.default_rng(52)
    cores = (
        _psum_core(rng, chip, 0, 0, 32, 16, (Route(1, 3, 15, 0),), zero_frac=0.8),
        _psum_core(rng, chip, 2, 0, 32, 14, (Route(1, 0, 8, 12), Route(1, 10, 14, 20)), zero_frac=0.8),
        _neuron_core(rng, chip, 1, 1, 10, 28, (), output_offset=0, fire=False, integration="continuous"),
    )
    host = (Route(0, 0, 32, 0), Route(2, 20, 52, 0), Route(1, 54, 64, 0))
    program = ChipProgram(chip=chip, cores=cores, host_routes=host, n_inputs=64).validate()
    return program, random_raster(rng, 2, 3, 64, 0.3)


def _psum_saturate() -> tuple[ChipProgram, np.ndarray]:
    """Partial sums that saturate on the 8-bit chip, with hand-derived membranes (see the test).

    Every input spikes in timestep 0, none in timestep 1. Core 0 (partial sums, 8 axons) has weight
    +31 into neuron 0 and -32 into neuron 1; the receiver core 1 (8 axons, membrane readout, bias 0,
    no leak) has -32 into neuron 0 and +31 into neuron 1. Neurons 2.. are random.
    """
    chip = PSUM_SAT_CHIP
    rng = np.random.default_rng(53)
    cc = chip.core
    w0 = rng.integers(cc.w_min, cc.w_max + 1, (8, 8))
    w0[:, 0], w0[:, 1] = cc.w_max, cc.w_min
    w1 = rng.integers(cc.w_min, cc.w_max + 1, (8, 8))
    w1[:, 0], w1[:, 1] = cc.w_min, cc.w_max
    cores = (
        CoreProgram(core=0, stage=0, weights=w0, bias=np.zeros(8, np.int64), threshold=0, fire=False,
                    routes=(Route(1, 0, 8, 0),), label="psum-sat", psum_out=True),
        CoreProgram(core=1, stage=1, weights=w1, bias=np.zeros(8, np.int64), threshold=0, fire=False,
                    output_offset=0, label="receiver-sat"),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(0, 0, 8, 0), Route(1, 8, 16, 0)),
                          n_inputs=16).validate()
    rasters = np.zeros((1, 2, 16), np.uint8)
    rasters[0, 0] = 1
    return program, rasters


def _psum_random(seed: int, *, timesteps: int, batch: int, p: float, **kwargs) -> Callable:
    """A random program with partial-sum chains (``hwsim.testing.random_psum_program``) on ``psum_test_chip``."""
    def make():
        rng = np.random.default_rng(seed)
        program = random_psum_program(rng, PSUM_TEST_CHIP, **kwargs)
        return program, random_raster(rng, batch, timesteps, program.n_inputs, p)

    return make


def _psum_wide_index() -> tuple[ChipProgram, np.ndarray]:
    """Partial sums into neurons 8..15 of a core with 8 axons: destination indices wider than an axon index.

    Core 0 (partial sums, 16 neurons) sends its neurons 0..7 to neurons 8..15 of core 1 and its neurons
    8..15 to neurons 0..7 (the first entry writes the upper half); core 1 (receiver, 16 neurons, 8 axons
    of its own) is the output.
    """
    chip = PSUM_SAT_CHIP
    rng = np.random.default_rng(54)
    cores = (
        _psum_core(rng, chip, 0, 0, 8, 16, (Route(1, 0, 8, 8), Route(1, 8, 16, 0)), w_range=(-10, 12)),
        _neuron_core(rng, chip, 1, 1, 8, 16, (), output_offset=0),
    )
    program = ChipProgram(chip=chip, cores=cores, host_routes=(Route(0, 0, 8, 0), Route(1, 8, 16, 0)),
                          n_inputs=16).validate()
    return program, random_raster(rng, 1, 4, 16, 0.5)


def _conv_residual() -> tuple[ChipProgram, np.ndarray]:
    """A conv network with a residual add, mapped by the mapper into tiles and partial-sum chains.

    1x4x4 input -> conv0 4C3 -> conv1 4C3 -> res: conv 4C3 of conv1 plus an identity skip from conv0
    (one layer reading (conv1, conv0), fan-in 36 + 1 > 32 axons: a chain) -> dense 10 (fan-in 64: a chain).
    """
    from hwsim.network import Layer, Network
    from mapping.unroll import conv2d_matrix

    chip = CONV_PSUM_CHIP
    rng = np.random.default_rng(70)

    def conv(c_in: int) -> np.ndarray:
        m, _ = conv2d_matrix(rng.integers(-8, 9, (4, c_in, 3, 3)), (c_in, 4, 4), padding="same")
        return np.rint(m.toarray()).astype(np.int32)

    def layer(w: np.ndarray, threshold: int, shape=None, inputs=None, fire=True) -> Layer:
        return Layer(w, np.zeros(w.shape[1], np.int32), threshold=threshold, shape=shape, inputs=inputs, fire=fire,
                     integration="continuous", reset="subtract", leak_shift=2)

    res = np.vstack([conv(4), 16 * np.eye(64, dtype=np.int32)])  # rows: conv1's 64 outputs, then conv0's
    net = Network([
        layer(conv(1), 8, (4, 4, 4)),
        layer(conv(4), 20, (4, 4, 4)),
        layer(res, 24, (4, 4, 4), inputs=(1, 0)),
        layer(rng.integers(-8, 9, (64, 10)).astype(np.int32), 0, fire=False),
    ], metadata={"image_shape": [4, 4]})
    program = map_network(net, chip, "row_major")
    assert any(c.psum_out for c in program.cores)
    return program, random_raster(rng, 1, 3, 16, 0.5)


SMALL = _chip("small")  # 2 x 2 mesh, hop latency 1, barrier 4
# 4 x 4 mesh of 32-axon x 32-neuron cores with partial sums, for the conv + residual network.
CONV_PSUM_CHIP = ChipConfig(name="conv-psum-4x4", mesh_rows=4, mesh_cols=4, hop_latency_cycles=1, barrier_cycles=2,
                            core=CoreConfig(axons=32, neurons=32, lanes=4, w_bits=6, v_bits=12, partial_sums=True))
# 2 x 2 cores of the default 28 nm chip (1024 x 256, 16 lanes, 16-bit membranes) with partial sums.
PSUM_28NM_2X2 = _chip("default_28nm", name="default_28nm-psum-2x2", mesh_rows=2, mesh_cols=2)
PSUM_28NM_2X2 = PSUM_28NM_2X2.replace(core=replace(PSUM_28NM_2X2.core, partial_sums=True))
# hwsim.testing's chip for random partial-sum programs: 3 x 4 mesh of 8 x 8 cores, 2 lanes, 6-bit membranes.
PSUM_TEST_CHIP = psum_test_chip()
# The small chip with partial sums (PARTIAL_SUMS = 1), and an 8-bit 1 x 2 chip whose partial sums saturate.
PSUM_SMALL = SMALL.replace(name="small-psum", core=replace(SMALL.core, partial_sums=True))
# More neurons than axons: a neuron index (4 bits) is wider than an axon index (3 bits).
PSUM_SAT_CHIP = ChipConfig(name="psum-8bit", mesh_rows=1, mesh_cols=2, hop_latency_cycles=1, barrier_cycles=2,
                           core=CoreConfig(axons=8, neurons=16, lanes=4, w_bits=6, v_bits=8, partial_sums=True))
NORTHWARD_CHIP = _chip("small", name="small-3x1-hl3", mesh_rows=3, mesh_cols=1, hop_latency_cycles=3)
WESTWARD_CHIP = _chip("small", name="small-2x3-hl2", mesh_cols=3, hop_latency_cycles=2, barrier_cycles=1)
CASES: dict[str, Case] = {
    # 40-50-20: the host multicasts to the two halves of the hidden layer, which merge into one core.
    "small-2stage": Case(_random(SMALL, 31, (40, 50, 20), timesteps=5, batch=2, p=0.3)),
    # Three stages, annealed placement, hop latency 3, no barrier: 40-20-40-10, the stage-0 core
    # multicasts to both stage-1 cores.
    "small-3stage-anneal-hl3-b0": Case(
        _random(_chip("small", hop_latency_cycles=3, barrier_cycles=0), 32, (40, 20, 40, 10), timesteps=4, batch=1,
                p=0.35, placement="anneal", threshold=12), min_stages=3),
    # Zero-latency routers and no barrier (only packets cost route cycles).
    "small-hl0-b0": Case(_random(_chip("small", hop_latency_cycles=0, barrier_cycles=0), 33, (64, 60, 10),
                                 timesteps=4, batch=1, p=0.3)),
    # A custom 2 x 3 mesh: 2 -> 2 -> 1 cores, every stage-0 core multicasts to both stage-1 cores.
    "custom-2x3-3stage-anneal-hl3": Case(
        _random(_chip("small", name="small-2x3", mesh_cols=3, hop_latency_cycles=3), 34, (40, 40, 40, 10),
                timesteps=3, batch=1, p=0.3, placement="anneal"), min_stages=3),
    # Continuous integration across timesteps, leak, zero reset, membrane readout.
    "small-continuous-readout": Case(_random(SMALL, 35, (64, 32, 10), timesteps=6, batch=1, p=0.4,
                                             integration="continuous", leak_shift=2, reset="zero",
                                             fire_output=False)),
    # Timesteps 0 and 2 are silent and no bias reaches threshold: no packets at all, route cycles 0.
    "small-silent": Case(_random(SMALL, 36, (40, 40, 8), timesteps=3, batch=1, p=0.4, silent=(0, 2),
                                 bias_range=(-4, 0))),
    # Every input spikes every timestep.
    "small-all-spiking": Case(_random(SMALL, 37, (64, 40, 8), timesteps=2, batch=1, p=1.0)),
    # Hand-written program: an empty stage, a skip connection, host routes into a late stage.
    "handmade-gap-skip": Case(_handmade, min_stages=4),
    # Hand-written: routes from mesh columns 2 and 1 back to lower columns with hop latency 2.
    "handmade-westward-hl2": Case(_westward, min_stages=3),
    # Hand-written: routes from mesh row 2 back to rows 1 and 0 with hop latency 3.
    "handmade-northward-hl3": Case(_northward, min_stages=3),
    # A custom chip (2 x 3 mesh of 64 x 16-neuron cores, no barrier): 50-40-10 puts the hidden layer
    # on three cores that send into one output core in the same cycles.
    "custom-16n-3way-merge-b0": Case(
        _random(ChipConfig(name="small-16n", mesh_rows=2, mesh_cols=3, hop_latency_cycles=1, barrier_cycles=0,
                           core=CoreConfig(axons=64, neurons=16, lanes=4, w_bits=6, v_bits=12)),
                39, (50, 40, 10), timesteps=4, batch=1, p=0.35, placement="anneal", threshold=12)),
    # The default 28 nm chip (3 x 3 mesh, 1024 x 256 x 16 lanes), 200-300-10 annealed.
    "default_28nm-random": Case(_random(_chip("default_28nm"), 40, (200, 300, 10), timesteps=2, batch=1, p=0.2,
                                        placement="anneal")),
    # Three stages on the default chip with hop latency 3: 100-300-300-10, two cores multicast to two.
    "default_28nm-3stage-hl3": Case(
        _random(_chip("default_28nm", hop_latency_cycles=3), 41, (100, 300, 300, 10), timesteps=2, batch=1, p=0.2,
                placement="anneal"), min_stages=3),
    # The default 28 nm chip with the bundled trained digits network.
    "default_28nm-digits": Case(_digits),
    # Partial sums (chip-spec §1.3), hand-written: see each factory.
    "psum-chain2-receiver-spikes": Case(_psum_chain2, min_stages=3),
    "psum-chain3-multicast-hl2": Case(_psum_chain3, min_stages=3),
    "psum-offsets-two-senders-hl0": Case(_psum_offsets),
    "psum-saturate-8bit": Case(_psum_saturate),
    "psum-wide-neuron-index": Case(_psum_wide_index),
    # Random programs from hwsim.testing.random_psum_program (chains of 1..3, forks and joins, partial-sum
    # multicast, receivers with spikes from cores and host, skip routes), with and without saturation.
    "psum-random-sat-s60": Case(_psum_random(60, timesteps=3, batch=1, p=0.4, saturating=True, min_psum_cores=2)),
    "psum-random-nosat-s61": Case(_psum_random(61, timesteps=3, batch=1, p=0.4, saturating=False,
                                               min_psum_cores=2), min_stages=2),
    "psum-random-3layers-s62": Case(_psum_random(62, timesteps=2, batch=2, p=0.5, n_layers=3, min_psum_cores=3),
                                    min_stages=3),
    # Networks whose fan-in exceeds a core, mapped by mapping.map_network into partial-sum chains:
    # 100-30-10 on the small chip (64 axons), 1500-200-10 on 2 x 2 cores of the default chip (1024 axons).
    "psum-mapped-small": Case(_random(PSUM_SMALL, 63, (100, 30, 10), timesteps=3, batch=1, p=0.3), min_stages=3),
    "psum-mapped-28nm-2x2": Case(_random(PSUM_28NM_2X2, 64, (1500, 200, 10), timesteps=2, batch=1, p=0.1),
                                 min_stages=3),
    # A conv network with a residual add, tiled and chained by the mapper (issue 14 §7).
    "conv-residual-psum": Case(_conv_residual, min_stages=4),
    # A random mapped network without partial-sum cores on the chip with partial sums: as without them.
    "psum-chip-no-chains": Case(_random(PSUM_SMALL, 31, (40, 50, 20), timesteps=3, batch=1, p=0.3)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_snn_chip_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_chip`` for the case's chip, run every timestep in hardware, compare with the golden model."""
    program, rasters = CASES[case].make()
    assert len(program.cores) >= 2 and program.n_stages >= CASES[case].min_stages
    rtl = run_case(request.node.name, toplevel="snn_chip", test_module="test_snn_chip", program=program,
                   rasters=rasters)
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]
    compare_chip_with_golden(program, rasters, rtl)
    if case == "small-silent":
        # Silent timesteps: no packets anywhere, so the chip costs barrier + every stage's slowest core.
        chip = program.chip
        for t in (0, 2):
            assert rtl.extra["host_packets"][0, t] == 0 and not rtl.extra["core_packets"][0, t].any()
            assert not rtl.extra["phase_cycles"][0, t, 1::2].any()
            stage_max = [max(chip.core.groups(cp.n_neurons) + 2 for cp in program.cores if cp.stage == s)
                         for s in range(program.n_stages)]
            assert rtl.extra["timestep_cycles_rtl"][0, t] == chip.barrier_cycles + sum(stage_max)
        assert rtl.extra["host_packets"][0, 1] > 0
    if case == "small-2stage":
        _check_mismatch_messages(program, rasters, rtl)
    if case == "handmade-westward-hl2":
        # Hand-derived route cycles (chip-spec §1.2) of the westward senders: packets + 2 * max_hops when
        # they send; core 5 (column 2) has 3 hops to core 0, core 2 has 2 to core 4, core 4 has 2 to core 0.
        for k, hops in ((0, 3), (1, 2), (2, 2)):
            packets = rtl.extra["core_packets"][..., k]
            assert packets.any(), f"core {program.cores[k].core} must send packets in this case"
            assert np.array_equal(rtl.extra["core_route_cycles"][..., k], np.where(packets > 0, packets + 2 * hops, 0))
    if case.startswith("psum-") and case != "psum-chip-no-chains":
        _check_partial_sums_by_hand(program, rtl, zero_and_nonzero=not case.startswith(("psum-random", "psum-mapped")))
    if case == "psum-chain2-receiver-spikes":
        # Timestep 2 is silent: the partial-sum core ends at 0 everywhere and sends nothing.
        assert rtl.extra["core_packets"][0, 2, 0] == 0 and rtl.extra["core_packets"][0, [0, 1, 3], 0].all()
    if case == "psum-saturate-8bit":
        # By hand, one saturating add at a time (chip-spec §1.3): neuron 0 reaches +127 on core 0
        # (8 x +31), then 127 - 8 x 32 = -129 clamps to -128 on core 1; neuron 1 reaches -128 on core 0
        # (8 x -32), then -128 + 8 x 31 = 120. Unsplit, both would be -8.
        assert rtl.membranes[0][0, 0, :2].tolist() == [127, -128]
        assert rtl.membranes[1][0, 0, :2].tolist() == [-128, 120]
        assert not rtl.membranes[1][0, 1].any() and rtl.extra["core_packets"][0, 1, 0] == 0
    if case == "handmade-northward-hl3":
        # Hand-derived route cycles: core 2 (row 2) has max 2 hops (to core 0), core 1 has 1 hop; latency 3.
        for k, hops in ((0, 2), (1, 1)):
            packets = rtl.extra["core_packets"][..., k]
            assert packets.any(), f"core {program.cores[k].core} must send packets in this case"
            assert np.array_equal(rtl.extra["core_route_cycles"][..., k], np.where(packets > 0, packets + 3 * hops, 0))


def _check_partial_sums_by_hand(program: ChipProgram, rtl: RtlRun, *, zero_and_nonzero: bool) -> None:
    """Partial-sum counts and cycles derived by hand from the RTL's own membranes (chip-spec §1.3, §2.4).

    A partial-sum core sends one packet per nonzero end-of-timestep membrane and matching entry (zero
    partial sums are skipped) and fires nothing; a receiver's core cycles include G MERGE cycles.
    ``zero_and_nonzero``: every partial-sum core must have ended some timestep with a zero and a
    nonzero membrane (a hand-written case that is meant to exercise the zero-skipping).
    """
    chip = program.chip
    receivers = program.psum_receivers()
    for k, cp in enumerate(program.cores):
        if cp.psum_out:
            nonzero = rtl.membranes[k] != 0  # (B, T, n_neurons)
            per_neuron = np.array([sum(r.src_lo <= j < r.src_hi for r in cp.routes) for j in range(cp.n_neurons)])
            assert np.array_equal(rtl.extra["core_packets"][..., k], nonzero @ per_neuron), f"core {cp.core} packets"
            assert not rtl.spikes[k].any(), f"partial-sum core {cp.core} must not fire"
            if zero_and_nonzero:
                assert (~nonzero).any() and nonzero.any(), f"core {cp.core}: the case needs zero and nonzero sums"
        if cp.core in receivers:
            g = chip.core.groups(cp.n_neurons)
            assert (rtl.core_cycles[..., k] >= 1 + g + g + 1).all()
    silent = [(b, t) for b in range(rtl.core_cycles.shape[0]) for t in range(rtl.core_cycles.shape[1])
              if not rtl.extra["host_packets"][b, t] and not rtl.extra["core_packets"][b, t].any()]
    for b, t in silent:  # no packet anywhere: START + MERGE (G) + UPDATE (G) + DONE on every receiver
        for k, cp in enumerate(program.cores):
            g = chip.core.groups(cp.n_neurons)
            exp = 2 + g + (g if cp.core in receivers else 0)
            assert rtl.core_cycles[b, t, k] == exp, f"silent timestep {t}: core {cp.core} cycles"


# Hop latency and barrier at their reset values (0, docs/rtl.md "Chip top level"); timestep 0 silent and
# no bias reaches threshold, so its cycles can be derived by hand.
RESET_REGS_CHIP = _chip("small", name="small-reset-regs", hop_latency_cycles=0, barrier_cycles=0)


def test_snn_chip_registers_at_reset_values(request: pytest.FixtureRequest) -> None:
    """Without writes to hop latency and barrier, the chip runs as a chip with both at 0 (their reset values)."""
    program, rasters = _random(RESET_REGS_CHIP, 44, (40, 40, 8), timesteps=3, batch=1, p=0.4, silent=(0,),
                               bias_range=(-4, 0))()
    assert len(program.cores) >= 2 and program.n_stages >= 2
    rtl = run_case(request.node.name, toplevel="snn_chip", test_module="test_snn_chip", program=program,
                   rasters=rasters, extra_env={"HWSIM_CHIP_REGS_AT_RESET": "1"})
    compare_with_golden(program, rasters, rtl)
    compare_chip_with_golden(program, rasters, rtl)  # golden model on barrier_cycles = hop_latency_cycles = 0
    assert not rtl.extra["phase_cycles"][..., 0].any(), "the barrier phase must take 0 cycles after reset"
    # By hand (chip-spec §1.2), the silent first timestep right after reset: barrier 0 + host route 0 (no
    # packets) + per stage the slowest core with no input spikes, core_cycles = G + 2, plus route 0. Seed 44
    # maps stage 0 onto two 20-neuron cores (G = 5: 7 cycles) and stage 1 onto one 8-neuron core (G = 2: 4),
    # so 0 + 0 + 7 + 0 + 4 + 0 = 11 cycles. (A barrier reset to all ones would add 2047 on the small chip.)
    assert rtl.extra["host_packets"][0, 0] == 0 and not rtl.extra["core_packets"][0, 0].any()
    cc = program.chip.core
    by_hand = sum(max(cc.groups(cp.n_neurons) + 2 for cp in program.cores if cp.stage == s)
                  for s in range(program.n_stages))
    assert rtl.extra["timestep_cycles_tb"][0, 0] == by_hand
    assert rtl.extra["timestep_cycles_rtl"][0, 0] == by_hand
    assert rtl.extra["host_packets"][0, 1:].any(), "the later timesteps must route packets"


def _check_mismatch_messages(program: ChipProgram, rasters: np.ndarray, rtl: RtlRun) -> None:
    """The scoreboards name the first mismatch: timestep, core, neuron, expected vs got."""
    k = max(range(len(program.cores)), key=lambda i: program.cores[i].stage)
    cp = program.cores[k]
    spikes = [s.copy() for s in rtl.spikes]
    spikes[k][1, 2, 3] ^= 1
    exp = int(rtl.spikes[k][1, 2, 3])
    with pytest.raises(AssertionError, match=rf"inference 1, timestep 2, core {cp.core} \(.*\), neuron 3: "
                                             rf"spike expected {exp}, RTL got {exp ^ 1}"):
        compare_with_golden(program, rasters, replace(rtl, spikes=spikes))
    membranes = [v.copy() for v in rtl.membranes]
    membranes[k][0, 1, 5] += 1
    exp = int(rtl.membranes[k][0, 1, 5])
    with pytest.raises(AssertionError, match=rf"inference 0, timestep 1, core {cp.core} \(.*\), neuron 5: "
                                             rf"membrane expected {exp}, RTL got {exp + 1}"):
        compare_with_golden(program, rasters, replace(rtl, membranes=membranes))
    extra = dict(rtl.extra, timestep_cycles_rtl=rtl.extra["timestep_cycles_rtl"] + 1)
    exp = int(rtl.extra["timestep_cycles_rtl"][0, 0])
    with pytest.raises(AssertionError, match=rf"inference 0, timestep 0: chip timestep cycles expected {exp}, "
                                             rf"counted by the RTL \(ts_cycles\) {exp + 1}"):
        compare_chip_with_golden(program, rasters, replace(rtl, extra=extra))

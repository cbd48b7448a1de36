"""Block test of ``rtl/snn_chip_ctrl.v``: the chip's timestep sequencer, cycle by cycle (chip-spec §1.2, §5.1).

The testbench plays the host router, the cores and the routers: each runs for
a length drawn from the golden model's timing (``core_cycles`` of random
spike and group counts, ``route_cycles`` of random packets, hop counts and
hop latencies, 0 when nothing is sent) from the cycle after the sequencer
launches it, and signals its last cycle. Expected, written here from
chip-spec §1.2 and docs/rtl.md ("Cycles of snn_chip"): the phases BARRIER,
HOST, then CORES(s), ROUTE(s) for every used stage ascending, each as long as
its slowest unit, phases of length 0 skipped, then, in some timesteps, the
EXIT phase of an early-exit rule (chip-spec §1.4: ``exit_on``, the testbench
plays the exit unit and ends it after a random ``exit_cycles``), ``done`` in cycle
``K = barrier + route_host + sum_s (core_s + route_s) + exit``, ``cycles`` then
holding ``K``. Random stage sets (gaps included), barriers 0..1024.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, hdl_parameters, run_block, start_clock
from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.golden import core_cycles, route_cycles

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["expected_trace", "sequencer_parameters"]

pytestmark = pytest.mark.rtl

TIMESTEPS = 30
PH_IDLE, PH_BARRIER, PH_HOST, PH_CORES, PH_ROUTE, PH_EXIT = 0, 1, 2, 3, 4, 5
BARRIER_MAX = 1024  # chip-spec §4


def expected_trace(barrier: int, host_route: int, stages: dict[int, tuple[int, int]],
                   exit_len: int = 0) -> list[tuple[int, int]]:  # fmt: skip
    """``(phase, stage)`` of cycles 1..K; ``stages`` maps each used stage to (core cycles, route cycles);
    ``exit_len`` is the EXIT phase's length (0: no rule)."""
    trace = [(PH_BARRIER, 0)] * barrier + [(PH_HOST, 0)] * host_route
    for s in sorted(stages):
        cores, route = stages[s]
        trace += [(PH_CORES, s)] * cores + [(PH_ROUTE, s)] * route
    return trace + [(PH_EXIT, 0)] * exit_len


def sequencer_parameters(chip: ChipConfig) -> dict[str, int]:
    """Parameters of ``snn_chip_ctrl`` as ``snn_chip`` instantiates it for ``chip``."""
    hdl = hdl_parameters(chip, "snn_chip")
    n_cores = hdl["MESH_ROWS"] * hdl["MESH_COLS"]
    return {"N_STG": n_cores, "STG_W": max(1, (n_cores - 1).bit_length()), "BAR_W": 11}


if cocotb is not None:

    @cocotb.test()
    async def sequencer_timesteps(dut) -> None:
        """Random timesteps; phase, stage, done and busy of every cycle, and the cycle count."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        n_stg = params["N_STG"]
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        for sig in ("rst_n", "start", "barrier", "stage_used", "host_has_packets", "host_end", "cores_end",
                    "route_has_packets", "route_end", "exit_on", "exit_end"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        await fall
        await fall
        dut.rst_n.value = 1
        await fall

        def random_route() -> int:
            packets = int(rng.integers(0, 6)) if rng.random() < 0.7 else 0
            return route_cycles(packets, int(rng.integers(0, 4)), int(rng.integers(0, 4)))

        for ts in range(TIMESTEPS):
            barrier = [0, 1, 4, int(rng.integers(0, 8)), BARRIER_MAX][ts % 5] if ts % 10 != 9 else BARRIER_MAX
            used = sorted({int(s) for s in rng.choice(n_stg, size=int(rng.integers(1, n_stg + 1)), replace=True)})
            if ts % 6 == 5:
                used = [n_stg - 1]  # only the last stage slot
            stages = {s: (core_cycles(int(rng.integers(0, 4)), int(rng.integers(1, 5))), random_route())
                      for s in used}
            host = random_route()
            # An exit rule in every third timestep: exit_cycles K + 1 .. 2K + 3 for K = 2..40 outputs.
            exit_len = int(rng.integers(3, 84)) if ts % 3 == 1 else 0
            trace = expected_trace(barrier, host, stages, exit_len)
            K = len(trace)
            dut.exit_on.value = int(exit_len > 0)
            exit_end_at: int | None = None
            dut.barrier.value = barrier
            dut.stage_used.value = sum(1 << s for s in used)
            dut.host_has_packets.value = int(host > 0)
            host_end_at: int | None = None
            core_end_at: dict[int, int] = {}
            route_end_at: dict[int, int] = {}
            where = f"timestep {ts} (barrier {barrier}, host {host}, stages {stages}, exit {exit_len})"
            dut.start.value = 1
            for c in range(K + 1):  # cycle 0 samples start; cycles 1..K are the timestep
                dut.host_end.value = int(c == host_end_at)
                dut.exit_end.value = int(c == exit_end_at)
                await Timer(1, "ps")
                s = int(dut.stage.value)
                core_running = s in core_end_at and c <= core_end_at[s]
                route_running = s in route_end_at and c <= route_end_at[s]
                dut.cores_end.value = int(not core_running or c == core_end_at[s])
                dut.route_has_packets.value = int(stages.get(s, (0, 0))[1] > 0)
                dut.route_end.value = int(not route_running or c == route_end_at[s])
                await Timer(1, "ps")
                phase, busy, done = int(dut.phase.value), int(dut.busy.value), int(dut.done.value)
                if c == 0:
                    assert (phase, busy, done) == (PH_IDLE, 0, 0), f"{where}: cycle 0 not idle"
                else:
                    exp_phase, exp_stage = trace[c - 1]
                    got = (phase, s if phase in (PH_CORES, PH_ROUTE) else 0)
                    assert got == (exp_phase, exp_stage), (
                        f"{where}, cycle {c} of {K}: (phase, stage) expected {(exp_phase, exp_stage)}, RTL {got}")
                    assert busy == 1 and done == int(c == K), f"{where}, cycle {c} of {K}: busy {busy}, done {done}"
                if int(dut.host_go.value) and host > 0:
                    host_end_at = c + host
                if int(dut.launch_cores.value):
                    launched = int(dut.launch_stage.value)
                    assert launched in stages, f"{where}, cycle {c}: launched unused stage {launched}"
                    core_end_at[launched] = c + stages[launched][0]
                if int(dut.launch_route.value):
                    route_end_at[s] = c + stages[s][1]
                if int(dut.launch_exit.value):
                    assert exit_len and exit_end_at is None, f"{where}, cycle {c}: exit unit launched"
                    exit_end_at = c + exit_len
                await fall
                dut.start.value = 0
            await Timer(1, "ps")
            assert int(dut.phase.value) == PH_IDLE and not int(dut.busy.value), f"{where}: not idle after cycle {K}"
            assert int(dut.cycles.value) == K, f"{where}: cycles {int(dut.cycles.value)}, expected {K}"
            assert set(core_end_at) == set(stages), f"{where}: stages launched {sorted(core_end_at)}"
            assert (exit_end_at is not None) == (exit_len > 0), f"{where}: exit unit launched {exit_end_at}"


CHIPS = {
    "small": lambda: load_chip_config("small"),
    "default_28nm": lambda: load_chip_config("default_28nm"),
    "one-core": lambda: ChipConfig(name="one", mesh_rows=1, mesh_cols=1,
                                   core=CoreConfig(axons=8, neurons=4, lanes=2, w_bits=3, v_bits=6)),
    "custom-2x3": lambda: load_chip_config("small").replace(name="small-2x3", mesh_cols=3),
}


@pytest.mark.parametrize("chip", list(CHIPS))
def test_snn_chip_ctrl_runner(request: pytest.FixtureRequest, chip: str) -> None:
    """Build ``snn_chip_ctrl`` as ``snn_chip`` would for the chip and run the timestep test."""
    params = sequencer_parameters(CHIPS[chip]())
    run_block(request.node.name, toplevel="snn_chip_ctrl", test_module="test_snn_chip_ctrl", params=params,
              seed=len(chip))

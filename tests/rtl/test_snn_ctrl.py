"""Block test of ``rtl/snn_ctrl.v``: the core's controller FSM, cycle by cycle (chip-spec §2.4, §5).

The testbench plays the spike scan (a set of pending axons that ``latch``
fills and ``pop`` empties, lowest first) and checks every output in every
cycle against the schedule that chip-spec §2.4 and docs/rtl.md ("Cycles per
phase") give, written here: START (``latch``), ``n_spk * G`` issue cycles
(groups 0..G-1 per axon, ``pop`` with the last group), the accumulate one
cycle behind the issue, one drain cycle when ``n_spk > 0``, ``G`` UPDATE
cycles (groups in order), DONE. The length from START through DONE must
equal the golden model's ``core_cycles(n_spk, G, psum_receiver)``. Random spike counts and
group counts (``G = 1`` and the largest included), ``start`` held high while
busy (ignored), back-to-back timesteps, and a reset in the middle of a
timestep. The ``merge`` input (a partial-sum receiver, chip-spec §1.3) is
driven high in every other timestep: built with ``PARTIAL_SUMS = 1`` the
controller runs ``G`` MERGE cycles (``mrg_en``, groups in order on
``upd_group``) right after START; built with ``PARTIAL_SUMS = 0`` it must
ignore ``merge`` (the schedule without MERGE, ``mrg_en`` never high).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block, start_clock
from hwsim.config import CoreConfig, load_chip_config
from hwsim.golden import core_cycles

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["expected_schedule"]

pytestmark = pytest.mark.rtl

TIMESTEPS = 40
OUTPUTS = ("busy", "done", "idle", "latch", "pop", "issue", "issue_group", "acc_en", "acc_group", "upd_en",
           "upd_group", "mrg_en")


def expected_schedule(n_spk: int, groups: int, merge: bool = False) -> list[dict[str, int]]:
    """Controller outputs of every cycle from START through DONE (docs/rtl.md, "Cycles per phase").

    ``merge``: a partial-sum receiver, G MERGE cycles after START. Group counters that are not in
    use hold 0 (they wrap to 0 after their last group).
    """
    quiet = {"busy": 1, "done": 0, "idle": 0, "latch": 0, "pop": 0, "issue": 0, "issue_group": 0, "acc_en": 0,
             "acc_group": 0, "upd_en": 0, "upd_group": 0, "mrg_en": 0}
    cycles = [dict(quiet, latch=1)]  # START
    if merge:
        cycles += [dict(quiet, mrg_en=1, upd_group=g) for g in range(groups)]  # MERGE
    issues = [(a, g) for a in range(n_spk) for g in range(groups)]
    for k, (_, g) in enumerate(issues):  # INTEGRATE issue: the word read one cycle before is accumulated
        acc = {"acc_en": 1, "acc_group": issues[k - 1][1]} if k else {}
        cycles.append(dict(quiet, issue=1, issue_group=g, pop=int(g == groups - 1), **acc))
    if n_spk:
        cycles.append(dict(quiet, acc_en=1, acc_group=groups - 1))  # drain
    cycles += [dict(quiet, upd_en=1, upd_group=g) for g in range(groups)]  # UPDATE
    cycles.append(dict(quiet, done=1))  # DONE
    return cycles


if cocotb is not None:

    @cocotb.test()
    async def ctrl_schedule(dut) -> None:
        """Random timesteps, every output of every cycle against the schedule; lengths against core_cycles."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        g_max = 1 << params["G_W"]
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        partial_sums = bool(params.get("PARTIAL_SUMS", 0))
        for sig in ("rst_n", "start", "last_group", "in_any", "work_any", "merge"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        await fall
        await fall
        dut.rst_n.value = 1
        await fall

        async def outputs() -> dict[str, int]:
            await Timer(1, "ps")  # combinational outputs settle after this edge's input changes
            return {name: int(getattr(dut, name).value) for name in OUTPUTS}

        idle_state = {"busy": 0, "done": 0, "idle": 1, "latch": 0, "pop": 0, "issue": 0, "acc_en": 0, "upd_en": 0,
                      "mrg_en": 0}
        for ts in range(TIMESTEPS):
            groups = [1, g_max, int(rng.integers(1, g_max + 1))][ts % 3]
            n_spk = [0, 1, 2, int(rng.integers(0, 6))][ts % 4]
            hold_start = bool(ts % 5 == 4)  # start stays high while busy: must be ignored
            merge_in = ts % 2 == 1  # without PARTIAL_SUMS the input must be ignored
            merge = merge_in and partial_sums
            dut.last_group.value = groups - 1
            dut.merge.value = int(merge_in)
            buffer = n_spk  # axons waiting in the (modelled) input-spike buffer
            pending = 0  # axons in the (modelled) work bitmap
            dut.in_any.value, dut.work_any.value = int(buffer > 0), 0
            got = await outputs()
            assert {k: got[k] for k in idle_state} == idle_state, f"timestep {ts}: not idle before start: {got}"
            dut.start.value = 1
            await fall  # the rising edge sampled start: this is the START cycle
            dut.start.value = int(hold_start)
            schedule = expected_schedule(n_spk, groups, merge)
            for c, exp in enumerate(schedule):
                dut.in_any.value, dut.work_any.value = int(buffer > 0), int(pending > 0)
                got = await outputs()
                assert got == exp, (f"timestep {ts} (n_spk {n_spk}, G {groups}, merge {merge}), cycle {c + 1} of "
                                    f"{len(schedule)}: expected {exp}, RTL {got}")
                if got["latch"]:
                    buffer, pending = 0, buffer
                if got["pop"]:
                    pending -= 1
                if c < len(schedule) - 1:
                    await fall
            assert len(schedule) == core_cycles(n_spk, groups, merge), "schedule and golden core_cycles disagree"
            dut.start.value = 0
            await fall  # back in IDLE
        if partial_sums and g_max > 2:
            # A reset in the middle of MERGE returns the controller to IDLE with the group counter at 0.
            dut.last_group.value, dut.merge.value, dut.in_any.value = g_max - 1, 1, 0
            dut.start.value = 1
            await fall  # START
            dut.start.value = 0
            await fall
            await fall  # MERGE, group 1
            got = await outputs()
            assert (got["mrg_en"], got["upd_group"]) == (1, 1), f"expected MERGE group 1 before the reset: {got}"
            dut.rst_n.value = 0
            await fall
            dut.rst_n.value = 1
            got = await outputs()
            assert got == dict(idle_state, issue_group=0, acc_group=0, upd_group=0), f"after reset in MERGE: {got}"
        # A reset in the middle of INTEGRATE returns the controller to IDLE with every counter at 0.
        dut.merge.value = 0
        dut.last_group.value = g_max - 1
        dut.in_any.value = 1
        dut.start.value = 1
        await fall  # START: the buffer holds a spike
        dut.start.value = 0
        await fall  # INTEGRATE
        dut.in_any.value, dut.work_any.value = 0, 1
        await fall
        assert int(dut.issue.value) == 1, "expected to be in INTEGRATE before the reset"
        dut.rst_n.value = 0
        await fall
        dut.rst_n.value = 1
        got = await outputs()
        assert got == dict(idle_state, issue_group=0, acc_group=0, upd_group=0), f"after reset: {got}"


CONFIGS = {
    "small": lambda: load_chip_config("small").core,
    "default_28nm": lambda: load_chip_config("default_28nm").core,
    "one-group": lambda: CoreConfig(axons=4, neurons=8, lanes=8, w_bits=4, v_bits=9),
    "small-psum": lambda: CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12, partial_sums=True),
    "one-group-psum": lambda: CoreConfig(axons=4, neurons=8, lanes=8, w_bits=4, v_bits=9, partial_sums=True),
}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_snn_ctrl_runner(request: pytest.FixtureRequest, config: str) -> None:
    """Build ``snn_ctrl`` with the config's group-index width (as ``snn_core`` does) and run the schedule test."""
    hdl = CONFIGS[config]().to_hdl_params()
    groups = hdl["NEURONS"] // hdl["LANES"]
    params = {"G_W": max(1, (groups - 1).bit_length())}
    if "PARTIAL_SUMS" in hdl:
        params["PARTIAL_SUMS"] = hdl["PARTIAL_SUMS"]
    run_block(request.node.name, toplevel="snn_ctrl", test_module="test_snn_ctrl", params=params, seed=len(config))

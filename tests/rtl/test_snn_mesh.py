"""Block test of the mesh (``rtl/snn_mesh.v``: a grid of ``rtl/snn_mesh_router.v`` and their links; chip-spec §1.5).

The testbench is every network interface: per routing phase it holds each
router's packets in injection order, offers the head on ``li_*`` and moves on
when ``li_ready`` grants it. Every cycle it records the deliveries (``dl_*``:
cycle, router, payload). A phase ends in the cycle after which no interface has
a packet left and ``busy_next`` is low. Compared exactly with
``hwsim.golden.noc.mesh_phase`` on the same injections, phase by phase: the
phase length, every delivery (cycle, destination, tag), the cycle in which
each interface sent its last packet, the per-router per-output packet and stall
counters, and the chip-wide buffer-write and stall counters.

Traffic per phase (hop latency 1..3, chosen per phase): a lone stream to the
farthest router (also checked by hand against §1.5's "check on the model":
``P + hop_latency * hops`` cycles when ``BUFFER_FLITS >= hop_latency + 1``), a
hot spot (every router sends to one), uniform random traffic, a host-like
phase (router 0 sends to every router, its own core included), a transpose,
and an empty phase (no cycles). Mesh shapes and buffer depths are build
parameters: square and non-square meshes, a single row, buffers of 1, 2 and 4.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block
from hwsim.config import ChipConfig, CoreConfig
from hwsim.golden.noc import mesh_phase

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["mesh_parameters", "mesh_chip", "reset_router_block"]

pytestmark = pytest.mark.rtl

PAY_W = 12  # payload bits: the testbench's packet tags


def mesh_parameters(rows: int, cols: int, buffer_flits: int) -> dict[str, int]:
    """Parameters of ``snn_mesh`` as the test builds it."""
    n = rows * cols
    return {"MESH_ROWS": rows, "MESH_COLS": cols, "CS_W": max(1, (n - 1).bit_length()), "PAY_W": PAY_W,
            "BUFFER_FLITS": buffer_flits}


def mesh_chip(rows: int, cols: int, buffer_flits: int, hop_latency: int) -> ChipConfig:
    """A mesh chip of that shape for the golden model (the core does not matter to the NoC)."""
    return ChipConfig(name="mesh-test", mesh_rows=rows, mesh_cols=cols, hop_latency_cycles=hop_latency,
                      barrier_cycles=0, noc="mesh", router_buffer_flits=buffer_flits,
                      core=CoreConfig(axons=8, neurons=8, lanes=1, w_bits=4, v_bits=8))


def _phases(rng: np.random.Generator, n: int) -> list[tuple[str, int, dict[int, list[int]]]]:
    """``(name, hop_latency, {router: [dest, ...]})`` of every phase, in order."""
    phases = []
    for latency in (1, 2, 3):
        phases.append(("stream", latency, {0: [n - 1] * 6}))
        spot = int(rng.integers(n))
        phases.append(("hot spot", latency, {r: [spot] * int(rng.integers(1, 4)) for r in range(n)}))
        phases.append(("uniform", latency, {r: [int(d) for d in rng.integers(0, n, int(rng.integers(0, 7)))]
                                            for r in range(n)}))
        phases.append(("host", latency, {0: [int(d) for d in rng.permutation(n)] + [int(d) for d in
                                                                                  rng.integers(0, n, 5)]}))
        phases.append(("transpose", latency, {r: [n - 1 - r] * 3 for r in range(n)}))
    phases.append(("empty", 1, {}))
    return phases


async def reset_router_block(dut, inputs: tuple[str, ...]) -> None:
    """Drive ``inputs`` to 0 and hop latency to 1, start the clock, hold reset for three cycles (a falling edge)."""
    from cocotb.triggers import FallingEdge

    from harness import start_clock

    for sig in inputs:
        getattr(dut, sig).value = 0
    dut.hop_latency.value = 1
    dut.rst_n.value = 0
    start_clock(dut)
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst_n.value = 1


if cocotb is not None:

    @cocotb.test()
    async def mesh_phases(dut) -> None:
        """Every phase of :func:`_phases` against ``mesh_phase``, cycle by cycle."""
        from cocotb.triggers import FallingEdge, ReadOnly

        params = block_parameters(dut)
        rows, cols, depth = params["MESH_ROWS"], params["MESH_COLS"], params["BUFFER_FLITS"]
        cs_w = params["CS_W"]
        n = rows * cols
        rng = np.random.default_rng(block_seed())
        await reset_router_block(dut, ("phase_start", "cnt_clr", "li_valid", "li_dest", "li_pay"))
        tag = 0
        for name, latency, dests in _phases(rng, n):
            injections = {}
            for r, ds in dests.items():
                injections[r] = []
                for d in ds:
                    tag += 1
                    injections[r].append((d, tag % (1 << PAY_W)))
            gold = mesh_phase(mesh_chip(rows, cols, depth, latency), injections)
            where = f"{rows}x{cols} mesh, buffers {depth}, phase {name!r}, hop latency {latency}"
            # cycle 0: the phase is announced (pointers to 0, counters cleared)
            dut.hop_latency.value = latency
            dut.phase_start.value = 1
            dut.cnt_clr.value = 1
            await FallingEdge(dut.clk)
            dut.phase_start.value = 0
            dut.cnt_clr.value = 0
            queues = {r: list(p) for r, p in injections.items() if p}
            deliveries, done_at = [], {}
            k = 0
            total = sum(len(p) for p in queues.values())
            while True:
                k += 1
                valid, dest_word, pay_word = 0, 0, 0
                for r, q in queues.items():
                    valid |= 1 << r
                    dest_word |= q[0][0] << (r * cs_w)
                    pay_word |= q[0][1] << (r * PAY_W)
                dut.li_valid.value = valid
                dut.li_dest.value = dest_word
                dut.li_pay.value = pay_word
                await ReadOnly()
                ready = dut.li_ready.value.to_unsigned()
                dl_valid = dut.dl_valid.value.to_unsigned()
                dl_pay = dut.dl_pay.value.to_unsigned()
                busy_next = int(dut.busy_next.value)
                for r in range(n):
                    if dl_valid >> r & 1:
                        deliveries.append((k, r, dl_pay >> (r * PAY_W) & ((1 << PAY_W) - 1)))
                for r in list(queues):
                    if ready >> r & 1:
                        queues[r].pop(0)
                        done_at[r] = k
                        if not queues[r]:
                            del queues[r]
                if ready & ~valid:
                    raise AssertionError(f"{where}, cycle {k}: li_ready {ready:b} without li_valid {valid:b}")
                await FallingEdge(dut.clk)
                if total == 0:
                    k = 0  # an empty phase: nothing was offered, nothing may move
                    if busy_next or dl_valid:
                        raise AssertionError(f"{where}: an empty phase moved a packet")
                    break
                if not queues and not busy_next:
                    break
                if k > 20 * total + 50:
                    raise AssertionError(f"{where}: no end after {k} cycles ({len(deliveries)}/{total} delivered)")
            dut.li_valid.value = 0
            deliveries.sort(key=lambda item: (item[0], item[1]))
            if k != gold.cycles:
                raise AssertionError(f"{where}: phase length expected {gold.cycles}, RTL {k}")
            if deliveries != gold.deliveries:
                bad = next(i for i, (a, b) in enumerate(zip(deliveries + [None] * total, gold.deliveries)) if a != b)
                raise AssertionError(f"{where}: delivery {bad} expected (cycle, core, tag) {gold.deliveries[bad]}, "
                                     f"RTL {deliveries[bad] if bad < len(deliveries) else None}")
            if done_at != gold.injection_done:
                raise AssertionError(f"{where}: last injection cycles expected {gold.injection_done}, RTL {done_at}")
            if name == "stream" and depth >= latency + 1:
                # chip-spec §1.5, a check on the model: P packets, h hops, one sender alone
                hops = (rows - 1) + (cols - 1)
                assert k == 6 + latency * hops, f"{where}: lone stream took {k} cycles, by hand {6 + latency * hops}"
            if name == "hot spot":  # one local output: at least one cycle per packet into the hot spot
                assert k >= total, f"{where}: {total} packets into one core in {k} cycles"
            packets = np.zeros((n, 5), np.int64)
            stalls = np.zeros((n, 5), np.int64)
            word_p = dut.link_packets.value.to_unsigned()
            word_s = dut.link_stalls.value.to_unsigned()
            for r in range(n):
                for d in range(5):
                    packets[r, d] = word_p >> ((r * 5 + d) * 32) & 0xFFFFFFFF
                    stalls[r, d] = word_s >> ((r * 5 + d) * 32) & 0xFFFFFFFF
            for what, exp, got in (("packets", gold.link_packets, packets), ("stall cycles", gold.link_stalls, stalls)):
                bad = np.argwhere(exp != got)
                if bad.size:
                    r, d = (int(v) for v in bad[0])
                    raise AssertionError(f"{where}: router {r} output {d} {what} expected {int(exp[r, d])}, "
                                         f"RTL {int(got[r, d])}")
            for what, exp, sig in (("buffer writes", gold.buffer_writes, dut.cnt_buffer_writes),
                                   ("stall cycles", gold.stall_cycles, dut.cnt_stall_cycles)):
                if int(sig.value) != exp:
                    raise AssertionError(f"{where}: {what} expected {exp}, RTL {int(sig.value)}")
            dut._log.info("%s: %d packets, %d cycles, %d stalls", where, total, k, gold.stall_cycles)


# ----------------------------------------------------------------------------- pytest side
MESHES = {
    "3x3-buf4": (3, 3, 4),
    "2x4-buf1": (2, 4, 1),
    "4x3-buf2": (4, 3, 2),
    "1x3-buf3": (1, 3, 3),
}


@pytest.mark.parametrize("mesh", list(MESHES))
def test_snn_mesh_runner(mesh: str) -> None:
    """Build ``snn_mesh`` for the shape and buffer depth; run every traffic phase against the golden model."""
    rows, cols, depth = MESHES[mesh]
    run_block(f"test_snn_mesh_{mesh}", toplevel="snn_mesh", test_module="test_snn_mesh",
              params=mesh_parameters(rows, cols, depth), seed=80 + rows * 10 + cols)

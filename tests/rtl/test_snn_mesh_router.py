"""Block test of one mesh router (``rtl/snn_mesh_router.v``, chip-spec §1.5) against a one-router Python model.

The testbench is the router's network interface and its four neighbours: every
cycle it may offer a packet on the local input, write a packet into each input
FIFO whose neighbour link exists (only when the router's ``ln_full`` allowed
it at the start of the cycle, as a neighbour does), and set each output's
``lo_full`` (the neighbour's buffer) at random. The model below does §1.5's five
steps for this one router, routing with ``hwsim.golden.noc.xy_output`` on the
router's mesh, and every cycle the RTL must agree with it on: the local grant
(``li_ready``), every output's packet (``lo_valid``/``lo_flit``), the delivery
(``dl_valid``/``dl_pay``), the FIFOs' ``ln_full``, ``busy_next``, this cycle's
buffer writes and stalls; at the end, the per-output packet and stall counters.

Covered: random destinations anywhere on the mesh (so every output competes,
including the local one), back-pressure on every output, hop latencies 1..3
(set at each phase start), the pointer reset of ``phase_start`` in mid-run, an
interior router of a 3 x 4 mesh with two-flit buffers and a corner router of a
2 x 2 mesh with one-flit buffers.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from harness import block_parameters, block_seed, run_block
from hwsim.golden.noc import LOCAL, xy_output
from test_snn_mesh import mesh_chip, reset_router_block

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["OneRouter"]

pytestmark = pytest.mark.rtl

PAY_W = 8
CYCLES_PER_PHASE = 60


class OneRouter:
    """One router of chip-spec §1.5, its neighbours outside: inputs per cycle in, what leaves out.

    ``step`` takes the state at the start of cycle ``k`` (the FIFOs, the pointers), the interface's
    offered packet, the neighbours' writes and the outputs' back-pressure, and returns what the
    router does in the cycle; packets are ``(dest_core, payload)``.
    """

    def __init__(self, chip, here: int, depth: int) -> None:
        self.chip, self.here, self.depth = chip, here, depth
        self.fifo = {p: deque() for p in range(1, 5)}  # entries [packet, ready cycle]
        self.pointer = [0] * 5
        self.packets = np.zeros(5, np.int64)
        self.stalls = np.zeros(5, np.int64)

    def full(self) -> list[bool]:
        return [len(self.fifo[p]) >= self.depth for p in range(1, 5)]

    def step(self, k: int, offered, writes: dict, out_full: list[bool], latency: int) -> dict:
        heads = {}
        if offered is not None:
            heads[LOCAL] = offered
        for p, q in self.fifo.items():
            if q and q[0][1] <= k:
                heads[p] = q[0][0]
        requests = {}
        for p, packet in heads.items():
            requests.setdefault(xy_output(self.chip, self.here, packet[0]), []).append(p)
        outputs, stalls = {}, 0
        for d, inputs in sorted(requests.items()):
            available = d == LOCAL or not out_full[d - 1]
            if available:
                granted = next(q % 5 for q in range(self.pointer[d], self.pointer[d] + 5) if q % 5 in inputs)
                self.pointer[d] = (granted + 1) % 5
                outputs[d] = (granted, heads[granted])
                self.packets[d] += 1
            self.stalls[d] += len(inputs) - available
            stalls += len(inputs) - available
        for granted, _ in outputs.values():
            if granted != LOCAL:
                self.fifo[granted].popleft()
        for p, packet in writes.items():
            self.fifo[p].append([packet, k + max(1, latency)])
        return {"outputs": outputs, "stalls": stalls, "busy_next": any(self.fifo.values()),
                "writes": sum(1 for d in outputs if d != LOCAL)}

    def reset_pointers(self) -> None:
        self.pointer = [0] * 5


def router_parameters(rows: int, cols: int, row: int, col: int, depth: int) -> dict[str, int]:
    return {"ROW": row, "COL": col, "ROW_W": max(1, (rows - 1).bit_length()),
            "COL_W": max(1, (cols - 1).bit_length()), "PAY_W": PAY_W, "BUFFER_FLITS": depth}


if cocotb is not None:

    @cocotb.test()
    async def router_cycles(dut) -> None:
        """Random traffic, back-pressure and phase starts; every cycle against :class:`OneRouter`."""
        import os

        from cocotb.triggers import FallingEdge, ReadOnly

        params = block_parameters(dut)
        rows, cols = int(os.environ["HWSIM_MESH_ROWS"]), int(os.environ["HWSIM_MESH_COLS"])
        row, col, depth = params["ROW"], params["COL"], params["BUFFER_FLITS"]
        row_w, col_w = params["ROW_W"], params["COL_W"]
        fl_w = row_w + col_w + PAY_W
        chip = mesh_chip(rows, cols, depth, 1)
        here = row * cols + col
        # inputs 1..4 (N E S W) that have a neighbour
        links = [p for p, ok in zip(range(1, 5), (row > 0, col < cols - 1, row < rows - 1, col > 0)) if ok]
        rng = np.random.default_rng(block_seed())
        model = OneRouter(chip, here, depth)

        def flit(packet) -> int:
            dest, pay = packet
            return ((dest // cols) << (col_w + PAY_W)) | ((dest % cols) << PAY_W) | pay

        inputs = ("phase_start", "cnt_clr", "li_valid", "li_flit", "ln_valid", "ln_flit", "lo_full")
        await reset_router_block(dut, inputs)
        dut.cnt_clr.value = 1
        await FallingEdge(dut.clk)
        dut.cnt_clr.value = 0
        local: deque = deque()
        tag, k = 0, 0
        for phase in range(6):
            # a phase starts with every buffer empty (as in the chip): pointers to 0, a new hop latency
            latency = int(rng.integers(1, 4))
            dut.hop_latency.value = latency
            dut.phase_start.value = 1
            dut.li_valid.value = 0
            dut.ln_valid.value = 0
            await FallingEdge(dut.clk)
            k += 1
            model.reset_pointers()
            dut.phase_start.value = 0
            load = (0.2, 0.5, 0.9)[phase % 3]
            cycle = 0
            while cycle < CYCLES_PER_PHASE or any(model.fifo.values()):  # traffic, then drain
                cycle += 1
                k += 1
                busy = cycle <= CYCLES_PER_PHASE
                full_now = model.full()
                while len(local) < 3:
                    tag += 1
                    local.append((int(rng.integers(chip.n_cores)), tag % (1 << PAY_W)))
                offered = local[0] if busy and rng.random() < load else None
                writes = {}
                for p in links:
                    if busy and not full_now[p - 1] and rng.random() < load:
                        tag += 1
                        writes[p] = (int(rng.integers(chip.n_cores)), tag % (1 << PAY_W))
                out_full = [busy and bool(rng.random() < 0.3) for _ in range(4)]
                dut.li_valid.value = int(offered is not None)
                dut.li_flit.value = flit(offered) if offered is not None else 0
                dut.ln_valid.value = sum(1 << (p - 1) for p in writes)
                dut.ln_flit.value = sum(flit(packet) << ((p - 1) * fl_w) for p, packet in writes.items())
                dut.lo_full.value = sum(1 << i for i, f in enumerate(out_full) if f)
                await ReadOnly()
                got_full = [bool(dut.ln_full.value.to_unsigned() >> i & 1) for i in range(4)]
                exp = model.step(k, offered, writes, out_full, latency)
                where = f"cycle {k} (phase {phase}, hop latency {latency})"
                assert got_full == full_now, f"{where}: ln_full {got_full}, model {full_now}"
                outputs = exp["outputs"]
                exp_ready = int(any(granted == LOCAL for granted, _ in outputs.values()))
                assert int(dut.li_ready.value) == exp_ready, f"{where}: li_ready, model grants {outputs}"
                if exp_ready:
                    local.popleft()
                lo_valid = dut.lo_valid.value.to_unsigned()
                lo_flit = dut.lo_flit.value.to_unsigned()
                for d in range(1, 5):
                    exp_flit = flit(outputs[d][1]) if d in outputs else None
                    got_flit = (lo_flit >> ((d - 1) * fl_w) & ((1 << fl_w) - 1)) if lo_valid >> (d - 1) & 1 else None
                    assert got_flit == exp_flit, f"{where}: output {d} sends {got_flit}, model {exp_flit}"
                exp_dl = outputs[LOCAL][1][1] if LOCAL in outputs else None
                got_dl = dut.dl_pay.value.to_unsigned() if int(dut.dl_valid.value) else None
                assert got_dl == exp_dl, f"{where}: delivered {got_dl}, model {exp_dl}"
                for what, exp_v, sig in (("busy_next", int(exp["busy_next"]), dut.busy_next),
                                         ("n_writes", exp["writes"], dut.n_writes),
                                         ("n_stalls", exp["stalls"], dut.n_stalls)):
                    assert int(sig.value) == exp_v, f"{where}: {what} {int(sig.value)}, model {exp_v}"
                await FallingEdge(dut.clk)
        words = (dut.cnt_packets.value.to_unsigned(), dut.cnt_stalls.value.to_unsigned())
        got = [[w >> (32 * d) & 0xFFFFFFFF for d in range(5)] for w in words]
        exp = [model.packets.tolist(), model.stalls.tolist()]
        assert got == exp, f"per-output (packets, stall cycles) {got}, model {exp}"
        assert model.stalls.sum() > 0 and model.packets[1:].sum() > 0 and model.packets[0] > 0


# ----------------------------------------------------------------------------- pytest side
ROUTERS = {
    "interior-3x4-buf2": (3, 4, 1, 2, 2),
    "corner-2x2-buf1": (2, 2, 0, 0, 1),
}


@pytest.mark.parametrize("router", list(ROUTERS))
def test_snn_mesh_router_runner(router: str) -> None:
    """Build one ``snn_mesh_router`` at its mesh position and buffer depth; compare every cycle with the model."""
    rows, cols, row, col, depth = ROUTERS[router]
    run_block(f"test_snn_mesh_router_{router}", toplevel="snn_mesh_router", test_module="test_snn_mesh_router",
              params=router_parameters(rows, cols, row, col, depth), seed=70 + row * 10 + col,
              extra_env={"HWSIM_MESH_ROWS": str(rows), "HWSIM_MESH_COLS": str(cols)})

"""Block test of ``rtl/snn_host_port.v``: the host input buffer and host router (chip-spec §1.1, §1.2, §5.1).

Per timestep the testbench loads a random host routing table for a real mesh
(hop counts from ``ChipConfig.hops`` from core 0, lower source bounds above 0,
multicast), writes the timestep's network-input spikes as AER events (any
order, repeats), pulses ``go`` and follows every cycle. Expected from the
golden host port, ``hwsim.golden.host_timestep``: the packets each core
receives, in order, and the host counters (packets, route cycles); the global
packet order is chip-spec §1.1's (inputs ascending, entries in table order),
the busy time ends with ``last``. An event arriving in the ``go`` cycle
belongs to the next timestep.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import block_parameters, block_seed, hdl_parameters, run_block, start_clock
from hwsim.config import ChipConfig, load_chip_config
from hwsim.golden import host_timestep
from hwsim.program import Route
from test_snn_router import Entry, expected_packets

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["host_port_parameters"]

pytestmark = pytest.mark.rtl

TIMESTEPS = 24
CHIPS = {
    "small": lambda: load_chip_config("small"),
    "default_28nm": lambda: load_chip_config("default_28nm"),
    "custom-2x3-hl3": lambda: load_chip_config("small").replace(name="small-2x3", mesh_cols=3, hop_latency_cycles=3),
}


def host_port_parameters(chip: ChipConfig) -> dict[str, int]:
    """Parameters of ``snn_host_port`` as ``snn_chip`` instantiates it for ``chip``."""
    hdl = hdl_parameters(chip, "snn_chip")
    n_cores = hdl["MESH_ROWS"] * hdl["MESH_COLS"]
    mesh = hdl["MESH_ROWS"] + hdl["MESH_COLS"]
    host_inputs = hdl["AXONS"]  # snn_chip's HOST_INPUTS default
    return {
        "HOST_INPUTS": host_inputs,
        "HI_W": max(1, (host_inputs - 1).bit_length()),
        "ROUTES": n_cores,
        "CS_W": max(1, (n_cores - 1).bit_length()),
        "AX_W": max(1, (hdl["AXONS"] - 1).bit_length()),
        "HOP_W": max(1, (mesh - 2).bit_length()) if mesh > 2 else 1,
        "HL_W": 7,
    }


if cocotb is not None:

    @cocotb.test()
    async def host_port_timesteps(dut) -> None:
        """Random tables and inputs; per-core packet streams and host counters against golden host_timestep."""
        import os

        from cocotb.triggers import FallingEdge, Timer

        chip = CHIPS[os.environ["HWSIM_CHIP"]]()
        params = block_parameters(dut)
        assert params == host_port_parameters(chip)
        n_inputs, n_cores, axons = params["HOST_INPUTS"], chip.n_cores, chip.core.axons
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        for sig in ("rst_n", "in_valid", "in_index", "tw_valid", "tw_entry", "tw_field", "tw_data", "tw_hops",
                    "nr_valid", "nr_data", "hop_latency", "go", "clr"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        await fall
        await fall
        dut.rst_n.value = 1
        await fall
        hops_to = {c: chip.hops(0, c) for c in range(n_cores)}
        dut.hop_latency.value = chip.hop_latency_cycles

        async def write(entry: int, field: int, data: int, hops: int = 0) -> None:
            dut.tw_valid.value, dut.tw_entry.value, dut.tw_field.value = 1, entry, field
            dut.tw_data.value, dut.tw_hops.value = data, hops
            await fall
            dut.tw_valid.value = 0

        carry: list[int] = []  # an input that arrived in the go cycle: part of the next timestep
        for ts in range(TIMESTEPS):
            routes = []
            for _ in range(int(rng.integers(1, n_cores + 1))):
                lo = int(rng.integers(0, n_inputs)) if rng.random() < 0.6 else 0
                hi = int(rng.integers(lo + 1, min(n_inputs, lo + axons) + 1))
                routes.append(Route(int(rng.integers(0, n_cores)), lo, hi, int(rng.integers(0, axons - (hi - lo) + 1))))
            for e, r in enumerate(routes):
                await write(e, 0, r.dest_core, hops_to[r.dest_core])
                await write(e, 1, r.src_lo)
                await write(e, 2, r.src_hi)
                await write(e, 3, r.axon_offset)
            dut.nr_valid.value, dut.nr_data.value = 1, len(routes)
            await fall
            dut.nr_valid.value = 0
            density = [0.0, 0.03, 0.3, 1.0][ts % 4]
            inputs = [int(i) for i in np.flatnonzero(rng.random(n_inputs) < density)]
            events = [int(i) for i in rng.permutation(inputs)]
            events += [int(i) for i in rng.choice(inputs, 2)] if inputs else []  # repeats change nothing
            for i in events:
                dut.in_valid.value, dut.in_index.value = 1, i
                await fall
            dut.in_valid.value = 0
            row = np.zeros(n_inputs, np.uint8)
            row[inputs + carry] = 1
            inboxes: dict[int, list[int]] = {c: [] for c in range(n_cores)}
            max_hops = max(hops_to[r.dest_core] for r in routes)
            exp_packets, _, exp_cycles = host_timestep(row, tuple(routes), inboxes, hops_to, max_hops,
                                                       chip.hop_latency_cycles)
            where = f"timestep {ts} ({len(routes)} entries, {int(row.sum())} inputs)"
            dut.clr.value = 1
            await Timer(1, "ps")
            assert int(dut.has_packets.value) == int(exp_packets > 0), f"{where}: has_packets wrong"
            dut.go.value = 1
            extra = int(rng.integers(0, n_inputs))
            dut.in_valid.value, dut.in_index.value = 1, extra  # arrives in the go cycle
            await fall
            dut.go.value, dut.clr.value, dut.in_valid.value = 0, 0, 0
            carry = [extra]
            got: list[tuple[int, int]] = []
            busy = 0
            while exp_cycles and busy < exp_cycles:
                busy += 1
                await Timer(1, "ps")
                if int(dut.pkt_valid.value):
                    got.append((int(dut.pkt_dest.value), int(dut.pkt_axon.value)))
                assert int(dut.last.value) == int(busy == exp_cycles), f"{where}: last wrong in busy cycle {busy}"
                await fall
            assert not int(dut.last.value) and not int(dut.pkt_valid.value), f"{where}: still routing"
            got_inboxes = {c: [a for d, a in got if d == c] for c in range(n_cores)}
            assert got_inboxes == inboxes, f"{where}: packets per core differ from the golden host port"
            entries = [Entry(r.dest_core, r.src_lo, r.src_hi, r.axon_offset, hops_to[r.dest_core]) for r in routes]
            assert got == expected_packets([int(i) for i in np.flatnonzero(row)], entries), f"{where}: packet order"
            assert int(dut.cnt_packets.value) == exp_packets, f"{where}: cnt_packets {int(dut.cnt_packets.value)}"
            assert int(dut.cnt_cycles.value) == exp_cycles, f"{where}: cnt_cycles {int(dut.cnt_cycles.value)}"


@pytest.mark.parametrize("chip", list(CHIPS))
def test_snn_host_port_runner(request: pytest.FixtureRequest, chip: str) -> None:
    """Build ``snn_host_port`` as ``snn_chip`` would for the chip and run the timestep test."""
    params = host_port_parameters(CHIPS[chip]())
    run_block(request.node.name, toplevel="snn_host_port", test_module="test_snn_host_port", params=params,
              seed=len(chip), extra_env={"HWSIM_CHIP": chip})

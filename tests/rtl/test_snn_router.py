"""Block test of ``rtl/snn_router.v``: routing table and packet injector of one sender (chip-spec §1.1, §1.2, §5.1).

Per timestep the testbench writes a random routing table (multicast, entries
overlapping, lower source bounds above 0, entries past ``n_routes`` and
writes past ``ROUTES`` that must be ignored, random hop counts), a hop
latency (0, small, the maximum 64) and random source spikes (silent, sparse,
dense, all), pulses ``go`` and follows every cycle. Expected, written here
from chip-spec §1.1: one packet per cycle, sources ascending, for each source
the matching entries in table order, packet ``(dest_core, axon_offset + j -
src_lo)``; the busy time must equal the golden model's ``route_cycles(packets,
max_hops, hop_latency)`` with ``max_hops`` the largest hop count of the entries
in use; ``last`` marks the final busy cycle; the packet and cycle counters,
``has_packets`` and ``max_hops`` must agree. Source spikes that change while
the router is busy must not matter (they were latched at ``go``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from harness import block_parameters, block_seed, hdl_parameters, run_block, start_clock
from hwsim.config import ChipConfig, CoreConfig, load_chip_config
from hwsim.golden import route_cycles

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["Entry", "expected_packets", "router_parameters"]

pytestmark = pytest.mark.rtl

TIMESTEPS = 36
HL_MAX = 64  # hop_latency_cycles limit (chip-spec §4); snn_chip's 7-bit register


@dataclass(frozen=True)
class Entry:
    """One routing-table entry, with the hop count the chip stores next to it."""

    dest: int
    lo: int
    hi: int
    offset: int
    hops: int


def expected_packets(spikes: list[int], entries: list[Entry]) -> list[tuple[int, int]]:
    """Packets in injection order (chip-spec §1.1): sources ascending, matching entries in table order."""
    return [(e.dest, e.offset + j - e.lo) for j in sorted(spikes) for e in entries if e.lo <= j < e.hi]


def router_parameters(chip: ChipConfig, *, host: bool, routes: int | None = None) -> dict[str, int]:
    """Parameters of one ``snn_router`` as ``snn_chip`` instantiates it for ``chip`` (host or core router)."""
    hdl = hdl_parameters(chip, "snn_chip")
    n_cores = hdl["MESH_ROWS"] * hdl["MESH_COLS"]
    mesh = hdl["MESH_ROWS"] + hdl["MESH_COLS"]
    return {
        "SRC": hdl["AXONS"] if host else hdl["NEURONS"],  # HOST_INPUTS defaults to AXONS
        "ROUTES": routes or n_cores,
        "CS_W": max(1, (n_cores - 1).bit_length()),
        "AX_W": max(1, (hdl["AXONS"] - 1).bit_length()),
        "HOP_W": max(1, (mesh - 2).bit_length()) if mesh > 2 else 1,
        "HL_W": 7,
    }


if cocotb is not None:

    @cocotb.test()
    async def router_timesteps(dut) -> None:
        """Random tables, latencies and spikes; packets, busy cycles, last, counters against the spec."""
        from cocotb.triggers import FallingEdge, Timer

        params = block_parameters(dut)
        src, n_entries = params["SRC"], params["ROUTES"]
        n_dest, n_axons, hop_top = 1 << params["CS_W"], 1 << params["AX_W"], (1 << params["HOP_W"]) - 1
        ra_w = max(1, (n_entries - 1).bit_length())
        rng = np.random.default_rng(block_seed())
        fall = FallingEdge(dut.clk)
        for sig in ("rst_n", "tw_valid", "tw_entry", "tw_field", "tw_data", "tw_hops", "nr_valid", "nr_data",
                    "hop_latency", "src_spikes", "go", "clr"):
            getattr(dut, sig).value = 0
        start_clock(dut)
        await fall
        await fall
        dut.rst_n.value = 1
        await fall

        async def write(entry: int, field: int, data: int, hops: int = 0) -> None:
            dut.tw_valid.value, dut.tw_entry.value, dut.tw_field.value = 1, entry, field
            dut.tw_data.value, dut.tw_hops.value = data, hops
            await fall
            dut.tw_valid.value = 0

        def random_entry() -> Entry:
            lo = int(rng.integers(0, src)) if rng.random() < 0.7 else 0  # mostly a lower bound above 0
            hi = int(rng.integers(lo + 1, src + 1))
            offset = int(rng.integers(0, n_axons - (hi - lo) + 1))
            return Entry(int(rng.integers(0, n_dest)), lo, hi, offset, int(rng.integers(0, hop_top + 1)))

        # After reset the table is empty: spikes send nothing.
        dut.src_spikes.value = (1 << src) - 1
        await Timer(1, "ps")
        assert not int(dut.has_packets.value), "reset must empty the routing table"

        lo_above_zero_sent = 0
        for ts in range(TIMESTEPS):
            n_routes = [n_entries, 0, 1, int(rng.integers(0, n_entries + 1))][ts % 4]
            table = [random_entry() for _ in range(n_entries)]
            for e_idx, e in enumerate(table):
                await write(e_idx, 0, e.dest, e.hops)
                await write(e_idx, 1, e.lo)
                await write(e_idx, 2, e.hi)
                await write(e_idx, 3, e.offset)
            if (1 << ra_w) > n_entries:  # an entry index past the table: the write must be ignored
                await write(n_entries, 1, 0)
                await write(n_entries, 2, src)
            dut.nr_valid.value, dut.nr_data.value = 1, n_routes
            await fall
            dut.nr_valid.value = 0
            hop_latency = [0, 1, 3, HL_MAX, int(rng.integers(0, 5))][ts % 5]
            dut.hop_latency.value = hop_latency
            density = [0.0, 0.05, 0.4, 1.0][(ts // 4) % 4]
            spikes = [int(j) for j in np.flatnonzero(rng.random(src) < density)]
            dut.src_spikes.value = sum(1 << j for j in spikes)
            used = table[:n_routes]
            exp_packets = expected_packets(spikes, used)
            max_hops = max((e.hops for e in used), default=0)
            exp_busy = route_cycles(len(exp_packets), max_hops, hop_latency)
            lo_above_zero_sent += sum(1 for j in spikes for e in used if 0 < e.lo <= j < e.hi)
            dut.clr.value = 1
            await Timer(1, "ps")
            where = f"timestep {ts} (n_routes {n_routes}, hop latency {hop_latency}, {len(spikes)} spikes)"
            assert int(dut.has_packets.value) == int(bool(exp_packets)), f"{where}: has_packets wrong"
            got_max = int(dut.max_hops.value)
            assert got_max == max_hops, f"{where}: max_hops {got_max}, expected {max_hops}"
            assert not int(dut.busy.value), f"{where}: busy before go"
            dut.go.value = 1
            await fall  # the rising edge sampled go
            dut.go.value, dut.clr.value = 0, 0
            got_packets: list[tuple[int, int]] = []
            busy = 0
            while int(dut.busy.value):
                busy += 1
                dut.src_spikes.value = int.from_bytes(rng.bytes((src + 7) // 8), "little") & ((1 << src) - 1)
                await Timer(1, "ps")
                if int(dut.pkt_valid.value):
                    got_packets.append((int(dut.pkt_dest.value), int(dut.pkt_axon.value)))
                assert int(dut.last.value) == int(busy == exp_busy), f"{where}: last wrong in busy cycle {busy}"
                assert busy <= exp_busy, f"{where}: still busy after the expected {exp_busy} cycles"
                await fall
            if got_packets != exp_packets:
                first = next((i for i, (a, b) in enumerate(zip(got_packets, exp_packets)) if a != b),
                             min(len(got_packets), len(exp_packets)))
                raise AssertionError(f"{where}: packets differ from packet {first} on: RTL {got_packets[first:][:8]}, "
                                     f"expected {exp_packets[first:][:8]} ({len(got_packets)} vs {len(exp_packets)})")
            assert busy == exp_busy, f"{where}: busy {busy} cycles, golden route_cycles {exp_busy}"
            assert int(dut.cnt_packets.value) == len(exp_packets), f"{where}: cnt_packets {int(dut.cnt_packets.value)}"
            assert int(dut.cnt_cycles.value) == exp_busy, f"{where}: cnt_cycles {int(dut.cnt_cycles.value)}"
        assert lo_above_zero_sent > 0, "entries with src_lo > 0 must have sent packets"


CHIPS = {
    "small-core": (lambda: load_chip_config("small"), False, None),
    "small-host": (lambda: load_chip_config("small"), True, None),
    "default_28nm-core": (lambda: load_chip_config("default_28nm"), False, None),
    # More entries than cores (multicast of several ranges), not a power of two.
    "custom-2x3-6-entries": (lambda: ChipConfig(name="r", mesh_rows=2, mesh_cols=3,
                                                core=CoreConfig(axons=64, neurons=16, lanes=4, w_bits=6, v_bits=12)),
                             False, 6),
    "one-core-one-entry": (lambda: ChipConfig(name="r1", mesh_rows=1, mesh_cols=1,
                                              core=CoreConfig(axons=8, neurons=4, lanes=2, w_bits=3, v_bits=6)),
                           True, None),
}


@pytest.mark.parametrize("case", list(CHIPS))
def test_snn_router_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_router`` as ``snn_chip`` would for the chip and run the timestep test."""
    make, host, routes = CHIPS[case]
    params = router_parameters(make(), host=host, routes=routes)
    run_block(request.node.name, toplevel="snn_router", test_module="test_snn_router", params=params,
              seed=len(case))

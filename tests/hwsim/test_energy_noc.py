"""Energy of the mesh routers (docs/energy.md §2.3, chip-spec §1.5): hand-worked cases.

The counts are worked out by hand from chip-spec §1.5 (every cycle of every routing phase) and checked against
the golden model's noc_counters; the energies are the table's entries read with tomllib (tests/hwsim/
energy_by_hand.py), not through hwsim.energy.
"""

from __future__ import annotations

import numpy as np
import pytest
from energy_by_hand import table_entries

from hwsim.config import ChipConfig, CoreConfig
from hwsim.energy import MESH_LAYER, estimate, load_table
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route

SCALE, ENTRY = table_entries("28nm")
BW, BR, ARB = (ENTRY[("noc.router", a)] for a in ("buffer_write", "buffer_read", "arbitrate"))


def _chip(noc: str) -> ChipConfig:
    return ChipConfig(name=f"{noc}2x2", mesh_rows=2, mesh_cols=2, barrier_cycles=4, hop_latency_cycles=1, noc=noc,
                      core=CoreConfig(axons=4, neurons=4, lanes=2, w_bits=4, v_bits=8))


def _hot_spot(noc: str) -> ChipProgram:
    """Cores 1 (row 0, col 1) and 2 (row 1, col 0), stage 0, each relay one input spike to core 3 (row 1, col 1),
    stage 1, membrane readout: two 1-hop packets meet at core 3's local output."""
    relay = dict(weights=np.ones((1, 1), np.int32), bias=np.zeros(1, np.int32), threshold=1)
    a = CoreProgram(core=1, stage=0, routes=(Route(3, 0, 1, 0),), label="fc0[0:1]", **relay)
    b = CoreProgram(core=2, stage=0, routes=(Route(3, 0, 1, 1),), label="fc0[1:2]", **relay)
    out = CoreProgram(core=3, stage=1, weights=np.ones((2, 1), np.int32), bias=np.zeros(1, np.int32), threshold=1,
                      fire=False, output_offset=0, label="fc1[0:1]")
    return ChipProgram(chip=_chip(noc), cores=(a, b, out), host_routes=(Route(1, 0, 1, 0), Route(2, 1, 2, 0)),
                       n_inputs=2).validate()


def test_hot_spot_counts_and_router_energy_by_hand():
    # HOST phase (from router 0): cycle 1 the packet for core 1 leaves east, cycle 2 the one for core 2 leaves
    # south; each is ready one cycle after its buffer write: delivered in cycles 2 and 3 -> 3 cycles, 2 writes.
    # ROUTE(0): cycle 1 both cores inject (1 hop each); cycle 2 both packets request router 3's local output:
    # the pointer 0 grants north (port 1, from core 1) before west (port 4): 1 stall; cycle 3 west -> 3 cycles.
    # Per image: buffer writes 2 + 2 = 4 (= hops), stalls 1, deliveries = 2 host + 2 core packets = 4,
    # arbitration requests = 4 deliveries + 4 traversals + 1 stall = 9.
    raster = np.array([[1, 1]], np.uint8)
    mesh = simulate(_hot_spot("mesh"), raster)
    ideal = simulate(_hot_spot("ideal"), raster)
    assert mesh.noc_counters.tolist() == [[[6, 4, 1]]]
    assert ideal.noc_counters.tolist() == [[[5, 0, 0]]]  # §1.2: host 2 + 1 hop, stage 0: 1 + 1 hop
    np.testing.assert_array_equal(mesh.counters, ideal.counters)  # what the cores do does not depend on the NoC

    table = load_table("28nm")
    rep_mesh, rep_ideal = estimate(mesh, _hot_spot("mesh"), table), estimate(ideal, _hot_spot("ideal"), table)
    for action, n in (("buffer_write", 4), ("buffer_read", 4), ("arbitrate", 9)):
        assert rep_mesh.action_counts[f"noc.router/{action}"].tolist() == [n]
    router_pj = SCALE * (4 * BW + 4 * BR + 9 * ARB)
    assert rep_mesh.by_component["noc.router"][0] == pytest.approx(router_pj, rel=1e-12)
    assert rep_mesh.by_layer[MESH_LAYER][0] == pytest.approx(router_pj, rel=1e-12)
    # the rest of the dynamic energy is the ideal chip's, action for action; leakage follows the longer runtime
    assert rep_mesh.dynamic_pj[0] - rep_ideal.dynamic_pj[0] == pytest.approx(router_pj, rel=1e-9)
    assert rep_mesh.cycles[0] - rep_ideal.cycles[0] == 1
    assert rep_mesh.static_pj[0] / rep_ideal.static_pj[0] == pytest.approx(21 / 20)  # 21 vs 20 chip cycles
    assert sum(v[0] for v in rep_mesh.by_layer.values()) == pytest.approx(rep_mesh.total_pj[0])
    assert sum(v[0] for v in rep_mesh.by_component.values()) == pytest.approx(rep_mesh.total_pj[0])


def test_ideal_chips_count_no_router_actions():
    raster = np.array([[1, 1], [1, 0]], np.uint8)
    report = estimate(simulate(_hot_spot("ideal"), raster), _hot_spot("ideal"), load_table("28nm"))
    assert not any(k.startswith("noc.router/") for k in report.by_action)
    assert "noc.router" not in report.by_component and MESH_LAYER not in report.by_layer


def test_lone_stream_has_no_stalls_and_pays_two_buffer_accesses_per_hop():
    # the host sends 3 spikes to core 3, 2 hops away (east, then south): a lone stream, buffer 4 >= hop latency + 1,
    # so §1.5's check holds: 3 + 1 * 2 = 5 cycles, no stall, 3 * 2 = 6 buffer writes; 3 deliveries.
    chip = _chip("mesh")
    out = CoreProgram(core=3, stage=0, weights=np.ones((3, 1), np.int32), bias=np.zeros(1, np.int32), threshold=1,
                      fire=False, output_offset=0, label="fc0[0:1]")
    program = ChipProgram(chip=chip, cores=(out,), host_routes=(Route(3, 0, 3, 0),), n_inputs=3).validate()
    result = simulate(program, np.array([[1, 1, 1]], np.uint8))
    assert result.noc_counters.tolist() == [[[5, 6, 0]]]
    report = estimate(result, program, load_table("28nm"))
    assert report.by_component["noc.router"][0] == pytest.approx(SCALE * (6 * BW + 6 * BR + (3 + 6) * ARB), rel=1e-12)


def test_docs_mesh_table_equals_the_one_definition():
    import re
    from pathlib import Path

    from hwsim.energy import MESH_ACTIONS, describe_mesh_action

    text = (Path(__file__).resolve().parents[2] / "docs" / "energy.md").read_text(encoding="utf-8")
    section = text.split("### 2.3 Mesh routers", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z._]+/[a-z_]+)` \| `([^`|]+)` \|", section, flags=re.MULTILINE))
    assert rows == {f"{c}/{a}": describe_mesh_action((c, a)) for c, a in MESH_ACTIONS}

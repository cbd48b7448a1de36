"""Co-simulation of whole programs on ``rtl/snn_chip.v`` with the mesh network-on-chip (``NOC_MESH = 1``, §1.5).

The testbench is ``test_snn_chip``'s (program load, one ``start`` per timestep,
readout of every core), extended by a monitor of the chip's delivery strobe
(``noc_dlv_valid``/``noc_dlv_index``: every packet written into a core, with
its cycle within its HOST or ROUTE phase) and, after every timestep, the NoC
counters (``noc_route_cycles``, ``noc_buffer_writes``, ``noc_stall_cycles``)
and every router's per-output packet and stall counters (``rd_link_*``, one
mesh position at a time through ``core_sel``).

Compared exactly with ``hwsim.golden.simulate`` on the same ``noc = "mesh"``
chip: every core's spikes, membranes and core cycles (``compare_with_golden``);
and per inference and timestep the length of every phase, the timestep
cycles (counted by the RTL and measured start to done), the host's and every
core's packets, the host's route cycles (the HOST phase length) and every
core's ``rd_route_cycles`` (the cycle its last packet left its network
interface), the NoC counters, the link counters summed over the run, and
every delivery of every routing phase: (cycle, core, axon or neuron) in
arrival order. The per-phase expectations come from ``hwsim.golden.noc.mesh_phase``
on the packets each sender injects (``hwsim.golden.router.packets`` of the
golden run's recorded spikes, or a partial-sum core's nonzero membranes);
these phases are first checked against the golden chip's own NoC counters.

With an early-exit rule (``$HWSIM_EXIT_RULE``, the flow of ``test_snn_chip_exit``,
chip-spec §1.4) an image ends after the timesteps its rule allows: the monitor
keys every timestep by (image, timestep) from the ``exit`` pin sampled with
``done`` and records nothing after an image's end. Compared with
``hwsim.golden.simulate(..., exit_rule=rule)``: the timesteps each image ran,
the exit counters and the EXIT phase after the last ROUTE phase; per timestep
run the NoC counters, every router output's link counters (against the test's
phases) and every delivery; after an image's end nothing recorded and golden
NoC counters 0 (where the run without the rule routes); the link counters
summed over the timesteps run; also ``compare_with_golden`` with the rule and
the decisions, accumulators and prediction against ``hwsim.exit_unit.ExitUnit``
(``compare_exit_with_golden_unit``). ``test_snn_chip.compare_chip_with_golden``
does not apply on a mesh: its route cycles are the contention-free §1.2 formula.

Cases: hot spots (eight cores into one corner core, and into the centre),
host multicast to core 0 and to far cores, full buffers (``router_buffer_flits``
1 with hop latency 1 and 2; 2 with hop latency 2), mapped random networks with
multicast on a non-square mesh, partial-sum chains with partial-sum multicast
on a 3 x 4 mesh with hop latency 3. With early exit: a margin rule on
spike-count readout of a mapped random network on the non-square 2 x 3 mesh
(two-flit buffers, hop latency 2), and a confidence rule on membrane readout
(continuous integration with leak) on the 3 x 3 mesh with one-flit buffers and
hop latency 2; each ends images at different timesteps, some before ``T``.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import SIM_BUILD, compare_with_golden, require_simulator, run_case, save_npz
from harness.build import safe_name
from hwsim.config import ChipConfig, CoreConfig
from hwsim.exit_unit import EXIT_COUNTER_NAMES, ExitRule
from hwsim.golden.noc import mesh_phase
from hwsim.golden.router import packets
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, NOC_COUNTER_NAMES
from hwsim.testing import psum_test_chip, random_network, random_psum_program, random_raster
from mapping import map_network
from test_snn_chip import compare_exit_counts_with_golden, exit_rule_to_env
from test_snn_chip_exit import compare_exit_with_golden_unit, exit_cycles_by_hand, pick_rule

try:
    import cocotb
except ImportError:  # the runner skips (or fails under CI) with the reason
    cocotb = None

__all__ = ["compare_mesh_with_golden", "golden_phases"]

pytestmark = pytest.mark.rtl

PH_HOST, PH_ROUTE = 2, 4  # values of the chip's `phase` pins
HOST_PHASE = -1  # phase key of the HOST phase; ROUTE(s) is s


# ----------------------------------------------------------------------------- cocotb side
if cocotb is not None:

    @cocotb.test()
    async def cosim_mesh(dut) -> None:
        """Run the case with ``test_snn_chip``'s testbench, recording deliveries and NoC counters per timestep."""
        import test_snn_chip
        from harness import case_dir_from_env, read_case

        base_tb = test_snn_chip.TB
        n_cores = int(dut.MESH_ROWS.value) * int(dut.MESH_COLS.value)
        di_w = len(dut.noc_dlv_index.value) // n_cores
        steps: list[dict] = []  # one per timestep run, in order

        class MeshTB(base_tb):
            """``test_snn_chip.TB`` plus a delivery monitor and the NoC counters after every timestep."""

            async def start(self) -> None:
                await super().start()
                self.current: list[tuple[int, int, int, int]] = []
                cocotb.start_soon(self._monitor())

            async def _monitor(self) -> None:
                """Every falling edge: the deliveries of this cycle, with the cycle number within its phase."""
                dut, key_before, k = self.dut, None, 0
                while True:
                    await self.fall
                    ph = int(dut.phase.value)
                    key = HOST_PHASE if ph == PH_HOST else int(dut.phase_stage.value) if ph == PH_ROUTE else None
                    k = k + 1 if key is not None and key == key_before else 1
                    key_before = key
                    valid = dut.noc_dlv_valid.value.to_unsigned() if key is not None else 0
                    if valid:
                        index = dut.noc_dlv_index.value.to_unsigned()
                        for c in range(n_cores):
                            if valid >> c & 1:
                                self.current.append((key, k, c, index >> (c * di_w) & ((1 << di_w) - 1)))

            async def run_timestep(self, watch_core: int, n_neurons: int, max_cycles: int) -> dict:
                self.current = []
                run = await super().run_timestep(watch_core, n_neurons, max_cycles)
                dut = self.dut
                exit_now = int(dut.exit.value)  # sampled with done, as the host does (0 under rule none)
                await self.fall  # the chip is idle: the counters hold the timestep's values
                noc = [int(dut.noc_route_cycles.value), int(dut.noc_buffer_writes.value),
                       int(dut.noc_stall_cycles.value)]
                links = np.zeros((n_cores, 5, 2), np.int64)
                for r in range(n_cores):
                    dut.core_sel.value = r
                    await self.fall
                    words = (dut.rd_link_packets.value.to_unsigned(), dut.rd_link_stalls.value.to_unsigned())
                    for d in range(5):
                        for i, word in enumerate(words):
                            links[r, d, i] = word >> (32 * d) & 0xFFFFFFFF
                steps.append({"deliveries": self.current, "noc": noc, "links": links, "exit": exit_now})
                return run

        test_snn_chip.TB = MeshTB
        try:
            await test_snn_chip.cosim_chip(dut)
        finally:
            test_snn_chip.TB = base_tb
        case_dir = case_dir_from_env()
        _, rasters = read_case(case_dir)
        B, T, _ = rasters.shape
        rule = test_snn_chip.exit_rule_from_env()
        # Key every recorded timestep by (image, timestep): an image ends after T timesteps or, under an
        # exit rule, after the timestep whose `exit` was high (chip-spec §1.4).
        keys, b, t = [], 0, 0
        for step in steps:
            if b == B:
                raise AssertionError(f"{len(steps)} timesteps recorded: more than the {B} images' timesteps")
            keys.append((b, t))
            t += 1
            if t == T or (rule is not None and step["exit"]):
                b, t = b + 1, 0
        if b != B:
            raise AssertionError(f"{len(steps)} timesteps recorded: image {b} never ended")
        recorded = np.zeros((B, T), np.int64)
        noc_counters = np.zeros((B, T, 3), np.int64)
        step_links = np.zeros((B, T, n_cores, 5, 2), np.int64)
        for (b, t), step in zip(keys, steps):
            recorded[b, t] = 1
            noc_counters[b, t] = step["noc"]
            step_links[b, t] = step["links"]
        rows = [(b, t, *d) for (b, t), step in zip(keys, steps) for d in step["deliveries"]]
        save_npz(case_dir / "mesh_results.npz",
                 recorded=recorded,  # 1 where the timestep ran (every timestep under rule none)
                 noc_counters=noc_counters,  # 0 where not recorded
                 step_link_counters=step_links,  # every router output's counters of each timestep run
                 link_counters=step_links.sum(axis=(0, 1)),  # over the timesteps run
                 deliveries=np.array(rows, np.int64).reshape(-1, 6))  # b, t, phase, cycle, core, index


# ----------------------------------------------------------------------------- scoreboard
def golden_phases(program: ChipProgram, rasters: np.ndarray, gold) -> dict[tuple[int, int, int], object]:
    """``mesh_phase`` of every routing phase run, keyed ``(b, t, phase)`` (phase ``HOST_PHASE`` or a stage).

    The packets of a phase are what its senders inject (chip-spec §5.1): the host's from the input
    raster, a core's from its recorded spikes, a partial-sum core's from its nonzero end-of-timestep
    membranes (all from the golden run ``gold``, recorded). Only the timesteps each image ran
    (``gold.exit_timesteps``: all ``T`` without an exit rule).
    """
    chip, cores = program.chip, program.cores
    phases = {}
    for b in range(rasters.shape[0]):
        for t in range(int(gold.exit_timesteps[b])):
            host = packets([int(i) for i in np.flatnonzero(rasters[b, t])], program.host_routes)
            phases[b, t, HOST_PHASE] = mesh_phase(chip, {0: host} if host else {})
            for s in range(program.n_stages):
                injections = {}
                for k, cp in enumerate(cores):
                    if cp.stage != s:
                        continue
                    sources = gold.membranes[k][b, t] if cp.psum_out else gold.core_spikes[k][b, t]
                    sent = packets([int(j) for j in np.flatnonzero(sources)], cp.routes)
                    if sent:
                        injections[cp.core] = sent
                phases[b, t, s] = mesh_phase(chip, injections)
    return phases


def compare_mesh_with_golden(program: ChipProgram, rasters: np.ndarray, rtl, mesh: dict[str, np.ndarray],
                             exit_rule: ExitRule | None = None) -> None:  # fmt: skip
    """Assert the RTL's routing (phases, cycles, counters, deliveries) equals the golden mesh model.

    With ``exit_rule`` (chip-spec §1.4) against ``simulate(..., exit_rule=exit_rule)``: the timesteps
    each image ran (the RTL's and the testbench's record of them), the exit counters and the EXIT
    phase of every timestep run; the NoC counters, link counters and deliveries of every timestep
    run, none recorded after an image's end (where the golden NoC counters are 0); the link
    counters summed over the timesteps run.

    Raises:
        AssertionError: naming the first mismatch (inference, timestep, phase or sender, expected vs got).
    """
    from hwsim.golden import simulate

    gold = simulate(program, rasters, record=True, exit_rule=exit_rule)
    chip, cores = program.chip, program.cores
    assert chip.noc == "mesh"
    phases = golden_phases(program, rasters, gold)
    x = rtl.extra
    B, T = rasters.shape[:2]
    k_pk, k_cyc = COUNTER_NAMES.index("packets"), COUNTER_NAMES.index("cycles")
    h_pk, h_rc = HOST_COUNTER_NAMES.index("packets"), HOST_COUNTER_NAMES.index("route_cycles")
    k_exit = EXIT_COUNTER_NAMES.index("cycles")
    ran = gold.exit_timesteps  # T for every image without a rule
    exp_recorded = (np.arange(T)[None, :] < ran[:, None]).astype(np.int64)
    if not np.array_equal(mesh["recorded"], exp_recorded):
        b = int(np.flatnonzero((mesh["recorded"] != exp_recorded).any(axis=1))[0])
        raise AssertionError(f"inference {b}: timesteps run expected {int(ran[b])} (golden), the mesh monitor "
                             f"recorded {int(mesh['recorded'][b].sum())} ({mesh['recorded'][b].tolist()})")
    compare_exit_counts_with_golden(gold, x, exit_rule)
    for b in range(B):  # after an image's end: nothing ran, golden reports 0, nothing was recorded
        after = slice(int(ran[b]), T)
        assert not gold.noc_counters[b, after].any(), f"inference {b}: golden NoC counters after the image's end"
        for what, got in (("NoC counters", mesh["noc_counters"]), ("link counters", mesh["step_link_counters"]),
                          ("timestep cycles", x["timestep_cycles_rtl"]), ("phase cycles", x["phase_cycles"])):
            assert not got[b, after].any(), f"inference {b}: RTL {what} recorded after the image's end ({int(ran[b])})"
    late = mesh["deliveries"][mesh["deliveries"][:, 1] >= ran[mesh["deliveries"][:, 0]]]
    assert late.size == 0, f"deliveries recorded after an image's end: (b, t, phase, cycle, core, index) {late[0]}"
    links = np.zeros_like(gold.link_counters)
    got_dlv: dict[tuple[int, int, int], list] = {}
    for b, t, ph, k, c, index in mesh["deliveries"].tolist():
        got_dlv.setdefault((b, t, ph), []).append((k, c, index))
    for b in range(B):
        for t in range(int(ran[b])):
            where = f"inference {b}, timestep {t}"
            host = phases[b, t, HOST_PHASE]
            stage_phases = [phases[b, t, s] for s in range(program.n_stages)]
            # this test's phases against the golden chip's own mesh counters (chip-spec §1.5)
            mine = [sum(p.cycles for p in [host, *stage_phases]), sum(p.buffer_writes for p in [host, *stage_phases]),
                    sum(p.stall_cycles for p in [host, *stage_phases])]
            assert mine == gold.noc_counters[b, t].tolist(), f"{where}: test phases {mine} vs golden NoC counters"
            assert host.cycles == gold.host_counters[b, t, h_rc]
            step_links = np.zeros_like(links)
            for p in [host, *stage_phases]:
                step_links[..., 0] += p.link_packets
                step_links[..., 1] += p.link_stalls
            links += step_links
            # RTL: packets and route cycles of every sender
            for what, exp, got in (("packets", gold.host_counters[b, t, h_pk], x["host_packets"][b, t]),
                                   ("route cycles (HOST phase)", host.cycles, x["host_route_cycles"][b, t])):
                if int(exp) != int(got):
                    raise AssertionError(f"{where}, host: {what} expected {int(exp)}, RTL got {int(got)}")
            for k, cp in enumerate(cores):
                exp_rc = stage_phases[cp.stage].injection_done.get(cp.core, 0)
                for what, exp, got in (("packets", gold.counters[b, t, k, k_pk], x["core_packets"][b, t, k]),
                                       ("route cycles (last injection)", exp_rc, x["core_route_cycles"][b, t, k])):
                    if int(exp) != int(got):
                        raise AssertionError(f"{where}, core {cp.core}: {what} expected {int(exp)}, RTL got {int(got)}")
            # RTL: every phase's length, the timestep
            exp_phases = [chip.barrier_cycles, host.cycles]
            for s in range(program.n_stages):
                members = [k for k, cp in enumerate(cores) if cp.stage == s]
                exp_phases.append(max((int(gold.counters[b, t, k, k_cyc]) for k in members), default=0))
                exp_phases.append(stage_phases[s].cycles)
            exp_phases.append(int(gold.exit_counters[b, t, k_exit]))  # EXIT, after the last ROUTE (0: no rule)
            got_phases = [int(v) for v in x["phase_cycles"][b, t]]
            assert got_phases == exp_phases, f"{where}: phase cycles expected {exp_phases}, RTL {got_phases}"
            for key in ("timestep_cycles_rtl", "timestep_cycles_tb"):
                exp, got = int(gold.timestep_cycles[b, t]), int(x[key][b, t])
                assert got == exp, f"{where}: timestep cycles expected {exp}, RTL ({key}) {got}"
            got_noc = mesh["noc_counters"][b, t].tolist()
            assert got_noc == gold.noc_counters[b, t].tolist(), (
                f"{where}: NoC counters {NOC_COUNTER_NAMES} expected {gold.noc_counters[b, t].tolist()}, RTL {got_noc}")
            got_links = mesh["step_link_counters"][b, t]
            bad = np.argwhere(got_links != step_links)
            if bad.size:
                r, d, i = (int(v) for v in bad[0])
                raise AssertionError(f"{where}: router {r} output {d}: {('packets', 'stall cycles')[i]} expected "
                                     f"{int(step_links[r, d, i])}, RTL {int(got_links[r, d, i])}")
            # RTL: every delivery, in arrival order (by cycle; within a cycle by core)
            for key, phase in [(HOST_PHASE, host), *enumerate(stage_phases)]:
                exp = [(k, c, int(tag)) for k, c, tag in phase.deliveries]
                got = sorted(got_dlv.get((b, t, key), []))
                if got != exp:
                    name = "HOST" if key == HOST_PHASE else f"ROUTE({key})"
                    bad = next(i for i in range(max(len(exp), len(got)))
                               if i >= len(exp) or i >= len(got) or exp[i] != got[i])
                    raise AssertionError(
                        f"{where}, phase {name}: delivery {bad} (cycle, core, index) expected "
                        f"{exp[bad] if bad < len(exp) else None}, RTL {got[bad] if bad < len(got) else None} "
                        f"({len(exp)} expected, {len(got)} delivered)")
    assert np.array_equal(links, gold.link_counters), "the test's phases disagree with the golden link counters"
    bad = np.argwhere(mesh["link_counters"] != gold.link_counters)
    if bad.size:
        r, d, i = (int(v) for v in bad[0])
        raise AssertionError(f"router {r} output {d}: {('packets', 'stall cycles')[i]} over the timesteps run expected "
                             f"{int(gold.link_counters[r, d, i])}, RTL {int(mesh['link_counters'][r, d, i])}")


# ----------------------------------------------------------------------------- cases
# 3 x 3 mesh of 32-axon x 16-neuron cores, one-flit buffers: every second packet on a busy link waits.
HOT_CHIP = ChipConfig(name="mesh3x3-buf1", mesh_rows=3, mesh_cols=3, hop_latency_cycles=1, barrier_cycles=2,
                      noc="mesh", router_buffer_flits=1,
                      core=CoreConfig(axons=32, neurons=16, lanes=4, w_bits=6, v_bits=12))
# A non-square 2 x 3 mesh of the small chip's cores, two-flit buffers and hop latency 2 (a buffer
# smaller than hop latency + 1 slows even a lone stream).
SMALL_MESH_CHIP = ChipConfig(name="small-mesh2x3-buf2-hl2", mesh_rows=2, mesh_cols=3, hop_latency_cycles=2,
                             barrier_cycles=4, noc="mesh", router_buffer_flits=2,
                             core=CoreConfig(axons=64, neurons=32, lanes=4, w_bits=6, v_bits=12))
# hwsim.testing's 3 x 4 partial-sum chip on the mesh, default buffers, hop latency 3.
PSUM_MESH_CHIP = psum_test_chip(hop_latency_cycles=3, name="psum-mesh3x4-hl3").replace(noc="mesh")


def _hot_spot(spot: int, hop_latency: int, seed: int) -> tuple[ChipProgram, np.ndarray]:
    """Eight stage-0 cores send 4 neurons each into core ``spot`` (stage 1, 32 axons): a hot spot.

    The host multicasts all 32 inputs to every stage-0 core (one entry each, so eight packets per
    input spike leave router 0: core 0 is a local delivery when it is a sender, the others 1..4 hops
    away). Low thresholds make the stage-0 cores fire often.
    """
    chip = HOT_CHIP.replace(hop_latency_cycles=hop_latency)
    rng = np.random.default_rng(seed)
    senders = [c for c in range(chip.n_cores) if c != spot]
    cores = [CoreProgram(core=c, stage=0, weights=rng.integers(-4, 32, (32, 16)), bias=rng.integers(0, 3, 16),
                         threshold=int(rng.integers(10, 30)), routes=(Route(spot, 0, 4, 4 * i),), label=f"send{c}")
             for i, c in enumerate(senders)]
    cores.append(CoreProgram(core=spot, stage=1, weights=rng.integers(-16, 32, (32, 10)), bias=np.zeros(10, np.int64),
                             threshold=40, routes=(), output_offset=0, label="hot"))
    program = ChipProgram(chip=chip, cores=tuple(cores), host_routes=tuple(Route(c, 0, 32, 0) for c in senders),
                          n_inputs=32).validate()
    rasters = random_raster(rng, 1, 3, 32, 0.4)
    return program, rasters


def _random(chip: ChipConfig, seed: int, sizes: tuple[int, ...], *, timesteps: int, batch: int, p: float, **kwargs):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, chip.core, **kwargs)
    program = map_network(net, chip, "row_major")
    return program, random_raster(rng, batch, timesteps, sizes[0], p)


def _psum(seed: int, **kwargs):
    rng = np.random.default_rng(seed)
    program = random_psum_program(rng, PSUM_MESH_CHIP, **kwargs)
    return program, random_raster(rng, 1, 3, program.n_inputs, 0.5)


CASES = {
    # a hot spot in the corner (core 0, two input links), the host's own router
    "hotspot-corner-buf1": lambda: _hot_spot(0, 1, 90),
    # a hot spot in the centre (core 4, four input links), hop latency 2 with one-flit buffers
    "hotspot-centre-buf1-hl2": lambda: _hot_spot(4, 2, 91),
    # mapped random networks with multicast (every part of a layer gets every input of the layer)
    "random-multicast-2x3-buf2-hl2": lambda: _random(SMALL_MESH_CHIP, 92, (60, 64, 40, 10), timesteps=3, batch=2,
                                                     p=0.4),
    # partial-sum chains, forks and joins, partial-sum multicast, host skip routes
    "psum-3x4-hl3": lambda: _psum(60, min_psum_cores=2),
    "psum-3x4-hl3-3layers": lambda: _psum(62, n_layers=3, min_psum_cores=3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_snn_chip_mesh_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Build ``snn_chip`` with ``NOC_MESH = 1`` for the case's chip; compare every timestep with the golden model."""
    program, rasters = CASES[case]()
    assert program.chip.noc == "mesh" and len(program.cores) >= 2
    sim = require_simulator()
    rtl = run_case(request.node.name, toplevel="snn_chip", test_module="test_snn_chip_mesh", program=program,
                   rasters=rasters)
    with np.load(SIM_BUILD / f"{safe_name(request.node.name)}_{sim}" / "mesh_results.npz", allow_pickle=False) as f:
        mesh = {key: f[key] for key in f.files}
    steps = compare_with_golden(program, rasters, rtl)
    assert steps == rasters.shape[0] * rasters.shape[1]
    compare_mesh_with_golden(program, rasters, rtl, mesh)
    # the cases must exercise what they are named for
    gold_stalls = int(mesh["noc_counters"][..., 2].sum())
    if case.startswith("hotspot"):
        assert gold_stalls > 0, "a hot spot must stall"
        spot = next(cp.core for cp in program.cores if cp.stage == 1)
        into_spot = int(mesh["link_counters"][spot, 0, 0])
        assert into_spot > 0 and rtl.extra["core_packets"].sum() + rtl.extra["host_packets"].sum() > into_spot
    if case.startswith("psum"):
        assert any(cp.psum_out for cp in program.cores) and mesh["deliveries"].shape[0] > 0


# Early exit on the mesh (chip-spec §1.4, §1.5): (case, candidate rules); pick_rule takes the candidate under
# which the golden images end at the most different timesteps.
EXIT_CASES = {
    # Spike-count readout, margins in spikes, on the non-square 2 x 3 mesh with two-flit buffers, hop latency 2.
    "margin-spikes-2x3-buf2-hl2": (
        lambda: _random(SMALL_MESH_CHIP, 94, (60, 64, 20), timesteps=6, batch=4, p=0.4),
        [(f"margin:{m}", None) for m in (1, 2, 3)],
    ),
    # Membrane readout, continuous integration with leak, SEENN-I's confidence, on the 3 x 3 mesh with
    # one-flit buffers and hop latency 2 (the host multicasts to the two hidden cores; they stall).
    "confidence-membranes-3x3-buf1-hl2": (
        lambda: _random(HOT_CHIP.replace(hop_latency_cycles=2), 97, (32, 32, 12), timesteps=6, batch=4, p=0.4,
                        fire_output=False, integration="continuous", leak_shift=3),
        [(f"confidence:{a}", s) for a in ("0.5", "0.7", "0.9") for s in (1 / 64, 1 / 16, 1 / 4)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(EXIT_CASES))
def test_snn_chip_mesh_exit_runner(request: pytest.FixtureRequest, case: str) -> None:
    """A mesh chip with an early-exit rule, images ending at different timesteps: what ran against the golden model."""
    from hwsim.golden import simulate

    make, candidates = EXIT_CASES[case]
    program, rasters = make()
    assert program.chip.noc == "mesh" and len(program.cores) >= 2
    rule = pick_rule(program, rasters, candidates)
    sim = require_simulator()
    rtl = run_case(request.node.name, toplevel="snn_chip", test_module="test_snn_chip_mesh", program=program,
                   rasters=rasters, extra_env=exit_rule_to_env(rule))  # fmt: skip
    with np.load(SIM_BUILD / f"{safe_name(request.node.name)}_{sim}" / "mesh_results.npz", allow_pickle=False) as f:
        mesh = {key: f[key] for key in f.files}
    compare_with_golden(program, rasters, rtl, exit_rule=rule)
    compare_mesh_with_golden(program, rasters, rtl, mesh, exit_rule=rule)
    compare_exit_with_golden_unit(program, rasters, rtl, rule)
    # The case must end images early, at different timesteps.
    B, T = rasters.shape[:2]
    ran = rtl.extra["exit_timesteps"]
    assert (ran < T).any() and len(set(ran.tolist())) >= 2, f"{rule.text}: images ran {ran.tolist()} timesteps"
    assert mesh["recorded"].sum(axis=1).tolist() == ran.tolist()
    # Without the rule the same images keep routing after their end: the zeros there are the exit's doing.
    # The timesteps run route exactly as without a rule (the exit unit only reads the outputs).
    full = simulate(program, rasters)
    for b in range(B):
        end = int(ran[b])
        assert np.array_equal(mesh["noc_counters"][b, :end], full.noc_counters[b, :end])
        if end < T:
            assert full.noc_counters[b, end:, NOC_COUNTER_NAMES.index("route_cycles")].all()
            assert not mesh["noc_counters"][b, end:].any()
    assert int(mesh["noc_counters"][..., NOC_COUNTER_NAMES.index("stall_cycles")].sum()) > 0, "the mesh must stall"
    # By hand (chip-spec §1.4): every timestep run ends with an EXIT phase of the rule's cycles, after the last ROUTE.
    by_rule = exit_cycles_by_hand(rule, program.n_outputs)
    for b in range(B):
        assert (rtl.extra["phase_cycles"][b, : ran[b], -1] == by_rule).all()

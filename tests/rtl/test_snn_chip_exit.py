"""Co-simulation of ``rtl/snn_chip.v`` with an early-exit rule (chip-spec §1.4, §5.1) against the golden model.

The testbench of ``test_snn_chip.py`` runs each case with the rule in
``$HWSIM_EXIT_RULE``: it loads the output map and the exit registers, clears
every core's membranes and the exit accumulators at the start of every image,
writes ``gain_t`` before every timestep, and ends an image after the timestep
whose ``exit`` (sampled with ``done``) is high, as the host does. Compared
exactly:

* with ``hwsim.golden.simulate(program, rasters, exit_rule=rule)``: the
  timesteps each image ran, every core's spikes, membranes and cycles, packets,
  route cycles, every phase length including EXIT, the timestep cycles (RTL
  count and testbench measurement) and the exit counters of every timestep, all
  0 after an image's end (``compare_with_golden``, ``compare_chip_with_golden``);
* with the golden exit unit ``hwsim.exit_unit.ExitUnit`` fed the golden
  model's output values of a run without exit (membranes or spikes, the readout
  of the output cores): the decision of every timestep run, and the accumulators
  and the prediction, which must be the running sums of those values and their
  argmax (lowest index on ties).

The rules' thresholds are picked per case from a short list, the one under
which the golden model's images end at the most different timesteps; each case
asserts that some image ends before ``T``.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import RtlRun, compare_with_golden, run_case
from hwsim.config import ChipConfig, CoreConfig
from hwsim.exit_unit import ExitRule, ExitUnit, parse_exit_rule
from hwsim.program import ChipProgram
from test_snn_chip import SMALL, _random, compare_chip_with_golden, exit_rule_to_env

pytestmark = pytest.mark.rtl

# A 2 x 3 mesh of 16-neuron cores (the chip of test_snn_chip's "custom-16n" case, so the build is shared):
# a 20-output layer takes two output cores.
CHIP_16N = ChipConfig(name="small-16n", mesh_rows=2, mesh_cols=3, hop_latency_cycles=1, barrier_cycles=2,
                      core=CoreConfig(axons=64, neurons=16, lanes=4, w_bits=6, v_bits=12))


def exit_cycles_by_hand(rule: ExitRule, n_outputs: int) -> int:
    """The EXIT phase of one timestep, from chip-spec §1.4's table rather than from hwsim: a pass over the K
    outputs and one decision cycle (margin); a second pass of K + 1 cycles for confidence; entropy decides in 2."""
    K = n_outputs
    return {"margin": K + 1, "confidence": 2 * K + 2, "entropy": 2 * K + 3}[rule.rule]


def pick_rule(program: ChipProgram, rasters: np.ndarray, candidates: list[tuple[str, float | None]]) -> ExitRule:
    """The candidate ``(rule text, scale)`` under which the golden images end at the most different timesteps."""
    from hwsim.golden import simulate

    best, best_key = None, None
    for text, scale in candidates:
        rule = parse_exit_rule(text, program.n_outputs, scale)
        ran = simulate(program, rasters, exit_rule=rule).exit_timesteps
        key = (len(set(ran.tolist())), int((ran < rasters.shape[1]).sum()))
        if best_key is None or key > best_key:
            best, best_key = rule, key
    return best


def compare_exit_with_golden_unit(program: ChipProgram, rasters: np.ndarray, rtl: RtlRun, rule: ExitRule) -> None:
    """Decisions, accumulators and prediction of every timestep run, from ``ExitUnit`` on the golden outputs."""
    from hwsim.golden import simulate

    gold = simulate(program, rasters)  # no exit: every timestep's output values
    fire = next(cp for cp in program.cores if cp.is_output).fire
    values = gold.output_spikes if fire else gold.output_membranes  # (B, T, K), chip-spec §1.4
    x = rtl.extra
    B, T = rasters.shape[:2]
    for b in range(B):
        unit = ExitUnit(rule, program.n_outputs)
        ran = T
        for t in range(T):
            where = f"inference {b}, timestep {t} ({rule.text})"
            exit_now, _ = unit.step([int(v) for v in values[b, t]])
            acc = values[b, : t + 1].astype(np.int64).sum(axis=0)
            assert unit.acc == acc.tolist()  # the golden unit accumulates what the spec says
            assert x["exit_acc"][b, t].tolist() == acc.tolist(), f"{where}: accumulators {x['exit_acc'][b, t]}"
            assert int(x["exit_top"][b, t]) == int(np.argmax(acc)), f"{where}: prediction {x['exit_top'][b, t]}"
            assert int(x["exit_decisions"][b, t]) == int(exit_now), f"{where}: exit {x['exit_decisions'][b, t]}"
            if exit_now:
                ran = t + 1
                break
        assert int(x["exit_timesteps"][b]) == ran, f"inference {b}: ran {x['exit_timesteps'][b]}, expected {ran}"
        assert not x["exit_decisions"][b, ran:].any() and not x["exit_acc"][b, ran:].any()


CASES = {
    # Membrane readout, continuous integration with leak: SEENN-I's max-softmax of the mean membranes.
    "confidence-membranes-continuous": (
        _random(SMALL, 71, (64, 32, 10), timesteps=6, batch=4, p=0.4, fire_output=False, integration="continuous",
                leak_shift=3),
        [(f"confidence:{a}", s) for a in ("0.5", "0.7", "0.9") for s in (1 / 64, 1 / 16, 1 / 4)],
    ),
    # Spike-count readout over two output cores (20 outputs, 10 on each of mesh cores 3 and 4), margins in spikes.
    "margin-spikes-two-output-cores": (
        _random(CHIP_16N, 81, (50, 40, 20), timesteps=6, batch=4, p=0.4, threshold=10),
        [(f"margin:{m}", None) for m in (1, 2, 3)],
    ),
    # Membrane readout, discontinuous: DT-SNN's normalised entropy.
    "entropy-membranes": (
        _random(SMALL, 73, (50, 30, 12), timesteps=5, batch=4, p=0.4, fire_output=False),
        [(f"entropy:{h}", s) for h in ("0.2", "0.5", "0.8") for s in (1 / 64, 1 / 16, 1 / 4)],
    ),
    # margin:0 ends every image after its first timestep: the accumulators are cleared between images.
    "margin-0-every-image-one-timestep": (
        _random(SMALL, 74, (40, 20, 10), timesteps=3, batch=3, p=0.4, fire_output=False),
        [("margin:0", None)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_snn_chip_exit_runner(request: pytest.FixtureRequest, case: str) -> None:
    """Run the case with its rule on ``snn_chip``; compare with the golden model's exit and the golden unit."""
    make, candidates = CASES[case]
    program, rasters = make()
    rule = pick_rule(program, rasters, candidates)
    rtl = run_case(request.node.name, toplevel="snn_chip", test_module="test_snn_chip", program=program,
                   rasters=rasters, extra_env=exit_rule_to_env(rule))  # fmt: skip
    compare_with_golden(program, rasters, rtl, exit_rule=rule)
    compare_chip_with_golden(program, rasters, rtl, exit_rule=rule)
    compare_exit_with_golden_unit(program, rasters, rtl, rule)
    ran = rtl.extra["exit_timesteps"]
    T = rasters.shape[1]
    assert (ran < T).any(), f"{rule.text}: no image ended early ({ran.tolist()})"
    if rule.text == "margin:0":
        assert (ran == 1).all()
    else:
        assert len(set(ran.tolist())) >= 2, f"{rule.text}: every image ran {ran.tolist()} timesteps"
    # By hand (chip-spec §1.4): every timestep run pays exit_cycles; the EXIT phase is the last one.
    by_rule = exit_cycles_by_hand(rule, program.n_outputs)
    for b in range(rasters.shape[0]):
        assert (rtl.extra["phase_cycles"][b, : ran[b], -1] == by_rule).all()
        assert (rtl.extra["exit_counters"][b, : ran[b], 0] == by_rule).all()

"""Scoreboard of program co-simulations: the RTL's results against ``hwsim.golden.simulate``, exactly."""

from __future__ import annotations

import numpy as np

from hwsim.program import ChipProgram
from hwsim.result import COUNTER_NAMES

from .cases import RtlRun

__all__ = ["compare_with_golden"]


def compare_with_golden(program: ChipProgram, rasters: np.ndarray, rtl: RtlRun, exit_rule=None) -> int:
    """Assert that the RTL matches ``hwsim.golden.simulate`` exactly; return the timesteps compared.

    With ``exit_rule`` (an :class:`hwsim.exit_unit.ExitRule`, chip-spec §1.4) the golden run ends
    every image at its exit timestep and reports 0 after it; the RTL, which never runs those
    timesteps, must hold 0 there too.

    Compared per inference ``b`` and timestep ``t``, cores in stage order:
    core cycles, every neuron's spike, every neuron's end-of-timestep
    membrane; then the output spikes and the output membranes. Chip-level
    cycles (routing, barrier, stages) are an RTL output only of ``snn_chip``;
    its test compares them (``test_snn_chip.compare_chip_with_golden``).

    Raises:
        AssertionError: naming the first mismatch (inference, timestep, core, neuron, expected vs got).
    """
    from hwsim.golden import simulate

    rasters = rasters if rasters.ndim == 3 else rasters[None]
    gold = simulate(program, rasters, record=True, exit_rule=exit_rule)
    B, T = rasters.shape[:2]
    k_cycles = COUNTER_NAMES.index("cycles")
    order = sorted(range(len(program.cores)), key=lambda k: (program.cores[k].stage, k))
    for b in range(B):
        for t in range(T):
            where = f"inference {b}, timestep {t}"
            for k in order:
                cp = program.cores[k]
                core = f"core {cp.core} ({cp.label or 'stage ' + str(cp.stage)})"
                exp_c, got_c = int(gold.counters[b, t, k, k_cycles]), int(rtl.core_cycles[b, t, k])
                if exp_c != got_c:
                    raise AssertionError(f"{where}, {core}: core cycles expected {exp_c}, RTL got {got_c}")
                exp_s, got_s = gold.core_spikes[k][b, t], rtl.spikes[k][b, t]
                bad = np.flatnonzero(exp_s != got_s)
                if bad.size:
                    j = int(bad[0])
                    raise AssertionError(
                        f"{where}, {core}, neuron {j}: spike expected {int(exp_s[j])}, RTL got {int(got_s[j])} "
                        f"({bad.size} neurons differ)"
                    )
                exp_v, got_v = gold.membranes[k][b, t], rtl.membranes[k][b, t]
                bad = np.flatnonzero(exp_v != got_v)
                if bad.size:
                    j = int(bad[0])
                    raise AssertionError(
                        f"{where}, {core}, neuron {j}: membrane expected {int(exp_v[j])}, RTL got {int(got_v[j])} "
                        f"({bad.size} neurons differ)"
                    )
    # Output ports of the chip, assembled from the RTL output cores.
    for k, cp in enumerate(program.cores):
        if cp.is_output:
            lo, hi = cp.output_offset, cp.output_offset + cp.n_neurons
            assert np.array_equal(gold.output_spikes[..., lo:hi], rtl.spikes[k]), f"output spikes of core {cp.core}"
            assert np.array_equal(gold.output_membranes[..., lo:hi], rtl.membranes[k]), (
                f"output membranes of core {cp.core}"
            )
    return B * T

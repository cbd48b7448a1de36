"""Energy of the early-exit unit (docs/energy.md §2.2, chip-spec §1.4): counters x table entries, by hand.

The expected counts come from chip-spec §1.4's counter table worked out for a 3-output core; the expected
energies from the TOML entries read with tomllib (tests/hwsim/energy_by_hand.py), not from hwsim.energy.
"""

from __future__ import annotations

import numpy as np
import pytest
from energy_by_hand import digital_energy_pj_per_image, table_entries

from hwsim.energy import EXIT_ACTIONS, describe_exit_action, estimate, load_table
from hwsim.energy.model import EXIT_LAYER
from hwsim.exit_unit import parse_exit_rule
from hwsim.golden import simulate
from hwsim.program import ChipProgram, CoreProgram, Route

ACC_BITS_SMALL = 12 + 13  # the small chip's v_bits + 13 (chip-spec §1.4)


def _three_output_program(chip) -> ChipProgram:
    """One membrane-readout core at mesh index 3 with 3 outputs; input i drives output i with weight 1."""
    core = CoreProgram(core=3, stage=0, weights=np.eye(3, dtype=np.int32), bias=np.zeros(3, np.int32),
                       threshold=1, fire=False, output_offset=0, label="fc0[0:3]")
    return ChipProgram(chip=chip, cores=(core,), host_routes=(Route(3, 0, 3, 0),), n_inputs=3).validate()


# t0: input 0 spikes -> membranes [1, 0, 0] (acc [1, 0, 0]); t1: inputs 1, 2 spike; t2: silence
RASTER = np.array([[[1, 0, 0], [0, 1, 1], [0, 0, 0]]], np.uint8)


def _exit_pj_by_hand(chip, cycles: int, acc_updates: int, multiplies: int, lut_reads: int,
                     table: str = "28nm") -> float:
    scale, e = table_entries(table)
    return scale * (3 * acc_updates * (chip.core.v_bits + 13) * e[("exit.unit", "add_bit")]
                    + multiplies * e[("exit.unit", "multiply")]
                    + lut_reads * e[("exit.unit", "lut_read")]
                    + cycles * e[("exit.unit", "cycle")])


def test_exit_action_counts_read_as_written_by_hand():
    assert describe_exit_action(("exit.unit", "add_bit")) == "3 * acc_updates * acc_bits"
    assert describe_exit_action(("exit.unit", "multiply")) == "multiplies"
    assert describe_exit_action(("exit.unit", "lut_read")) == "lut_reads"
    assert describe_exit_action(("exit.unit", "cycle")) == "cycles"
    assert len(EXIT_ACTIONS) == 4


@pytest.mark.parametrize("table", ["28nm", "rram_28nm"])
def test_every_table_prices_the_exit_unit(table):
    t = load_table(table)
    for key in EXIT_ACTIONS:
        assert t.energy_pj(*key) > 0 and t.entry(*key).source.strip()


def test_margin_exit_at_t1_energy_by_hand(small_chip):
    program = _three_output_program(small_chip)
    fixed = simulate(program, RASTER)
    result = simulate(program, RASTER, exit_rule=parse_exit_rule("margin:1", 3))
    # acc after t0 = [1, 0, 0]: top1 - top2 = 1 >= 1, so the image ends after one timestep
    assert result.exit_timesteps.tolist() == [1]
    # margin, K = 3: K + 1 = 4 cycles, K = 3 accumulator updates, no multiply, no table read (chip-spec §1.4)
    assert result.exit_counters[0].tolist() == [[4, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert result.timestep_cycles[0].tolist() == [fixed.timestep_cycles[0, 0] + 4, 0, 0]

    report = estimate(result, program)
    exit_pj = _exit_pj_by_hand(small_chip, cycles=4, acc_updates=3, multiplies=0, lut_reads=0)
    assert report.by_component["exit.unit"][0] == pytest.approx(exit_pj, rel=1e-12)
    assert report.by_layer[EXIT_LAYER][0] == pytest.approx(exit_pj, rel=1e-12)
    assert report.action_counts["exit.unit/add_bit"][0] == 3 * 3 * ACC_BITS_SMALL
    assert report.action_counts["exit.unit/cycle"][0] == 4
    # everything else is the digital model on the timesteps run (leakage over the cycles incl. EXIT)
    total = digital_energy_pj_per_image(result, small_chip)[0] + exit_pj
    assert report.total_pj[0] == pytest.approx(total, rel=1e-12)
    assert report.cycles.tolist() == [fixed.timestep_cycles[0, 0] + 4]
    # one timestep run of three: cheaper than the fixed-T run, which has no exit unit at all
    fixed_report = estimate(fixed, program)
    assert "exit.unit" not in fixed_report.by_component and EXIT_LAYER not in fixed_report.by_layer
    assert report.total_pj[0] < fixed_report.total_pj[0]
    assert sum(v[0] for v in report.by_layer.values()) == pytest.approx(report.total_pj[0], rel=1e-12)
    assert sum(v[0] for v in report.by_component.values()) == pytest.approx(report.total_pj[0], rel=1e-12)


def test_confidence_and_entropy_exit_energy_by_hand(small_chip):
    program = _three_output_program(small_chip)
    # scale s = 1: gain_num = 2^19, gain_1 = 2^19; d = [0, 1, 1] -> k = 8 -> Z = 65536 + 2 * EXP_LUT[8]
    # = 65536 + 2 * 24109 = 113754 < z_limit = ceil(65536 / 0.5) = 131072: exit after t0.
    confidence = simulate(program, RASTER, exit_rule=parse_exit_rule("confidence:0.5", 3, scale=1.0))
    assert confidence.exit_timesteps.tolist() == [1]
    # confidence, K = 3: 2K + 2 = 8 cycles, K adds, K multiplies, K table reads
    assert confidence.exit_counters[0, 0].tolist() == [8, 3, 3, 3]
    e = estimate(confidence, program).by_component["exit.unit"][0]
    assert e == pytest.approx(_exit_pj_by_hand(small_chip, 8, 3, 3, 3), rel=1e-12)

    # entropy:0 never exits: all 3 timesteps run, each 2K + 3 = 9 cycles, K adds, 2K + 2 multiplies, K + 1 reads
    entropy = simulate(program, RASTER, exit_rule=parse_exit_rule("entropy:0", 3, scale=1.0))
    assert entropy.exit_timesteps.tolist() == [3]
    assert entropy.exit_counters[0].tolist() == [[9, 3, 8, 4]] * 3
    e = estimate(entropy, program).by_component["exit.unit"][0]
    assert e == pytest.approx(_exit_pj_by_hand(small_chip, 27, 9, 24, 12), rel=1e-12)


def test_rule_none_prices_no_exit_unit(small_chip):
    program = _three_output_program(small_chip)
    result = simulate(program, RASTER, exit_rule=None)
    report = estimate(result, program)
    assert not any(k.startswith("exit.") for k in report.by_action)
    assert EXIT_LAYER not in report.by_layer
    assert report.total_pj[0] == pytest.approx(digital_energy_pj_per_image(result, small_chip)[0], rel=1e-12)

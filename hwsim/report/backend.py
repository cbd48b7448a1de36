"""Choosing and building what runs and prices a program: the one place that looks at its core type.

A program for digital cores (chip-spec §2) runs on :class:`hwsim.chip.Chip` or the golden model
:func:`hwsim.golden.simulate` and is priced by :func:`hwsim.energy.estimate`; a program for RRAM cores
(chip-spec §7) runs on one manufactured chip instance (:func:`hwsim.rram.run_rram` or
:func:`hwsim.rram.simulate_rram`) and is priced by :func:`hwsim.rram.rram_energy`. :func:`backend_of`
picks the pair once, from ``program.chip.core_type``; everything else asks the :class:`Backend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.energy import EnergyReport, EnergyTable, estimate
from hwsim.errors import InputError, ReportError
from hwsim.program import ChipProgram
from hwsim.result import RunResult

__all__ = ["Simulator", "Backend", "backend_of", "backend_for_chip", "energy_of"]

#: ``sim(rasters, record=False, progress=False, first_index=0) -> RunResult``; ``first_index`` is the global
#: index of the first raster (it seeds an RRAM chip's read noise, so an image gets the same noise in any chunk).
Simulator = Callable[..., RunResult]


@dataclass(frozen=True)
class Backend:
    """The simulator and the energy model of one core type.

    Attributes:
        core_type: The ``core_type`` of the chips it serves (``"digital"`` or ``"rram"``).
        manufactured_instances: A chip is one manufactured instance of many (its device draws): a run
            needs an instance seed and ADC scale registers, calibrated on training images (docs/energy.md §7).
        energy: ``energy(result, program, table)`` -> the energy report of a run; ``table`` None means
            the chip's technology table.
        simulator: ``simulator(program, name, *, instance_seed, adc_scales, calibration_images, timesteps,
            encoding, say)`` -> ``(sim, meta)``: a :data:`Simulator` for ``name`` (``"engine"`` or
            ``"golden"``) and what ``report.json`` records about the chip that runs (the RRAM chip
            instance; nothing for digital cores, which ignore the instance arguments).
    """

    core_type: str
    manufactured_instances: bool
    energy: Callable[[RunResult, ChipProgram, EnergyTable | str | None], EnergyReport]
    simulator: Callable[..., tuple[Simulator, dict]]



# ----------------------------------------------------------------- simulators

def _engine_simulator(program: ChipProgram) -> Simulator:
    try:
        from hwsim.chip import Chip
    except ImportError as exc:
        raise ReportError(
            f"the engine (hwsim.chip.Chip) cannot be imported ({exc}); "
            "the golden model is available with simulator='golden' (slow, Python API only)"
        ) from exc

    chip = Chip.from_program(program)
    return lambda rasters, record=False, progress=False, first_index=0: chip.run(rasters, record=record,
                                                                                  progress=progress)


def _golden_simulator(program: ChipProgram) -> Simulator:
    from hwsim.golden import simulate

    return lambda rasters, record=False, progress=False, first_index=0: simulate(program, rasters, record=record)


def _rram_simulator(rchip, simulator: str) -> Simulator:
    """One RRAM chip instance: the fast path (``engine``) or the golden model.

    ``first_index`` is the global index of the first raster: it seeds the read noise, so an image
    gets the same noise whichever chunk it runs in. Recording runs use the golden model (the fast
    path does not record; both give the same numbers, bit for bit).
    """
    from hwsim.rram.engine import pack, run_rram
    from hwsim.rram.golden import simulate_rram

    packed = pack(rchip) if simulator == "engine" else None

    def sim(rasters, record=False, progress=False, first_index=0):
        if packed is None or record:
            return simulate_rram(rchip, rasters, first_index=first_index, record=record)
        return run_rram(rchip, rasters, first_index=first_index, packed=packed)

    return sim


def _rram_instance(program: ChipProgram, instance_seed: int, adc_scales, calibration_images, timesteps: int,
                   encoding: str, say: Callable[[str], None]):
    """The chip instance ``instance_seed`` of ``program`` with calibrated ADC scale registers."""
    from hwsim.rram.device import program_chip
    from hwsim.rram.engine import calibrate_on_images, calibration_count

    if isinstance(instance_seed, bool) or not isinstance(instance_seed, (int, np.integer)) or instance_seed < 0:
        raise InputError(f"instance_seed = {instance_seed!r}: expected an integer >= 0")
    if adc_scales is None:
        if calibration_images is None:
            raise InputError(
                "an RRAM chip needs its ADC scale registers: pass adc_scales, or calibration_images "
                "(training images; hwsim.rram.engine.calibrate_on_images)"
            )
        calibration_images = np.asarray(calibration_images)
        if calibration_images.ndim != 2 or calibration_images.shape[1] != program.n_inputs:
            raise InputError(f"calibration_images have shape {calibration_images.shape}; "
                             f"expected (n_images, {program.n_inputs})")
        say(f"calibrating ADC scales on {calibration_count(calibration_images.shape[0])} training images "
            "(ideal chip)")
        adc_scales = calibrate_on_images(program, calibration_images, timesteps, encoding)
    say(f"programming chip instance {instance_seed}")
    return program_chip(program, int(instance_seed), tuple(int(v) for v in adc_scales))


# ----------------------------------------------------------------- digital cores (chip-spec §2)

def _digital_energy(result: RunResult, program: ChipProgram, table: EnergyTable | str | None) -> EnergyReport:
    return estimate(result, program, table)


def _digital_simulator(program: ChipProgram, simulator: str, **instance) -> tuple[Simulator, dict]:
    """The engine or the golden model; a digital chip has no manufactured instances (``instance`` is ignored)."""
    return (_engine_simulator if simulator == "engine" else _golden_simulator)(program), {}


# ----------------------------------------------------------------- RRAM cores (chip-spec §7)

def _rram_energy(result: RunResult, program: ChipProgram, table: EnergyTable | str | None) -> EnergyReport:
    from hwsim.rram.energy import rram_energy

    return rram_energy(result, program, program.chip.technology if table is None else table)


def _rram_chip_simulator(program: ChipProgram, simulator: str, *, instance_seed: int, adc_scales: Sequence[int] | None,
                         calibration_images: np.ndarray | None, timesteps: int, encoding: str,
                         say: Callable[[str], None]) -> tuple[Simulator, dict]:
    """Chip instance ``instance_seed`` with its ADC scale registers, and how ``report.json`` names it."""
    rchip = _rram_instance(program, instance_seed, adc_scales, calibration_images, timesteps, encoding, say)
    return _rram_simulator(rchip, simulator), {"instance_seed": rchip.seed, "adc_scales": list(rchip.adc_scales)}


_BACKENDS = {
    "digital": Backend("digital", False, _digital_energy, _digital_simulator),
    "rram": Backend("rram", True, _rram_energy, _rram_chip_simulator),
}


def backend_for_chip(chip) -> Backend:
    """The simulator and energy model for ``chip``'s core type (validated by :class:`hwsim.config.ChipConfig`)."""
    return _BACKENDS[getattr(chip, "core_type", "digital")]


def backend_of(program: ChipProgram) -> Backend:
    """The simulator and energy model for ``program``'s core type."""
    return backend_for_chip(program.chip)


def energy_of(result: RunResult, program: ChipProgram, table: EnergyTable | str | None = None) -> EnergyReport:
    """Energy report of a run: :func:`hwsim.energy.estimate` for digital cores,
    :func:`hwsim.rram.energy.rram_energy` for RRAM cores (default table: the chip's technology)."""
    return backend_of(program).energy(result, program, table)

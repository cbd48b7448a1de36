"""Golden model of the RRAM crossbar core and of a chip built from them (chip-spec §7).

Plain Python, one method per hardware phase, written to be read next to the
spec. The digital neuron unit (bias, leak, compare, fire, reset) is the one
of the digital core: :class:`RramGoldenCore` subclasses
:class:`hwsim.golden.GoldenCore` and replaces only the integrate phase (and
its counters). The chip schedule (host port, stages, routing, barrier) is the
one of the digital chip, :func:`hwsim.golden.chip.run_chip`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.config import CORE_DONE_CYCLES, CORE_START_CYCLES, ChipConfig
from hwsim.encoding import as_raster_batch
from hwsim.exit_unit import ExitRule
from hwsim.golden.chip import run_chip
from hwsim.golden.core import GoldenCore, saturate
from hwsim.result import RunResult
from hwsim.rram.device import Crossbar, RramChip, read_noise_normals

__all__ = [
    "RRAM_COUNTER_NAMES",
    "rram_core_cycles",
    "adc_convert",
    "RramGoldenCore",
    "simulate_rram",
]

# Per core per timestep, in RunResult.extra["rram_counters"] (chip-spec §7.5).
RRAM_COUNTER_NAMES = ("row_drives", "cell_reads", "adc_conversions")


def rram_core_cycles(n_spiking_axons: int, n_neurons: int, chip: ChipConfig) -> int:
    """Cycles one RRAM core spends in a timestep (chip-spec §7.4).

    ``START + (read + ceil(n_neurons / n_adcs) x conversion, if any axon spiked) + G + DONE``.
    """
    cfg = chip.rram
    n_groups = chip.core.groups(n_neurons)
    read = 0
    if n_spiking_axons > 0:
        n_adcs = cfg.adc_count(chip.core.neurons)
        rounds = -(-n_neurons // n_adcs)
        read = cfg.read_cycles(chip.clock_mhz) + rounds * cfg.conversion_cycles(chip.clock_mhz)
    return CORE_START_CYCLES + read + n_groups + CORE_DONE_CYCLES


def adc_convert(current_ua: float, lsb_ua: float, adc_bits: int) -> tuple[int, float]:
    """One ADC conversion (chip-spec §7.3): ``clamp(floor(I / I_lsb + 1/2))``.

    Returns:
        ``(code, unclamped)``: the signed ``adc_bits`` code and the rounded value before clamping.
    """
    r = math.floor(current_ua / lsb_ua + 0.5)
    hi = float((1 << (adc_bits - 1)) - 1)
    lo = -float(1 << (adc_bits - 1))
    code = hi if r > hi else lo if r < lo else r
    return int(code), float(r)


@dataclass
class RramGoldenCore(GoldenCore):
    """One programmed RRAM crossbar core of one chip instance.

    Equations, per timestep (chip-spec §7.3)::

        v = 0                                     if integration == discontinuous
        if any axon spiked:
          for each neuron j (a differential column pair):
            I[j] = V_read * sum_{a spiking, ascending} (G+[a,j] - G-[a,j])            # uA
                 + V_read * sigma_r * sqrt(sum_a (G+[a,j]^2 + G-[a,j]^2)) * z[j]      # read noise
            code[j] = clamp(floor(I[j] / I_lsb + 1/2), -2^(b-1), 2^(b-1)-1)
            v[j] = sat_vbits(v[j] + code[j] * adc_scale)                             # one add
        then the digital update of chip-spec §2.2 step 3 (bias, leak, compare, reset)

    Attributes (besides :class:`GoldenCore`'s, whose ``threshold`` is this instance's register):
        chip: The chip (for the RRAM and clock parameters).
        crossbar: This core's conductances in this chip instance.
        adc_scale: Weight units per ADC LSB (integer register).
        lsb_ua: The ADC LSB current, uA.
        noise: ``(T, neurons)`` read-noise normals of this core for this image, or None without read noise.
        adc_peak: Largest ``|floor(I / I_lsb + 1/2)|`` before clamping since the unit was made.
        read_conductance_us: Sum of ``G+ + G-`` over the cells read in the last timestep.
    """

    chip: ChipConfig = None
    crossbar: Crossbar = None
    adc_scale: int = 1
    lsb_ua: float = 1.0
    noise: np.ndarray | None = None
    adc_peak: float = field(default=0.0, init=False)
    read_conductance_us: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        cb = self.crossbar
        # Python floats, read in the same order as the fast path reads its float64 arrays.
        self.g_diff = [[float(x) for x in row] for row in cb.g_diff_us]
        self.g_sq = [[float(x) for x in row] for row in cb.g_sq_us2]
        self.row_g = [float(x) for x in cb.row_conductance_us]

    def read(self, spiking_axons: list[int], z: np.ndarray | None) -> list[int]:
        """Drive the spiking rows, sum the column-pair currents, convert them. Returns the ADC codes."""
        cfg = self.chip.rram
        noisy = cfg.read_noise and cfg.read_noise_sigma > 0
        codes = []
        for j in range(self.n_neurons):
            acc = 0.0
            acc_sq = 0.0
            for a in sorted(spiking_axons):
                acc = acc + self.g_diff[a][j]
                if noisy:
                    acc_sq = acc_sq + self.g_sq[a][j]
            current = cfg.v_read_v * acc
            if noisy:
                current = current + cfg.v_read_v * cfg.read_noise_sigma * math.sqrt(acc_sq) * float(z[j])
            code, raw = adc_convert(current, self.lsb_ua, cfg.adc_bits)
            self.adc_peak = max(self.adc_peak, abs(raw))
            codes.append(code)
        return codes

    def add_codes(self, codes: list[int]) -> None:
        """One saturating add per neuron of ``code x adc_scale``."""
        bits = self.config.v_bits
        for j in range(self.n_neurons):
            self.v[j] = saturate(self.v[j] + codes[j] * self.adc_scale, bits)

    def integrate(self, spiking_axons: list[int], t: int = 0) -> None:
        """INTEGRATE phase of timestep ``t``: read and convert the crossbar, add the codes (chip-spec §7.3).

        With no spiking axon no row is driven and nothing is converted: the membranes keep their value.
        """
        self.read_conductance_us = 0.0
        if not spiking_axons:
            return
        self.add_codes(self.read(spiking_axons, None if self.noise is None else self.noise[t]))
        for a in sorted(spiking_axons):
            self.read_conductance_us = self.read_conductance_us + self.row_g[a]

    def activity(self, n_spk: int, spikes: list[int]) -> dict[str, int]:
        """The digital counters (no SRAM reads, crossbar cycles) and :data:`RRAM_COUNTER_NAMES` (chip-spec §7.4-7.5)."""
        return {
            "axon_events": n_spk,
            "sram_word_reads": 0,
            "synaptic_ops": n_spk * self.n_neurons,
            "neuron_updates": self.n_neurons,
            "output_spikes": len(spikes),
            "cycles": rram_core_cycles(n_spk, self.n_neurons, self.chip),
            "row_drives": n_spk,
            "cell_reads": 2 * n_spk * self.n_neurons,
            "adc_conversions": self.n_neurons if n_spk > 0 else 0,
        }


def simulate_rram(rchip: RramChip, rasters: np.ndarray, *, first_index: int = 0, record: bool = False,
                  exit_rule: ExitRule | None = None) -> RunResult:  # fmt: skip
    """Run an RRAM chip instance on input rasters with the golden model.

    Args:
        rchip: The programmed chip instance.
        rasters: ``(T, n_inputs)`` or ``(B, T, n_inputs)`` binary spikes.
        first_index: Global index of the first image (seeds its read noise, :func:`read_noise_normals`).
        record: Also keep every core's membranes and spikes per timestep.
        exit_rule: The early-exit rule (chip-spec §1.4), or None (``none``): an image ends after the
            timestep whose rule says exit (:func:`hwsim.golden.chip.run_chip`).

    Returns:
        A :class:`RunResult` whose ``counters`` use the digital names (``sram_word_reads`` = 0) and
        whose ``extra`` holds ``"rram_counters"`` ``(B, T, C, 3)`` int64 (:data:`RRAM_COUNTER_NAMES`),
        ``"read_conductance_us"`` ``(B, T, C)`` float64 (sum of G+ + G- over the cells read) and
        ``"adc_peak"`` ``(B, C)`` float64 (largest ``|floor(I / I_lsb + 1/2)|`` before clamping, over the
        timesteps run).
    """
    program = rchip.program
    chip = program.chip
    cfg = chip.rram
    batch = as_raster_batch(rasters, program.n_inputs)
    B, T, _ = batch.shape
    cores = program.cores
    C = len(cores)
    noisy = cfg.read_noise and cfg.read_noise_sigma > 0
    rram_counters = np.zeros((B, T, C, len(RRAM_COUNTER_NAMES)), np.int64)
    read_g = np.zeros((B, T, C), np.float64)
    adc_peak = np.zeros((B, C), np.float64)

    def new_units(b: int) -> list[RramGoldenCore]:
        z = read_noise_normals(rchip.seed, first_index + b, T, C, chip.core.neurons) if noisy else None
        return [
            RramGoldenCore(
                chip.core,
                cp,
                threshold=rchip.thresholds[k],
                chip=chip,
                crossbar=rchip.crossbars[k],
                adc_scale=rchip.adc_scales[k],
                lsb_ua=rchip.lsb_current_ua(k),
                noise=None if z is None else z[:, k],
            )
            for k, cp in enumerate(cores)
        ]

    def on_step(b: int, t: int, k: int, unit: RramGoldenCore, counters: dict) -> None:
        rram_counters[b, t, k] = [counters[name] for name in RRAM_COUNTER_NAMES]
        read_g[b, t, k] = unit.read_conductance_us
        adc_peak[b, k] = unit.adc_peak  # a running maximum over the image: the last step's is the image's

    extra = {"rram_counters": rram_counters, "read_conductance_us": read_g, "adc_peak": adc_peak}
    return run_chip(program, batch, new_units, record, on_step, extra, exit_rule)

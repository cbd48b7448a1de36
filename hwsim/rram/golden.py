"""Golden model of the RRAM crossbar core and of a chip built from them (chip-spec §7).

Plain Python, one method per hardware phase, written to be read next to the
spec. The digital neuron unit (bias, leak, compare, fire, reset) is the one
of the digital core: :class:`RramGoldenCore` subclasses
:class:`hwsim.golden.GoldenCore` and replaces only the integrate phase.
The chip loop (stages, routing, barrier) is that of chip-spec §1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hwsim.config import CORE_DONE_CYCLES, CORE_START_CYCLES, ChipConfig
from hwsim.encoding import as_raster_batch
from hwsim.golden.router import route_cycles
from hwsim.golden.core import GoldenCore, leak, saturate
from hwsim.program import Route
from hwsim.result import COUNTER_NAMES, HOST_COUNTER_NAMES, RunResult
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

    Attributes (besides :class:`GoldenCore`'s):
        chip: The chip (for the RRAM and clock parameters).
        crossbar: This core's conductances in this chip instance.
        adc_scale: Weight units per ADC LSB (integer register).
        lsb_ua: The ADC LSB current, uA.
    """

    chip: ChipConfig = None
    crossbar: Crossbar = None
    adc_scale: int = 1
    lsb_ua: float = 1.0
    threshold: int = 0
    adc_peak: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        cb = self.crossbar
        # Python floats, read in the same order as the fast path reads its float64 arrays.
        self.g_diff = [[float(x) for x in row] for row in cb.g_diff_us]
        self.g_sq = [[float(x) for x in row] for row in cb.g_sq_us2]
        self.row_g = [float(x) for x in cb.row_conductance_us]

    def update(self) -> list[int]:
        """UPDATE phase of chip-spec §2.2 with this instance's (tunable) threshold register."""
        p, bits = self.program, self.config.v_bits
        spikes = []
        for j in range(self.n_neurons):
            v = saturate(self.v[j] + self.bias[j], bits)
            v = leak(v, p.leak_shift)
            if p.fire and v >= self.threshold:
                spikes.append(j)
                v = v - self.threshold if p.reset == "subtract" else 0
            self.v[j] = v
        return spikes

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

    def integrate(self, codes: list[int]) -> None:
        """One saturating add per neuron of ``code x adc_scale``."""
        bits = self.config.v_bits
        for j in range(self.n_neurons):
            self.v[j] = saturate(self.v[j] + codes[j] * self.adc_scale, bits)

    def step_rram(self, spiking_axons: list[int], z: np.ndarray | None) -> tuple[list[int], dict, float]:
        """One timestep. Returns (spiking neurons, counters incl. RRAM ones, read conductance in uS)."""
        self.start()
        n_spk = len(spiking_axons)
        read_g = 0.0
        if n_spk > 0:  # no row driven, no conversion: x = 0
            self.integrate(self.read(spiking_axons, z))
            for a in sorted(spiking_axons):
                read_g = read_g + self.row_g[a]
        spikes = self.update()
        counters = {
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
        return spikes, counters, read_g


def _deliver(spikes: list[int], routes: tuple[Route, ...], inboxes: dict[int, list[int]]) -> int:
    packets = 0
    for j in spikes:
        for r in routes:
            if r.src_lo <= j < r.src_hi:
                inboxes[r.dest_core].append(r.axon_offset + (j - r.src_lo))
                packets += 1
    return packets


def _hops_sent(spikes: list[int], routes: tuple[Route, ...], hops_to: dict[int, int]) -> int:
    return sum(hops_to[r.dest_core] for j in spikes for r in routes if r.src_lo <= j < r.src_hi)


def simulate_rram(rchip: RramChip, rasters: np.ndarray, *, first_index: int = 0, record: bool = False) -> RunResult:
    """Run an RRAM chip instance on input rasters with the golden model.

    Args:
        rchip: The programmed chip instance.
        rasters: ``(T, n_inputs)`` or ``(B, T, n_inputs)`` binary spikes.
        first_index: Global index of the first image (seeds its read noise, :func:`read_noise_normals`).
        record: Also keep every core's membranes and spikes per timestep.

    Returns:
        A :class:`RunResult` whose ``counters`` use the digital names (``sram_word_reads`` = 0) and
        whose ``extra`` holds ``"rram_counters"`` ``(B, T, C, 3)`` int64 (:data:`RRAM_COUNTER_NAMES`),
        ``"read_conductance_us"`` ``(B, T, C)`` float64 (sum of G+ + G- over the cells read) and
        ``"adc_peak"`` ``(B, C)`` float64 (largest ``|floor(I / I_lsb + 1/2)|`` before clamping).
    """
    program = rchip.program
    chip = program.chip
    cfg = chip.rram
    batch = as_raster_batch(rasters, program.n_inputs)
    B, T, _ = batch.shape
    cores = program.cores
    C = len(cores)
    n_out = program.n_outputs
    stage_of = {cp.core: cp.stage for cp in cores}
    host_hops = {c: chip.hops(0, c) for c in stage_of}
    core_hops = {cp.core: {c: chip.hops(cp.core, c) for c in stage_of} for cp in cores}
    host_max_hops = max(host_hops[r.dest_core] for r in program.host_routes)
    max_hops = [max((core_hops[cp.core][r.dest_core] for r in cp.routes), default=0) for cp in cores]
    noisy = cfg.read_noise and cfg.read_noise_sigma > 0

    out_spikes = np.zeros((B, T, n_out), np.uint8)
    out_membranes = np.zeros((B, T, n_out), np.int32)
    counters = np.zeros((B, T, C, len(COUNTER_NAMES)), np.int64)
    rram_counters = np.zeros((B, T, C, len(RRAM_COUNTER_NAMES)), np.int64)
    read_g = np.zeros((B, T, C), np.float64)
    adc_peak = np.zeros((B, C), np.float64)
    host_counters = np.zeros((B, T, len(HOST_COUNTER_NAMES)), np.int64)
    timestep_cycles = np.zeros((B, T), np.int64)
    membranes = [np.zeros((B, T, cp.n_neurons), np.int32) for cp in cores] if record else None
    core_spikes = [np.zeros((B, T, cp.n_neurons), np.uint8) for cp in cores] if record else None
    K = {name: k for k, name in enumerate(COUNTER_NAMES)}
    R = {name: k for k, name in enumerate(RRAM_COUNTER_NAMES)}

    for b in range(B):
        units = [
            RramGoldenCore(
                chip.core,
                cp,
                chip=chip,
                crossbar=rchip.crossbars[k],
                adc_scale=rchip.adc_scales[k],
                lsb_ua=rchip.lsb_current_ua(k),
                threshold=rchip.thresholds[k],
            )
            for k, cp in enumerate(cores)
        ]
        z = read_noise_normals(rchip.seed, first_index + b, T, C, chip.core.neurons) if noisy else None
        for t in range(T):
            inboxes: dict[int, list[int]] = {cp.core: [] for cp in cores}
            inputs = [int(i) for i in np.flatnonzero(batch[b, t])]
            host_packets = _deliver(inputs, program.host_routes, inboxes)
            host_route = route_cycles(host_packets, host_max_hops, chip.hop_latency_cycles)
            host_counters[b, t] = (host_packets, _hops_sent(inputs, program.host_routes, host_hops), host_route)
            cycles = chip.barrier_cycles + host_route
            for s in range(program.n_stages):
                stage_compute, stage_route = 0, 0
                for k, (cp, unit) in enumerate(zip(cores, units)):
                    if cp.stage != s:
                        continue
                    spikes, c, g = unit.step_rram(inboxes[cp.core], z[t, k] if noisy else None)
                    packets = _deliver(spikes, cp.routes, inboxes)
                    c["packets"] = packets
                    c["hops"] = _hops_sent(spikes, cp.routes, core_hops[cp.core])
                    for name in COUNTER_NAMES:
                        counters[b, t, k, K[name]] = c[name]
                    for name in RRAM_COUNTER_NAMES:
                        rram_counters[b, t, k, R[name]] = c[name]
                    read_g[b, t, k] = g
                    stage_compute = max(stage_compute, c["cycles"])
                    stage_route = max(stage_route, route_cycles(packets, max_hops[k], chip.hop_latency_cycles))
                    if cp.is_output:
                        lo = cp.output_offset
                        out_spikes[b, t, [lo + j for j in spikes]] = 1
                        out_membranes[b, t, lo : lo + cp.n_neurons] = unit.v
                    if record:
                        membranes[k][b, t] = unit.v
                        core_spikes[k][b, t, spikes] = 1
                cycles += stage_compute + stage_route
            timestep_cycles[b, t] = cycles
        adc_peak[b] = [u.adc_peak for u in units]

    return RunResult(
        output_spikes=out_spikes,
        output_membranes=out_membranes,
        counters=counters,
        host_counters=host_counters,
        timestep_cycles=timestep_cycles,
        core_ids=tuple(cp.core for cp in cores),
        readout=program.readout,
        membranes=membranes,
        core_spikes=core_spikes,
        extra={"rram_counters": rram_counters, "read_conductance_us": read_g, "adc_peak": adc_peak},
    )

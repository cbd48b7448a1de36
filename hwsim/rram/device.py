"""RRAM device model: weights to conductance pairs, one chip instance per seed (docs/rram.md).

A *chip instance* is one manufactured chip: every cell of every crossbar in
use gets its programmed conductance from one draw of the device model,
fixed for the chip's lifetime. Read noise is not part of the instance; it is
drawn per read by :func:`read_noise_normals`.

Units: conductances in microsiemens (uS), voltages in volts, currents in
microamperes (V x uS = uA), resistances in ohms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwsim.config import ChipConfig, RramConfig
from hwsim.errors import ConfigError, ProgramError
from hwsim.program import ChipProgram, CoreProgram

__all__ = [
    "FAULT_NONE",
    "FAULT_STUCK_ON",
    "FAULT_STUCK_OFF",
    "weight_full_scale",
    "weight_levels",
    "target_conductances",
    "unit_current_ua",
    "ir_drop_path_ohm",
    "Crossbar",
    "sample_crossbar",
    "RramChip",
    "program_chip",
    "read_noise_normals",
    "seed_words",
    "rram_config_of",
]

FAULT_NONE, FAULT_STUCK_ON, FAULT_STUCK_OFF = 0, 1, 2

# Stream tags of SeedSequence([seed, tag, ...]): one independent stream per purpose.
_TAG_DEVICE = 0
_TAG_READ_NOISE = 1
_TAG_ARRAY = 2


def seed_words(*values: int) -> np.ndarray:
    """The uint32 entropy words NumPy's ``SeedSequence([v0, v1, ...])`` assembles from non-negative integers.

    Each value becomes its 32-bit words, least significant first (0 is one word ``[0]``), and the
    words are concatenated; the kernels of :mod:`hwsim.kernels.random` seed their streams from these.

    Raises:
        ValueError: a negative value.
    """
    words: list[int] = []
    for v in values:
        v = int(v)
        if v < 0:
            raise ValueError(f"seed value {v}: expected an integer >= 0")
        words.append(v & 0xFFFFFFFF)
        v >>= 32
        while v:
            words.append(v & 0xFFFFFFFF)
            v >>= 32
    return np.array(words, np.uint32)


def rram_config_of(chip: ChipConfig) -> RramConfig:
    """The chip's :class:`RramConfig`.

    Raises:
        ConfigError: the chip is not an RRAM chip.
    """
    if chip.core_type != "rram" or chip.rram is None:
        raise ConfigError(
            f"chip {chip.name!r} has core_type = {chip.core_type!r}; the RRAM model needs core_type = 'rram' "
            "(e.g. the 'rram' preset)"
        )
    return chip.rram


def weight_full_scale(weights: np.ndarray, w_bits: int) -> int:
    """A core's weight full scale ``W_c`` (chip-spec §7.1): the smallest power of two
    ``>= max |w|`` (at least 1), at most ``2^(w_bits-1)``. ``|w| = W_c`` maps to ``G_on``."""
    m = int(np.abs(np.asarray(weights, dtype=np.int64)).max(initial=0))
    full = 1
    while full < m:
        full *= 2
    return min(full, 1 << (w_bits - 1))


def weight_levels(weights: np.ndarray, w_full: int, levels: int) -> np.ndarray:
    """Conductance level of each weight's magnitude: ``round(|w| (L-1) / W_c)``, half up.

    Integer arithmetic, so every implementation gets the same levels. When
    ``L - 1`` is a multiple of ``W_c`` the level is ``|w| (L-1) / W_c`` exactly.
    """
    w = np.abs(np.asarray(weights, dtype=np.int64))
    return (2 * w * (levels - 1) + w_full) // (2 * w_full)


def target_conductances(weights: np.ndarray, w_full: int, cfg: RramConfig) -> tuple[np.ndarray, np.ndarray]:
    """Nominal (G+, G-) in uS of a differential pair per weight (chip-spec §7.1).

    ``w > 0``: G+ = G_off + k dG, G- = G_off; ``w < 0``: the reverse; ``w = 0``:
    both G_off; ``k`` from :func:`weight_levels`, ``dG = (G_on - G_off) / (L-1)``.
    """
    k = weight_levels(weights, w_full, cfg.levels).astype(np.float64)
    g_off = cfg.g_off_us
    dg = (cfg.g_on_us - g_off) / (cfg.levels - 1)
    g_k = g_off + k * dg
    w = np.asarray(weights)
    g_plus = np.where(w > 0, g_k, g_off)
    g_minus = np.where(w < 0, g_k, g_off)
    return g_plus.astype(np.float64), g_minus.astype(np.float64)


def unit_current_ua(cfg: RramConfig, w_full: int) -> float:
    """Nominal column current of one weight unit, in uA: ``V_read (G_on - G_off) / W_c``."""
    return cfg.v_read_v * (cfg.g_on_us - cfg.g_off_us) / w_full


def ir_drop_path_ohm(n_axons: int, n_neurons: int, core_axons: int, wire_resistance_ohm: float) -> np.ndarray:
    """Wire resistance in series with each cell, ``(n_axons, n_neurons, 2)`` ohms (docs/rram.md §IR drop).

    Rows are driven from the left edge, columns are sensed below the last
    physical row. Cell (a, c), physical column ``c = 2j + p`` (``p = 0`` for G+,
    1 for G-), sees ``c + 1`` row segments and ``core_axons - a`` column segments.
    """
    a = np.arange(n_axons, dtype=np.float64)[:, None, None]
    c = (2 * np.arange(n_neurons)[None, :, None] + np.arange(2)[None, None, :]).astype(np.float64)
    return wire_resistance_ohm * ((c + 1.0) + (core_axons - a))


@dataclass(frozen=True)
class Crossbar:
    """The conductances of one programmed crossbar of one chip instance.

    Attributes:
        core: Mesh index of the core.
        g_plus_us: ``(n_axons, n_neurons)`` programmed G+ (after variation and faults), uS.
        g_minus_us: ``(n_axons, n_neurons)`` programmed G-, uS.
        fault: ``(n_axons, n_neurons, 2)`` int8, ``FAULT_NONE``/``FAULT_STUCK_ON``/``FAULT_STUCK_OFF``
            for (G+, G-).
        g_read_plus_us: G+ as seen by a read, after the first-order IR drop, uS.
        g_read_minus_us: G- as seen by a read, uS.
    """

    core: int
    g_plus_us: np.ndarray
    g_minus_us: np.ndarray
    fault: np.ndarray
    g_read_plus_us: np.ndarray
    g_read_minus_us: np.ndarray

    @property
    def g_diff_us(self) -> np.ndarray:
        """``G+ - G-`` as read, uS: the column current per volt of an active row."""
        return self.g_read_plus_us - self.g_read_minus_us

    @property
    def g_sq_us2(self) -> np.ndarray:
        """``G+^2 + G-^2`` as read, uS^2: the read-noise variance per (V sigma)^2 of an active row."""
        return self.g_read_plus_us * self.g_read_plus_us + self.g_read_minus_us * self.g_read_minus_us

    @property
    def row_conductance_us(self) -> np.ndarray:
        """``sum_j (G+ + G-)`` per row as read, uS: the cell-read energy of a driven row per V^2 t."""
        return (self.g_read_plus_us + self.g_read_minus_us).sum(axis=1)


def sample_crossbar(cp: CoreProgram, chip: ChipConfig, seed: int, draw_cache: dict | None = None, *,
                    cap_g_on: bool = False) -> Crossbar:
    """Program one core's weights into a crossbar of chip instance ``seed`` (docs/rram.md).

    The device draws cover the whole physical ``axons x neurons x 2`` array of
    the core and depend only on ``(seed, core)``: the same chip instance has
    the same cells whatever program it holds, and switching one non-ideality
    off does not change the draws of another (common random numbers across a
    sigma sweep).

    Args:
        cp: The core's program.
        chip: An RRAM chip.
        seed: Instance seed.
        draw_cache: Optional dict that keeps the device draws (they depend on the seed, the core
            and the geometry only, not on any device parameter): pass the same dict to sample the same
            instance again with other parameters without re-drawing. The result is the same.
    """
    from hwsim.kernels.random import device_draws  # Numba; compiled on first use

    cfg = rram_config_of(chip)
    cc = chip.core
    key = (int(seed), int(cp.core), cp.n_axons, cp.n_neurons, cc.axons, cc.neurons)
    if draw_cache is not None and key in draw_cache:
        z, u = draw_cache[key]
    else:
        # z then u of Generator(PCG64(SeedSequence([seed, 0, core]))) over the physical array, used corner
        # kept; drawn by a GIL-free kernel that gives NumPy's numbers bit for bit (tests: test_rram_random.py)
        z = np.empty((cp.n_axons, cp.n_neurons, 2), np.float64)
        u = np.empty((cp.n_axons, cp.n_neurons, 2), np.float64)
        device_draws(seed_words(int(seed), _TAG_DEVICE, int(cp.core)), cc.axons, cc.neurons, cp.n_axons,
                     cp.n_neurons, z, u)
        if draw_cache is not None:
            draw_cache[key] = (z, u)

    g_plus, g_minus = target_conductances(cp.weights, weight_full_scale(cp.weights, cc.w_bits), cfg)
    g = np.stack([g_plus, g_minus], axis=-1)
    if cfg.variation and cfg.variation_sigma > 0:
        if cfg.variation_distribution == "lognormal":
            g = g * np.exp(cfg.variation_sigma * z)
        else:  # normal; a conductance cannot be negative
            g = np.maximum(0.0, g * (1.0 + cfg.variation_sigma * z))
    if cap_g_on:
        g = np.minimum(g, cfg.g_on_us)  # before the stuck faults and the die factor: those are not programming
    fault = np.zeros(g.shape, np.int8)
    if cfg.stuck_faults:
        fault[u < cfg.stuck_on_rate] = FAULT_STUCK_ON
        fault[(u >= cfg.stuck_on_rate) & (u < cfg.stuck_on_rate + cfg.stuck_off_rate)] = FAULT_STUCK_OFF
        g = np.where(fault == FAULT_STUCK_ON, cfg.g_on_us, g)
        g = np.where(fault == FAULT_STUCK_OFF, cfg.g_off_us, g)
    if cfg.array_variation and cfg.array_sigma > 0:
        # one factor for the whole crossbar, from its own stream: the cell draws above stay unchanged
        from hwsim.kernels.random import standard_normals

        z_c = np.empty(1, np.float64)  # Generator(PCG64(SeedSequence([seed, 2, core]))).standard_normal()
        standard_normals(seed_words(int(seed), _TAG_ARRAY, int(cp.core)), z_c)
        z_c = float(z_c[0])
        g = g * np.exp(cfg.array_sigma * z_c)
    g_read = g
    if cfg.ir_drop and cfg.wire_resistance_ohm > 0:
        r = ir_drop_path_ohm(cp.n_axons, cp.n_neurons, cc.axons, cfg.wire_resistance_ohm)
        g_read = g / (1.0 + g * 1e-6 * r)  # uS x ohm x 1e-6 is dimensionless
    return Crossbar(
        core=int(cp.core),
        g_plus_us=np.ascontiguousarray(g[..., 0]),
        g_minus_us=np.ascontiguousarray(g[..., 1]),
        fault=fault,
        g_read_plus_us=np.ascontiguousarray(g_read[..., 0]),
        g_read_minus_us=np.ascontiguousarray(g_read[..., 1]),
    )


def read_noise_normals(seed: int, image_index: int, timesteps: int, n_cores: int, neurons: int) -> np.ndarray:
    """Standard normals of the read noise of one inference, ``(T, n_cores, neurons)`` float64.

    Drawn from ``SeedSequence([seed, 1, image_index])``, so an image's noise
    depends on the chip seed and its global index only, never on the batch
    it is in or on the thread count. ``[t, k, j]`` is for timestep ``t``,
    program core ``k`` (in ``program.cores`` order), neuron ``j``. This is the
    specification's NumPy form (the golden model uses it); the engine draws the
    same numbers for a whole batch with :func:`hwsim.kernels.random.read_noise_fill`.
    """
    ss = np.random.SeedSequence([int(seed), _TAG_READ_NOISE, int(image_index)])
    return np.random.Generator(np.random.PCG64(ss)).standard_normal((timesteps, n_cores, neurons))


@dataclass(frozen=True)
class RramChip:
    """A chip program loaded into one RRAM chip instance.

    Attributes:
        program: The chip program (weights, biases, registers, routes); its chip has core_type "rram".
        seed: Instance seed: fixes the device draws and seeds the read noise.
        crossbars: One :class:`Crossbar` per program core, in ``program.cores`` order.
        adc_scales: Per program core, the integer ADC scale register (weight units per ADC LSB), >= 1.
        w_full: Per program core, the weight full scale ``W_c`` (:func:`weight_full_scale`).
        thresholds: Per program core, the threshold register (tunable; starts at the program's).
    """

    program: ChipProgram
    seed: int
    crossbars: tuple[Crossbar, ...]
    adc_scales: tuple[int, ...]
    thresholds: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        rram_config_of(self.program.chip)
        cc = self.program.chip.core
        C = len(self.program.cores)
        object.__setattr__(self, "w_full", tuple(weight_full_scale(cp.weights, cc.w_bits) for cp in self.program.cores))
        if not self.thresholds:
            object.__setattr__(self, "thresholds", tuple(int(cp.threshold) for cp in self.program.cores))
        if len(self.crossbars) != C or len(self.adc_scales) != C or len(self.thresholds) != C:
            raise ProgramError(f"RRAM chip: expected {C} crossbars, ADC scales and thresholds (one per core)")
        for cp, s, th in zip(self.program.cores, self.adc_scales, self.thresholds):
            if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= cc.v_max:
                raise ProgramError(f"core {cp.core}: adc_scale = {s!r}, allowed 1..{cc.v_max}")
            if isinstance(th, bool) or not isinstance(th, (int, np.integer)) or not 0 <= th <= cc.v_max:
                raise ProgramError(f"core {cp.core}: threshold = {th!r}, allowed 0..{cc.v_max}")

    @property
    def config(self) -> RramConfig:
        return rram_config_of(self.program.chip)

    def lsb_current_ua(self, k: int) -> float:
        """ADC LSB of program core ``k`` in uA: ``adc_scale x`` :func:`unit_current_ua` of ``W_c``."""
        return self.adc_scales[k] * unit_current_ua(self.config, self.w_full[k])

    def with_thresholds(self, thresholds: tuple[int, ...] | list[int]) -> RramChip:
        """The same instance with other threshold registers (post-manufacture tuning)."""
        return RramChip(self.program, self.seed, self.crossbars, self.adc_scales, tuple(int(t) for t in thresholds))

    def with_adc_scales(self, adc_scales: tuple[int, ...] | list[int]) -> RramChip:
        """The same instance with other ADC scale registers."""
        return RramChip(self.program, self.seed, self.crossbars, tuple(int(s) for s in adc_scales), self.thresholds)


def program_chip(program: ChipProgram, seed: int, adc_scales: tuple[int, ...] | list[int] | None = None, *,
                 draw_cache: dict | None = None, cap_g_on: bool = False) -> RramChip:
    """Load ``program`` into chip instance ``seed`` (one draw of the device variation).

    Args:
        program: A chip program whose chip has ``core_type = "rram"``.
        seed: Instance seed (>= 0).
        adc_scales: Per program core ADC scale registers; 1 for every core when omitted.
        draw_cache: Optional dict keeping the device draws between calls (:func:`sample_crossbar`).
        cap_g_on: Cap programmed conductances at ``G_on`` after the variation (:func:`sample_crossbar`); off by
            default.

    Raises:
        ConfigError: the program's chip is not an RRAM chip.
        ProgramError: the program is invalid or a register is out of range.
    """
    program.validate()
    rram_config_of(program.chip)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ProgramError(f"seed = {seed!r}: expected an integer >= 0")
    crossbars = tuple(sample_crossbar(cp, program.chip, int(seed), draw_cache, cap_g_on=cap_g_on)
                      for cp in program.cores)
    if adc_scales is None:
        adc_scales = (1,) * len(program.cores)
    return RramChip(program, int(seed), crossbars, tuple(int(s) for s in adc_scales))

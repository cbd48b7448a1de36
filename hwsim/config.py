"""Chip and core configuration: frozen dataclasses, loaded from TOML presets.

Every field carries its unit in its name where one applies. Ranges follow
``docs/chip-spec.md`` §4; anything outside them raises :class:`ConfigError`
naming the key, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError
from hwsim.readers import load_named_toml, shorten, toml_names

__all__ = [
    "CoreConfig",
    "RramConfig",
    "ChipConfig",
    "CORE_TYPES",
    "NOC_MODELS",
    "RRAM_DISTRIBUTIONS",
    "load_chip_config",
    "preset_names",
    "CORE_START_CYCLES",
    "CORE_DONE_CYCLES",
    "SRAM_READ_LATENCY_CYCLES",
]

# Fixed controller costs of the digital core (chip-spec §2.4).
CORE_START_CYCLES = 1
CORE_DONE_CYCLES = 1
SRAM_READ_LATENCY_CYCLES = 1

PRESET_DIR = Path(__file__).parent / "configs"

# Core types a chip can be built from (chip-spec §2 digital, §7 RRAM crossbar).
CORE_TYPES = ("digital", "rram")
# Network-on-chip models (chip-spec §1.2 contention-free, §1.5 mesh of routers with buffers and arbitration).
NOC_MODELS = ("ideal", "mesh")
# Device-to-device programming-variation distributions of the RRAM model (docs/rram.md).
RRAM_DISTRIBUTIONS = ("lognormal", "normal")


def _check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} = {shorten(value)}: expected an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where} = {value}: out of range, allowed {lo}..{hi}")
    return value


def _check_number(where: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} = {shorten(value)}: expected a number in {lo}..{hi}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where} = {value}: out of range, allowed {lo}..{hi}")
    return float(value)


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(allowed))}"
        )


@dataclass(frozen=True)
class CoreConfig:
    """Parameters of one digital spike-sparse core (chip-spec §2).

    Attributes:
        axons: Axons per core (``A``), i.e. weight SRAM rows; 1..4096.
        neurons: Neurons per core (``N``), i.e. weight SRAM columns; 1..4096.
        lanes: Parallel accumulator lanes (``P``); divides ``neurons``.
        w_bits: Signed weight width in bits; 2..16.
        v_bits: Signed membrane, bias and threshold width in bits; 4..32, > ``w_bits``.
        partial_sums: Partial-sum chains (chip-spec §1.3): every core has an ``N`` x ``v_bits``
            partial-sum buffer and a MERGE phase, so a neuron's fan-in may span several cores.
    """

    axons: int = 1024
    neurons: int = 256
    lanes: int = 16
    w_bits: int = 8
    v_bits: int = 16
    partial_sums: bool = False

    def __post_init__(self) -> None:
        _check_int("core.axons", self.axons, 1, 4096)
        _check_int("core.neurons", self.neurons, 1, 4096)
        _check_int("core.lanes", self.lanes, 1, self.neurons)
        if self.neurons % self.lanes:
            raise ConfigError(
                f"core.lanes = {self.lanes}: must divide core.neurons = {self.neurons}"
            )
        _check_int("core.w_bits", self.w_bits, 2, 16)
        _check_int("core.v_bits", self.v_bits, 4, 32)
        if self.v_bits <= self.w_bits:
            raise ConfigError(
                f"core.v_bits = {self.v_bits}: must exceed core.w_bits = {self.w_bits}"
            )
        _check_bool("core.partial_sums", self.partial_sums)

    @property
    def w_min(self) -> int:
        return -(1 << (self.w_bits - 1))

    @property
    def w_max(self) -> int:
        return (1 << (self.w_bits - 1)) - 1

    @property
    def v_min(self) -> int:
        return -(1 << (self.v_bits - 1))

    @property
    def v_max(self) -> int:
        return (1 << (self.v_bits - 1)) - 1

    def groups(self, n_neurons: int) -> int:
        """Lane groups needed for ``n_neurons`` neurons: ``ceil(n_neurons / lanes)``."""
        return -(-n_neurons // self.lanes)

    def to_dict(self) -> dict:
        """The TOML/JSON form; ``partial_sums`` only when true, so files of chips without it stay as they were."""
        data = dataclasses.asdict(self)
        if not self.partial_sums:
            del data["partial_sums"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CoreConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"core = {shorten(data)}: expected a table of core parameters")
        _check_keys("core", data, {f.name for f in dataclasses.fields(cls)})
        return cls(**data)

    def to_hdl_params(self) -> dict[str, int]:
        """Verilog parameters of ``rtl/snn_core.v``, derived from this config only.

        ``PARTIAL_SUMS`` (1: partial-sum buffer and MERGE, chip-spec §1.3) only when ``partial_sums``
        is true: the RTL's default is 0, so chips without partial sums keep their parameter sets.
        """
        params = {
            "AXONS": self.axons,
            "NEURONS": self.neurons,
            "LANES": self.lanes,
            "W_BITS": self.w_bits,
            "V_BITS": self.v_bits,
        }
        if self.partial_sums:
            params["PARTIAL_SUMS"] = 1
        return params


def _ns_to_cycles(ns: float, clock_mhz: float) -> int:
    """``ceil(ns * clock_mhz / 1000)``, exact on the parameters' decimal values (chip-spec §7.4).

    A float64 stands for its shortest round-trip decimal (``repr``), and the product is a
    :class:`~fractions.Fraction`: no float rounding can add a cycle (2.24 ns x 3125 MHz is 7 cycles,
    not 8), and no tolerance can swallow one (10.000000005 ns x 100 MHz is 2 cycles, not 1).
    """
    return math.ceil(Fraction(repr(float(ns))) * Fraction(repr(float(clock_mhz))) / 1000)


def _check_bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} = {shorten(value)}: expected true or false")
    return value


@dataclass(frozen=True)
class RramConfig:
    """Parameters of an RRAM crossbar core (chip-spec §7; device model in ``docs/rram.md``).

    The crossbar has ``core.axons`` rows and ``2 * core.neurons`` physical
    columns (one differential pair G+/G- per neuron). Shared with
    :class:`CoreConfig`: axons, neurons, lanes (digital neuron-update lanes),
    ``w_bits`` (programmed weight range) and ``v_bits`` (membrane width).

    Attributes:
        levels: Programmable conductance levels per cell, ``L``; 2..1025.
        g_on_us: Highest (LRS, "on") conductance in microsiemens; 0.1..10000.
        on_off_ratio: ``G_on / G_off`` when ``finite_on_off`` is on; 1.5..1e9.
        v_read_v: Read-pulse amplitude on an active row, in volts; 0.01..2.
        t_read_ns: Read-pulse width (current sampled onto the sample-and-hold), in ns; 0.1..10000.
        adc_bits: Signed ADC resolution in bits; 2..24 (1 bit would give codes -1 and 0 only: no positive
            column sum could be read, and no ADC scale calibrates it).
        adc_mux: Columns (differential pairs) sharing one ADC; 1..neurons, divides neurons.
        adc_conversion_ns: Time of one ADC conversion, in ns; 0.1..10000.
        variation: Device-to-device programming variation on/off.
        variation_distribution: ``"lognormal"`` (``G = G_t exp(sigma z)``) or
            ``"normal"`` (``G = max(0, G_t (1 + sigma z))``).
        variation_sigma: ``sigma`` of the programming variation, a fraction; 0..3.
        array_variation: Crossbar-to-crossbar (die-level) variation on/off: one lognormal
            factor ``exp(array_sigma z_c)`` multiplies every cell of crossbar ``c``.
        array_sigma: ``sigma`` of the crossbar-to-crossbar factor; 0..3.
        read_noise: Cycle-to-cycle read noise on/off.
        read_noise_sigma: Relative standard deviation of a cell's read current; 0..1.
        stuck_faults: Stuck-at-on/off faults on/off.
        stuck_on_rate: Probability that a cell is stuck at ``G_on``; 0..1.
        stuck_off_rate: Probability that a cell is stuck at ``G_off``; 0..1.
        finite_on_off: On: ``G_off = G_on / on_off_ratio``; off: ``G_off = 0``.
        ir_drop: First-order wire-resistance (IR drop) model on/off.
        wire_resistance_ohm: Wire resistance of one cell-pitch segment of a row or column, in ohms; 0..1000.
    """

    levels: int = 129
    g_on_us: float = 100.0
    on_off_ratio: float = 20.0
    v_read_v: float = 0.2
    t_read_ns: float = 10.0
    adc_bits: int = 8
    adc_mux: int = 8
    adc_conversion_ns: float = 5.0
    variation: bool = True
    variation_distribution: str = "lognormal"
    variation_sigma: float = 0.1
    array_variation: bool = True
    array_sigma: float = 0.1
    read_noise: bool = True
    read_noise_sigma: float = 0.02
    stuck_faults: bool = True
    stuck_on_rate: float = 0.001
    stuck_off_rate: float = 0.001
    finite_on_off: bool = True
    ir_drop: bool = True
    wire_resistance_ohm: float = 1.0

    def __post_init__(self) -> None:
        _check_int("rram.levels", self.levels, 2, 1025)
        for name, lo, hi in (
            ("g_on_us", 0.1, 1e4),
            ("on_off_ratio", 1.5, 1e9),
            ("v_read_v", 0.01, 2.0),
            ("t_read_ns", 0.1, 1e4),
            ("adc_conversion_ns", 0.1, 1e4),
            ("variation_sigma", 0.0, 3.0),
            ("array_sigma", 0.0, 3.0),
            ("read_noise_sigma", 0.0, 1.0),
            ("stuck_on_rate", 0.0, 1.0),
            ("stuck_off_rate", 0.0, 1.0),
            ("wire_resistance_ohm", 0.0, 1e3),
        ):
            object.__setattr__(self, name, _check_number(f"rram.{name}", getattr(self, name), lo, hi))
        _check_int("rram.adc_bits", self.adc_bits, 2, 24)
        _check_int("rram.adc_mux", self.adc_mux, 1, 4096)
        for name in ("variation", "array_variation", "read_noise", "stuck_faults", "finite_on_off", "ir_drop"):
            _check_bool(f"rram.{name}", getattr(self, name))
        if self.variation_distribution not in RRAM_DISTRIBUTIONS:
            raise ConfigError(
                f"rram.variation_distribution = {shorten(self.variation_distribution)}: "
                f"allowed {', '.join(RRAM_DISTRIBUTIONS)}"
            )
        if self.stuck_on_rate + self.stuck_off_rate > 1.0:
            raise ConfigError(
                f"rram.stuck_on_rate + rram.stuck_off_rate = {self.stuck_on_rate + self.stuck_off_rate}: "
                "must not exceed 1"
            )

    @property
    def g_off_us(self) -> float:
        """Lowest (HRS, "off") conductance in microsiemens: ``G_on / on_off_ratio``, or 0 when ideal."""
        return self.g_on_us / self.on_off_ratio if self.finite_on_off else 0.0

    def read_cycles(self, clock_mhz: float) -> int:
        """Clock cycles of one read pulse: ``ceil(t_read_ns * clock_mhz / 1000)``, exact (chip-spec §7.4)."""
        return _ns_to_cycles(self.t_read_ns, clock_mhz)

    def conversion_cycles(self, clock_mhz: float) -> int:
        """Clock cycles of one conversion: ``ceil(adc_conversion_ns * clock_mhz / 1000)``, exact (chip-spec §7.4)."""
        return _ns_to_cycles(self.adc_conversion_ns, clock_mhz)

    def adc_count(self, neurons: int) -> int:
        """ADCs per core: ``neurons / adc_mux``."""
        return neurons // self.adc_mux

    def ideal(self) -> RramConfig:
        """A copy with every non-ideality switched off (same levels, ADC and timing)."""
        return dataclasses.replace(
            self, variation=False, array_variation=False, read_noise=False, stuck_faults=False,
            finite_on_off=False, ir_drop=False,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RramConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"rram = {shorten(data)}: expected a table of RRAM parameters")
        _check_keys("rram", data, {f.name for f in dataclasses.fields(cls)})
        return cls(**data)


def _check_adc_reach(core: CoreConfig, adc_bits: int) -> None:
    """chip-spec §7.7: the ADC reads every column sum once ``adc_scale`` is calibrated.

    The largest column sum is ``A x 2^(w_bits-1)`` weight units; calibration picks a power-of-two
    scale, and the largest one the register (``1..2^(v_bits-1)-1``) holds is ``2^(v_bits-2)``.
    """
    reach = core.axons << (core.w_bits - 1)
    top_scale = 1 << (core.v_bits - 2)
    if ((1 << (adc_bits - 1)) - 1) * top_scale < reach:
        needed = next(b for b in range(adc_bits + 1, 64) if ((1 << (b - 1)) - 1) * top_scale >= reach)
        raise ConfigError(
            f"rram.adc_bits = {adc_bits}: too few for core.axons = {core.axons}, core.w_bits = {core.w_bits} and "
            f"core.v_bits = {core.v_bits} (the largest column sum, {reach} weight units, must fit the ADC codes "
            f"times the largest scale 2^(v_bits-2) = {top_scale}); allowed adc_bits >= {needed}"
        )


@dataclass(frozen=True)
class ChipConfig:
    """A whole chip: a mesh of identical cores joined by routers (chip-spec §1).

    Attributes:
        name: Preset name.
        technology: Energy table name, ``hwsim/energy/tables/<technology>.toml``.
        mesh_rows: Rows of the core mesh; 1..64.
        mesh_cols: Columns of the core mesh; 1..64.
        clock_mhz: Core clock frequency in MHz.
        hop_latency_cycles: Router latency per hop, in clock cycles.
        barrier_cycles: Fixed cost of the global timestep barrier, in clock cycles.
        core: Parameters shared by every core.
        core_type: ``"digital"`` (chip-spec §2) or ``"rram"`` (crossbar cores, chip-spec §7).
        rram: Crossbar parameters; required when ``core_type == "rram"``, else ``None``.
        noc: Network-on-chip model: ``"ideal"`` (chip-spec §1.2, contention-free, the default) or ``"mesh"``
            (§1.5: XY routers with input buffers, round-robin arbitration and back-pressure; the routing phases
            last until their last packet is delivered).
        router_buffer_flits: Input buffer depth of each mesh router port, in packets; 1..64 (§1.5).
        voltage_v: Supply voltage in volts, 0.3..1.5; ``None`` (the default): the energy table's own voltages,
            every entry as stored (docs/energy.md §9). Set, the energy model scales dynamic entries by
            ``(voltage_v / V_entry)^2`` and static ones by ``voltage_v / V_entry``.
    """

    name: str = "default_28nm"
    technology: str = "28nm"
    mesh_rows: int = 3
    mesh_cols: int = 3
    clock_mhz: float = 200.0
    hop_latency_cycles: int = 1
    barrier_cycles: int = 4
    core: CoreConfig = field(default_factory=CoreConfig)
    core_type: str = "digital"
    rram: RramConfig | None = None
    voltage_v: float | None = None
    noc: str = "ideal"
    router_buffer_flits: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name = {shorten(self.name)}: expected a non-empty string")
        if not isinstance(self.technology, str) or not self.technology:
            raise ConfigError(f"technology = {shorten(self.technology)}: expected a non-empty string")
        _check_int("mesh_rows", self.mesh_rows, 1, 64)
        _check_int("mesh_cols", self.mesh_cols, 1, 64)
        object.__setattr__(self, "clock_mhz", _check_number("clock_mhz", self.clock_mhz, 1, 5000))
        _check_int("hop_latency_cycles", self.hop_latency_cycles, 0, 64)
        _check_int("barrier_cycles", self.barrier_cycles, 0, 1024)
        if self.noc not in NOC_MODELS:
            raise ConfigError(f"noc = {shorten(self.noc)}: allowed {', '.join(repr(m) for m in NOC_MODELS)}")
        _check_int("router_buffer_flits", self.router_buffer_flits, 1, 64)
        if self.noc == "mesh" and self.hop_latency_cycles < 1:
            raise ConfigError(
                "hop_latency_cycles = 0 with noc = 'mesh': a mesh router takes at least one cycle per hop "
                "(chip-spec §1.5); allowed 1..64, or noc = 'ideal'"
            )
        if self.voltage_v is not None:
            object.__setattr__(self, "voltage_v", _check_number("voltage_v", self.voltage_v, 0.3, 1.5))
        if not isinstance(self.core, CoreConfig):
            raise ConfigError(f"core = {shorten(self.core)}: expected a CoreConfig")
        if self.core_type not in CORE_TYPES:
            raise ConfigError(f"core_type = {shorten(self.core_type)}: allowed {', '.join(CORE_TYPES)}")
        if self.core_type == "rram" and self.noc != "ideal":
            raise ConfigError("noc = 'mesh' needs core_type = 'digital': RRAM chips use the ideal network-on-chip "
                              "in this version (chip-spec §1.5); allowed for RRAM: noc = 'ideal'")
        if self.core_type == "rram" and self.core.partial_sums:
            raise ConfigError("core.partial_sums = true needs core_type = 'digital': RRAM cores have no "
                              "partial-sum chains in this version (chip-spec §1.3)")
        if self.core_type == "rram":
            if not isinstance(self.rram, RramConfig):
                raise ConfigError(
                    f"core_type = 'rram' needs an [rram] table of RramConfig parameters; got {shorten(self.rram)}"
                )
            if self.rram.adc_mux > self.core.neurons or self.core.neurons % self.rram.adc_mux:
                raise ConfigError(
                    f"rram.adc_mux = {self.rram.adc_mux}: must divide core.neurons = {self.core.neurons}"
                )
            _check_adc_reach(self.core, self.rram.adc_bits)
        elif self.rram is not None:
            raise ConfigError("an [rram] table is given but core_type = 'digital'; set core_type = 'rram'")

    @property
    def n_cores(self) -> int:
        return self.mesh_rows * self.mesh_cols

    def position(self, core: int) -> tuple[int, int]:
        """(row, column) of core ``core`` in row-major numbering."""
        return divmod(core, self.mesh_cols)

    def hops(self, src: int, dst: int) -> int:
        """Dimension-ordered hop count between two cores (chip-spec §1.1)."""
        (r0, c0), (r1, c1) = self.position(src), self.position(dst)
        return abs(r0 - r1) + abs(c0 - c1)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["core"] = self.core.to_dict()
        # Keep digital configs' dicts (and program headers) exactly as before the RRAM core existed.
        if self.core_type == "digital":
            del data["core_type"], data["rram"]
        else:
            data["rram"] = self.rram.to_dict()
        # Unset voltage (the table's own voltages) is left out, so existing files and program headers stay as they were.
        if self.voltage_v is None:
            del data["voltage_v"]
        # Likewise the network-on-chip keys at their defaults (the ideal NoC of every earlier file).
        for key in ("noc", "router_buffer_flits"):
            if data[key] == getattr(ChipConfig, key):
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ChipConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"chip config = {shorten(data)}: expected a table")
        _check_keys("chip config", data, {f.name for f in dataclasses.fields(cls)})
        values = dict(data)
        values["core"] = CoreConfig.from_dict(values.get("core", {}))
        if values.get("rram") is not None:
            values["rram"] = RramConfig.from_dict(values["rram"])
        return cls(**values)

    def replace(self, **changes: Any) -> ChipConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def preset_names() -> list[str]:
    """Names of the chip presets shipped in ``hwsim/configs``."""
    return toml_names(PRESET_DIR)


def load_chip_config(name_or_path: str | Path = "default_28nm") -> ChipConfig:
    """Load a chip preset by name, or a chip config TOML file by path.

    A file sets the parameters it names; the others keep the defaults of :class:`ChipConfig`
    (those of ``default_28nm``). An empty file is refused: it would silently be ``default_28nm``.

    Raises:
        ConfigError: the file is missing, a folder, empty, too large, not UTF-8, not valid TOML,
            nested too deeply, or holds bad values.
    """
    path, data = load_named_toml(
        name_or_path, PRESET_DIR, "chip config", "preset", ConfigError,
        expected="chip parameters such as name, mesh_rows and a [core] table (see hwsim/configs/small.toml)",
    )
    try:
        return ChipConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

"""Chip and core configuration: frozen dataclasses, loaded from TOML presets.

Every field carries its unit in its name where one applies. Ranges follow
``docs/chip-spec.md`` §4; anything outside them raises :class:`ConfigError`
naming the key, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from hwsim.errors import ConfigError

__all__ = [
    "CoreConfig",
    "ChipConfig",
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


def _check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where} = {value!r}: expected an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise ConfigError(f"{where} = {value}: out of range, allowed {lo}..{hi}")
    return value


def _check_number(where: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} = {value!r}: expected a number in {lo}..{hi}")
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
    """

    axons: int = 1024
    neurons: int = 256
    lanes: int = 16
    w_bits: int = 8
    v_bits: int = 16

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
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CoreConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"core = {data!r}: expected a table of core parameters")
        _check_keys("core", data, {f.name for f in dataclasses.fields(cls)})
        return cls(**data)

    def to_hdl_params(self) -> dict[str, int]:
        """Verilog parameters of ``rtl/snn_core.v``, derived from this config only."""
        return {
            "AXONS": self.axons,
            "NEURONS": self.neurons,
            "LANES": self.lanes,
            "W_BITS": self.w_bits,
            "V_BITS": self.v_bits,
        }


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
    """

    name: str = "default_28nm"
    technology: str = "28nm"
    mesh_rows: int = 3
    mesh_cols: int = 3
    clock_mhz: float = 200.0
    hop_latency_cycles: int = 1
    barrier_cycles: int = 4
    core: CoreConfig = field(default_factory=CoreConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name = {self.name!r}: expected a non-empty string")
        if not isinstance(self.technology, str) or not self.technology:
            raise ConfigError(f"technology = {self.technology!r}: expected a non-empty string")
        _check_int("mesh_rows", self.mesh_rows, 1, 64)
        _check_int("mesh_cols", self.mesh_cols, 1, 64)
        object.__setattr__(self, "clock_mhz", _check_number("clock_mhz", self.clock_mhz, 1, 5000))
        _check_int("hop_latency_cycles", self.hop_latency_cycles, 0, 64)
        _check_int("barrier_cycles", self.barrier_cycles, 0, 1024)
        if not isinstance(self.core, CoreConfig):
            raise ConfigError(f"core = {self.core!r}: expected a CoreConfig")

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
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ChipConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"chip config = {data!r}: expected a table")
        _check_keys("chip config", data, {f.name for f in dataclasses.fields(cls)})
        values = dict(data)
        values["core"] = CoreConfig.from_dict(values.get("core", {}))
        return cls(**values)

    def replace(self, **changes: Any) -> ChipConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def preset_names() -> list[str]:
    """Names of the chip presets shipped in ``hwsim/configs``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_chip_config(name_or_path: str | Path = "default_28nm") -> ChipConfig:
    """Load a chip preset by name, or a chip config TOML file by path.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or holds bad values.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        preset = PRESET_DIR / f"{name_or_path}.toml"
        if not preset.exists():
            raise ConfigError(
                f"chip config {str(name_or_path)!r}: no such preset or .toml file; "
                f"presets: {', '.join(preset_names())}"
            )
        path = preset
    if not path.exists():
        raise ConfigError(f"chip config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"chip config file {str(path)!r} is not valid TOML: {exc}") from None
    try:
        return ChipConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

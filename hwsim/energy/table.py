"""Technology tables: energy per action and static power, kept as data with sources.

A table is a TOML file in ``hwsim/energy/tables/<name>.toml`` (or any path).
It maps Accelergy-style ``(component, action)`` keys to the energy of one
action in pJ (``energy_pj``) or, for static entries, to the leakage power of
one unit in µW (``static_power_uw``). Every entry must say where its number
comes from (``source``). The file also holds the single fitted calibration
factor, ``[calibration] global_scale``, that multiplies every entry.

Loading never executes anything (``tomllib``); a malformed table raises
:class:`EnergyTableError` naming the file, the entry and the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError
from hwsim.readers import load_named_toml, shorten, toml_names

__all__ = ["EnergyTable", "TableEntry", "EnergyTableError", "load_table", "table_names", "TABLE_DIR"]

TABLE_DIR = Path(__file__).parent / "tables"
TABLE_FORMAT = "hwsim-energy-table"
# Units are fixed so a table cannot silently mean nJ where the model expects pJ.
REQUIRED_UNITS = {"energy": "pJ", "static_power": "uW"}

_TOP_KEYS = {"format", "version", "technology", "description", "units", "calibration", "entry",
             "reference_voltage_v"}
_ENTRY_KEYS = {"component", "action", "per", "energy_pj", "static_power_uw", "source", "voltage_v", "range",
               "range_source"}
# Supply voltages a table may state, in volts (the chip configs' voltage_v range).
VOLTAGE_RANGE_V = (0.3, 1.5)
_CALIBRATION_KEYS = {"global_scale", "source"}


class EnergyTableError(ConfigError):
    """An energy table is missing, not valid TOML, or has a bad entry."""


@dataclass(frozen=True)
class TableEntry:
    """One ``(component, action)`` entry of a technology table.

    Attributes:
        component: Component class, e.g. ``"core.weight_sram"``.
        action: Action name, e.g. ``"read_bit"``.
        energy_pj: Energy of one action in pJ, or None for a static entry.
        static_power_uw: Leakage power of one unit in µW, or None for a dynamic entry.
        source: Where the number comes from (paper, scaling rule, assumption).
        per: What one counted action (or one static unit) is.
        voltage_v: Supply voltage the value holds at, if it differs from the table's ``reference_voltage_v``
            (e.g. a leakage measured on a 0.55 V chip); None: the table's reference voltage.
        range: ``(low, high)`` factors bounding the value, for entries marked as assumptions; None: not marked.
        range_source: Why that range (required with ``range``).
    """

    component: str
    action: str
    energy_pj: float | None
    static_power_uw: float | None
    source: str
    per: str = ""
    voltage_v: float | None = None
    range: tuple[float, float] | None = None
    range_source: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.component, self.action)

    @property
    def is_static(self) -> bool:
        return self.static_power_uw is not None

    def to_dict(self) -> dict:
        return {
            "component": self.component,
            "action": self.action,
            "energy_pj": self.energy_pj,
            "static_power_uw": self.static_power_uw,
            "source": self.source,
            "per": self.per,
            # only where set, so the dicts of unmarked entries stay as they were
            **({"voltage_v": self.voltage_v} if self.voltage_v is not None else {}),
            **({"range": list(self.range), "range_source": self.range_source} if self.range is not None else {}),
        }


@dataclass(frozen=True)
class EnergyTable:
    """A loaded technology table.

    Attributes:
        name: Table name (file stem).
        version: Table version string.
        technology: Process node, e.g. ``"28nm"``.
        global_scale: The one fitted calibration factor; multiplies every entry.
        calibration_source: How ``global_scale`` was obtained.
        entries: Entries by ``(component, action)``.
        description: Free text.
        path: File the table was read from, if any.
        reference_voltage_v: Supply voltage of the entries (those without their own ``voltage_v``); None: the
            table states none, and chips with a ``voltage_v`` cannot use it.
    """

    name: str
    version: str
    technology: str
    global_scale: float
    calibration_source: str
    entries: dict[tuple[str, str], TableEntry] = field(default_factory=dict)
    description: str = ""
    path: str = ""
    reference_voltage_v: float | None = None

    def entry(self, component: str, action: str) -> TableEntry:
        """The entry for ``(component, action)``.

        Raises:
            EnergyTableError: the table has no such entry.
        """
        try:
            return self.entries[(component, action)]
        except KeyError:
            have = ", ".join(f"{c}/{a}" for c, a in sorted(self.entries))
            raise EnergyTableError(
                f"energy table {self.name!r} has no entry for component {component!r}, action {action!r}; "
                f"entries: {have}"
            ) from None

    def energy_pj(self, component: str, action: str) -> float:
        """Unscaled energy of one action in pJ."""
        e = self.entry(component, action)
        if e.energy_pj is None:
            raise EnergyTableError(
                f"energy table {self.name!r}: {component}/{action} is a static entry (static_power_uw), "
                "not a per-action energy"
            )
        return e.energy_pj

    def static_power_uw(self, component: str, action: str) -> float:
        """Unscaled static power of one unit in µW."""
        e = self.entry(component, action)
        if e.static_power_uw is None:
            raise EnergyTableError(
                f"energy table {self.name!r}: {component}/{action} is a per-action energy (energy_pj), "
                "not a static power"
            )
        return e.static_power_uw

    def with_scale(self, global_scale: float) -> EnergyTable:
        """A copy with another calibration factor (used by the calibration itself)."""
        _check_positive("calibration.global_scale", global_scale, self.name)
        return EnergyTable(
            name=self.name,
            version=self.version,
            technology=self.technology,
            global_scale=float(global_scale),
            calibration_source=self.calibration_source,
            entries=dict(self.entries),
            description=self.description,
            path=self.path,
            reference_voltage_v=self.reference_voltage_v,
        )

    def with_entry_factors(self, factors: dict[tuple[str, str], float]) -> EnergyTable:
        """A copy with some entries' values multiplied by factors (the uncertainty band, docs/energy.md §10)."""
        entries = dict(self.entries)
        for key, f in factors.items():
            e = self.entry(*key)
            entries[key] = dataclasses.replace(
                e,
                energy_pj=None if e.energy_pj is None else e.energy_pj * f,
                static_power_uw=None if e.static_power_uw is None else e.static_power_uw * f,
            )
        return dataclasses.replace(self, entries=entries)

    def marked_entries(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``(component, action) -> (low, high)`` factors of the entries marked as assumptions."""
        return {k: e.range for k, e in self.entries.items() if e.range is not None}

    def voltage_factors(self, voltage_v: float | None) -> tuple[float, float, dict[tuple[str, str], float]]:
        """Factors of the voltage rule at a chip supply ``voltage_v`` (docs/energy.md §9).

        Returns ``(dynamic, static, per_entry)``: ``dynamic = (V / V_ref)^2`` for the entries at the reference
        voltage, ``static = V / V_ref`` likewise, and ``per_entry`` the factor of every entry that states its
        own voltage (``(V / V_e)^2`` dynamic, ``V / V_e`` static). ``voltage_v = None``: ``(1.0, 1.0, {})``,
        every entry as stored.

        Raises:
            EnergyTableError: a voltage is given but the table states no reference voltage.
        """
        if voltage_v is None:
            return 1.0, 1.0, {}
        if self.reference_voltage_v is None:
            raise EnergyTableError(
                f"energy table {self.name!r} states no reference_voltage_v, so a chip's voltage_v = {voltage_v} "
                "cannot be applied; remove voltage_v from the chip config or add reference_voltage_v to the table"
            )
        v_ref = self.reference_voltage_v
        per_entry = {
            k: (voltage_v / e.voltage_v) ** (1 if e.is_static else 2)
            for k, e in self.entries.items()
            if e.voltage_v is not None
        }
        return (voltage_v / v_ref) ** 2, voltage_v / v_ref, per_entry

    def at_voltage(self, voltage_v: float | None) -> EnergyTable:
        """The table at a chip supply ``voltage_v``: every entry times its :meth:`voltage_factors` factor.

        ``None`` returns the table itself (every entry as stored, bit for bit). The copy's entries hold the
        scaled values and no ``voltage_v`` of their own; ``global_scale`` is unchanged.
        """
        if voltage_v is None:
            return self
        dynamic, static, own = self.voltage_factors(voltage_v)
        factors = {k: own.get(k, static if e.is_static else dynamic) for k, e in self.entries.items()}
        scaled = self.with_entry_factors(factors)
        entries = {k: dataclasses.replace(e, voltage_v=None) for k, e in scaled.entries.items()}
        return dataclasses.replace(scaled, entries=entries, reference_voltage_v=float(voltage_v))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "technology": self.technology,
            "global_scale": self.global_scale,
            "calibration_source": self.calibration_source,
            "units": dict(REQUIRED_UNITS),
            "entries": [e.to_dict() for e in self.entries.values()],
        }


def table_names() -> list[str]:
    """Names of the tables shipped in ``hwsim/energy/tables``."""
    return toml_names(TABLE_DIR)


def _check_positive(where: str, value: Any, table: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EnergyTableError(f"energy table {table!r}: {where} = {shorten(value)}: expected a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise EnergyTableError(f"energy table {table!r}: {where} = {shorten(value)}: must be {allowed}")
    return float(value)


def _check_text(where: str, value: Any, table: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EnergyTableError(f"energy table {table!r}: {where} = {shorten(value)}: expected a non-empty string")
    return value


def _check_voltage(where: str, value: Any, table: str) -> float:
    lo, hi = VOLTAGE_RANGE_V
    v = _check_positive(where, value, table)
    if not lo <= v <= hi:
        raise EnergyTableError(
            f"energy table {table!r}: {where} = {shorten(value)}: out of range, allowed {lo}..{hi} V"
        )
    return v


def _check_range(where: str, raw: dict, table: str) -> tuple[tuple[float, float] | None, str]:
    """An entry's ``range = [low, high]`` (factors, ``0 < low <= 1 <= high``) and its ``range_source``."""
    if "range" not in raw:
        if "range_source" in raw:
            raise EnergyTableError(f"energy table {table!r}: {where}: range_source without range = [low, high]")
        return None, ""
    span = raw["range"]
    if not isinstance(span, list) or len(span) != 2:
        raise EnergyTableError(
            f"energy table {table!r}: {where}: range = {shorten(span)}: expected [low, high], factors of the value"
        )
    low = _check_positive(f"{where}: range[0]", span[0], table)
    high = _check_positive(f"{where}: range[1]", span[1], table)
    if not low <= 1.0 <= high:
        raise EnergyTableError(
            f"energy table {table!r}: {where}: range = {shorten(span)}: must satisfy low <= 1 <= high "
            "(factors that bracket the stored value)"
        )
    span_source = _check_text(f"{where}: range_source", raw.get("range_source"), table)
    return (low, high), span_source


def table_from_dict(data: dict, name: str, path: str = "") -> EnergyTable:
    """Validate parsed TOML data and build an :class:`EnergyTable`.

    Raises:
        EnergyTableError: naming the table, the entry and the field.
    """
    if not isinstance(data, dict):
        raise EnergyTableError(f"energy table {name!r}: expected a TOML table at the top level")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise EnergyTableError(
            f"energy table {name!r}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}"
        )
    if data.get("format") != TABLE_FORMAT:
        raise EnergyTableError(
            f"energy table {name!r}: format = {shorten(data.get('format'))}, expected {TABLE_FORMAT!r}"
        )
    version = _check_text("version", data.get("version"), name)
    technology = _check_text("technology", data.get("technology"), name)
    units = data.get("units")
    if units != REQUIRED_UNITS:
        raise EnergyTableError(
            f"energy table {name!r}: units = {shorten(units)}; this hwsim reads energy in pJ and static power in uW: "
            f"[units] energy = \"pJ\", static_power = \"uW\""
        )
    cal = data.get("calibration")
    if not isinstance(cal, dict):
        raise EnergyTableError(
            f"energy table {name!r}: missing [calibration] with global_scale (use 1.0 when uncalibrated) and source"
        )
    unknown = sorted(set(cal) - _CALIBRATION_KEYS)
    if unknown:
        raise EnergyTableError(
            f"energy table {name!r}: [calibration] unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_CALIBRATION_KEYS))}"
        )
    scale = _check_positive("calibration.global_scale", cal.get("global_scale"), name)
    cal_source = _check_text("calibration.source", cal.get("source"), name)
    reference_v = _check_voltage("reference_voltage_v", data["reference_voltage_v"], name) \
        if "reference_voltage_v" in data else None
    raw_entries = data.get("entry")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise EnergyTableError(f"energy table {name!r}: no [[entry]] tables")
    entries: dict[tuple[str, str], TableEntry] = {}
    for k, raw in enumerate(raw_entries):
        where = f"entry {k + 1}"
        if not isinstance(raw, dict):
            raise EnergyTableError(f"energy table {name!r}: {where} is not a table")
        if "component" in raw and "action" in raw:
            where = f"entry {k + 1} ({shorten(raw['component'])}/{shorten(raw['action'])})"
        unknown = sorted(set(raw) - _ENTRY_KEYS)
        if unknown:
            raise EnergyTableError(
                f"energy table {name!r}: {where}: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_ENTRY_KEYS))}"
            )
        component = _check_text(f"{where}: component", raw.get("component"), name)
        action = _check_text(f"{where}: action", raw.get("action"), name)
        source = _check_text(f"{where}: source", raw.get("source"), name)
        has_e, has_p = "energy_pj" in raw, "static_power_uw" in raw
        if has_e == has_p:
            raise EnergyTableError(
                f"energy table {name!r}: {where}: give exactly one of energy_pj (per action) or "
                f"static_power_uw (per unit, for the whole runtime)"
            )
        energy = _check_positive(f"{where}: energy_pj", raw["energy_pj"], name, True) if has_e else None
        power = _check_positive(f"{where}: static_power_uw", raw["static_power_uw"], name, True) if has_p else None
        per = raw.get("per", "")
        if not isinstance(per, str):
            raise EnergyTableError(f"energy table {name!r}: {where}: per = {shorten(per)}: expected a string")
        if (component, action) in entries:
            raise EnergyTableError(f"energy table {name!r}: {where}: duplicate entry {component}/{action}")
        voltage = _check_voltage(f"{where}: voltage_v", raw["voltage_v"], name) if "voltage_v" in raw else None
        if voltage is not None and reference_v is None:
            raise EnergyTableError(
                f"energy table {name!r}: {where}: voltage_v needs the table's reference_voltage_v at the top level"
            )
        span, span_source = _check_range(where, raw, name)
        entries[(component, action)] = TableEntry(component, action, energy, power, source, per, voltage, span,
                                                  span_source)
    return EnergyTable(
        name=name,
        version=version,
        technology=technology,
        global_scale=scale,
        calibration_source=cal_source,
        entries=entries,
        description=str(data.get("description", "")),
        path=path,
        reference_voltage_v=reference_v,
    )


def load_table(name_or_path: str | Path | EnergyTable = "28nm") -> EnergyTable:
    """Load a technology table by name (``hwsim/energy/tables/<name>.toml``) or by path.

    An :class:`EnergyTable` is returned unchanged, so callers can pass either.

    Raises:
        EnergyTableError: no such table, a folder, empty, too large, not UTF-8, not valid TOML,
            nested too deeply, or a bad entry.
    """
    if isinstance(name_or_path, EnergyTable):
        return name_or_path
    path, data = load_named_toml(
        name_or_path, TABLE_DIR, "energy table", "table", EnergyTableError,
        expected=f"format = {TABLE_FORMAT!r}, [units], [calibration] and [[entry]] tables (see hwsim/energy/tables)",
    )
    return table_from_dict(data, name=path.stem, path=str(path))

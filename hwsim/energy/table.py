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

_TOP_KEYS = {"format", "version", "technology", "description", "units", "calibration", "entry"}
_ENTRY_KEYS = {"component", "action", "per", "energy_pj", "static_power_uw", "source"}
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
    """

    component: str
    action: str
    energy_pj: float | None
    static_power_uw: float | None
    source: str
    per: str = ""

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
    """

    name: str
    version: str
    technology: str
    global_scale: float
    calibration_source: str
    entries: dict[tuple[str, str], TableEntry] = field(default_factory=dict)
    description: str = ""
    path: str = ""

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
        )

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
        entries[(component, action)] = TableEntry(component, action, energy, power, source, per)
    return EnergyTable(
        name=name,
        version=version,
        technology=technology,
        global_scale=scale,
        calibration_source=cal_source,
        entries=entries,
        description=str(data.get("description", "")),
        path=path,
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

"""Area tables: what a NAND2-equivalent gate, an SRAM bit and a register-file bit cost, kept as data with sources.

A table is a TOML file in ``hwsim/area/tables/<name>.toml`` (or any path). Every number carries a
``source``; uncertain ones a ``range`` of plausible values. Loading never executes anything
(``tomllib``); a malformed table raises :class:`AreaTableError` naming the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import ConfigError
from hwsim.readers import load_named_toml, shorten

__all__ = ["AreaTable", "AreaTableError", "load_area_table", "TABLE_DIR"]

TABLE_DIR = Path(__file__).parent / "tables"
TABLE_FORMAT = "hwsim-area-table"

# key -> (section, name, lower bound, upper bound): the scalar entries a table must have.
_SCALARS = {
    "nand2_um2": ("logic", "nand2_um2", 0.01, 100.0),
    "utilisation": ("logic", "utilisation", 0.05, 1.0),
    "sram_bitcell_um2": ("sram", "bitcell_um2", 0.001, 100.0),
    "sram_periphery_factor": ("sram", "periphery_factor", 1.0, 10.0),
    "rf_bit_ge": ("register_file", "bit_ge", 0.5, 100.0),
}
_TOP_KEYS = {"format", "version", "technology", "description", "logic", "sram", "register_file"}
_SECTION_KEYS = {"logic": {"nand2_um2", "utilisation", "nand2_equivalents"},
                 "sram": {"bitcell_um2", "periphery_factor"}, "register_file": {"bit_ge"}}


class AreaTableError(ConfigError):
    """An area table is missing, not valid TOML, or has a bad entry."""


@dataclass(frozen=True)
class AreaTable:
    """The numbers of one technology's area table (see ``hwsim/area/tables/28nm.toml``).

    Attributes:
        name: Table name (``technology``).
        nand2_um2: Area of one NAND2-equivalent gate, µm².
        utilisation: Standard-cell placement density (cell area / block area), 0..1.
        nand2_equivalents: NAND2-equivalent weight of each Yosys cell type (``$_NAND_`` = 1).
        sram_bitcell_um2: 6T SRAM bitcell area, µm².
        sram_periphery_factor: SRAM macro area / bitcell area (decoders, sense amplifiers, control).
        rf_bit_ge: NAND2 equivalents per register-file bit (membranes, biases, partial sums).
        sources: Each scalar's and the cell weights' source, by key (``nand2_um2``, ..., ``nand2_equivalents``).
        ranges: ``(low, high)`` of each scalar that has one.
    """

    name: str
    nand2_um2: float
    utilisation: float
    nand2_equivalents: dict[str, float]
    sram_bitcell_um2: float
    sram_periphery_factor: float
    rf_bit_ge: float
    sources: dict[str, str]
    ranges: dict[str, tuple[float, float]]

    def logic_ge(self, cells: dict[str, int]) -> float:
        """NAND2 equivalents of a cell count by Yosys type; an unknown type is an error naming it."""
        total = 0.0
        for cell, count in sorted(cells.items()):
            if cell not in self.nand2_equivalents:
                raise AreaTableError(
                    f"area table {self.name!r}: no NAND2-equivalent weight for Yosys cell {cell} "
                    f"(logic.nand2_equivalents has {', '.join(sorted(self.nand2_equivalents))})"
                )
            total += count * self.nand2_equivalents[cell]
        return total

    def logic_um2(self, nand2_equivalents: float) -> float:
        """Placed area of standard-cell logic: gates x NAND2 area / utilisation."""
        return nand2_equivalents * self.nand2_um2 / self.utilisation

    def sram_um2(self, bits: int) -> float:
        """SRAM macro area: bits x bitcell x periphery factor."""
        return bits * self.sram_bitcell_um2 * self.sram_periphery_factor

    def rf_um2(self, bits: int) -> float:
        """Register-file area: bits x GE per bit, placed as logic."""
        return self.logic_um2(bits * self.rf_bit_ge)


def _number(where: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AreaTableError(f"{where} = {shorten(value)}: expected a number in {lo}..{hi}")
    if not lo <= value <= hi:
        raise AreaTableError(f"{where} = {value}: out of range, allowed {lo}..{hi}")
    return float(value)


def _source(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AreaTableError(f"{where}.source = {shorten(value)}: every number needs a source (non-empty string)")
    return value


def _table(where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise AreaTableError(f"{where} = {shorten(value)}: expected a table")
    return value


def load_area_table(name_or_path: str | Path = "28nm") -> AreaTable:
    """Load an area table by technology name (``hwsim/area/tables/<name>.toml``) or by ``.toml`` path.

    Raises:
        AreaTableError: the file is missing or malformed; the message names the file and the key.
    """
    path, data = load_named_toml(
        name_or_path, TABLE_DIR, "area table", "area table", AreaTableError,
        expected="[logic], [sram] and [register_file] entries (see hwsim/area/tables/28nm.toml)",
    )
    try:
        return _parse(data)
    except AreaTableError as exc:
        raise AreaTableError(f"{path}: {exc}") from None


def _parse(data: dict) -> AreaTable:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise AreaTableError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if data.get("format") != TABLE_FORMAT:
        raise AreaTableError(f"format = {shorten(data.get('format'))}: expected {TABLE_FORMAT!r}")
    name = data.get("technology")
    if not isinstance(name, str) or not name:
        raise AreaTableError(f"technology = {shorten(name)}: expected a non-empty string")
    for section, allowed in _SECTION_KEYS.items():
        body = _table(section, data.get(section))
        extra = sorted(set(body) - allowed)
        if extra:
            raise AreaTableError(f"{section}: unknown key(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for key, (section, entry, lo, hi) in _SCALARS.items():
        where = f"{section}.{entry}"
        body = _table(where, data[section].get(entry))
        extra = sorted(set(body) - {"value", "range", "source"})
        if extra:
            raise AreaTableError(f"{where}: unknown key(s) {', '.join(extra)}; allowed: range, source, value")
        values[key] = _number(f"{where}.value", body.get("value"), lo, hi)
        sources[key] = _source(where, body.get("source"))
        if "range" in body:
            rng = body["range"]
            if not isinstance(rng, list) or len(rng) != 2:
                raise AreaTableError(f"{where}.range = {shorten(rng)}: expected [low, high]")
            low, high = (_number(f"{where}.range", r, lo, hi) for r in rng)
            if not low <= values[key] <= high:
                raise AreaTableError(f"{where}.range = [{low}, {high}]: must contain value = {values[key]}")
            ranges[key] = (low, high)
    weights_body = _table("logic.nand2_equivalents", data["logic"].get("nand2_equivalents"))
    sources["nand2_equivalents"] = _source("logic.nand2_equivalents", weights_body.get("source"))
    weights = {cell: _number(f"logic.nand2_equivalents.{cell}", w, 0.1, 50.0)
               for cell, w in weights_body.items() if cell != "source"}
    if weights.get("$_NAND_") != 1.0:
        raise AreaTableError("logic.nand2_equivalents.$_NAND_ must be 1 (the unit of the NAND2-equivalent count)")
    return AreaTable(
        name=name, nand2_um2=values["nand2_um2"], utilisation=values["utilisation"], nand2_equivalents=weights,
        sram_bitcell_um2=values["sram_bitcell_um2"], sram_periphery_factor=values["sram_periphery_factor"],
        rf_bit_ge=values["rf_bit_ge"], sources=sources, ranges=ranges,
    )

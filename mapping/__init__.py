"""Place trained spiking networks (hwsim network files or NIR graphs) onto hwsim chips.

Main entry points: :func:`load_network`, :func:`map_network` (-> ``ChipProgram``),
:func:`plan` (-> :class:`MappedNetwork` with placement and costs), :func:`to_nir`,
:func:`check_drc` and the summary files in :mod:`mapping.summary`.
"""

from hwsim.lazy_imports import lazy_exports

# Loaded on first use: mapping a network needs neither the NIR reader nor the writer (see hwsim.lazy_imports).
_EXPORTS = {
    "mapping.errors": ("MappingError", "DRCError", "DRCWarning"),
    "mapping.drc": ("DESIGN_RULES", "check_drc", "split_sizes"),
    "mapping.mapper": ("MappedNetwork", "map_network", "plan", "build_program"),
    "mapping.nir_import": ("load_network", "from_nir"),
    "mapping.nir_export": ("to_nir", "write_nir"),
    "mapping.placement": ("Placement", "place", "placement_cost"),
    "mapping.tiling": ("Tiling", "tile_network"),
}

__all__ = [name for names in _EXPORTS.values() for name in names]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

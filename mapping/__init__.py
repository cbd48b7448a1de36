"""Place trained spiking networks (hwsim network files or NIR graphs) onto hwsim chips.

Main entry points: :func:`load_network`, :func:`map_network` (-> ``ChipProgram``),
:func:`plan` (-> :class:`MappedNetwork` with placement and costs), :func:`to_nir`,
:func:`check_drc` and the summary files in :mod:`mapping.summary`.
"""

from mapping.drc import DESIGN_RULES, check_drc, split_sizes
from mapping.errors import DRCError, DRCWarning, MappingError
from mapping.mapper import MappedNetwork, build_program, map_network, plan
from mapping.nir_export import to_nir, write_nir
from mapping.nir_import import from_nir, load_network
from mapping.placement import Placement, place, placement_cost
from mapping.tiling import Tiling, tile_network

__all__ = [
    "MappingError",
    "DRCError",
    "DRCWarning",
    "DESIGN_RULES",
    "check_drc",
    "split_sizes",
    "MappedNetwork",
    "map_network",
    "plan",
    "build_program",
    "load_network",
    "from_nir",
    "to_nir",
    "write_nir",
    "Placement",
    "place",
    "placement_cost",
    "Tiling",
    "tile_network",
]

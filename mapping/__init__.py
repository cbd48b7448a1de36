"""Place trained spiking networks onto hwsim chips."""

from mapping.mapper import MappingError, map_network, split_sizes

__all__ = ["MappingError", "map_network", "split_sizes"]

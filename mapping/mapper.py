"""Network -> chip program: split layers into cores, place them, build routing tables.

This first mapper splits every layer by neurons (fan-out split: the layer's
inputs are multicast to every part) and places parts on cores in row-major
order, layer after layer. A layer whose fan-in exceeds a core's axons is
rejected (no partial sums in the spec).
"""

from __future__ import annotations

from collections.abc import Sequence

from hwsim.config import ChipConfig
from hwsim.errors import HwsimError
from hwsim.network import Network
from hwsim.program import ChipProgram, CoreProgram, Route

__all__ = ["MappingError", "map_network", "split_sizes"]


class MappingError(HwsimError):
    """The network does not fit the chip; the message names the rule and the layer."""


def split_sizes(n: int, capacity: int) -> list[int]:
    """Split ``n`` neurons into the fewest parts of at most ``capacity``, sizes as equal as possible."""
    parts = -(-n // capacity)
    base, extra = divmod(n, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def map_network(network: Network, chip: ChipConfig, placement: Sequence[int] | None = None) -> ChipProgram:
    """Map ``network`` onto ``chip``.

    Args:
        network: Quantized network.
        chip: Target chip.
        placement: Mesh core for each part, in layer-then-part order; row-major when omitted.

    Raises:
        MappingError: a layer's fan-in exceeds the axons per core, or the chip has too few cores.
    """
    cc = chip.core
    parts_per_layer = []
    for k, layer in enumerate(network.layers):
        if layer.n_in > cc.axons:
            raise MappingError(
                f"rule fanin_le_axons: layer {k} ({layer.name or 'unnamed'}) has fan-in {layer.n_in}, "
                f"a core has {cc.axons} axons"
            )
        parts_per_layer.append(split_sizes(layer.n_out, cc.neurons))
    n_parts = sum(len(p) for p in parts_per_layer)
    if placement is None:
        placement = list(range(n_parts))
    if n_parts > chip.n_cores:
        raise MappingError(
            f"rule cores_le_chip_cores: the network needs {n_parts} cores, "
            f"the {chip.mesh_rows}x{chip.mesh_cols} chip has {chip.n_cores}"
        )
    if len(placement) != n_parts or len(set(placement)) != n_parts:
        raise MappingError(f"placement must list {n_parts} distinct cores; got {list(placement)}")

    # (layer, part) -> (core, first neuron, size)
    slots: list[list[tuple[int, int, int]]] = []
    it = iter(placement)
    for sizes in parts_per_layer:
        lo, row = 0, []
        for size in sizes:
            row.append((int(next(it)), lo, size))
            lo += size
        slots.append(row)

    cores = []
    last = len(network.layers) - 1
    for k, layer in enumerate(network.layers):
        for core, lo, size in slots[k]:
            routes = ()
            if k < last:
                routes = tuple(Route(dest, 0, size, lo) for dest, _, _ in slots[k + 1])
            cores.append(
                CoreProgram(
                    core=core,
                    stage=k,
                    weights=layer.weights[:, lo : lo + size],
                    bias=layer.bias[lo : lo + size],
                    threshold=layer.threshold,
                    leak_shift=layer.leak_shift,
                    integration=layer.integration,
                    reset=layer.reset,
                    fire=layer.fire,
                    routes=routes,
                    output_offset=lo if k == last else None,
                    label=f"{layer.name or f'layer{k}'}[{lo}:{lo + size}]",
                )
            )
    host_routes = tuple(Route(dest, 0, network.n_inputs, 0) for dest, _, _ in slots[0])
    program = ChipProgram(chip=chip, cores=tuple(cores), host_routes=host_routes, n_inputs=network.n_inputs,
                          metadata={"network": network.metadata.get("name", ""), "sizes": network.sizes})
    return program.validate()

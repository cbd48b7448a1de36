"""Network -> chip program: design rules, partitioning, placement, routing tables.

Pipeline (plain data at every step)::

    NIR graph / .nir / .npz --load_network / from_nir--> Network
        --check_drc--> --place--> Placement --build_program--> ChipProgram
    plan(...) returns all of it as a MappedNetwork; map_network(...) returns the program.

Layer ``k`` runs on stage-``k`` cores. A layer larger than a core is split
by neurons; every part receives all of the layer's inputs (one routing entry
per destination part, i.e. multicast). Axon ``a`` of a layer-``k+1`` core is
neuron ``a`` of layer ``k``; the host feeds input ``i`` to axon ``i`` of
every layer-0 part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.config import ChipConfig, load_chip_config
from hwsim.network import Network
from hwsim.program import ChipProgram, CoreProgram, Route
from mapping.drc import check_drc, split_sizes
from mapping.errors import DRCError, MappingError
from mapping.placement import Placement, place

__all__ = [
    "MappingError",
    "DRCError",
    "MappedNetwork",
    "map_network",
    "plan",
    "build_program",
    "split_sizes",
    "as_network",
    "as_chip",
]


@dataclass(frozen=True)
class MappedNetwork:
    """A network mapped onto a chip.

    Attributes:
        network: The quantized network that was mapped (for a NIR input, the converted one).
        chip: The chip.
        placement: Parts, cores, traffic model and costs.
        program: The chip program.
        rules_checked: Names of the design rules that passed.
    """

    network: Network
    chip: ChipConfig
    placement: Placement
    program: ChipProgram
    rules_checked: tuple[str, ...]


def as_chip(chip: Any) -> ChipConfig:
    """A ``ChipConfig`` from a config, a preset name or a TOML path."""
    if isinstance(chip, ChipConfig):
        return chip
    if chip is None:
        return load_chip_config("default_28nm")
    return load_chip_config(chip)


def as_network(source: Any, chip: ChipConfig, *, dt_s: float | None = None, reset: str | None = None) -> Network:
    """A ``Network`` from a Network, a ``nir.NIRGraph``, or a ``.npz``/``.nir`` path."""
    from mapping.nir_io import from_nir, load_network

    if isinstance(source, Network):
        return source
    if isinstance(source, (str, Path)):
        return load_network(source, chip, dt_s=dt_s, reset=reset)
    if hasattr(source, "nodes") and hasattr(source, "edges"):
        return from_nir(source, chip, dt_s=dt_s, reset=reset)
    raise MappingError(f"expected a hwsim Network, a NIR graph or a file path; got {type(source).__name__}")


def build_program(network: Network, chip: ChipConfig, placement: Placement) -> ChipProgram:
    """Core registers, weights and routing tables for ``placement`` (chip-spec §6)."""
    parts, cores = placement.parts, placement.cores
    by_layer: dict[int, list[int]] = {}
    for i, p in enumerate(parts):
        by_layer.setdefault(p.layer, []).append(i)
    last = len(network.layers) - 1
    programs = []
    for i, (p, core) in enumerate(zip(parts, cores)):
        layer = network.layers[p.layer]
        routes: tuple[Route, ...] = ()
        if p.layer < last:
            # one entry per destination part: multicast of the whole slice, axon = neuron index in the layer
            routes = tuple(Route(cores[j], 0, p.size, p.lo) for j in by_layer[p.layer + 1])
        programs.append(
            CoreProgram(
                core=int(core),
                stage=p.layer,
                weights=layer.weights[:, p.lo : p.lo + p.size].copy(),
                bias=layer.bias[p.lo : p.lo + p.size].copy(),
                threshold=layer.threshold,
                leak_shift=layer.leak_shift,
                integration=layer.integration,
                reset=layer.reset,
                fire=layer.fire,
                routes=routes,
                output_offset=p.lo if p.layer == last else None,
                label=f"{layer.name or f'layer{p.layer}'}[{p.lo}:{p.lo + p.size}]",
            )
        )
    host_routes = tuple(Route(cores[j], 0, network.n_inputs, 0) for j in by_layer[0])
    meta = {
        "network": str(network.metadata.get("name", "")),
        "sizes": network.sizes,
        "layers": [layer.name for layer in network.layers],
        "placement": placement.to_dict(),
    }
    program = ChipProgram(
        chip=chip, cores=tuple(programs), host_routes=host_routes, n_inputs=network.n_inputs, metadata=meta
    )
    return program.validate()


def plan(
    network: Any,
    chip: Any = None,
    placement: str | Sequence[int] | None = "anneal",
    *,
    rates: Any = None,
    seed: int = 0,
    iterations: int | None = None,
    dt_s: float | None = None,
    reset: str | None = None,
) -> MappedNetwork:
    """Check, partition, place and route ``network`` on ``chip``; see :func:`map_network` for the arguments."""
    chip = as_chip(chip)
    net = as_network(network, chip, dt_s=dt_s, reset=reset)
    rules = check_drc(net, chip)
    pl = place(net, chip, "anneal" if placement is None else placement, rates=rates, seed=seed, iterations=iterations)
    program = build_program(net, chip, pl)
    return MappedNetwork(network=net, chip=chip, placement=pl, program=program, rules_checked=tuple(rules))


def map_network(
    network: Any,
    chip: Any = None,
    placement: str | Sequence[int] | None = "anneal",
    *,
    rates: Any = None,
    seed: int = 0,
    iterations: int | None = None,
    dt_s: float | None = None,
    reset: str | None = None,
) -> ChipProgram:
    """Map ``network`` onto ``chip`` and return the validated chip program.

    Args:
        network: A :class:`hwsim.network.Network`, a ``nir.NIRGraph``, or a ``.npz``/``.nir`` path.
            Never modified.
        chip: ``ChipConfig``, preset name or TOML path (default ``default_28nm``).
        placement: ``"anneal"`` (default; traffic-aware), ``"greedy"``, ``"row_major"``, or a list
            of mesh cores, one per part in layer-then-part order. None means ``"anneal"``.
        rates: Spike-rate estimate for the traffic cost, see :func:`mapping.placement.layer_rates`.
        seed: Annealing seed (same seed, same placement).
        iterations: Annealing steps.
        dt_s, reset: NIR conversion options (see :func:`mapping.nir_io.from_nir`).

    Raises:
        DRCError: a design rule is violated (names the rule, the layer, the need and the limit).
        MappingError: bad arguments.
    """
    return plan(network, chip, placement, rates=rates, seed=seed, iterations=iterations, dt_s=dt_s, reset=reset).program

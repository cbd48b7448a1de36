"""Network -> chip program: design rules, partitioning, placement, routing tables.

Pipeline (plain data at every step)::

    NIR graph / .nir / .npz --load_network / from_nir--> Network
        --check_drc--> --place--> Placement --build_program--> ChipProgram
    plan(...) returns all of it as a MappedNetwork; map_network(...) returns the program.

Layers are cut into parts by :mod:`mapping.tiling`. A flat layer whose input
fits one core runs on stage-``k`` cores as in earlier versions: split by
neurons, every part receives all of the layer's inputs (one routing entry per
destination part, i.e. multicast), axon ``a`` of a layer-``k+1`` core is
neuron ``a`` of layer ``k``, and the host feeds input ``i`` to axon ``i`` of
every layer-0 part. Conv and pooling layers (``Layer.shape``) are tiled and
each tile receives only its receptive field (one routing entry per run of
consecutive sources); a part with more inputs than a core's axons becomes a
partial-sum chain on chips with ``core.partial_sums`` (chip-spec §1.3), and
stages follow the depth of the chained graph.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.config import ChipConfig, load_chip_config
from hwsim.limits import MAX_CALIBRATION_IMAGES, MAX_RATES_RASTER_BYTES, MAX_TIMESTEPS
from hwsim.network import Network
from hwsim.program import ChipProgram, CoreProgram, Route
from mapping.drc import check_drc, split_sizes
from mapping.errors import DRCError, MappingError
from mapping.placement import Placement, part_axon_rows, part_axon_runs, place

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
    "check_rates_text",
    "resolve_rates",
    "RATES_HELP",
]

#: What a rates value given as text (``hwsim map --rates`` or ``plan(..., rates="...")``) may be.
RATES_HELP = (
    "'auto' (calibrate on the network's dataset if it names one and it loads offline, else 'uniform'), "
    "'uniform' (every neuron spikes every timestep, an upper bound), 'dataset[:N]' (calibrate on N test "
    "images, default 32), a comma list of spike probabilities 'input,layer0,...', or a .npy binary raster "
    "(T, n_in) or (B, T, n_in)"
)
_DEFAULT_CALIBRATION_IMAGES = 32


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
    if isinstance(source, Network):
        return source
    from mapping.nir_import import from_nir, load_network  # only for files and graphs: it imports SciPy

    if isinstance(source, (str, Path)):
        return load_network(source, chip, dt_s=dt_s, reset=reset)
    if hasattr(source, "nodes") and hasattr(source, "edges"):
        return from_nir(source, chip, dt_s=dt_s, reset=reset)
    raise MappingError(f"expected a hwsim Network, a NIR graph or a file path; got {type(source).__name__}")


def _calibration_count(text: str, what: str) -> int | None:
    """N of ``dataset:N`` (None for ``auto``/``dataset``)."""
    if ":" not in text:
        return None
    try:
        count = int(text.split(":", 1)[1])
    except ValueError:
        raise MappingError(f"{what} {text!r}: expected dataset:N with an integer N") from None
    if not 1 <= count <= MAX_CALIBRATION_IMAGES:
        raise MappingError(f"{what} {text!r}: N must be in 1..{MAX_CALIBRATION_IMAGES} test images")
    return count


def _load_raster(path: Path, what: str) -> np.ndarray:
    """A ``.npy`` raster: header checked first (no objects, a bounded size), never unpickled."""
    text = str(path)
    if not path.is_file():
        raise MappingError(f"{what} {text!r}: no such file")
    try:
        with path.open("rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):  # 3.0 only adds UTF-8 field names, which a raster has not
                raise ValueError(f"unsupported .npy format version {version}")
            fmt = np.lib.format
            shape, _, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise MappingError(f"{what} {text!r}: not a readable .npy file ({str(exc).splitlines()[0]})") from None
    if dtype.hasobject:
        raise MappingError(f"{what} {text!r}: holds Python objects (dtype {dtype}); hwsim never loads objects "
                           "from files, save the raster as a bool or integer array")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > MAX_RATES_RASTER_BYTES:
        raise MappingError(f"{what} {text!r}: declares shape {shape} ({size} bytes); at most "
                           f"{MAX_RATES_RASTER_BYTES} bytes")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MappingError(f"{what} {text!r}: not a readable .npy file ({str(exc).splitlines()[0]})") from None


def check_rates_text(text: str, what: str = "rates") -> None:
    """Check the form of a rates value given as text (see :data:`RATES_HELP`) without loading anything.

    Raises:
        MappingError: naming ``what``, the value and the allowed forms.
    """
    if text in ("auto", "uniform"):
        return
    if text == "dataset" or text.startswith("dataset:"):
        _calibration_count(text, what)
        return
    if text.endswith(".npy"):
        if not Path(text).is_file():
            raise MappingError(f"{what} {text!r}: no such file")
        return
    try:
        [float(v) for v in text.split(",")]
    except ValueError:
        raise MappingError(f"{what} {text!r}: expected {RATES_HELP}") from None


def _dataset_raster(network: Network, count: int):
    """Encoded test images of the dataset the network was trained on, or None with a reason."""
    meta = network.metadata
    name = meta.get("dataset")
    if not name:
        return None, "the network names no dataset"
    from hwsim.errors import InputError

    try:
        from hwsim.datasets import load_dataset
        from hwsim.encoding import encode

        ds = load_dataset(str(name))
    except (ImportError, InputError, OSError) as exc:
        return None, f"dataset {name!r} not available ({exc})"
    x = ds.x_test[:count]
    if x.shape[1] != network.n_inputs:
        return None, f"dataset {name!r} has {x.shape[1]} pixels, the network {network.n_inputs} inputs"
    timesteps = meta.get("timesteps", 16)
    if getattr(timesteps, "ndim", None) == 0:  # a NumPy scalar array, as NIR metadata may hold
        timesteps = timesteps.item()
    whole = not isinstance(timesteps, bool) and isinstance(timesteps, numbers.Integral)
    if not whole or not 1 <= timesteps <= MAX_TIMESTEPS:
        return None, f"the network's metadata timesteps = {timesteps!r} is not a whole number in 1..{MAX_TIMESTEPS}"
    return encode(x, timesteps, str(meta.get("encoding", "rate")), seed=0), f"{count} {name} test images"


def resolve_rates(rates: Any, network: Network, what: str = "rates") -> tuple[Any, str]:
    """The rates :func:`mapping.placement.layer_rates` takes, from any value :func:`plan` accepts.

    Text (or a ``Path`` to a ``.npy``) is read as ``hwsim map --rates`` reads it (:data:`RATES_HELP`), so the
    API and the CLI take the same values; anything else is returned unchanged.

    Returns:
        ``(rates, note)``: the value for ``layer_rates`` and a one-line note on where it came from.

    Raises:
        MappingError: a malformed value, a missing or unloadable file, a dataset that is not available.
    """
    if isinstance(rates, Path):
        rates = str(rates)
    if not isinstance(rates, str):
        return rates, "given"
    check_rates_text(rates, what)
    if rates == "uniform":
        return None, "uniform"
    if rates == "auto" or rates.startswith("dataset"):
        count = _calibration_count(rates, what) or _DEFAULT_CALIBRATION_IMAGES
        raster, why = _dataset_raster(network, count)
        if raster is None:
            if rates == "auto":
                return None, f"uniform ({why})"
            raise MappingError(f"{what} {rates!r}: {why}")
        return raster, why
    if rates.endswith(".npy"):
        path = Path(rates)
        return _load_raster(path, what), f"raster {path.name}"
    return [float(v) for v in rates.split(",")], "user estimate"


def build_program(network: Network, chip: ChipConfig, placement: Placement) -> ChipProgram:
    """Core registers, weights and routing tables for ``placement`` (chip-spec §6).

    Each part's axons are its axon runs (:mod:`mapping.tiling`); a run from a layer is split into one
    routing entry per core of that layer it covers, a run of the network input is one host entry.
    A partial-sum core routes its neurons to the same neurons of the next core of its chain
    (chip-spec §1.3). When the placement has a tiling, its network (neurons reordered tile by tile)
    is the one built; ``network`` must be the network that was placed.
    """
    if placement.tiling is not None:
        network = placement.tiling.network
    parts, cores = placement.parts, placement.cores
    last = len(network.layers) - 1
    senders: dict[int, list[int]] = {}  # layer -> its neuron-core parts
    for i, p in enumerate(parts):
        if not p.is_psum:
            senders.setdefault(p.layer, []).append(i)
    routes: list[list[Route]] = [[] for _ in parts]
    host_routes: list[Route] = []
    for j, p in enumerate(parts):
        if p.is_psum:
            routes[j].append(Route(cores[j + 1], 0, p.size, 0))  # the next member, neuron for neuron
        offset = 0  # first axon of the run
        for run in part_axon_runs(network, p):
            if run.source < 0:
                host_routes.append(Route(cores[j], run.lo, run.hi, offset))
            else:
                for i in senders[run.source]:
                    q = parts[i]
                    a, z = max(run.lo, q.lo), min(run.hi, q.lo + q.size)
                    if a < z:
                        routes[i].append(Route(cores[j], a - q.lo, z - q.lo, offset + a - run.lo))
            offset += run.size
    readers = {s for k in range(len(network.layers)) for s in network.sources(k)}
    programs = []
    for j, (p, core) in enumerate(zip(parts, cores)):
        layer = network.layers[p.layer]
        name = layer.name or f"layer{p.layer}"
        rows = part_axon_rows(network, p)
        if layer.is_sparse:  # only this core's columns are made dense
            weights = layer.weight_block(rows, p.lo, p.lo + p.size)
        else:
            weights = layer.weights[:, p.lo : p.lo + p.size]
            weights = weights.copy() if rows.size == layer.n_in and np.array_equal(rows, np.arange(layer.n_in)) \
                else weights[rows]
        if p.is_psum:
            programs.append(
                CoreProgram(
                    core=int(core),
                    stage=p.core_stage,
                    weights=weights,
                    bias=np.zeros(p.size, dtype=layer.bias.dtype),
                    threshold=0,
                    leak_shift=0,
                    integration="discontinuous",
                    reset=layer.reset,
                    fire=False,
                    routes=tuple(routes[j]),
                    psum_out=True,
                    label=f"{name}[{p.lo}:{p.lo + p.size}] psum {p.member + 1}/{p.chain}",
                )
            )
            continue
        is_output = p.layer == last
        if not is_output and p.layer not in readers:
            raise MappingError(f"layer {p.layer} ({name}) is read by no layer; only the last layer may be an output")
        programs.append(
            CoreProgram(
                core=int(core),
                stage=p.core_stage,
                weights=weights,
                bias=layer.bias[p.lo : p.lo + p.size].copy(),
                threshold=layer.threshold,
                leak_shift=layer.leak_shift,
                integration=layer.integration,
                reset=layer.reset,
                fire=layer.fire,
                routes=tuple(routes[j]),
                output_offset=p.lo if is_output else None,
                label=f"{name}[{p.lo}:{p.lo + p.size}]",
            )
        )
    meta = {
        "network": str(network.metadata.get("name", "")),
        "sizes": network.sizes,
        "layers": [layer.name for layer in network.layers],
        "placement": placement.to_dict(),
    }
    program = ChipProgram(
        chip=chip, cores=tuple(programs), host_routes=tuple(host_routes), n_inputs=network.n_inputs, metadata=meta
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
    rates, _ = resolve_rates(rates, net)
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
        rates: Spike-rate estimate for the traffic cost, see :func:`mapping.placement.layer_rates`; or the
            same text ``hwsim map --rates`` takes (``"uniform"``, ``"auto"``, ``"dataset:32"``, ``"0.2,0.1"``,
            a ``.npy`` raster path), see :func:`resolve_rates`.
        seed: Annealing seed (same seed, same placement).
        iterations: Annealing steps.
        dt_s, reset: NIR conversion options (see :func:`mapping.nir_import.from_nir`).

    Raises:
        DRCError: a design rule is violated (names the rule, the layer, the need and the limit).
        MappingError: bad arguments.
    """
    return plan(network, chip, placement, rates=rates, seed=seed, iterations=iterations, dt_s=dt_s, reset=reset).program

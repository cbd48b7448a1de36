"""Design rules: one small named check per hardware limit.

Every rule is a function named as the rule, taking ``(subject, chip)`` and
returning None, or raising :class:`~mapping.errors.DRCError` that names the
rule, the layer, what the network needs and what the chip has. Rules whose
``subject`` attribute is ``"nir"`` look at a NIR graph (as a
:class:`~mapping.graph.NirView`); rules with ``"network"`` look at a
quantized :class:`hwsim.network.Network`. :func:`check_drc` runs the rules
that apply to what it is given. No rule modifies its subject.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hwsim.config import ChipConfig, load_chip_config, preset_names
from hwsim.limits import MAX_ARRAY_ELEMENTS
from hwsim.neuron import RESET_MODES
from hwsim.network import Network
from hwsim.readers import shorten
from mapping.errors import DRCError, DRCWarning, MappingError
from mapping.graph import (
    NEURON_TYPES,
    PASS_TYPES,
    READOUT_TYPES,
    SUPPORTED_TYPES,
    NirView,
    descendants,
    find_cycle,
    nir_view,
)
from mapping.nir_file import plain

__all__ = [
    "DESIGN_RULES",
    "check_drc",
    "check_nir_fields",
    "check_layer_sizes",
    "split_sizes",
    "neuron_fanin",
    "check_cores_needed",
    "partial_sum_presets",
    # NIR graph rules
    "no_recurrence",
    "supported_node_types",
    "input_to_output",
    "uniform_neuron_params",
    "reset_is_zero_or_subtract",
    "input_gain_nonzero",
    "tau_ge_dt",
    "no_synaptic_state",
    "readout_last_only",
    # network rules
    "fanin_le_axons",
    "neurons_fit_cores",
    "cores_le_chip_cores",
    "weights_fit_w_bits",
    "bias_fit_v_bits",
    "threshold_in_range",
    "leak_shift_in_range",
    "v_bits_match_network",
]

Rule = Callable[[Any, ChipConfig], None]


def _rule(subject: str) -> Callable[[Rule], Rule]:
    def mark(fn: Rule) -> Rule:
        fn.subject = subject  # type: ignore[attr-defined]
        return fn

    return mark


def split_sizes(n: int, capacity: int) -> list[int]:
    """Split ``n`` neurons into the fewest parts of at most ``capacity``, sizes as equal as possible."""
    parts = -(-n // capacity)
    base, extra = divmod(n, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


def _layer_name(net: Network, k: int) -> str:
    return f"layer {k} ({net.layers[k].name or 'unnamed'})"


# ----------------------------------------------------------------------------- NIR fields
# What each supported node needs, and what it means (for the message when it is missing).
# Optional fields (Affine bias, r, v_leak, w_in, ...) have defaults in mapping.nir_import.
_REQUIRED_FIELDS = {
    "Affine": ("weight",),
    "Linear": ("weight",),
    "Conv2d": ("weight",),
    "Scale": ("scale",),
    "SumPool2d": ("kernel_size",),
    "AvgPool2d": ("kernel_size",),
    "IF": ("v_threshold",),
    "LIF": ("tau", "v_threshold"),
    "CubaLIF": ("tau_syn", "tau_mem", "v_threshold"),
    "LI": ("tau",),
}
_FIELD_MEANING = {
    "weight": "a weight tensor",
    "scale": "scale factors",
    "kernel_size": "the pooling kernel size",
    "v_threshold": "the firing threshold",
    "tau": "the membrane time constant in seconds",
    "tau_mem": "the membrane time constant in seconds",
    "tau_syn": "the synaptic time constant in seconds",
}
_FINITE_FIELDS = ("weight", "bias", "scale", "r", "v_leak", "v_threshold", "v_reset", "w_in")
_TIME_CONSTANTS = ("tau", "tau_mem", "tau_syn")


def _numbers(where: str, p: str, value: Any) -> np.ndarray:
    if isinstance(value, (str, bytes)) or np.asarray(value).dtype.kind not in "biuf":
        raise MappingError(f"{where}: {p} = {shorten(plain(value))} is not numeric; expected numbers")
    return np.asarray(value, dtype=np.float64).ravel()


#: Dimensions of the largest tensor a NIR node describes here (batch, channels, height, width, and margin).
_MAX_TENSOR_RANK = 8


def _whole_numbers(where: str, p: str, value: Any, lo: int, sizes: tuple[int, ...] = (1, 2)) -> tuple[int, ...]:
    """A field that holds ``sizes`` whole numbers ``>= lo`` (a stride, a kernel size, a shape)."""
    what = {(1,): "a whole number", (2,): "2 whole numbers", (1, 2): "1 or 2 whole numbers"}.get(sizes, "whole numbers")
    # no size, stride or padding can usefully exceed the largest array a file may hold
    hi = MAX_ARRAY_ELEMENTS if lo >= 0 else -lo - 1
    what += f" in {lo}..{hi}"
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or (sizes and arr.size not in sizes) or arr.ndim > 1:
        raise MappingError(f"{where}: {p} = {shorten(plain(value))}; expected {what}")
    flat = arr.astype(np.float64).ravel()
    if not np.all(np.isfinite(flat)) or np.any(flat != np.rint(flat)) or np.any(flat < lo) or np.any(flat > hi):
        raise MappingError(f"{where}: {p} = {shorten(plain(value))}; expected {what}")
    if not sizes and math.prod(flat) > MAX_ARRAY_ELEMENTS:  # a tensor shape: its size is bounded too
        raise MappingError(
            f"{where}: {p} = {shorten(plain(value))} has {math.prod(flat):.0f} elements; "
            f"allowed at most {MAX_ARRAY_ELEMENTS}"
        )
    return tuple(int(x) for x in flat)


def _one_or(n: int) -> str:
    return "1" if n == 1 else f"1 or {n}"


def _squeezed_shape(weight: Any) -> tuple[int, ...]:
    """Shape of an Affine/Linear weight with leading length-1 dimensions dropped (as the import reads it)."""
    shape = list(np.shape(weight))
    while len(shape) > 2 and shape[0] == 1:
        shape.pop(0)
    return tuple(shape)


def _check_node_shapes(key: str, node: dict) -> None:
    """Shapes and integer fields of the linear and container nodes, checked before anything is unrolled."""
    t = node["type"]
    where = f"node {key!r} ({t})"
    if t in ("Input", "Output") and node.get("shape") is not None:
        _whole_numbers(where, "shape", node["shape"], 1, ())
    if t == "Flatten":
        if node.get("input_type") is not None:
            _whole_numbers(where, "input_type", node["input_type"], 1, ())
        # one dimension index each (negative counts from the end, as in NumPy); the flat vector ignores them
        for p in ("start_dim", "end_dim"):
            if node.get(p) is not None:
                _whole_numbers(where, p, node[p], -_MAX_TENSOR_RANK, (1,))
    if t in ("Affine", "Linear"):
        shape = _squeezed_shape(node["weight"])
        if len(shape) != 2 or min(shape) < 1:
            raise MappingError(
                f"{where}: weight has shape {tuple(np.shape(node['weight']))}; expected (out, in), both >= 1"
            )
        if t == "Affine" and node.get("bias") is not None and np.size(node["bias"]) not in (1, shape[0]):
            raise MappingError(
                f"{where}: bias has {np.size(node['bias'])} values for {shape[0]} outputs; expected {_one_or(shape[0])}"
            )
    if t == "Conv2d":
        shape = np.shape(node["weight"])
        if len(shape) != 4 or min(shape) < 1:
            raise MappingError(f"{where}: weight has shape {shape}; expected (C_out, C_in/groups, kH, kW), all >= 1")
        for p in ("stride", "dilation"):
            if node.get(p) is not None:
                _whole_numbers(where, p, node[p], 1)
        padding = node.get("padding")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise MappingError(
                    f"{where}: padding = {padding!r}; allowed 1 or 2 whole numbers >= 0, 'same' or 'valid'"
                )
        elif padding is not None:
            _whole_numbers(where, "padding", padding, 0)
        groups = _whole_numbers(where, "groups", node["groups"], 1, (1,))[0] if node.get("groups") is not None else 1
        if shape[0] % groups:
            raise MappingError(f"{where}: groups = {groups} does not divide the {shape[0]} output channels")
        if node.get("bias") is not None and np.size(node["bias"]) not in (1, shape[0]):
            raise MappingError(
                f"{where}: bias has {np.size(node['bias'])} values for {shape[0]} output channels; "
                f"expected {_one_or(shape[0])}"
            )
        if node.get("input_shape") is not None and np.size(node["input_shape"]) == 2:
            _whole_numbers(where, "input_shape", node["input_shape"], 1, (2,))
    if t in ("SumPool2d", "AvgPool2d"):
        _whole_numbers(where, "kernel_size", node["kernel_size"], 1)
        if node.get("stride") is not None:
            _whole_numbers(where, "stride", node["stride"], 1)
        if node.get("padding") is not None:
            _whole_numbers(where, "padding", node["padding"], 0)


def _check_hwsim_metadata(key: str, node: dict) -> None:
    """The node metadata the export writes and the import reads back (``hwsim_threshold``, ...)."""
    meta = node.get("metadata") or {}
    where = f"node {key!r} ({node['type']}): metadata"
    if "hwsim_threshold" in meta:
        _whole_numbers(where, "hwsim_threshold", meta["hwsim_threshold"], -(1 << 31), (1,))
    reset = meta.get("hwsim_reset", "zero")
    if not isinstance(reset, str) or reset not in RESET_MODES:
        raise MappingError(
            f"{where}: hwsim_reset = {shorten(plain(meta['hwsim_reset']))}; allowed {', '.join(RESET_MODES)}"
        )
    if "hwsim_layer" in meta and not isinstance(meta["hwsim_layer"], str):
        raise MappingError(f"{where}: hwsim_layer = {shorten(plain(meta['hwsim_layer']))}; expected a string")
    if "hwsim_shape" in meta:
        _whole_numbers(where, "hwsim_shape", meta["hwsim_shape"], 1, (3,))


def check_nir_fields(view: NirView) -> None:
    """Reject malformed nodes before any rule or conversion reads them.

    Every supported node must have its required fields, numeric, non-empty and finite, with
    shapes that fit together (an Affine bias of one value or one per output, a 4-D Conv2d
    weight, strides, dilations, groups and kernel sizes >= 1, paddings >= 0), and time
    constants must be positive. A membrane time constant of ``inf`` is refused too: in NIR's
    ``tau dv/dt = (v_leak - v) + R I`` the input then reaches the membrane with gain
    ``R / tau = 0`` (undefined for ``r = inf``, as snnTorch writes ``Leaky(beta = 1)``), so the
    layer would never change; ``IF`` is the node for a neuron without leak.

    Raises:
        MappingError: naming the node, the field and what is expected.
    """
    for key, node in view.nodes.items():
        t = node["type"]
        where = f"node {key!r} ({t})"
        for p in _REQUIRED_FIELDS.get(t, ()):
            if node.get(p) is None:
                raise MappingError(f"{where}: no {p!r} field; expected {_FIELD_MEANING[p]}")
        if t not in SUPPORTED_TYPES:
            continue
        _check_hwsim_metadata(key, node)
        if t in ("Input", "Output") + PASS_TYPES:
            _check_node_shapes(key, node)
            continue
        for p in _FINITE_FIELDS:
            if node.get(p) is None:
                continue
            arr = _numbers(where, p, node[p])
            if arr.size == 0:
                raise MappingError(f"{where}: {p} is empty; expected at least one number")
            bad = arr[~np.isfinite(arr)]
            if bad.size:
                kinds = ", ".join(sorted({f"{x:g}" for x in bad}))
                raise MappingError(
                    f"{where}: {p} has {bad.size} non-finite value(s) ({kinds}); expected finite numbers"
                )
        for p in _TIME_CONSTANTS:
            if node.get(p) is None:
                continue
            arr = _numbers(where, p, node[p])
            if arr.size == 0:
                raise MappingError(f"{where}: {p} is empty; expected a time constant > 0 s")
            bad = arr[~(arr > 0)]  # also NaN
            if bad.size:
                raise MappingError(f"{where}: {p} = {bad[0]:g}; expected a time constant > 0 s")
            if p != "tau_syn" and np.any(np.isinf(arr)):
                raise MappingError(
                    f"{where}: {p} = inf; expected a finite time constant: in tau dv/dt = (v_leak - v) + R I "
                    "the input then reaches the membrane with gain R / tau = 0 (undefined for r = inf), so the "
                    "layer would never change; use an IF node for a neuron without leak"
                )
        _check_node_shapes(key, node)


# ----------------------------------------------------------------------------- NIR graph rules
@_rule("nir")
def no_recurrence(view: NirView, chip: ChipConfig) -> None:
    """The chip is feed-forward (chip-spec §1): no cycle in the graph, no recurrent subgraph.

    Recurrent networks are out of scope; the message names every node on the cycle found.
    """
    cycle = find_cycle(view)
    if cycle is not None:
        raise DRCError(
            "no_recurrence",
            f"edge {cycle[-2]} -> {cycle[-1]}",
            f"a recurrent connection (a cycle in the graph: {' -> '.join(cycle)}); recurrent networks are out of "
            "scope",
            "feed-forward stages only (chip-spec §1); branches and residual adds are fine",
        )
    for key, node in view.nodes.items():
        if node["type"] == "NIRGraph":
            raise DRCError(
                "no_recurrence",
                f"node {key!r}",
                "a nested subgraph (exporters use them for recurrent layers such as RLeaky)",
                "feed-forward stages only (chip-spec §1)",
            )


@_rule("nir")
def supported_node_types(view: NirView, chip: ChipConfig) -> None:
    """Only node types with an exact or documented chip equivalent are accepted."""
    for key, node in view.nodes.items():
        if node["type"] not in SUPPORTED_TYPES:
            raise DRCError(
                "supported_node_types",
                f"node {key!r}",
                f"node type {shorten(node['type'])}",
                f"node types {', '.join(SUPPORTED_TYPES)}",
            )


@_rule("nir")
def input_to_output(view: NirView, chip: ChipConfig) -> None:
    """One Input and one Output node, and every node on a path from the Input to the Output.

    Branches, nodes feeding several nodes and several edges into one node (NIR sums them: a
    residual add) are fine; a node that the network input never reaches, or whose result never
    reaches the Output, has no place on the chip.
    """
    kinds = {t: [k for k, n in view.nodes.items() if n["type"] == t] for t in ("Input", "Output")}
    for t, keys in kinds.items():
        if len(keys) != 1:
            raise DRCError("input_to_output", "graph", f"{len(keys)} {t} node(s) {keys}", f"exactly one {t} node")
    for a, b in view.edges:
        if a not in view.nodes or b not in view.nodes:
            raise DRCError("input_to_output", f"edge {a} -> {b}", "an edge to an unknown node", "edges between nodes")
    start, end = kinds["Input"][0], kinds["Output"][0]
    into_input = [a for a, b in view.edges if b == start]
    from_output = [b for a, b in view.edges if a == end]
    if into_input or from_output:
        what = (f"edges into the Input node from {into_input}" if into_input
                else f"edges out of the Output node to {from_output}")
        raise DRCError("input_to_output", f"node {start if into_input else end!r}", what,
                       "the Input node as the only source and the Output node as the only sink")
    reached = descendants(view, start) | {start}
    unreached = [k for k in view.nodes if k not in reached]
    if unreached:
        raise DRCError("input_to_output", "graph", f"nodes the Input never reaches: {unreached}",
                       "every node on a path from the Input node to the Output node")
    reaches_end, todo = {end}, [end]
    while todo:  # walk the edges backwards from the Output
        node = todo.pop()
        for a, b in view.edges:
            if b == node and a not in reaches_end:
                reaches_end.add(a)
                todo.append(a)
    dead = [k for k in view.nodes if k not in reaches_end]
    if dead:
        raise DRCError("input_to_output", "graph", f"nodes whose result never reaches the Output: {dead}",
                       "every node on a path from the Input node to the Output node")


_NEURON_PARAMS = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")


@_rule("nir")
def uniform_neuron_params(view: NirView, chip: ChipConfig) -> None:
    """A core has one threshold and one leak register: a layer's neurons share their parameters.

    Tensors are accepted when all their elements are equal (exporters often store
    a layer-wide value as a full tensor or as a scalar).
    """
    for key, node in view.nodes.items():
        if node["type"] not in NEURON_TYPES + READOUT_TYPES:
            continue
        for p in _NEURON_PARAMS:
            if p not in node or node[p] is None:
                continue
            arr = np.asarray(node[p], dtype=float).ravel()
            if arr.size > 1 and not np.allclose(arr, arr[0], rtol=1e-6, atol=0):
                raise DRCError(
                    "uniform_neuron_params",
                    f"node {key!r}",
                    f"{p} varying over neurons ({arr.min():g}..{arr.max():g})",
                    "one value per core register (threshold, leak_shift) shared by a layer",
                )


@_rule("nir")
def reset_is_zero_or_subtract(view: NirView, chip: ChipConfig) -> None:
    """The chip resets to 0 or subtracts the threshold (chip-spec §2.2); NIR's v_reset must be 0."""
    for key, node in view.nodes.items():
        if node["type"] in NEURON_TYPES and node.get("v_reset") is not None:
            v = np.asarray(node["v_reset"], dtype=float)
            if np.any(v != 0):
                raise DRCError(
                    "reset_is_zero_or_subtract",
                    f"node {key!r}",
                    f"reset to v_reset = {v.ravel()[0]:g}",
                    "reset to 0 or by subtraction",
                )


@_rule("nir")
def input_gain_nonzero(view: NirView, chip: ChipConfig) -> None:
    """Soft: ``r = 0`` (or CubaLIF ``w_in = 0``) makes the input gain 0, so the layer never sees its input.

    The chip maps it exactly (all weights 0), so this warns instead of refusing: it is legal NIR, but
    almost certainly an exporter's mistake.
    """
    for key, node in view.nodes.items():
        if node["type"] not in NEURON_TYPES + READOUT_TYPES:
            continue
        for p in ("r", "w_in"):
            if node.get(p) is not None and np.all(np.asarray(node[p], dtype=float) == 0):
                warnings.warn(
                    DRCWarning(
                        f"design rule input_gain_nonzero (soft) at node {key!r}: {p} = 0, so the input reaches "
                        "the membrane with gain 0 and the layer never responds to its input"
                    ),
                    stacklevel=4,
                )


@_rule("nir")
def tau_ge_dt(view: NirView, chip: ChipConfig) -> None:
    """Forward-Euler decay ``1 - dt/tau`` must lie in [0, 1): ``tau >= dt``."""
    for key, node in view.nodes.items():
        for p in ("tau", "tau_mem"):
            if node["type"] in NEURON_TYPES + READOUT_TYPES and p in node:
                tau = float(np.asarray(node[p], dtype=float).ravel()[0])
                # relative slack 1e-6: exporters write float32, where tau = dt = 1e-4 s reads back as 0.99999997e-4
                if not tau >= view.dt_s * (1 - 1e-6):
                    raise DRCError(
                        "tau_ge_dt",
                        f"node {key!r}",
                        f"{p} = {tau:g} s",
                        f"time constants >= dt = {view.dt_s:g} s (the time step; pass another dt)",
                    )


@_rule("nir")
def no_synaptic_state(view: NirView, chip: ChipConfig) -> None:
    """The core has no synaptic-current register: CubaLIF only with ``tau_syn = dt`` (current lasts one step)."""
    for key, node in view.nodes.items():
        if node["type"] == "CubaLIF":
            tau_syn = float(np.asarray(node["tau_syn"], dtype=float).ravel()[0])
            if abs(view.dt_s / tau_syn - 1) > 1e-6:
                raise DRCError(
                    "no_synaptic_state",
                    f"node {key!r}",
                    f"a synaptic current with tau_syn = {tau_syn:g} s (decay {1 - view.dt_s / tau_syn:.3g} per step)",
                    f"no synaptic-current state (tau_syn must equal dt = {view.dt_s:g} s)",
                )


@_rule("nir")
def readout_last_only(view: NirView, chip: ChipConfig) -> None:
    """Non-spiking integrators (LI, I) are membrane readouts: only the last layer may be one."""
    for key, node in view.nodes.items():
        if node["type"] in READOUT_TYPES:
            after = sorted(descendants(view, key), key=list(view.nodes).index)
            rest = [view.nodes[k]["type"] for k in after]
            if any(t not in PASS_TYPES + ("Output",) for t in rest):
                raise DRCError(
                    "readout_last_only",
                    f"node {key!r}",
                    f"a non-spiking {node['type']} node followed by {rest}",
                    "membrane readout in the last layer only",
                )


# ----------------------------------------------------------------------------- network rules
# The three capacity rules need only each layer's (name, fan-in, neurons): the NIR import runs them on
# those sizes (check_layer_sizes) before it builds a single dense matrix, with the same messages.
LayerSize = tuple[str, int | None, int]

def partial_sum_presets() -> list[str]:
    """Chip presets whose cores have partial sums (chip-spec §1.3), smallest mesh first.

    Read from the preset files, so the message of fanin_le_axons names every shipped one.
    """
    chips = [load_chip_config(name) for name in preset_names()]
    return [c.name for c in sorted(chips, key=lambda c: (c.n_cores, c.name)) if c.core.partial_sums]


def neuron_fanin(layer: Any) -> int:
    """The largest number of inputs with a nonzero weight into one neuron of ``layer``.

    That is what one core must hold at least, with receptive-field routing (``mapping.tiling``).
    A layer described by its sizes alone (no ``weights``, as ``hwsim train`` checks a plan) counts
    every input.
    """
    weights = getattr(layer, "weights", None)
    if weights is None:
        return int(layer.n_in)
    if weights.size == 0 or 0 in weights.shape:
        return 0
    if getattr(layer, "is_sparse", False):  # canonical CSC: no stored zeros, so a column's entries are its inputs
        return int(np.diff(weights.indptr).max())
    return int(np.count_nonzero(weights, axis=0).max())


def _layer_sizes(net: Network) -> list[LayerSize]:
    return [(_layer_name(net, k), neuron_fanin(layer), layer.n_out) for k, layer in enumerate(net.layers)]


def _fanin_fits(sizes: list[LayerSize], chip: ChipConfig) -> None:
    if chip.core.partial_sums:
        return  # a fan-in beyond one core becomes a partial-sum chain
    for name, fanin, _ in sizes:
        if fanin is not None and fanin > chip.core.axons:
            raise DRCError(
                "fanin_le_axons",
                name,
                f"fan-in {fanin}",
                f"{chip.core.axons} axons per core (chip {chip.name} has no partial sums across cores; "
                f"presets with partial sums: {', '.join(partial_sum_presets())})",
            )


def _neurons_fit(sizes: list[LayerSize], chip: ChipConfig) -> None:
    total = sum(n_out for _, _, n_out in sizes)
    have = chip.n_cores * chip.core.neurons
    if total > have:
        raise DRCError(
            "neurons_fit_cores",
            "network",
            f"{total} neurons ({'+'.join(str(n_out) for _, _, n_out in sizes)})",
            f"{have} neurons ({chip.n_cores} cores x {chip.core.neurons})",
        )


def check_cores_needed(cores: list[tuple[str, int]], chip: ChipConfig) -> None:
    """The rule cores_le_chip_cores on the cores each layer needs (``(name, cores)`` per layer).

    :func:`cores_le_chip_cores` passes the fewest cores by neuron count; :func:`mapping.tiling.tile_network`
    passes the cores of its tiling, partial-sum cores included.
    """
    counts = [n for _, n in cores]
    if sum(counts) > chip.n_cores:
        raise DRCError(
            "cores_le_chip_cores",
            "network",
            f"{sum(counts)} cores ({'+'.join(map(str, counts))} per layer)",
            f"{chip.n_cores} cores ({chip.mesh_rows}x{chip.mesh_cols} mesh)",
        )


def _cores_fit(sizes: list[LayerSize], chip: ChipConfig) -> None:
    check_cores_needed([(name, len(split_sizes(n_out, chip.core.neurons))) for name, _, n_out in sizes], chip)


def check_layer_sizes(sizes: list[LayerSize], chip: ChipConfig) -> None:
    """The capacity rules fanin_le_axons, neurons_fit_cores and cores_le_chip_cores on layer sizes alone.

    Args:
        sizes: Per layer ``(name for the message, fan-in of one neuron or None when not known yet, neurons)``.
        chip: The target chip.

    Raises:
        DRCError: the first violated rule, with the same message as the rule on a network.
    """
    _fanin_fits(sizes, chip)
    _neurons_fit(sizes, chip)
    _cores_fit(sizes, chip)


@_rule("network")
def fanin_le_axons(net: Network, chip: ChipConfig) -> None:
    """On a chip without partial sums, each neuron's inputs (nonzero weights) must fit one core's axons.

    With receptive-field routing a core receives only the inputs its neurons use, so the limit is per
    neuron; on chips with ``core.partial_sums`` a larger fan-in becomes a partial-sum chain (chip-spec §1.3).
    """
    _fanin_fits(_layer_sizes(net), chip)


@_rule("network")
def neurons_fit_cores(net: Network, chip: ChipConfig) -> None:
    """The network's neurons must fit the chip's neurons (``n_cores x N``)."""
    _neurons_fit(_layer_sizes(net), chip)


@_rule("network")
def cores_le_chip_cores(net: Network, chip: ChipConfig) -> None:
    """Each layer needs at least ``ceil(n_out / N)`` cores; the total must not exceed the mesh.

    The tiling (:func:`mapping.tiling.tile_network`) checks the same rule again on the cores it
    actually uses, receptive-field tiles and partial-sum cores included.
    """
    _cores_fit(_layer_sizes(net), chip)


@_rule("network")
def weights_fit_w_bits(net: Network, chip: ChipConfig) -> None:
    """Weights are ``w_bits`` signed integers."""
    cc = chip.core
    for k, layer in enumerate(net.layers):
        w = layer.weights
        if w.size and (w.min() < cc.w_min or w.max() > cc.w_max):
            bad = int(w.min()) if w.min() < cc.w_min else int(w.max())
            raise DRCError(
                "weights_fit_w_bits",
                _layer_name(net, k),
                f"weight {bad}",
                f"w_bits = {cc.w_bits}: {cc.w_min}..{cc.w_max}",
            )


@_rule("network")
def bias_fit_v_bits(net: Network, chip: ChipConfig) -> None:
    """Biases are ``v_bits`` signed integers."""
    cc = chip.core
    for k, layer in enumerate(net.layers):
        b = layer.bias
        if b.size and (b.min() < cc.v_min or b.max() > cc.v_max):
            bad = int(b.min()) if b.min() < cc.v_min else int(b.max())
            raise DRCError(
                "bias_fit_v_bits", _layer_name(net, k), f"bias {bad}", f"v_bits = {cc.v_bits}: {cc.v_min}..{cc.v_max}"
            )


@_rule("network")
def threshold_in_range(net: Network, chip: ChipConfig) -> None:
    """The threshold register holds ``0 .. 2^(v_bits-1) - 1``."""
    cc = chip.core
    for k, layer in enumerate(net.layers):
        if not 0 <= layer.threshold <= cc.v_max:
            raise DRCError(
                "threshold_in_range",
                _layer_name(net, k),
                f"threshold {layer.threshold}",
                f"v_bits = {cc.v_bits}: thresholds 0..{cc.v_max}",
            )


@_rule("network")
def leak_shift_in_range(net: Network, chip: ChipConfig) -> None:
    """The leak register holds ``0 .. v_bits - 1``."""
    cc = chip.core
    for k, layer in enumerate(net.layers):
        if not 0 <= layer.leak_shift <= cc.v_bits - 1:
            raise DRCError(
                "leak_shift_in_range",
                _layer_name(net, k),
                f"leak_shift {layer.leak_shift}",
                f"v_bits = {cc.v_bits}: leak_shift 0..{cc.v_bits - 1}",
            )


@_rule("network")
def v_bits_match_network(net: Network, chip: ChipConfig) -> None:
    """Soft rule (warns): a network quantized for another membrane width saturates differently on this chip.

    Silent when no membrane can saturate at either width: every layer is discontinuous (the
    membrane restarts at 0 each timestep) and, for every neuron, the sum of its positive
    weights plus a positive bias, and the sum of its negative weights plus a negative bias,
    fit the narrower width. Every partial sum of chip-spec §2.2 lies between those two, and the
    leak and the reset only move the membrane toward 0, so both widths compute the same bits.
    """
    want = net.metadata.get("v_bits")
    if want is None or int(want) == chip.core.v_bits:
        return
    narrow = min(int(want), chip.core.v_bits)
    v_max, v_min = 2 ** (narrow - 1) - 1, -(2 ** (narrow - 1))
    reach = None  # (layer, most positive, most negative) reachable membrane of the first layer that can saturate
    for layer in net.layers:
        b = layer.bias.astype(np.int64)
        if layer.is_sparse:  # column sums of the signed parts, from the stored weights only
            w = layer.weights
            col = np.repeat(np.arange(layer.n_out), np.diff(w.indptr))
            data = w.data.astype(np.int64)
            pos_sums = np.bincount(col, weights=np.clip(data, 0, None), minlength=layer.n_out).astype(np.int64)
            neg_sums = np.bincount(col, weights=np.clip(data, None, 0), minlength=layer.n_out).astype(np.int64)
        else:
            w = layer.weights.astype(np.int64)
            pos_sums, neg_sums = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        top = int((pos_sums + np.clip(b, 0, None)).max())
        bottom = int((neg_sums + np.clip(b, None, 0)).min())
        if layer.integration != "discontinuous" or top > v_max or bottom < v_min:
            reach = (layer, top, bottom)
            break
    if reach is None:
        return
    layer, top, bottom = reach
    why = (
        f"layer {layer.name!r} integrates continuously, so its membranes are not bounded per timestep"
        if layer.integration != "discontinuous"
        else f"layer {layer.name!r} can reach membranes {bottom}..{top}, beyond the {narrow}-bit range {v_min}..{v_max}"
    )
    warnings.warn(
        DRCWarning(
            f"design rule v_bits_match_network (soft): the network was quantized for v_bits = {want}, "
            f"the chip has v_bits = {chip.core.v_bits}; {why}, so membranes can saturate at other values "
            "and results can differ from training"
        ),
        stacklevel=4,
    )


#: All rules, in the order :func:`check_drc` runs them (structure first, then capacity, then value ranges).
DESIGN_RULES: list[Rule] = [
    no_recurrence,
    supported_node_types,
    input_to_output,
    readout_last_only,
    uniform_neuron_params,
    reset_is_zero_or_subtract,
    input_gain_nonzero,
    tau_ge_dt,
    no_synaptic_state,
    fanin_le_axons,
    neurons_fit_cores,
    cores_le_chip_cores,
    weights_fit_w_bits,
    bias_fit_v_bits,
    threshold_in_range,
    leak_shift_in_range,
    v_bits_match_network,
]


def check_drc(subject: Any, chip: ChipConfig, rules: list[Rule] | None = None) -> list[str]:
    """Run the design rules that apply to ``subject``; return the names of the rules checked.

    Args:
        subject: A :class:`hwsim.network.Network`, or a NIR graph (``nir.NIRGraph``,
            :class:`~mapping.graph.NirView`, ``.nir`` path).
        chip: The target chip.
        rules: Rules to run (default :data:`DESIGN_RULES`).

    Raises:
        DRCError: the first violated rule.
        MappingError: a malformed NIR node (:func:`check_nir_fields`, run before the rules).
    """
    kind = "network" if isinstance(subject, Network) else "nir"
    if kind == "nir" and not isinstance(subject, NirView):
        subject = nir_view(subject)
    if kind == "nir":
        check_nir_fields(subject)
    checked = []
    for rule in DESIGN_RULES if rules is None else rules:
        if getattr(rule, "subject", None) == kind:
            rule(subject, chip)
            checked.append(rule.__name__)
    return checked

"""A read-only, plain-data view of a NIR graph, as real exporters write them.

The mapper never works on a :class:`nir.NIRGraph` object directly: it takes a
deep copy of its ``to_dict()`` form (or reads the HDF5 file with ``h5py``,
without the node constructors of the ``nir`` package), so

- the caller's graph is never modified (``NIRGraph.infer_types`` would add
  nodes and rewrite types in place),
- files that the ``nir`` constructors reject are still read: scalar neuron
  parameters meant for a whole layer (NIR issue #176), mixed scalar/tensor
  parameters, input types with or without a batch dimension.

Reading a file only reads arrays and strings; nothing in it is executed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mapping.errors import MappingError
from mapping.nir_file import check_graph_data, read_nir_dict

__all__ = [
    "NirView",
    "nir_view",
    "read_nir_dict",
    "topological_order",
    "find_cycle",
    "predecessors",
    "descendants",
    "DEFAULT_DT_S",
    "SYNAPSE_TYPES",
    "NEURON_TYPES",
    "READOUT_TYPES",
    "PASS_TYPES",
    "SUPPORTED_TYPES",
]

#: Time step assumed when neither the caller nor the graph metadata gives one.
#: snnTorch's exporter writes its LIF nodes with dt = 1e-4 s (tau = dt / (1 - beta), r = tau / dt).
DEFAULT_DT_S = 1e-4

SYNAPSE_TYPES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Scale")
NEURON_TYPES = ("IF", "LIF", "CubaLIF")
READOUT_TYPES = ("LI", "I")  # non-spiking integrators: membrane readout, last layer only
PASS_TYPES = ("Flatten", "Identity")
SUPPORTED_TYPES = ("Input", "Output") + SYNAPSE_TYPES + NEURON_TYPES + READOUT_TYPES + PASS_TYPES


def _to_plain(value: Any) -> Any:
    """Decode the bytes h5py returns into str; leave arrays and numbers alone."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, dict):
        return {(k.decode() if isinstance(k, bytes) else k): _to_plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class NirView:
    """A NIR graph as plain data.

    Attributes:
        nodes: Node name -> parameters (``"type"`` plus NumPy arrays / numbers / str), private copies.
        edges: ``(source, destination)`` node names.
        metadata: Graph metadata.
        dt_s: Time step in seconds used to discretise the continuous-time neuron equations.
        reset: Reset mode forced by the caller (``"zero"``/``"subtract"``), or None to use
            each node's ``hwsim_reset`` metadata and fall back to ``"zero"`` (NIR's reset to ``v_reset``).
        name: Name for reports.
    """

    nodes: dict[str, dict]
    edges: tuple[tuple[str, str], ...]
    metadata: dict = field(default_factory=dict)
    dt_s: float = DEFAULT_DT_S
    reset: str | None = None
    name: str = "nir"


def _edges(raw: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in list(raw):
        a, b = (_to_plain(x) for x in pair)
        out.append((str(a), str(b)))
    return tuple(out)


def _node_dict(node: Any) -> dict:
    """Deep-copied dict form of one NIR node (``to_dict()``, or its fields where ``to_dict`` is broken)."""
    if hasattr(node, "nodes") and hasattr(node, "edges"):
        return {"type": "NIRGraph", **_graph_dict(node)}
    try:
        return node.to_dict()  # dataclasses.asdict deep-copies: the caller's node is untouched
    except (KeyError, AttributeError, TypeError):
        # nir 1.0.8 Identity.to_dict() raises KeyError; read the dataclass fields instead
        import dataclasses

        out = {"type": type(node).__name__}
        for f in dataclasses.fields(node):
            if f.name not in ("input_type", "output_type"):
                out[f.name] = copy.deepcopy(getattr(node, f.name))
        return out


def _graph_dict(graph: Any) -> dict:
    return {
        "nodes": {str(k): _node_dict(n) for k, n in graph.nodes.items()},
        "edges": [tuple(e) for e in graph.edges],
        "metadata": copy.deepcopy(dict(getattr(graph, "metadata", None) or {})),
    }


def nir_view(source: Any, *, dt_s: float | None = None, reset: str | None = None, name: str | None = None) -> NirView:
    """Build a :class:`NirView` from a ``nir.NIRGraph``, its ``to_dict()`` form, a path, or a view.

    Args:
        source: The graph.
        dt_s: Time step in seconds; default: the graph's ``metadata["dt"]``, else :data:`DEFAULT_DT_S`.
        reset: Force ``"zero"`` or ``"subtract"`` reset for every spiking layer (see docs/mapping.md).
        name: Name for reports.

    Raises:
        MappingError: ``source`` is not a NIR graph, or ``dt_s``/``reset`` are invalid.
    """
    if isinstance(source, NirView):
        data = {"nodes": source.nodes, "edges": source.edges, "metadata": source.metadata}
        dt_s = source.dt_s if dt_s is None else dt_s
        reset = source.reset if reset is None else reset
        name = source.name if name is None else name
    elif isinstance(source, (str, Path)):
        data = read_nir_dict(source)
        name = name or str((data.get("metadata") or {}).get("name") or "") or Path(source).stem
    elif isinstance(source, dict):
        data = source
    elif hasattr(source, "nodes") and hasattr(source, "edges"):
        data = _graph_dict(source)
    else:
        raise MappingError(f"expected a NIR graph, a .nir path or a dict; got {type(source).__name__}")
    check_graph_data(data)
    nodes = {}
    for key, node in data["nodes"].items():
        if not isinstance(node, dict) or "type" not in node:
            raise MappingError(f"NIR node {key!r}: no 'type' entry")
        nodes[str(key)] = copy.deepcopy(_to_plain(node))
    metadata = _to_plain(dict(data.get("metadata") or {}))
    if dt_s is None:
        dt_s = float(np.asarray(metadata["dt"]).item()) if "dt" in metadata else DEFAULT_DT_S
    if not (isinstance(dt_s, (int, float)) and math.isfinite(dt_s) and dt_s > 0):
        raise MappingError(f"dt = {dt_s!r}: expected a positive time step in seconds")
    if reset not in (None, "zero", "subtract"):
        raise MappingError(f"reset = {reset!r}: allowed 'zero', 'subtract' or None (from the graph)")
    return NirView(
        nodes=nodes,
        edges=_edges(data["edges"]),
        metadata=metadata,
        dt_s=float(dt_s),
        reset=reset,
        name=name or str(metadata.get("name", "nir")),
    )


def predecessors(view: NirView) -> dict[str, list[str]]:
    """Node name -> the nodes with an edge into it, in edge order (NIR sums the inputs of a node)."""
    pred: dict[str, list[str]] = {k: [] for k in view.nodes}
    for a, b in view.edges:
        pred.setdefault(b, []).append(a)
    return pred


def _successors(view: NirView) -> dict[str, list[str]]:
    succ: dict[str, list[str]] = {k: [] for k in view.nodes}
    for a, b in view.edges:
        succ.setdefault(a, []).append(b)
    return succ


def find_cycle(view: NirView) -> list[str] | None:
    """The nodes of one cycle (``[a, b, ..., a]``), or None for a DAG; deterministic (nodes in graph order)."""
    succ = _successors(view)
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    for root in list(view.nodes) + [n for n in succ if n not in view.nodes]:
        if root in state:
            continue
        path = [root]
        stack = [iter(succ.get(root, ()))]
        state[root] = 1
        while stack:
            for nxt in stack[-1]:
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(succ.get(nxt, ())))
                    break
            else:
                state[path.pop()] = 2
                stack.pop()
    return None


def topological_order(view: NirView) -> list[str]:
    """All node names, every node after the nodes with an edge into it (the rules in :mod:`mapping.drc` first).

    Kahn's algorithm; among the nodes that are ready, the one listed first in the graph goes first,
    so a chain comes out in chain order and the order never depends on set or hash order.
    """
    rank = {k: i for i, k in enumerate(view.nodes)}
    succ = _successors(view)
    missing = {k: 0 for k in view.nodes}
    for _, b in view.edges:
        missing[b] += 1
    ready = sorted((k for k, n in missing.items() if n == 0), key=rank.__getitem__)
    order: list[str] = []
    while ready:
        key = ready.pop(0)
        order.append(key)
        for nxt in succ[key]:
            missing[nxt] -= 1
            if missing[nxt] == 0:
                ready.append(nxt)
                ready.sort(key=rank.__getitem__)
    if len(order) != len(view.nodes):
        raise MappingError(f"NIR graph has a cycle through {find_cycle(view)}; expected a feed-forward graph")
    return order


def descendants(view: NirView, key: str) -> set[str]:
    """Nodes reachable from ``key`` along edges (``key`` itself not included unless on a cycle)."""
    succ = _successors(view)
    seen: set[str] = set()
    todo = list(succ.get(key, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(succ.get(node, ()))
    return seen

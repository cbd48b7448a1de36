"""Tiling of layers into core parts: receptive-field routing and partial-sum chains.

A *part* is a contiguous range of a layer's neurons that runs on one core (or on one chain of
cores, below). How a layer is cut into parts:

- **Flat layers** (``Layer.shape`` None) and the output layer keep their neuron order. When the
  layer's whole input fits one core (``n_in <= A``), it is cut into the fewest equal parts of at
  most ``N`` neurons and every part receives the whole input: exactly the mapping of earlier
  versions, so fully connected networks map to the same programs bit for bit. When the input does
  not fit, each part receives only its *receptive field* (the inputs with a nonzero weight into the
  part); on a chip without partial sums the parts are then grown greedily, neuron by neuron, while
  they fit ``N`` neurons and ``A`` axons.
- **Shaped layers** (a convolution or pooling, ``Layer.shape = (C, H, W)``, not the output layer)
  are tiled spatially and by channel: tiles of ``tc x th x tw`` neurons (edge tiles smaller), cut
  from the channel, row and column ranges ``ceil(C / m)``, ``ceil(H / m)``, ``ceil(W / m)``
  (m = 1, 2, ...). Every tile gets its receptive field, halo included. The tile shape minimises,
  in this order: the cores (tiles plus partial-sum cores), the axons in use summed over cores
  (= packets per input spike, each routed once per core that needs it), the number of tiles,
  then prefers more channels, rows and columns per tile. To make each tile a contiguous neuron
  range, the layer's neurons are *reordered* tile after tile (tiles in row, column, channel-group
  order), each tile in (row, column, channel) order so that the next layer's receptive fields,
  which take all channels of a window, are long runs. The reordering permutes the layer's
  weight columns and bias and the rows of every layer that reads it; the output layer is never
  reordered (its order is the class order), nor the network input.

A part whose receptive field exceeds ``A`` axons needs a **partial-sum chain** (chip-spec §1.3)
on chips with ``core.partial_sums``: ``L = ceil(fan-in / A)`` cores split by inputs in ascending
order (sizes as equal as possible), ``L - 1`` partial-sum cores and the neuron core last.
Stages follow depth: the neuron cores of layer ``k`` sit at stage
``S_k = max(S_sources) + L_k`` (``S_input = -1``, ``L_k`` the longest chain of the layer), a chain's
member ``m`` of ``L`` at ``S_k - (L - 1 - m)``.

Axons of a part are its receptive field in ascending order of the source index (the sources
concatenated in the order the layer reads them, each in its mapped order), so the core adds its
spiking inputs in that order. With no saturation the sums equal the unsplit, unpermuted layer's;
when a membrane saturates, the order of additions (reordered neurons, chain stages) can give
another saturated value than :func:`hwsim.network.simulate_network`, which adds in the original
order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hwsim.config import ChipConfig
from hwsim.network import Layer, Network
from mapping.drc import check_cores_needed, split_sizes

if TYPE_CHECKING:
    import scipy.sparse as sp  # imported where used: only sparse (conv) layers need it

__all__ = [
    "TileShape",
    "AxonRun",
    "Part",
    "LayerTiling",
    "Tiling",
    "tile_network",
    "tile_order",
    "tile_candidates",
    "receptive_field_sizes",
    "axon_runs",
    "sparse_receptive_field_sizes",
]

# Number of set bits of every byte value (popcount of np.packbits rows).
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


@dataclass(frozen=True)
class TileShape:
    """Neurons of one tile: ``channels x rows x cols`` (tiles at the layer's edges may be smaller)."""

    channels: int
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.channels * self.rows * self.cols

    def to_list(self) -> list[int]:
        return [self.channels, self.rows, self.cols]


@dataclass(frozen=True)
class AxonRun:
    """Sources ``lo .. hi-1`` of ``source`` (a layer index, -1 the network input) on consecutive axons.

    Source indices are in the source's mapped order (after the tiling's reordering); for the
    network input, the input order.
    """

    source: int
    lo: int
    hi: int

    @property
    def size(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Part:
    """One core's share of a layer: a neuron range, the axon runs it receives, its place in a chain.

    Attributes:
        layer: Layer index.
        index: Part number within the layer (a chain's members share it).
        lo, size: Neurons ``lo .. lo+size-1`` of the layer, in its mapped order.
        member, chain: Member ``0 .. chain-1`` of a partial-sum chain; the last member is the neuron
            core, the others are partial-sum cores. ``chain = 1``: an ordinary core.
        stage: The core's stage (None: the layer index, as for a network without chains).
        axons: Runs of sources on axons ``0, 1, ...`` in this order (empty: the layer's whole input).
        routing: ``"whole"`` (the layer's whole input, as earlier versions) or ``"receptive_field"``.
        tile: The tile's ``(channels, rows, cols)`` extent for a tiled (shaped) layer, else None.
    """

    layer: int
    index: int
    lo: int
    size: int
    member: int = 0
    chain: int = 1
    stage: int | None = None
    axons: tuple[AxonRun, ...] = ()
    routing: str = "whole"
    tile: tuple[int, int, int] | None = None

    @property
    def core_stage(self) -> int:
        return self.layer if self.stage is None else self.stage

    @property
    def n_axons(self) -> int:
        return sum(r.size for r in self.axons)

    @property
    def is_psum(self) -> bool:
        """A partial-sum core (every member of a chain but the last)."""
        return self.member < self.chain - 1

    def to_dict(self) -> dict:
        out = {"layer": self.layer, "index": self.index, "lo": self.lo, "size": self.size}
        if self.routing != "whole" or self.chain > 1 or self.core_stage != self.layer:
            # only for what earlier versions could not map: their program metadata keeps its bytes
            out.update(stage=self.core_stage, member=self.member, chain=self.chain, axons=self.n_axons,
                       routing=self.routing)
            if self.tile is not None:
                out["tile"] = list(self.tile)
        return out


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class LayerTiling:
    """How one layer was cut.

    Attributes:
        layer: Layer index.
        tile: Tile shape for a tiled (shaped) layer, else None.
        order: Mapped position -> original neuron index, or None when the order is kept.
        groups: ``(lo, size)`` of each part in mapped order.
        chains: Cores of each part's chain (1 = no partial sums).
        receptive_fields: Axons each part needs (its fan-in; the whole input for ``"whole"``).
        routing: ``"whole"`` or ``"receptive_field"``.
        unread: Parts (indices into ``groups``) that no later layer reads: they get no core.
    """

    layer: int
    tile: TileShape | None
    order: np.ndarray | None
    groups: tuple[tuple[int, int], ...]
    chains: tuple[int, ...]
    receptive_fields: tuple[int, ...]
    routing: str
    unread: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)  # holds a network and arrays: compared by identity
class Tiling:
    """The tiling of a whole network.

    Attributes:
        network: The network with reordered neurons (the one the program computes; its output
            layer and input are in the original order, so it has the same outputs).
        layers: Per layer, how it was cut.
        parts: All core parts, layer after layer, part after part, chain members in order.
        stages: Stage of each layer's neuron cores.
    """

    network: Network
    layers: tuple[LayerTiling, ...]
    parts: tuple[Part, ...]
    stages: tuple[int, ...]


# ------------------------------------------------------------------------------- tile shapes
def _ceil_values(n: int) -> list[int]:
    """Distinct ``ceil(n / m)`` for m = 1 .. n, descending (the sizes that cut ``n`` into m pieces)."""
    return sorted({-(-n // m) for m in range(1, n + 1)}, reverse=True)


def tile_candidates(shape: tuple[int, int, int], neurons: int) -> list[TileShape]:
    """Tile shapes with at most ``neurons`` neurons, sides from :func:`_ceil_values` of each dimension."""
    c, h, w = shape
    out = []
    for tc in _ceil_values(c):
        for th in _ceil_values(h):
            if tc * th > neurons:
                continue
            for tw in _ceil_values(w):
                if tc * th * tw <= neurons:
                    out.append(TileShape(tc, th, tw))
    return out


def tile_order(shape: tuple[int, int, int], tile: TileShape) -> tuple[np.ndarray, list[tuple[int, int]], list]:
    """Neuron order of ``shape`` cut into ``tile``: tiles in (row, col, channel-group) order, each tile in
    (row, col, channel) order.

    Returns:
        ``(order, groups, extents)``: ``order[i]`` is the C-order index ``(c * H + y) * W + x`` of the
        neuron at mapped position ``i``; ``groups`` the ``(lo, size)`` of each tile; ``extents`` its
        ``(channels, rows, cols)``.
    """
    c, h, w = shape
    order, groups, extents = [], [], []
    lo = 0
    for y0 in range(0, h, tile.rows):
        ys = np.arange(y0, min(y0 + tile.rows, h))
        for x0 in range(0, w, tile.cols):
            xs = np.arange(x0, min(x0 + tile.cols, w))
            for c0 in range(0, c, tile.channels):
                cs = np.arange(c0, min(c0 + tile.channels, c))
                idx = (cs[None, None, :] * h + ys[:, None, None]) * w + xs[None, :, None]  # (y, x, c) order
                order.append(idx.ravel())
                groups.append((lo, idx.size))
                extents.append((cs.size, ys.size, xs.size))
                lo += idx.size
    return np.concatenate(order), groups, extents


def receptive_field_sizes(packed_columns: np.ndarray, order: np.ndarray | None, groups) -> np.ndarray:
    """Receptive-field size (inputs with a nonzero weight into the group) of each ``(lo, size)`` group.

    Args:
        packed_columns: ``np.packbits(weights.T != 0, axis=1)``: one bit row per neuron.
        order: Mapped position -> neuron (None: identity).
        groups: ``(lo, size)`` in mapped order, contiguous and covering all neurons.
    """
    rows = packed_columns if order is None else packed_columns[order]
    starts = np.array([lo for lo, _ in groups], dtype=np.int64)
    union = np.bitwise_or.reduceat(rows, starts, axis=0) if rows.shape[1] else rows[starts]
    return _POPCOUNT[union].sum(axis=1)


def sparse_receptive_field_sizes(weights, order: np.ndarray | None, groups, budget: int = 1 << 26,
                                 patterns: tuple[np.ndarray, sp.csc_array] | None = None) -> np.ndarray:
    """:func:`receptive_field_sizes` of a CSC weight matrix, without densifying it.

    Columns with the same inputs (in a convolution, every output channel at one position) are
    counted once: each group's field is the union of its *distinct* input patterns
    (:func:`_column_patterns`), so a tile shape costs work in proportion to the distinct patterns,
    not to the layer's weights. ``patterns``: :func:`_column_patterns` of ``weights``, computed once per layer.
    """
    pattern_of, patterns = _column_patterns(weights) if patterns is None else patterns
    mapped = pattern_of if order is None else pattern_of[np.asarray(order)]
    distinct = [np.unique(mapped[lo : lo + size]) for lo, size in groups]
    bounds, lo = [], 0
    for d in distinct:
        bounds.append((lo, d.size))
        lo += d.size
    cols = np.concatenate(distinct) if distinct else np.zeros(0, np.int64)
    return _union_sizes(patterns, cols, bounds, budget)


def _union_sizes(weights, cols: np.ndarray, groups, budget: int) -> np.ndarray:
    """Per ``(lo, size)`` group of ``cols``: how many rows the CSC columns ``cols[lo : lo + size]`` hold together.

    Each stored entry marks its row in its group's row of a boolean table, built for as many groups
    at a time as fit ``budget`` entries, so memory stays bounded for any layer.
    """
    n_in = weights.shape[0]
    indptr, indices = weights.indptr, weights.indices
    out = np.zeros(len(groups), dtype=np.int64)
    per_chunk = max(1, budget // max(1, n_in))
    for g0 in range(0, len(groups), per_chunk):
        chunk = groups[g0 : g0 + per_chunk]
        marks = np.zeros((len(chunk), n_in), dtype=bool)
        for g, (lo, size) in enumerate(chunk):
            c = cols[lo : lo + size]
            starts, counts = indptr[c], indptr[c + 1] - indptr[c]
            total = int(counts.sum())
            if total:
                # positions of every entry of the group's columns, gathered without a Python loop per column
                pos = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts) + np.arange(total)
                marks[g, indices[pos]] = True
        out[g0 : g0 + len(chunk)] = marks.sum(axis=1)
    return out


def _column_blocks(indptr: np.ndarray, budget: int = 1 << 22) -> list[tuple[int, int]]:
    """Column ranges ``[a, b)`` holding at most ``budget`` stored entries each (or one column): bounded temporaries."""
    n_out, bounds = indptr.size - 1, []
    a = 0
    while a < n_out:
        c = int(np.searchsorted(indptr, indptr[a] + budget, side="right")) - 1
        b = min(max(c, a + 1), n_out)
        bounds.append((a, b))
        a = b
    return bounds


def _column_patterns(weights) -> tuple[np.ndarray, sp.csc_array]:
    """``(pattern_of_column, patterns)``: the distinct input sets of a CSC matrix's columns, as a 0/1 CSC matrix.

    Columns are grouped by (entry count, a 64-bit sum of random keys of their rows), then every column
    is compared entry by entry with its group's first column; on any mismatch (a hash collision) each
    column is its own pattern, which is slower but exact. Both passes go a block of columns at a time.
    """
    n_in, n_out = weights.shape
    indptr, indices = weights.indptr.astype(np.int64), weights.indices
    counts = np.diff(indptr)
    keys = np.random.default_rng(0).integers(0, 2**63, size=n_in, dtype=np.uint64)
    hashed = np.zeros(n_out, dtype=np.uint64)
    blocks = _column_blocks(indptr)
    for a, b in blocks:
        nonempty = np.flatnonzero(counts[a:b] > 0) + a
        if nonempty.size:  # uint64 sums wrap: a hash, not a count
            hashed[nonempty] = np.add.reduceat(keys[indices[indptr[a] : indptr[b]]], indptr[nonempty] - indptr[a])
    signature = np.stack([counts.astype(np.uint64), hashed], axis=1)
    _, first, pattern_of = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    pattern_of = pattern_of.ravel()
    rep = first[pattern_of]  # each column's representative
    for a, b in blocks:
        n = int(indptr[b] - indptr[a])
        offset = np.arange(n) - np.repeat(indptr[a:b] - indptr[a], counts[a:b])  # entry's place in its column
        if not np.array_equal(indices[np.repeat(indptr[rep[a:b]], counts[a:b]) + offset],
                              indices[indptr[a] : indptr[b]]):
            pattern_of, first = np.arange(n_out), np.arange(n_out)
            break
    p_counts = counts[first]
    import scipy.sparse as sp

    sel = np.repeat(indptr[first] - np.concatenate(([0], np.cumsum(p_counts)[:-1])), p_counts) + np.arange(
        int(p_counts.sum()))
    patterns = sp.csc_array((np.ones(sel.size, np.int8), indices[sel], np.concatenate(([0], np.cumsum(p_counts)))),
                            shape=(n_in, first.size))
    return pattern_of.astype(np.int64), patterns


def _chain_length(fanin: int, axons: int) -> int:
    return max(1, -(-fanin // axons))


def _choose_tile(layer: Layer, chip: ChipConfig) -> tuple[TileShape, np.ndarray, list, list, np.ndarray]:
    """The tile shape of a shaped layer by the rule of the module docstring (cores, axons, tiles, larger sides)."""
    n_cap, a_cap, psum = chip.core.neurons, chip.core.axons, chip.core.partial_sums
    if layer.is_sparse:
        patterns = _column_patterns(layer.weights)

        def rf_sizes(order, groups):
            return sparse_receptive_field_sizes(layer.weights, order, groups, patterns=patterns)
    else:
        packed = np.packbits(layer.weights.T != 0, axis=1)

        def rf_sizes(order, groups):
            return receptive_field_sizes(packed, order, groups)
    cands = tile_candidates(layer.shape, n_cap)
    c, h, w = layer.shape

    def n_tiles(t: TileShape) -> int:
        return -(-c // t.channels) * -(-h // t.rows) * -(-w // t.cols)

    cands.sort(key=lambda t: (n_tiles(t), -t.channels, -t.rows, -t.cols))
    best, best_key = None, None
    for t in cands:
        tiles = n_tiles(t)
        if best_key is not None and tiles > best_key[0]:
            break  # every core holds at most one tile: more tiles than the best's cores cannot win
        order, groups, extents = tile_order(layer.shape, t)
        rf = rf_sizes(order, groups)
        if not psum and rf.max(initial=0) > a_cap:
            continue
        chains = [_chain_length(int(f), a_cap) for f in rf]
        sizes = [s for _, s in groups]
        # packets per timestep when every source spikes once: one per axon in use, plus the partial sums
        load = int(rf.sum()) + sum((L - 1) * s for L, s in zip(chains, sizes))
        key = (sum(chains), load, tiles, -t.channels, -t.rows, -t.cols)
        if best_key is None or key < best_key:
            best, best_key = (t, order, groups, extents, rf), key
    if best is None:  # unreachable after the rule fanin_le_axons (a 1x1x1 tile always fits then)
        raise AssertionError(f"layer {layer.name!r}: no tile fits the core")
    return best


def _greedy_groups(mask_t: np.ndarray, n_cap: int, a_cap: int) -> list[tuple[int, int]]:
    """Contiguous groups grown neuron by neuron while they fit ``n_cap`` neurons and ``a_cap`` receptive-field axons."""
    groups, lo = [], 0
    union = np.zeros(mask_t.shape[1], dtype=bool)
    for j in range(mask_t.shape[0]):
        grown = union | mask_t[j]
        if j > lo and (j - lo >= n_cap or int(grown.sum()) > a_cap):
            groups.append((lo, j - lo))
            lo, grown = j, mask_t[j].copy()
        union = grown
    groups.append((lo, mask_t.shape[0] - lo))
    return groups


def _greedy_groups_sparse(weights, n_cap: int, a_cap: int) -> list[tuple[int, int]]:
    """:func:`_greedy_groups` of a CSC weight matrix, one column at a time (same groups)."""
    indptr, indices = weights.indptr, weights.indices
    groups, lo = [], 0
    union = np.zeros(weights.shape[0], dtype=bool)
    count = 0
    for j in range(weights.shape[1]):
        rows = indices[indptr[j] : indptr[j + 1]]
        grown = count + int((~union[rows]).sum())
        if j > lo and (j - lo >= n_cap or grown > a_cap):
            groups.append((lo, j - lo))
            lo = j
            union[:] = False
            grown = rows.size
        union[rows] = True
        count = grown
    groups.append((lo, weights.shape[1] - lo))
    return groups


def _permuted_sparse(w, rows: np.ndarray, cols: np.ndarray):
    """CSC ``w[rows][:, cols]`` for a row permutation ``rows``: a column gather, then the row indices renamed."""
    out = w[:, cols]
    inverse = np.empty(rows.size, dtype=out.indices.dtype)
    inverse[rows] = np.arange(rows.size, dtype=out.indices.dtype)
    out.indices = inverse[out.indices]
    out.has_sorted_indices = False
    out.sort_indices()
    return out


# --------------------------------------------------------------------------------- the network
def _reordered(net: Network, orders: list[np.ndarray | None]) -> Network:
    """``net`` with each layer's neurons in ``orders[k]`` (columns, bias, and the rows of every reader)."""
    if all(o is None for o in orders):
        return net
    layers = []
    for k, layer in enumerate(net.layers):
        b = layer.bias if orders[k] is None else layer.bias[orders[k]]
        row_order, off, changed = [], 0, False
        for s in net.sources(k):
            n = net.n_inputs if s < 0 else net.layers[s].n_out
            if s >= 0 and orders[s] is not None:
                row_order.append(off + orders[s])
                changed = True
            else:
                row_order.append(off + np.arange(n))
            off += n
        w = layer.weights
        if changed or orders[k] is not None:
            rows = np.concatenate(row_order)
            cols = orders[k] if orders[k] is not None else np.arange(layer.n_out)
            if layer.is_sparse:
                w = _permuted_sparse(w, rows, cols)
            else:
                w = w[np.ix_(rows, cols)]  # one gather: several times faster than columns, then rows
        if not layer.is_sparse:
            w = np.ascontiguousarray(w)
        layers.append(dataclasses.replace(layer, weights=w, bias=np.ascontiguousarray(b)))
    return Network(layers=layers, metadata=net.metadata)


def axon_runs(rows: np.ndarray, net: Network, k: int) -> tuple[AxonRun, ...]:
    """Runs of consecutive source indices for the ascending input rows ``rows`` of layer ``k``."""
    bounds, off = [], 0
    for s in net.sources(k):
        n = net.n_inputs if s < 0 else net.layers[s].n_out
        bounds.append((s, off, off + n))
        off += n
    runs: list[AxonRun] = []
    if rows.size == 0:
        return ()
    # a run breaks where rows are not consecutive or cross from one source to the next
    cuts = np.flatnonzero(np.diff(rows) != 1) + 1
    for piece in np.split(rows, cuts):
        a, z = int(piece[0]), int(piece[-1]) + 1
        for s, lo, hi in bounds:
            if a < hi and z > lo:
                runs.append(AxonRun(s, max(a, lo) - lo, min(z, hi) - lo))
    return tuple(runs)


def tile_network(net: Network, chip: ChipConfig) -> Tiling:
    """Cut every layer of ``net`` into core parts for ``chip`` (see the module docstring).

    Raises:
        DRCError: ``cores_le_chip_cores`` when the parts, partial-sum cores included, exceed the mesh.
    """
    n_cap, a_cap, psum = chip.core.neurons, chip.core.axons, chip.core.partial_sums
    last = len(net.layers) - 1
    plans: list[dict] = []
    orders: list[np.ndarray | None] = []
    for k, layer in enumerate(net.layers):
        if layer.shape is not None and k != last:
            tile, order, groups, extents, _ = _choose_tile(layer, chip)
            plans.append({"tile": tile, "groups": groups, "extents": extents, "routing": "receptive_field"})
            orders.append(order)
            continue
        if layer.n_in <= a_cap:
            groups = _split(layer.n_out, n_cap)
            plans.append({"tile": None, "groups": groups, "extents": None, "routing": "whole"})
        elif psum:
            plans.append({"tile": None, "groups": _split(layer.n_out, n_cap), "extents": None,
                          "routing": "receptive_field"})
        else:
            groups = (_greedy_groups_sparse(layer.weights, n_cap, a_cap) if layer.is_sparse
                      else _greedy_groups(layer.weights.T != 0, n_cap, a_cap))
            plans.append({"tile": None, "groups": groups, "extents": None, "routing": "receptive_field"})
        orders.append(None)
    mapped = _reordered(net, orders)
    layer_tilings, per_layer_parts, chain_max = [], [], []
    for k, (layer, plan) in enumerate(zip(mapped.layers, plans)):
        members = []  # per group: list of axon-row arrays, one per chain member
        if plan["routing"] == "whole":
            all_rows = np.arange(layer.n_in)
            members = [[all_rows] for _ in plan["groups"]]
        else:
            nonzero = None if layer.is_sparse else layer.weights != 0
            for lo, size in plan["groups"]:
                if layer.is_sparse:
                    rows = layer.nonzero_rows(lo, lo + size)
                else:
                    rows = np.flatnonzero(nonzero[:, lo : lo + size].any(axis=1))
                if rows.size == 0:  # a core needs at least one axon: input 0, with zero weights
                    rows = np.zeros(1, dtype=np.int64)
                pieces = split_sizes(rows.size, a_cap) if rows.size > a_cap else [rows.size]
                members.append(np.split(rows, np.cumsum(pieces)[:-1]))
        per_layer_parts.append(members)
        chain_max.append(max(len(m) for m in members))
        layer_tilings.append(
            LayerTiling(
                layer=k,
                tile=plan["tile"],
                order=orders[k],
                groups=tuple(plan["groups"]),
                chains=tuple(len(m) for m in members),
                receptive_fields=tuple(sum(r.size for r in m) for m in members),
                routing=plan["routing"],
            )
        )
    stages: list[int] = []
    for k in range(len(mapped.layers)):
        before = max(-1 if s < 0 else stages[s] for s in mapped.sources(k))
        stages.append(before + chain_max[k])
    parts = []
    for k, (lt, members) in enumerate(zip(layer_tilings, per_layer_parts)):
        extents = plans[k]["extents"]
        for i, ((lo, size), rows_per_member) in enumerate(zip(lt.groups, members)):
            chain = len(rows_per_member)
            for m, rows in enumerate(rows_per_member):
                parts.append(
                    Part(
                        layer=k,
                        index=i,
                        lo=lo,
                        size=size,
                        member=m,
                        chain=chain,
                        stage=stages[k] - (chain - 1 - m),
                        axons=axon_runs(rows, mapped, k),
                        routing=lt.routing,
                        tile=None if extents is None else tuple(extents[i]),
                    )
                )
    parts, dropped = _drop_unread(parts, mapped)
    layer_tilings = [dataclasses.replace(lt, unread=tuple(sorted(dropped.get(k, ())))) for k, lt in
                     enumerate(layer_tilings)]
    check_cores_needed([(f"layer {k} ({net.layers[k].name or 'unnamed'})", sum(p.layer == k for p in parts))
                        for k in range(len(net.layers))], chip)
    return Tiling(network=mapped, layers=tuple(layer_tilings), parts=tuple(parts), stages=tuple(stages))


def _drop_unread(parts: list[Part], net: Network) -> tuple[list[Part], dict[int, set[int]]]:
    """Leave out the parts (with their chains) whose neurons no kept part of a later layer reads.

    E.g. the last row of a 7x7 conv output under a 2x2 stride-2 pooling: a core for it would have no
    routing entry, and no output to give. Layers are visited from the last, so a dropped part's own
    inputs may leave earlier parts unread too. The output layer is always kept.
    """
    last = len(net.layers) - 1
    read = [np.zeros(layer.n_out, dtype=bool) for layer in net.layers]
    keep = [True] * len(parts)
    dropped: dict[int, set[int]] = {}
    for k in range(last, -1, -1):
        idx = [i for i, p in enumerate(parts) if p.layer == k]
        for i in idx:
            p = parts[i]
            if k != last and not read[k][p.lo : p.lo + p.size].any():
                keep[i] = False
                dropped.setdefault(k, set()).add(p.index)
                continue
            for run in p.axons:
                if run.source >= 0:
                    read[run.source][run.lo : run.hi] = True
    return [p for p, kept in zip(parts, keep) if kept], dropped


def _split(n: int, capacity: int) -> list[tuple[int, int]]:
    groups, lo = [], 0
    for size in split_sizes(n, capacity):
        groups.append((lo, size))
        lo += size
    return groups


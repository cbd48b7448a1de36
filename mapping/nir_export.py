"""NIR export: chip-integer networks -> NIR graphs that :mod:`mapping.nir_import` reads back exactly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.limits import MAX_ARRAY_ELEMENTS
from hwsim.network import Network
from mapping.conv_structure import ConvStructure, find_conv, image_shapes, is_sum_pool
from mapping.errors import MappingError
from mapping.graph import DEFAULT_DT_S
from mapping.nir_file import CARRIED_METADATA, plain

__all__ = ["to_nir", "write_nir"]


@dataclass
class _Block:
    """How one source's block of a layer's weights is written: ``kind`` is "conv", "pool" or "dense"."""

    source: int
    weights: Any
    kind: str
    conv: ConvStructure | None = None
    flatten: bool = False  # a Conv2d/SumPool2d summed with an Affine: flattened to the neuron's flat vector


def _arch_hints(network: Network) -> dict[int, tuple[int, int, int]]:
    """``(kernel, stride, padding)`` per layer from a trained network's ``arch`` (one layer per item), else {}."""
    from hwsim.errors import InputError
    from hwsim.training.arch import Conv, Pool, parse_arch

    arch = network.metadata.get("arch")
    if not isinstance(arch, str) or not network.is_chain:
        return {}
    try:
        items = parse_arch(arch)
    except InputError:
        return {}
    if len(items) != len(network.layers):
        return {}
    hints = {k: (i.kernel, i.stride, i.padding) for k, i in enumerate(items) if isinstance(i, Conv)}
    hints.update({k: (i.size, i.size, 0) for k, i in enumerate(items) if isinstance(i, Pool)})
    return hints


def _plan_blocks(network: Network) -> tuple[list[list[_Block]], tuple[int, int, int] | None]:
    """Per layer, its blocks and how each is written; and the input's ``(C, H, W)`` if a convolution reads it.

    A block is a convolution when the layer has a ``shape``, its source's output is spatial in the graph
    (a layer written as convolutions, or the input as an image, see
    :func:`mapping.conv_structure.image_shapes`: NIR has no node that gives a flat vector a shape again)
    and :func:`find_conv` finds the kernel exactly. The first block also carries the layer's bias, which a
    ``Conv2d`` holds per channel, so a bias that differs within a channel keeps the layer an ``Affine``,
    and the layers after it flat. A convolution that sums a window of each channel is a pooling
    (``SumPool2d``) when it needs no bias or scaling; otherwise a ``Conv2d`` with that fixed kernel. A
    layer is spatial when all its blocks are convolutions; in a layer that mixes them with ``Affine``
    blocks, each convolution is flattened before the neuron node.
    """
    hints = _arch_hints(network)
    input_shape = None
    spatial = {-1: False}  # does this source's node give (C, H, W) to the nodes it feeds
    plan = []
    for k, layer in enumerate(network.layers):
        blocks, row = [], 0
        k_shift = layer.leak_shift if layer.integration == "continuous" else 0
        sources = network.sources(k)
        for j, src in enumerate(sources):
            width = network.n_inputs if src < 0 else network.layers[src].n_out
            # one source: the layer's own weights (a row slice of a sparse matrix would copy all of them)
            weights = layer.weights if len(sources) == 1 else layer.weights[row : row + width]
            row += width
            block = _Block(src, weights, "dense")
            if src < 0:
                out_hw = None if layer.shape is None else layer.shape[1:]
                in_shapes = [input_shape] if input_shape is not None else image_shapes(
                    network.n_inputs, network.metadata.get("image_shape"), out_hw)
            else:
                in_shapes = [network.layers[src].shape] if spatial[src] else []
            if layer.shape is not None and not (j == 0 and not _bias_per_channel(layer.bias, layer.shape)):
                for shape in in_shapes:
                    block.conv = find_conv(weights, shape, layer.shape, hints.get(k))
                    if block.conv is not None:
                        break
            if block.conv is not None:
                if src < 0:
                    input_shape = block.conv.in_shape
                    spatial[-1] = True
                pool = is_sum_pool(block.conv) and k_shift == 0 and (j > 0 or not layer.bias.any())
                block.kind = "pool" if pool else "conv"
            blocks.append(block)
        spatial[k] = all(b.kind != "dense" for b in blocks)
        for block in blocks:
            block.flatten = block.kind != "dense" and not spatial[k]
        plan.append(blocks)
    return plan, input_shape


def _bias_per_channel(bias: np.ndarray, shape: tuple[int, int, int]) -> bool:
    """True when every neuron of a channel has the channel's bias (what a Conv2d's ``bias (C_out,)`` holds)."""
    per_channel = bias.reshape(shape[0], -1)
    return bool((per_channel == per_channel[:, :1]).all())


def _dense(k: int, name: str, block: _Block) -> np.ndarray:
    """A block that is no convolution, dense ``(n_in, n_out)`` float64, as NIR's Affine/Linear hold it."""
    n_in, n_out = block.weights.shape
    if n_in * n_out > MAX_ARRAY_ELEMENTS:
        source = "the input" if block.source < 0 else f"layer {block.source}"
        kind = "sparse" if hasattr(block.weights, "toarray") else "dense"
        raise MappingError(
            f"layer {k} ({name!r}): its weights from {source} are a {kind} {n_in} x {n_out} matrix that is not a "
            f"convolution; NIR writes it as a dense Affine/Linear weight of {n_in * n_out} entries, allowed at "
            f"most {MAX_ARRAY_ELEMENTS} (what a NIR file may hold per array)"
        )
    dense = block.weights.toarray() if hasattr(block.weights, "toarray") else block.weights
    return np.asarray(dense, dtype=np.float64)


def to_nir(network: Network, dt_s: float = DEFAULT_DT_S) -> Any:
    """Export a quantized network as a ``nir.NIRGraph`` that :func:`mapping.nir_import.from_nir` reads back exactly.

    Each layer becomes its synapse nodes and a neuron node. Synapses: a block of weights that is a
    convolution (a layer with a ``shape`` whose weights are, exactly, a kernel unrolled over its source's
    ``(C, H, W)``; see :mod:`mapping.conv_structure`) is a ``Conv2d`` (weight ``(C_out, C_in, kH, kW)``,
    stride, zero padding, ``input_shape``, bias per channel); a pooling layer's window sums (weight 1 on
    each channel's window) a ``SumPool2d``; anything else an ``Affine`` (``weight = W.T``, dense: a
    sparse block must hold at most :data:`~hwsim.limits.MAX_ARRAY_ELEMENTS` entries densely), after a
    ``Flatten`` when its source is spatial. The input is ``(C, H, W)`` when a convolution reads it.

    Neurons: discontinuous spiking -> LIF with ``tau = dt`` (no memory); continuous without leak ->
    IF with ``r = 1/dt``; continuous with leak ``k`` -> LIF with ``tau = 2^k dt``, ``r = 2^k``
    and weights/bias multiplied by ``1 - 2^-k`` (the import divides them back); membrane
    readouts -> no node (discontinuous), I, or LI. Thresholds are written as ``threshold - 0.5``
    so NIR's strict ``v > v_threshold`` fires at the same integer membranes. The reset mode
    goes to node metadata ``hwsim_reset`` (NIR has no reset-by-subtraction), the layer name to
    the first synapse node's ``hwsim_layer`` (node names must be unique and ``input``/``output`` are
    taken), the ``(C, H, W)`` of a conv/pool layer written as an Affine to its ``hwsim_shape``, ``hwsim_sparse = 1``
    when the layer's weights are sparse (the import keeps them so), and the
    network metadata listed in :data:`CARRIED_METADATA` to the graph metadata as ``hwsim_<key>``.

    A layer with several sources (``Layer.inputs``, a residual add) keeps them as edges: one
    synapse node for its first source's block of weights (with the bias and the layer name) and a
    node ``<name>_from_<source node>`` (Conv2d, SumPool2d or Linear) for each further block, all
    feeding the layer's neuron node, which NIR sums; the import stacks the blocks back in the same order.

    Raises:
        MappingError: a block that is no convolution is too large to write densely.
    """
    import nir

    plan, input_shape = _plan_blocks(network)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    spike_node: dict[int, str] = {-1: "input"}  # source index -> the node whose output is that source's spikes
    flat_node: dict[int, str] = {}  # source index -> a Flatten of its spatial output, made when first needed
    spatial_shape: dict[int, tuple[int, ...]] = {} if input_shape is None else {-1: input_shape}
    used = {"input", "output"}

    def unique(name: str) -> str:
        out, n = name, 1
        while out in used:
            out, n = f"{name}_{n}", n + 1
        used.add(out)
        return out

    def flat_source(src: int) -> str:
        """The node giving source ``src``'s spikes as a flat vector (a Flatten after a spatial node)."""
        if src not in spatial_shape:
            return spike_node[src]
        if src not in flat_node:
            flat_node[src] = unique(f"{spike_node[src]}_flat")
            nodes[flat_node[src]] = nir.Flatten(
                input_type={"input": np.array(spatial_shape[src])}, start_dim=0, end_dim=-1
            )
            edges.append((spike_node[src], flat_node[src]))
        return flat_node[src]

    for k, (layer, blocks) in enumerate(zip(network.layers, plan)):
        name = unique(layer.name or f"layer{k}")
        n = layer.n_out
        k_shift = layer.leak_shift if layer.integration == "continuous" else 0
        c = 1.0 - 2.0**-k_shift if k_shift else 1.0
        spatial = all(b.kind != "dense" for b in blocks)
        # a neuron node's parameters have its input's shape: NIR checks the types along the edges
        ones = np.ones(layer.shape if spatial else n)
        synapses = []
        for j, block in enumerate(blocks):
            meta: dict[str, Any] = {}
            if j == 0:
                meta["hwsim_layer"] = str(layer.name)
                if not layer.fire:
                    meta["hwsim_threshold"] = int(layer.threshold)
                    if layer.integration == "discontinuous":  # no neuron node to carry it
                        meta["hwsim_reset"] = layer.reset
                if layer.is_sparse:
                    meta["hwsim_sparse"] = 1  # the import keeps the layer's weights sparse (CSC)
                if layer.shape is not None and block.kind == "dense":
                    meta["hwsim_shape"] = [int(d) for d in layer.shape]  # (C, H, W), for the tiling
                key = name
            else:
                key = unique(f"{name}_from_{spike_node[block.source]}")
            conv = block.conv
            if block.kind == "pool":
                nodes[key] = nir.SumPool2d(
                    kernel_size=np.array(conv.kernel.shape[2:]), stride=np.array(conv.stride),
                    padding=np.array(conv.padding), metadata=meta,
                )
                edges.append((spike_node[block.source], key))
            elif block.kind == "conv":
                bias = layer.bias.reshape(conv.out_shape[0], -1)[:, 0] if j == 0 else np.zeros(conv.out_shape[0])
                nodes[key] = nir.Conv2d(
                    input_shape=tuple(conv.in_shape[1:]), weight=conv.kernel.astype(np.float64) * c,
                    stride=conv.stride, padding=conv.padding, dilation=(1, 1), groups=1,
                    bias=bias.astype(np.float64) * c, metadata=meta,
                )
                edges.append((spike_node[block.source], key))
            else:
                weight = _dense(k, layer.name, block).T * c
                if j == 0:
                    nodes[key] = nir.Affine(weight=weight, bias=layer.bias.astype(np.float64) * c, metadata=meta)
                else:
                    nodes[key] = nir.Linear(weight=weight)
                edges.append((flat_source(block.source), key))
            if block.flatten:
                flat = unique(f"{key}_flat")
                nodes[flat] = nir.Flatten(input_type={"input": np.array(conv.out_shape)}, start_dim=0, end_dim=-1)
                edges.append((key, flat))
                key = flat
            synapses.append(key)
        meta = {"hwsim_reset": layer.reset}
        thr = (layer.threshold - 0.5) * ones
        neuron = None
        if layer.fire:
            if layer.integration == "discontinuous":
                neuron = nir.LIF(
                    tau=dt_s * ones, r=ones.copy(), v_leak=0 * ones, v_threshold=thr, v_reset=0 * ones, metadata=meta
                )
            elif k_shift == 0:
                neuron = nir.IF(r=ones / dt_s, v_threshold=thr, v_reset=0 * ones, metadata=meta)
            else:
                neuron = nir.LIF(
                    tau=dt_s * 2.0**k_shift * ones,
                    r=2.0**k_shift * ones,
                    v_leak=0 * ones,
                    v_threshold=thr,
                    v_reset=0 * ones,
                    metadata=meta,
                )
        elif layer.integration == "continuous":
            if k_shift == 0:
                neuron = nir.I(r=ones / dt_s, metadata=meta)
            else:
                neuron = nir.LI(tau=dt_s * 2.0**k_shift * ones, r=2.0**k_shift * ones, v_leak=0 * ones, metadata=meta)
        if neuron is not None:
            nname = unique(f"{name}_neuron")
            nodes[nname] = neuron
            edges.extend((key, nname) for key in synapses)
            spike_node[k] = nname
            if spatial:
                spatial_shape[k] = layer.shape
    out_dims = ones.shape  # the last layer's
    nodes["output"] = nir.Output(output_type={"output": np.array(out_dims)})
    last = len(network.layers) - 1
    # the last layer's neuron node, or (a discontinuous membrane readout has none) its synapse nodes, summed
    edges.extend((key, "output") for key in ([spike_node[last]] if last in spike_node else synapses))
    input_dims = np.array(input_shape if input_shape is not None else [network.n_inputs])
    nodes = {"input": nir.Input(input_type={"input": input_dims}), **nodes}
    metadata: dict[str, Any] = {"dt": float(dt_s), "name": str(network.metadata.get("name", ""))}
    for key in CARRIED_METADATA:
        if network.metadata.get(key) is not None:
            metadata[f"hwsim_{key}"] = plain(network.metadata[key])
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(network: Network, path: str | Path, dt_s: float = DEFAULT_DT_S) -> Path:
    """Export ``network`` with :func:`to_nir` and write it atomically as a ``.nir`` (HDF5) file."""
    import io

    import nir

    from hwsim.writers import atomic_write_bytes

    buf = io.BytesIO()
    nir.write(buf, to_nir(network, dt_s))
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path

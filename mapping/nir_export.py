"""NIR export: chip-integer networks -> NIR graphs that :mod:`mapping.nir_import` reads back exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwsim.network import Network
from mapping.graph import DEFAULT_DT_S
from mapping.nir_file import CARRIED_METADATA, plain

__all__ = ["to_nir", "write_nir"]


def to_nir(network: Network, dt_s: float = DEFAULT_DT_S) -> Any:
    """Export a quantized network as a ``nir.NIRGraph`` that :func:`mapping.nir_import.from_nir` reads back exactly.

    Each layer becomes an Affine node (``weight = W.T``) and a neuron node:
    discontinuous spiking -> LIF with ``tau = dt`` (no memory); continuous without leak ->
    IF with ``r = 1/dt``; continuous with leak ``k`` -> LIF with ``tau = 2^k dt``, ``r = 2^k``
    and weights/bias multiplied by ``1 - 2^-k`` (the import divides them back); membrane
    readouts -> no node (discontinuous), I, or LI. Thresholds are written as ``threshold - 0.5``
    so NIR's strict ``v > v_threshold`` fires at the same integer membranes. The reset mode
    goes to node metadata ``hwsim_reset`` (NIR has no reset-by-subtraction), the layer name to
    the Affine node's ``hwsim_layer`` (node names must be unique and ``input``/``output`` are
    taken), a conv/pool layer's ``(C, H, W)`` to its ``hwsim_shape`` (the convolution itself is
    written unrolled, as an Affine), and the network metadata listed in :data:`CARRIED_METADATA` to the graph metadata
    as ``hwsim_<key>``.

    A layer with several sources (``Layer.inputs``, a residual add) keeps them as edges: one
    Affine node for its first source's block of weights (with the bias and the layer name) and a
    Linear node ``<name>_from_<source node>`` for each further block, all feeding the layer's
    neuron node, which NIR sums; the import stacks the blocks back in the same order.
    """
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([network.n_inputs])})}
    edges: list[tuple[str, str]] = []
    spike_node: dict[int, str] = {-1: "input"}  # source index -> the node whose output is that source's spikes
    used = {"input", "output"}

    def unique(name: str) -> str:
        out, n = name, 1
        while out in used:
            out, n = f"{name}_{n}", n + 1
        used.add(out)
        return out

    for k, layer in enumerate(network.layers):
        name = unique(layer.name or f"layer{k}")
        n = layer.n_out
        k_shift = layer.leak_shift if layer.integration == "continuous" else 0
        c = 1.0 - 2.0**-k_shift if k_shift else 1.0
        ones = np.ones(n)
        meta_aff: dict[str, Any] = {"hwsim_layer": str(layer.name)}
        if not layer.fire:
            meta_aff["hwsim_threshold"] = int(layer.threshold)
        if layer.shape is not None:
            meta_aff["hwsim_shape"] = [int(d) for d in layer.shape]  # (C, H, W) of a conv/pool layer, for the tiling
        synapses, row = [], 0
        for j, s in enumerate(network.sources(k)):
            block = layer.weights[row : row + (network.n_inputs if s < 0 else network.layers[s].n_out)]
            row += block.shape[0]
            if j == 0:
                key = name
                nodes[key] = nir.Affine(
                    weight=block.T.astype(np.float64) * c, bias=layer.bias.astype(np.float64) * c, metadata=meta_aff
                )
            else:
                key = unique(f"{name}_from_{spike_node[s]}")
                nodes[key] = nir.Linear(weight=block.T.astype(np.float64) * c)
            edges.append((spike_node[s], key))
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
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_outputs])})
    last = len(network.layers) - 1
    # the last layer's neuron node, or (a discontinuous membrane readout has none) its synapse nodes, summed
    edges.extend((key, "output") for key in ([spike_node[last]] if last in spike_node else synapses))
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

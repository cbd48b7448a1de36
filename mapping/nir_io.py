"""NIR import and export: float continuous-time graphs <-> chip-integer networks.

Import (:func:`from_nir`) walks the single chain Input -> ... -> Output of a
NIR graph. Consecutive linear nodes (Affine, Linear, Conv2d, SumPool2d,
AvgPool2d, Scale; Flatten and Identity are the identity on the flat vector)
are composed into one weight matrix; each neuron node (IF, LIF, CubaLIF, or
the non-spiking LI / I readouts) closes a layer. A chain that ends in linear
nodes becomes a membrane-readout layer. The continuous-time neuron
parameters are turned into the chip's registers and the floats are quantized
as described in ``docs/mapping.md`` ("NIR import"). Export
(:func:`to_nir`) writes the inverse, so a network survives the round trip
bit for bit.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from hwsim.config import ChipConfig, load_chip_config
from hwsim.network import Layer, Network
from mapping.drc import check_drc, split_sizes
from mapping.errors import DRCError, DRCWarning, MappingError
from mapping.graph import (
    DEFAULT_DT_S,
    NEURON_TYPES,
    PASS_TYPES,
    chain_order,
    nir_view,
)
from mapping.unroll import conv2d_matrix, pair, pool2d_matrix

__all__ = [
    "from_nir",
    "to_nir",
    "write_nir",
    "load_network",
    "neuron_registers",
    "quantize_layer",
    "CARRIED_METADATA",
    "DECAY_WARN_DIFFERENCE",
]

# Relative tolerance for "these floats are integers already".
_INT_TOL = 1e-6

# Warn (DRCWarning) when the chip's decay per step differs from the requested one by this much
# or more. Below it sit the usual snnTorch betas (0.9 -> 0.875, 0.8 -> 0.75, 0.95 -> 0.9375);
# at or above it the power-of-two grid is coarse: fast decays such as 0.6 -> 0.5 or 0.2 -> 0
# (discontinuous), where the chip keeps visibly more or less of the membrane each step.
DECAY_WARN_DIFFERENCE = 0.1

# Network metadata that to_nir carries in the graph metadata (as "hwsim_<key>") and from_nir
# restores: what `hwsim map --rates auto`, `hwsim train --load` and the soft rule
# v_bits_match_network read.
CARRIED_METADATA = ("dataset", "classes", "image_shape", "timesteps", "encoding", "encoding_seed", "w_bits", "v_bits")


def _scalar(node: dict, key: str, default: float | None = None) -> float:
    """A layer-wide value: scalar or uniform tensor (checked by ``uniform_neuron_params``)."""
    if key not in node or node[key] is None:
        if default is None:
            raise MappingError(f"{node['type']} node without '{key}'")
        return float(default)
    arr = np.asarray(node[key], dtype=np.float64).ravel()
    if arr.size == 0:
        raise MappingError(f"{node['type']} node: '{key}' is empty")
    return float(arr[0])


def _chip(chip: Any) -> ChipConfig:
    if chip is None:
        return load_chip_config("default_28nm")
    if isinstance(chip, ChipConfig):
        return chip
    return load_chip_config(chip)


def neuron_registers(node: dict | None, dt_s: float, v_bits: int) -> dict:
    """Discrete-time chip registers of a NIR neuron node (forward Euler with step ``dt_s``).

    With ``a = dt / tau`` the Euler update is ``v[t+1] = (1 - a) v[t] + a R I[t] + a v_leak``.
    The chip decays by ``beta = 1 - 2^-k`` per step (``k = leak_shift``), so
    ``k = round(log2(tau / dt))``:

    - ``k = 0`` (``dt / tau`` above ``2^-0.5``, including ``tau = dt``): ``beta = 0``, i.e.
      discontinuous integration; the ``(1 - a) v`` term is dropped, gain ``a R``.
    - ``1 <= k <= v_bits - 1``: continuous with ``leak_shift = k``; the chip integrates before it
      leaks, so gain and ``bias_add`` are divided by ``beta`` to make ``v[t+1] = beta v[t] + a R I``
      exact when ``1 - a`` is a power-of-two fraction.
    - ``k > v_bits - 1``, and ``a = 0`` (IF, I: ``dv/dt = R I``, gain ``R dt``): continuous
      without leak (``beta = 1``).

    ``node = None`` is a trailing linear map (membrane readout without state).

    Returns:
        A dict with ``fire``, ``integration``, ``leak_shift``, ``gain`` (input scale applied to
        ``W x + b``), ``bias_add`` (constant added per step, NIR membrane units), ``threshold``
        (NIR units, compared with ``>``), ``decay_nir`` (the requested ``1 - dt/tau``) and
        ``decay_chip`` (the decay per step the chip applies: 0, ``1 - 2^-k`` or 1).

    Raises:
        MappingError: a missing field, or a time constant that is not a positive finite number.
    """
    if node is None:
        a, gain, bias_add, thr, fire = 1.0, 1.0, 0.0, 0.0, False
    else:
        t = node["type"]
        r = _scalar(node, "r", 1.0)
        fire = t in NEURON_TYPES
        thr = _scalar(node, "v_threshold") if fire else 0.0
        if t in ("IF", "I"):  # dv/dt = R I  ->  v += dt R I
            a, gain, bias_add = 0.0, r * dt_s, 0.0
        else:  # tau dv/dt = (v_leak - v) + R I  ->  v += dt/tau (v_leak - v + R I)
            key = "tau_mem" if t == "CubaLIF" else "tau"
            tau = _scalar(node, key)
            if not 0 < tau < math.inf:  # also NaN; check_nir_fields gives the full message first
                raise MappingError(f"{t} node: {key} = {tau:g}; expected a finite time constant > 0 s")
            a = dt_s / tau
            gain = r * a
            bias_add = _scalar(node, "v_leak", 0.0) * a
            if t == "CubaLIF":  # tau_syn = dt (rule no_synaptic_state): I = w_in * input
                gain *= _scalar(node, "w_in", 1.0)
    decay_nir = 1.0 - a
    k = max(0, int(round(math.log2(1.0 / a)))) if a > 0 else None
    if k == 0:
        # beta = 1 - 2^0 = 0: nothing of the membrane is kept, which is discontinuous integration
        integration, leak_shift, decay_chip = "discontinuous", 0, 0.0
    elif k is None or k > v_bits - 1:
        # no leak; a shift beyond v_bits - 1 would leave v >> k at 0 or -1 for every membrane
        integration, leak_shift, decay_chip = "continuous", 0, 1.0
    else:
        integration, leak_shift, decay_chip = "continuous", k, 1.0 - 2.0**-k
    # only a leaking core decays the input it has just added (v = (v + W x + b) beta)
    input_decay = decay_chip if leak_shift else 1.0
    return {
        "fire": fire,
        "integration": integration,
        "leak_shift": leak_shift,
        "gain": gain / input_decay,
        "bias_add": bias_add / input_decay,
        "threshold": thr,
        "decay_nir": decay_nir,
        "decay_chip": decay_chip,
    }


def _is_int(x: np.ndarray, lo: int, hi: int) -> bool:
    if x.size == 0:
        return True
    r = np.rint(x)
    return bool(np.all(np.abs(x - r) <= _INT_TOL * np.maximum(1.0, np.abs(x))) and r.min() >= lo and r.max() <= hi)


def quantize_layer(w: np.ndarray, b: np.ndarray, threshold: float, fire: bool, chip: ChipConfig) -> dict:
    """Quantize float weights, biases and threshold with one scale per layer.

    Rule: if ``w`` and ``b`` are already integers in range the scale is 1; otherwise
    ``s = min(w_max / max|w|, v_max / max|b|, (v_max - 1) / threshold)`` (terms with a zero
    denominator left out), ``W = rint(s w)``, ``b = rint(s b)`` (round half to even) and the
    strict NIR compare ``v > threshold`` becomes ``v >= floor(s threshold) + 1``.
    """
    cc = chip.core
    if _is_int(w, cc.w_min, cc.w_max) and _is_int(b, cc.v_min, cc.v_max):
        s = 1.0
    else:
        cands = []
        if w.size and np.abs(w).max() > 0:
            cands.append(cc.w_max / np.abs(w).max())
        if b.size and np.abs(b).max() > 0:
            cands.append(cc.v_max / np.abs(b).max())
        if fire and threshold > 0:
            cands.append((cc.v_max - 1) / threshold)
        s = float(min(cands)) if cands else 1.0
    wq = np.clip(np.rint(w * s), cc.w_min, cc.w_max).astype(np.int32)
    bq = np.clip(np.rint(b * s), cc.v_min, cc.v_max).astype(np.int32)
    ts = threshold * s
    th = int(math.floor(ts + 1e-9 * max(1.0, abs(ts)))) + 1 if fire else 0
    return {"weights": wq, "bias": bq, "threshold": th, "scale": s}


def _flat_size(dims: tuple[int, ...]) -> int:
    return int(np.prod(dims)) if dims else 1


def _strip_batch(dims: tuple[int, ...], need: int, where: str) -> tuple[int, ...]:
    """Accept ``dims`` with or without a leading batch dimension when ``need`` values are expected."""
    if _flat_size(dims) == need:
        return dims
    if len(dims) > 1 and _flat_size(dims[1:]) == need:
        return dims[1:]
    raise MappingError(f"{where}: input of shape {list(dims)} does not give the {need} values it needs")


def _spatial(
    dims: tuple[int, ...], channels: int | None, hw: tuple[int, int] | None, where: str
) -> tuple[int, int, int]:
    """``(C, H, W)`` of a flat tensor entering a conv/pool node."""
    n = _flat_size(dims)
    if hw is not None and channels is not None:
        shape = (channels, *hw)
        _strip_batch(dims, _flat_size(shape), where)
        return shape
    d = list(dims)
    while len(d) > 3 and d[0] == 1:
        d.pop(0)
    if len(d) == 2:
        d = [1] + d
    if len(d) != 3:
        raise MappingError(f"{where}: cannot read (C, H, W) from input shape {list(dims)}")
    if channels is not None and d[0] != channels:
        if n == channels * d[1] * d[2] * d[0]:
            d = [channels, d[1], d[2]]
        else:
            raise MappingError(f"{where}: input has {d[0]} channels, the node expects {channels}")
    return tuple(int(x) for x in d)  # type: ignore[return-value]


def _synapse(
    node: dict, key: str, dims: tuple[int, ...]
) -> tuple[sp.csr_matrix, np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """Matrix, bias and output dims of one linear node; also the (batch-stripped) input dims."""
    t = node["type"]
    where = f"node {key!r} ({t})"
    if t in ("Affine", "Linear"):
        w = np.asarray(node["weight"], dtype=np.float64)
        while w.ndim > 2 and w.shape[0] == 1:
            w = w[0]
        if w.ndim != 2:
            raise MappingError(f"{where}: weight has shape {w.shape}, expected (out, in)")
        dims = _strip_batch(dims, w.shape[1], where)
        b = np.asarray(node.get("bias", 0.0), dtype=np.float64) if t == "Affine" else np.zeros(w.shape[0])
        b = np.broadcast_to(b.ravel() if b.size > 1 else b.reshape(()), (w.shape[0],)).astype(np.float64)
        return sp.csr_matrix(w.T), b, (w.shape[0],), dims
    if t == "Scale":
        s = np.asarray(node["scale"], dtype=np.float64).ravel()
        n = _flat_size(dims)
        if s.size not in (1, n):
            raise MappingError(f"{where}: {s.size} scale factors for {n} values")
        return sp.diags(np.broadcast_to(s, (n,))).tocsr(), np.zeros(n), dims, dims
    if t == "Conv2d":
        w = np.asarray(node["weight"], dtype=np.float64)
        groups = int(np.asarray(node.get("groups", 1)).ravel()[0])
        hw = node.get("input_shape")
        hw = pair(hw, "input_shape") if hw is not None and np.asarray(hw).size == 2 else None
        shape = _spatial(dims, w.shape[1] * groups, hw, where)
        m, out = conv2d_matrix(w, shape, node.get("stride", 1), node.get("padding", 0), node.get("dilation", 1), groups)
        bias = node.get("bias")
        b = (
            np.zeros(w.shape[0])
            if bias is None
            else np.broadcast_to(np.asarray(bias, np.float64).ravel(), (w.shape[0],))
        )
        return m, np.repeat(b, out[1] * out[2]), out, shape
    if t in ("SumPool2d", "AvgPool2d"):
        shape = _spatial(dims, None, None, where)
        m, out = pool2d_matrix(
            "sum" if t == "SumPool2d" else "avg", shape, node["kernel_size"], node.get("stride"), node.get("padding")
        )
        return m, np.zeros(m.shape[1]), out, shape
    raise MappingError(f"{where}: not a linear node")


def from_nir(source: Any, chip: Any = None, *, dt_s: float | None = None, reset: str | None = None) -> Network:
    """Convert a NIR graph to a quantized :class:`hwsim.network.Network` for ``chip``.

    Args:
        source: ``nir.NIRGraph``, a ``.nir`` path, a ``to_dict()`` dict, or a :class:`NirView`.
            Never modified.
        chip: Target chip (``ChipConfig``, preset name or TOML path); default ``default_28nm``.
        dt_s: Time step in seconds (default: graph metadata ``dt``, else 1e-4 s as snnTorch exports).
        reset: ``"zero"`` or ``"subtract"`` for every spiking layer; default: each node's
            ``hwsim_reset`` metadata, else ``"zero"`` (NIR resets to ``v_reset = 0``).

    Raises:
        DRCError: a design rule fails (the rule, the node/layer, what is needed and what the chip has).
        MappingError: malformed graph.
    """
    chip = _chip(chip)
    view = nir_view(source, dt_s=dt_s, reset=reset)
    check_drc(view, chip)
    order = chain_order(view)
    nodes = view.nodes
    dims = tuple(int(x) for x in np.asarray(nodes[order[0]].get("shape", ())).ravel())
    n_inputs: int | None = None
    layers_raw: list[dict] = []
    pending: dict | None = None  # {"m": csr (n_in, n_cur), "b": (n_cur,), "name": str, "meta": dict}

    def start(n: int) -> dict:
        return {"m": sp.identity(n, format="csr"), "b": np.zeros(n), "name": None, "meta": {}}

    for key in order[1:]:
        node = nodes[key]
        t = node["type"]
        if t in PASS_TYPES:
            if t == "Flatten" and node.get("input_type") is not None:
                want = _flat_size(tuple(int(x) for x in np.asarray(node["input_type"]).ravel()))
                dims = _strip_batch(dims, want, f"node {key!r} (Flatten)")
            dims = (_flat_size(dims),) if t == "Flatten" else dims
            continue
        if t == "Output":
            want = np.asarray(node.get("shape", ())).ravel()
            if want.size:
                _strip_batch(dims, _flat_size(tuple(int(x) for x in want)), f"node {key!r} (Output)")
            break
        if t in ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Scale"):
            m, b, out_dims, in_dims = _synapse(node, key, dims)
            if n_inputs is None:
                n_inputs = _flat_size(in_dims)
            if pending is None:
                pending = start(_flat_size(in_dims))
            pending["m"] = (pending["m"] @ m).tocsr()
            pending["b"] = pending["b"] @ m + b
            pending["name"] = pending["name"] or key
            meta = node.get("metadata") or {}
            if "hwsim_threshold" in meta:
                pending["meta"]["hwsim_threshold"] = int(np.asarray(meta["hwsim_threshold"]).item())
            if "hwsim_layer" in meta and "hwsim_layer" not in pending["meta"]:
                # the layer name to_nir wrote: node names cannot be "input"/"output" or repeat
                pending["meta"]["hwsim_layer"] = str(_plain(meta["hwsim_layer"]))
            dims = out_dims
            continue
        # a neuron node closes a layer; sizes of its parameters must match the layer
        n = _flat_size(dims)
        if n_inputs is None:
            dims = _strip_batch(dims, _neuron_size(node, n), f"node {key!r} ({t})")
            n = n_inputs = _flat_size(dims)
        _check_neuron_size(node, key, n)
        layer = pending or start(n)
        layers_raw.append({"node": node, "key": key, **layer})
        pending = None
    if pending is not None:
        layers_raw.append({"node": None, "key": pending["name"], **pending})
    if not layers_raw:
        raise MappingError("NIR graph has no layer (no linear or neuron node between Input and Output)")

    # cheap capacity rules on sizes before any dense matrix is built
    shapes = [(lr["name"] or lr["key"], lr["m"].shape[0], lr["m"].shape[1]) for lr in layers_raw]
    _precheck_sizes(shapes, chip)

    layers, info = [], []
    for k, lr in enumerate(layers_raw):
        node = lr["node"]
        regs = neuron_registers(node, view.dt_s, chip.core.v_bits)
        name = lr["meta"].get("hwsim_layer", lr["name"] or lr["key"] or f"layer{k}")
        w = lr["m"].toarray() * regs["gain"]
        b = lr["b"] * regs["gain"] + regs["bias_add"]
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            # every field is finite (check_nir_fields); products of huge values can still overflow
            raise MappingError(
                f"layer {k} ({name}): weights or biases overflow to inf when the linear nodes are composed "
                f"and multiplied by the neuron gain {regs['gain']:g}; expected finite values"
            )
        q = quantize_layer(w, b, regs["threshold"], regs["fire"], chip)
        if not regs["fire"] and "hwsim_threshold" in lr["meta"]:
            q["threshold"] = lr["meta"]["hwsim_threshold"]
        meta = (node or {}).get("metadata") or {}
        layer_reset = view.reset or str(meta.get("hwsim_reset", "zero"))
        if abs(regs["decay_chip"] - regs["decay_nir"]) >= DECAY_WARN_DIFFERENCE - 1e-9:
            warnings.warn(
                DRCWarning(
                    f"NIR import: layer {k} ({name}), node {lr['key']!r}: decay per step "
                    f"{regs['decay_nir']:.4g} (dt/tau = {1 - regs['decay_nir']:.4g}) becomes {regs['decay_chip']:.4g} "
                    f"on the chip ({regs['integration']}, leak_shift {regs['leak_shift']}: decays are 1 - 2^-k); "
                    "results can differ from the source network"
                ),
                stacklevel=2,
            )
        layers.append(
            Layer(
                weights=q["weights"],
                bias=q["bias"],
                threshold=q["threshold"],
                leak_shift=regs["leak_shift"],
                integration=regs["integration"],
                reset=layer_reset,
                fire=regs["fire"],
                name=name,
            )
        )
        info.append(
            {
                "layer": name,
                "neuron_node": lr["key"] if node is not None else None,
                "neuron_type": node["type"] if node is not None else None,
                "scale": q["scale"],
                "gain": regs["gain"],
                "threshold_nir": regs["threshold"],
                "decay_nir": regs["decay_nir"],
                "decay_chip": regs["decay_chip"],
                "nonzero_synapses": int(np.count_nonzero(q["weights"])),
                "synapses": int(q["weights"].size),
            }
        )
    carried = {
        key: _plain(view.metadata[f"hwsim_{key}"]) for key in CARRIED_METADATA if f"hwsim_{key}" in view.metadata
    }
    if any(i["scale"] != 1.0 for i in info):
        # re-quantized for this chip: the exported widths no longer describe the integers
        carried.pop("w_bits", None)
        carried.pop("v_bits", None)
    net = Network(
        layers=layers,
        metadata={
            "name": view.name,
            "source": "nir",
            "dt_s": view.dt_s,
            "w_bits": chip.core.w_bits,
            "v_bits": chip.core.v_bits,
            **carried,
            "scales": [i["scale"] for i in info],
            "nir_import": info,
        },
    )
    check_drc(net, chip)
    return net


def _plain(value: Any) -> Any:
    """A metadata value as plain Python (h5py returns bytes, NumPy scalars and arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray):
        return _plain(value.tolist()) if value.ndim else _plain(value.item())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _neuron_size(node: dict, default: int) -> int:
    sizes = [np.asarray(node[p]).size for p in ("v_threshold", "tau", "tau_mem", "r") if node.get(p) is not None]
    big = [s for s in sizes if s > 1]
    return big[0] if big else default


def _check_neuron_size(node: dict, key: str, n: int) -> None:
    for p in ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        if node.get(p) is not None:
            size = np.asarray(node[p]).size
            if size not in (1, n):
                raise MappingError(f"node {key!r} ({node['type']}): {p} has {size} values for a layer of {n} neurons")


def _precheck_sizes(shapes: list[tuple[str, int, int]], chip: ChipConfig) -> None:
    """fanin_le_axons, neurons_fit_cores and cores_le_chip_cores on sizes only (same messages as the rules)."""
    for k, (name, n_in, _) in enumerate(shapes):
        if n_in > chip.core.axons:
            raise DRCError(
                "fanin_le_axons",
                f"layer {k} ({name})",
                f"fan-in {n_in}",
                f"{chip.core.axons} axons per core (no partial sums across cores)",
            )
    total = sum(s[2] for s in shapes)
    if total > chip.n_cores * chip.core.neurons:
        raise DRCError(
            "neurons_fit_cores",
            "network",
            f"{total} neurons ({'+'.join(str(s[2]) for s in shapes)})",
            f"{chip.n_cores * chip.core.neurons} neurons ({chip.n_cores} cores x {chip.core.neurons})",
        )
    parts = [len(split_sizes(s[2], chip.core.neurons)) for s in shapes]
    if sum(parts) > chip.n_cores:
        raise DRCError(
            "cores_le_chip_cores",
            "network",
            f"{sum(parts)} cores ({'+'.join(map(str, parts))} per layer)",
            f"{chip.n_cores} cores ({chip.mesh_rows}x{chip.mesh_cols} mesh)",
        )


def to_nir(network: Network, dt_s: float = DEFAULT_DT_S) -> Any:
    """Export a quantized network as a ``nir.NIRGraph`` that :func:`from_nir` reads back exactly.

    Each layer becomes an Affine node (``weight = W.T``) and a neuron node:
    discontinuous spiking -> LIF with ``tau = dt`` (no memory); continuous without leak ->
    IF with ``r = 1/dt``; continuous with leak ``k`` -> LIF with ``tau = 2^k dt``, ``r = 2^k``
    and weights/bias multiplied by ``1 - 2^-k`` (the import divides them back); membrane
    readouts -> no node (discontinuous), I, or LI. Thresholds are written as ``threshold - 0.5``
    so NIR's strict ``v > v_threshold`` fires at the same integer membranes. The reset mode
    goes to node metadata ``hwsim_reset`` (NIR has no reset-by-subtraction), the layer name to
    the Affine node's ``hwsim_layer`` (node names must be unique and ``input``/``output`` are
    taken), and the network metadata listed in :data:`CARRIED_METADATA` to the graph metadata
    as ``hwsim_<key>``.
    """
    import nir

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([network.n_inputs])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
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
        nodes[name] = nir.Affine(
            weight=layer.weights.T.astype(np.float64) * c, bias=layer.bias.astype(np.float64) * c, metadata=meta_aff
        )
        edges.append((prev, name))
        prev = name
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
            edges.append((prev, nname))
            prev = nname
    nodes["output"] = nir.Output(output_type={"output": np.array([network.n_outputs])})
    edges.append((prev, "output"))
    metadata: dict[str, Any] = {"dt": float(dt_s), "name": str(network.metadata.get("name", ""))}
    for key in CARRIED_METADATA:
        if network.metadata.get(key) is not None:
            metadata[f"hwsim_{key}"] = _plain(network.metadata[key])
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(network: Network, path: str | Path, dt_s: float = DEFAULT_DT_S) -> Path:
    """Export ``network`` with :func:`to_nir` and write it atomically as a ``.nir`` (HDF5) file."""
    import io

    import nir

    from hwsim.program import atomic_write_bytes

    buf = io.BytesIO()
    nir.write(buf, to_nir(network, dt_s))
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_network(path: str | Path, chip: Any = None, *, dt_s: float | None = None, reset: str | None = None) -> Network:
    """Read a trained network: the project's ``.npz`` network file or a ``.nir`` graph.

    Args:
        path: ``.npz`` (``hwsim.network.Network.save``) or ``.nir`` file.
        chip: Chip whose ``w_bits``/``v_bits`` a NIR graph is quantized for (default ``default_28nm``).
        dt_s, reset: NIR conversion options, see :func:`from_nir`.

    Raises:
        MappingError: unknown file type; NetworkFileError / DRCError from the readers.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return Network.load(path)
    if path.suffix in (".nir", ".h5", ".hdf5"):
        return from_nir(path, chip, dt_s=dt_s, reset=reset)
    raise MappingError(f"network file {str(path)!r}: expected a .npz network file or a .nir graph")

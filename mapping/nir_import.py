"""NIR import: float continuous-time graphs -> chip-integer networks.

:func:`from_nir` walks a feed-forward NIR graph (a chain, or a DAG with branches and residual
adds) in topological order. Consecutive linear nodes (Affine, Linear, Conv2d, SumPool2d,
AvgPool2d, Scale; Flatten and Identity are the identity on the flat vector) are composed into
one weight matrix per spike source; each neuron node (IF, LIF, CubaLIF, or the non-spiking
LI / I readouts) closes a layer. Several edges into one node are summed (NIR's semantics), so
a neuron node reached from several sources (a residual add) becomes ONE layer whose
``Layer.inputs`` are those sources and whose weights are their blocks stacked in that order. A
graph that ends in linear nodes becomes a membrane-readout layer. The continuous-time neuron
parameters are turned into the chip's registers and the floats are quantized as described in
``docs/mapping.md`` ("NIR import", "Residual and branching NIR graphs").
:mod:`mapping.nir_export` writes the inverse, so a network survives the round trip bit for bit.

Every node is checked (:func:`mapping.drc.check_nir_fields`) before it is read, and every size
(an unrolled convolution, a composed layer matrix) is checked against
:data:`~hwsim.limits.MAX_SPARSE_WEIGHTS` stored weights and the chip's capacity before it is built.
Layer matrices are sparse while they are composed; a layer whose dense matrix would exceed
:data:`~hwsim.limits.MAX_ARRAY_ELEMENTS` entries (a CIFAR-size convolution), or that
:mod:`mapping.nir_export` wrote from a sparse layer (``hwsim_sparse``), is imported with sparse
weights; every other layer dense, as before.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from hwsim.config import ChipConfig, load_chip_config
from hwsim.limits import MAX_ARRAY_ELEMENTS, MAX_SPARSE_WEIGHTS
from hwsim.network import Layer, Network
from mapping.drc import check_drc, check_layer_sizes
from mapping.errors import DRCError, DRCWarning, MappingError
from mapping.graph import (
    NEURON_TYPES,
    PASS_TYPES,
    SYNAPSE_TYPES,
    NirView,
    nir_view,
    predecessors,
    topological_order,
)
from mapping.nir_file import CARRIED_METADATA, plain
from mapping.unroll import conv2d_matrix, conv_output_size, pair, pool2d_matrix

__all__ = [
    "from_nir",
    "load_network",
    "neuron_registers",
    "quantize_layer",
    "DECAY_WARN_DIFFERENCE",
]

# Relative tolerance for "these floats are integers already".
_INT_TOL = 1e-6

# Warn (DRCWarning) when the chip's decay per step differs from the requested one by this much
# or more. Below it sit the usual snnTorch betas (0.9 -> 0.875, 0.8 -> 0.75, 0.95 -> 0.9375);
# at or above it the power-of-two grid is coarse: fast decays such as 0.6 -> 0.5 or 0.2 -> 0
# (discontinuous), where the chip keeps visibly more or less of the membrane each step.
DECAY_WARN_DIFFERENCE = 0.1

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


_CONV_DEFAULTS = (("stride", 1), ("padding", 0), ("dilation", 1))


def _check_unrolled_size(
    where: str, in_shape: tuple[int, int, int], c_out: int, c_in_per_output: int, kernel: Any, stride: Any,
    padding: Any, dilation: Any,
) -> None:
    """Refuse a convolution or pooling whose unrolled matrix would hold more than :data:`MAX_SPARSE_WEIGHTS`.

    Checked from the sizes alone, before :mod:`mapping.unroll` allocates anything: each of the
    ``c_out x OH x OW`` outputs takes at most ``c_in_per_output x kH x kW`` inputs.
    """
    _, h, w = in_shape
    (kh, kw), (sy, sx), (dy, dx) = pair(kernel, "kernel"), pair(stride, "stride"), pair(dilation, "dilation")
    if isinstance(padding, str):  # 'valid': none; 'same': PyTorch's, as mapping.unroll pads
        py, px = (0, 0) if padding == "valid" else (dy * (kh - 1) // 2, dx * (kw - 1) // 2)
    else:
        py, px = pair(padding, "padding")
    oh, ow = conv_output_size(h, py, dy, kh, sy), conv_output_size(w, px, dx, kw, sx)
    entries = c_out * max(oh, 0) * max(ow, 0) * c_in_per_output * kh * kw
    if entries > MAX_SPARSE_WEIGHTS:
        raise MappingError(
            f"{where}: unrolls to {c_out}x{oh}x{ow} outputs of {c_in_per_output}x{kh}x{kw} inputs each "
            f"({entries} weights); allowed at most {MAX_SPARSE_WEIGHTS} per layer (a smaller input, kernel or padding)"
        )


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
        groups = int(np.asarray(_field(node, "groups", 1)).ravel()[0])
        hw = node.get("input_shape")
        hw = pair(hw, "input_shape") if hw is not None and np.asarray(hw).size == 2 else None
        shape = _spatial(dims, w.shape[1] * groups, hw, where)
        # a field that is absent or None takes PyTorch's default
        stride, padding, dilation = (_field(node, k, d) for k, d in _CONV_DEFAULTS)
        _check_unrolled_size(where, shape, w.shape[0], w.shape[1], w.shape[2:], stride, padding, dilation)
        m, out = conv2d_matrix(w, shape, stride, padding, dilation, groups)
        bias = node.get("bias")
        b = (
            np.zeros(w.shape[0])
            if bias is None
            else np.broadcast_to(np.asarray(bias, np.float64).ravel(), (w.shape[0],))
        )
        return m, np.repeat(b, out[1] * out[2]), out, shape
    if t in ("SumPool2d", "AvgPool2d"):
        shape = _spatial(dims, None, None, where)
        kernel = pair(node["kernel_size"], "kernel_size")
        stride = node.get("stride") if node.get("stride") is not None else node["kernel_size"]
        padding = node.get("padding") if node.get("padding") is not None else 0
        _check_unrolled_size(where, shape, shape[0], 1, kernel, stride, padding, 1)
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
        MappingError: malformed graph, or a layer too large to build.
    """
    chip = _chip(chip)
    view = nir_view(source, dt_s=dt_s, reset=reset)
    check_drc(view, chip)
    layers_raw = _compose_layers(view)
    # cheap capacity rules on sizes before any dense matrix is built; the fan-in of one neuron is only known
    # after quantization (a weight may round to 0), so fanin_le_axons runs on the network below
    sizes = [(f"layer {k} ({lr['name'] or lr['key']})", None, lr["m"].shape[1]) for k, lr in enumerate(layers_raw)]
    check_layer_sizes(sizes, chip)
    layers, info = [], []
    for k, lr in enumerate(layers_raw):
        layer, layer_info = _quantized_layer(k, lr, view, chip)
        layers.append(layer)
        info.append(layer_info)
    carried = {
        key: plain(view.metadata[f"hwsim_{key}"]) for key in CARRIED_METADATA if f"hwsim_{key}" in view.metadata
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


def _field(node: dict, key: str, default: Any) -> Any:
    """``node[key]``, or ``default`` when the field is absent or None (as exporters write optional fields)."""
    value = node.get(key)
    return default if value is None else value


def _check_stored_weights(where: str, rows: int, cols: int, count: int) -> None:
    """A layer's sparse matrix may hold at most :data:`MAX_SPARSE_WEIGHTS` weights (``count``, or a bound on it)."""
    if count > MAX_SPARSE_WEIGHTS:
        raise MappingError(
            f"{where}: a layer of {rows} inputs x {cols} neurons with up to {count} weights; allowed at most "
            f"{MAX_SPARSE_WEIGHTS} weights per layer"
        )


def _product_bound(a: sp.csr_matrix, b: sp.csr_matrix) -> int:
    """An upper bound on the nonzeros of ``a @ b``, from the sizes alone: sum over k of nnz(a[:, k]) nnz(b[k])."""
    per_column = np.bincount(a.indices, minlength=a.shape[1]).astype(np.int64)
    return int(per_column @ np.diff(b.indptr).astype(np.int64))


def _expr(terms: dict, dims: tuple[int, ...]) -> dict:
    """A node's output as an affine function of spike sources (see :func:`_compose_layers`)."""
    return {"terms": terms, "b": None, "dims": dims, "name": None, "meta": {}, "shape": None}


def _join(key: str, parts: list[dict]) -> dict:
    """The sum of the outputs of the nodes with an edge into ``key`` (NIR adds a node's inputs).

    Sources keep the order in which they first appear (edges into ``key`` in graph order), and a
    source reached along several paths gets the sum of their matrices.
    """
    if len(parts) == 1:
        return parts[0]
    where = f"node {key!r} ({len(parts)} inputs summed)"
    sizes = [_flat_size(p["dims"]) for p in parts]
    need = min(sizes)
    dims_all = [_strip_batch(p["dims"], need, where) for p in parts]  # an Input may carry a batch dimension
    dims = next((d for d in dims_all if len(d) == 3), dims_all[0])
    terms: dict[int, sp.csr_matrix] = {}
    b = np.zeros(need)
    for p in parts:
        for src, mat in p["terms"].items():
            mat = sp.identity(need, format="csr") if mat is None else mat
            if mat.shape[1] != need:
                raise MappingError(f"{where}: an input gives {mat.shape[1]} values, another {need}")
            terms[src] = (terms[src] + mat).tocsr() if src in terms else mat
        if p["b"] is not None:
            b = b + p["b"]
    meta: dict = {}
    for p in parts:
        for k, v in p["meta"].items():
            meta.setdefault(k, v)
    return {
        "terms": terms,
        "b": b,
        "dims": dims,
        "name": next((p["name"] for p in parts if p["name"] is not None), None),
        "meta": meta,
        "shape": next((p["shape"] for p in parts if p["shape"] is not None), None),
    }


def _through_synapse(node: dict, key: str, e: dict) -> dict:
    """``e`` followed by the linear node ``key``: every source's matrix times the node's, biases carried."""
    t = node["type"]
    m, b, out_dims, in_dims = _synapse(node, key, e["dims"])
    terms = {}
    for src, mat in e["terms"].items():
        if mat is None:
            _check_stored_weights(f"node {key!r} ({t})", m.shape[0], m.shape[1], m.nnz)
            terms[src] = m
            continue
        if mat.shape[1] != m.shape[0]:
            raise MappingError(f"node {key!r} ({t}): its input has {mat.shape[1]} values, it needs {m.shape[0]}")
        # checked before the product is built: composing can multiply the weights (an outer product)
        _check_stored_weights(f"node {key!r} ({t})", mat.shape[0], m.shape[1], _product_bound(mat, m))
        terms[src] = (mat @ m).tocsr()
    meta = dict(e["meta"])
    node_meta = node.get("metadata") or {}
    if "hwsim_threshold" in node_meta:
        meta["hwsim_threshold"] = int(np.asarray(node_meta["hwsim_threshold"]).item())
    if "hwsim_reset" in node_meta:  # a readout without a neuron node: to_nir wrote its reset here
        meta["hwsim_reset"] = str(plain(node_meta["hwsim_reset"]))
    if "hwsim_sparse" in node_meta:  # to_nir wrote a sparse layer: import it sparse, as it was
        flag = plain(node_meta["hwsim_sparse"])
        if flag not in (0, 1) or isinstance(flag, (str, float)):
            raise MappingError(f"node {key!r} ({t}): metadata hwsim_sparse = {flag!r}; allowed 0 or 1")
        meta["hwsim_sparse"] = bool(flag)
    if "hwsim_layer" in node_meta and "hwsim_layer" not in meta:
        # the layer name to_nir wrote: node names cannot be "input"/"output" or repeat
        meta["hwsim_layer"] = str(plain(node_meta["hwsim_layer"]))
    if "hwsim_shape" in node_meta:  # the (C, H, W) to_nir wrote for a conv/pool layer exported as an Affine
        shape = tuple(int(x) for x in np.asarray(node_meta["hwsim_shape"]).ravel())
        if _flat_size(shape) != m.shape[1]:
            raise MappingError(f"node {key!r} ({t}): metadata hwsim_shape = {list(shape)} holds "
                               f"{_flat_size(shape)} values, the node gives {m.shape[1]}")
    elif t in ("Conv2d", "SumPool2d", "AvgPool2d"):
        shape = tuple(int(x) for x in out_dims)  # (C, H, W): the mapper tiles the layer
    elif t == "Scale":  # a Scale keeps the shape; an Affine/Linear makes the layer flat
        shape = e["shape"]
    else:
        shape = None
    return {
        "terms": terms,
        "b": b if e["b"] is None else e["b"] @ m + b,
        "dims": out_dims,
        "name": e["name"] or key,
        "meta": meta,
        "shape": shape,
        "in_dims": in_dims,
    }


def _layer_from(e: dict, node: dict | None, key: str | None, n: int, k: int) -> dict:
    """Layer ``k`` of the sources in ``e`` (their blocks stacked in order), closed by ``node`` (None: readout)."""
    sources = tuple(e["terms"])
    blocks = [sp.identity(n, format="csr") if mat is None else mat for mat in e["terms"].values()]
    rows = sum(blk.shape[0] for blk in blocks)
    _check_stored_weights(f"node {key!r}", rows, n, sum(blk.nnz for blk in blocks))
    chain = sources == ((k - 1,) if k else (-1,))
    return {
        "node": node,
        "key": key,
        "m": blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr"),
        "b": np.zeros(n) if e["b"] is None else e["b"],
        "name": e["name"],
        "meta": e["meta"],
        "shape": e["shape"],
        "inputs": None if chain else sources,  # a chain layer stays as it always was (no inputs key in files)
    }


def _compose_layers(view: NirView) -> list[dict]:
    """Walk the graph in topological order; compose linear nodes per spike source; a neuron node closes a layer.

    Every node's output is kept as an affine function of the spike sources (``-1`` the network
    input, ``k`` layer ``k``'s spikes): ``{"terms": {source: csr (n_source, n) or None for the
    identity}, "b": (n,) or None, "dims", "name": first linear node, "meta", "shape"}``. A node's
    input is the sum of its predecessors' outputs (:func:`_join`), a linear node multiplies every
    term (:func:`_through_synapse`), a neuron node turns its input into a layer and outputs its
    own spikes ``{k: identity}``. The Output node's input is either one layer's spikes (that
    layer is the output) or anything else, which becomes a membrane-readout layer.

    Returns:
        Per layer ``{"m": csr (n_in, n_out), "b": (n_out,), "name": first linear node, "meta": dict,
        "node": neuron node or None (membrane readout), "key": neuron node name, "shape",
        "inputs": sources or None for the previous layer}``.
    """
    nodes = view.nodes
    order = topological_order(view)
    pred = predecessors(view)
    out: dict[str, dict] = {}
    layers_raw: list[dict] = []
    for key in order:
        node = nodes[key]
        t = node["type"]
        if t == "Input":
            out[key] = _expr({-1: None}, tuple(int(x) for x in np.asarray(_field(node, "shape", ())).ravel()))
            continue
        e = _join(key, [out[p] for p in pred[key]])
        if t in PASS_TYPES:
            if t == "Flatten":
                dims = e["dims"]
                if node.get("input_type") is not None:
                    want = _flat_size(tuple(int(x) for x in np.asarray(node["input_type"]).ravel()))
                    dims = _strip_batch(dims, want, f"node {key!r} (Flatten)")
                e = {**e, "dims": (_flat_size(dims),)}
            out[key] = e
        elif t in SYNAPSE_TYPES:
            out[key] = _through_synapse(node, key, e)
        elif t == "Output":
            want = np.asarray(_field(node, "shape", ())).ravel()
            if want.size:
                _strip_batch(e["dims"], _flat_size(tuple(int(x) for x in want)), f"node {key!r} (Output)")
            one_layer = len(e["terms"]) == 1 and e["b"] is None and next(iter(e["terms"].values())) is None
            (src,) = e["terms"] if one_layer else (None,)
            if one_layer and src == len(layers_raw) - 1:
                continue  # the last layer's spikes (or membranes) are the output
            if not layers_raw and e["name"] is None:
                break  # Input -> Output only: no layer
            for s in e["terms"]:
                if s >= 0 and layers_raw[s]["node"]["type"] not in NEURON_TYPES:
                    raise DRCError(
                        "readout_last_only",
                        f"node {layers_raw[s]['key']!r}",
                        f"a non-spiking {layers_raw[s]['node']['type']} node summed with other inputs of the Output",
                        "membrane readout in the last layer only",
                    )
            layers_raw.append(_layer_from(e, None, e["name"], _flat_size(e["dims"]), len(layers_raw)))
        else:
            # a neuron node closes a layer; sizes of its parameters must match the layer
            dims = e["dims"]
            if any(mat is None for src, mat in e["terms"].items() if src < 0):
                dims = _strip_batch(dims, _neuron_size(node, _flat_size(dims)), f"node {key!r} ({t})")
            n = _flat_size(dims)
            _check_neuron_size(node, key, n)
            layers_raw.append(_layer_from(e, node, key, n, len(layers_raw)))
            out[key] = _expr({len(layers_raw) - 1: None}, dims)
    if not layers_raw:
        raise MappingError("NIR graph has no layer (no linear or neuron node between Input and Output)")
    _check_input_width(layers_raw)
    return layers_raw


def _check_input_width(layers_raw: list[dict]) -> None:
    """Every layer reading the Input reads the same number of values (exporters differ on batch dimensions)."""
    widths = []
    for k, lr in enumerate(layers_raw):
        sources = lr["inputs"] or ((k - 1,) if k else (-1,))
        if -1 in sources:
            others = sum(layers_raw[s]["m"].shape[1] for s in sources if s >= 0)
            widths.append(lr["m"].shape[0] - others)
    if len(set(widths)) > 1:
        raise MappingError(
            f"NIR graph: the layers reading the Input node read {widths} values; expected one input width"
        )


def _quantized_layer(k: int, lr: dict, view: NirView, chip: ChipConfig) -> tuple[Layer, dict]:
    """Layer ``k`` in chip integers (registers from its neuron node, one quantization scale), and its report entry."""
    node = lr["node"]
    regs = neuron_registers(node, view.dt_s, chip.core.v_bits)
    name = lr["meta"].get("hwsim_layer", lr["name"] or lr["key"] or f"layer{k}")
    # sparse: as exported from a sparse layer, or too large to hold dense (a CIFAR-size convolution)
    sparse = bool(lr["meta"].get("hwsim_sparse")) or lr["m"].shape[0] * lr["m"].shape[1] > MAX_ARRAY_ELEMENTS
    # a sparse layer is quantized from its stored weights (the zeros change no scale and round to 0)
    matrix = lr["m"].tocsc() if sparse else None
    w = matrix.data * regs["gain"] if sparse else lr["m"].toarray() * regs["gain"]
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
    layer_reset = view.reset or str(meta.get("hwsim_reset", lr["meta"].get("hwsim_reset", "zero")))
    if abs(regs["decay_chip"] - regs["decay_nir"]) >= DECAY_WARN_DIFFERENCE - 1e-9:
        warnings.warn(
            DRCWarning(
                f"NIR import: layer {k} ({name}), node {lr['key']!r}: decay per step "
                f"{regs['decay_nir']:.4g} (dt/tau = {1 - regs['decay_nir']:.4g}) becomes {regs['decay_chip']:.4g} "
                f"on the chip ({regs['integration']}, leak_shift {regs['leak_shift']}: decays are 1 - 2^-k); "
                "results can differ from the source network"
            ),
            stacklevel=3,
        )
    weights = q["weights"]
    if sparse:
        weights = sp.csc_array((weights, matrix.indices, matrix.indptr), shape=matrix.shape)
    layer = Layer(
        weights=weights,
        bias=q["bias"],
        threshold=q["threshold"],
        leak_shift=regs["leak_shift"],
        integration=regs["integration"],
        reset=layer_reset,
        fire=regs["fire"],
        name=name,
        shape=lr.get("shape"),
        inputs=lr.get("inputs"),
    )
    info = {
        "layer": name,
        "neuron_node": lr["key"] if node is not None else None,
        "neuron_type": node["type"] if node is not None else None,
        "scale": q["scale"],
        "gain": regs["gain"],
        "threshold_nir": regs["threshold"],
        "decay_nir": regs["decay_nir"],
        "decay_chip": regs["decay_chip"],
        "nonzero_synapses": int(np.count_nonzero(q["weights"])),
        "synapses": int(np.prod(weights.shape)),
    }
    return layer, info


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

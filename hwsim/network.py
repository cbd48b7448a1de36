"""Quantized spiking networks: the trained-network file format and a direct simulator.

A :class:`Network` is what training produces and the mapper reads: integer
weights, biases and thresholds already in the chip's fixed-point formats,
plus JSON metadata (scales, provenance). Files are ``.npz`` archives read
with ``allow_pickle=False``; the metadata is JSON. A sparse layer is stored as its CSC arrays
(``weights_k_data``, ``weights_k_indices``, ``weights_k_indptr``, header key ``"weights": "csc"``), each
checked on load (dtypes, lengths, index ranges, ascending rows) before scipy sees it.

:func:`simulate_network` runs a network layer by layer with the neuron
equations of chip-spec §2.2 but without cores, routing or cycles. The mapper
is correct when a mapped program gives the same spikes.
"""

from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hwsim.encoding import as_raster_batch
from hwsim.errors import InputError
from hwsim.metadata import check_metadata
from hwsim.neuron import NeuronFields
from hwsim.writers import atomic_write_bytes
from hwsim.readers import npz_json_header, read_npz, shorten

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "Layer",
    "Network",
    "simulate_network",
    "simulate_network_reference",
    "readout_scores",
    "predict",
    "NetworkFileError",
    "SPARSE_FORMAT",
]

FORMAT = "hwsim-network"
FORMAT_VERSION = 1
#: Keys of one layer in a network file's JSON header (``Layer.header``); ``name``, ``n_in``, ``n_out`` optional
#: (required with ``weights``, which is written only for a sparse layer).
_LAYER_HEADER_KEYS = ("name", "n_in", "n_out", "threshold", "leak_shift", "integration", "reset", "fire", "shape",
                      "inputs", "weights")
#: The one sparse weight layout: compressed sparse columns (a core holds a range of neurons = columns, so
#: a tile's weights are a contiguous slice of ``indptr``). Files store its three arrays ``weights_{k}_data``,
#: ``weights_{k}_indices``, ``weights_{k}_indptr``.
SPARSE_FORMAT = "csc"
_SPARSE_PARTS = ("data", "indices", "indptr")
_LAYER_REQUIRED_KEYS = ("threshold", "leak_shift", "integration", "reset", "fire")
#: The arrays of a sparse layer that hold one entry per stored weight: limited by MAX_SPARSE_WEIGHTS on load.
_SPARSE_WEIGHT_MEMBERS = re.compile(r"weights_[0-9]+_(data|indices)")


class NetworkFileError(InputError):
    """A network file is missing, corrupt or malformed."""


# Widest registers of any chip (chip-spec §4: w_bits <= 16, v_bits <= 32): a layer outside them fits no chip
# and could overflow the int64/float64 arithmetic of simulate_network; each chip's own range is a design rule.
_WEIGHT_RANGE = (-(1 << 15), (1 << 15) - 1)
_VALUE_RANGE = (-(1 << 31), (1 << 31) - 1)
_LEAK_SHIFT_RANGE = (0, 31)


def _whole_number(layer: str, field_name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int; a register takes whole numbers only, so 2.7 or "abc" is an error, not 2."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise InputError(f"layer {layer!r}: {field_name} = {shorten(value)}, expected a whole number in {lo}..{hi}")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise InputError(
            f"layer {layer!r}: {field_name} = {value!r}, expected a whole number (the chip register is an integer)"
        )
    if not lo <= value <= hi:
        raise InputError(
            f"layer {layer!r}: {field_name} = {value!r}, allowed {lo}..{hi} (the widest chip's register)"
        )
    return int(value)


def _layer_shape(layer: str, shape, n_out: int) -> tuple[int, int, int]:
    """``shape`` as three whole numbers >= 1 whose product is ``n_out``, or an InputError naming the layer."""
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise InputError(f"layer {layer!r}: shape = {shorten(shape)}; expected [channels, rows, cols]")
    dims = tuple(_whole_number(layer, "shape", d, 1, n_out) for d in shape)
    if dims[0] * dims[1] * dims[2] != n_out:
        raise InputError(f"layer {layer!r}: shape {list(dims)} holds {dims[0] * dims[1] * dims[2]} neurons "
                         f"but the layer has {n_out}")
    return dims  # type: ignore[return-value]


def _sparse_weights(layer: str, weights) -> sp.csc_array:
    """``weights`` (any ``scipy.sparse`` matrix or array) as a canonical CSC array.

    Canonical: sorted row indices in every column, no duplicates (summed, as scipy does), no stored
    zeros (a zero weight is no synapse, as in a dense layer), int32 indices when they fit.
    """
    if weights.ndim != 2:
        raise InputError(f"layer {layer!r}: weights must be 2-D (n_in, n_out); got {weights.shape}")
    if not np.issubdtype(weights.dtype, np.integer):
        raise InputError(f"layer {layer!r}: weights must be integers; got {weights.dtype}")
    import scipy.sparse as sp

    csc = sp.csc_array(weights)
    if csc.has_canonical_format and csc.data.size and csc.data.all():
        _check_values(layer, "weight", csc.data, *_WEIGHT_RANGE)
        return csc  # already canonical: shared, as a dense layer shares its array (layers are not mutated)
    csc = sp.csc_array(weights, copy=True)
    csc.sum_duplicates()  # also sorts the indices
    _check_values(layer, "weight", csc.data, *_WEIGHT_RANGE)
    csc.eliminate_zeros()
    return csc


def _issparse(weights) -> bool:
    """``scipy.sparse.issparse(weights)``, without importing SciPy (~0.3 s) when it is not loaded yet: no object
    can then be a SciPy sparse array."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(weights)


def _check_values(layer: str, field_name: str, values: np.ndarray, lo: int, hi: int) -> None:
    if values.size and (values.min() < lo or values.max() > hi):
        bad = values.min() if values.min() < lo else values.max()
        raise InputError(f"layer {layer!r}: {field_name} value {bad} out of range, allowed {lo}..{hi} "
                         "(the widest chip's register)")


@dataclass
class Layer(NeuronFields):
    """One fully connected spiking layer in chip integers.

    The neuron registers (``threshold``, ``leak_shift``, ``integration``, ``reset``, ``fire``) are
    :class:`hwsim.neuron.NeuronFields`, keyword-only; ``threshold`` may be any value of the widest
    chip's register, and only the last layer may have ``fire = False`` (membrane readout).

    Attributes:
        weights: ``(n_in, n_out)`` signed integers; row ``i`` is input ``i``'s weights. Either a NumPy
            array or any ``scipy.sparse`` integer matrix, kept as a canonical CSC array (no stored zeros,
            sorted rows): a CIFAR-size conv layer unrolled densely would have billions of entries, while
            its sparse columns hold only the kernel taps, and a core's share (a range of neurons) is a
            contiguous column slice. Simulation, mapping and files give the same results either way.
        bias: ``(n_out,)`` signed integers, added every timestep.
        name: Layer name.
        shape: The output's ``(channels, rows, cols)`` when the layer is a convolution or a pooling
            (neuron ``(c, y, x)`` is number ``(c * rows + y) * cols + x``, C-order, as ``torch.flatten``);
            None for a flat layer. The mapper tiles shaped layers spatially (receptive-field routing).
        inputs: Where the layer's inputs come from, for branching and residual graphs: the sources'
            outputs concatenated in this order, ``-1`` for the network input and ``k`` for layer ``k``'s
            spikes (an earlier layer only, so the graph is feed-forward). A residual add
            ``W_a x_a + W_b x_b`` is one layer with ``inputs = (a, b)`` and weights ``[W_a; W_b]``.
            None (the default) means the previous layer, or the network input for layer 0.
    """

    weights: np.ndarray
    bias: np.ndarray
    name: str = ""
    shape: tuple[int, int, int] | None = None
    inputs: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if _issparse(self.weights):
            self.weights = _sparse_weights(self.name, self.weights)
        else:
            self.weights = np.asarray(self.weights)
            if self.weights.ndim != 2:
                raise InputError(f"layer {self.name!r}: weights must be 2-D (n_in, n_out); got {self.weights.shape}")
            if not np.issubdtype(self.weights.dtype, np.integer):
                raise InputError(f"layer {self.name!r}: weights must be integers; got {self.weights.dtype}")
            _check_values(self.name, "weight", self.weights, *_WEIGHT_RANGE)
        self.bias = np.asarray(self.bias)
        if self.bias.shape != (self.weights.shape[1],):
            raise InputError(
                f"layer {self.name!r}: bias shape {self.bias.shape} does not match {self.weights.shape[1]} neurons"
            )
        if not np.issubdtype(self.bias.dtype, np.integer):
            raise InputError(f"layer {self.name!r}: bias must be integers; got {self.bias.dtype}")
        _check_values(self.name, "bias", self.bias, *_VALUE_RANGE)
        self._check_modes(f"layer {self.name!r}", InputError)
        self.threshold = _whole_number(self.name, "threshold", self.threshold, *_VALUE_RANGE)
        self.leak_shift = _whole_number(self.name, "leak_shift", self.leak_shift, *_LEAK_SHIFT_RANGE)
        if self.shape is not None:
            self.shape = _layer_shape(self.name, self.shape, self.n_out)
        if self.inputs is not None:
            if not isinstance(self.inputs, (list, tuple)) or not self.inputs:
                raise InputError(f"layer {self.name!r}: inputs = {shorten(self.inputs)}; expected a non-empty "
                                 "list of source layers (-1 for the network input)")
            self.inputs = tuple(_whole_number(self.name, "inputs", k, -1, 2**31 - 1) for k in self.inputs)

    @property
    def is_sparse(self) -> bool:
        """True when ``weights`` is a ``scipy.sparse`` CSC array (conv layers too large to unroll densely)."""
        return _issparse(self.weights)

    def nonzero_rows(self, lo: int, hi: int) -> np.ndarray:
        """Ascending inputs with a nonzero weight into neurons ``lo .. hi-1`` (their receptive field).

        Reads only those columns, so a sparse layer is never densified.
        """
        w = self.weights
        if self.is_sparse:
            return np.unique(w.indices[w.indptr[lo] : w.indptr[hi]]).astype(np.int64)
        return np.flatnonzero((w[:, lo:hi] != 0).any(axis=1))

    def weight_block(self, rows: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Dense ``(len(rows), hi - lo)`` weights of inputs ``rows`` into neurons ``lo .. hi-1`` (one core's share)."""
        w = self.weights
        if not self.is_sparse:
            return w[rows, lo:hi]
        rows = np.asarray(rows, dtype=np.int64)
        sub = w[:, lo:hi]
        if np.unique(rows).size != rows.size:  # a repeated input (never from the mapper): rows of the dense slice
            return sub.toarray()[rows]
        sorter = np.argsort(rows, kind="stable")
        found = np.searchsorted(rows, sub.indices, sorter=sorter)
        found = np.minimum(found, max(rows.size - 1, 0))
        hit = rows[sorter[found]] == sub.indices if rows.size else np.zeros(sub.indices.size, bool)
        out = np.zeros((rows.size, hi - lo), dtype=w.dtype)
        cols = np.repeat(np.arange(hi - lo), np.diff(sub.indptr))
        out[sorter[found[hit]], cols[hit]] = sub.data[hit]
        return out

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[1])

    def header(self) -> dict:
        shape = {} if self.shape is None else {"shape": list(self.shape)}
        inputs = {} if self.inputs is None else {"inputs": list(self.inputs)}
        sparse = {"weights": SPARSE_FORMAT} if self.is_sparse else {}  # dense headers keep their bytes
        return {
            "name": self.name,
            "n_in": self.n_in,
            "n_out": self.n_out,
            **self.neuron_header(),
            **shape,
            **inputs,
            **sparse,
        }


@dataclass
class Network:
    """A feed-forward graph of quantized spiking layers: a stack, or a DAG with branches and residual adds.

    Attributes:
        layers: Layers in order; layer ``k`` reads layer ``k-1``'s spikes unless its ``inputs`` name
            other sources (earlier layers or the network input). The last layer is the output.
        metadata: JSON data: ``w_bits``, ``v_bits``, per-layer ``scales``,
            ``timesteps``, ``encoding``, ``dataset``, training ``provenance``.
    """

    layers: list[Layer]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise InputError("a network needs at least one layer")
        if self.layers[0].inputs not in (None, (-1,)):
            raise InputError(f"layer {self.layers[0].name!r} (the first) can only read the network input; "
                             f"got inputs = {list(self.layers[0].inputs)}")
        for k, nxt in enumerate(self.layers[1:], start=1):
            sources = self.sources(k)
            late = [s for s in sources if s >= k]
            if late or len(set(sources)) != len(sources):
                why = (f"layer {late[0]} is not earlier (layers read earlier layers only: a cycle would make "
                       "the network recurrent, which the chip does not run)") if late else "a source is repeated"
                raise InputError(f"layer {nxt.name!r} (number {k}): inputs = {list(sources)}: {why}")
            width = sum(self.layers[s].n_out for s in sources if s >= 0) + (self.n_inputs if -1 in sources else 0)
            if width != nxt.n_in:
                names = ", ".join("input" if s < 0 else repr(self.layers[s].name) for s in sources)
                raise InputError(
                    f"layer {nxt.name!r} has {nxt.n_in} inputs but its sources ({names}) give {width}"
                )
        if any(not layer.fire for layer in self.layers[:-1]):
            raise InputError("only the last layer may be a membrane-readout (fire = False) layer")
        check_metadata(self.metadata, InputError, n_inputs=self.n_inputs, n_outputs=self.n_outputs)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def sources(self, k: int) -> tuple[int, ...]:
        """Layer ``k``'s sources, in the order its inputs are concatenated (``-1`` is the network input)."""
        inputs = self.layers[k].inputs
        return inputs if inputs is not None else (k - 1,)

    @property
    def is_chain(self) -> bool:
        """True when every layer reads only the layer before it (or the input, for layer 0)."""
        return all(self.sources(k) == (k - 1,) for k in range(len(self.layers)))

    def layer_input(self, k: int, spikes_in: np.ndarray, outputs: list[np.ndarray]) -> np.ndarray:
        """Layer ``k``'s input spikes ``(B, T, n_in)``: its sources' outputs concatenated in order."""
        parts = [spikes_in if s < 0 else outputs[s] for s in self.sources(k)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def sizes(self) -> list[int]:
        return [self.n_inputs] + [layer.n_out for layer in self.layers]

    @property
    def readout(self) -> str:
        return "spike_count" if self.layers[-1].fire else "membrane"

    def save(self, path: str | Path) -> Path:
        """Write atomically as ``.npz`` (arrays) with a JSON header."""
        header = {"format": FORMAT, "version": FORMAT_VERSION, "layers": [layer.header() for layer in self.layers],
                  "metadata": self.metadata}
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
        for k, layer in enumerate(self.layers):
            if layer.is_sparse:
                for part in _SPARSE_PARTS:
                    arrays[f"weights_{k}_{part}"] = getattr(layer.weights, part)
            else:
                arrays[f"weights_{k}"] = layer.weights
            arrays[f"bias_{k}"] = layer.bias
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        path = Path(path)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network file; never executes anything from it.

        Every array is checked from its ``.npy`` header before it is read, and the JSON header
        field by field (:func:`hwsim.readers.read_npz`, :func:`hwsim.metadata.check_metadata`).

        Raises:
            NetworkFileError: missing file, not a network, or inconsistent contents; the message
                names the field, the value and what is allowed.
        """
        path = Path(path)
        what = "hwsim network file"
        arrays = read_npz(
            path, what, NetworkFileError, missing_hint=" (train one with 'hwsim train')",
            format_hint=" (a NIR graph: read it with mapping.load_network)" if path.suffix == ".nir" else "",
            large_members=_SPARSE_WEIGHT_MEMBERS,
        )
        header = npz_json_header(arrays, path, what, NetworkFileError)
        if header.get("format") != FORMAT:
            raise NetworkFileError(
                f"{path}: not a hwsim network file: format = {shorten(header.get('format'))}; expected {FORMAT!r}"
            )
        if header.get("version") != FORMAT_VERSION:
            raise NetworkFileError(
                f"{path}: network format version {shorten(header.get('version'))}, this hwsim reads {FORMAT_VERSION}"
            )
        layer_headers = header.get("layers")
        if not isinstance(layer_headers, list) or not layer_headers:
            raise NetworkFileError(
                f"{path}: layers = {shorten(layer_headers)}; expected a non-empty list of layer objects"
            )
        try:
            layers = [_layer_from_header(k, h, arrays) for k, h in enumerate(layer_headers)]
            metadata = header.get("metadata", {})
            if not isinstance(metadata, dict):
                raise NetworkFileError(f"metadata is a {type(metadata).__name__}, expected a JSON object")
            return cls(layers=layers, metadata=metadata)
        except InputError as exc:  # NetworkFileError included: name the file
            raise NetworkFileError(f"{path}: {exc}") from None


def _layer_from_header(k: int, h: object, arrays: dict[str, np.ndarray]) -> Layer:
    """Layer ``k`` of a network file from its header object and its two arrays."""
    if not isinstance(h, dict):
        raise NetworkFileError(f"layer {k} is a JSON {type(h).__name__} ({shorten(h)}); expected a layer object")
    unknown = sorted(set(h) - set(_LAYER_HEADER_KEYS))
    if unknown:
        raise NetworkFileError(
            f"layer {k}: unknown key(s) {', '.join(map(str, unknown))}; allowed {', '.join(_LAYER_HEADER_KEYS)}"
        )
    sparse = "weights" in h
    if sparse and h["weights"] != SPARSE_FORMAT:
        raise NetworkFileError(f"layer {k}: weights = {shorten(h['weights'])}; allowed {SPARSE_FORMAT!r} "
                               "(sparse columns; dense layers have no weights key)")
    weight_arrays = [f"weights_{k}_{part}" for part in _SPARSE_PARTS] if sparse else [f"weights_{k}"]
    missing = [key for key in _LAYER_REQUIRED_KEYS + (("n_in", "n_out") if sparse else ()) if key not in h]
    missing += [f"array {name}" for name in (*weight_arrays, f"bias_{k}") if name not in arrays]
    if missing:
        need = ", ".join(_LAYER_REQUIRED_KEYS + (("n_in", "n_out") if sparse else ()))
        raise NetworkFileError(
            f"layer {k}: missing {', '.join(missing)}; a layer needs {need} and arrays {', '.join(weight_arrays)}, "
            f"bias_{k}"
        )
    name = h.get("name", f"layer{k}")
    if not isinstance(name, str):
        raise NetworkFileError(f"layer {k}: name = {shorten(name)}; expected a string")
    if sparse:
        if f"weights_{k}" in arrays:
            raise NetworkFileError(f"layer {k} ({name!r}): both a dense array weights_{k} and sparse weights; "
                                   "expected one of them")
        weights = _sparse_from_arrays(k, name, h["n_in"], h["n_out"], arrays)
    else:
        weights = arrays[f"weights_{k}"]
    layer = Layer(
        weights=weights,
        bias=arrays[f"bias_{k}"],
        threshold=h["threshold"],
        leak_shift=h["leak_shift"],
        integration=h["integration"],
        reset=h["reset"],
        fire=h["fire"],
        name=name,
        shape=h.get("shape"),
        inputs=h.get("inputs"),
    )
    for key, actual in (("n_in", layer.n_in), ("n_out", layer.n_out)):
        if key in h and h[key] != actual:
            raise NetworkFileError(
                f"layer {k} ({name!r}): {key} = {shorten(h[key])} but weights_{k} has shape {layer.weights.shape}; "
                f"expected {key} = {actual}"
            )
    return layer


def _sparse_from_arrays(k: int, name: str, n_in, n_out, arrays: dict[str, np.ndarray]) -> sp.csc_array:
    """Layer ``k``'s CSC weights from its three arrays, each checked before scipy sees it.

    scipy trusts ``indices`` and ``indptr``: an index out of range or an ``indptr`` that runs backwards
    would read out of bounds or build a wrong matrix, so both are checked here, with the file's words.
    """
    where = f"layer {k} ({name!r})"
    n_in = _whole_number(name, "n_in", n_in, 0, 2**31 - 1)
    n_out = _whole_number(name, "n_out", n_out, 0, 2**31 - 1)
    data, indices, indptr = (arrays[f"weights_{k}_{part}"] for part in _SPARSE_PARTS)
    for part, a in zip(_SPARSE_PARTS, (data, indices, indptr)):
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise NetworkFileError(f"{where}: weights_{k}_{part} has shape {a.shape} and dtype {a.dtype}; "
                                   "expected a 1-D integer array")
    if indices.size != data.size:
        raise NetworkFileError(f"{where}: weights_{k}_indices has {indices.size} entries, weights_{k}_data "
                               f"{data.size}; expected one row index per weight")
    if indptr.size != n_out + 1:
        raise NetworkFileError(f"{where}: weights_{k}_indptr has {indptr.size} entries; expected n_out + 1 = "
                               f"{n_out + 1}")
    steps = np.diff(indptr.astype(np.int64))
    if indptr[0] != 0 or indptr[-1] != data.size or (steps < 0).any():
        raise NetworkFileError(f"{where}: weights_{k}_indptr must rise from 0 to {data.size} (the number of "
                               f"weights) without going down; got {shorten(indptr.tolist())}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_in):
        bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
        raise NetworkFileError(f"{where}: weights_{k}_indices holds row {bad}; allowed 0..{n_in - 1} (n_in = {n_in})")
    rising = np.diff(indices.astype(np.int64)) > 0
    column_starts = indptr[1:-1][(indptr[1:-1] > 0) & (indptr[1:-1] < data.size)] - 1
    rising[column_starts] = True  # a new column may start at any row
    if not rising.all():
        j = int(np.flatnonzero(~rising)[0])
        col = int(np.searchsorted(indptr, j + 1, side="right") - 1)
        raise NetworkFileError(f"{where}: weights_{k}_indices of column {col} are not strictly ascending (row "
                               f"{int(indices[j + 1])} after {int(indices[j])}); each weight once, rows in order")
    index_type = np.int32 if max(n_in, data.size) < 2**31 else np.int64
    import scipy.sparse as sp

    return sp.csc_array((data, indices.astype(index_type, copy=False), indptr.astype(index_type, copy=False)),
                        shape=(n_in, n_out))


def _row_reader(layer: Layer):
    """``a -> `` input ``a``'s weights into every neuron, dense int64 (replaying additions one at a time)."""
    if not layer.is_sparse:
        w = layer.weights.astype(np.int64)
        return lambda a: w[a]
    rows: list = []  # the layer by rows, built on the first replay only (most layers never saturate)

    def row(a: int) -> np.ndarray:
        if not rows:
            import scipy.sparse as sp

            csr = sp.csr_array(layer.weights)
            rows.extend((csr.data.astype(np.int64), csr.indices, csr.indptr))
        data, indices, indptr = rows
        out = np.zeros(layer.n_out, np.int64)
        out[indices[indptr[a] : indptr[a + 1]]] = data[indptr[a] : indptr[a + 1]]
        return out

    return row


def _signed_parts(layer: Layer):
    """``(positive, negative)`` float64 weights for the batch products (a sparse layer stays sparse)."""
    if not layer.is_sparse:
        w = layer.weights.astype(np.int64)
        return np.maximum(w, 0).astype(np.float64), np.minimum(w, 0).astype(np.float64)
    parts = []
    for clip in (np.maximum, np.minimum):
        part = layer.weights.astype(np.float64)
        part.data = clip(part.data, 0)
        parts.append(part)
    return tuple(parts)


def simulate_network(network: Network, rasters: np.ndarray, v_bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Direct layer-by-layer simulation of chip-spec §2.2 (no cores, no cycles).

    Exact chip neuron semantics, including saturation after every single
    addition in ascending axon order. The batch is processed with matrix
    products: for each image and timestep the sums of the positive and of
    the negative weights of the spiking axons bound every partial sum, so when
    ``v_start + positive <= max`` and ``v_start + negative >= min`` no addition
    can saturate and the plain sum is the chip's result. Only the (image,
    timestep) pairs that could saturate are replayed one addition at a time.
    :func:`simulate_network_reference` is the plain loop; the two are tested
    to agree bit for bit.

    Args:
        network: The quantized network.
        rasters: ``(T, n_inputs)`` or ``(B, T, n_inputs)`` binary input spikes.
        v_bits: Membrane width of the target chip.

    Returns:
        Per layer, a pair ``(membranes, spikes)``: ``(B, T, n_out)`` int32
        end-of-timestep membranes and ``(B, T, n_out)`` uint8 spikes.
    """
    batch = as_raster_batch(rasters, network.n_inputs)
    B, T, _ = batch.shape
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    results = []
    for k, layer in enumerate(network.layers):
        spikes_in = network.layer_input(k, batch, [spikes for _, spikes in results])
        row = _row_reader(layer)
        # float64 products of 0/1 spikes with integer weights are exact (|sums| << 2**53)
        w_pos, w_neg = _signed_parts(layer)
        bias = layer.bias.astype(np.int64)
        mem = np.zeros((B, T, layer.n_out), np.int32)
        out = np.zeros((B, T, layer.n_out), np.uint8)
        v = np.zeros((B, layer.n_out), np.int64)
        for t in range(T):
            if layer.integration == "discontinuous":
                v[:] = 0
            s = spikes_in[:, t, :]
            sf = s.astype(np.float64)
            pos = (sf @ w_pos).astype(np.int64)
            neg = (sf @ w_neg).astype(np.int64)
            safe = np.all((v + pos <= hi) & (v + neg >= lo), axis=1)
            v_new = v + pos + neg
            for b in np.flatnonzero(~safe):  # rare: replay the adds in ascending axon order
                vb = v[b].copy()
                for a in np.flatnonzero(s[b]):
                    vb = np.clip(vb + row(a), lo, hi)  # saturate after every add
                v_new[b] = vb
            v = np.clip(v_new + bias, lo, hi)
            if layer.leak_shift:
                v = v - (v >> layer.leak_shift)  # numpy >> on int64 is arithmetic
            if layer.fire:
                fired = v >= layer.threshold
                v = np.where(fired, v - layer.threshold if layer.reset == "subtract" else 0, v)
            else:
                fired = np.zeros(v.shape, bool)
            mem[:, t] = v
            out[:, t] = fired
        results.append((mem, out))
    return results


def simulate_network_reference(
    network: Network, rasters: np.ndarray, v_bits: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Slow twin of :func:`simulate_network`: one image, one timestep, one addition at a time."""
    batch = as_raster_batch(rasters, network.n_inputs)
    B, T, _ = batch.shape
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    results = []
    for k, layer in enumerate(network.layers):
        spikes_in = network.layer_input(k, batch, [spikes for _, spikes in results])
        row = _row_reader(layer)
        mem = np.zeros((B, T, layer.n_out), np.int32)
        out = np.zeros((B, T, layer.n_out), np.uint8)
        for b in range(B):
            v = np.zeros(layer.n_out, np.int64)
            for t in range(T):
                if layer.integration == "discontinuous":
                    v[:] = 0
                for a in np.flatnonzero(spikes_in[b, t]):  # ascending axon order
                    v = np.clip(v + row(a), lo, hi)  # saturate after every add
                v = np.clip(v + layer.bias, lo, hi)
                if layer.leak_shift:
                    v = v - (v >> layer.leak_shift)  # numpy >> on int64 is arithmetic
                fired = (v >= layer.threshold) if layer.fire else np.zeros(layer.n_out, bool)
                if layer.reset == "subtract":
                    v = np.where(fired, v - layer.threshold, v)
                else:
                    v = np.where(fired, 0, v)
                mem[b, t] = v
                out[b, t] = fired
        results.append((mem, out))
    return results


def readout_scores(network: Network, results: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Host-side output decoding (chip-spec §2.3): ``(B, n_outputs)`` int64 scores.

    Spike counts summed over timesteps for a spiking output layer; the sum of
    the end-of-timestep membranes for a membrane-readout (``fire = False``) layer.
    """
    mem, spikes = results[-1]
    if network.layers[-1].fire:
        return spikes.sum(axis=1, dtype=np.int64)
    return mem.sum(axis=1, dtype=np.int64)


def predict(network: Network, rasters: np.ndarray, v_bits: int) -> np.ndarray:
    """Predicted class per image: argmax of :func:`readout_scores`, ties to the lowest index."""
    return np.argmax(readout_scores(network, simulate_network(network, rasters, v_bits)), axis=1)

"""Quantized spiking networks: the trained-network file format and a direct simulator.

A :class:`Network` is what training produces and the mapper reads: integer
weights, biases and thresholds already in the chip's fixed-point formats,
plus JSON metadata (scales, provenance). Files are ``.npz`` archives read
with ``allow_pickle=False``; the metadata is JSON.

:func:`simulate_network` runs a network layer by layer with the neuron
equations of chip-spec §2.2 but without cores, routing or cycles. The mapper
is correct when a mapped program gives the same spikes.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwsim.encoding import as_raster_batch
from hwsim.errors import InputError
from hwsim.program import INTEGRATION_MODES, RESET_MODES, atomic_write_bytes

__all__ = [
    "Layer",
    "Network",
    "simulate_network",
    "simulate_network_reference",
    "readout_scores",
    "predict",
    "NetworkFileError",
]

FORMAT = "hwsim-network"
FORMAT_VERSION = 1


class NetworkFileError(InputError):
    """A network file is missing, corrupt or malformed."""


def _whole_number(layer: str, field_name: str, value) -> int:
    """``value`` as an int; a register takes whole numbers only, so 2.7 or "abc" is an error, not 2."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise InputError(f"layer {layer!r}: {field_name} = {value!r}, expected a whole number")
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise InputError(f"layer {layer!r}: {field_name} = {value!r}, expected a whole number (the chip register is an integer)")
    return int(value)


@dataclass
class Layer:
    """One fully connected spiking layer in chip integers.

    Attributes:
        weights: ``(n_in, n_out)`` signed integers; row ``i`` is input ``i``'s weights.
        bias: ``(n_out,)`` signed integers, added every timestep.
        threshold: Firing threshold (integer, >= 0).
        leak_shift: ``v -= v >> leak_shift`` per timestep; 0 = no leak.
        integration: ``"discontinuous"`` or ``"continuous"``.
        reset: ``"subtract"`` or ``"zero"``.
        fire: True for spiking neurons; False for a membrane-readout output layer.
        name: Layer name.
    """

    weights: np.ndarray
    bias: np.ndarray
    threshold: int
    leak_shift: int = 0
    integration: str = "discontinuous"
    reset: str = "subtract"
    fire: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights)
        self.bias = np.asarray(self.bias)
        if self.weights.ndim != 2:
            raise InputError(f"layer {self.name!r}: weights must be 2-D (n_in, n_out); got {self.weights.shape}")
        if not np.issubdtype(self.weights.dtype, np.integer):
            raise InputError(f"layer {self.name!r}: weights must be integers; got {self.weights.dtype}")
        if self.bias.shape != (self.weights.shape[1],):
            raise InputError(
                f"layer {self.name!r}: bias shape {self.bias.shape} does not match {self.weights.shape[1]} neurons"
            )
        if not np.issubdtype(self.bias.dtype, np.integer):
            raise InputError(f"layer {self.name!r}: bias must be integers; got {self.bias.dtype}")
        if self.integration not in INTEGRATION_MODES:
            raise InputError(f"layer {self.name!r}: integration = {self.integration!r}, allowed {INTEGRATION_MODES}")
        if self.reset not in RESET_MODES:
            raise InputError(f"layer {self.name!r}: reset = {self.reset!r}, allowed {RESET_MODES}")
        self.threshold = _whole_number(self.name, "threshold", self.threshold)
        self.leak_shift = _whole_number(self.name, "leak_shift", self.leak_shift)
        if not isinstance(self.fire, (bool, np.bool_)):
            raise InputError(f"layer {self.name!r}: fire = {self.fire!r}, allowed True (spiking) or False (membrane readout)")
        self.fire = bool(self.fire)

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[1])

    def header(self) -> dict:
        return {
            "name": self.name,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "threshold": self.threshold,
            "leak_shift": self.leak_shift,
            "integration": self.integration,
            "reset": self.reset,
            "fire": self.fire,
        }


@dataclass
class Network:
    """A feed-forward stack of quantized spiking layers.

    Attributes:
        layers: Layers in order; layer ``k`` reads layer ``k-1``'s spikes.
        metadata: JSON data: ``w_bits``, ``v_bits``, per-layer ``scales``,
            ``timesteps``, ``encoding``, ``dataset``, training ``provenance``.
    """

    layers: list[Layer]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.layers:
            raise InputError("a network needs at least one layer")
        for prev, nxt in zip(self.layers, self.layers[1:]):
            if prev.n_out != nxt.n_in:
                raise InputError(
                    f"layer {nxt.name!r} has {nxt.n_in} inputs but layer {prev.name!r} has {prev.n_out} outputs"
                )
        if any(not layer.fire for layer in self.layers[:-1]):
            raise InputError("only the last layer may be a membrane-readout (fire = False) layer")

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

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
        header = {"format": FORMAT, "version": FORMAT_VERSION, "layers": [l.header() for l in self.layers],
                  "metadata": self.metadata}
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
        for k, layer in enumerate(self.layers):
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

        Raises:
            NetworkFileError: missing file, not a network, or inconsistent contents.
        """
        path = Path(path)
        if not path.exists():
            raise NetworkFileError(f"network file {str(path)!r} does not exist (train one with 'hwsim train')")
        if path.is_file() and not zipfile.is_zipfile(path):
            # np.load would take any other file for a pickle and say so, which misleads
            hint = " (a NIR graph: read it with mapping.load_network)" if path.suffix == ".nir" else ""
            raise NetworkFileError(f"{path}: not a hwsim network file: expected an .npz archive{hint}")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                arrays = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, OSError, KeyError, ValueError, UnicodeDecodeError) as exc:
            raise NetworkFileError(f"{path}: not a hwsim network file ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise NetworkFileError(f"{path}: not a hwsim network file (no '{FORMAT}' header)")
        if header.get("version") != FORMAT_VERSION:
            raise NetworkFileError(
                f"{path}: network format version {header.get('version')}, this hwsim reads {FORMAT_VERSION}"
            )
        try:
            layers = [
                Layer(
                    weights=arrays[f"weights_{k}"],
                    bias=arrays[f"bias_{k}"],
                    threshold=h["threshold"],
                    leak_shift=h["leak_shift"],
                    integration=h["integration"],
                    reset=h["reset"],
                    fire=h["fire"],
                    name=h.get("name", f"layer{k}"),
                )
                for k, h in enumerate(header["layers"])
            ]
            metadata = header.get("metadata", {})
            if not isinstance(metadata, dict):
                raise NetworkFileError(f"{path}: metadata is a {type(metadata).__name__}, expected a JSON object")
            return cls(layers=layers, metadata=metadata)
        except KeyError as exc:
            raise NetworkFileError(f"{path}: missing entry {exc}") from None
        except (TypeError, AttributeError) as exc:
            raise NetworkFileError(f"{path}: malformed network header ({exc})") from None
        except NetworkFileError:
            raise
        except InputError as exc:
            raise NetworkFileError(f"{path}: {exc}") from None


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
    spikes_in = batch
    for layer in network.layers:
        w = layer.weights.astype(np.int64)
        # float64 products of 0/1 spikes with integer weights are exact (|sums| << 2**53)
        w_pos = np.maximum(w, 0).astype(np.float64)
        w_neg = np.minimum(w, 0).astype(np.float64)
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
                    vb = np.clip(vb + w[a], lo, hi)  # saturate after every add
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
        spikes_in = out
    return results


def simulate_network_reference(network: Network, rasters: np.ndarray, v_bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Slow twin of :func:`simulate_network`: one image, one timestep, one addition at a time."""
    batch = as_raster_batch(rasters, network.n_inputs)
    B, T, _ = batch.shape
    lo, hi = -(1 << (v_bits - 1)), (1 << (v_bits - 1)) - 1
    results = []
    spikes_in = batch
    for layer in network.layers:
        w = layer.weights.astype(np.int64)
        mem = np.zeros((B, T, layer.n_out), np.int32)
        out = np.zeros((B, T, layer.n_out), np.uint8)
        for b in range(B):
            v = np.zeros(layer.n_out, np.int64)
            for t in range(T):
                if layer.integration == "discontinuous":
                    v[:] = 0
                for a in np.flatnonzero(spikes_in[b, t]):  # ascending axon order
                    v = np.clip(v + w[a], lo, hi)  # saturate after every add
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
        spikes_in = out
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

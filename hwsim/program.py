"""Chip programs: what is loaded into a chip (chip-spec §6).

A :class:`ChipProgram` holds, for every used core, its registers, weights,
biases, stage and routing table, plus the host routing table. It is plain
data: the mapper produces it, the golden model, the engine and the RTL
testbench consume it. Files are ``.npz`` archives read with
``allow_pickle=False`` plus a JSON header; nothing in a file is executed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwsim.config import ChipConfig
from hwsim.errors import HwsimError, ProgramError
from hwsim.metadata import check_metadata
from hwsim.neuron import NeuronFields
from hwsim.readers import npz_json_header, read_npz, shorten
from hwsim.writers import atomic_write_bytes

__all__ = [
    "Route",
    "CoreProgram",
    "ChipProgram",
]

FORMAT_VERSION = 1
#: Keys of one core in a saved program's JSON header (``CoreProgram.header``).
_CORE_HEADER_KEYS = ("core", "stage", "threshold", "leak_shift", "integration", "reset", "fire", "routes",
                     "output_offset", "label", "psum_out")
#: Optional core header keys: ``label``, and ``psum_out``, written only when true so that programs
#: without partial sums keep their bytes.
_CORE_OPTIONAL_KEYS = ("label", "psum_out")
#: Top-level keys of a saved program's JSON header (``ChipProgram.header``); ``metadata`` is optional.
_PROGRAM_HEADER_KEYS = ("format", "version", "chip", "n_inputs", "host_routes", "cores", "metadata")
#: Keys of one routing-table entry (``Route.to_dict``), in field order.
_ROUTE_KEYS = ("dest_core", "src_lo", "src_hi", "axon_offset")


@dataclass(frozen=True)
class Route:
    """One routing-table entry: sources ``src_lo..src_hi-1`` go to ``dest_core``.

    Source ``j`` (a local neuron, or an input index for the host table) is
    delivered to axon ``axon_offset + (j - src_lo)`` of ``dest_core``.
    """

    dest_core: int
    src_lo: int
    src_hi: int
    axon_offset: int

    def to_dict(self) -> dict:
        return {
            "dest_core": self.dest_core,
            "src_lo": self.src_lo,
            "src_hi": self.src_hi,
            "axon_offset": self.axon_offset,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Route:
        """The inverse of :meth:`to_dict`; whole numbers >= 0 only (2.5 or "3" is an error, not 2 or 3).

        Raises:
            ProgramError: naming the key, the value and what is allowed.
        """
        return _routes("route", [data])[0]


@dataclass
class CoreProgram(NeuronFields):
    """Registers and memories of one core (chip-spec §2.1).

    The neuron registers (``threshold`` in ``0 .. 2^(v_bits-1)-1``, ``leak_shift``, ``integration``,
    ``reset``, ``fire``) are :class:`hwsim.neuron.NeuronFields`, keyword-only.

    Attributes:
        core: Core index on the mesh (row-major).
        stage: Depth in the feed-forward network; 0 receives from the host.
        weights: ``(n_axons, n_neurons)`` signed weights.
        bias: ``(n_neurons,)`` signed biases, added every timestep.
        routes: Routing table; empty for an output core.
        output_offset: For an output core, global output index of its neuron 0.
        label: Free text, e.g. the layer this core holds.
        psum_out: A partial-sum core (chip-spec §1.3): sends its nonzero membranes as partial-sum
            packets instead of spikes; its routes' destination indices are neurons, not axons.
    """

    core: int
    stage: int
    weights: np.ndarray
    bias: np.ndarray
    routes: tuple[Route, ...] = ()
    output_offset: int | None = None
    label: str = ""
    psum_out: bool = False

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights)
        self.bias = np.asarray(self.bias)
        self.routes = tuple(self.routes)

    @property
    def n_axons(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.weights.shape[1])

    @property
    def is_output(self) -> bool:
        return not self.routes

    def header(self) -> dict:
        return {
            "core": self.core,
            "stage": self.stage,
            **self.neuron_header(),
            "routes": [r.to_dict() for r in self.routes],
            "output_offset": self.output_offset,
            "label": self.label,
            **({"psum_out": True} if self.psum_out else {}),
        }


@dataclass
class ChipProgram:
    """Everything loaded into a chip to run one network.

    Attributes:
        chip: The chip this program is for.
        cores: One entry per used core, in any order; ``cores[k].core`` is the mesh index.
        host_routes: Routing table of the host port (input index -> axons).
        n_inputs: Number of network inputs (columns of an input raster).
        metadata: Free JSON-serialisable data (network name, mapping info).
    """

    chip: ChipConfig
    cores: tuple[CoreProgram, ...]
    host_routes: tuple[Route, ...]
    n_inputs: int
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cores = tuple(self.cores)
        self.host_routes = tuple(self.host_routes)

    # ------------------------------------------------------------------ derived
    @property
    def output_cores(self) -> list[CoreProgram]:
        return [c for c in self.cores if c.is_output]

    @property
    def n_outputs(self) -> int:
        return sum(c.n_neurons for c in self.output_cores)

    @property
    def n_stages(self) -> int:
        return 1 + max(c.stage for c in self.cores)

    @property
    def readout(self) -> str:
        """``"spike_count"`` or ``"membrane"`` (chip-spec §2.3)."""
        return "spike_count" if self.output_cores[0].fire else "membrane"

    def psum_receivers(self) -> frozenset[int]:
        """Mesh indices of the partial-sum receivers (chip-spec §1.3): cores a ``psum_out`` core routes to."""
        return frozenset(r.dest_core for c in self.cores if c.psum_out for r in c.routes)

    def index_of(self, core: int) -> int:
        """Position in :attr:`cores` of mesh core ``core``."""
        for k, c in enumerate(self.cores):
            if c.core == core:
                return k
        raise ProgramError(f"core {core} holds no program")

    # --------------------------------------------------------------- validation
    def validate(self) -> ChipProgram:
        """Check every rule of chip-spec §6; return self.

        Raises:
            ProgramError: naming the core, the field, the value and what is allowed.
        """
        chip, cc = self.chip, self.chip.core
        if not self.cores:
            raise ProgramError("program has no cores")
        if not isinstance(self.n_inputs, int) or self.n_inputs < 1:
            raise ProgramError(f"n_inputs = {self.n_inputs!r}: expected a positive integer")
        by_core: dict[int, CoreProgram] = {}
        for cp in self.cores:
            where = f"core {cp.core}"
            if not isinstance(cp.core, (int, np.integer)) or not 0 <= cp.core < chip.n_cores:
                raise ProgramError(
                    f"{where}: not on the {chip.mesh_rows}x{chip.mesh_cols} mesh "
                    f"(allowed 0..{chip.n_cores - 1})"
                )
            if cp.core in by_core:
                raise ProgramError(f"{where}: programmed twice")
            by_core[cp.core] = cp
            if isinstance(cp.stage, bool) or not isinstance(cp.stage, (int, np.integer)) or cp.stage < 0:
                raise ProgramError(f"{where}: stage = {cp.stage!r}, expected an integer >= 0")
            w = cp.weights
            if w.ndim != 2:
                raise ProgramError(f"{where}: weights have shape {w.shape}, expected (n_axons, n_neurons)")
            if not np.issubdtype(w.dtype, np.integer):
                raise ProgramError(f"{where}: weights have dtype {w.dtype}, expected integers")
            if not 1 <= w.shape[0] <= cc.axons:
                raise ProgramError(f"{where}: {w.shape[0]} axons in use, the core has 1..{cc.axons}")
            if not 1 <= w.shape[1] <= cc.neurons:
                raise ProgramError(f"{where}: {w.shape[1]} neurons in use, the core has 1..{cc.neurons}")
            if w.size and (w.min() < cc.w_min or w.max() > cc.w_max):
                bad = int(w.min()) if w.min() < cc.w_min else int(w.max())
                raise ProgramError(
                    f"{where}: weight {bad} does not fit w_bits = {cc.w_bits} "
                    f"(allowed {cc.w_min}..{cc.w_max})"
                )
            b = cp.bias
            if b.shape != (cp.n_neurons,):
                raise ProgramError(f"{where}: bias has shape {b.shape}, expected ({cp.n_neurons},)")
            if not np.issubdtype(b.dtype, np.integer):
                raise ProgramError(f"{where}: bias has dtype {b.dtype}, expected integers")
            if b.size and (b.min() < cc.v_min or b.max() > cc.v_max):
                bad = int(b.min()) if b.min() < cc.v_min else int(b.max())
                raise ProgramError(
                    f"{where}: bias {bad} does not fit v_bits = {cc.v_bits} (allowed {cc.v_min}..{cc.v_max})"
                )
            if not isinstance(cp.threshold, (int, np.integer)) or not 0 <= cp.threshold <= cc.v_max:
                raise ProgramError(f"{where}: threshold = {cp.threshold!r}, allowed 0..{cc.v_max}")
            if not isinstance(cp.leak_shift, (int, np.integer)) or not 0 <= cp.leak_shift <= cc.v_bits - 1:
                raise ProgramError(f"{where}: leak_shift = {cp.leak_shift!r}, allowed 0..{cc.v_bits - 1}")
            cp._check_modes(where, ProgramError)
            if not isinstance(cp.psum_out, (bool, np.bool_)):
                raise ProgramError(f"{where}: psum_out = {shorten(cp.psum_out)}, expected true or false")
            if cp.psum_out:
                _check_partial_sum_core(where, cp, chip)
            if cp.is_output and cp.output_offset is None:
                raise ProgramError(f"{where}: output core (no routes) without output_offset")
            if cp.output_offset is not None and (
                isinstance(cp.output_offset, bool) or not isinstance(cp.output_offset, (int, np.integer))
            ):
                raise ProgramError(f"{where}: output_offset = {cp.output_offset!r}, expected an integer >= 0")
        outs = sorted(self.output_cores, key=lambda c: c.output_offset)
        expected = 0
        for cp in outs:
            if cp.output_offset != expected:
                raise ProgramError(
                    f"core {cp.core}: output_offset = {cp.output_offset}, expected {expected} "
                    "(output cores must tile the outputs 0..n_outputs-1 without gaps)"
                )
            expected += cp.n_neurons
        if len({c.fire for c in outs}) > 1:
            raise ProgramError("output cores mix spike-count (fire) and membrane readout")
        incoming: dict[int, list[tuple[int, int, str]]] = {c: [] for c in by_core}
        incoming_psums: dict[int, list[tuple[int, int, str]]] = {c: [] for c in by_core}
        for src_name, src_stage, n_src, routes, psum in [("host", -1, self.n_inputs, self.host_routes, False)] + [
            (f"core {c.core}", c.stage, c.n_neurons, c.routes, bool(c.psum_out)) for c in self.cores
        ]:
            for r in routes:
                where = f"{src_name}: route {r.to_dict()}"
                if r.dest_core not in by_core:
                    raise ProgramError(f"{where}: destination core holds no program")
                dst = by_core[r.dest_core]
                if dst.stage <= src_stage:
                    raise ProgramError(
                        f"{where}: destination stage {dst.stage} must be later than source stage "
                        f"{max(src_stage, 0) if src_stage >= 0 else 'host'} (networks are feed-forward)"
                    )
                if not 0 <= r.src_lo < r.src_hi <= n_src:
                    raise ProgramError(f"{where}: source range must lie in 0..{n_src}")
                lo, hi = r.axon_offset, r.axon_offset + (r.src_hi - r.src_lo)
                if psum:
                    if hi > dst.n_neurons:
                        raise ProgramError(
                            f"{where}: partial sums to neurons {lo}..{hi - 1} exceed the {dst.n_neurons} neurons "
                            f"in use on core {dst.core}"
                        )
                    incoming_psums[r.dest_core].append((lo, hi, src_name))
                    continue
                if r.axon_offset < 0 or hi > dst.n_axons:
                    raise ProgramError(
                        f"{where}: axons {lo}..{hi - 1} exceed the {dst.n_axons} axons in use "
                        f"on core {dst.core}"
                    )
                incoming[r.dest_core].append((lo, hi, src_name))
        for what, table in (("axons", incoming), ("partial sums of neurons", incoming_psums)):
            for core, spans in table.items():
                spans.sort()
                for (_, hi0, s0), (lo1, hi1, s1) in zip(spans, spans[1:]):
                    if lo1 < hi0:
                        raise ProgramError(
                            f"core {core}: {what} {lo1}..{min(hi0, hi1) - 1} are fed by both {s0} and {s1} "
                            "(each takes one source per timestep)"
                        )
        if not self.host_routes:
            raise ProgramError("host routing table is empty: no input reaches the chip")
        return self

    # ------------------------------------------------------------ serialisation
    def header(self) -> dict:
        return {
            "format": "hwsim-chip-program",
            "version": FORMAT_VERSION,
            "chip": self.chip.to_dict(),
            "n_inputs": self.n_inputs,
            "host_routes": [r.to_dict() for r in self.host_routes],
            "cores": [c.header() for c in self.cores],
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> Path:
        """Write the program atomically to ``path`` (a ``.npz`` file)."""
        path = Path(path)
        arrays = {"header": np.frombuffer(json.dumps(self.header()).encode(), dtype=np.uint8)}
        for k, cp in enumerate(self.cores):
            arrays[f"weights_{k}"] = cp.weights
            arrays[f"bias_{k}"] = cp.bias
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ChipProgram:
        """Read a program written by :meth:`save` and validate it; never executes anything from it.

        Every array is checked from its ``.npy`` header before it is read, and the JSON header
        field by field, before :meth:`validate` checks the rules of chip-spec §6.

        Raises:
            ProgramError: the file is missing, not a program, or violates the spec; the message
                names the field, the value and what is allowed.
        """
        path = Path(path)
        what = "hwsim chip program"
        arrays = read_npz(path, what, ProgramError, missing_hint=" (write one with 'hwsim map' or 'hwsim run')")
        header = npz_json_header(arrays, path, what, ProgramError)
        if header.get("format") != "hwsim-chip-program":
            raise ProgramError(
                f"{path}: not a hwsim chip program: format = {shorten(header.get('format'))}; "
                "expected 'hwsim-chip-program'"
            )
        if header.get("version") != FORMAT_VERSION:
            raise ProgramError(
                f"{path}: program format version {shorten(header.get('version'))}, this hwsim reads {FORMAT_VERSION}"
            )
        try:
            return cls._from_header(header, arrays).validate()
        except HwsimError as exc:  # ConfigError of the chip table too: name the file
            raise ProgramError(f"{path}: {exc}") from None

    @classmethod
    def _from_header(cls, header: dict, arrays: dict) -> ChipProgram:
        unknown = sorted(set(header) - set(_PROGRAM_HEADER_KEYS))
        if unknown:
            raise ProgramError(f"unknown header key(s) {', '.join(unknown)}; allowed {', '.join(_PROGRAM_HEADER_KEYS)}")
        missing = [k for k in _PROGRAM_HEADER_KEYS if k not in header and k != "metadata"]
        if missing:
            raise ProgramError(f"header without {', '.join(missing)}; expected keys {', '.join(_PROGRAM_HEADER_KEYS)}")
        chip = ChipConfig.from_dict(header["chip"])
        n_inputs = header["n_inputs"]
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ProgramError(f"n_inputs = {shorten(n_inputs)}: expected a whole number >= 1")
        core_headers = header["cores"]
        if not isinstance(core_headers, list) or not 1 <= len(core_headers) <= chip.n_cores:
            raise ProgramError(
                f"cores = {shorten(core_headers)}: expected a list of 1..{chip.n_cores} core objects "
                "(one per used core)"
            )
        metadata = header.get("metadata", {})
        check_metadata(metadata, ProgramError, what="program metadata")
        cores = [_core_from_header(k, h, arrays) for k, h in enumerate(core_headers)]
        return cls(
            chip=chip,
            cores=tuple(cores),
            host_routes=_routes("host_routes", header["host_routes"]),
            n_inputs=n_inputs,
            metadata=metadata,
        )


def _check_partial_sum_core(where: str, cp: CoreProgram, chip: ChipConfig) -> None:
    """The registers a partial-sum core needs (chip-spec §6), so that its UPDATE leaves its membranes as they are."""
    if not chip.core.partial_sums:
        raise ProgramError(
            f"{where}: psum_out = true but chip {chip.name!r} has no partial sums (core.partial_sums = false); "
            "use a chip with partial sums or keep every layer's fan-in within one core"
        )
    wrong = [
        f"{name} = {shorten(value)} (needs {need})"
        for name, value, ok, need in (
            ("routes", len(cp.routes), bool(cp.routes), "at least one"),
            ("fire", cp.fire, not cp.fire, "false"),
            ("integration", cp.integration, cp.integration == "discontinuous", "'discontinuous'"),
            ("leak_shift", cp.leak_shift, cp.leak_shift == 0, "0"),
            ("bias", int(cp.bias[np.flatnonzero(cp.bias)[0]]) if np.any(cp.bias) else 0, not np.any(cp.bias),
             "all 0"),
        )
        if not ok
    ]
    if wrong:
        raise ProgramError(f"{where}: a partial-sum core (psum_out = true) has " + "; ".join(wrong))


def _whole(where: str, value: object, lo: int, allow_none: bool = False) -> int | None:
    """A whole number >= ``lo`` from a program header (JSON has no other integers; 2.0 and true are refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        extra = " or null" if allow_none else ""
        raise ProgramError(f"{where} = {shorten(value)}: expected a whole number >= {lo}{extra}")
    return value


def _routes(where: str, raw: object) -> tuple[Route, ...]:
    if not isinstance(raw, list):
        raise ProgramError(f"{where} = {shorten(raw)}: expected a list of route objects")
    routes = []
    for j, r in enumerate(raw):
        here = f"{where}[{j}]"
        if not isinstance(r, dict) or set(r) != set(_ROUTE_KEYS):
            raise ProgramError(f"{here} = {shorten(r)}: expected an object with keys {', '.join(_ROUTE_KEYS)}")
        routes.append(Route(*(_whole(f"{here}.{k}", r[k], 0) for k in _ROUTE_KEYS)))
    return tuple(routes)


def _core_from_header(k: int, h: object, arrays: dict) -> CoreProgram:
    """Program core ``k`` from its header object and its two arrays (value ranges: :meth:`ChipProgram.validate`)."""
    if not isinstance(h, dict):
        raise ProgramError(f"core {k} is a JSON {type(h).__name__} ({shorten(h)}); expected a core object")
    unknown = sorted(set(h) - set(_CORE_HEADER_KEYS))
    if unknown:
        raise ProgramError(f"core {k}: unknown keys {unknown}; allowed {', '.join(_CORE_HEADER_KEYS)}")
    missing = [key for key in _CORE_HEADER_KEYS if key not in h and key not in _CORE_OPTIONAL_KEYS]
    missing += [f"array {name}" for name in (f"weights_{k}", f"bias_{k}") if name not in arrays]
    if missing:
        raise ProgramError(
            f"core {k}: missing {', '.join(missing)}; a core needs {', '.join(_CORE_HEADER_KEYS[:-2])} "
            f"and arrays weights_{k}, bias_{k}"
        )
    where = f"core {k}"
    for key in ("integration", "reset", "label"):
        if key in h and not isinstance(h[key], str):
            raise ProgramError(f"{where}: {key} = {shorten(h[key])}; expected a string")
    return CoreProgram(
        core=_whole(f"{where}: core", h["core"], 0),
        stage=_whole(f"{where}: stage", h["stage"], 0),
        weights=arrays[f"weights_{k}"],
        bias=arrays[f"bias_{k}"],
        threshold=_whole(f"{where}: threshold", h["threshold"], 0),
        leak_shift=_whole(f"{where}: leak_shift", h["leak_shift"], 0),
        integration=h["integration"],
        reset=h["reset"],
        fire=h["fire"],
        routes=_routes(f"{where}: routes", h["routes"]),
        output_offset=_whole(f"{where}: output_offset", h["output_offset"], 0, allow_none=True),
        label=h.get("label", ""),
        psum_out=h.get("psum_out", False),
    )

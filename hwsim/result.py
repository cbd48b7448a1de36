"""The result of running a chip program: outputs, cycles and activity counters.

The golden model and the engine return the same :class:`RunResult`, so a
test compares them field by field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "RunResult",
    "COUNTER_NAMES",
    "HOST_COUNTER_NAMES",
    "EXIT_COUNTER_NAMES",
    "NOC_COUNTER_NAMES",
    "LINK_COUNTER_NAMES",
    "decode_predictions",
    "result_bytes",
    "save_chunks",
    "load_chunks",
    "RUN_MARKER",
]

# Per core per timestep (chip-spec §2.5); the last axis of RunResult.counters. "packets" and "hops" count
# spike packets and partial-sum packets (chip-spec §1.3) alike: each is one injection cycle of its sender.
COUNTER_NAMES = (
    "axon_events",
    "sram_word_reads",
    "synaptic_ops",
    "neuron_updates",
    "output_spikes",
    "packets",
    "hops",
    "cycles",
)
HOST_COUNTER_NAMES = ("packets", "hops", "route_cycles")
# Per image per timestep, the exit unit's (chip-spec §1.4); the last axis of RunResult.exit_counters.
EXIT_COUNTER_NAMES = ("cycles", "acc_updates", "multiplies", "lut_reads")
# Per image per timestep, the network-on-chip's (chip-spec §1.5); the last axis of RunResult.noc_counters.
NOC_COUNTER_NAMES = ("route_cycles", "buffer_writes", "stall_cycles")
# Per router output port, summed over the run (mesh NoC only, chip-spec §1.5); the last axis of link_counters.
LINK_COUNTER_NAMES = ("packets", "stall_cycles")


def result_bytes(n_images: int, timesteps: int, n_outputs: int, n_cores: int, recorded_neurons: int = 0) -> int:
    """Bytes the arrays of a :class:`RunResult` take: per image and timestep the outputs (uint8 spikes, int32
    membranes), the int64 counters of every core, the host, NoC and exit-unit counters and the timestep cycles,
    and the int32 membranes and uint8 spikes of ``recorded_neurons`` neurons (``record=True``: every core's).
    Other core types' ``extra`` arrays are not counted."""
    per_step = n_outputs * (1 + 4) + 8 * (
        n_cores * len(COUNTER_NAMES) + len(HOST_COUNTER_NAMES) + 1 + len(NOC_COUNTER_NAMES) + len(EXIT_COUNTER_NAMES)
    )
    return int(n_images) * int(timesteps) * (per_step + (4 + 1) * int(recorded_neurons))


def decode_predictions(readout: str, output_spikes: np.ndarray, output_membranes: np.ndarray) -> np.ndarray:
    """Host-side decoding (chip-spec §2.3): argmax over outputs, ties to the lowest index.

    Args:
        readout: ``"spike_count"`` or ``"membrane"``.
        output_spikes: ``(B, T, n_out)``.
        output_membranes: ``(B, T, n_out)`` end-of-timestep membranes.
    """
    if readout == "spike_count":
        score = output_spikes.astype(np.int64).sum(axis=1)
    else:
        score = output_membranes.astype(np.int64).sum(axis=1)
    return np.argmax(score, axis=1)  # np.argmax returns the first maximum


@dataclass
class RunResult:
    """Outputs and activity of a batch of ``B`` inferences of ``T`` timesteps.

    Attributes:
        output_spikes: ``(B, T, n_outputs)`` uint8, spikes of the output cores.
        output_membranes: ``(B, T, n_outputs)`` int32, their end-of-timestep membranes.
        counters: ``(B, T, n_cores, len(COUNTER_NAMES))`` int64, per program core
            (in ``core_ids`` order) per timestep.
        host_counters: ``(B, T, len(HOST_COUNTER_NAMES))`` int64.
        timestep_cycles: ``(B, T)`` int64, chip cycles of each timestep.
        core_ids: Mesh index of each program core, in counter order.
        readout: ``"spike_count"`` or ``"membrane"``.
        membranes: If recorded, per program core ``(B, T, n_neurons)`` int32.
        core_spikes: If recorded, per program core ``(B, T, n_neurons)`` uint8.
        extra: Per-image arrays of other core types (e.g. the RRAM counters), batch axis first.
        exit_timesteps: ``(B,)`` int64, timesteps run per image (chip-spec §1.4): ``T`` under rule ``none``
            (the default when not given).
        exit_counters: ``(B, T, len(EXIT_COUNTER_NAMES))`` int64, the exit unit's ``cycles``,
            ``acc_updates``, ``multiplies``, ``lut_reads`` (chip-spec §1.4); zeros under rule ``none``
            (the default when not given). Its ``cycles`` are included in ``timestep_cycles``.
        exit_rule: The early-exit rule as written (``"none"``: no exit unit).
        noc_counters: ``(B, T, len(NOC_COUNTER_NAMES))`` int64: the timestep's routing cycles (every routing
            phase, the host's included), router buffer writes and stall cycles (chip-spec §1.5; the last two
            are 0 under the ideal NoC). Every implementation fills it; zeros when not given.
        link_counters: ``(n_routers, 5, len(LINK_COUNTER_NAMES))`` int64 under ``noc = "mesh"``: packets and
            stall cycles of each router output port (local, north, east, south, west), summed over all images
            and the timesteps they ran; None under the ideal NoC, and for a result cut to fewer timesteps after
            it was simulated (:func:`hwsim.exit_unit.apply_exit`), whose per-timestep split is unknown.
    """

    output_spikes: np.ndarray
    output_membranes: np.ndarray
    counters: np.ndarray
    host_counters: np.ndarray
    timestep_cycles: np.ndarray
    core_ids: tuple[int, ...]
    readout: str
    membranes: list[np.ndarray] | None = None
    core_spikes: list[np.ndarray] | None = None
    extra: dict = field(default_factory=dict)
    exit_timesteps: np.ndarray | None = None
    exit_counters: np.ndarray | None = None
    exit_rule: str = "none"
    noc_counters: np.ndarray | None = None
    link_counters: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Without an exit unit every image runs all T timesteps and the unit counts nothing (chip-spec §1.4).
        B, T = self.output_spikes.shape[:2]
        if self.exit_timesteps is None:
            self.exit_timesteps = np.full(B, T, np.int64)
        if self.exit_counters is None:
            self.exit_counters = np.zeros((B, T, len(EXIT_COUNTER_NAMES)), np.int64)
        if self.noc_counters is None:
            self.noc_counters = np.zeros((B, T, len(NOC_COUNTER_NAMES)), np.int64)

    @property
    def batch_size(self) -> int:
        return int(self.output_spikes.shape[0])

    @property
    def timesteps(self) -> int:
        return int(self.output_spikes.shape[1])

    def counter(self, name: str) -> np.ndarray:
        """``(B, T, n_cores)`` values of one counter."""
        if name not in COUNTER_NAMES:
            raise KeyError(f"unknown counter {name!r}; counters: {', '.join(COUNTER_NAMES)}")
        return self.counters[..., COUNTER_NAMES.index(name)]

    def exit_counter(self, name: str) -> np.ndarray:
        """``(B, T)`` values of one exit-unit counter (chip-spec §1.4)."""
        if name not in EXIT_COUNTER_NAMES:
            raise KeyError(f"unknown exit counter {name!r}; exit counters: {', '.join(EXIT_COUNTER_NAMES)}")
        return self.exit_counters[..., EXIT_COUNTER_NAMES.index(name)]

    def noc_counter(self, name: str) -> np.ndarray:
        """``(B, T)`` values of one network-on-chip counter (chip-spec §1.5)."""
        if name not in NOC_COUNTER_NAMES:
            raise KeyError(f"unknown NoC counter {name!r}; NoC counters: {', '.join(NOC_COUNTER_NAMES)}")
        return self.noc_counters[..., NOC_COUNTER_NAMES.index(name)]

    def host_counter(self, name: str) -> np.ndarray:
        """``(B, T)`` values of one host counter."""
        if name not in HOST_COUNTER_NAMES:
            raise KeyError(f"unknown host counter {name!r}; host counters: {', '.join(HOST_COUNTER_NAMES)}")
        return self.host_counters[..., HOST_COUNTER_NAMES.index(name)]

    @property
    def spike_counts(self) -> np.ndarray:
        """``(B, n_outputs)`` output spikes summed over time."""
        return self.output_spikes.astype(np.int64).sum(axis=1)

    @property
    def predictions(self) -> np.ndarray:
        """``(B,)`` predicted class per inference (chip-spec §2.3)."""
        return decode_predictions(self.readout, self.output_spikes, self.output_membranes)

    @property
    def cycles_per_inference(self) -> np.ndarray:
        """``(B,)`` total chip cycles per inference."""
        return self.timestep_cycles.sum(axis=1)

    @staticmethod
    def concatenate(parts: list[RunResult]) -> RunResult:
        """Join results of consecutive batches along the batch axis."""
        first = parts[0]

        def cat(name):
            return np.concatenate([getattr(p, name) for p in parts], axis=0)

        def cat_list(name):
            if getattr(first, name) is None:
                return None
            return [np.concatenate([getattr(p, name)[k] for p in parts], axis=0) for k in range(len(first.core_ids))]

        return RunResult(
            output_spikes=cat("output_spikes"),
            output_membranes=cat("output_membranes"),
            counters=cat("counters"),
            host_counters=cat("host_counters"),
            timestep_cycles=cat("timestep_cycles"),
            core_ids=first.core_ids,
            readout=first.readout,
            membranes=cat_list("membranes"),
            core_spikes=cat_list("core_spikes"),
            # per-image extras of other core types (e.g. the RRAM counters), batch axis first
            extra={k: np.concatenate([p.extra[k] for p in parts], axis=0) for k in first.extra},
            exit_timesteps=cat("exit_timesteps"),
            exit_counters=cat("exit_counters"),
            exit_rule=first.exit_rule,
            noc_counters=cat("noc_counters"),
            # per-link totals add up over the batches; unknown for the whole if unknown for one part (a part cut
            # after the run by an exit rule, hwsim.exit_unit.apply_exit)
            link_counters=None if any(p.link_counters is None for p in parts)
            else sum(p.link_counters for p in parts),
        )

    def to_arrays(self) -> dict:
        """This result as plain data (what a task sends back over the wire, docs/distributed.md): its arrays
        (lists of arrays for ``membranes`` and ``core_spikes``, a dict of arrays for ``extra``), ``core_ids``
        as a list of ints, ``readout`` and ``exit_rule`` as text. :meth:`from_arrays` is the inverse."""
        return {
            "output_spikes": self.output_spikes,
            "output_membranes": self.output_membranes,
            "counters": self.counters,
            "host_counters": self.host_counters,
            "timestep_cycles": self.timestep_cycles,
            "core_ids": [int(c) for c in self.core_ids],
            "readout": str(self.readout),
            "membranes": None if self.membranes is None else list(self.membranes),
            "core_spikes": None if self.core_spikes is None else list(self.core_spikes),
            "extra": dict(self.extra),
            "exit_timesteps": self.exit_timesteps,
            "exit_counters": self.exit_counters,
            "exit_rule": str(self.exit_rule),
            "noc_counters": self.noc_counters,
            "link_counters": self.link_counters,
        }

    @staticmethod
    def from_arrays(data: dict) -> RunResult:
        """The :class:`RunResult` of :meth:`to_arrays`' plain data (the arrays are used as they are)."""
        return RunResult(
            output_spikes=data["output_spikes"],
            output_membranes=data["output_membranes"],
            counters=data["counters"],
            host_counters=data["host_counters"],
            timestep_cycles=data["timestep_cycles"],
            core_ids=tuple(int(c) for c in data["core_ids"]),
            readout=str(data["readout"]),
            membranes=None if data["membranes"] is None else list(data["membranes"]),
            core_spikes=None if data["core_spikes"] is None else list(data["core_spikes"]),
            extra=dict(data["extra"]),
            exit_timesteps=data["exit_timesteps"],
            exit_counters=data["exit_counters"],
            exit_rule=str(data["exit_rule"]),
            noc_counters=data.get("noc_counters"),
            link_counters=data.get("link_counters"),
        )


# ----------------------------------------------------------------- a streamed run on disk

#: The file that marks a folder written by :func:`save_chunks` (format, chunk and image counts).
RUN_MARKER = "run.json"
RUN_FORMAT = "hwsim-run-chunks"
_ARRAY_FIELDS = ("output_spikes", "output_membranes", "counters", "host_counters", "timestep_cycles",
                 "exit_timesteps", "exit_counters", "noc_counters", "link_counters")  # fmt: skip


def save_chunks(chunks: Iterable[RunResult], folder: str | Path) -> Path:
    """Write a run chunk by chunk into ``folder``: ``chunk-000000.npz``, ``chunk-000001.npz``, ... and
    :data:`RUN_MARKER`; :func:`load_chunks` reads them back.

    For runs too large to hold, e.g. ``save_chunks(chip.run_chunks(images, T, record=True), "run")``: one chunk
    is in memory at a time. The folder is written atomically (:func:`hwsim.outdir.atomic_outdir`): it appears
    complete, or not at all (an earlier one is replaced only if it holds :data:`RUN_MARKER`).

    Raises:
        OutputPathError: ``folder`` is a file, or a folder that holds something other than an earlier run.
    """
    from hwsim.outdir import atomic_outdir

    count = images = 0
    with atomic_outdir(folder, RUN_MARKER) as tmp:
        for chunk in chunks:
            np.savez(tmp / f"chunk-{count:06d}.npz", **_flat_arrays(chunk))
            count += 1
            images += chunk.batch_size
        (tmp / RUN_MARKER).write_text(json.dumps({"format": RUN_FORMAT, "chunks": count, "images": images}) + "\n")
    return Path(folder)


def load_chunks(folder: str | Path) -> Iterator[RunResult]:
    """The chunks :func:`save_chunks` wrote into ``folder``, in order, one at a time (``allow_pickle=False``).

    Raises:
        InputError: ``folder`` holds no :data:`RUN_MARKER` of this format, or a chunk is missing or unreadable.
    """
    from hwsim.errors import InputError

    folder = Path(folder)
    try:
        info = json.loads((folder / RUN_MARKER).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{str(folder)!r} holds no readable {RUN_MARKER} (a folder written by save_chunks): {exc}"
        ) from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT or not isinstance(info.get("chunks"), int):
        raise InputError(f"{str(folder / RUN_MARKER)!r} is not a {RUN_FORMAT} file")
    for k in range(info["chunks"]):
        path = folder / f"chunk-{k:06d}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                chunk = _from_flat_arrays({name: data[name] for name in data.files})
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"chunk {str(path)!r} of a saved run is missing or unreadable: {exc}") from None
        yield chunk


def _flat_arrays(result: RunResult) -> dict[str, np.ndarray]:
    """A result as named arrays for an ``.npz`` (no objects: lists and dicts become numbered and dotted names)."""
    out = {name: getattr(result, name) for name in _ARRAY_FIELDS if getattr(result, name) is not None}
    out["core_ids"] = np.array(result.core_ids, np.int64)
    out["readout"], out["exit_rule"] = np.array(result.readout), np.array(result.exit_rule)
    for name in ("membranes", "core_spikes"):
        for k, a in enumerate(getattr(result, name) or []):
            out[f"{name}.{k:04d}"] = a
    for key, a in result.extra.items():
        out[f"extra.{key}"] = np.asarray(a)
    return out


def _from_flat_arrays(data: dict[str, np.ndarray]) -> RunResult:
    def listed(name: str) -> list[np.ndarray] | None:
        keys = sorted(k for k in data if k.startswith(name + "."))
        return [data[k] for k in keys] if keys else None

    return RunResult(
        **{name: data.get(name) for name in _ARRAY_FIELDS},
        core_ids=tuple(int(c) for c in data["core_ids"]),
        readout=str(data["readout"]),
        exit_rule=str(data["exit_rule"]),
        membranes=listed("membranes"),
        core_spikes=listed("core_spikes"),
        extra={k.removeprefix("extra."): a for k, a in data.items() if k.startswith("extra.")},
    )

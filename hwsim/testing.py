"""Random networks, chip programs and rasters for tests, benchmarks and co-simulation, and file surgery for error tests.

Everything random here is drawn from a NumPy ``Generator`` so a seed reproduces it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hwsim.config import ChipConfig, CoreConfig
from hwsim.network import Layer, Network
from hwsim.neuron import INTEGRATION_MODES, RESET_MODES
from hwsim.program import ChipProgram, CoreProgram, Route

__all__ = ["random_network", "random_raster", "random_psum_program", "psum_test_chip", "rewrite_npz_header",
           "rewrite_npz_members", "npy_declaring"]


def random_network(
    rng: np.random.Generator,
    sizes: Sequence[int],
    core: CoreConfig,
    *,
    integration: str = "discontinuous",
    reset: str = "subtract",
    leak_shift: int = 0,
    threshold: int | None = None,
    fire_output: bool = True,
    weight_range: tuple[int, int] | None = None,
    bias_range: tuple[int, int] | None = None,
) -> Network:
    """A feed-forward network ``sizes[0] -> ... -> sizes[-1]`` with random chip integers.

    Weights are uniform over ``weight_range`` (the full ``w_bits`` range by
    default), biases over ``bias_range`` (a small range by default), and the
    threshold, when not given, is drawn so that neurons fire sometimes.
    """
    wlo, whi = weight_range if weight_range is not None else (core.w_min, core.w_max)
    blo, bhi = bias_range if bias_range is not None else (-(1 << (core.w_bits - 2)), 1 << (core.w_bits - 2))
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = k == len(sizes) - 2
        th = threshold
        if th is None:
            th = int(rng.integers(0, max(1, core.w_max * 4)))
        layers.append(
            Layer(
                weights=rng.integers(wlo, whi + 1, size=(n_in, n_out)).astype(np.int32),
                bias=rng.integers(blo, bhi + 1, size=n_out).astype(np.int32),
                threshold=min(th, core.v_max),
                leak_shift=leak_shift,
                integration=integration,
                reset=reset,
                fire=fire_output or not last,
                name=f"fc{k}",
            )
        )
    return Network(layers=layers, metadata={"name": "random", "w_bits": core.w_bits, "v_bits": core.v_bits})


def random_raster(rng: np.random.Generator, batch: int, timesteps: int, n_inputs: int, p: float) -> np.ndarray:
    """``(batch, timesteps, n_inputs)`` uint8 spikes, each 1 with probability ``p``."""
    return (rng.random((batch, timesteps, n_inputs)) < p).astype(np.uint8)


def psum_test_chip(
    mesh_rows: int = 3, mesh_cols: int = 4, *, axons: int = 8, neurons: int = 8, lanes: int = 2, w_bits: int = 4,
    v_bits: int = 6, barrier_cycles: int = 4, hop_latency_cycles: int = 1, name: str = "psum_test",
) -> ChipConfig:
    """A small digital chip with partial sums (``core.partial_sums = true``, chip-spec §1.3) for random programs.

    Small cores make chains of 2..3 cores out of fan-ins of a few dozen inputs, and ``v_bits = 6``
    (-32..31) makes saturation frequent with full-range 4-bit weights, in partial-sum cores too.
    """
    return ChipConfig(
        name=name, mesh_rows=mesh_rows, mesh_cols=mesh_cols, barrier_cycles=barrier_cycles,
        hop_latency_cycles=hop_latency_cycles,
        core=CoreConfig(axons=axons, neurons=neurons, lanes=lanes, w_bits=w_bits, v_bits=v_bits, partial_sums=True),
    )


def _split(rng: np.random.Generator, total: int, parts: int, cap: int) -> list[int]:
    """``parts`` random sizes, each in ``1..cap``, summing to ``total`` (needs ``parts <= total <= parts * cap``)."""
    sizes = [1] * parts
    for _ in range(total - parts):
        open_ = [k for k in range(parts) if sizes[k] < cap]
        sizes[open_[int(rng.integers(len(open_)))]] += 1
    return sizes


def _bounds(sizes: list[int]) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` ranges of the given sizes, from 0."""
    out, lo = [], 0
    for n in sizes:
        out.append((lo, lo + n))
        lo += n
    return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo < hi else None


def _draw_psum_layout(rng: np.random.Generator, chip: ChipConfig, n_layers: int, max_chain: int,
                      skip_probability: float, fork_probability: float) -> dict:
    """The shape of a random program: layers, parts, chain stages, neuron pieces (one piece = one core)."""
    A, N = chip.core.axons, chip.core.neurons
    max_fan_in = max_chain * A
    n_inputs = int(rng.integers(1, max_fan_in + 1))
    layers, n_prev = [], 0
    for li in range(n_layers):
        last = li == n_layers - 1
        skip = None
        if li == 0:
            n_in = n_inputs
        else:
            room = max_fan_in - n_prev
            if room > 0 and rng.random() < skip_probability:  # host inputs straight into a later layer
                n_skip = int(rng.integers(1, min(room, n_inputs) + 1))
                h0 = int(rng.integers(0, n_inputs - n_skip + 1))
                skip = [n_prev, h0, n_skip]
            n_in = n_prev + (skip[2] if skip else 0)
        # a hidden layer's width is the next layer's fan-in, which a chain must still cover
        n_out = int(rng.integers(1, (2 * N if last else min(2 * N, max_fan_in)) + 1))
        n_parts = min(n_out, -(-n_out // N) + int(rng.integers(0, 2)))
        parts = []
        for lo, hi in _bounds(_split(rng, n_out, n_parts, N)):
            n_stages = int(rng.integers(-(-n_in // A), min(max_chain, n_in) + 1))
            stages = []
            for i0, i1 in _bounds(_split(rng, n_in, n_stages, A)):
                n_pieces = 2 if hi - lo >= 2 and rng.random() < fork_probability else 1
                pieces = [[p0, p1] for p0, p1 in _bounds(_split(rng, hi - lo, n_pieces, hi - lo))]
                stages.append({"inputs": [i0, i1], "pieces": pieces})
            parts.append({"neurons": [lo, hi], "stages": stages})
        layers.append({"n_in": n_in, "n_out": n_out, "skip": skip, "parts": parts})
        n_prev = n_out
    return {"n_inputs": n_inputs, "layers": layers}


def random_psum_program(
    rng: np.random.Generator,
    chip: ChipConfig,
    *,
    n_layers: int | None = None,
    max_chain: int = 3,
    saturating: bool | None = None,
    integration: str | None = None,
    fire_output: bool | None = None,
    skip_probability: float = 0.4,
    fork_probability: float = 0.3,
    min_psum_cores: int = 1,
    max_tries: int = 200,
) -> ChipProgram:
    """A random valid chip program with partial-sum chains (chip-spec §1.3) for ``chip``.

    The program is a feed-forward network of ``n_layers`` layers (1..3 when None). Each layer is
    split by neurons into parts of at most ``N`` neurons, and each part by inputs into a chain of
    ``ceil(fan_in / A) .. max_chain`` stages of at most ``A`` axons: every stage but the last is
    made of partial-sum cores (``psum_out``), the last of ordinary neuron cores. What it covers:

    - chains of length 1..``max_chain`` mixed in one layer, with uneven input slices;
    - receivers that get partial sums *and* spikes (each stage has its own axons), from cores or
      from the host (the host feeds every stage of layer 0, and later layers through *skip* routes:
      with ``skip_probability`` a layer also takes a range of host inputs);
    - *forks and joins* (``fork_probability`` per stage): a stage split into 2 cores by neuron
      range, so one partial-sum core may send to two receivers (partial-sum multicast, several
      entries in table order, nonzero ``src_lo``/``axon_offset``) and one receiver may get partial
      sums from two senders (disjoint neuron ranges);
    - spike multicast: every part of a layer gets every input of the layer;
    - continuous and discontinuous final cores (``integration``; None: random per core), both
      resets, leaks, biases, spike-count or membrane readout (``fire_output``; None: random);
    - ``saturating``: True draws full-range weights (with a small ``v_bits`` saturation is
      frequent, so the chain's order of additions shows); False bounds weights and biases so that
      no addition of a discontinuous core can leave the ``v_bits`` range (then a chain gives the
      unsplit neuron's result; continuous cores may still saturate over time); None picks one.
    - core indices drawn at random on the mesh and the cores listed in random order.

    ``program.metadata["psum_layout"]`` describes the split (JSON): per layer ``n_in``, ``n_out``,
    ``skip`` (``[first layer input fed by the host, first host input, count]`` or null) and
    ``parts``: ``neurons`` ``[lo, hi)`` of the layer, ``stages`` with ``inputs`` ``[lo, hi)`` of the
    layer and ``pieces`` ``[core, lo, hi)`` (neurons within the part). A layer's inputs are the
    previous layer's outputs, then its skip inputs.

    Args:
        rng: The random source (a seed reproduces the program).
        chip: A digital chip with ``core.partial_sums = true``, e.g. :func:`psum_test_chip`.
        n_layers, max_chain: Depth, and the longest chain (1..3 typical).
        min_psum_cores: Draw again until the program has at least this many partial-sum cores.
        max_tries: Draws before giving up (a draw is refused when it needs more cores than the mesh has).

    Raises:
        ValueError: the chip has no partial sums or is not digital, or no draw fitted in ``max_tries``.
    """
    cc = chip.core
    if chip.core_type != "digital" or not cc.partial_sums:
        raise ValueError(f"chip {chip.name!r} has no partial sums: use a digital chip with core.partial_sums = true")
    if max_chain < 1:
        raise ValueError(f"max_chain = {max_chain}: expected >= 1")
    saturating = bool(rng.integers(2)) if saturating is None else saturating
    for _ in range(max_tries):
        layout = _draw_psum_layout(rng, chip, n_layers or int(rng.integers(1, 4)), max_chain, skip_probability,
                                   fork_probability)
        pieces = [pc for layer in layout["layers"] for part in layer["parts"] for st in part["stages"]
                  for pc in st["pieces"]]
        n_psum = sum(len(st["pieces"]) for layer in layout["layers"] for part in layer["parts"]
                     for st in part["stages"][:-1])
        if len(pieces) <= chip.n_cores and n_psum >= min_psum_cores:
            break
    else:
        raise ValueError(f"no random program with >= {min_psum_cores} partial-sum cores fitted the "
                         f"{chip.n_cores} cores of chip {chip.name!r} in {max_tries} draws")
    mesh = [int(c) for c in rng.permutation(chip.n_cores)[: len(pieces)]]
    for piece, core in zip(pieces, mesh):
        piece.insert(0, core)
    return _psum_program_from_layout(rng, chip, layout, saturating, integration, fire_output)


def _psum_program_from_layout(rng: np.random.Generator, chip: ChipConfig, layout: dict, saturating: bool,
                              integration: str | None, fire_output: bool | None) -> ChipProgram:
    """Weights, registers and routing tables for a layout of :func:`_draw_psum_layout` (cores already placed)."""
    cc = chip.core
    out_fire = bool(rng.integers(2)) if fire_output is None else fire_output
    fields: list[dict] = []  # CoreProgram fields of every core but its routes, in layout order
    routes: dict[int, list[Route]] = {}  # mesh core -> its routing table, in the order entries are made
    host_routes: list[Route] = []
    sources: list[tuple[int, int, int]] = []  # (core, lo, hi): the previous layer's neurons, by final core
    first_stage = 0
    for li, layer in enumerate(layout["layers"]):
        last = li == len(layout["layers"]) - 1
        n_in, skip = layer["n_in"], layer["skip"]
        if saturating:
            w_bound, bias_bound = cc.w_max, 1 << max(cc.w_bits - 2, 0)
        else:
            # n_in weights and a bias of these bounds stay within v_bits: no add of a discontinuous core saturates
            bias_bound = cc.v_max // 8
            w_bound = min(cc.w_max, max(1, (cc.v_max - bias_bound) // n_in))
            if n_in * w_bound + bias_bound > cc.v_max:
                bias_bound = 0
        weights = rng.integers(-w_bound - (1 if saturating else 0), w_bound + 1,
                               size=(n_in, layer["n_out"])).astype(np.int32)  # fmt: skip
        bias = rng.integers(-bias_bound, bias_bound + 1, size=layer["n_out"]).astype(np.int32)
        n_from_cores = n_in - (skip[2] if skip else 0)
        finals = []
        for part in layer["parts"]:
            p_lo = part["neurons"][0]
            stages = part["stages"]
            for si, st in enumerate(stages):
                i0, i1 = st["inputs"]
                final = si == len(stages) - 1
                for core, n_lo, n_hi in st["pieces"]:
                    g_lo, g_hi = p_lo + n_lo, p_lo + n_hi  # the layer's neurons this core holds
                    routes.setdefault(core, [])
                    # spike inputs: the host (layer 0) or the previous layer's final cores, then skip inputs
                    if li == 0:
                        host_routes.append(Route(core, i0, i1, 0))
                    else:
                        for src, s_lo, s_hi in sources:
                            if ov := _overlap((s_lo, s_hi), (i0, min(i1, n_from_cores))):
                                routes[src].append(Route(core, ov[0] - s_lo, ov[1] - s_lo, ov[0] - i0))
                        if skip and (ov := _overlap((skip[0], skip[0] + skip[2]), (i0, i1))):
                            shift = skip[1] - skip[0]
                            host_routes.append(Route(core, ov[0] + shift, ov[1] + shift, ov[0] - i0))
                    if not final:  # partial sums to every next-stage core whose neurons overlap this one's
                        routes[core] += [
                            Route(nxt, ov[0] - n_lo, ov[1] - n_lo, ov[0] - x_lo)
                            for nxt, x_lo, x_hi in stages[si + 1]["pieces"]
                            if (ov := _overlap((n_lo, n_hi), (x_lo, x_hi)))
                        ]
                    f = dict(
                        core=core, stage=first_stage + si, weights=weights[i0:i1, g_lo:g_hi].copy(), psum_out=not final,
                        reset=RESET_MODES[int(rng.integers(len(RESET_MODES)))],
                        label=f"layer{li} neurons {g_lo}..{g_hi - 1} stage {si}",
                    )
                    if final:
                        f.update(
                            bias=bias[g_lo:g_hi].copy(),
                            threshold=int(rng.integers(0, min(3 * w_bound + 2, cc.v_max + 1))),
                            leak_shift=int(rng.integers(0, 3)),
                            integration=integration or INTEGRATION_MODES[int(rng.integers(len(INTEGRATION_MODES)))],
                            fire=out_fire if last else True,
                            output_offset=g_lo if last else None,
                        )
                        finals.append((core, g_lo, g_hi))
                    else:  # the registers chip-spec §6 requires of a partial-sum core
                        f.update(bias=np.zeros(g_hi - g_lo, np.int32), threshold=int(rng.integers(0, 3)),
                                 leak_shift=0, integration="discontinuous", fire=False)
                    fields.append(f)
        sources = finals
        first_stage += max(len(part["stages"]) for part in layer["parts"])
    cores = [CoreProgram(routes=tuple(routes[f["core"]]), **f) for f in fields]
    order = rng.permutation(len(cores))
    return ChipProgram(
        chip=chip, cores=tuple(cores[k] for k in order), host_routes=tuple(host_routes),
        n_inputs=layout["n_inputs"], metadata={"name": "random_psum", "psum_layout": layout},
    ).validate()


def rewrite_npz_header(src: str | Path, dst: str | Path, edit: Callable[[dict], object]) -> Path:
    """Copy a saved program or network file, replacing its JSON header with ``edit(header)``.

    For tests of malformed files: the arrays stay as they are, the header can become anything JSON.
    """
    with np.load(src, allow_pickle=False) as data:
        raw = bytes(data["header"])
    header = edit(json.loads(raw.decode()))
    return rewrite_npz_members(src, dst, {"header": np.frombuffer(json.dumps(header).encode(), np.uint8)})


def npy_declaring(shape: tuple[int, ...], dtype: str = "<i4") -> bytes:
    """A ``.npy`` file whose header declares ``shape`` and ``dtype`` but that holds no data.

    For tests of size limits: a loader must refuse it from the header, before allocating anything.
    """
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def rewrite_npz_members(
    src: str | Path, dst: str | Path, members: dict[str, np.ndarray | bytes | None]
) -> Path:
    """Copy an ``.npz`` archive, replacing or adding members, or dropping them.

    Args:
        src: The archive to copy (written by hwsim).
        dst: Where to write the copy (may be ``src``).
        members: Member name (without ``.npy``) -> an array to store, the raw bytes of the ``.npy``
            member (e.g. from :func:`npy_declaring`), or None to leave the member out.
    """
    with zipfile.ZipFile(src) as zf:
        contents = {info.filename: zf.read(info) for info in zf.infolist()}
    for name, value in members.items():
        key = f"{name}.npy"
        if value is None:
            contents.pop(key, None)
        elif isinstance(value, bytes):
            contents[key] = value
        else:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
            contents[key] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as zf:
        for key, data in contents.items():
            zf.writestr(key, data)
    return Path(dst)

"""Random networks and rasters for tests, benchmarks and co-simulation, and file surgery for error tests.

Everything random here is drawn from a NumPy ``Generator`` so a seed reproduces it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hwsim.config import CoreConfig
from hwsim.network import Layer, Network

__all__ = ["random_network", "random_raster", "rewrite_npz_header", "rewrite_npz_members", "npy_declaring"]


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
